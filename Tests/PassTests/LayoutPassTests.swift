import XCTest
@testable import InfraredCompiler

/// cold-faults (Sinking.swift): where fault paths are laid out.
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
}
