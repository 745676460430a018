import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// Features the README documents that no other test exercised: `lru_hash`
/// and `percpu_hash` maps, `uretprobe`, `kernel_string`, ring buffer
/// `discard`. Each runs against a workload whose counts are known exactly.
final class FeatureCoverageTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: ArraySlice<UInt8>) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    /// `+=` on an lru_hash and on a percpu_hash, per calling process: this
    /// process calls getppid(2) a known number of times; the per-CPU value
    /// is the sum of every CPU's slot, as user space merges it.
    func testLRUHashAndPerCPUHashCountSyscalls() throws {
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        map :lru, :lru_hash, key: :u32, value: :u64, max_entries: 64
        map :pc, :percpu_hash, key: :u32, value: :u64, max_entries: 64
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if pid == target_pid
            lru[pid] += 1
            pc[pid] += 2
          end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "maps.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sys_enter_getppid")
        let calls = 37
        for _ in 0..<calls { _ = getppid() }
        let me = u32(UInt32(getpid()))
        XCTAssertEqual(try object.lookup(map: "lru", key: me).map { u64($0[...]) }, UInt64(calls))
        let slots = try XCTUnwrap(try object.lookup(map: "pc", key: me))
        XCTAssertEqual(slots.count % 8, 0)
        XCTAssertGreaterThan(slots.count / 8, 0)
        let total = stride(from: 0, to: slots.count, by: 8).reduce(UInt64(0)) { $0 + u64(slots[$1..<$1 + 8]) }
        XCTAssertEqual(total, UInt64(2 * calls), "per-CPU slots: \(slots.count / 8)")
    }

    /// `uprobe` and `uretprobe` on a function of a program built here: its
    /// argument and its return value, summed over a known number of calls.
    func testUprobeArgumentsAndUretprobeReturnValues() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = dir.appendingPathComponent("target.c"), exe = dir.appendingPathComponent("target")
        try """
        #include <stdlib.h>
        __attribute__((noinline)) long infrared_target(long x) { __asm__ volatile(""); return x - 5; }
        int main(int argc, char **argv) {
            long n = atol(argv[1]), s = 0;
            for (long i = 0; i < n; i++) s += infrared_target(i);
            return s == 123456789 ? 1 : 0;
        }
        """.write(to: c, atomically: true, encoding: .utf8)
        let cc = try Support.run("cc", ["-O1", "-o", exe.path, c.path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let source = """
        license "GPL"
        map :sums, :array, value: :u64, max_entries: 4
        uprobe "\(exe.path)", "infrared_target" do |ctx|
          sums[0] += 1
          sums[1] += ctx.arg(0)
          0
        end
        uretprobe "\(exe.path)", "infrared_target" do |ctx|
          sums[2] += 1
          sums[3] += ctx.ret
          0
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "uret.rb").bytes)
        defer { object.close() }
        XCTAssertEqual(object.programs.count, 2)
        for p in object.programs { _ = try object.attach(program: p.name) }
        let n = 9
        XCTAssertEqual(try Support.run(exe.path, [String(n)]).status, 0)
        func sum(_ i: UInt32) throws -> UInt64? { try object.lookup(map: "sums", key: u32(i)).map { u64($0[...]) } }
        XCTAssertEqual(try sum(0), UInt64(n))
        XCTAssertEqual(try sum(1), UInt64((0..<n).reduce(0, +)))                        // 0 + 1 + … + 8 = 36
        XCTAssertEqual(try sum(2), UInt64(n))
        XCTAssertEqual(try sum(3), UInt64(bitPattern: Int64((0..<n).reduce(0) { $0 + $1 - 5 })))  // 36 − 45 = −9
    }

    /// `kernel_string` of a kernel `char *` (the exec'd file's dentry name)
    /// into a record field, and `discard` of a reserved record: each exec of
    /// this process's children reserves a record; those of `/bin/false` (an
    /// argv of 11 bytes) are discarded, those of `/bin/true` submitted, so
    /// exactly the `true`s arrive.
    func testKernelStringAndRingBufferDiscard() throws {
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Rec do
          u32 :pid
          char :exe, 32
        end
        map :events, :ringbuf, max_entries: 16 * 4096
        tracepoint "sched/sched_process_exec" do |ctx|
          if current_task.real_parent.tgid == target_pid
            e = events.reserve(Rec)
            e.pid = pid
            e.exe = kernel_string(current_task.mm.exe_file.f_path.dentry.d_name.name)
            if current_task.mm.arg_end - current_task.mm.arg_start == 11   # "/bin/false\\0"
              events.discard(e)
            else
              events.submit(e)
            end
          end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "discard.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sched_process_exec")
        var names: [String] = []
        let rb = try RingBufferReader(object: object, map: "events") { (b: [UInt8]) in
            names.append(String(decoding: b[4..<36].prefix { $0 != 0 }, as: UTF8.self))
        }
        for _ in 0..<3 { _ = try Support.run("/bin/true", []) }
        for _ in 0..<4 { _ = try Support.run("/bin/false", []) }
        for _ in 0..<10 { try rb.poll(timeoutMs: 50) }
        XCTAssertEqual(names, ["true", "true", "true"])
    }
}
