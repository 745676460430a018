import Foundation
import XCTest
import BPF
import InfraredCompiler
import InfraredRuntime

/// The probe language against real workloads: maps, params, CO-RE reads,
/// ring buffer and perf buffer records, histograms.
final class LanguageTests: XCTestCase {
    override func setUpWithError() throws {
        try Support.requireBPF()
        if !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/sched") {
            _ = try? Support.run("mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
    }

    static let execCounter = """
    license "GPL"
    param :target_pid, :u32, default: 0
    map :counts, :hash, key: :u32, value: :u64, max_entries: 1024

    tracepoint "sched/sched_process_exec" do |ctx|
      ppid = current_task.real_parent.tgid
      if target_pid == 0 || ppid == target_pid
        counts[ppid] += 1
      end
      0
    end
    """

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    /// Loads the exec counter (with `target_pid` set when given), spawns
    /// `n` children and returns what the map holds for this process.
    func countExecs(targetPID: UInt32?, children n: Int) throws -> UInt64? {
        let compiled = try Compiler.compile(source: Self.execCounter, path: "execcount.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        if let targetPID { try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(targetPID)) }
        try object.load()
        try object.attach(program: "sched_process_exec")
        for _ in 0..<n { XCTAssertEqual(try Support.run("/bin/true", []).status, 0) }
        return try object.lookup(map: "counts", key: u32(UInt32(getpid()))).map(u64)
    }

    func testTracepointCountsExecsPerParent() throws {
        XCTAssertEqual(try countExecs(targetPID: nil, children: 5), 5)
    }

    /// `execve`'s `argv` (`const char *const *` in the format) is an
    /// address, not a string: `user_read(:u64, ctx.argv)` reads argv[0]'s
    /// pointer, and `user_string` of it is the name a child ran under
    /// (`exec -a`), counted once per exec.
    func testExecveArgvIsAnAddressOfPointers() throws {
        let source = """
        license "GPL"
        map :seen, :array, value: :u64, max_entries: 1

        tracepoint "syscalls/sys_enter_execve" do |ctx|
          argv0 = user_read(:u64, ctx.argv)
          seen[0] += 1 if user_string(argv0) == "infrared-argv0-test"
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "argv.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        try object.attach(program: "sys_enter_execve")
        for _ in 0..<3 { XCTAssertEqual(try Support.run("/bin/bash", ["-c", "exec -a infrared-argv0-test /bin/true"]).status, 0) }
        XCTAssertEqual(try object.lookup(map: "seen", key: u32(0)).map(u64), 3)
    }

    func testParamFiltersBeforeLoad() throws {
        XCTAssertEqual(try countExecs(targetPID: UInt32(getpid()), children: 3), 3)
        XCTAssertNil(try countExecs(targetPID: 1, children: 3), "target_pid=1 must not count this process's children")
    }

    static let execRecord = """
    license "GPL"
    struct :Event do
      u32 :pid
      u32 :ppid
      char :comm, 16
      char :filename, 64
    end
    map :events, :ringbuf, max_entries: 64 * 4096
    map :perf, :perf_event_array

    tracepoint "sched/sched_process_exec" do |ctx|
      e = events.reserve(Event)
      e.pid = pid
      e.ppid = current_task.real_parent.tgid
      e.comm = comm
      e.filename = ctx.filename
      events.submit(e)
      p = Event.new
      p.pid = pid
      p.ppid = current_task.real_parent.tgid
      p.comm = comm
      p.filename = ctx.filename
      perf.output(ctx, p)
      0
    end
    """

    struct Event: Equatable { var pid: UInt32; var ppid: UInt32; var comm: String; var filename: String }
    static func decode(_ b: [UInt8]) -> Event? {
        guard b.count >= 88 else { return nil }
        func str(_ r: Range<Int>) -> String { String(decoding: b[r].prefix { $0 != 0 }, as: UTF8.self) }
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        return Event(pid: u32(0), ppid: u32(4), comm: str(8..<24), filename: str(24..<88))
    }

    func testRingBufferAndPerfBufferRecords() throws {
        let compiled = try Compiler.compile(source: Self.execRecord, path: "execsnoop.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        try object.attach(program: "sched_process_exec")
        var ring: [Event] = [], perf: [Event] = []
        let rb = try RingBufferReader(object: object, map: "events") { if let e = Self.decode($0) { ring.append(e) } }
        let pb = try PerfBufferReader(object: object, map: "perf") { _, r in if let e = Self.decode(r) { perf.append(e) } }
        let marker = "/bin/true"
        for _ in 0..<3 { _ = try Support.run(marker, []) }
        for _ in 0..<10 { try rb.poll(timeoutMs: 50); try pb.poll(timeoutMs: 50) }
        let me = UInt32(getpid())
        let mineRing = ring.filter { $0.ppid == me && $0.filename == marker }
        let minePerf = perf.filter { $0.ppid == me && $0.filename == marker }
        XCTAssertEqual(mineRing.count, 3, "ring buffer records: \(ring.prefix(5))")
        XCTAssertEqual(minePerf.count, 3, "perf buffer records: \(perf.prefix(5))")
        for e in mineRing + minePerf {
            XCTAssertEqual(e.comm, "true")
            XCTAssertNotEqual(e.pid, me)
        }
    }

    /// Three fields of a tracepoint record read at entry and written into a
    /// ring buffer record after two helper calls: with the context and the
    /// time also kept across the reserve, five values want R6–R9, and
    /// reread-context reads fields again after the calls instead of
    /// spilling (the dumps before and after it show a field read again).
    /// Three `pread(-1, buf, 7777, 12345 + i)` calls: each record holds
    /// exactly what the call passed (the fd's low 32 bits: an `int`),
    /// `__syscall_nr` (read only after the calls) and the calling thread.
    func testContextFieldsReadAgainAfterCallsKeepTheirValues() throws {
        let source = """
        license "GPL"
        struct :Rec do
          u64 :fd
          u64 :count
          u64 :pos
          u64 :ts
          s32 :nr
          s32 :owner
        end
        map :events, :ringbuf, max_entries: 4096
        tracepoint "syscalls/sys_enter_pread64", name: "rec" do |ctx|
          fd = ctx.fd
          count = ctx.count
          pos = ctx.pos
          owner = tid
          return 0 if count != 7777
          t = ktime_ns
          r = events.reserve(Rec)
          if r
            r.ts = t
            r.fd = fd
            r.count = count
            r.pos = pos
            r.nr = ctx.__syscall_nr
            r.owner = owner
            events.submit(r)
          end
          0
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["sink-state-reads", "reread-context"]
        let compiled = try Compiler.compile(source: source, path: "reread.rb", options: options)
        // Fields read after the reserve (`call 131`) other than __syscall_nr (offset 8), before and after the pass.
        let readAfterReserve = compiled.dumps.map { dump -> [String] in
            let lines = dump.split(separator: "\n").map(String.init)
            guard let reserve = lines.firstIndex(where: { $0.contains("call 131(") }) else { return ["no reserve"] }
            return lines[reserve...].filter { $0.contains("= load") && $0.contains("[%0 + ") && !$0.contains("[%0 + 8]") }
        }
        XCTAssertEqual(readAfterReserve.count, 2)
        XCTAssertEqual(readAfterReserve[0], [], compiled.dumps[0])
        XCTAssertFalse(readAfterReserve[1].isEmpty, "reread-context read no field again:\n\(compiled.dumps[1])")

        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        try object.attach(program: "rec")
        struct Rec: Equatable { var fd: UInt32; var count: UInt64; var pos: UInt64; var nr: Int32; var owner: Int32 }
        var records: [Rec] = []
        let rb = try RingBufferReader(object: object, map: "events") { (b: [UInt8]) in
            guard b.count >= 40 else { return }
            func le(_ o: Int, _ n: Int) -> UInt64 { var v: UInt64 = 0; for k in (0..<n).reversed() { v = v << 8 | UInt64(b[o + k]) }; return v }
            func u64(_ o: Int) -> UInt64 { le(o, 8) }
            func s32(_ o: Int) -> Int32 { Int32(truncatingIfNeeded: le(o, 4)) }
            records.append(Rec(fd: UInt32(truncatingIfNeeded: u64(0)), count: u64(8), pos: u64(16), nr: s32(32), owner: s32(36)))
        }
        var buffer = [UInt8](repeating: 0, count: 7777)
        for i in 0..<3 { XCTAssertEqual(pread(-1, &buffer, 7777, off_t(12345 + i)), -1) }
        for _ in 0..<5 { try rb.poll(timeoutMs: 50) }
        // tid is the thread id: /proc/thread-self names it (PID/task/TID).
        let me = try XCTUnwrap(Int32(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self").split(separator: "/").last ?? ""))
        let mine = records.filter { $0.owner == me }
        XCTAssertEqual(mine, (0..<3).map { Rec(fd: UInt32.max, count: 7777, pos: UInt64(12345 + $0), nr: 17, owner: me) },   // 17: pread64 on x86-64
                       "records: \(records)")
    }

    /// A tracepoint program that reads past its record, as one built against
    /// a longer format would on this kernel: the verifier loads it (a
    /// tracepoint's context is checked at attach), perf refuses the attach
    /// with EACCES, and the error says why instead of asking root for
    /// privileges. The read of `__syscall_nr` (offset 8 of a 16-byte record)
    /// moves to offset 64 in the object's bytes; nothing stays attached.
    func testReadingPastATracepointRecordIsExplainedAtAttach() throws {
        let source = """
        license "GPL"
        map :n, :array, value: :u64, max_entries: 1
        tracepoint "syscalls/sys_enter_getpid", name: "past" do |ctx|
          n[0] = ctx.__syscall_nr
          0
        end
        """
        var bytes = try Compiler.compile(source: source, path: "past.rb").bytes
        // `r1 = *(u32 *)(r1 + 8)`: ldxw (0x61), R1 from R1, offset 8, no immediate.
        let read: [UInt8] = [0x61, 0x11, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]
        let at = stride(from: 0, to: bytes.count - 7, by: 8).filter { Array(bytes[$0..<$0 + 8]) == read }
        XCTAssertEqual(at.count, 1, "the field's read, once")
        bytes[try XCTUnwrap(at.first) + 2] = 64
        let object = try LoadedObject(bytes: bytes)
        defer { object.close() }
        XCTAssertThrowsError(try object.attach(program: "past")) { error in
            guard case RuntimeError.permissionDenied(let program, _, let errno) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(program, "past")
            XCTAssertEqual(errno, .permissionDenied)
            XCTAssertTrue("\(error)".contains("reads past the end of the tracepoint's record"), "\(error)")
        }
        XCTAssertTrue(object.attachedLinks.isEmpty)
    }

    /// A struct made after a branch whose arms allocate stack (map keys) is
    /// read back from the slot it was written to: the kind analysis visits
    /// the arms in another order than the emission, and the stack offset
    /// used to travel in the kind (the field was read from a map key's slot:
    /// 2 instead of 150).
    func testStructAfterBranchesIsReadFromItsOwnSlot() throws {
        let source = """
        license "GPL"
        struct :Named do
          u32 :name
        end
        map :counts, :array, value: :u64, max_entries: 16
        socket_filter do |ctx|
          if ctx.len == 7
            counts[1] += 1
          else
            counts[2] += 1
          end
          f = Named.new
          f.name = ctx.len + 100
          if ctx.len > 3
            return f.name
          end
          0
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "slot.rb").bytes)
        defer { object.close() }
        // skb->len of a test-run socket filter excludes the 14-byte Ethernet header.
        XCTAssertEqual(try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: 64)).retval, 150)
        XCTAssertEqual(try object.lookup(map: "counts", key: u32(2)).map(u64), 1)
    }

    /// `m[k] += n` and `-= n` add what the statement says: mruby's
    /// bytecode (compiled without its peephole pass) loads a literal operand
    /// right before the ADD/SUB, which the lowering adds atomically as the
    /// literal; a value chosen on two paths (`(c ? 1 : 5)`: a jump between
    /// the `[]` and the ADD) is a read-modify-write of the value computed.
    /// One test run each of two packet lengths, every slot checked.
    func testMapIncrementsByLiteralsAndChosenValues() throws {
        let source = """
        license "GPL"
        map :counts, :array, value: :u64, max_entries: 8
        map :h, :hash, key: :u32, value: :u64, max_entries: 8
        socket_filter do |ctx|
          counts[0] += 7
          counts[1] -= 2
          counts[2] += (ctx.len > 40 ? 1 : 5)
          counts[3] -= (ctx.len > 40 ? 100 : 1000)
          h[ctx.len] += 70000
          0
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "inc.rb").bytes)
        defer { object.close() }
        // skb->len of a test-run socket filter excludes the 14-byte Ethernet header: 50 and 20.
        for packet in [64, 34] { _ = try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: packet)) }
        let want: [UInt64] = [14, UInt64(bitPattern: -4), 6, UInt64(bitPattern: -1100)]
        for (k, v) in want.enumerated() { XCTAssertEqual(try object.lookup(map: "counts", key: u32(UInt32(k))).map(u64), v, "counts[\(k)]") }
        XCTAssertEqual(try object.lookup(map: "h", key: u32(50)).map(u64), 70000)
        XCTAssertEqual(try object.lookup(map: "h", key: u32(20)).map(u64), 70000)
    }

