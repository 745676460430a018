import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// Implicit maps (`@name`) against known workloads: this test thread's
/// own syscalls, counted and aggregated exactly, per CPU where every write
/// aggregates, merged here as the loader merges them.
final class ImplicitMapTests: XCTestCase {
    override func setUpWithError() throws {
        try Support.requireBPF()
        if !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls") {
            _ = try? Support.run("mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
    }

    func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func word(_ b: [UInt8], _ at: Int) -> Int64 { b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) } }
    func chars(_ s: String, _ n: Int) -> [UInt8] { Array((Array(s.utf8) + [UInt8](repeating: 0, count: n)).prefix(n)) }
    /// This thread's name, as `comm` reads it in the kernel.
    func threadComm() throws -> String {
        try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
    }

    /// The value's per-CPU slots (`width` bytes each) of a per-CPU map entry.
    func slots(_ raw: [UInt8], width: Int) -> [[UInt8]] {
        stride(from: 0, to: raw.count - width + 1, by: width).map { Array(raw[$0..<$0 + width]) }
    }
    func perCPUSum(_ raw: [UInt8]?) -> Int64? { raw.map { slots($0, width: 8).map { word($0, 0) }.reduce(0, +) } }

    /// This thread's id (`/proc/thread-self` links to `PID/task/TID`).
    func gettid() throws -> Int32 {
        try XCTUnwrap(Int32(URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")).lastPathComponent))
    }

    /// Compiles and loads `source` with its param `target` set, and attaches `program`.
    func load(_ source: String, program: String, target: Int32) throws -> (LoadedObject, CompiledObject) {
        let compiled = try Compiler.compile(source: source, path: "implicit.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: withUnsafeBytes(of: UInt32(target).littleEndian, Array.init))
        try object.load()
        try object.attach(program: program)
        return (object, compiled)
    }

    static let counting = """
    license "GPL"
    param :target, :u32, default: 0

    tracepoint "syscalls/sys_enter_getppid" do |ctx|
      if tid == target
        @calls[pid] += 1
        @names[comm].count
        @total += 1
        @pairs[pid, comm] += 3
        @last[tid] = 7
        @seen[tid] = @seen[tid] + 2
        @gone[tid] = 1
        @gone.delete(tid)
        @flag = 42
        @copy[tid] = @flag + 1
        p = @last.lookup(tid)
        @got[tid] = p.value + 1 if p
      end
      0
    end
    """

    func testCountsStoresReadsAndDeletes() throws {
        let tid = try gettid()
        let (object, compiled) = try load(Self.counting, program: "sys_enter_getppid", target: tid)
        defer { object.close() }
        let n = 37
        for _ in 0..<n { _ = getppid() }
        let comm = try threadComm(), pid = UInt64(getpid())
        XCTAssertEqual(perCPUSum(try object.lookup(map: "calls", key: u64(pid))), Int64(n))
        XCTAssertEqual(perCPUSum(try object.lookup(map: "names", key: chars(comm, 16))), Int64(n))
        XCTAssertEqual(perCPUSum(try object.lookup(map: "total", key: u64(0))), Int64(n))
        XCTAssertEqual(perCPUSum(try object.lookup(map: "pairs", key: u64(pid) + chars(comm, 16))), Int64(3 * n))
        XCTAssertEqual(try object.lookup(map: "last", key: u64(UInt64(tid))).map { word($0, 0) }, 7)
        XCTAssertEqual(try object.lookup(map: "seen", key: u64(UInt64(tid))).map { word($0, 0) }, Int64(2 * n))
        XCTAssertNil(try object.lookup(map: "gone", key: u64(UInt64(tid))))
        XCTAssertEqual(try object.lookup(map: "got", key: u64(UInt64(tid))).map { word($0, 0) }, 8)
        XCTAssertEqual(try object.lookup(map: "flag", key: u64(0)).map { word($0, 0) }, 42, "no key: one entry, key 0")
        XCTAssertEqual(try object.lookup(map: "copy", key: u64(UInt64(tid))).map { word($0, 0) }, 43)
        // Storage: aggregated maps per CPU, stored ones plain hashes; all 10240 entries.
        let kinds = Dictionary(uniqueKeysWithValues: compiled.manifest.maps.map { ($0.name, $0) })
        for name in ["calls", "names", "total", "pairs"] {
            XCTAssertEqual(kinds[name]?.kind, .percpuHash, name)
            XCTAssertEqual(kinds[name]?.implicit?.aggregation, .sum, name)
        }
        for name in ["last", "seen", "gone", "got", "flag", "copy"] {
            XCTAssertEqual(kinds[name]?.kind, .hash, name)
            XCTAssertEqual(kinds[name]?.implicit?.aggregation, .store, name)
        }
        XCTAssertEqual(kinds["pairs"]?.keySize, 24)
        XCTAssertEqual(kinds["pairs"]?.implicit?.keys, 2)
        XCTAssertEqual(kinds["total"]?.implicit?.keys, 0)
        XCTAssertEqual(kinds["flag"]?.implicit?.keys, 0)
        XCTAssertEqual(kinds["calls"]?.maxEntries, 10240)
    }

    static let aggregations = """
    license "GPL"
    param :target, :u32, default: 0

    tracepoint "syscalls/sys_enter_write" do |ctx|
      if ctx.fd == target
        @s.sum(ctx.count)
        @lo.min(ctx.count)
        @hi[comm].max(ctx.count)
        @a.avg(ctx.count)
        @st.stats(ctx.count)
        @h.hist(ctx.count)
        @l.lhist(ctx.count, 0, 1000, 100)
        @hc[comm].hist(ctx.count)
      end
      0
    end
    """

    /// A writer pinned to a CPU (`sched_setaffinity`), writing its
    /// arguments' sizes to /dev/null on fd 987, the programs' filter.
    static let writer = """
    #define _GNU_SOURCE
    #include <fcntl.h>
    #include <sched.h>
    #include <stdlib.h>
    #include <unistd.h>
    static char buffer[4096];
    int main(int argc, char **argv) {
        cpu_set_t set; CPU_ZERO(&set); CPU_SET(atoi(argv[1]), &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) return 2;
        if (dup2(open("/dev/null", O_WRONLY), 987) != 987) return 3;
        for (int i = 2; i < argc; i++) if (write(987, buffer, atoi(argv[i])) != atoi(argv[i])) return 4;
        return 0;
    }
    """

    /// `writer` compiled into `dir` (`irwriter`, the comm the maps see).
    func buildWriter(in dir: URL) throws -> URL {
        let source = dir.appendingPathComponent("irwriter.c"), binary = dir.appendingPathComponent("irwriter")
        try Self.writer.write(to: source, atomically: true, encoding: .utf8)
        let cc = try Support.run("cc", ["-O2", "-o", binary.path, source.path])
        struct WriterBuildFailed: Error { let stderr: String }
        guard cc.status == 0 else { throw WriterBuildFailed(stderr: cc.stderr) }   // fails the test
        return binary
    }

    /// Writes of 1 and 100 bytes on CPU 0, of 5 and 3000 on CPU 1: each
    /// aggregation is exact once the CPUs' slots are merged, and the slots
    /// show the per-CPU storage (each CPU's share in its own slot).
    func testAggregationsMergedAcrossCPUs() throws {
        guard sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 else { throw XCTSkip("the per-CPU merge needs 2 online CPUs; this machine has 1") }
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = try buildWriter(in: dir)
        let (object, _) = try load(Self.aggregations, program: "sys_enter_write", target: 987)
        defer { object.close() }
        XCTAssertEqual(try Support.run(binary.path, ["0", "1", "100"]).status, 0)
        XCTAssertEqual(try Support.run(binary.path, ["1", "5", "3000"]).status, 0)
        let comm = chars("irwriter", 16)

        let sum = try XCTUnwrap(object.lookup(map: "s", key: u64(0)))
        XCTAssertEqual(slots(sum, width: 8).prefix(2).map { word($0, 0) }, [101, 3005], "each CPU's share in its own slot")
        XCTAssertEqual(perCPUSum(sum), 3106)

        // min/max: {value, set} per CPU; a CPU that never wrote has set = 0.
        func merged(_ raw: [UInt8], _ pick: (Int64, Int64) -> Int64) -> Int64? {
            var out: Int64? = nil
            for s in slots(raw, width: 16) where word(s, 8) != 0 { out = out.map { pick($0, word(s, 0)) } ?? word(s, 0) }
            return out
        }
        let lo = try XCTUnwrap(object.lookup(map: "lo", key: u64(0)))
        XCTAssertEqual(slots(lo, width: 16).prefix(2).map { word($0, 0) }, [1, 5])
        XCTAssertEqual(merged(lo, min), 1)
        XCTAssertEqual(merged(try XCTUnwrap(object.lookup(map: "hi", key: comm)), max), 3000)

        for map in ["a", "st"] {
            let raw = try XCTUnwrap(object.lookup(map: map, key: u64(0)))
            let total = slots(raw, width: 16).map { word($0, 0) }.reduce(0, +), count = slots(raw, width: 16).map { word($0, 8) }.reduce(0, +)
            XCTAssertEqual(total, 3106, map); XCTAssertEqual(count, 4, map)
        }

        // hist: bpftrace's buckets, 0 for negatives, 1 for 0, 2 + ⌊log2 v⌋.
        // Each bucket's value is {count, sum of the values counted} per CPU.
        func counts(_ raw: [UInt8]?) -> Int64? { raw.map { slots($0, width: 16).map { word($0, 0) }.reduce(0, +) } }
        func sums(_ raw: [UInt8]?) -> Int64? { raw.map { slots($0, width: 16).map { word($0, 8) }.reduce(0, +) } }
        var hist: [Int64: Int64] = [:], keyed: [Int64: Int64] = [:], linear: [Int64: Int64] = [:]
        var histSums: [Int64: Int64] = [:], linearSums: [Int64: Int64] = [:]
        // A key-less histogram is a per-CPU array of buckets (u32 keys, every
        // bucket present): the buckets counted in are those with a count.
        func bucket(_ k: [UInt8]) -> Int64 { XCTAssertEqual(k.count, 4); return Int64(k.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }
        XCTAssertEqual(try object.keys(map: "h").count, 66, "hist: buckets 0…65")
        XCTAssertEqual(try object.keys(map: "l").count, 12, "lhist(0, 1000, 100): below, 10 inside, from 1000 on")
        for k in try object.keys(map: "h") {
            let raw = try object.lookup(map: "h", key: k)
            guard let c = counts(raw), c != 0 else { continue }
            hist[bucket(k)] = c; histSums[bucket(k)] = sums(raw)
        }
        for k in try object.keys(map: "hc") {
            XCTAssertEqual(Array(k.prefix(16)), comm)
            keyed[word(k, 16)] = counts(try object.lookup(map: "hc", key: k))
        }
        for k in try object.keys(map: "l") {
            let raw = try object.lookup(map: "l", key: k)
            guard let c = counts(raw), c != 0 else { continue }
            linear[bucket(k)] = c; linearSums[bucket(k)] = sums(raw)
        }
        XCTAssertEqual(hist, [2: 1, 4: 1, 8: 1, 13: 1])     // 1, 5 in [4, 8), 100 in [64, 128), 3000 in [2K, 4K)
        XCTAssertEqual(keyed, hist)
        XCTAssertEqual(linear, [1: 2, 2: 1, 11: 1])         // [0, 100) twice, [100, 200), [1000, ...)
        XCTAssertEqual(histSums, [2: 1, 4: 5, 8: 100, 13: 3000])
        XCTAssertEqual(linearSums, [1: 6, 2: 100, 11: 3000])
    }
}

/// max/min of a value whose sign is known skip the "set" flag's test
/// (flagless-extremes): a slot no CPU wrote holds 0, which a max of a value
/// ≥ 0 (a min of one ≤ 0) replaces anyway. The edge that matters: another
/// use of the same map put -7 (+7) in CPU 0's slot, and CPU 1's first
/// value is exactly 0, so its slot must become {0, set}, or the merge
/// would report -7 (7).
extension ImplicitMapTests {
    static let signedExtremes = """
    license "GPL"
    param :target, :u32, default: 0

    tracepoint "syscalls/sys_enter_write" do |ctx|
      if ctx.fd == target
        if ctx.count == 7
          @m.max(-7)
          @n.min(7)
        elsif ctx.count == 256
          @m.max(ctx.count & 0xff)
        elsif ctx.count == 255
          @n.min((ctx.count & 0xff) - 255)
        end
      end
      0
    end
    """

    func testExtremesOfAKnownSignSetTheSlotOnAnEqualValue() throws {
        guard sysconf(Int32(_SC_NPROCESSORS_ONLN)) >= 2 else { throw XCTSkip("the per-CPU merge needs 2 online CPUs; this machine has 1") }
        // The two uses of known sign compile without the flag's test.
        var options = CompileOptions()
        options.dumpAfter = ["flagless-extremes"]
        let dump = try XCTUnwrap(Compiler.compile(source: Self.signedExtremes, path: "extremes.rb", options: options).dumps.first)
        XCTAssertEqual(dump.components(separatedBy: "br.sge ").count - 1, 1, dump)
        XCTAssertEqual(dump.components(separatedBy: "br.sle ").count - 1, 1, dump)

        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let binary = try buildWriter(in: dir)
        let (object, _) = try load(Self.signedExtremes, program: "sys_enter_write", target: 987)
        defer { object.close() }
        XCTAssertEqual(try Support.run(binary.path, ["0", "7"]).status, 0)
        XCTAssertEqual(try Support.run(binary.path, ["1", "256", "255"]).status, 0)
        // {value, set} per CPU.
        func cpuSlots(_ map: String) throws -> [[Int64]] {
            try slots(XCTUnwrap(object.lookup(map: map, key: u64(0))), width: 16).prefix(2).map { [word($0, 0), word($0, 8)] }
        }
        XCTAssertEqual(try cpuSlots("m"), [[-7, 1], [0, 1]])
        XCTAssertEqual(try cpuSlots("n"), [[7, 1], [0, 1]])
    }
}

/// A kernel `char[N]` as a key is a char[N] key, as bpftrace's string[N]:
/// `ctx.prev.comm` (task_struct's char[16], read through a BTF tracepoint's
/// argument) and `ctx.prev_comm` (the tracepoint record's char[16]) key
/// 16-byte maps, the size `comm` keys, where a `char *` keys 64 bytes.
extension ImplicitMapTests {
    static let charArrayKeys = """
    license "GPL"
    tp_btf("sched_switch") { |ctx| @btf[ctx.prev.comm] += 1 }
    tracepoint("sched/sched_switch") { |ctx| @record[ctx.prev_comm] += 1 }
    """

    func testKernelCharArraysKeyAsTheirOwnSize() throws {
        let compiled = try Compiler.compile(source: Self.charArrayKeys, path: "chars.rb")
        let maps = Dictionary(uniqueKeysWithValues: compiled.manifest.maps.map { ($0.name, $0) })
        XCTAssertEqual(maps["btf"]?.keySize, 16)
        XCTAssertEqual(maps["record"]?.keySize, 16)
        let filename = try Compiler.compile(source: "license \"GPL\"\ntracepoint(\"syscalls/sys_enter_openat\") { |ctx| @f[ctx.filename] += 1 }\n",
                                            path: "f.rb")
        XCTAssertEqual(filename.manifest.maps.first { $0.name == "f" }?.keySize, 64, "a char * keeps bpftrace's 64-byte string")
        // Printed, a char[16] takes 16 bytes of the record (a `char *`, 64).
        let printed = try Compiler.compile(source: "license \"GPL\"\ntp_btf(\"sched_switch\") { |ctx| puts \"#{ctx.prev.comm} #{ctx.next.comm}\" }\n",
                                           path: "p.rb")
        XCTAssertEqual(printed.manifest.output?.formats.first?.arguments.map(\.size), [16, 16])
        XCTAssertEqual(printed.manifest.output?.formats.first?.size, 8 + 16 + 16)

        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.load()
        try object.attach(program: "sched_switch")
        for p in compiled.manifest.programs where p.name != "sched_switch" { try object.attach(program: p.name) }
        // A process named irsleeper that blocks once and exits: it is switched
        // away from at least twice (the sleep, the exit); how often it is
        // preempted besides is not knowable, so at least 2.
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sleeper = dir.appendingPathComponent("irsleeper")
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: sleeper.path)
        XCTAssertEqual(try Support.run(sleeper.path, ["0.02"]).status, 0)
        for map in ["btf", "record"] {
            let n = try XCTUnwrap(perCPUSum(object.lookup(map: map, key: chars("irsleeper", 16))), "no irsleeper key in @\(map)")
            XCTAssertGreaterThanOrEqual(n, 2, map)
        }
    }
}

/// `tracepoint "syscalls/sys_enter_get[pu]id"`: one program per match, each
/// counting under its own `probe` name, and a string literal key shared by both.
extension ImplicitMapTests {
    func testWildcardTracepointCountsEachMatchUnderItsProbeName() throws {
        let t = self
        let tid = try t.gettid()
        let source = """
        license "GPL"
        param :target, :u32, default: 0
        tracepoint "syscalls/sys_enter_get[pu]id" do |ctx|
          if tid == target
            @c[probe] += 1
            @all["calls"] += 1
          end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "wildcard.rb")
        XCTAssertEqual(compiled.object.programs.map(\.name), ["sys_enter_getpid", "sys_enter_getuid"])
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: withUnsafeBytes(of: UInt32(tid).littleEndian, Array.init))
        try object.load()
        let links = try compiled.object.programs.map { try object.attach(program: $0.name) }
        XCTAssertEqual(links.count, 2)
        let pids = 37, uids = 23
        for _ in 0..<pids { _ = getpid() }
        for _ in 0..<uids { _ = getuid() }
        XCTAssertEqual(t.perCPUSum(try object.lookup(map: "c", key: t.chars("tracepoint:syscalls:sys_enter_getpid", 64))), Int64(pids))
        XCTAssertEqual(t.perCPUSum(try object.lookup(map: "c", key: t.chars("tracepoint:syscalls:sys_enter_getuid", 64))), Int64(uids))
        XCTAssertEqual(t.perCPUSum(try object.lookup(map: "all", key: t.chars("calls", 64))), Int64(pids + uids))
        XCTAssertNil(try object.lookup(map: "c", key: t.chars("tracepoint:syscalls:sys_enter_getppid", 64)))
    }
}

/// `@s[kstack]` and `@u[ustack]`: stack ids into the implied stack maps,
/// read back and named from /proc/kallsyms.
extension ImplicitMapTests {
    /// The kernel function containing each address (kallsyms, nearest symbol below).
    func kernelSymbols(_ ips: [UInt64]) throws -> [String] {
        // Read to the end (procfs files report size 0).
        let handle = try XCTUnwrap(FileHandle(forReadingAtPath: "/proc/kallsyms"))
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        var table: [(UInt64, String)] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count >= 3, let a = UInt64(f[0], radix: 16), a != 0, "tTwW".contains(f[1]) else { continue }
            table.append((a, String(f[2])))
        }
        table.sort { $0.0 < $1.0 }
        return ips.map { ip in
            var lo = 0, hi = table.count
            while lo < hi { let mid = (lo + hi) / 2; if table[mid].0 <= ip { lo = mid + 1 } else { hi = mid } }
            return lo == 0 ? "?" : table[lo - 1].1
        }
    }

    func addresses(_ value: [UInt8]) -> [UInt64] {
        stride(from: 0, to: value.count - 7, by: 8).map { UInt64(bitPattern: word(value, $0)) }.prefix { $0 != 0 }.map { $0 }
    }

    func testStackKeysCountAndNameTheSyscallPath() throws {
        let tid = try gettid()
        let source = """
        license "GPL"
        param :target, :u32, default: 0

        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if tid == target
            @s[kstack] += 1
            @u[ustack] += 1
          end
          0
        end
        """
        let (object, _) = try load(source, program: "sys_enter_getppid", target: tid)
        defer { object.close() }
        let n = 23
        for _ in 0..<n { _ = getppid() }
        var total: Int64 = 0, frames: [String] = []
        for k in try object.keys(map: "s") {
            total += try XCTUnwrap(perCPUSum(try object.lookup(map: "s", key: k)))
            let id = word(k, 0)
            XCTAssertGreaterThanOrEqual(id, 0, "get_stackid failed: \(id)")
            let value = try XCTUnwrap(object.lookup(map: "infrared_kstack", key: Array(k.prefix(4))))
            frames += try kernelSymbols(addresses(value))
        }
        XCTAssertEqual(total, Int64(n))
        XCTAssertTrue(frames.contains("do_syscall_64"), "\(frames)")

        var userTotal: Int64 = 0
        for k in try object.keys(map: "u") {
            userTotal += try XCTUnwrap(perCPUSum(try object.lookup(map: "u", key: k)))
            let part = UInt64(bitPattern: word(k, 0))
            XCTAssertEqual(Int32(truncatingIfNeeded: part >> 32), getpid(), "the tgid in the high half")
            let id = Int32(truncatingIfNeeded: part)
            XCTAssertGreaterThanOrEqual(id, 0, "get_stackid(BPF_F_USER_STACK) failed: \(id)")
            let value = try XCTUnwrap(object.lookup(map: "infrared_ustack", key: withUnsafeBytes(of: UInt32(id).littleEndian, Array.init)))
            XCTAssertFalse(addresses(value).isEmpty)
        }
        XCTAssertEqual(userTotal, Int64(n))
    }
}
