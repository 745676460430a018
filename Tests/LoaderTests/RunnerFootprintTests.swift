import Foundation
import XCTest

/// What every generated tool carries: the static runner links neither
/// Foundation (FoundationEssentials was 3.6 MB of it, full Foundation would
/// add ICU and its ~30 MB of data) nor the Swift regex library (1.2 MB); one
/// use of `JSONDecoder`, `FileManager`, `String.firstRange(of:)`,
/// `replacing(_:with:)`, `contains("text")`… in its modules brings them back
/// (InfraredSupport's `decodeJSON`, `readFile`, `firstRange(ofText:)` are the
/// replacements). Issue 18's budget: 10 MB.
final class RunnerFootprintTests: XCTestCase {
    func testStaticRunnerLinksNoICU() throws {
        let runner = try LoaderSupport.runner()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: runner))
        XCTAssertNil(bytes.range(of: Data("icudt".utf8)), "\(runner) holds ICU data: a module it links uses Foundation beyond FoundationEssentials")
    }

    /// A Swift module's types carry its name in their metadata, so a linked
    /// module's name is in the (stripped) runner.
    func testStaticRunnerLinksNoFoundationNorRegex() throws {
        let runner = try LoaderSupport.runner()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: runner))
        for module in ["FoundationEssentials", "_FoundationCollections", "_StringProcessing", "_RegexParser"] {
            XCTAssertNil(bytes.range(of: Data(module.utf8)), "\(runner) links \(module)")
        }
        XCTAssertLessThanOrEqual(bytes.count, 10_000_000, "\(runner): over issue 18's 10 MB (Benchmarks/footprint.sh shows where the bytes go)")
    }
}
