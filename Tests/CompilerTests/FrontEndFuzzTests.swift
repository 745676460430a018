import Foundation
import XCTest
import InfraredCompiler

/// Mutated probe files (from Examples/ and the benchmark corpus) into the
/// compiler, in process: every input ends in an object or a `file:line:col`
/// diagnostic — never a trap, never an internal error. A fixed seed in CI;
/// INFRARED_FUZZ_CASES / INFRARED_FUZZ_SEED for longer runs.
final class FrontEndFuzzTests: XCTestCase {
    struct Rng: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 { s &+= 0x9E37_79B9_7F4A_7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) }
    }

    func testMutatedProbesNeverCrashTheCompiler() throws {
        let env = ProcessInfo.processInfo.environment
        let cases = Int(env["INFRARED_FUZZ_CASES"] ?? "") ?? 600
        var rng = Rng(s: UInt64(env["INFRARED_FUZZ_SEED"] ?? "") ?? 20261128)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var seeds: [String] = []
        for dir in ["Examples", "Benchmarks/corpus"] {
            for f in try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(dir).path).sorted() where f.hasSuffix(".rb") {
                seeds.append(try String(contentsOf: root.appendingPathComponent(dir).appendingPathComponent(f), encoding: .utf8))
            }
        }
        XCTAssertGreaterThan(seeds.count, 10)
        let tokens = ["0", "-1", "1 << 63", "nil", "true", "ctx", "ctx.len", "pid", "x", "(", ")", "+", "/", "%", ">>", "==", "&&", "||", "!", "if", "end",
                      "while", "do", "|i|", ".times", "[", "]", "=", "+=", "\"s\"", ":u32", "Event.new", "e.pid", "counts[1]", "return", "break", "next",
                      "1.5", "\n", " ", "def f(a)", "current_task", ".real_parent", "cast(:sock, 0)", "printk(\"%d\\n\", 1)", "comm", "{", "}", "@x", "$y"]
        var outcomes: [String: Int] = [:]
        for i in 0..<cases {
            var text = Array(seeds[Int(rng.next() % UInt64(seeds.count))])
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = text.isEmpty ? 0 : Int(rng.next() % UInt64(text.count))
                switch rng.next() % 4 {
                case 0: if !text.isEmpty { text.remove(at: at) }
                case 1: text.insert(contentsOf: Array(tokens[Int(rng.next() % UInt64(tokens.count))]), at: at)
                case 2: if text.count > 1 { let n = min(text.count - at, Int(rng.next() % 12)); text.removeSubrange(at..<at + n) }
                default:
                    // Duplicate a line.
                    let lines = String(text).split(separator: "\n", omittingEmptySubsequences: false)
                    let l = Int(rng.next() % UInt64(lines.count))
                    var copy = lines; copy.insert(lines[l], at: l)
                    text = Array(copy.joined(separator: "\n"))
                }
            }
            let source = String(text)
            do {
                _ = try Compiler.compile(source: source, path: "fuzz-\(i).rb")
                outcomes["object", default: 0] += 1
            } catch let d as Diagnostic {
                XCTAssertTrue(d.description.hasPrefix("fuzz-\(i).rb:\(d.line):\(d.column): error: "), d.description)
                outcomes["diagnostic", default: 0] += 1
            } catch {
                XCTFail("case \(i): not a diagnostic: \(error)\n--- input ---\n\(source)")
                outcomes["other", default: 0] += 1
            }
        }
        print("front-end fuzz: \(cases) mutated files: \(outcomes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))")
    }
}
