import XCTest
@testable import InfraredCompiler

/// unroll-loops, hoist-loop-constants.
final class LoopPassTests: XCTestCase {
    /// `i = 0; s = 0; while i < 4; s += i; i += 1; end; s`: four trips known
    /// at compile time, peeled and folded to the sum.
    func testUnrollLoopsFoldsAConstantLoop() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = 0
            jump b1
        b1:
            br.slt %1, 4 ? b2 : b3
        b2:
            %2 = add %2, %1
            %1 = add %1, 1
            jump b1
        b3:
            ret %2

        """, pass: "unroll-loops", expected: """
        function f(ctx: %0):
        b0:
            ret 6

        """)
    }

    /// `while i < 16; s += i * x` is `x * 120` (the README's example).
    func testUnrollLoopsFoldsALinearSum() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = 0
            %3 = load.u32 [%0 + 0]
            jump b1
        b1:
            br.slt %1, 16 ? b2 : b3
        b2:
            %4 = mul %1, %3
            %2 = add %2, %4
            %1 = add %1, 1
            jump b1
        b3:
            ret %2

        """, pass: "unroll-loops", expected: """
        function f(ctx: %0):
        b0:
            %3 = load.u32 [%0 + 0]
            %2 = mul %3, 120
            ret %2

        """)
    }

    /// The trip count depends on the context: the loop stays.
    func testUnrollLoopsLeavesAnUnknownTripCount() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = load.u32 [%0 + 0]
            jump b1
        b1:
            br.slt %1, %2 ? b2 : b3
        b2:
            %1 = add %1, 1
            jump b1
        b3:
            ret %1

        """, pass: "unroll-loops")
    }

    /// Twenty helper calls unrolled are larger than the loop: it stays.
    func testUnrollLoopsLeavesALoopThatWouldGrow() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            br.slt %1, 20 ? b2 : b3
        b2:
            %2 = call 5()
            store.64 [fp-8] = %2
            %3 = fp-8
            %4 = &map samples
            %5 = call 2(%4, %3, %3, 0)
            %1 = add %1, 1
            jump b1
        b3:
            ret 0

        """, pass: "unroll-loops")
    }

    /// `sum & 3` after `while i < 16; sum += i * x`: the sum is `x * 120`,
    /// a multiple of 4, so the whole body is `0`. Only the block after the
    /// loop shows it (the loop's region brings that block along, as only
    /// the loop leads there); the sum alone would stay rolled.
    func testUnrollLoopsSeesTheBlockAfterTheLoop() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = 0
            jump b1
        b1:
            br.slt %1, 16 ? b2 : b3
        b2:
            %3 = load.u32 [%0 + 12]
            %4 = mul %1, %3
            %2 = add %2, %4
            %1 = add %1, 1
            jump b1
        b3:
            %5 = and %2, 3
            ret %5

        """, pass: "unroll-loops", expected: """
        function f(ctx: %0):
        b0:
            ret 0

        """)
    }

    /// Ten loops in a row, `4.times { |j| a = (a ^ j) * 3 }` each: every
    /// one unrolls in one round (each judged on its own region), where a
    /// pass that cleaned the whole function per loop stopped after 8. Each
    /// becomes 7 instructions (`a ^ 0` is `a`): 70, and the load of `a`.
    func testUnrollLoopsUnrollsEveryLoopOfALongBody() throws {
        var text = "function f(ctx: %0):\n"
        for k in 0..<10 {
            text += "b\(3 * k):\n" + (k == 0 ? "    %1 = load.u64 [%0 + 0]\n" : "") + "    %2 = 0\n    jump b\(3 * k + 1)\n"
            text += "b\(3 * k + 1):\n    br.slt %2, 4 ? b\(3 * k + 2) : b\(3 * k + 3)\n"
            text += "b\(3 * k + 2):\n    %3 = xor %1, %2\n    %1 = mul %3, 3\n    %2 = add %2, 1\n    jump b\(3 * k + 1)\n"
        }
        text += "b30:\n    ret %1\n"
        var f = try IRFunction(parsing: text)
        XCTAssertEqual(Loop.natural(in: f).count, 10)
        unrollConstantLoops(&f)
        XCTAssertEqual(Loop.natural(in: f).count, 0)
        let reached = f.reversePostOrder
        XCTAssertEqual(reached.count, 1)
        XCTAssertEqual(reached.reduce(0) { $0 + f.blocks[$1].instructions.count }, 71)
    }

    /// A body of 700 loops like those above (`a = (a ^ j) * 3 + k`,
    /// 2 to 6 trips) outgrows `maximumInstructions`: the round judges only
    /// the loops that may still fit, and chooses exactly what judging every
    /// loop and then taking them in order chooses (the pass's rule before
    /// loops past the limit were left unjudged).
    func testUnrollLoopsChoosesAsJudgingEveryLoopWould() throws {
        let n = 700
        var text = "function f(ctx: %0):\n"
        for k in 0..<n {
            text += "b\(3 * k):\n" + (k == 0 ? "    %1 = load.u64 [%0 + 0]\n" : "") + "    %2 = 0\n    jump b\(3 * k + 1)\n"
            text += "b\(3 * k + 1):\n    br.slt %2, \(2 + k % 5) ? b\(3 * k + 2) : b\(3 * k + 3)\n"
            text += "b\(3 * k + 2):\n    %3 = xor %1, %2\n    %4 = mul %3, 3\n    %1 = add %4, \(k)\n    %2 = add %2, 1\n    jump b\(3 * k + 1)\n"
        }
        text += "b\(3 * n):\n    ret %1\n"
        var f = try IRFunction(parsing: text)
        let loops = Loop.innermost(in: f)
        XCTAssertEqual(loops.count, n)
        let order = f.reversePostOrder
        let position = f.positions(in: order)
        let live = f.liveness()
        let analysis = ConstantAnalysis(f, order: order, liveness: live)
        let size = f.blocks.reduce(0) { $0 + $1.instructions.count }
        let (chosen, judged) = Loop.chosen(loops, in: f, analysis: analysis, position: position, live: live, size: size)

        // The reference: every loop judged, then taken in order while the function fits.
        var expected: [(header: Int, trips: Int)] = []
        var taken = Set<Int>(), grown = size
        for loop in loops {
            guard let (trips, entering) = Loop.peelCount(f, loop, analysis: analysis, position: position, size: size),
                  let growth = loop.growth(in: f, trips: trips, entering: entering, analysis: analysis, live: live),
                  taken.isDisjoint(with: loop.blocks), grown + loop.copied(trips: trips, in: f) <= Loop.maximumInstructions else { continue }
            expected.append((loop.header, trips))
            taken.formUnion(loop.blocks)
            grown += growth
        }
        XCTAssertEqual(chosen.map(\.loop.header), expected.map(\.header))
        XCTAssertEqual(chosen.map(\.trips), expected.map(\.trips))
        // The limit was reached: 497 of the 700 loops are chosen; 597 were
        // judged (100 judged in a batch no longer fitted when their turn
        // came) and 103 were never judged.
        XCTAssertEqual(chosen.count, 497)
        XCTAssertEqual(judged, 597)
        // The pass as a whole leaves those 203 loops rolled.
        unrollConstantLoops(&f)
        XCTAssertEqual(Loop.natural(in: f).count, 203)
    }

    /// A constant that needs `ld_imm64` is loaded once before the loop.
    func testHoistLoopConstantsLoadsA64BitConstantBeforeTheLoop() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = load.u64 [%0 + 0]
            jump b1
        b1:
            %1 = add %1, 4294967296
            br.ult %1, %2 ? b1 : b2
        b2:
            ret %1

        """, pass: "hoist-loop-constants", expected: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = load.u64 [%0 + 0]
            %3 = 4294967296
            jump b1
        b1:
            %1 = add %1, %3
            br.ult %1, %2 ? b1 : b2
        b2:
            ret %1

        """)
    }

    /// A 32-bit constant fits the instruction, a move of a constant is the
    /// load itself, and outside a loop a constant is used once.
    func testHoistLoopConstantsLeavesSmallAndOutsideConstants() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            %2 = load.u64 [%0 + 0]
            jump b1
        b1:
            %1 = add %1, 4096
            %3 = -4294967296
            br.ult %1, %2 ? b1 : b2
        b2:
            %4 = add %1, 4294967296
            ret %4

        """, pass: "hoist-loop-constants")
    }
}