    /// Top-level `def`s are callable from bodies (inlined), nested and with early returns.
    func testFunctionsCalledFromBodies() throws {
        let source = """
        license "GPL"
        def clamp(x, lo, hi)
          return lo if x < lo
          return hi if x > hi
          x
        end
        def square(x) = x * x
        socket_filter do |ctx|
          clamp(square(ctx.len) - 2000, 0, 1000)
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "def.rb").bytes)
        defer { object.close() }
        // skb->len of a test-run socket filter excludes the 14-byte Ethernet header.
        for (packet, want) in [(20, 0), (60, 116), (64, 500), (100, 1000)] as [(Int, UInt32)] {
            let len = packet - 14
            XCTAssertEqual(try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: packet)).retval, want, "len \(len)")
        }
    }

    /// Globals: `drops += 1` (a Ruby local named like the global) and
    /// `self.x = v` write the global; params are read-only.
    func testGlobalsAreReadAndWritten() throws {
        let source = """
        license "GPL"
        global :drops, :u64
        global :total, :u32, 5
        param :limit, :u32, default: 2
        socket_filter do |ctx|
          drops += 1
          self.total = total + ctx.len
          drops <= limit ? 1 : 0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "globals.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        let results = try (0..<3).map { _ in try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: 24)).retval }
        XCTAssertEqual(results, [1, 1, 0])
        let bss = try XCTUnwrap(object.maps.first { $0.name.hasSuffix(".bss") }), data = try XCTUnwrap(object.maps.first { $0.name.hasSuffix(".data") })
        let zero = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(try object.lookup(map: bss.name, key: zero).map(u64), 3)
        XCTAssertEqual(try object.lookup(map: data.name, key: zero).map { UInt32($0[0]) | UInt32($0[1]) << 8 }, 5 + 3 * 10)
    }

