import XCTest
import BPF
import InfraredObject
@testable import InfraredCompiler

/// Implicit maps (`@name`) through the compiler, without a kernel: what the
/// lowering emits (no atomic where the map is per CPU), the maps and key
/// structs the object declares, and what the manifest tells loaders.
final class ImplicitMapLoweringTests: XCTestCase {
    func compile(_ body: String, declarations: String = "") throws -> CompiledObject {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = "license \"GPL\"\n\(declarations)\ntracepoint \"syscalls/sys_enter_openat\" do |ctx|\n\(body)\n  0\nend\n"
        return try Compiler.compile(source: source, path: "implicit.rb", options: options)
    }

    /// Atomic adds other than the fault counter's (an add to the address of
    /// `Fault.variableName`, on a failure path).
    func countingAtomics(_ dump: String) -> Int {
        let lines = dump.split(separator: "\n")
        let counters = Set(lines.filter { $0.contains("= &var \(Fault.variableName)") }.compactMap { $0.split(separator: "=").first?.trimmingCharacters(in: .whitespaces) })
        return lines.filter { l in l.contains("atomic.add") && !counters.contains { l.contains("[\($0) + ") } }.count
    }

    func testPerCPUCountingHasNoAtomicAndDeclaredCountingHasOne() throws {
        let implicit = try compile("  @opens[pid] += 1")
        XCTAssertEqual(countingAtomics(implicit.dumps.joined()), 0, implicit.dumps.joined())
        XCTAssertEqual(implicit.object.maps.map(\.name), ["opens"])
        XCTAssertEqual(implicit.object.variables.map(\.name), [Fault.variableName], "and the counter of its failed updates")
        XCTAssertEqual(implicit.object.maps[0].type, MapKind.percpuHash.mapType.rawValue)
        XCTAssertEqual(implicit.object.maps[0].maxEntries, 10240)
        XCTAssertEqual(implicit.manifest.maps[0].implicit, Manifest.Implicit(aggregation: .sum, keys: 1))

        let declared = try compile("  counts[pid] += 1", declarations: "map :counts, :hash, key: :u64, value: :u64")
        XCTAssertEqual(countingAtomics(declared.dumps.joined()), 2, "the add in place and after a lost insert race:\n\(declared.dumps.joined())")
        XCTAssertNil(declared.manifest.maps[0].implicit)
    }

    /// A one-liner's body ending in `@m[k] += 1` (its value, nil, is the
    /// block's): the same code as with `; 0` after it, so the per-CPU fast
    /// path (lookup, add in place) and not a lookup + update per event.
    func testIncrementAsTheLastStatementIsTheFastPath() throws {
        func text(_ body: String) throws -> [UInt8] {
            try Compiler.compile(source: "license \"GPL\"\ntracepoint(\"raw_syscalls/sys_enter\") { \(body) }\n", path: "ol.rb").object.programs[0].instructions.flatMap(\.bytes)
        }
        for key in ["comm", "pid", "comm, pid"] {
            XCTAssertEqual(try text("@calls[\(key)] += 1"), try text("@calls[\(key)] += 1; 0"), key)
        }
    }

    func testStoredMapIsAPlainHash() throws {
        let c = try compile("  @start[tid] = ktime_ns\n  t = @start[tid]\n  @start.delete(tid)")
        XCTAssertEqual(c.object.maps.map(\.type), [MapKind.hash.mapType.rawValue])
        XCTAssertEqual(c.manifest.maps[0].implicit, Manifest.Implicit(aggregation: .store, keys: 1))
        XCTAssertEqual(c.manifest.maps[0].keySize, 8)
        XCTAssertEqual(c.manifest.maps[0].valueSize, 8)
    }

