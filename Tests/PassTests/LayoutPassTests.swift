import XCTest
@testable import InfraredCompiler

/// cold-faults (Sinking.swift): where fault paths are laid out;
/// share-atomic-adds (Sinking.swift): one add for a lookup's two outcomes;
/// fold-range-branches (Ranges.swift): tests the value ranges decide.
final class LayoutPassTests: XCTestCase {
    /// A fault-counting block between the test and the hot path moves last.
    func testColdFaultsMovesFaultBlocksLast() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b1 : b2
        b1:
            %2 = &var __infrared_faults
            %3 = 1
            atomic.add.64 [%2 + 0] += %3
            ret 0
        b2:
            ret 1

        """, pass: "cold-faults", expected: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b2 : b1
        b1:
            ret 1
        b2:
            %2 = &var __infrared_faults
            %3 = 1
            atomic.add.64 [%2 + 0] += %3
            ret 0

        """)
    }

    /// Left alone: the fault block already last, and no fault block.
    func testColdFaultsLeavesLayoutsWithNothingToMove() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b2 : b1
        b1:
            ret 1
        b2:
            %2 = &var __infrared_faults
            %3 = 1
            atomic.add.64 [%2 + 0] += %3
            ret 0

        """, pass: "cold-faults")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b1 : b2
        b1:
            ret 0
        b2:
            ret 1

        """, pass: "cold-faults")
    }

    /// `lhist`'s "below 0" test on a u32 just loaded is never taken, and a
    /// masked value is always below 64: both branches become jumps.
    func testFoldRangeBranchesDropsTestsTheRangesDecide() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            br.slt %1, 0 ? b1 : b2
        b1:
            ret 0
        b2:
            %2 = and %1, 63
            br.ult %2, 64 ? b3 : b1
        b3:
            ret %2

        """, pass: "fold-range-branches", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            jump b2
        b1:
            ret 0
        b2:
            %2 = and %1, 63
            jump b3
        b3:
            ret %2

        """)
    }

    /// Kept: a signed narrow load compared with 0, a u32 compared with a
    /// value inside its range, and a 64-bit load (any value).
    func testFoldRangeBranchesKeepsTestsThatDepend() {
        for (load, test) in [("load.s32", "br.slt %1, 0"), ("load.u32", "br.slt %1, 1000"), ("load.u64", "br.slt %1, 0")] {
            assertUnchanged(input: """
            function f(ctx: %0):
            b0:
                %1 = \(load) [%0 + 8]
                \(test) ? b1 : b2
            b1:
                ret 0
            b2:
                ret %1

            """, pass: "fold-range-branches")
        }
    }
    /// A counter a rolled loop takes from 0 while `i < 4` (and while a
    /// value read at run time allows) leaves the loop in 0...4: `lhist`'s
    /// "below 0" and "5 or more" tests on it after the loop are decided.
    /// The loop's own blocks keep what its test says (`i <= 3` inside): a
    /// widening there would have lost it, and with it the bound after.
    func testFoldRangeBranchesBoundsALoopCounterAfterTheLoop() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            %2 = 0
            jump b1
        b1:
            br.sge %2, 4 ? b4 : b2
        b2:
            br.sgt %2, %1 ? b4 : b3
        b3:
            %3 = add %2, 1
            %2 = %3
            jump b1
        b4:
            br.slt %2, 0 ? b5 : b6
        b5:
            ret 0
        b6:
            br.sge %2, 5 ? b5 : b7
        b7:
            ret %2

        """, pass: "fold-range-branches", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            %2 = 0
            jump b1
        b1:
            br.sge %2, 4 ? b4 : b2
        b2:
            br.sgt %2, %1 ? b4 : b3
        b3:
            %3 = add %2, 1
            %2 = %3
            jump b1
        b4:
            jump b6
        b5:
            ret 0
        b6:
            jump b7
        b7:
            ret %2

        """)
    }

    /// Kept: a counter whose loop has no upper bound (`i` grows while a
    /// value read at run time allows), tested against 5 after it.
    func testFoldRangeBranchesKeepsAnUnboundedCounterTest() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            %2 = 0
            jump b1
        b1:
            br.sgt %2, %1 ? b3 : b2
        b2:
            %3 = add %2, 1
            %2 = %3
            jump b1
        b3:
            br.sge %2, 5 ? b4 : b5
        b4:
            ret 0
        b5:
            ret %2

        """, pass: "fold-range-branches")
    }

    /// tc_port's `verdicts[1] += 1; return 2`: the found arm adds 1 to the
    /// value, the missing one to the fault counter; the counter's address
    /// and its 1 move above the test, the found arm replaces the address
    /// with the value's, and one add serves both.
    func testShareAtomicAddsMergesTheFoundAndFaultArms() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 1
            %2 = &map m
            %3 = fp-8
            %4 = call 1(%2, %3)
            br.ne %4, 0 ? b1 : b2
        b1:
            atomic.add.64 [%4 + 0] += %1
            ret 2
        b2:
            %5 = &var __infrared_faults
            %6 = 1
            atomic.add.64 [%5 + 8] += %6
            ret 2

        """, pass: "share-atomic-adds", expected: """
        function f(ctx: %0):
        b0:
            %2 = &map m
            %3 = fp-8
            %4 = call 1(%2, %3)
            %5 = &var __infrared_faults
            %6 = 1
            %7 = %5
            %7 = add %7, 8
            br.ne %4, 0 ? b1 : b2
        b1:
            %7 = %4
            jump b2
        b2:
            atomic.add.64 [%7 + 0] += %6
            ret 2

        """)
    }

    /// Kept: arms going different ways, a found arm doing more than the
    /// add, and arms that go on into the body (the verifier would walk
    /// the rest once per pointer).
    func testShareAtomicAddsLeavesOtherShapes() {
        for (foundEnd, extra, missingEnd) in [("ret 2", "", "ret 0"),
                                              ("ret 2", "    store.64 [%4 + 8] = 1\n", "ret 2"),
                                              ("jump b3", "", "jump b3")] {
            assertUnchanged(input: """
            function f(ctx: %0):
            b0:
                %1 = 1
                %2 = &map m
                %3 = fp-8
                %4 = call 1(%2, %3)
                br.ne %4, 0 ? b1 : b2
            b1:
                atomic.add.64 [%4 + 0] += %1
            \(extra)    \(foundEnd)
            b2:
                %5 = &var __infrared_faults
                %6 = 1
                atomic.add.64 [%5 + 8] += %6
                \(missingEnd)
            b3:
                ret 0

            """, pass: "share-atomic-adds")
        }
    }
}
