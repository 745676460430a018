import Foundation
import XCTest
import DifferentialSupport
@testable import InfraredCompiler

/// Translation validation of the pass pipeline: every program of the
/// examples, the benchmark corpus and a set of generated ones
/// (`MemoryProgramGenerator`: structs, maps, helpers, probe reads, loops)
/// is lowered, then each pass of `Pass.pipeline` runs in turn; before and
/// after each one, `IRInterpreter` runs the function on the same random
/// inputs and memory, and the outcomes must agree. A difference names the
/// pass, the program and the input.
final class TranslationValidationTests: XCTestCase {
    /// Inputs per program: seeds × the three context patterns.
    static let seedsPerProgram = 3

    struct Program { var name: String; var lowered: IRFunction; var maps: [String: IRInterpreter.MapShape] }

    /// The programs of a source as lowered (before any pass), read back from `--dump-after lower`.
    static func lowered(source: String, path: String) throws -> [Program] {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let compiled = try Compiler.compile(source: source, path: path, options: options)
        var maps: [String: IRInterpreter.MapShape] = [:]
        for m in compiled.manifest.maps {
            maps[m.name] = .init(keySize: m.keySize, valueSize: m.valueSize, isArray: m.kind == .array || m.kind == .percpuArray,
                                 maxEntries: m.maxEntries ?? 0)
        }
        XCTAssertEqual(compiled.dumps.count, compiled.object.programs.count, path)
        return try compiled.dumps.map { dump in
            let f = try IRFunction(parsing: dump)
            return Program(name: "\(path):\(f.name)", lowered: f, maps: maps)
        }
    }

    /// Runs the pipeline on each program, comparing every pass's input and
    /// output on the inputs; returns (runs compared, runs out of steps, failures).
    func validate(_ programs: [Program], changed: inout [String: Int]) -> (compared: Int, outOfSteps: Int, failures: [String]) {
        var compared = 0, outOfSteps = 0, failures: [String] = []
        for (index, p) in programs.enumerated() {
            let interpreter = IRInterpreter(maps: p.maps)
            var inputs: [IRInterpreter.Input] = []
            for s in 0..<Self.seedsPerProgram {
                for pattern in 0..<3 { inputs.append(.init(seed: 0xA11CE ^ (UInt64(s) << 20) ^ UInt64(index), contextPattern: pattern)) }
            }
            var f = p.lowered
            var before = inputs.map { interpreter.run(f, $0) }
            var hit = Set<String>()
            for pass in Pass.pipeline {
                var g = f
                pass.run(&g)
                if g.description == f.description { continue }
                hit.insert(pass.name)
                let after = inputs.map { interpreter.run(g, $0) }
                for (i, input) in inputs.enumerated() {
                    if case .outOfSteps = before[i].end { outOfSteps += 1; continue }
                    compared += 1
                    if let d = IRInterpreter.difference(before[i], after[i], seed: input.seed, maps: p.maps) {
                        failures.append("pass \(pass.name) changed what \(p.name) does on input \(input): \(d)\n--- before:\n\(f)\n--- after:\n\(g)")
                        break
                    }
                }
                f = g
                before = after
            }
            for name in hit { changed[name, default: 0] += 1 }
        }
        return (compared, outOfSteps, failures)
    }

    /// Every program of Examples/ and Benchmarks/corpus/.
    func testEveryPassPreservesTheExamplesAndCorpus() throws {
        var programs: [Program] = []
        var files = 0
        for dir in ["Examples", "Benchmarks/corpus"] {
            let path = repositoryRoot.appendingPathComponent(dir).path
            for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where name.hasSuffix(".rb") {
                programs += try Self.lowered(source: try String(contentsOfFile: path + "/" + name, encoding: .utf8), path: "\(dir)/\(name)")
                files += 1
            }
        }
        XCTAssertEqual(files, 64)   // as IRTextTests counts them
        var changed: [String: Int] = [:]
        let (compared, outOfSteps, failures) = validate(programs, changed: &changed)
        print("translation validation (examples, corpus): \(programs.count) programs, \(compared) runs compared, \(outOfSteps) out of steps; programs changed per pass: \(changed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertTrue(failures.isEmpty, failures.prefix(3).joined(separator: "\n=====\n"))
        XCTAssertEqual(outOfSteps, 0)
        XCTAssertGreaterThan(compared, 0)
    }

    /// 200 generated programs (INFRARED_LONG=1: 2,000), as MemoryDifferentialTests makes them.
    func testEveryPassPreservesGeneratedPrograms() throws {
        let count = ProcessInfo.processInfo.environment["INFRARED_LONG"] == "1" ? 2_000 : 200
        var rng = SplitMix64(seed: 0x7A_11DA7E)
        var programs: [Program] = []
        let perFile = 25
        for file in 0..<(count / perFile) {
            var source = MemoryModel.declarations(cases: perFile)
            for i in 0..<perFile {
                var g = MemoryProgramGenerator(rng: &rng)
                source += "tc :ingress, name: \"g\(i)\" do |ctx|\n\(g.body().bpf)\n  out[\(i)] = r\n  r & 0xffffffff\nend\n"
            }
            programs += try Self.lowered(source: source, path: "gen-\(file).rb")
        }
        XCTAssertEqual(programs.count, count)
        var changed: [String: Int] = [:]
        let (compared, outOfSteps, failures) = validate(programs, changed: &changed)
        print("translation validation (generated): \(programs.count) programs, \(compared) runs compared, \(outOfSteps) out of steps; programs changed per pass: \(changed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
        XCTAssertTrue(failures.isEmpty, failures.prefix(3).joined(separator: "\n=====\n"))
        XCTAssertEqual(outOfSteps, 0)
        // The passes these programs exist to exercise: how many of the 200 each changed (exact: the seed is fixed).
        let checked = ["reuse-invariant-calls", "hoist-params", "narrow-stores", "unsigned-loads", "forward-probe-reads", "pack-stack"]
        if count == 200 {
            XCTAssertEqual(changed.filter { checked.contains($0.key) },
                           ["reuse-invariant-calls": 75, "hoist-params": 42, "narrow-stores": 80, "unsigned-loads": 22, "forward-probe-reads": 70, "pack-stack": 200])
        } else {
            for p in checked { XCTAssertGreaterThan(changed[p] ?? 0, 0, "\(p) changed no generated program") }
        }
    }

    /// The interpreter itself: a miscompiled pass is caught. A pass that drops
    /// a store to a map value changes the outcome; one that renames registers does not.
    func testTheInterpreterSeesAChangedStore() throws {
        let f = try IRFunction(parsing: """
        function p(ctx: %0):
        b0:
            store.32 [fp-8] = 3
            %1 = fp-8
            %2 = &map m
            %3 = call 1(%2, %1)
            br.eq %3, 0 ? b2 : b1
        b1:
            store.64 [%3 + 0] = 42
            jump b2
        b2:
            ret 0

        """)
        var dropped = f
        dropped.blocks[1].instructions.removeAll()
        let interpreter = IRInterpreter(maps: ["m": .init(keySize: 4, valueSize: 8, isArray: true, maxEntries: 4)])
        let input = IRInterpreter.Input(seed: 1, contextPattern: 0)
        let a = interpreter.run(f, input), b = interpreter.run(dropped, input)
        XCTAssertEqual(a.end, .returned(0))
        XCTAssertNotNil(IRInterpreter.difference(a, b, seed: 1, maps: interpreter.maps))
        XCTAssertNil(IRInterpreter.difference(a, interpreter.run(f, input), seed: 1, maps: interpreter.maps))
    }
}
