import XCTest
@testable import InfraredCompiler
import InfraredBTF

/// A tracepoint's record read from tracefs's `format` file and from the
/// kernel BTF's `trace_event_raw_<event>`: the compiler takes the format
/// when no field needs a BTF type (it reads no 5 MB BTF for a one-liner),
/// so the two must give the same fields, for every tracepoint of this kernel.
final class TracepointLayoutTests: XCTestCase {
    func testTracefsAndBTFAgreeWhereTracefsSuffices() throws {
        let kernel = try KernelBTF(path: "/sys/kernel/btf/vmlinux")
        let all = ContextLayouts.tracepoints(matching: "*/*")
        XCTAssertGreaterThan(all.count, 500, "tracefs lists this kernel's tracepoints (as root)")
        var compared = 0, needBTF = 0, noBTF = 0
        var differ: [String] = []
        for t in all {
            let p = t.split(separator: "/").map(String.init)
            guard let format = ContextLayouts.tracefsLayout(category: p[0], event: p[1]) else { XCTFail("no format for \(t)"); continue }
            guard let fromBTF = try ContextLayouts.btfTracepointLayout(category: p[0], event: p[1], kernel: kernel) else { noBTF += 1; continue }
            guard let fast = format.sufficient else { needBTF += 1; continue }
            compared += 1
            if fast.fields != fromBTF.fields { differ.append("\(t):\n  tracefs \(fast.fields)\n  btf     \(fromBTF.fields)") }
        }
        print("tracepoint layouts: \(compared) compared, \(needBTF) need BTF types, \(noBTF) without trace_event_raw_ in BTF, \(differ.count) differ")
        XCTAssertEqual(differ, [], differ.prefix(5).joined(separator: "\n"))
        XCTAssertGreaterThan(compared, 300)
    }
}
