import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime
import DifferentialSupport

/// Differential testing of code generation: random integer programs are
/// compiled to socket filters and run in the kernel with BPF_PROG_TEST_RUN;
/// mruby evaluates the same Ruby. Both must agree on all 64 bits (each case
/// is compiled twice, returning the low and the high 32 bits, since a socket
/// filter returns 32 bits). Cases where mruby overflows (it raises instead of
/// wrapping) are skipped and counted.
final class DifferentialTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    /// Number of cases (INFRARED_DIFF_CASES overrides; the fuzz campaign runs more).
    var caseCount: Int { Int(ProcessInfo.processInfo.environment["INFRARED_DIFF_CASES"] ?? "") ?? 1000 }
    var seed: UInt64 { UInt64(ProcessInfo.processInfo.environment["INFRARED_DIFF_SEED"] ?? "") ?? 0x1A2B_3C4D }

    func testGeneratedProgramsAgreeWithMRuby() throws {
        var rng = SplitMix64(seed: seed)
        // 25 cases a file: the low halves are socket filters sharing section `socket`,
        // the high halves tc programs sharing `tc` (both see a __sk_buff).
        let perFile = 25
        var compared = 0, skipped = 0
        var mismatches: [String] = []
        for fileIndex in 0..<((caseCount + perFile - 1) / perFile) {
            let bodies = (0..<perFile).map { _ -> String in var g = ProgramGenerator(rng: &rng); return g.body() }
            // A socket filter's skb->len excludes the 14-byte Ethernet header; tc's includes it.
            let expectedLo = try evaluateWithMRuby(bodies, len: 50), expectedHi = try evaluateWithMRuby(bodies, len: 64)
            // The probe file: two socket filters per case (low and high 32 bits).
            var probe = "license \"GPL\"\n"
            for (i, body) in bodies.enumerated() {
                for half in ["lo", "hi"] {
                    probe += "\(half == "lo" ? "socket_filter" : "tc :ingress,") name: \"c\(i)_\(half)\" do |ctx|\n\(body)\n"
                    probe += half == "lo" ? "  r & 0xffffffff\nend\n" : "  (r >> 32) & 0xffffffff\nend\n"
                }
            }
            let path = "diff-\(fileIndex).rb"
            let compiled: CompiledObject
            do { compiled = try Compiler.compile(source: probe, path: path) } catch {
                XCTFail("compile failed for file \(fileIndex): \(error)\n\(probe)"); return
            }
            let object = try LoadedObject(bytes: compiled.bytes)
            defer { object.close() }
            do { try object.load() } catch {
                XCTFail("the verifier rejected file \(fileIndex): \(error)\n\(probe)"); return
            }
            let packet = [UInt8](repeating: 0xAB, count: 64)
            for i in bodies.indices {
                guard let wantLo = expectedLo[i], let wantHi = expectedHi[i] else { skipped += 1; continue }
                let lo = try object.testRun(program: "c\(i)_lo", packet: packet).retval
                let hi = try object.testRun(program: "c\(i)_hi", packet: packet).retval
                compared += 1
                if lo != UInt32(truncatingIfNeeded: wantLo) || hi != UInt32(truncatingIfNeeded: wantHi >> 32) {
                    mismatches.append("case \(i) of file \(fileIndex): kernel lo=\(lo) hi=\(hi), mruby lo(len 50)=\(UInt32(truncatingIfNeeded: wantLo)) hi(len 64)=\(UInt32(truncatingIfNeeded: wantHi >> 32))\n\(bodies[i])")
                }
            }
        }
        print("differential: \(compared) cases compared, \(skipped) skipped (mruby integer overflow), \(mismatches.count) mismatches")
        XCTAssertTrue(mismatches.isEmpty, mismatches.prefix(5).joined(separator: "\n---\n"))
        XCTAssertEqual(compared + skipped, caseCount)
        if ProcessInfo.processInfo.environment["INFRARED_DIFF_CASES"] == nil && ProcessInfo.processInfo.environment["INFRARED_DIFF_SEED"] == nil {
            // The default seed's cases are fixed: exactly these overflow in mruby.
            XCTAssertEqual(skipped, 12, "cases mruby cannot evaluate for the default seed (the generator changed? count them again)")
        }
    }

    /// Runs every body in mruby (the `mruby` command) with a stand-in context
    /// whose `len` is the test packet's length; nil where mruby raised.
    private func evaluateWithMRuby(_ bodies: [String], len: Int) throws -> [Int64?] {
        var script = "class Ctx; def len; \(len); end; def protocol; 0; end; end\nCTX = Ctx.new\n"
        for (i, body) in bodies.enumerated() {
            script += "def case_\(i)(ctx)\n\(body)\n  r\nend\n"
            // mruby has no bignums: an overflowing Integer operation gives a
            // Float (or raises RangeError converting one back). Only those
            // are skips; any other error fails the test.
            script += "begin; v = case_\(i)(CTX); puts(v.is_a?(Integer) ? v.to_s : v.is_a?(Float) ? 'skip' : 'error ' + v.class.to_s); rescue RangeError, FloatDomainError; puts 'skip'; rescue => e; puts 'error ' + e.class.to_s + ': ' + e.message; end\n"
        }
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("ref.rb")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let result = try Support.run("mruby", [file.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, bodies.count, "mruby printed \(lines.count) results for \(bodies.count) cases: \(result.stderr)")
        for (i, line) in lines.enumerated() where line.hasPrefix("error") { XCTFail("mruby failed on case \(i): \(line)\n\(bodies[i])") }
        return lines.map { Int64($0) }
    }
}

