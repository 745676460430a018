import Foundation
import XCTest

/// What every generated tool carries: the static runner links
/// FoundationEssentials, not Foundation, so no ICU and its ~30 MB of data
/// (the loader's modules import FoundationEssentials; one use of a
/// Foundation-only API — NSLock, Thread, FileHandle, String(format:),
/// trimmingCharacters… — brings it all back).
final class RunnerFootprintTests: XCTestCase {
    func testStaticRunnerLinksNoICU() throws {
        let runner = try LoaderSupport.runner()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: runner))
        XCTAssertNil(bytes.range(of: Data("icudt".utf8)), "\(runner) holds ICU data: a module it links uses Foundation beyond FoundationEssentials")
    }
}
