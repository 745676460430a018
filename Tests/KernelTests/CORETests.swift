import Foundation
import XCTest
import BPF
import InfraredBTF
import InfraredCompiler
import InfraredRuntime

/// CO-RE is real: one object, built once, relocates against the running
/// kernel and against Debian's 6.1 and 6.12 kernels' BTF (BTF/), and every
/// patched offset equals that kernel's layout as the BTF module reads it.
final class CORETests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    /// The BTF fixtures, decompressed into a temporary directory.
    static func fixtures(in dir: URL) throws -> [(String, String)] {
        let btfDir = Self.root.appendingPathComponent("BTF")
        var out: [(String, String)] = [("running kernel", KernelBTF.defaultPath)]
        for f in try FileManager.default.contentsOfDirectory(atPath: btfDir.path).sorted() where f.hasSuffix(".btf.xz") {
            let dst = dir.appendingPathComponent(String(f.dropLast(3)))
            let r = try Support.run("/bin/sh", ["-c", "xz -dc '\(btfDir.appendingPathComponent(f).path)' > '\(dst.path)'"])
            XCTAssertEqual(r.status, 0, r.stderr)
            out.append((String(f.dropLast(".btf.xz".count)), dst.path))
        }
        XCTAssertGreaterThanOrEqual(out.count, 3, "BTF/ must hold the 6.1 and 6.12 fixtures")
        return out
    }

    static let probe = """
    license "GPL"
    map :counts, :hash, key: :u32, value: :u64, max_entries: 1024
    tracepoint "sched/sched_process_exec" do |ctx|
      t = current_task
      parent = t.real_parent.tgid
      me = t.pid
      counts[parent] += 1
      counts[me] += 0
      0
    end
    """

    func testOneObjectRelocatesAgainstEveryKernel() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let targets = try Self.fixtures(in: dir)
        // Built once, against the oldest kernel's BTF, so local offsets differ from the others'.
        let oldest = targets.first { $0.0.hasPrefix("6.1.") }?.1 ?? KernelBTF.defaultPath
        var options = CompileOptions(); options.btfPath = oldest
        let compiled = try Compiler.compile(source: Self.probe, path: "core.rb", options: options)
        let program = compiled.object.programs[0]
        XCTAssertEqual(Set(program.coreRelocations.map { $0.path.last! }), ["real_parent", "tgid", "pid"])
        // The verifier inlines hash map lookups, which shifts later
        // instructions in the xlated program: the probe reads every CO-RE
        // field before its first map operation, so indices still match.
        for (name, path) in targets {
            let layout = try XCTUnwrap(try KernelBTF(path: path).structLayout(named: "task_struct"))
            let object = try LoadedObject.open(bytes: compiled.bytes, options: LoadOptions(btfCustomPath: path == KernelBTF.defaultPath ? nil : path))
            defer { object.close() }
            try object.load()
            let xlated = try object.xlatedInstructions(program: program.name)
            for r in program.coreRelocations {
                let at = r.instruction * 8
                let insn = Instruction(bytes: xlated[at..<at + 8])
                let member = try XCTUnwrap(layout.member(named: r.path.last!))
                XCTAssertEqual(Int(insn.imm), member.byteOffset, "\(name): task_struct.\(r.path.last!) patched to \(insn.imm)")
            }
            print("CO-RE \(name): " + program.coreRelocations.map { "\($0.path.last!)=\(layout.member(named: $0.path.last!)!.byteOffset)" }.joined(separator: " "))
        }
    }

    /// Enum values, enumerator and type existence, type sizes: relocated
    /// constants, equal to the target kernel's BTF (built against 6.1's,
    /// run here).
    func testEnumAndTypeRelocations() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = try XCTUnwrap(try Self.fixtures(in: dir).first { $0.0.hasPrefix("6.1.") }?.1)
        let source = """
        license "GPL"
        socket_filter do |ctx|
          a = enum_value(:bpf_map_type, :BPF_MAP_TYPE_RINGBUF)
          b = enum_exists?(:bpf_map_type, :BPF_MAP_TYPE_NOPE) ? 1000 : 0
          c = type_exists?(:task_struct) ? 100 : 0
          d = type_size(:task_struct)
          a + b + c + d
        end
        """
        var options = CompileOptions(); options.btfPath = old
        let compiled = try Compiler.compile(source: source, path: "enum.rb", options: options)
        XCTAssertEqual(compiled.object.programs[0].coreRelocations.count, 4)
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        let here = try KernelBTF()
        let ringbuf = try XCTUnwrap(try here.enumerators(named: "bpf_map_type")?.values.first { $0.name == "BPF_MAP_TYPE_RINGBUF" }?.value)
        let taskSize = try XCTUnwrap(try here.structLayout(named: "task_struct")).size
        let oldSize = try XCTUnwrap(try KernelBTF(path: old).structLayout(named: "task_struct")).size
        XCTAssertNotEqual(taskSize, oldSize, "task_struct's size differs between 6.1 and this kernel, so the relocation shows")
        let got = try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: 64)).retval
        XCTAssertEqual(Int(got), Int(ringbuf) + 0 + 100 + taskSize)
    }

    /// A bitfield read through a kernel pointer: task_struct.sched_reset_on_fork
    /// (1 bit) is 1 for a process started with `chrt --reset-on-fork`, else 0;
    /// the object is built against 6.1's BTF and relocates against 6.12's too.
    func testBitfieldRead() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fixtures = try Self.fixtures(in: dir)
        let old = try XCTUnwrap(fixtures.first { $0.0.hasPrefix("6.1.") }?.1)
        let source = """
        license "GPL"
        map :seen, :hash, key: :u32, value: :u64, max_entries: 1024
        tracepoint "sched/sched_process_exec" do |ctx|
          seen[pid] = current_task.sched_reset_on_fork + 10
          0
        end
        """
        var options = CompileOptions(); options.btfPath = old
        let compiled = try Compiler.compile(source: source, path: "bitfield.rb", options: options)
        XCTAssertEqual(Set(compiled.object.programs[0].coreRelocations.map(\.kind.rawValue)), [0, 1, 4, 5])
        for (name, path) in fixtures where path != KernelBTF.defaultPath {
            let o = try LoadedObject.open(bytes: compiled.bytes, options: LoadOptions(btfCustomPath: path))
            XCTAssertNoThrow(try o.load(), name)
            o.close()
        }
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        try object.attach(program: "sched_process_exec")
        func value(_ pid: Int32) throws -> UInt64? {
            try object.lookup(map: "seen", key: withUnsafeBytes(of: UInt32(pid).littleEndian, Array.init)).map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        }
        let plain = Process(); plain.executableURL = URL(fileURLWithPath: "/bin/true")
        try plain.run(); plain.waitUntilExit()
        // chrt execs /bin/true in the same process, after setting SCHED_RESET_ON_FORK.
        let reset = Process(); reset.executableURL = URL(fileURLWithPath: "/usr/bin/chrt"); reset.arguments = ["--reset-on-fork", "--fifo", "1", "/bin/true"]
        try reset.run(); reset.waitUntilExit()
        XCTAssertEqual(reset.terminationStatus, 0)
        XCTAssertEqual(try value(plain.processIdentifier), 10)
        XCTAssertEqual(try value(reset.processIdentifier), 11)
    }

    /// Built against 6.1's BTF, loaded on the running kernel: the values are right.
    func testObjectBuiltForAnotherKernelRunsCorrectlyHere() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = try XCTUnwrap(try Self.fixtures(in: dir).first { $0.0.hasPrefix("6.1.") }?.1)
        var options = CompileOptions(); options.btfPath = old
        let compiled = try Compiler.compile(source: LanguageTests.execCounter, path: "execcount.rb", options: options)
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        try object.attach(program: "sched_process_exec")
        for _ in 0..<4 { _ = try Support.run("/bin/true", []) }
        let key = withUnsafeBytes(of: UInt32(getpid()).littleEndian, Array.init)
        let v = try object.lookup(map: "counts", key: key).map { $0.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        XCTAssertEqual(v, 4)
    }
}
