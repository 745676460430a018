import XCTest
@testable import InfraredCompiler

/// bit-test-switches (Switches.swift): a `case` over many close values.
final class SwitchPassTests: XCTestCase {
    /// Seven values of one target within 0...63 become one range check,
    /// `1 << x` and one mask test (bits 0, 2, 4, 6, 9, 11, 13: 10837); 100 (outside the window) keeps its
    /// test after them, and the repeated 2 (its first test wins) goes.
    func testBitTestSwitchesTestsCloseValuesWithOneMask() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            br.eq %1, 0 ? b9 : b1
        b1:
            br.eq %1, 2 ? b9 : b2
        b2:
            br.eq %1, 100 ? b10 : b3
        b3:
            br.eq %1, 4 ? b9 : b4
        b4:
            br.eq %1, 6 ? b9 : b5
        b5:
            br.eq %1, 9 ? b9 : b6
        b6:
            br.eq %1, 11 ? b9 : b7
        b7:
            br.eq %1, 13 ? b9 : b8
        b8:
            br.eq %1, 2 ? b10 : b11
        b9:
            ret 1
        b10:
            ret 2
        b11:
            ret 0

        """, pass: "bit-test-switches", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            br.ugt %1, 13 ? b3 : b1
        b1:
            %2 = shl 1, %1
            %3 = and %2, 10837
            br.ne %3, 0 ? b2 : b3
        b2:
            ret 1
        b3:
            br.eq %1, 100 ? b5 : b4
        b4:
            ret 0
        b5:
            ret 2

        """)
    }

    /// Kept: six values (one range check, a shift and a mask test cost as
    /// much as six equality tests), and a chain whose links hold other
    /// instructions.
    func testBitTestSwitchesKeepsShortOrBusyChains() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            br.eq %1, 0 ? b6 : b1
        b1:
            br.eq %1, 2 ? b6 : b2
        b2:
            br.eq %1, 4 ? b6 : b3
        b3:
            br.eq %1, 6 ? b6 : b4
        b4:
            br.eq %1, 9 ? b6 : b5
        b5:
            br.eq %1, 11 ? b6 : b7
        b6:
            ret 1
        b7:
            ret 0

        """, pass: "bit-test-switches")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 8]
            br.eq %1, 0 ? b9 : b1
        b1:
            %2 = 1
            br.eq %1, 2 ? b9 : b2
        b2:
            %3 = 1
            br.eq %1, 4 ? b9 : b3
        b3:
            %4 = 1
            br.eq %1, 6 ? b9 : b4
        b4:
            %5 = 1
            br.eq %1, 8 ? b9 : b5
        b5:
            %6 = 1
            br.eq %1, 10 ? b9 : b6
        b6:
            %7 = 1
            br.eq %1, 12 ? b9 : b7
        b7:
            %8 = 1
            br.eq %1, 14 ? b9 : b8
        b8:
            ret 0
        b9:
            ret 1

        """, pass: "bit-test-switches")
    }
}
