import Foundation
import XCTest
@testable import InfraredCompiler

/// A pass test, as LLVM's and QBE's read: `input` (IR as `--dump-after`
/// prints it), the `pass` (its name in `Pass.pipeline`) run once, and the
/// IR `expected` after it. The input must already be in the printer's form,
/// so that an unchanged function prints exactly as it was written.
func assertPass(input: String, pass: String, expected: String, file: StaticString = #filePath, line: UInt = #line) {
    guard let p = Pass.pipeline.first(where: { $0.name == pass }) else {
        return XCTFail("no pass named \(pass) in Pass.pipeline", file: file, line: line)
    }
    let f: IRFunction
    do { f = try IRFunction(parsing: input) } catch {
        return XCTFail("input: \(error)", file: file, line: line)
    }
    XCTAssertEqual(f.description, input, "the input is not as the printer prints it", file: file, line: line)
    var g = f
    p.run(&g)
    XCTAssertEqual(g.description, expected, "after \(pass)", file: file, line: line)
}

/// A case the pass must leave alone: `input` prints the same after it.
func assertUnchanged(input: String, pass: String, file: StaticString = #filePath, line: UInt = #line) {
    assertPass(input: input, pass: pass, expected: input, file: file, line: line)
}

/// The repository's top directory.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
