import Foundation
import InfraredBTF
import BTFTestSupport
import XCTest

/// `infrared btf dump` against `bpftool btf dump file FILE format raw|c`,
/// byte for byte, on real BTF: the running kernel's, the Debian 6.1 and
/// 6.12 fixtures, a clang-built BPF object and an ELF from `from-dwarf`.
final class DumpParityTests: XCTestCase {
    /// Runs both dumpers on `file` in both formats and diffs them.
    func assertSameDump(_ file: String, line: UInt = #line) throws {
        for format in ["raw", "c"] {
            let ours = try infrared(["btf", "dump", file, "--format", format])
            XCTAssertEqual(ours.status, 0, "infrared btf dump \(file) --format \(format): \(ours.error)", line: line)
            let theirs = try runOK(Tool.bpftool, ["btf", "dump", "file", file, "format", format])
            XCTAssertGreaterThan(theirs.count, 0, line: line)
            if ours.output != theirs {
                let a = ours.text.split(separator: "\n", omittingEmptySubsequences: false)
                let b = String(decoding: theirs, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                let i = Array(zip(a, b)).firstIndex { $0 != $1 } ?? min(a.count, b.count)
                XCTFail("\(file) format \(format): first difference at line \(i + 1):\n ours:    \(i < a.count ? a[i] : "<end>")\n bpftool: \(i < b.count ? b[i] : "<end>")", line: line)
            }
        }
    }

    func testRunningKernel() throws {
        try assertSameDump(try runningKernelBTF())
    }

    func testDebianFixtures() throws {
        let dir = try scratchDirectory(self)
        for fixture in KernelFixture.allCases {
            try assertSameDump(try fixture.write(to: dir))
        }
    }

    func testDefaultFileIsTheRunningKernel() throws {
        _ = try runningKernelBTF()
        let ours = try infrared(["btf", "dump"])
        XCTAssertEqual(ours.status, 0)
        XCTAssertEqual(ours.output, try runOK(Tool.bpftool, ["btf", "dump", "file", KernelBTF.defaultPath, "format", "raw"]))
    }

    /// An ELF with `.BTF`: a clang-built BPF object (DATASEC, VAR, FUNC,
    /// DECL_TAG-free but with maps, globals and a license), and a gcc-built
    /// object with a `.BTF` added by pahole.
    func testELFObjects() throws {
        let dir = try scratchDirectory(self)
        let object = try compileBPF(CoreFixtures.program, named: "core", vmlinuxFrom: try runningKernelBTF(), in: dir)
        try assertSameDump(object)

        let c = dir.appendingPathComponent("types.c")
        try CoreFixtures.userProgram.write(to: c, atomically: true, encoding: .utf8)
        let o = dir.appendingPathComponent("types.o").path
        try runOK(Tool.gcc, ["-g", "-c", c.path, "-o", o])
        try runOK(Tool.pahole, ["-J", "--btf_gen_floats", o])
        try assertSameDump(o)
    }

    /// Every kind bpftool prints: BTF built here with all of them, including
    /// ENUM64 signed values, DECL_TAG, TYPE_TAG, FLOAT and extern linkage.
    func testEveryKind() throws {
        var spec = BTFSpec(types: [])
        let int = spec.append(.int(BTFInt(name: "int", size: 4, encoding: .signed)))
        let char = spec.append(.int(BTFInt(name: "char", size: 1, encoding: .char)))
        let bool = spec.append(.int(BTFInt(name: "_Bool", size: 1, encoding: .bool)))
        let ptr = spec.append(.pointer(target: char))
        let arr = spec.append(.array(BTFArray(element: int, index: int, count: 3)))
        let s = spec.append(.structure(BTFComposite(name: "s", size: 16, members: [
            .init(name: "a", type: int, bitOffset: 0, bitfieldSize: 3), .init(name: "", type: bool, bitOffset: 8),
            .init(name: "p", type: ptr, bitOffset: 64)])))
        _ = spec.append(.union(BTFComposite(name: "", size: 12, members: [.init(name: "x", type: arr, bitOffset: 0)])))
        _ = spec.append(.enumeration(BTFEnum(name: "e", size: 4, isSigned: true, values: [.init(name: "NEG", rawValue: UInt64(UInt32(bitPattern: -2)))])))
        _ = spec.append(.enumeration64(BTFEnum(name: "e64", size: 8, isSigned: true, values: [.init(name: "MIN", rawValue: 1 << 63)])))
        _ = spec.append(.enumeration64(BTFEnum(name: "u64", size: 8, isSigned: false, values: [.init(name: "MAX", rawValue: .max)])))
        _ = spec.append(.forward(name: "fu", isUnion: true))
        let td = spec.append(.typedef(name: "td", target: s))
        let v = spec.append(.volatile(target: td))
        let cst = spec.append(.const(target: v))
        let r = spec.append(.restrict(target: ptr))
        let proto = spec.append(.functionProto(BTFFunctionProto(returnType: cst, parameters: [.init(name: "q", type: r), .init(name: "", type: 0)])))
        let f = spec.append(.function(BTFFunction(name: "f", proto: proto, linkage: 2)))
        let variable = spec.append(.variable(BTFVariable(name: "v", type: int, linkage: 2)))
        _ = spec.append(.dataSection(BTFDataSection(name: ".data", size: 4, entries: [.init(type: variable, offset: 0, size: 4), .init(type: f, offset: 4, size: 0)])))
        _ = spec.append(.float(name: "double", size: 8))
        _ = spec.append(.declTag(name: "tag", target: s, componentIndex: 1))
        _ = spec.append(.declTag(name: "ftag", target: f, componentIndex: -1))
        _ = spec.append(.typeTag(name: "user", target: int))
        let path = try scratchDirectory(self).appendingPathComponent("kinds.btf")
        try Data(spec.encoded()).write(to: path)
        try assertSameDump(path.path)
        // The encoder's bytes decode to the same spec.
        XCTAssertEqual(try BTFSpec(bytes: spec.encoded()).types, spec.types)
    }

    /// The fixture list and loader other test targets use.
    func testFixtureHelper() throws {
        XCTAssertEqual(try BTFFixtures.releases(in: packageRoot), KernelFixture.allCases.map(\.rawValue))
        let spec = try BTFFixtures.load(try BTFFixtures.release(startingWith: "6.12.", in: packageRoot), in: packageRoot)
        XCTAssertGreaterThan(spec.typeCount, 100_000)
        XCTAssertNotNil(spec.typeID(named: "task_struct", kind: .structure))
    }

    /// Decode → encode → decode keeps every type; the encoding is stable
    /// and no larger than the kernel's (strings are deduplicated).
    func testRoundTrip() throws {
        for fixture in KernelFixture.allCases {
            let raw = try fixture.bytes
            let spec = try BTFSpec(bytes: raw, source: fixture.rawValue)
            let encoded = spec.encoded()
            let again = try BTFSpec(bytes: encoded)
            XCTAssertEqual(again.types, spec.types, fixture.rawValue)
            XCTAssertEqual(again.encoded(), encoded, fixture.rawValue)
            XCTAssertLessThanOrEqual(encoded.count, raw.count, fixture.rawValue)
        }
    }
}
