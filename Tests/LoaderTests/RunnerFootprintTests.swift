import Foundation
import XCTest

/// What every generated tool carries: the static runner links neither
/// Foundation (FoundationEssentials was 3.6 MB of it, full Foundation would
/// add ICU and its ~30 MB of data) nor the Swift regex library (1.2 MB); one
/// use of `JSONDecoder`, `FileManager`, `String.firstRange(of:)`,
/// `replacing(_:with:)`, `contains("text")`… in its modules brings them back
/// (InfraredSupport's `JSONReader`, `readFile`, `firstRange(ofText:)` are the
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

    /// Linker options that fold or drop functions can take methods from the
    /// runner's mruby gems (gold's --icf=safe lost `Enumerable#sort_by`:
    /// syscount.rb's and ruby_calls.rb's hooks raised NoMethodError): a hook
    /// calls a method of each of several gems.
    func testHooksHaveTheGemsMethods() throws {
        try LoaderSupport.requireBPF()
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = try LoaderSupport.buildLoader(source: """
            license "GPL"
            tracepoint "sched/sched_process_exec" do |ctx|
              0
            end
            at_exit do
              puts [3, 1, 2].sort_by { |x| -x }.inspect
              puts [5, 9, 7].min_by { |x| (x - 8).abs }
              puts (1..6).each_slice(4).to_a.inspect
              puts({ a: 1, b: 2, c: 3 }.select { |k, v| v > 1 }.keys.inspect)
              puts "ab".ljust(4, ".") + "|" + "  x ".strip
              puts format("%05.1f %x", Math.sqrt(2), 255)
              puts 10.clamp(1, 5)
              puts Rational(1, 3) + Rational(1, 6)
              puts [1, 2].pack("C*").unpack("C*").inspect
              puts Struct.new(:a).new(7).a
              puts [1, 2, 3, 4].each_cons(2).map { |a, b| b - a }.inspect
              puts [[1, :a], [2, :b]].to_h[2]
            end
            """, name: "gems", in: dir)
        let r = try LoaderSupport.run(tool, ["--duration", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, ["[3, 2, 1]", "9", "[[1, 2, 3, 4], [5, 6]]", "[:b, :c]", "ab..|x", "001.4 ff", "5", "1/2", "[1, 2]", "7",
                                  "[1, 1, 1]", "b"].map { $0 + "\n" }.joined())
    }
}
