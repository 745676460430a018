import Foundation
import XCTest
@testable import InfraredCompiler

/// The documentation cannot rot: every ```` ```ruby ```` block of
/// `docs/*.md` is compiled as a file named `example.rb`. A block with a
/// `# error: LINE:COL: MESSAGE` line must fail with exactly
/// `example.rb:LINE:COL: error: MESSAGE`; any other block must compile.
final class DocsTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The ```ruby blocks of a Markdown text, with the line each starts on.
    static func rubyBlocks(_ markdown: String) -> [(line: Int, text: String)] {
        var blocks: [(Int, String)] = []
        var current: [String]? = nil, start = 0
        for (i, line) in markdown.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if current == nil, line == "```ruby" { current = []; start = i + 2; continue }
            if current != nil, line == "```" { blocks.append((start, current!.joined(separator: "\n") + "\n")); current = nil; continue }
            current?.append(String(line))
        }
        return blocks
    }

    func testEveryRubyBlockOfTheDocsCompilesOrGivesItsError() throws {
        let docs = Self.root.appendingPathComponent("docs")
        let files = try FileManager.default.contentsOfDirectory(atPath: docs.path).filter { $0.hasSuffix(".md") }.sorted()
        XCTAssertTrue(files.contains("language.md"), "docs/language.md is missing")
        var compiled = 0, failedAsDocumented = 0
        for file in files {
            let text = try String(contentsOf: docs.appendingPathComponent(file), encoding: .utf8)
            for block in Self.rubyBlocks(text) {
                let place = "docs/\(file):\(block.line)"
                let expected = block.text.split(separator: "\n").first { $0.hasPrefix("# error: ") }.map { line -> String in
                    let rest = line.dropFirst("# error: ".count)
                    // "LINE:COL: MESSAGE" → "example.rb:LINE:COL: error: MESSAGE"
                    guard let sep = rest.range(of: ": ") else { return String(rest) }
                    return "example.rb:\(rest[..<sep.lowerBound]): error: \(rest[sep.upperBound...])"
                }
                do {
                    _ = try Compiler.compile(source: block.text, path: "example.rb")
                    if let expected { XCTFail("\(place): compiled, but the docs say it fails with \(expected)") } else { compiled += 1 }
                } catch let d as Diagnostic {
                    let first = d.description.split(separator: "\n").first.map(String.init) ?? ""
                    if let expected {
                        XCTAssertEqual(first, expected, place)
                        failedAsDocumented += 1
                    } else {
                        XCTFail("\(place): \(d.description)")
                    }
                }
            }
        }
        // So that no example goes missing unnoticed (update with the docs).
        XCTAssertEqual(compiled, 27, "compiling examples in docs/")
        XCTAssertEqual(failedAsDocumented, 50, "error examples in docs/")
    }
}