    func testHistogramBuckets() throws {
        let source = """
        license "GPL"
        map :lat, :hist
        socket_filter do |ctx|
          lat.add(0)
          lat.add(1)
          lat.add(3)
          lat.add(1000)
          lat.add(ctx.len)
          lat.add(-5)
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "hist.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        _ = try object.testRun(program: "socket_filter", packet: [UInt8](repeating: 0, count: 64))
        var buckets: [Int: UInt64] = [:]
        for i in 0..<65 {
            if let v = try object.lookup(map: "lat", key: u32(UInt32(i))).map(u64), v > 0 { buckets[i] = v }
        }
        // ≤0 → 0 (twice: 0 and -5); 1 → 1; 3 → 2; 50 (skb len) → 6; 1000 → 10.
        XCTAssertEqual(buckets, [0: 2, 1: 1, 2: 1, 6: 1, 10: 1])
        // The slot after the buckets: the sum of the values, 0 + 1 + 3 + 1000 + 50 - 5.
        XCTAssertEqual(try object.lookup(map: "lat", key: u32(65)).map { Int64(bitPattern: u64($0)) }, 1049)
    }
}

/// USDT and uprobes on Debian's libruby, driven by a Ruby script.
final class RubyProbeTests: XCTestCase {
    static let libruby = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"

    override func setUpWithError() throws {
        try Support.requireBPF()
        guard FileManager.default.fileExists(atPath: Self.libruby) else {
            throw XCTSkip("Debian's ruby (libruby-3.1) is not installed: Scripts/setup.sh installs it")
        }
    }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    /// Counts per (class, method) of the USDT probe `probe`, for one Ruby run of `script`.
    func methodCounts(probe: String, script: String) throws -> [String: UInt64] {
        let source = """
        license "GPL"
        struct :Call do
          char :klass, 24
          char :name, 24
        end
        map :calls, :hash, key: :Call, value: :u64, max_entries: 4096
        usdt "\(Self.libruby)", "ruby", "\(probe)" do |ctx|
          k = Call.new
          k.klass = user_string(ctx.arg(0))
          k.name = user_string(ctx.arg(1))
          calls[k] += 1
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "ruby_calls.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        try object.attach(program: probe.replacingOccurrences(of: "-", with: "_"))
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("workload.rb")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let r = try Support.runRuby([file.path]) { for k in try object.keys(map: "calls") { try object.delete(map: "calls", key: k) } }
        XCTAssertEqual(r.status, 0, r.stderr)
        var out: [String: UInt64] = [:]
        for key in try object.keys(map: "calls") {
            func str(_ r: Range<Int>) -> String { String(decoding: key[r].prefix { $0 != 0 }, as: UTF8.self) }
            out["\(str(0..<24))#\(str(24..<48))", default: 0] += try object.lookup(map: "calls", key: key).map(u64) ?? 0
        }
        return out
    }

