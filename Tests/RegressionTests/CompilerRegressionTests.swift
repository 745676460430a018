import Foundation
import XCTest
import InfraredCompiler

/// Probe files that once crashed the compiler's front end (found by
/// `FrontEndFuzzTests`), kept in `Tests/Regressions/compiler/NAME.rb`. Each
/// names the diagnostic it must now give in a `# expect: NAME.rb:LINE:COL:
/// error: …` comment; compiled as `NAME.rb`, the first line of the error
/// must be exactly that.
final class CompilerRegressionTests: XCTestCase {
    func testSavedFrontEndCrashersGiveTheirDiagnostic() throws {
        let dir = ReaderRegressionTests.root.appendingPathComponent("compiler")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".rb") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 9, "the saved front-end crashers are missing from \(dir.path)")
        for file in files {
            let source = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            guard let expectLine = source.split(separator: "\n").first(where: { $0.hasPrefix("# expect: ") }) else {
                XCTFail("\(file): no `# expect: FILE:LINE:COL: error: …` line"); continue
            }
            let expected = String(expectLine.dropFirst("# expect: ".count))
            do {
                _ = try Compiler.compile(source: source, path: file)
                XCTFail("\(file): compiled, expected \(expected)")
            } catch let d as Diagnostic {
                let first = d.description.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
                XCTAssertEqual(first, expected, file)
            } catch {
                XCTFail("\(file): not a diagnostic: \(error)")
            }
        }
    }
}