    /// Several keys: an anonymous-struct key laid out as C would, in BTF as
    /// `struct infrared_key_NAME`; a histogram's key ends with its bucket.
    func testTupleAndHistogramKeysAreStructs() throws {
        let c = try compile("  @bytes[pid, comm] += 5\n  @lat[comm].hist(pid)\n  @m.min(pid)\n  @a.avg(pid)")
        let types = Dictionary(uniqueKeysWithValues: c.manifest.structs.map { ($0.name, $0) })
        XCTAssertEqual(types["infrared_key_bytes"]?.fields.map { "\($0.name)@\($0.offset):\($0.size)" }, ["k0@0:8", "k1@8:16"])
        XCTAssertEqual(types["infrared_key_bytes"]?.size, 24)
        XCTAssertEqual(types["infrared_key_lat"]?.fields.map { "\($0.name)@\($0.offset):\($0.size)" }, ["k0@0:16", "bucket@16:8"])
        XCTAssertEqual(types["infrared_minmax"]?.fields.map(\.name), ["value", "set"])
        XCTAssertEqual(types["infrared_avg"]?.fields.map(\.name), ["total", "count"])
        let maps = Dictionary(uniqueKeysWithValues: c.manifest.maps.map { ($0.name, $0) })
        XCTAssertEqual(maps["bytes"]?.key, .structure("infrared_key_bytes"))
        XCTAssertEqual(maps["lat"]?.implicit, Manifest.Implicit(aggregation: .hist, keys: 1))
        XCTAssertEqual(maps["m"]?.implicit, Manifest.Implicit(aggregation: .min, keys: 0))
        XCTAssertEqual(maps["m"]?.valueSize, 16)
        XCTAssertEqual(maps["a"]?.implicit?.aggregation, .avg)
        XCTAssertTrue(c.manifest.maps.allSatisfy { $0.kind == .percpuHash })
    }

    /// `kstack`/`ustack` keys: `get_stackid` into the implied stack maps
    /// (flags 0 and BPF_F_USER_STACK), the manifest marking the key parts.
    func testStackKeysImplyStackMapsAndMarkTheKey() throws {
        let c = try compile("  @s[kstack] += 1\n  @u[comm, ustack].count")
        let lowered = c.dumps.joined()
        XCTAssertEqual(c.object.maps.map(\.name).sorted(), ["infrared_kstack", "infrared_ustack", "s", "u"])
        let maps = Dictionary(uniqueKeysWithValues: c.manifest.maps.map { ($0.name, $0) })
        for name in ["infrared_kstack", "infrared_ustack"] {
            XCTAssertEqual(maps[name]?.kind, .stackTrace)
            XCTAssertEqual(maps[name]?.keySize, 4)
            XCTAssertEqual(maps[name]?.valueSize, 127 * 8)
            XCTAssertEqual(maps[name]?.implicit, nil)
        }
        XCTAssertEqual(maps["s"]?.implicit, Manifest.Implicit(aggregation: .sum, keys: 1, stacks: [.kernel]))
        XCTAssertEqual(maps["s"]?.keySize, 8)
        XCTAssertEqual(maps["u"]?.implicit, Manifest.Implicit(aggregation: .sum, keys: 2, stacks: [nil, .user]))
        // bpf_get_stackid is helper 27: (ctx, map, 0) and (ctx, map, BPF_F_USER_STACK).
        let stackCalls = lowered.components(separatedBy: "\n").filter { $0.contains("call 27(") }
        XCTAssertEqual(stackCalls.count, 2, lowered)
        XCTAssertEqual(stackCalls.filter { $0.contains(", 0)") }.count, 1, lowered)
        XCTAssertEqual(stackCalls.filter { $0.contains(", 256)") }.count, 1, lowered)
        // No stack key: no stack map.
        XCTAssertEqual(try compile("  @s[pid] += 1").object.maps.map(\.name), ["s"])
    }

    func testStackKeyMustStayAStack() throws {
        XCTAssertThrowsError(try compile("  @s[kstack] += 1\n  @s[pid] += 1")) { e in
            XCTAssertTrue("\(e)".contains("`@s` is used with key (u64) here and with key (kstack) at line 4"), "\(e)")
        }
    }

