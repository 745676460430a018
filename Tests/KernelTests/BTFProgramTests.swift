import Foundation
import XCTest
import BPF
import InfraredBTF
import InfraredCompiler
import InfraredRuntime

/// The BTF-typed program kinds — tp_btf, fentry, fexit, lsm — against the
/// running kernel: tp_btf loads, attaches and counts here; fentry/fexit/lsm
/// need BPF trampolines, which a kernel may refuse (this 6.18 host answers
/// BPF_PROG_LOAD with EPERM even for clang's C): there the load must fail
/// naming the missing feature, and where trampolines exist the programs must
/// load, attach and count.
final class BTFProgramTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    // MARK: the prototypes the arguments come from

    /// The kernel's BTF gives the arguments by name: do_unlinkat(int dfd,
    /// struct filename *name) returning int; sched_process_exec's
    /// tracepoint (struct task_struct *p, pid_t old_pid, struct linux_binprm
    /// *bprm), its typedef's unnamed parameters named from the stub.
    func testPrototypesFromKernelBTF() throws {
        let k = try KernelBTF()
        let unlink = try XCTUnwrap(try k.functionPrototype(named: "do_unlinkat"))
        XCTAssertEqual(unlink.parameters.map(\.name), ["dfd", "name"])
        XCTAssertEqual(try k.resolve(unlink.parameters[0].typeID).kind, .int)
        XCTAssertEqual(try k.resolve(unlink.parameters[0].typeID).isSigned, true)
        XCTAssertEqual(try k.resolve(unlink.parameters[1].typeID).targetName, "filename")
        XCTAssertEqual(try k.resolve(unlink.returnTypeID).size, 4)
        XCTAssertFalse(unlink.isVariadic)

        let exec = try XCTUnwrap(try k.tracepointPrototype(named: "sched_process_exec"))
        XCTAssertEqual(exec.parameters.map(\.name), ["p", "old_pid", "bprm"])
        XCTAssertEqual(try exec.parameters.map { try k.resolve($0.typeID).targetName ?? "" }, ["task_struct", "", "linux_binprm"])
        XCTAssertEqual(exec.returnTypeID, 0)

        let hook = try XCTUnwrap(try k.functionPrototype(named: "bpf_lsm_file_open"))
        XCTAssertEqual(hook.parameters.map(\.name), ["file"])
        XCTAssertNil(try k.functionPrototype(named: "infrared_no_such_function"))
        XCTAssertNil(try k.tracepointPrototype(named: "infrared_no_such_event"))
    }

    // MARK: tp_btf

    static let execSource = """
    license "GPL"
    param :target_pid, :u32, default: 0
    struct :Exec do
      u32  :pid
      u32  :ppid
      s32  :old_pid
      char :comm, 16
      char :filename, 64
    end
    map :counts, :hash, key: :u32, value: :u64, max_entries: 1024
    map :events, :ringbuf, max_entries: 64 * 4096

    tp_btf "sched_process_exec" do |ctx|
      ppid = ctx.p.real_parent.tgid
      if ppid == target_pid
        counts[ppid] += 1
        e = events.reserve(Exec)
        if e
          e.pid = ctx.p.tgid
          e.ppid = ppid
          e.old_pid = ctx.old_pid
          e.comm = comm
          e.filename = ctx.bprm.filename
          events.submit(e)
        end
      end
      0
    end
    """

    /// N execs of /bin/true by this process: N counted for its pid, N
    /// records with the child's pid (old_pid is the same: no thread
    /// execs), comm `true` and the file name read through `bprm`.
    func testTpBtfCountsExecsAndReadsTypedArguments() throws {
        let compiled = try Compiler.compile(source: Self.execSource, path: "tp_btf_exec.rb")
        XCTAssertEqual(compiled.object.programs.map(\.section), ["tp_btf/sched_process_exec"])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        XCTAssertEqual(object.programs.map(\.type), [.tracing], "libbpf derives the type from the section")
        let me = UInt32(getpid())
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(me))
        try object.load()
        try object.attach(program: "sched_process_exec")
        var records: [[UInt8]] = []
        let rb = try RingBufferReader(object: object, map: "events") { records.append($0) }
        let n = 5
        var children: [Int32] = []
        for _ in 0..<n {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/true")
            try p.run()
            children.append(p.processIdentifier)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
        }
        for _ in 0..<5 { try rb.poll(timeoutMs: 20) }
        XCTAssertEqual(try object.lookup(map: "counts", key: u32(me)).map(u64), UInt64(n))
        XCTAssertEqual(records.count, n)
        func str(_ b: [UInt8], _ r: Range<Int>) -> String { String(decoding: b[r].prefix { $0 != 0 }, as: UTF8.self) }
        func field(_ b: [UInt8], _ o: Int) -> UInt32 { b[o..<o + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } }
        XCTAssertEqual(records.map { field($0, 0) }, children.map(UInt32.init))
        XCTAssertEqual(records.map { field($0, 4) }, Array(repeating: me, count: n))
        XCTAssertEqual(records.map { Int32(bitPattern: field($0, 8)) }, children)
        XCTAssertEqual(Set(records.map { str($0, 12..<28) }), ["true"])
        XCTAssertEqual(Set(records.map { str($0, 28..<92) }), ["/bin/true"])
    }

    // MARK: fentry, fexit, lsm

    /// One program of each trampoline kind, reading typed arguments.
    static let trampolineSource = """
    license "GPL"
    param :target_pid, :u32, default: 0
    map :counts, :array, value: :u64, max_entries: 4
    map :failed, :hash, key: :s64, value: :u64, max_entries: 16

    fentry "do_unlinkat" do |ctx|
      if pid == target_pid
        counts[0] += 1
        counts[1] += 1 if ctx.dfd < 0            # unlink(2) passes AT_FDCWD (-100)
      end
      0
    end

    fexit "do_unlinkat" do |ctx|
      if pid == target_pid
        counts[2] += 1 if ctx.ret == 0
        failed[ctx.ret] += 1 if ctx.ret < 0
      end
      0
    end

    lsm "path_unlink" do |ctx|
      counts[3] += 1 if pid == target_pid && ctx.dentry.d_name.len == 13
      0
    end
    """

    /// The objects are what libbpf expects (sections, program types it
    /// derives from them, BTF); loading them either works and they count
    /// unlinks exactly, or — where a C fentry program compiled by clang
    /// fails alike — fails with the error naming BPF trampolines.
    func testTrampolineKindsLoadAndCountOrNameTheMissingFeature() throws {
        let compiled = try Compiler.compile(source: Self.trampolineSource, path: "trampolines.rb")
        XCTAssertEqual(compiled.object.programs.map(\.section), ["fentry/do_unlinkat", "fexit/do_unlinkat", "lsm/path_unlink"])
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("trampolines.bpf.o").path
        try Data(compiled.bytes).write(to: URL(fileURLWithPath: path))
        let btf = try Support.run("bpftool", ["btf", "dump", "file", path])
        XCTAssertEqual(btf.status, 0, btf.stderr)
        for p in compiled.object.programs { XCTAssertTrue(btf.stdout.contains("FUNC '\(p.name)'"), p.name) }

        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        XCTAssertEqual(object.programs.map(\.type), [.tracing, .tracing, .lsm])
        let me = UInt32(getpid())
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(me))

        if try Support.kernelRefusesTrampolines() {
            XCTAssertThrowsError(try object.load()) { error in
                guard let e = error as? LoadError, case .kernelFeatureMissing(let program, _, _, let errno, _) = e else {
                    return XCTFail("expected kernelFeatureMissing, got \(error)")
                }
                XCTAssertEqual(program, "do_unlinkat")
                XCTAssertEqual(errno, .notPermitted)
                XCTAssertTrue(e.description.hasPrefix("program 'do_unlinkat': fentry/fexit/lsm programs need BPF trampolines, "
                                                      + "which this kernel does not provide (BPF_PROG_LOAD failed: EPERM)"), e.description)
            }
            let pin = "/sys/fs/bpf/infrared-fentry-\(getpid())"
            let load = try Support.run("bpftool", ["prog", "loadall", path, pin])
            try? FileManager.default.removeItem(atPath: pin)
            XCTAssertNotEqual(load.status, 0)
            XCTAssertTrue(load.stderr.contains("Operation not permitted"), load.stderr)
            return
        }
        // A kernel with trampolines (the kernel-matrix VMs): each kind loads,
        // attaches and sees exactly this process's unlinks.
        try object.load()
        for p in compiled.object.programs { try object.attach(program: p.name) }
        let n = 4
        for i in 0..<n {
            let file = dir.appendingPathComponent(String(format: "unlink-%06d", i)).path   // 13 bytes
            XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: nil))
            XCTAssertEqual(unlink(file), 0)
        }
        XCTAssertEqual(unlink(dir.appendingPathComponent("no-such-file").path), -1)
        let counts = try (0..<4).map { try object.lookup(map: "counts", key: u32(UInt32($0))).map(u64) ?? 0 }
        // LSM programs run only where the BPF LSM is active (`lsm=…,bpf`).
        let lsms = (try? String(contentsOfFile: "/sys/kernel/security/lsm", encoding: .utf8)) ?? ""
        let bpfLSM = lsms.split(separator: ",").contains("bpf")
        XCTAssertEqual(counts, [UInt64(n + 1), UInt64(n + 1), UInt64(n), bpfLSM ? UInt64(n) : 0], "active LSMs: \(lsms)")
        let enoent = withUnsafeBytes(of: Int64(-ENOENT).littleEndian, Array.init)
        XCTAssertEqual(try object.lookup(map: "failed", key: enoent).map(u64), 1)
    }

    /// Examples/unlinksnoop.rb: where the kernel refuses trampolines its load
    /// names them; elsewhere fentry counts this process's four unlinks and
    /// fexit reports each with its typed arguments and result (-ENOENT for
    /// the missing file).
    func testUnlinksnoopExample() throws {
        let path = OracleTests.root.appendingPathComponent("Examples/unlinksnoop.rb").path
        let compiled = try Compiler.compile(path: path)
        XCTAssertEqual(compiled.object.programs.map(\.section), ["fentry/do_unlinkat", "fexit/do_unlinkat"])
        if try Support.trampolineLoadRefused(compiled.bytes, programs: compiled.manifest.programs.map(\.kind), "unlinksnoop") { return }
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        let me = UInt32(getpid())
        let param = try XCTUnwrap(compiled.manifest.params.first { $0.name == "target_pid" })
        try object.setInitialBytes(map: ".rodata", offset: param.offset, bytes: u32(me))
        try object.load()
        for p in compiled.object.programs { try object.attach(program: p.name) }
        var records: [[UInt8]] = []
        let rb = try RingBufferReader(object: object, map: "events") { records.append($0) }
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var names: [String] = []
        for i in 0..<3 {
            let file = dir.appendingPathComponent("gone-\(i)").path
            XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: nil))
            names.append(file)
        }
        names.append(dir.appendingPathComponent("never-there").path)
        for f in names { _ = unlink(f) }
        for _ in 0..<5 { try rb.poll(timeoutMs: 20) }
        XCTAssertEqual(try object.lookup(map: "attempts", key: u32(me)).map(u64), 4)
        // struct Event { u32 pid; s32 dfd; s32 ret; char comm[16]; char filename[128] }
        func s32(_ b: [UInt8], _ o: Int) -> Int32 { b[o..<o + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) } }
        func str(_ b: [UInt8], _ r: Range<Int>) -> String { String(decoding: b[r].prefix { $0 != 0 }, as: UTF8.self) }
        XCTAssertEqual(records.map { UInt32(bitPattern: s32($0, 0)) }, Array(repeating: me, count: 4))
        XCTAssertEqual(records.map { s32($0, 4) }, Array(repeating: -100, count: 4), "dfd: AT_FDCWD")
        XCTAssertEqual(records.map { s32($0, 8) }, [0, 0, 0, -ENOENT])
        XCTAssertEqual(records.map { str($0, 28..<156) }, names)
    }
}

