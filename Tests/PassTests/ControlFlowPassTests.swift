import XCTest
@testable import InfraredCompiler

/// simplify-cfg, rotate-loops, fuse-compare.
final class ControlFlowPassTests: XCTestCase {
    /// A jump through an empty block is threaded, the straight line merges
    /// into one block and the unreachable block goes.
    func testSimplifyCFGThreadsAndMerges() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 1
            jump b1
        b1:
            jump b2
        b2:
            %2 = add %1, 2
            ret %2

        """, pass: "simplify-cfg", expected: """
        function f(ctx: %0):
        b0:
            %1 = 1
            %2 = add %1, 2
            ret %2

        """)
    }

    /// `t = @m[k]` gives 0 on a miss and the body tests `t != 0`: the miss
    /// edge sets the constant, takes the join's copy and jumps straight to
    /// the known side (the copies it took are dead there: dce's job).
    func testSimplifyCFGThreadsATestOfAConstantJustSet() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            br.eq %1, 0 ? b2 : b1
        b1:
            %2 = load.u64 [%0 + 8]
            jump b3
        b2:
            %2 = 0
            jump b3
        b3:
            %3 = %2
            br.eq %2, 0 ? b5 : b4
        b4:
            ret %3
        b5:
            ret 7

        """, pass: "simplify-cfg", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            br.eq %1, 0 ? b4 : b1
        b1:
            %2 = load.u64 [%0 + 8]
            %3 = %2
            br.eq %2, 0 ? b3 : b2
        b2:
            ret %3
        b3:
            ret 7
        b4:
            %2 = 0
            %3 = %2
            ret 7

