import Foundation
import XCTest
import InfraredFuzz

/// Inputs that once crashed a reader (found by `Scripts/fuzz.sh`), kept in
/// `Tests/Regressions/<reader>/NAME.bin` (`<reader>` is a `FuzzReader` raw
/// value: disasm, btf-raw, btf-c, btf-extract, gen-skel), fed to that
/// reader as the fuzzer fed them. Each must now end in an error (a clear
/// message, and `NAME.expected`'s text in it when that file exists) — or in
/// output, for an input that was valid and only crashed the printer.
final class ReaderRegressionTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Regressions")

    func testSavedReaderCrashersEndInAnErrorOrOutput() throws {
        var checked = 0
        for reader in FuzzReader.allCases {
            let dir = Self.root.appendingPathComponent(reader.rawValue)
            // Every reader has saved inputs: a missing or emptied folder fails, never passes as zero cases.
            let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".bin") }.sorted()
            XCTAssertFalse(files.isEmpty, "no saved inputs in \(dir.path)")
            for file in files {
                let url = dir.appendingPathComponent(file)
                let bytes = [UInt8](try Data(contentsOf: url))
                let expectedURL = url.deletingPathExtension().appendingPathExtension("expected")
                let expected = FileManager.default.fileExists(atPath: expectedURL.path)
                    ? try String(contentsOf: expectedURL, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) : nil
                do {
                    let size = try reader.read(bytes)
                    XCTAssertNil(expected, "\(reader.rawValue)/\(file): expected an error containing \(expected ?? ""), got \(size) bytes of output")
                } catch {
                    let message = "\(error)"
                    XCTAssertFalse(message.isEmpty, "\(reader.rawValue)/\(file): an error with no message")
                    if let expected { XCTAssertTrue(message.contains(expected), "\(reader.rawValue)/\(file): \(message)\n  expected: \(expected)") }
                }
                checked += 1
            }
        }
        // Every .bin under Regressions/ belongs to a reader and was fed to it.
        let all = FileManager.default.enumerator(atPath: Self.root.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".bin") }
        XCTAssertEqual(checked, all.count, "saved inputs outside a reader's folder: \(all)")
        print("reader regressions: \(checked) saved inputs")
    }
}