    func testUSDTCountsCMethodCalls() throws {
        let counts = try methodCounts(probe: "cmethod__entry", script: "a = []\n1000.times { |i| a.push(i) }\n")
        XCTAssertEqual(counts["Array#push"], 1000, "top entries: \(counts.sorted { $0.value > $1.value }.prefix(5))")
    }

    func testUSDTCountsRubyMethodCallsWithTracePointOn() throws {
        let script = """
        def greet(x) = x + 1
        tp = TracePoint.new(:call) {}
        tp.enable
        250.times { |i| greet(i) }
        tp.disable
        """
        let counts = try methodCounts(probe: "method__entry", script: script)
        XCTAssertEqual(counts["Object#greet"], 250, "entries: \(counts)")
    }
}

/// Program types beyond tracepoints: uprobes, kprobes, perf_event sampling.
final class ProgramTypeTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }
    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    /// A uprobe on libruby's rb_ary_new counts calls made by one Ruby process
    /// (the process waits until the probe is attached, then works).
    func testUprobeOnLibrubyCountsCalls() throws {
        let lib = RubyProbeTests.libruby
        guard FileManager.default.fileExists(atPath: lib) else { throw XCTSkip("libruby-3.1 not installed") }
        let source = """
        license "GPL"
        map :calls, :hash, key: :u32, value: :u64, max_entries: 64
        uprobe "\(lib)", "rb_ary_new" do |ctx|
          calls[pid] += 1
          0
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "uprobe.rb").bytes)
        defer { object.close() }
        try object.attach(program: "rb_ary_new")
        // `[].dup`-style empty arrays from C: Array#sort on an empty array calls rb_ary_new… keep it simple:
        // count with and without 500 extra `Array.new` (→ rb_ary_new via rb_class_new_instance? no) — use
        // String#split, which builds its result with rb_ary_new.
        func run(_ n: Int) throws -> UInt64 {
            let dir = try Support.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let f = dir.appendingPathComponent("w.rb")
            try "$stdout.puts Process.pid\n$stdout.flush\n\(n).times { \"a b\".split(\" \") }\n".write(to: f, atomically: true, encoding: .utf8)
            let p = Process(); p.executableURL = URL(fileURLWithPath: "/usr/bin/ruby"); p.arguments = [f.path]
            let out = Pipe(); p.standardOutput = out
            try p.run(); p.waitUntilExit()
            let pid = UInt32(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return try object.lookup(map: "calls", key: u32(pid)).map(u64) ?? 0
        }
        let base = try run(0), work = try run(500)
        XCTAssertGreaterThan(base, 0)
        XCTAssertEqual(work - base, 500, "rb_ary_new calls: \(base) at rest, \(work) with 500 splits")
    }

    /// kprobes compile and load; this kernel has no kprobe PMU, so the attach is
    /// not attempted (stated skip of the attach only).
    func testKprobeCompilesAndLoads() throws {
        let source = """
        license "GPL"
        map :opens, :hash, key: :u32, value: :u64, max_entries: 1024
        kprobe "do_sys_openat2" do |ctx|
          opens[pid] += 1
          flags = ctx.arg(2)
          printk("openat2 dfd %d\\n", ctx.arg(0))
          0
        end
        kretprobe "do_sys_openat2" do |ctx|
          printk("ret %d\\n", ctx.ret)
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "kprobe.rb")
        XCTAssertEqual(compiled.object.programs.map(\.section), ["kprobe/do_sys_openat2", "kretprobe/do_sys_openat2"])
        let object = try LoadedObject(bytes: compiled.bytes)
        XCTAssertTrue(object.isLoaded)
        object.close()
        print("kprobe attach skipped: this kernel has no kprobe PMU (loading verified)")
    }

    /// A perf_event program samples the CPU clock and records stacks.
    func testPerfEventCollectsStacks() throws {
        let source = """
        license "GPL"
        map :stacks, :stack_trace, max_entries: 1024
        map :samples, :hash, key: :s32, value: :u64, max_entries: 1024
        perf_event :cpu_clock, frequency: 999 do |ctx|
          id = stacks.get_stackid(ctx, 0)
          samples[id] += 1
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "profile.rb")
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        let links = try object.attachPerfEvent(program: "perf_event", type: 1 /* PERF_TYPE_SOFTWARE */, config: 0 /* CPU_CLOCK */, frequency: 999)
        XCTAssertFalse(links.isEmpty)
        let end = Date().addingTimeInterval(0.5)
        var x = 0
        while Date() < end { x &+= Int.random(in: 0..<10) }
        XCTAssertNotEqual(x, -1)
        var total: UInt64 = 0, withStack = 0
        for key in try object.keys(map: "samples") {
            let n = try object.lookup(map: "samples", key: key).map(u64) ?? 0
            total += n
            if Int32(bitPattern: UInt32(key[0]) | UInt32(key[1]) << 8 | UInt32(key[2]) << 16 | UInt32(key[3]) << 24) >= 0 { withStack += 1 }
        }
        XCTAssertGreaterThan(total, 50, "samples in 0.5 s at 999 Hz")
        XCTAssertGreaterThan(withStack, 0, "no sample has a stack id")
        XCTAssertFalse(try object.keys(map: "stacks").isEmpty)
    }

    /// Direct packet access: behind `data + 34 > data_end` the Ethernet and
    /// IPv4 header reads are loads from the packet (no probe read is left
    /// after the last pass), the verifier accepts them, and BPF_PROG_TEST_RUN
    /// counts what the packets hold: IPv4 UDP once, IPv4 TCP three times,
    /// neither an IPv6 packet nor an IPv4 one too short for the check.
    func testXDPReadsHeadersACheckCoversDirectly() throws {
        let source = """
        license "GPL"
        map :protos, :array, value: :u64, max_entries: 256

        xdp name: "protos_xdp" do |ctx|
          data = ctx.data
          return 2 if data + 34 > ctx.data_end
          return 2 if cast(:ethhdr, data).h_proto != 0x0008
          protos[cast(:iphdr, data + 14).protocol] += 1
          2
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["load-packet"]
        let compiled = try Compiler.compile(source: source, path: "protos.rb", options: options)
        XCTAssertEqual(compiled.dumps.count, 1)
        XCTAssertFalse(compiled.dumps[0].contains("call 113("), compiled.dumps[0])
        XCTAssertTrue(compiled.dumps[0].contains("load.u16 [") && compiled.dumps[0].contains("+ 12]"), compiled.dumps[0])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        func ipv4(_ protocol: UInt8, count: Int = 64) -> [UInt8] {
            var p = Support.packet(count: count, etherType: 0x0800)
            if count > 23 { p[23] = `protocol` }
            return p
        }
        XCTAssertEqual(try object.testRun(program: "protos_xdp", packet: ipv4(17)).retval, 2)
        XCTAssertEqual(try object.testRun(program: "protos_xdp", packet: ipv4(6), repeat: 3).retval, 2)
        XCTAssertEqual(try object.testRun(program: "protos_xdp", packet: Support.packet(etherType: 0x86dd)).retval, 2)
        XCTAssertEqual(try object.testRun(program: "protos_xdp", packet: ipv4(1, count: 30)).retval, 2)
        var counts: [UInt32: UInt64] = [:]
        for k in UInt32(0)..<256 {
            if let v = try object.lookup(map: "protos", key: u32(k)).map(u64), v != 0 { counts[k] = v }
        }
        XCTAssertEqual(counts, [17: 1, 6: 3])
    }
    /// A second check that reads `ctx.data_end` again (a VLAN tag after
    /// the Ethernet header) covers the reads behind it too: the second read
    /// is a copy of the first, and the check still counts. No probe read is
    /// left, and the tag's id comes out for tagged packets, the early
    /// returns for the others.
    func testASecondCheckAgainstCtxDataEndCoversItsReads() throws {
        let source = """
        license "GPL"

        xdp name: "vlan" do |ctx|
          data = ctx.data
          return 1000 if data + 14 > ctx.data_end
          return 1001 if cast(:ethhdr, data).h_proto != 0x0081    # ETH_P_8021Q, big-endian
          return 1002 if data + 18 > ctx.data_end
          ntohs(cast(:vlan_hdr, data + 14).h_vlan_TCI) & 0xfff
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["load-packet"]
        let compiled = try Compiler.compile(source: source, path: "vlan.rb", options: options)
        XCTAssertEqual(compiled.dumps.count, 1)
        XCTAssertFalse(compiled.dumps[0].contains("call 113("), compiled.dumps[0])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        for id in [0, 1, 100, 0xabc, 0xfff] {
            var p = Support.packet(count: 64, etherType: 0x8100)
            p[14] = UInt8(0xe0 | (id >> 8))   // priority 7 above the id
            p[15] = UInt8(id & 0xff)
            XCTAssertEqual(try object.testRun(program: "vlan", packet: p).retval, UInt32(id), "id \(id)")
        }
        XCTAssertEqual(try object.testRun(program: "vlan", packet: Support.packet(count: 64)).retval, 1001)
        XCTAssertEqual(try object.testRun(program: "vlan", packet: Support.packet(count: 16, etherType: 0x8100)).retval, 1002)
    }

    /// A header's bitfields behind a check: `ip.ihl` (bits 0-3 of byte 14)
    /// and `ip.version` (bits 4-7) become byte loads from the packet, an
    /// `and` and a shift as clang compiles them, with no probe read and no
    /// CO-RE record left (a header's layout is the same in every kernel);
    /// a read of the same field that no check covers (the second program)
    /// stays a relocated probe read. Both give what the bytes hold, for
    /// every value of byte 14 and for a packet too short for the check.
    func testXDPReadsHeaderBitfieldsACheckCoversDirectly() throws {
        let source = """
        license "GPL"

        xdp name: "checked" do |ctx|
          data = ctx.data
          return 300 if data + 34 > ctx.data_end
          ip = cast(:iphdr, data + 14)
          ip.version * 16 + ip.ihl
        end

        xdp name: "unchecked" do |ctx|
          ip = cast(:iphdr, ctx.data + 14)
          ip.version * 16 + ip.ihl
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["load-packet"]
        let compiled = try Compiler.compile(source: source, path: "bitfields.rb", options: options)
        XCTAssertEqual(compiled.dumps.count, 2)
        let checked = try XCTUnwrap(compiled.dumps.first { $0.contains("function checked(") })
        let unchecked = try XCTUnwrap(compiled.dumps.first { $0.contains("function unchecked(") })
        XCTAssertFalse(checked.contains("call 113("), checked)
        XCTAssertTrue(checked.contains("load.u8 [") && checked.contains("+ 14]"), checked)
        XCTAssertTrue(checked.contains("and ") && checked.contains(", 15"), checked)
        XCTAssertTrue(unchecked.contains("call 113("), unchecked)
        let programs = Dictionary(uniqueKeysWithValues: compiled.object.programs.map { ($0.name, $0) })
        XCTAssertEqual(try XCTUnwrap(programs["checked"]).coreRelocations.count, 0)
        let relocated = try XCTUnwrap(programs["unchecked"]).coreRelocations
        XCTAssertEqual(relocated.count, 8, "\(relocated)")
        XCTAssertEqual(Set(relocated.map(\.kind.rawValue)), Set([CoreRelocationKind.fieldByteOffset, .fieldByteSize, .fieldLShiftU64, .fieldRShiftU64].map(\.rawValue)))
        XCTAssertEqual(Set(relocated.map { $0.path.last! }), ["ihl", "version"])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        for byte in 0...255 {
            var p = Support.packet(count: 64)
            p[14] = UInt8(byte)
            for program in ["checked", "unchecked"] {
                XCTAssertEqual(try object.testRun(program: program, packet: p).retval, UInt32(byte), "\(program), byte 14 = \(byte)")
            }
        }
        var short = Support.packet(count: 30)
        short[14] = 0x45
        XCTAssertEqual(try object.testRun(program: "checked", packet: short).retval, 300)
        XCTAssertTrue(object.kernelAcceptedObjectBTF)
    }

    /// Two bitfields of one storage unit whose names sort against their
    /// bit order (`tcp.syn` is bit 105 of tcphdr, `tcp.ack` bit 108): the
    /// object's local tcphdr lists them in bit order, which the kernel
    /// requires of a struct's BTF (it refused the object's BTF, and libbpf
    /// loaded the object without it, when they came in name order), and
    /// each reads its own bit.
    func testTwoBitfieldsOfOneUnitKeepTheObjectBTFValid() throws {
        let source = """
        license "GPL"

        xdp name: "flags" do |ctx|
          data = ctx.data
          return 300 if data + 54 > ctx.data_end
          tcp = cast(:tcphdr, data + 34)
          tcp.ack * 2 + tcp.syn
        end
        """
        let compiled = try Compiler.compile(source: source, path: "flags.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        XCTAssertTrue(object.kernelAcceptedObjectBTF, "the kernel refused the object's BTF")
        for flags: UInt8 in [0x00, 0x02, 0x10, 0x12, 0xff, 0xed] {
            var p = Support.packet(count: 64)
            p[47] = flags   // byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN
            let expected = UInt32((flags >> 4) & 1) * 2 + UInt32((flags >> 1) & 1)
            XCTAssertEqual(try object.testRun(program: "flags", packet: p).retval, expected, "flags \(flags)")
        }
    }
    /// Byte order: `ntohs` of a UDP port and `ntohl` of an IPv4 address
    /// read from the packet are one `be16` / `be32` each (BPF_END), and
    /// give the host-order values for every port tried; `htons` and
    /// `ntohl` of constants fold at compile time (no BPF_END left in that
    /// program), and `ntohs` keeps only the low 16 bits, as C's does.
    func testByteOrderConversions() throws {
        let source = """
        license "GPL"

        xdp name: "port" do |ctx|
          data = ctx.data
          return 1 if data + 38 > ctx.data_end
          ntohs(cast(:udphdr, data + 34).dest)
        end

        xdp name: "address" do |ctx|
          data = ctx.data
          return 1 if data + 34 > ctx.data_end
          ntohl(cast(:iphdr, data + 14).saddr)
        end

        xdp name: "folded" do |ctx|
          return 2 if htons(80) != 0x5000
          return 3 if ntohl(0x01020304) != 0x04030201
          return 4 if htonl(ntohl(0xdeadbeef)) != 0xdeadbeef
          ntohs(0x12345678)
        end
        """
        let compiled = try Compiler.compile(source: source, path: "byteorder.rb")
        let be16: UInt8 = 0xdc   // BPF_ALU | BPF_END | BPF_TO_BE
        func swaps(_ name: String) throws -> [Int32] {
            let program = try XCTUnwrap(compiled.object.programs.first { $0.name == name })
            return program.instructions.filter { $0.opcode == be16 }.map(\.imm)
        }
        XCTAssertEqual(try swaps("port"), [16])
        XCTAssertEqual(try swaps("address"), [32])
        XCTAssertEqual(try swaps("folded"), [])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        for port in [0, 1, 80, 255, 256, 443, 8080, 0x1234, 0xff00, 65535] {
            var p = Support.packet(count: 64)
            p[36] = UInt8(port >> 8)
            p[37] = UInt8(port & 0xff)
            XCTAssertEqual(try object.testRun(program: "port", packet: p).retval, UInt32(port), "port \(port)")
        }
        var p = Support.packet(count: 64)
        p[26...29] = [10, 1, 2, 3]
        XCTAssertEqual(try object.testRun(program: "address", packet: p).retval, 0x0a01_0203)
        p[26...29] = [192, 168, 255, 254]
        XCTAssertEqual(try object.testRun(program: "address", packet: p).retval, 0xc0a8_fffe)
        XCTAssertEqual(try object.testRun(program: "folded", packet: p).retval, 0x7856)
    }

    /// A `case` over many close values (bit-test-switches): 17 values in
    /// one 64-wide window below zero (-937 is its bit 63), one of them
    /// repeated under a later `when` (the first wins), and values outside
    /// it (0, 64535). Every raw
    /// u16 from 0 to 1,299 and the two largest, run in the kernel, lands
    /// where Ruby's `case` puts it.
    func testCaseOverCloseValuesTestsBits() throws {
        let whens: [(values: [Int], result: Int)] = [
            ([-1000, -998, -995, -990, -988, -985, -982, -980], 1),
            ([-990, -997, -994, -992, -986, -983, -975], 2),
            ([0, -999, 64535, -970, -937], 3),
        ]
        let arms = whens.map { "when \($0.values.map(String.init).joined(separator: ", ")) then \($0.result)" }
        let source = """
        license "GPL"
        xdp name: "classify" do |ctx|
          data = ctx.data
          return 0 if data + 14 > ctx.data_end
          case cast(:ethhdr, data).h_proto - 1000
          \(arms.joined(separator: "\n  "))
          else 4
          end
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["bit-test-switches"]
        let compiled = try Compiler.compile(source: source, path: "classify.rb", options: options)
        XCTAssertEqual(compiled.dumps.count, 1)
        XCTAssertTrue(compiled.dumps[0].contains("= shl 1, %"), compiled.dumps[0])
        XCTAssertTrue(compiled.dumps[0].contains("br.eq %") && compiled.dumps[0].contains(", 64535 ?"), compiled.dumps[0])
        var expected: [Int: Int] = [:]
        for w in whens { for v in w.values where expected[v] == nil { expected[v] = w.result } }
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        var wrong: [String] = []
        for raw in Array(0..<1300) + [65534, 65535] {
            var p = Support.packet()
            p[12] = UInt8(raw & 0xff); p[13] = UInt8(raw >> 8)   // h_proto read as a little-endian u16
            let got = try object.testRun(program: "classify", packet: p).retval
            let want = expected[raw - 1000] ?? 4
            if got != UInt32(want) { wrong.append("\(raw - 1000): \(got), expected \(want)") }
        }
        XCTAssertEqual(wrong, [])
    }

    /// A `case` whose targets of several values share bits while those of
    /// one value keep their equality tests (bit-test-switches' second
    /// choice, where masks for every target would cost more than the chain):
    /// a TCP state's kinds (1; 2, 3, 12; 4, 5, 6, 8, 9, 11; 7), and a
    /// window whose singletons lie outside the shared values' (100 and 163
    /// around 130…157: the masks rebased to 130). Both dumps shift a bit;
    /// every raw u16 from 0 to 299 and the two largest, run in the kernel,
    /// lands where Ruby's `case` puts it.
    func testCaseSharesBitsOnlyForTargetsOfSeveralValues() throws {
        let shapes: [(name: String, whens: [(values: [Int], result: Int)])] = [
            ("states", [([1], 1), ([2, 3, 12], 2), ([4, 5, 6, 8, 9, 11], 3), ([7], 4)]),
            ("rebased", [([100], 1), ([130, 131, 133, 135, 137], 2), ([150, 151, 152, 153, 154, 155, 156, 157], 3), ([163], 4)]),
        ]
        for shape in shapes {
            let arms = shape.whens.map { "when \($0.values.map(String.init).joined(separator: ", ")) then \($0.result)" }
            let source = """
            license "GPL"
            xdp name: "\(shape.name)" do |ctx|
              data = ctx.data
              return 9 if data + 14 > ctx.data_end
              case cast(:ethhdr, data).h_proto
              \(arms.joined(separator: "\n  "))
              else 0
              end
            end
            """
            var options = CompileOptions()
            options.dumpAfter = ["bit-test-switches"]
            let compiled = try Compiler.compile(source: source, path: "\(shape.name).rb", options: options)
            XCTAssertEqual(compiled.dumps.count, 1)
            XCTAssertTrue(compiled.dumps[0].contains("= shl 1, %"), compiled.dumps[0])
            var expected: [Int: Int] = [:]
            for w in shape.whens { for v in w.values { expected[v] = w.result } }
            let object = try LoadedObject.open(bytes: compiled.bytes)
            defer { object.close() }
            try object.load()
            var wrong: [String] = []
            for raw in Array(0..<300) + [65534, 65535] {
                var p = Support.packet()
                p[12] = UInt8(raw & 0xff); p[13] = UInt8(raw >> 8)   // h_proto read as a little-endian u16
                let got = try object.testRun(program: shape.name, packet: p).retval
                if got != UInt32(expected[raw] ?? 0) { wrong.append("\(raw): \(got), expected \(expected[raw] ?? 0)") }
            }
            XCTAssertEqual(wrong, [], shape.name)
        }
    }

    /// A lookup's result tested in an `&&` chain with other tests before
    /// its field (`if l && k > 2 && l.from == 7`), and read again after the
    /// `if`: where the chain's first test found nil and its second passed,
    /// the paths join holding nil or a value, a pointer not known to be set
    /// (it was refused: "a value of different types on different paths").
    /// Run in the kernel for a key with the field, one with another value,
    /// one the second test rejects and a missing one.
    func testLookupResultInAnAndChainAndAfterTheIf() throws {
        let source = """
        license "GPL"
        struct :Move do
          u32 :from
          u32 :to
        end
        map :last, :hash, key: :u32, value: :Move, max_entries: 8
        xdp name: "chain" do |ctx|
          data = ctx.data
          return 9 if data + 14 > ctx.data_end
          k = cast(:ethhdr, data).h_proto
          l = last.lookup(k)
          r = 1
          if l && k > 2 && l.from == 7
            r = 2
          end
          r + l.to * 10
        end
        """
        let object = try LoadedObject(bytes: try Compiler.compile(source: source, path: "chain.rb").bytes)
        defer { object.close() }
        for (key, from, to) in [(5, 7, 3), (1, 7, 4), (6, 8, 5)] as [(UInt32, UInt32, UInt32)] {
            try object.update(map: "last", key: u32(key), value: u32(from) + u32(to))
        }
        var results: [UInt32: UInt32] = [:]
        for key in [5, 1, 6, 9] as [UInt32] {
            var p = Support.packet()
            p[12] = UInt8(key & 0xff); p[13] = UInt8(key >> 8)   // h_proto read as a little-endian u16
            results[key] = try object.testRun(program: "chain", packet: p).retval
        }
        // A missing key: `l.to` on nil returns 0 from the program (the check the compiler adds, docs/language.md).
        XCTAssertEqual(results, [5: 32, 1: 41, 6: 51, 9: 0])
    }

    /// share-atomic-adds: `hits[k] += 1` on an array, then a return. The
    /// found arm and the fault arm (a key out of range) share one atomic
    /// add; run in the kernel, in-range keys count in the map and the others
    /// in the map's fault counter, each exactly.
    func testFoundAndFaultArmsShareOneAdd() throws {
        let source = """
        license "GPL"
        map :hits, :array, value: :u64, max_entries: 4
        xdp name: "count_low" do |ctx|
          data = ctx.data
          return 2 if data + 14 > ctx.data_end
          hits[cast(:ethhdr, data).h_proto & 7] += 1
          2
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["share-atomic-adds"]
        let compiled = try Compiler.compile(source: source, path: "count_low.rb", options: options)
        XCTAssertEqual(compiled.dumps.count, 1)
        XCTAssertEqual(compiled.dumps[0].components(separatedBy: "atomic.add.64").count - 1, 1, compiled.dumps[0])
        let fault = try XCTUnwrap(compiled.manifest.faults?.first { $0.map == "hits" })
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        // Raw low byte k (h_proto read little-endian) sent k + 1 times: keys 0…7.
        for k in 0..<8 {
            var p = Support.packet()
            p[12] = UInt8(k); p[13] = 0
            XCTAssertEqual(try object.testRun(program: "count_low", packet: p, repeat: k + 1).retval, 2)
        }
        let counts = try (UInt32(0)..<4).map { try XCTUnwrap(object.lookup(map: "hits", key: u32($0)).map(u64)) }
        XCTAssertEqual(counts, [1, 2, 3, 4])
        let bss = try XCTUnwrap(object.maps.first { $0.name.hasSuffix(".bss") })
        let bytes = try XCTUnwrap(object.lookup(map: bss.name, key: [UInt8](repeating: 0, count: 4)))
        XCTAssertEqual(u64(Array(bytes[fault.offset..<fault.offset + 8])), 5 + 6 + 7 + 8)
    }
}
