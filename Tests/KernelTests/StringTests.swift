import Foundation
import Glibc
import XCTest
import InfraredCompiler
import InfraredRuntime

/// Strings in bodies (language v2): `==`, `!=` and `start_with?` on `comm`,
/// char arrays, tracepoint strings, `user_string` and kernel `char *`
/// values; strings as map keys; the signed `ctx.ret` of return probes. Each
/// probe is loaded by the running kernel's verifier and counts a workload
/// whose answer is known exactly.
final class StringTests: XCTestCase {
    override func setUpWithError() throws {
        try Support.requireBPF()
        if !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/sched") {
            _ = try? Support.run("mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
    }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    /// A NUL-padded char[n] key.
    func chars(_ s: String, _ n: Int) -> [UInt8] { Array((Array(s.utf8) + Array(repeating: 0, count: n)).prefix(n)) }

    func counts(_ object: LoadedObject, _ n: Int) throws -> [UInt64] {
        try (0..<n).map { try XCTUnwrap(try object.lookup(map: "counts", key: u32(UInt32($0)))).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }

    /// Sets this thread's name (what `comm` reads in its system calls).
    func setThreadName(_ name: String) throws {
        try name.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
    }

    /// `comm` against literals of 6, 7 and 15 characters (the buffer
    /// boundaries), a literal on the left, `!=`, `start_with?`, `unless`,
    /// a ternary, char array fields against `comm` and each other, and
    /// `comm` as a `[:char, 16]` key and as a one-field struct key. This
    /// thread calls getppid(2) 11 times named `infr-strcmp-abc`, 5 times
    /// named `infr-st`.
    func testCommCompares() throws {
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Named do
          char :name, 16
        end
        map :counts, :array, value: :u64, max_entries: 16
        map :by_comm, :hash, key: [:char, 16], value: :u64, max_entries: 64
        map :by_name, :hash, key: :Named, value: :u64, max_entries: 64

        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if pid == target_pid
            e = Named.new
            f = Named.new
            counts[0] += 1 if comm == "infr-strcmp-abc"     # 15 characters: the whole comm
            counts[1] += 1 if comm == "infr-st"             # 7
            counts[2] += 1 if comm != "infr-strcmp-abc"
            counts[3] += 1 if comm.start_with?("infr-st")
            counts[4] += 1 if "infr-st" == comm
            counts[5] += 1 if comm == "infr-s"              # a prefix of both: never equal
            counts[6] += 1 unless comm == "infr-st" || comm.start_with?("zz")
            counts[7] += comm.start_with?("infr-strcmp") ? 2 : 0
            e.name = comm
            counts[8] += 1 if e.name == comm                # two values
            counts[9] += 1 if e.name == "infr-st" && comm.start_with?(e.name)
            f.name = e.name
            counts[10] += 1 if f.name.start_with?("infr-strcmp-ab")
            counts[11] += 1 if comm.start_with?(f.name) && f.name != "infr-st"
            by_comm[comm] += 1
            by_name[comm] += 1
          end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "comm.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sys_enter_getppid")
        let original = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        defer { try? setThreadName(original) }
        try setThreadName("infr-strcmp-abc")
        for _ in 0..<11 { _ = getppid() }
        try setThreadName("infr-st")
        for _ in 0..<5 { _ = getppid() }
        try setThreadName(original)
        XCTAssertEqual(try counts(object, 12), [11, 5, 5, 16, 5, 0, 11, 22, 16, 5, 11, 11])
        for map in ["by_comm", "by_name"] {
            XCTAssertEqual(try object.lookup(map: map, key: chars("infr-strcmp-abc", 16)).map(u64), 11, map)
            XCTAssertEqual(try object.lookup(map: map, key: chars("infr-st", 16)).map(u64), 5, map)
        }
    }

    /// `start_with?`, `==` and `!=` on `ctx.filename` of sys_enter_openat
    /// (a user `char *`), and the file name as a `[:char, 64]` key: this
    /// process opens 4 times `DIR/a`, 3 times `DIR/b`, 2 times `DIR/bc` and
    /// 5 times /dev/null.
    func testOpenatFilenamePrefix() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = dir.path
        for f in ["a", "b", "bc"] { try Data().write(to: dir.appendingPathComponent(f)) }
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Rec do
          u32 :n
          char :path, 64
        end
        map :counts, :array, value: :u64, max_entries: 4
        map :by_file, :hash, key: [:char, 64], value: :u64, max_entries: 64
        map :by_path, :hash, key: [:char, 64], value: :u64, max_entries: 64
        # A second program on the same tracepoint: each has its own 512-byte stack.
        tracepoint "syscalls/sys_enter_openat", name: "openat_record" do |ctx|
          if pid == target_pid
            r = Rec.new
            r.path = ctx.filename                       # a user string into a char array field
            by_path[r.path] += 1 if r.path.start_with?("\(d)/")
            counts[3] += 1 if r.path == "\(d)/bc" && r.path == ctx.filename
          end
          0
        end
        tracepoint "syscalls/sys_enter_openat" do |ctx|
          if pid == target_pid
            counts[0] += 1 if ctx.filename.start_with?("\(d)/")
            counts[1] += 1 if ctx.filename == "\(d)/a"
            f = ctx.filename
            counts[2] += 1 if f.start_with?("\(d)/b") && f != "\(d)/b"
            by_file[f] += 1 if f.start_with?("\(d)")
          end
          0
        end
        """
        XCTAssertLessThan(d.utf8.count + 3, 64, "the temporary directory's path must fit the key")
        let compiled = try Compiler.compile(source: source, path: "open.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sys_enter_openat")
        try object.attach(program: "openat_record")
        func open(_ path: String, _ times: Int) {
            for _ in 0..<times {
                let fd = Glibc.open(path, O_RDONLY)
                XCTAssertGreaterThanOrEqual(fd, 0, path)
                close(fd)
            }
        }
        open("\(d)/a", 4); open("\(d)/b", 3); open("\(d)/bc", 2); open("/dev/null", 5)
        XCTAssertEqual(try counts(object, 4), [9, 4, 2, 2])
        for (f, n) in [("a", 4), ("b", 3), ("bc", 2)] {
            XCTAssertEqual(try object.lookup(map: "by_file", key: chars("\(d)/\(f)", 64)).map(u64), UInt64(n), f)
            XCTAssertEqual(try object.lookup(map: "by_path", key: chars("\(d)/\(f)", 64)).map(u64), UInt64(n), f)
        }
    }

    /// A `__data_loc` tracepoint string (sched_process_exec's filename) and a
    /// kernel `char *` read through CO-RE (the exec'd file's dentry name),
    /// against literals and against a kernel char array (`current_task.comm`):
    /// this process runs /bin/true 3 times and /bin/false twice.
    func testExecFilenameAndKernelStrings() throws {
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        map :counts, :array, value: :u64, max_entries: 4
        tracepoint "sched/sched_process_exec" do |ctx|
          if current_task.real_parent.tgid == target_pid
            counts[0] += 1 if ctx.filename == "/bin/true"
            counts[1] += 1 if ctx.filename.start_with?("/bin/")
            counts[2] += 1 if kernel_string(current_task.mm.exe_file.f_path.dentry.d_name.name) == "true"
            counts[3] += 1 if comm == current_task.comm && current_task.comm != "false"
          end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "exec.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sched_process_exec")
        for _ in 0..<3 { XCTAssertEqual(try Support.run("/bin/true", []).status, 0) }
        for _ in 0..<2 { XCTAssertEqual(try Support.run("/bin/false", []).status, 1) }
        XCTAssertEqual(try counts(object, 4), [3, 5, 3, 3])
    }

    /// `uretprobe`'s `ctx.ret` is signed: `< 0`, `== -3`, `>= 0` and `> -4`
    /// on a C function returning 0, -3 and -5; `user_string(ctx.arg(0))` in
    /// its `uprobe` compared and used as a `[:char, 8]` key. Per round the
    /// program calls it with "ok" twice, "bad" 3 times and "worse" once.
    func testReturnValueIsSignedAndUserStrings() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = dir.appendingPathComponent("check.c"), exe = dir.appendingPathComponent("check")
        try """
        #include <stdlib.h>
        #include <string.h>
        __attribute__((noinline)) long infrared_check(const char *s) {
            __asm__ volatile("");
            return strcmp(s, "ok") == 0 ? 0 : -(long)strlen(s);
        }
        int main(int argc, char **argv) {
            static const char *words[] = {"ok", "bad", "worse", "ok", "bad", "bad"};
            char w[6][8];                       /* on the stack: resident when the uprobe reads it */
            for (int i = 0; i < 6; i++) strcpy(w[i], words[i]);
            long s = 0;
            for (int r = 0; r < atoi(argv[1]); r++) for (int i = 0; i < 6; i++) s += infrared_check(w[i]);
            return s == 1 ? 1 : 0;
        }
        """.write(to: c, atomically: true, encoding: .utf8)
        let cc = try Support.run("cc", ["-O1", "-o", exe.path, c.path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let source = """
        license "GPL"
        struct :Word do
          char :s, 8
        end
        map :counts, :array, value: :u64, max_entries: 8
        map :by_word, :hash, key: [:char, 8], value: :u64, max_entries: 16
        map :by_field, :hash, key: :Word, value: :u64, max_entries: 16
        uprobe "\(exe.path)", "infrared_check" do |ctx|
          w = Word.new
          s = user_string(ctx.arg(0))
          w.s = s
          by_field[w.s] += 1 if w.s != "ok"
          counts[7] += 1 if w.s == "worse"
          counts[4] += 1 if s == "bad"
          counts[5] += 1 if s.start_with?("wor")
          counts[6] += 1 if s != "ok"
          by_word[s] += 1
          0
        end
        uretprobe "\(exe.path)", "infrared_check" do |ctx|
          counts[0] += 1 if ctx.ret < 0
          counts[1] += 1 if ctx.ret == -3
          counts[2] += 1 if ctx.ret >= 0
          counts[3] += 1 if ctx.ret > -4
          0
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "check.rb").bytes)
        defer { object.close() }
        XCTAssertEqual(object.programs.count, 2)
        for p in object.programs { _ = try object.attach(program: p.name) }
        let rounds = 7
        XCTAssertEqual(try Support.run(exe.path, [String(rounds)]).status, 0)
        let n = UInt64(rounds)
        XCTAssertEqual(try counts(object, 8), [4 * n, 3 * n, 2 * n, 5 * n, 3 * n, n, 4 * n, n])
        for (w, k) in [("ok", 2 * n), ("bad", 3 * n), ("worse", n)] {
            XCTAssertEqual(try object.lookup(map: "by_word", key: chars(w, 8)).map(u64), k, w)
        }
        XCTAssertNil(try object.lookup(map: "by_field", key: chars("ok", 8)))
        XCTAssertEqual(try object.lookup(map: "by_field", key: chars("bad", 8)).map(u64), 3 * n)
        XCTAssertEqual(try object.lookup(map: "by_field", key: chars("worse", 8)).map(u64), n)
    }

    /// The compile errors: a literal longer than the value, an unsigned
    /// value compared with 0, `start_with?` of a non-string.
    func testCompileErrors() throws {
        func message(_ body: String, _ decl: String = "") -> String {
            let source = """
            license "GPL"
            struct :Rec do
              u32 :n
              char :name, 8
            end
            map :counts, :array, value: :u64, max_entries: 1
            \(decl)
            tracepoint "syscalls/sys_enter_getppid" do |ctx|
              r = Rec.new
              \(body)
              0
            end
            """
            do {
                _ = try Compiler.compile(source: source, path: "e.rb")
                return "compiled"
            } catch let d as Diagnostic {
                return d.description
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(message(#"counts[0] += 1 if comm == "0123456789abcdef""#).hasPrefix(
            #"e.rb:10:26: error: "0123456789abcdef" has 16 characters: longer than `comm` (char[16], at most 15 characters), so `==` is always false"#))
        XCTAssertEqual(message(#"counts[0] += 1 if comm == "0123456789abcde""#), "compiled")    // 15: fits
        XCTAssertTrue(message(#"counts[0] += 1 if r.name != "12345678""#).contains("longer than a char[8] (at most 7 characters), so `!=` is always true"))
        XCTAssertTrue(message("counts[0] += 1 if comm.start_with?(5)").contains("error: `start_with?` takes a string, not Integer"))
        XCTAssertTrue(message("counts[0] += 1 if r.n >= 0").contains(
            "error: this comparison is always true: the value compared with 0 is unsigned (u32), never below 0\n  hint: compare with a signed value"))
        XCTAssertTrue(message("counts[0] += 1 if 0 > limit", "param :limit, :u32, default: 1").contains("error: this comparison is always false: the value compared with 0 is unsigned (u32)"))
        XCTAssertEqual(message("counts[0] += 1 if (r.n & 255) < 0"), "compiled")     // arithmetic, not a type: Ruby's answer
        XCTAssertEqual(message("counts[0] += 1 if limit < 0", "param :limit, :s32, default: -1"), "compiled")
        XCTAssertEqual(message("counts[0] += 1 if r.n < 1"), "compiled")
    }
}
