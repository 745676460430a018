import Foundation
import XCTest
@testable import InfraredCompiler
import InfraredObject

/// `puts`/`printf`/`exit`: the formats and record layouts the compiler puts
/// in the manifest, and the shared format model against C's printf.
final class PrintTests: XCTestCase {
    func testFormatsAndRecordLayoutsInTheManifest() throws {
        let source = """
        license "GPL"
        tracepoint "sched/sched_process_exec" do |ctx|
          puts "exec #{pid} #{comm} #{ctx.filename} 100%"
          printf("%-6d %-16s %s %3s\\n", pid, comm, ctx.filename, "ab")
          exit
        end
        """
        let c = try Compiler.compile(source: source, path: "p.rb")
        let output = try XCTUnwrap(c.manifest.output)
        XCTAssertEqual(output.map, "__infrared_print")
        let i = PrintFormat.Argument(type: .integer, offset: 8, size: 8)
        let comm = PrintFormat.Argument(type: .string, offset: 16, size: 16)
        let file = PrintFormat.Argument(type: .string, offset: 32, size: 64)
        XCTAssertEqual(output.formats, [
            PrintFormat(format: "exec %d %s %s 100%%\n", arguments: [i, comm, file], size: 96, line: 3),
            PrintFormat(format: "%-6d %-16s %s  ab\n", arguments: [i, comm, file], size: 96, line: 4),
        ])
        let map = try XCTUnwrap(c.manifest.mapNamed("__infrared_print"))
        XCTAssertEqual(map.kind, .ringbuf)
        XCTAssertTrue(map.isInternal)
        XCTAssertEqual(c.manifest.recordMaps.map(\.name), [])
    }

    func testAFileThatDoesNotPrintHasNoOutputMap() throws {
        let c = try Compiler.compile(source: "license \"GPL\"\ntracepoint \"sched/sched_process_exec\" do |ctx|\n  0\nend\n", path: "p.rb")
        XCTAssertNil(c.manifest.output)
        XCTAssertNil(c.manifest.mapNamed("__infrared_print"))
    }

    func testConversionsRenderAsCPrintf() throws {
        let cases: [(String, Int64)] = [("%d", -42), ("%5d", 42), ("%-5d|", 42), ("%05d", -42), ("%x", 255), ("%X", 255), ("%08x", 3054),
                                        ("%u", 7), ("%-3u|", 7), ("%c", 65), ("%3c", 66), ("%ld", -1), ("%llu", 12), ("%lx", 4096), ("%i", 9),
                                        ("%.3d", 7), ("%.3d", -7), ("%8.3d|", -7), ("%-8.3d|", 42), ("%08.3d", 5), ("%.0d|", 0), ("%.0d", 3),
                                        ("%.5x", 255), ("%.2u", 123456), ("%5.1d", 0), ("%.d|", 0)]
        for (spec, v) in cases {
            let pieces = try PrintFormat.parse(spec)
            let expected = String(format: spec, v)
            let text = pieces.map { p -> String in
                switch p { case .text(let t): return t; case .conversion(let c): return c.render(v) }
            }.joined()
            XCTAssertEqual(text, expected, spec)
        }
        for spec in ["%s", "%10s", "%-10s|", "%2s", "%.3s", "%.0s|", "%.10s", "%6.2s|", "%-6.2s|", "%.s|", "%.4s"] {
            let pieces = try PrintFormat.parse(spec)
            // glibc's own printf (Foundation's `String(format:)` prints all of `%.s`'s string).
            let expected = "comm".withCString { arg in
                var buf = [CChar](repeating: 0, count: 64)
                _ = withVaList([arg]) { vsnprintf(&buf, buf.count, spec, $0) }
                return String(cString: buf)
            }
            let text = pieces.map { p -> String in
                switch p { case .text(let t): return t; case .conversion(let c): return c.render("comm") }
            }.joined()
            XCTAssertEqual(text, expected, spec)
        }
        XCTAssertEqual(try PrintFormat.parse("a%%b"), [.text("a%b")])
        for bad in ["%", "%f", "%5", "%.3", "%5.", "%p", "%.2f"] {
            XCTAssertThrowsError(try PrintFormat.parse(bad), bad)
        }
    }
}
