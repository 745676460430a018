import Foundation
import XCTest
import InfraredCompiler

/// Probe files that once crashed the compiler's front end (found by
/// `FrontEndFuzzTests`), kept in `Tests/Regressions/compiler/NAME.rb`. Each
/// names the diagnostic it must now give in a `# expect: NAME.rb:LINE:COL:
/// error: …` comment; compiled as `NAME.rb`, the first line of the error
/// must be exactly that (and its hint line that of `# expect-hint: …`, where
/// given). Diagnostics found by trying things (bpftrace's spellings, say) live
/// here too.
final class CompilerRegressionTests: XCTestCase {
    func testSavedFrontEndCrashersGiveTheirDiagnostic() throws {
        let dir = ReaderRegressionTests.root.appendingPathComponent("compiler")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".rb") }.sorted()
        XCTAssertEqual(files.count, 52, "the saved diagnostics in \(dir.path) (update with the directory)")
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
                let lines = d.description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                XCTAssertEqual(lines.first ?? "", expected, file)
                if let hint = source.split(separator: "\n").first(where: { $0.hasPrefix("# expect-hint: ") }) {
                    XCTAssertEqual(lines.dropFirst().first, "  hint: " + hint.dropFirst("# expect-hint: ".count), file)
                }
            } catch {
                XCTFail("\(file): not a diagnostic: \(error)")
            }
        }
    }
}
