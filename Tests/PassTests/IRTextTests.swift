import Foundation
import XCTest
@testable import InfraredCompiler

/// The IR's text form: what `--dump-after` prints reads back into the same
/// function, and every pass of the pipeline has its tests here.
final class IRTextTests: XCTestCase {
    /// Every instruction and terminator the printer knows, read and printed again.
    func testEveryFormRoundTrips() throws {
        let text = """
        function every_form(ctx: %0):
        readonly: limit, target
        b0:
            %1 = %0
            %2 = -7    ; line 3
            %3 = add %1, 9223372036854775807
            %4 = sub -9223372036854775808, %3
            %5 = mul %4, %4
            %6 = udiv %5, 3
            %7 = umod %5, 3
            %8 = sdiv %5, -3
            %9 = smod %5, -3
            %10 = and %9, 255
            %11 = or %10, %9
            %12 = xor %11, %10
            %13 = shl %12, 2
            %14 = lshr %13, 1
            %15 = ashr %14, 1
            %16 = neg %15
            %17 = set.sle %16, 0    ; line 12
            %18 = load.s16 [%0 + -8]
            %19 = load.u64 [%0 + 16]
            %20 = &str[12]
            call 6(%20, 4)
            %21 = call 14()
            %22 = &map counts
            %23 = &var limit
            %24 = fp-16
            %25 = load.u8 [fp-16]
            store.8 [fp-16] = 1
            store.16 [%24 + 2] = %25
            atomic.add.32 [%24 + 0] += %25
            %26 = core(1280, reloc 3)
            br.ugt %26, %21 ? b2 : b1
        b1:
            jump b2
        b2:
            br.ne %26, -1 ? b3 : b4
        b3:
            ret %26
        b4:
            unreachable

        """
        let f = try IRFunction(parsing: text)
        XCTAssertEqual(f.description, text)
        XCTAssertEqual(f.vregCount, 27)
        XCTAssertEqual(f.readOnlyVariables, ["limit", "target"])
        XCTAssertEqual(f.blocks[0].instructions[1].0, .move(VReg(id: 2), .imm(-7)))
        XCTAssertEqual(f.blocks[0].instructions[1].1, SourceLocation(line: 3, column: 0))
        XCTAssertEqual(f.blocks[0].instructions[17].0, .load(VReg(id: 18), base: VReg(id: 0), offset: -8, size: 2, signed: true))
        XCTAssertEqual(f.blocks[0].instructions[25].0, .loadFrame(VReg(id: 25), offset: -16, size: 1, signed: false))
        XCTAssertEqual(f.blocks[0].instructions[27].0, .store(base: VReg(id: 24), offset: 2, value: .reg(VReg(id: 25)), size: 2))
        XCTAssertEqual(f.blocks[0].terminator, .branch(.ugt, .reg(VReg(id: 26)), .reg(VReg(id: 21)), then: 2, else: 1))
        XCTAssertEqual(f.blocks[4].terminator, .unreachable)
    }

    /// What `--dump-after` prints for every program of the examples and the
    /// benchmark corpus, after lowering and after every pass, reads back and
    /// prints the same.
    func testEveryDumpOfTheExamplesRoundTrips() throws {
        var options = CompileOptions()
        options.dumpAfter = Set(CompileOptions.dumpAfterNames)
        var files = 0
        for dir in ["Examples", "Benchmarks/corpus"] {
            let path = repositoryRoot.appendingPathComponent(dir).path
            for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where name.hasSuffix(".rb") {
                let compiled = try Compiler.compile(path: path + "/" + name, options: options)
                // One dump after lowering and one after each run of a pass, per program.
                XCTAssertEqual(compiled.dumps.count, compiled.object.programs.count * (1 + Pass.pipeline.count), name)
                for dump in compiled.dumps {
                    // "; after PASS\n" then the listing.
                    let listing = String(dump.drop { $0 != "\n" }.dropFirst())
                    do {
                        let f = try IRFunction(parsing: dump)
                        XCTAssertEqual(f.description, listing, "\(name): \(dump.prefix { $0 != "\n" })")
                    } catch {
                        XCTFail("\(name): \(dump.prefix { $0 != "\n" }): \(error)")
                    }
                }
                files += 1
            }
        }
        XCTAssertEqual(files, 64)   // Examples/*.rb and Benchmarks/corpus/*.rb
    }

    /// A line that does not read names its line number.
    func testErrorsNameTheLine() {
        let cases: [(String, Int, String)] = [
            ("b0:\n    ret 0\n", 1, "expected `function`"),
            ("function f(ctx: %0):\n    ret 0\n", 2, "an instruction before the first block"),
            ("function f(ctx: %0):\nb1:\n    ret 0\n", 2, "expected block b0, found b1"),
            ("function f(ctx: %0):\nb0:\n    %1 = frob %0, 1\n    ret 0\n", 3, "unknown operation `frob`"),
            ("function f(ctx: %0):\nb0:\n    %1 = load.u24 [%0 + 0]\n    ret 0\n", 3, "bad access width `24`"),
            ("function f(ctx: %0):\nb0:\n    ret 0\n    %1 = 1\n", 4, "after block b0's terminator"),
            ("function f(ctx: %0):\nb0:\n    %1 = 1\nb1:\n    ret 0\n", 4, "block b0 has no terminator"),
            ("function f(ctx: %0):\nb0:\n    br.lt %0, 1 ? b0 : b0\n", 3, "unknown condition `lt`"),
            ("function f(ctx: %0):\nb0:\n    ret %0 %0\n", 3, "unexpected `%0`"),
            ("function f(ctx: %0):\nb0:\n    jump b7\n", 3, "branches to b7, which does not exist"),
        ]
        for (text, line, fragment) in cases {
            XCTAssertThrowsError(try IRFunction(parsing: text), text) { error in
                guard let e = error as? IRParseError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.line, line, "\(e) for\n\(text)")
                XCTAssertTrue(e.message.contains(fragment), "expected “\(fragment)” in \(e)")
            }
        }
    }

    /// Each pass of the pipeline has at least one `assertPass` (it changes
    /// the IR as intended) and one `assertUnchanged` (a case it must leave
    /// alone) in this target's files.
    func testEveryPassHasTests() throws {
        let dir = repositoryRoot.appendingPathComponent("Tests/PassTests")
        var positive: [String: Int] = [:], negative: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) where name.hasSuffix("PassTests.swift") {
            let source = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            // Each call names its pass after its input: attribute every `pass: "NAME"` to the call before it.
            var last: String?
            var rest = Substring(source)
            while let r = rest.range(of: #"assertPass\(|assertUnchanged\(|pass: "[a-z-]+""#, options: .regularExpression) {
                let token = rest[r]
                if token.hasPrefix("pass: ") {
                    let pass = String(token.dropFirst(7).dropLast())
                    if last == "assertPass(" { positive[pass, default: 0] += 1 }
                    if last == "assertUnchanged(" { negative[pass, default: 0] += 1 }
                    last = nil
                } else {
                    last = String(token)
                }
                rest = rest[r.upperBound...]
            }
        }
        let passes = Set(Pass.pipeline.map(\.name))
        XCTAssertEqual(passes.count, 37)
        for p in passes.sorted() {
            XCTAssertGreaterThan(positive[p] ?? 0, 0, "\(p): no assertPass")
            XCTAssertGreaterThan(negative[p] ?? 0, 0, "\(p): no assertUnchanged")
        }
        XCTAssertEqual(Set(positive.keys).union(negative.keys).subtracting(passes), [], "tests of passes not in the pipeline")
    }
}
