import Foundation
import XCTest
@testable import InfraredCompiler

/// A frame whose jumps all go forward is lowered block by block in order,
/// each block's entry kinds merged from the predecessors lowered before it,
/// without the register-kind analysis first (`Lowering.lowerFrame`). The
/// analysis visits blocks in its own order (a work list, last pushed first)
/// and reaches the same fixed point; these tests hold the one-pass lowering
/// to it: the same object, or the same error, with the analysis forced on
/// every frame (`CompileOptions.analyseEveryFrame`).
final class ForwardLoweringTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The object's bytes, or the error's text.
    func outcome(_ source: String, path: String, analyseEveryFrame: Bool) -> String {
        var options = CompileOptions()
        options.analyseEveryFrame = analyseEveryFrame
        do {
            return try Compiler.compile(source: source, path: path, options: options).bytes.map { String($0, radix: 16) }.joined(separator: " ")
        } catch {
            return "error: \(error)"
        }
    }

    func testEveryProbeInTheRepositoryLowersAsWithTheAnalysis() throws {
        var paths: [String] = []
        for dir in ["Examples", "Benchmarks/corpus"] {
            let d = Self.root.appendingPathComponent(dir)
            paths += try FileManager.default.contentsOfDirectory(atPath: d.path).sorted().filter { $0.hasSuffix(".rb") }.map { d.appendingPathComponent($0).path }
        }
        let tests = Self.root.appendingPathComponent("Tests")
        let found = FileManager.default.enumerator(atPath: tests.path)!.compactMap { $0 as? String }.filter { $0.hasSuffix(".rb") }.sorted()
        paths += found.map { tests.appendingPathComponent($0).path }
        // 18 examples, 46 corpus probes and 58 test probes, as in the repository.
        XCTAssertEqual(paths.count, 122)
        var objects = 0, errors = 0
        for path in paths {
            let source = try String(contentsOfFile: path, encoding: .utf8)
            let once = outcome(source, path: path, analyseEveryFrame: false)
            XCTAssertTrue(once == outcome(source, path: path, analyseEveryFrame: true), "\(path): another outcome with the analysis on every frame")
            if once.hasPrefix("error: ") { errors += 1 } else { objects += 1 }
        }
        XCTAssertEqual(objects, 70)
        XCTAssertEqual(errors, 52)   // the regression tests' probes of compile errors
    }

    /// Joins the work list reaches in another order than the blocks': arms
    /// that make pointers (lookups, ring buffer records), structs and strings
    /// on both sides of a branch, a value not negative on one arm only (its
    /// division and shift are signed only when the arms' kinds are merged:
    /// taking the last arm's kinds fails this test), nested
    /// and chained tests, `case/when`, a loop in one program (analysed) and
    /// forward frames inside the blocks of another.
    func testJoinsLowerAsWithTheAnalysis() throws {
        let source = """
        license "GPL"
        map :h, :hash, key: :u32, value: :u64, max_entries: 64
        map :events, :ringbuf, max_entries: 4096
        struct :E do
          u32 :pid
          u64 :v
        end
        tracepoint "raw_syscalls/sys_enter", name: "arms" do |ctx|
          k = pid & 7
          w = h.lookup(k)
          v = if ctx.id == 1
                w ? w.value : 2
              elsif ctx.id == 2 && k > 3
                x = h.lookup(k + 1)
                x ? x.value + 1 : 3
              else
                4
              end
          e = E.new
          if v > 2
            e.pid = k
          else
            e.v = v
          end
          r = events.reserve(E)
          if r
            r.pid = k
            r.v = v
            events.submit(r)
          end
          h[k] = v
          0
        end
        tracepoint "raw_syscalls/sys_enter", name: "cases" do |ctx|
          c = case ctx.id
              when 0, 2, 4 then 1
              when 59 then comm == "bash" ? 2 : 3
              else k = h.lookup(1); k ? k.value : 5
              end
          h[c] += 1 if c > 1 || pid == 1
          0
        end
        tracepoint "raw_syscalls/sys_enter", name: "signs" do |ctx|
          v = ctx.id == 1 ? pid - 1000 : pid & 7
          h[1] = v / 3
          u = ctx.id == 2 ? pid & 7 : pid - 1000
          h[2] = u >> 1
          0
        end
        tracepoint "raw_syscalls/sys_enter", name: "loops" do |ctx|
          i = 0
          t = 0
          while i < 4
            t += i if (i & 1) == 0
            i += 1
          end
          3.times { |j| t += j > 1 ? j : 2 }
          h[0] = t
          0
        end
        """
        let once = outcome(source, path: "joins.rb", analyseEveryFrame: false)
        XCTAssertFalse(once.hasPrefix("error: "), once)
        XCTAssertTrue(once == outcome(source, path: "joins.rb", analyseEveryFrame: true), "another object with the analysis on every frame")
    }
}
