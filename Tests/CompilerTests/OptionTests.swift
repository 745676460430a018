import Foundation
import XCTest
import InfraredCompiler
import InfraredObject

/// `option` declarations: user-space-only loader flags, recorded in the
/// manifest (the object does not change); a bad one is a
/// `file:line:col: error:` at the `option` word.
final class OptionTests: XCTestCase {
    static let program = "\nperf_event :cpu_clock do |ctx|\n  0\nend\n"

    func testOptionsGoToTheManifestOnly() throws {
        let source = """
        license "GPL"
        option :flamegraph, :string, arg: "FILE", help: "write an SVG flame graph to FILE"
        option :top, :int, default: 10
        option :verbose, :bool
        """ + Self.program
        let c = try Compiler.compile(source: source, path: "p.rb")
        XCTAssertEqual(c.manifest.declaredOptions, [
            .init(name: "flamegraph", type: .string, help: "write an SVG flame graph to FILE", argument: "FILE", defaultValue: nil, line: 2),
            .init(name: "top", type: .int, help: nil, argument: nil, defaultValue: "10", line: 3),
            .init(name: "verbose", type: .bool, help: nil, argument: nil, defaultValue: nil, line: 4),
        ])
        let without = try Compiler.compile(source: "license \"GPL\"\n\n\n" + Self.program, path: "p.rb")
        XCTAssertEqual(c.bytes, without.bytes, "options do not change the object")
        XCTAssertEqual(without.manifest.declaredOptions, [])
    }

    func testBadOptionsAreDiagnostics() {
        let cases: [(String, Int, Int, String)] = [
            ("option \"flamegraph\", :string", 1, 1, "needs a name, a Symbol"),
            ("x = 1\n  option :Bad, :string", 2, 3, "needs a name"),
            ("option :out, :float", 1, 1, "unknown type :float for option :out"),
            ("option :out, \"string\"", 1, 1, "unknown type"),
            ("option :out, :string, colour: 1", 1, 1, "unknown keyword `colour:`"),
            ("option :out, :string, help: 5", 1, 1, "help: of option :out must be a String"),
            ("option :out, :string, arg: \"TWO WORDS\"", 1, 1, "one-word String"),
            ("option :quiet_mode, :bool, arg: \"X\"", 1, 1, "takes no arg:"),
            ("option :n, :int, default: \"ten\"", 1, 1, "must be an Integer"),
            ("option :s, :string, default: 3", 1, 1, "must be a String"),
            ("option :b, :bool, default: 1", 1, 1, "must be true or false"),
            ("option :duration, :int", 1, 1, "which the loader uses itself"),
            ("option :print_source, :bool", 1, 1, "--print-source"),
            ("option :x, :string\noption :x, :int", 2, 1, "declared twice"),
            ("map :samples, :hash, key: :u32, value: :u64\nx = 0; option :samples, :string", 2, 8, "name of a param, map or global"),
            ("param :target_pid, :u32\noption :target_pid, :int", 2, 1, "name of a param"),
        ]
        for (decl, line, column, fragment) in cases {
            let source = decl + Self.program
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "probe.rb"), source) { error in
                guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error) for\n\(source)") }
                XCTAssertEqual(d.line, line, "\(d)")
                XCTAssertEqual(d.column, column, "\(d)")
                XCTAssertTrue(d.description.hasPrefix("probe.rb:\(line):\(column): error: "), d.description)
                XCTAssertTrue(d.message.contains(fragment), "expected “\(fragment)” in: \(d.message)")
            }
        }
    }

    /// The shipped profile example declares `--flamegraph FILE`.
    func testProfileExampleDeclaresFlamegraph() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("Examples/profile.rb").path
        let c = try Compiler.compile(path: path)
        XCTAssertEqual(c.manifest.declaredOptions.map(\.name), ["flamegraph"])
        XCTAssertEqual(c.manifest.declaredOptions.first?.argument, "FILE")
        XCTAssertEqual(c.manifest.programs.map(\.kind.declaration), ["perf_event"])
    }
}