        """)
    }

    /// The same shape into a loop's header is left alone: the entry edge's
    /// test is the loop's own (unrolling reads it).
    func testSimplifyCFGLeavesALoopHeadersTest() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            br.ult %1, 4 ? b3 : b2
        b2:
            ret %1
        b3:
            %1 = add %1, 1
            jump b1

        """, pass: "simplify-cfg")
    }

    /// `d = a > b ? a - b : b - a`: the else arm moves above the branch,
    /// which goes to the then arm or straight to the join.
    func testSpeculateHoistsTheElseArmOfADiamond() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = load.u32 [%0 + 4]
            br.sgt %1, %2 ? b1 : b2
        b1:
            %3 = %1
            %3 = sub %3, %2
            jump b3
        b2:
            %3 = %2
            %3 = sub %3, %1
            jump b3
        b3:
            ret %3

        """, pass: "speculate", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = load.u32 [%0 + 4]
            %3 = %2
            %3 = sub %3, %1
            br.sgt %1, %2 ? b1 : b3
        b1:
            %3 = %1
            %3 = sub %3, %2
            jump b3
        b2:
            %3 = %2
            %3 = sub %3, %1
            jump b3
        b3:
            ret %3

        """)
    }

    /// Left alone: an arm that loads (it may fault), an arm reading the
    /// value the other computes, and arms computing different registers.
    func testSpeculateLeavesArmsThatCannotMove() {
        for (thenArm, elseArm) in [("    %3 = add %1, 1\n", "    %3 = load.u32 [%0 + 8]\n"),
                                   ("    %3 = add %3, 1\n", "    %3 = add %2, 1\n"),
                                   ("    %3 = add %1, 1\n", "    %4 = add %2, 1\n")] {
            assertUnchanged(input: """
            function f(ctx: %0):
            b0:
                %1 = load.u32 [%0 + 0]
                %2 = load.u32 [%0 + 4]
                %3 = 0
                %4 = 0
                br.sgt %1, %2 ? b1 : b2
            b1:
            \(thenArm)    jump b3
            b2:
            \(elseArm)    jump b3
            b3:
                %5 = add %3, %4
                ret %5

            """, pass: "speculate")
        }
    }

    /// `lhist`'s bucket: `x < 0 ? 0 : (x >= 1000 ? 11 : x / 100 + 1)`. Each
    /// constant arm sets the bucket above its test, which goes straight to
    /// the join (the arms are left unreachable for simplify-cfg).
    func testSpeculateSetsConstantArmsAboveTheirTest() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 32]
            br.slt %1, 0 ? b4 : b1
        b1:
            br.sge %1, 1000 ? b3 : b2
        b2:
            %2 = udiv %1, 100
            %3 = add %2, 1
            jump b5
        b3:
            %3 = 11
            jump b5
        b4:
            %3 = 0
            jump b5
        b5:
            ret %3

        """, pass: "speculate", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 32]
            %3 = 0
            br.slt %1, 0 ? b5 : b1
        b1:
            %3 = 11
            br.sge %1, 1000 ? b5 : b2
        b2:
            %2 = udiv %1, 100
            %3 = add %2, 1
            jump b5
        b3:
            %3 = 11
            jump b5
        b4:
            %3 = 0
            jump b5
        b5:
            ret %3

        """)
    }

    /// devfilter: `return 0` only one test reaches and `return 1` two tests
    /// reach become one `ret` of a register each sets; the first is then
    /// set above its test (`r0 = 0; if …; r0 = 1; exit` as clang does).
    func testSpeculateMergesTwoConstantReturnsIntoOne() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 4]
            br.ne %1, 1 ? b3 : b1
        b1:
            %2 = load.u32 [%0 + 8]
            br.ne %2, 9 ? b3 : b2
        b2:
            ret 0
        b3:
            ret 1

        """, pass: "speculate", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 4]
            br.ne %1, 1 ? b3 : b1
        b1:
            %2 = load.u32 [%0 + 8]
            %3 = 0
            br.ne %2, 9 ? b3 : b4
        b2:
            %3 = 0
            jump b4
        b3:
            %3 = 1
            jump b4
        b4:
            ret %3

        """)
    }

    /// Kept: the other arm reads the register before setting it, the test
    /// reads it, and an arm another block also jumps to.
    func testSpeculateKeepsConstantArmsTheOtherPathNeeds() {
        // (The other arm loads, so it is no diamond speculate may hoist.)
        for (test, other, extra) in [("br.slt %1, 0", "    %4 = load.u32 [%0 + 8]\n    %3 = add %3, %4\n", ""),
                                     ("br.slt %3, 0", "    %4 = load.u32 [%0 + 8]\n    %3 = add %4, 1\n", ""),
                                     ("br.slt %1, 0", "    %4 = load.u32 [%0 + 8]\n    %3 = add %4, 1\n", "    br.eq %1, 7 ? b1 : b2\n")] {
            let entry = extra.isEmpty ? "" : "b4:\n\(extra)"
            assertUnchanged(input: """
            function f(ctx: %0):
            b0:
                %1 = load.u64 [%0 + 32]
                %3 = load.u64 [%0 + 40]
                \(test) ? b1 : b2
            b1:
                %3 = 0
                jump b3
            b2:
            \(other)    jump b3
            b3:
                ret %3
            \(entry)
            """, pass: "speculate")
        }
    }

    /// `a || b` tests `a` again in an empty block on the edge where it is
    /// already known: that edge goes straight to the known successor.
    func testSimplifyCFGThreadsAKnownTest() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            br.ne %1, 0 ? b1 : b2
        b1:
            br.ne %1, 0 ? b4 : b3
        b2:
            %1 = load.u32 [%0 + 4]
            jump b1
        b3:
            ret 0
        b4:
            ret 1

        """, pass: "simplify-cfg", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            br.ne %1, 0 ? b3 : b1
        b1:
            %1 = load.u32 [%0 + 4]
            br.ne %1, 0 ? b3 : b2
        b2:
            ret 0
        b3:
            ret 1

        """)
    }

    /// A diamond already in reverse post-order has nothing to simplify.
    func testSimplifyCFGLeavesADiamond() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b2 : b1
        b1:
            ret 2
        b2:
            ret 1

        """, pass: "simplify-cfg")
    }

    /// Jumps to a loop's header that only tests take the test: the latch
    /// branches back to the body itself, and the entry tests before it.
    func testRotateLoopsCopiesTheTestIntoTheLatch() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            br.slt %1, 10 ? b2 : b3
        b2:
            %1 = add %1, 1
            jump b1
        b3:
            ret %1

        """, pass: "rotate-loops", expected: """
        function f(ctx: %0):
        b0:
            %1 = 0
            br.slt %1, 10 ? b2 : b3
        b1:
            br.slt %1, 10 ? b2 : b3
        b2:
            %1 = add %1, 1
            br.slt %1, 10 ? b2 : b3
        b3:
            ret %1

        """)
    }

    /// A test block that computes before it tests is not copied.
    func testRotateLoopsLeavesATestWithInstructions() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            %1 = add %1, 1
            br.slt %1, 10 ? b1 : b2
        b2:
            ret %1

        """, pass: "rotate-loops")
    }

    /// A test where forward paths join (an aggregation's found, inserted
    /// and failed arms, then `return 0 if kind != 1`) stays shared: copied
    /// into each arm it saves no jump the layout cannot, and the verifier
    /// would walk each copy where it prunes the second path at the join.
    func testRotateLoopsLeavesATestWhereForwardPathsJoin() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            br.eq %1, 0 ? b1 : b2
        b1:
            %2 = 1
            jump b3
        b2:
            %2 = 2
            jump b3
        b3:
            br.eq %1, 1 ? b4 : b5
        b4:
            ret %2
        b5:
            ret 0

        """, pass: "rotate-loops")
    }

    /// `t = set.cc a, b; br.ne t, 0` is one compare-and-branch; with
    /// `br.eq` the condition is negated, and a constant left operand swaps.
    func testFuseCompareMergesSetAndBranch() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = set.ult %0, 5
            br.ne %1, 0 ? b2 : b1
        b1:
            %2 = set.ult 5, %0
            br.eq %2, 0 ? b3 : b2
        b2:
            ret 0
        b3:
            ret 1

        """, pass: "fuse-compare", expected: """
        function f(ctx: %0):
        b0:
            br.ult %0, 5 ? b2 : b1
        b1:
            br.ule %0, 5 ? b3 : b2
        b2:
            ret 0
        b3:
            ret 1

        """)
    }

    /// The 0/1 value is also read after the branch: it stays.
    func testFuseCompareLeavesAValueReadElsewhere() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = set.ult %0, 5
            br.ne %1, 0 ? b2 : b1
        b1:
            ret %1
        b2:
            ret 1

        """, pass: "fuse-compare")
    }
}
