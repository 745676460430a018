import Foundation
import XCTest
import BPF
import InfraredBTF

/// The UAPI context structs the compiler takes from its generated table
/// (Sources/BPF/Generated/ContextStructs.swift, from <linux/bpf.h>) instead of
/// kernel BTF: every field must sit where the running kernel's BTF and the
/// Debian 6.1 and 6.12 kernels' BTF put it, with the same size and signedness.
final class ContextStructTests: XCTestCase {
    func testTableMatchesEveryKernelBTF() throws {
        XCTAssertEqual(Set(contextStructTable.keys), ["__sk_buff", "xdp_md", "bpf_cgroup_dev_ctx", "bpf_raw_tracepoint_args"])
        let dir = try scratchDirectory(self)
        var kernels = [("running kernel", try runningKernelBTF())]
        for fixture in KernelFixture.allCases { kernels.append((fixture.rawValue, try fixture.write(to: dir))) }
        var checked = 0
        for (kernel, path) in kernels {
            let btf = try KernelBTF(path: path)
            for (name, table) in contextStructTable.sorted(by: { $0.key < $1.key }) {
                guard let layout = try btf.structLayout(named: name) else { XCTFail("\(kernel): no struct \(name)"); continue }
                // Kernels only append members; the header's part is ABI.
                XCTAssertGreaterThanOrEqual(layout.size, table.size, "\(kernel): struct \(name) size")
                for field in table.fields {
                    guard let m = layout.member(named: field.name) else { XCTFail("\(kernel): \(name) has no \(field.name)"); continue }
                    XCTAssertEqual(m.byteOffset, field.offset, "\(kernel): \(name).\(field.name) offset")
                    XCTAssertEqual(m.size, field.size, "\(kernel): \(name).\(field.name) size")
                    XCTAssertEqual(m.isSigned, field.signed, "\(kernel): \(name).\(field.name) signedness")
                    XCTAssertEqual(m.bitfieldSize, 0, "\(kernel): \(name).\(field.name) is a bitfield")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 100)
    }
}
