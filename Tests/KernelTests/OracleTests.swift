import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// Every probe file we ship (Examples/, Benchmarks/corpus/) compiles, and the
/// real tools accept the object: `bpftool btf dump`, `llvm-objdump-14 -d`,
/// libbpf (open and load through the runtime) and `bpftool prog load`.
final class OracleTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func testShippedProbesAreAcceptedByBpftoolObjdumpAndTheVerifier() throws {
        let fm = FileManager.default
        var files: [URL] = []
        for dir in ["Examples", "Benchmarks/corpus"] {
            let d = Self.root.appendingPathComponent(dir)
            files += try fm.contentsOfDirectory(at: d, includingPropertiesForKeys: nil).filter { $0.pathExtension == "rb" }
        }
        XCTAssertGreaterThanOrEqual(files.count, 5)
        let tmp = try Support.temporaryDirectory()
        defer { try? fm.removeItem(at: tmp) }
        for file in files.sorted(by: { $0.path < $1.path }) {
            let name = file.deletingPathExtension().lastPathComponent
            let compiled = try Compiler.compile(path: file.path)
            let obj = tmp.appendingPathComponent("\(name).bpf.o")
            try Data(compiled.bytes).write(to: obj)

            let btf = try Support.run("bpftool", ["btf", "dump", "file", obj.path])
            XCTAssertEqual(btf.status, 0, "\(name): bpftool btf dump: \(btf.stderr)")
            for p in compiled.object.programs {
                XCTAssertTrue(btf.stdout.contains("FUNC '\(p.name)'"), "\(name): no FUNC \(p.name) in BTF")
            }
            let dis = try Support.run("llvm-objdump-14", ["-d", obj.path])
            XCTAssertEqual(dis.status, 0, "\(name): llvm-objdump: \(dis.stderr)")
            let slots = dis.stdout.split(separator: "\n").filter { $0.range(of: #"^ +[0-9]+:"#, options: .regularExpression) != nil }.count
            // llvm-objdump prints an ld_imm64 (two slots) as one line.
            let expected = compiled.object.programs.reduce(0) { $0 + $1.instructions.count - $1.instructions.filter(\.isLoadImm64).count }
            XCTAssertEqual(slots, expected, "\(name): instruction count")

            // fentry/fexit/lsm on a kernel without trampolines: the load fails naming them.
            if try Support.trampolineLoadRefused(compiled.bytes, programs: compiled.manifest.programs.map(\.kind), name) { continue }
            let loaded = try LoadedObject(bytes: compiled.bytes)
            loaded.close()

            let pin = "/sys/fs/bpf/infrared-oracle-\(getpid())-\(name)"
            let load = try Support.run("bpftool", ["prog", "loadall", obj.path, pin])
            XCTAssertEqual(load.status, 0, "\(name): bpftool prog loadall: \(load.stderr)")
            try? fm.removeItem(atPath: pin)
        }
    }
}