    /// `@m.delete(k)` is nil, as `@m[k] += n` is: a body may end in
    /// `if … @start.delete(tid) end` (bpftrace tutorial lesson 7), both
    /// paths returning 0. It gave the helper's Integer, and the body's two
    /// paths different types ("a program must return an Integer … not a
    /// value of different types on different paths").
    func testDeleteIsNilSoABodyMayEndInIt() throws {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = "tracepoint(\"syscalls/sys_exit_read\") { t = @start[tid]; if t > 0 then @ns[comm].hist(ktime_ns - t); @start.delete(tid) end }"
        let c = try Compiler.compile(source: source, path: "-e", options: options)
        let returns = c.dumps.joined().split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("ret ") }
        XCTAssertEqual(returns.map { $0.trimmingCharacters(in: .whitespaces) }, ["ret 0"], c.dumps.joined())
        XCTAssertTrue(c.dumps.joined().contains("call 3("), "map_delete_elem is still called: \(c.dumps.joined())")
    }

    func testLhistKeepsItsBoundsInTheManifest() throws {
        let c = try compile("  @sizes.lhist(pid, 0, 1000, 100)")
        XCTAssertEqual(c.manifest.maps[0].implicit, Manifest.Implicit(aggregation: .lhist(min: 0, max: 1000, step: 100), keys: 0))
    }

    /// Top-level constants as bounds (a large one from the literal pool too)
    /// give the same instructions as the literals; an expression is refused.
    func testLhistTakesConstantsAsBounds() throws {
        let literal = try compile("  @sizes.lhist(pid, -5, 5000000000, 250000000)")
        let constant = try compile("  @sizes.lhist(pid, LOW, HIGH, STEP)", declarations: "LOW = -5\nHIGH = 5_000_000_000\nSTEP = HIGH / 20")
        XCTAssertEqual(constant.manifest.maps[0].implicit, Manifest.Implicit(aggregation: .lhist(min: -5, max: 5_000_000_000, step: 250_000_000), keys: 0))
        XCTAssertEqual(constant.object.programs.map(\.instructions), literal.object.programs.map(\.instructions))
        XCTAssertThrowsError(try compile("  @sizes.lhist(pid, 0, HIGH + 1, 100)", declarations: "HIGH = 1000")) { e in
            XCTAssertTrue("\(e)".contains("lhist's min, max and step must be Integer literals or constants"), "\(e)")
        }
    }

    func testUsesAcrossProgramsMustAgree() throws {
        let source = """
        license "GPL"
        tracepoint "syscalls/sys_enter_openat" do |ctx|
          @n[comm] += 1
          0
        end
        tracepoint "syscalls/sys_enter_close" do |ctx|
          @n[comm].count
          0
        end
        """
        let c = try Compiler.compile(source: source, path: "two.rb")
        XCTAssertEqual(c.manifest.maps.map(\.name), ["n"], "one map for both programs")
        XCTAssertEqual(c.manifest.faults, [Fault(map: "@n", kind: .failedUpdates, slot: 0)], "one counter for both programs' updates of @n")
        XCTAssertThrowsError(try Compiler.compile(source: source.replacingOccurrences(of: "@n[comm].count", with: "@n[pid].count"), path: "two.rb")) { e in
            XCTAssertEqual("\(e)".split(separator: "\n").first.map(String.init),
                           "two.rb:7:3: error: `@n` is used with key (u64) here and with key (char[16]) at line 3")
        }
    }

    /// A char[16] array keys as `comm` does; a `char *` keys 64 bytes, and
    /// mixing the two says where each size comes from.
    func testStringKeySizesComeFromTheValue() throws {
        let same = "license \"GPL\"\ntp_btf(\"sched_switch\") { |ctx| @m[ctx.prev.comm] += 1 }\ntracepoint(\"syscalls/sys_enter_getpid\") { @m[comm] += 1 }\n"
        XCTAssertEqual(try Compiler.compile(source: same, path: "same.rb").manifest.maps.first { $0.name == "m" }?.keySize, 16)
        let mixed = same.replacingOccurrences(of: "tracepoint(\"syscalls/sys_enter_getpid\") { @m[comm] += 1 }",
                                              with: "tracepoint(\"syscalls/sys_enter_openat\") { |ctx| @m[ctx.filename] += 1 }")
        XCTAssertThrowsError(try Compiler.compile(source: mixed, path: "mixed.rb")) { e in
            let lines = "\(e)".split(separator: "\n").map(String.init)
            XCTAssertEqual(lines.first, "mixed.rb:3:1: error: `@m` is used with key (char[64]) here and with key (char[16]) at line 2")
            XCTAssertTrue(lines.contains { $0.contains("hint: a string key has the size of its value") }, "\(e)")
        }
    }

    /// A kernel `char[16]` (`ctx.prev.comm`) copied into a 64-byte field
    /// reads at most its own 16 bytes (`bpf_probe_read_kernel_str`, helper
    /// 115), as another char array does: an array without a NUL would read
    /// on past it. Into an 8-byte field, 8.
    func testKernelCharArraysCopyAtMostTheirBytes() throws {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = """
        license "GPL"
        struct :Names do
          char :long, 64
          char :short, 8
        end
        tp_btf("sched_switch") do |ctx|
          n = Names.new
          n.long = ctx.prev.comm
          n.short = ctx.next.comm
          0
        end
        """
        let dump = try Compiler.compile(source: source, path: "names.rb", options: options).dumps.joined()
        let sizes = dump.split(separator: "\n").filter { $0.contains("call 115(") }.map { $0.split(separator: ",")[1].trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(sizes, ["16", "8"], dump)
    }
}
