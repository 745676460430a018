import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime
import DifferentialSupport

/// Differential testing of the optimizer on memory: random programs with
/// stack structs of mixed widths, array and hash maps, invariant helper calls,
/// params and probe reads of the test packet (`MemoryProgramGenerator`) run
/// as tc programs with BPF_PROG_TEST_RUN, and mruby runs the same programs
/// over Hash/Array models of the maps (`MemoryModel`). Each case stores its
/// full 64-bit result in `out[case]` and returns its low 32 bits; after a
/// file's cases have run in order, the maps' whole contents are compared too.
/// Nothing is dropped: the model wraps at 64 bits as the program does.
///
/// 1,000 cases by default; `INFRARED_LONG=1` runs 10,000 (`INFRARED_DIFF_CASES`
/// and `INFRARED_DIFF_SEED` override count and seed).
final class MemoryDifferentialTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    static let defaultSeed: UInt64 = 0x5EED_0F_1A2B
    var environment: [String: String] { ProcessInfo.processInfo.environment }
    var caseCount: Int { Int(environment["INFRARED_DIFF_CASES"] ?? "") ?? (environment["INFRARED_LONG"] == "1" ? 10_000 : 1_000) }
    var seed: UInt64 { UInt64(environment["INFRARED_DIFF_SEED"] ?? "") ?? Self.defaultSeed }

    /// The passes whose work these programs exist to check, and how many of
    /// the 1,000 cases of the default seed each one changed (the IR after the
    /// pass differs from the IR before it in at least one of its runs).
    static let checkedPasses = ["reuse-invariant-calls", "hoist-params", "narrow-stores", "unsigned-loads", "forward-probe-reads", "load-packet",
                                "sink-loads", "dead-stores", "fold-range-branches"]
    static let expectedChangedCases: [String: Int] = [
        "reuse-invariant-calls": 371, "hoist-params": 209, "narrow-stores": 427, "unsigned-loads": 152, "forward-probe-reads": 333,
        "load-packet": 637, "sink-loads": 189, "dead-stores": 930, "fold-range-branches": 147,
    ]

    func testGeneratedMemoryProgramsAgreeWithMRuby() throws {
        // The invariant helpers read the CPU: run on one, known to the model.
        let (cpu, restore) = try pinToLastCPU()
        defer { restore() }
        let numaNode = try Self.numaNode(ofCPU: cpu)

        var rng = SplitMix64(seed: seed)
        let perFile = 25
        var compared = 0, mismatches: [String] = []
        var changed: [String: Int] = [:]
        var options = CompileOptions()
        options.dumpAfter = Set(CompileOptions.dumpAfterNames)
        let pipeline = try Self.pipelineNames()
        var fileIndex = 0, done = 0
        while done < caseCount {
            let n = min(perFile, caseCount - done)
            let cases = (0..<n).map { _ -> MemoryCase in var g = MemoryProgramGenerator(rng: &rng); return g.body() }
            let packet = Self.packet(&rng)
            var probe = MemoryModel.declarations(cases: n)
            // Every other file checks the packet's length first, as packet
            // parsers do, so its constant-offset reads are direct loads
            // (load-packet); the others' stay probe reads. The test packet
            // is 64 bytes: the check always passes.
            let check = fileIndex % 2 == 1 ? "  return 0 if ctx.data + 64 > ctx.data_end\n" : ""
            for (i, c) in cases.enumerated() {
                probe += "tc :ingress, name: \"m\(i)\" do |ctx|\n\(check)\(c.bpf)\n  out[\(i)] = r\n  r & 0xffffffff\nend\n"
            }
            let compiled: CompiledObject
            do { compiled = try Compiler.compile(source: probe, path: "mem-\(fileIndex).rb", options: options) } catch {
                XCTFail("compile failed for file \(fileIndex): \(error)\n\(probe)"); return
            }
            // One dump after lowering and one after each pass run, per program, in order.
            XCTAssertEqual(compiled.dumps.count, n * (1 + pipeline.count))
            for i in 0..<n {
                let dumps = compiled.dumps[(i * (1 + pipeline.count))..<((i + 1) * (1 + pipeline.count))].map { String($0.drop { $0 != "\n" }) }
                var hit = Set<String>()
                for (k, name) in pipeline.enumerated() where dumps[k + 1] != dumps[k] { hit.insert(name) }
                for name in hit { changed[name, default: 0] += 1 }
            }
            let object = try LoadedObject(bytes: compiled.bytes)
            defer { object.close() }
            do { try object.load() } catch {
                XCTFail("the verifier rejected file \(fileIndex): \(error)\n\(probe)"); return
            }
            var kernel: [String] = []
            var retvals: [UInt32] = []
            for i in 0..<n { retvals.append(try object.testRun(program: "m\(i)", packet: packet).retval) }
            for i in 0..<n { kernel.append("r \(i) \(Self.int64(try object.lookup(map: "out", key: Self.le(UInt64(i), 4))))") }
            for i in 0..<MemoryModel.arraySlots { kernel.append("arr \(i) \(Self.int64(try object.lookup(map: "arr", key: Self.le(UInt64(i), 4))))") }
            for k in 0..<256 { if let v = try object.lookup(map: "h", key: [UInt8(k)]) { kernel.append("h \(k) \(Self.int64(v))") } }
            for k in 0..<256 {
                guard let v = try object.lookup(map: "hs", key: [UInt8(k)]) else { continue }
                let fields = MemoryModel.fields.map { f -> String in
                    var x: UInt64 = 0
                    for b in 0..<f.size { x |= UInt64(v[f.offset + b]) << (8 * b) }
                    if f.signed && f.size < 8 && x >> (f.size * 8 - 1) & 1 == 1 { x |= ~((1 << (f.size * 8)) - 1) }
                    return String(Int64(bitPattern: x))
                }
                kernel.append("hs \(k) \(fields.joined(separator: " "))")
            }
            let (model, script) = try runModel(cases, packet: packet, cpu: cpu, numaNode: numaNode)
            let failuresBefore = mismatches.count, savedIndex = fileIndex
            defer {
                // INFRARED_DIFF_SAVE=DIR keeps a failing file's probe, model and packet.
                if mismatches.count > failuresBefore, let dir = environment["INFRARED_DIFF_SAVE"] {
                    try? probe.write(toFile: "\(dir)/mem-\(savedIndex).rb", atomically: true, encoding: .utf8)
                    try? script.write(toFile: "\(dir)/mem-\(savedIndex).model.rb", atomically: true, encoding: .utf8)
                    try? Data(packet).write(to: URL(fileURLWithPath: "\(dir)/mem-\(savedIndex).packet"))
                }
            }
            compared += n
            // Per case: the 64-bit result and the returned low half.
            for i in 0..<n {
                let want = model.first { $0.hasPrefix("r \(i) ") || $0.hasPrefix("error \(i) ") } ?? "missing \(i)"
                let got = kernel[i]
                let wantValue = Int64(want.split(separator: " ").last ?? "")
                let retOK = wantValue.map { retvals[i] == UInt32(truncatingIfNeeded: $0) } ?? false
                if want != got || !retOK {
                    mismatches.append("file \(fileIndex) case \(i): kernel `\(got)` (retval \(retvals[i])), model `\(want)`\n\(cases[i].bpf)\n--- model:\n\(cases[i].model)")
                }
            }
            let kernelMaps = kernel.dropFirst(n), modelMaps = model.filter { !$0.hasPrefix("r ") && !$0.hasPrefix("error ") }
            if Array(kernelMaps) != modelMaps {
                let diff = Set(kernelMaps).symmetricDifference(modelMaps).sorted().prefix(10)
                mismatches.append("file \(fileIndex): the maps differ (kernel vs model): \(diff.joined(separator: "; "))\n\(probe)")
            }
            done += n
            fileIndex += 1
        }
        print("memory differential: \(compared) cases compared (seed \(seed)), \(mismatches.count) mismatches; cases changed per pass: \(changed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertEqual(compared, caseCount)
        XCTAssertTrue(mismatches.isEmpty, mismatches.prefix(3).joined(separator: "\n=====\n"))
        if seed == Self.defaultSeed && caseCount == 1_000 {
            XCTAssertEqual(changed.filter { Self.checkedPasses.contains($0.key) }, Self.expectedChangedCases)
        } else {
            for p in Self.checkedPasses { XCTAssertGreaterThan(changed[p] ?? 0, 0, "pass \(p) changed no generated case") }
        }
    }

    /// The pipeline's pass names, one per run (a pass run twice appears twice).
    static func pipelineNames() throws -> [String] {
        // `dumpAfterNames` lists each pass once; the dumps come one per run.
        // The run order is read from a compile of a trivial program.
        var options = CompileOptions()
        options.dumpAfter = Set(CompileOptions.dumpAfterNames)
        let compiled = try Compiler.compile(source: "license \"GPL\"\ntc :ingress do |ctx|\n  0\nend\n", path: "names.rb", options: options)
        return compiled.dumps.dropFirst().map { String($0.prefix { $0 != "\n" }.dropFirst("; after ".count)) }
    }

    /// Runs the model in mruby: the result lines (`r I V`, or `error I …`) then the maps' dumps.
    private func runModel(_ cases: [MemoryCase], packet: [UInt8], cpu: Int, numaNode: Int) throws -> (lines: [String], script: String) {
        var script = MemoryModel.prelude(packet: packet, cpu: cpu, numaNode: numaNode)
        for (i, c) in cases.enumerated() {
            script += "def case_\(i)(ctx)\n\(c.model)\n  r\nend\n"
            script += "begin; puts \"r \(i) #{case_\(i)(Ctx.new)}\"; rescue => e; puts \"error \(i) #{e.class}: #{e.message}\"; end\n"
        }
        script += "$arr.dump('arr')\n$h.dump('h')\n$hs.dump('hs')\n"
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("model.rb")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let result = try Support.run("mruby", [file.path])
        XCTAssertEqual(result.status, 0, "mruby: \(result.stderr)")
        return (result.stdout.split(separator: "\n").map(String.init), script)
    }

    /// A 64-byte packet of small numbers (so packet bytes make map keys and
    /// array indexes in range) mixed with random bytes; bytes 12–13, the
    /// ethertype, are a local experimental one (0x88B5), so the kernel wants no IP header.
    static func packet(_ rng: inout SplitMix64) -> [UInt8] {
        var p = (0..<64).map { _ -> UInt8 in
            switch rng.next() % 10 {
            case 0, 1, 2, 3: return 0
            case 4, 5, 6: return UInt8(rng.next() % 8)
            default: return UInt8(truncatingIfNeeded: rng.next())
            }
        }
        p[12] = 0x88; p[13] = 0xB5
        return p
    }

    static func le(_ v: UInt64, _ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func int64(_ bytes: [UInt8]?) -> String {
        guard let bytes, bytes.count >= 8 else { return "absent" }
        var x: UInt64 = 0
        for i in 0..<8 { x |= UInt64(bytes[i]) << (8 * i) }
        return String(Int64(bitPattern: x))
    }

    /// Pins this thread to the highest CPU it may run on; returns that CPU and
    /// a closure that restores the previous affinity. (glibc's
    /// sched_{get,set}affinity and sched_getcpu are _GNU_SOURCE functions that
    /// the Glibc module does not export: found by name.)
    private func pinToLastCPU() throws -> (Int, () -> Void) {
        typealias Affinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
        typealias GetCPU = @convention(c) () -> Int32
        let handle = dlopen(nil, RTLD_NOW)
        guard let g = dlsym(handle, "sched_getaffinity"), let s = dlsym(handle, "sched_setaffinity"), let c = dlsym(handle, "sched_getcpu") else {
            throw SupportError("glibc without sched_getaffinity/sched_setaffinity/sched_getcpu")
        }
        let getAffinity = unsafeBitCast(g, to: Affinity.self), setAffinity = unsafeBitCast(s, to: Affinity.self)
        let getCPU = unsafeBitCast(c, to: GetCPU.self)
        var old = [UInt8](repeating: 0, count: 128), set = [UInt8](repeating: 0, count: 128)
        guard old.withUnsafeMutableBytes({ getAffinity(0, 128, $0.baseAddress!) }) == 0 else { throw SupportError("sched_getaffinity: errno \(errno)") }
        let cpus = (0..<(128 * 8)).filter { old[$0 / 8] & (1 << ($0 % 8)) != 0 }
        guard let cpu = cpus.last else { throw SupportError("no CPU in this thread's affinity mask") }
        set[cpu / 8] |= UInt8(1 << (cpu % 8))
        guard set.withUnsafeMutableBytes({ setAffinity(0, 128, $0.baseAddress!) }) == 0 else { throw SupportError("sched_setaffinity: errno \(errno)") }
        XCTAssertEqual(Int(getCPU()), cpu, "pinned to CPU \(cpu)")
        return (cpu, { var o = old; _ = o.withUnsafeMutableBytes { setAffinity(0, 128, $0.baseAddress!) } })
    }

    /// The NUMA node of a CPU (`/sys/devices/system/cpu/cpuN/nodeM`); 0 without NUMA.
    static func numaNode(ofCPU cpu: Int) throws -> Int {
        let entries = try FileManager.default.contentsOfDirectory(atPath: "/sys/devices/system/cpu/cpu\(cpu)")
        return entries.compactMap { $0.hasPrefix("node") ? Int($0.dropFirst(4)) : nil }.first ?? 0
    }
}
