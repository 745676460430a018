import Foundation
import XCTest
import CMRuby
@testable import InfraredCompiler

/// `MRubySession.lines(of:)` decodes an irep's line map once; it must give
/// every pc the line libmruby's `mrb_debug_get_line` gives it (`ir_irep_line`,
/// which the compiler asked pc by pc before, in quadratic time).
final class LineTableTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every irep under `irep` (itself included).
    func ireps(_ irep: Irep) -> [Irep] { [irep] + (0..<irep.childCount).flatMap { ireps(irep.child($0)) } }

    /// Compares the table with libmruby's answer at every pc of every body's irep; returns the pcs compared.
    func compareLines(source: String, path: String) throws -> Int {
        let session = try MRubySession()
        try session.loadPrelude()
        try session.load(source, path: path)
        let declarations = try Declarations(session: session, path: path, sourceLines: sourceLines(source))
        var compared = 0
        for program in declarations.programs {
            for irep in ireps(program.body) {
                let table = session.lines(of: irep)
                XCTAssertEqual(table.count, irep.code.count, path)
                for pc in 0..<irep.code.count {
                    XCTAssertEqual(Int(table[pc]), Int(ir_irep_line(session.raw, irep.raw, UInt32(pc))), "\(path) pc \(pc)")
                }
                compared += table.count
            }
        }
        return compared
    }

    /// The examples (packed line maps of every size they have).
    func testExamplesLinesMatchLibmruby() throws {
        let dir = Self.root.appendingPathComponent("Examples")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".rb") }.sorted()
        XCTAssertEqual(files.count, 18)
        for file in files {
            let source = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            XCTAssertGreaterThan(try compareLines(source: source, path: file), 0, file)
        }
    }

    /// A long body (over 50,000 bytes of bytecode) with blank lines and
    /// comments between statements (line steps larger than one), one step of
    /// 300 lines (a packed integer of two bytes), and nested blocks.
    func testLongBodyLinesMatchLibmruby() throws {
        var body = ["license \"GPL\"", "global :sink, :u64", "tracepoint \"syscalls/sys_enter_getpid\" do |ctx|", "  x = pid", "  y = ktime_ns"]
        for i in 0..<3000 {
            body.append(i % 7 == 0 ? "  # \(i)" : i % 11 == 0 ? "" : "  x = x * \(i | 1) + (y >> \(i % 13 + 1))")
            if i % 500 == 0 { body.append("  4.times do |j| x += y >> j end") }
            if i == 1500 { body += Array(repeating: "  # a long comment", count: 300) }
        }
        body += ["  sink = x", "  0", "end"]
        let pcs = try compareLines(source: body.joined(separator: "\n") + "\n", path: "long.rb")
        XCTAssertGreaterThan(pcs, 50_000)
    }

    /// The table gives the lines the compiler reports: a diagnostic deep in a long body names its line.
    func testDiagnosticLineInLongBody() throws {
        var body = ["license \"GPL\"", "tracepoint \"syscalls/sys_enter_getpid\" do |ctx|", "  x = pid"]
        for i in 0..<2000 { body.append("  x = x + \(i)") }
        body.append("  x = nosuchhelper(x)")
        body += ["  0", "end"]
        XCTAssertThrowsError(try Compiler.compile(source: body.joined(separator: "\n") + "\n", path: "d.rb")) { e in
            XCTAssertEqual((e as? Diagnostic)?.line, 2004, "\(e)")
        }
    }

    /// `sourceLines` splits at LF bytes: the lines splitting at each "\n"
    /// Character gives on LF text (empty lines, no final newline, several-byte
    /// characters, a combining mark right after a line feed, which is a
    /// grapheme of its own), and a CR LF file has the lines of its LF copy.
    func testSourceLinesSplitAtLineFeeds() {
        let texts = ["", "\n", "a", "a\n", "a\n\nb", "\n\nx\n", "tracepoint \"é\" do |ctx|\n  @m[\"ü\"] += 1\nend\n",
                     "x = 1\n\u{301}y\n"]
        for t in texts {
            XCTAssertEqual(sourceLines(t), t.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), t.debugDescription)
            let crlf = t.replacingOccurrences(of: "\n", with: "\r\n")
            XCTAssertEqual(sourceLines(crlf), sourceLines(t), crlf.debugDescription)
        }
        XCTAssertEqual(sourceLines("x = 1\n\u{301}y\n"), ["x = 1", "\u{301}y", ""])
        XCTAssertEqual(sourceLines("a\rb\r\nc"), ["a\rb", "c"])   // only a CR before the LF goes
    }

    /// A file saved with CR LF line ends builds the object of its LF copy
    /// (it failed "line info for line 31, but the source has 1 lines"), and
    /// its errors point at the same column.
    func testACRLFFileBuildsAsItsLFCopy() throws {
        let path = Self.root.appendingPathComponent("Examples/opensnoop.rb").path
        let lf = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertFalse(lf.contains("\r"))
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        XCTAssertEqual(try Compiler.compile(source: crlf, path: path).bytes, try Compiler.compile(source: lf, path: path).bytes)
        let bad = "license \"GPL\"\ntracepoint \"raw_syscalls/sys_enter\" do |ctx|\n  x = nosuch(1)\n  0\nend\n"
        func message(_ source: String) -> String {
            do { _ = try Compiler.compile(source: source, path: "bad.rb"); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message(bad).contains("bad.rb:3:7:"), message(bad))
        XCTAssertEqual(message(bad.replacingOccurrences(of: "\n", with: "\r\n")), message(bad))
        // A syntax error's hint reads its line too (bpftrace's `@[…]`).
        let syntax = "license \"GPL\"\ntracepoint \"raw_syscalls/sys_enter\" do |ctx|\n  @[comm] += 1\n  0\nend\n"
        XCTAssertTrue(message(syntax).contains("anonymous map"), message(syntax))
        XCTAssertEqual(message(syntax.replacingOccurrences(of: "\n", with: "\r\n")), message(syntax))
    }
}