/// Generates well-typed program bodies: integer locals `a b c r` (from the
/// context and constants), arithmetic, comparisons, `&&`/`||`/`!`, if/elsif/
/// else, unless, modifiers, ternaries, case/when, bounded while and times
/// loops. The body leaves its result in `r`.
struct ProgramGenerator {
    var rng: SplitMix64
    init(rng: inout SplitMix64) { self.rng = SplitMix64(seed: rng.next()) }
    private var vars = ["a", "b", "c", "r"]

    mutating func int(_ r: ClosedRange<Int64>) -> Int64 { Int64.random(in: r, using: &rng) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 10_000) / 10_000 < p }

    mutating func literal() -> String {
        switch rng.next() % 10 {
        case 0: return String(int(-(1 << 40)...(1 << 40)))
        case 1: return String(int(-3...3))
        default: return String(int(-1000...1000))
        }
    }

    mutating func expr(_ depth: Int = 3) -> String {
        if depth == 0 || chance(0.25) { return chance(0.5) ? pick(vars) : literal() }
        switch rng.next() % 12 {
        case 0, 1, 2, 3:
            let op = pick(["+", "-", "*", "&", "|", "^"])
            let x = expr(depth - 1), y = unfolded(expr(depth - 1), x)
            return "(\(x) \(op) \(y))"
        case 4:
            let x = expr(depth - 1), op = pick(["/", "%"]), y = unfolded(expr(depth - 1), x)
            return "(\(x) \(op) (\(y) | 1))"
        case 5: return "((\(expr(depth - 1)) & 65535) << \(int(0...20)))"
        case 6: return "(\(expr(depth - 1)) >> \(int(0...63)))"
        case 7: return "(-\(expr(depth - 1)))"
        case 8: return "(~\(expr(depth - 1)))"
        case 9: return "(\(cond(depth - 1)) ? \(expr(depth - 1)) : \(expr(depth - 1)))"
        case 10: let x = unfolded(expr(depth - 1)); return "(\(x) / \(pick(["3", "7", "-5", "16", "1"])))"
        default: let x = unfolded(expr(depth - 1)); return "(\(x) % \(pick(["3", "7", "-5", "16", "1000"])))"
        }
    }

    /// A variable in place of `e` when `e` (and `other`, when given) are
    /// constant: mruby 3.1 folds arithmetic on two literals, wrongly for a
    /// negative one below -32768, and the compiler refuses such a fold.
    mutating func unfolded(_ e: String, _ other: String? = nil) -> String {
        func constant(_ s: String) -> Bool { !s.contains(where: \.isLetter) }
        return constant(e) && (other.map(constant) ?? true) ? pick(vars) : e
    }

    mutating func cond(_ depth: Int = 2) -> String {
        if depth > 0 && chance(0.3) {
            switch rng.next() % 3 {
            case 0: return "(\(cond(depth - 1)) && \(cond(depth - 1)))"
            case 1: return "(\(cond(depth - 1)) || \(cond(depth - 1)))"
            default: return "!\(cond(depth - 1))"
            }
        }
        return "(\(expr(1)) \(pick(["==", "!=", "<", "<=", ">", ">="])) \(expr(1)))"
    }

    mutating func statement(_ depth: Int) -> String {
        let v = pick(vars)
        switch depth == 0 ? 0 : rng.next() % 9 {
        case 0, 1, 2: return "  \(v) = \(expr())"
        case 3: return "  if \(cond())\n  \(statement(depth - 1))\n  elsif \(cond())\n  \(statement(depth - 1))\n  else\n  \(statement(depth - 1))\n  end"
        case 4: return "  unless \(cond())\n  \(statement(depth - 1))\n  end"
        case 5: return "  \(v) = \(expr(2)) if \(cond(1))"
        case 6:
            let k = int(0...5)
            return "  i = 0\n  while i < \(k)\n    \(v) = \(v) ^ (i * \(expr(1)))\n    i += 1\n  end"
        case 7:
            return "  \(int(0...4)).times do |j|\n    \(v) = (\(v) + j * \(expr(1))) & 0xffffffffff\n  end"
        default:
            let a = int(-3...3), b = int(4...6)
            return "  case \(v) & 7\n  when \(a) then \(v) = \(expr(1))\n  when \(b), \(b + 1) then \(v) = \(expr(1))\n  else \(v) = \(expr(1))\n  end"
        }
    }

    mutating func body() -> String {
        var lines = ["  a = ctx.len * \(int(-50...50)) - \(int(0...5000))",
                     "  b = ctx.len - \(int(0...200))",
                     "  c = \(literal())",
                     "  r = ctx.len"]
        for _ in 0..<Int(int(2...6)) { lines.append(statement(2)) }
        lines.append("  r = \(expr())")
        return lines.joined(separator: "\n")
    }
}
