import XCTest
@testable import InfraredCompiler

/// webs, global-copy-prop, copy-prop, coalesce, dce.
final class CopyPassTests: XCTestCase {
    /// mruby's scratch register `%1` holds two unrelated values: each gets
    /// its own register (every web a new one; the context keeps `%0`).
    func testWebsSplitsARegisterReused() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = add %1, 1
            %1 = load.u32 [%0 + 4]
            %3 = add %1, 2
            %4 = add %2, %3
            ret %4

        """, pass: "webs", expected: """
        function f(ctx: %0):
        b0:
            %5 = load.u32 [%0 + 0]
            %6 = add %5, 1
            %7 = load.u32 [%0 + 4]
            %8 = add %7, 2
            %9 = add %6, %8
            ret %9

        """)
    }

    /// Two definitions that reach one use are one web: one register.
    func testWebsKeepsDefinitionsMeetingAtAUseTogether() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b2 : b1
        b1:
            %1 = 1
            jump b3
        b2:
            %1 = 2
            jump b3
        b3:
            ret %1

        """, pass: "webs", expected: """
        function f(ctx: %0):
        b0:
            br.eq %0, 0 ? b2 : b1
        b1:
            %2 = 1
            jump b3
        b2:
            %2 = 2
            jump b3
        b3:
            ret %2

        """)
    }

    /// Nothing to split: a function of the context alone, which keeps `%0`.
    func testWebsLeavesTheContext() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            call 6(%0, 4)
            ret %0

        """, pass: "webs")
    }

    /// `%2 = %1`, both written once: reads of `%2` in other blocks read `%1`.
    func testGlobalCopyPropAcrossBlocks() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = %1
            br.eq %2, 0 ? b2 : b1
        b1:
            ret %2
        b2:
            ret 0

        """, pass: "global-copy-prop", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = %1
            br.eq %1, 0 ? b2 : b1
        b1:
            ret %1
        b2:
            ret 0

        """)
    }

    /// `%2` is also written elsewhere, so it is not always a copy of `%1`.
    func testGlobalCopyPropLeavesARegisterWrittenTwice() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = %1
            br.eq %0, 0 ? b2 : b1
        b1:
            %2 = 5
            jump b2
        b2:
            ret %2

        """, pass: "global-copy-prop")
    }

    /// Within a block, a read of a copy reads the original.
    func testCopyPropInABlock() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = %0
            %2 = load.u32 [%1 + 4]
            ret %2

        """, pass: "copy-prop", expected: """
        function f(ctx: %0):
        b0:
            %1 = %0
            %2 = load.u32 [%0 + 4]
            ret %2

        """)
    }

    /// The original is written again before the read: the copy is forgotten.
    func testCopyPropStopsAtARedefinition() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = %1
            %1 = load.u32 [%0 + 4]
            %3 = add %2, %1
            ret %3

        """, pass: "copy-prop")
    }

    /// `t = E; x = t` with `t` read nowhere else computes into `x`.
    func testCoalesceComputesIntoTheCopy() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = add %1, 1
            %3 = %2
            ret %3

        """, pass: "coalesce", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %3 = add %1, 1
            ret %3

        """)
    }

    /// `t` is read after the copy: it must keep its value.
    func testCoalesceLeavesATemporaryReadLater() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = add %1, 1
            %3 = %2
            %4 = add %3, %2
            ret %4

        """, pass: "coalesce")
    }

    /// Values nobody reads go; a call stays (it acts) without its result.
    func testDCERemovesUnreadValues() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = add %1, 1
            %3 = call 5()
            ret 0

        """, pass: "dce", expected: """
        function f(ctx: %0):
        b0:
            call 5()
            ret 0

        """)
    }

    /// A store and the value it stores stay.
    func testDCEKeepsStores() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            store.32 [fp-8] = %1
            ret 0

        """, pass: "dce")
    }
}
