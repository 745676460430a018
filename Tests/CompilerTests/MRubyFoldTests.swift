import XCTest
@testable import InfraredCompiler

/// mruby 3.1 folds `+ - * /` on Integer literals and misreads a negative
/// OP_LOADI32 operand (−2³¹ … −32769) as positive: `(-70000) + 1` is
/// 4294897297 in its bytecode (MemoryDifferentialTests met it as a wrong
/// constant in a BPF program). Such a fold is refused with an error.
final class MRubyFoldTests: XCTestCase {
    func program(_ line: String, before: String = "") -> String {
        "\(before)map :out, :array, value: :s64, max_entries: 1\ntc :ingress do |ctx|\n  \(line)\n  out[0] = x\n  0\nend\n"
    }

    func testAFoldMRubyGetsWrongIsAnError() {
        let cases: [(String, String, String)] = [
            (program("x = (-70000) + 1"), "fold.rb:3:8:", "-70000"),
            (program("x = 5 - 70000 + 1"), "fold.rb:3:1:", "-69995"),   // the first fold is right, the second reads it back wrong
            (program("x = -70000 / 7"), "fold.rb:3:7:", "-70000"),
            (program("x = 3 * -2147483648"), "fold.rb:3:11:", "-2147483648"),
            (program("x = LIMIT", before: "LIMIT = -70000 * 2\n"), "fold.rb:1:9:", "-70000"),   // the top level too
        ]
        for (source, place, value) in cases {
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "fold.rb"), source) { e in
                let text = "\(e)"
                XCTAssertTrue(text.hasPrefix("\(place) error: mruby 3.1 computes this constant wrongly: it folds arithmetic on \(value) "), text)
            }
        }
    }

    func testFoldsMRubyGetsRightCompile() throws {
        var options = CompileOptions()
        options.dumpAfter = [Pass.pipeline.last!.name]
        for (source, value) in [(program("x = -32768 + 1"), "-32767"), (program("y = -70000\n  x = y + 1"), "-69999"),
                                (program("x = -3000000000 + 1"), "-2999999999"), (program("x = 70000 + 1"), "70001")] {
            let ir = try Compiler.compile(source: source, path: "fold.rb", options: options).dumps.last!
            XCTAssertTrue(ir.contains("store.64 [fp-16] = \(value)"), "\(source)\n\(ir)")
        }
    }
}