extension Support {
    nonisolated(unsafe) private static var trampolinesRefused: Bool?
    private static let trampolineLock = NSLock()

    /// Whether the running kernel refuses BPF trampolines, told by the
    /// oracle: clang's smallest fentry program, loaded by libbpf, fails
    /// with EPERM (as root). Computed once.
    static func kernelRefusesTrampolines() throws -> Bool {
        trampolineLock.lock(); defer { trampolineLock.unlock() }
        if let known = trampolinesRefused { return known }
        let bytes = try compileC("""
        #include <linux/bpf.h>
        #define SEC(name) __attribute__((section(name), used))
        SEC("fentry/do_unlinkat") int oracle_fentry(unsigned long long *ctx) { return 0; }
        char LICENSE[] SEC("license") = "GPL";
        """, name: "fentry_oracle")
        let refused: Bool
        do {
            let object = try LoadedObject(bytes: bytes)
            object.close()
            refused = false
        } catch let e as LoadError where e.errno == .notPermitted {
            refused = true
        }
        trampolinesRefused = refused
        return refused
    }

    /// For an object with fentry/fexit/lsm programs on a kernel that refuses
    /// trampolines: true after checking its load fails naming them (the
    /// caller then skips what needs it loaded); false when the object has
    /// no such program or the kernel has trampolines.
    static func trampolineLoadRefused(_ bytes: [UInt8], programs kinds: [ProgramKind], _ name: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
        guard kinds.contains(where: \.usesTrampoline), try kernelRefusesTrampolines() else { return false }
        XCTAssertThrowsError(try LoadedObject(bytes: bytes).close(), "\(name): loads although the kernel refuses trampolines", file: file, line: line) { error in
            guard case .kernelFeatureMissing? = error as? LoadError else {
                return XCTFail("\(name): expected kernelFeatureMissing, got \(error)", file: file, line: line)
            }
        }
        return true
    }
}
