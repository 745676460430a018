import XCTest
@testable import InfraredCompiler

/// sink-loads (Sinking.swift). Helper 26: skb_load_bytes.
final class SinkingPassTests: XCTestCase {
    /// Globals read at entry and used in one arm each: each read moves to
    /// its arm, and the arm's store reuses the address it loads.
    func testSinkLoadsMovesAGlobalsReadToItsUse() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = &var kept
            %2 = load.u64 [%1 + 0]
            %3 = &var dropped
            %4 = load.u64 [%3 + 0]
            %5 = call 26(%0, 23, %0, 1)
            br.eq %5, 0 ? b1 : b2
        b1:
            %6 = add %2, 1
            %7 = &var kept
            store.64 [%7 + 0] = %6
            ret 1
        b2:
            %8 = add %4, 1
            %9 = &var dropped
            store.64 [%9 + 0] = %8
            ret 0

        """, pass: "sink-loads", expected: """
        function f(ctx: %0):
        b0:
            %1 = &var kept
            %3 = &var dropped
            %5 = call 26(%0, 23, %0, 1)
            br.eq %5, 0 ? b1 : b2
        b1:
            %10 = &var kept
            %2 = load.u64 [%10 + 0]
            %6 = add %2, 1
            store.64 [%10 + 0] = %6
            ret 1
        b2:
            %11 = &var dropped
            %4 = load.u64 [%11 + 0]
            %8 = add %4, 1
            store.64 [%11 + 0] = %8
            ret 0

        """)
    }

    /// Left alone: a global written on the way to the use, a global whose
    /// address a helper gets, and a use inside a loop the read is not in.
    func testSinkLoadsKeepsReadsThatWouldChange() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = &var g
            %2 = load.u64 [%1 + 0]
            store.64 [%1 + 0] = 5
            br.eq %0, 0 ? b1 : b2
        b1:
            ret %2
        b2:
            ret 0

        """, pass: "sink-loads")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = &var g
            %2 = load.u64 [%1 + 0]
            %5 = call 26(%0, 23, %1, 8)
            br.eq %5, 0 ? b1 : b2
        b1:
            ret %2
        b2:
            ret 0

        """, pass: "sink-loads")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = &var g
            %2 = load.u64 [%1 + 0]
            %3 = 0
            jump b1
        b1:
            %3 = add %3, %2
            br.ult %3, 100 ? b1 : b2
        b2:
            ret %3

        """, pass: "sink-loads")
    }
    /// `start[tid] = ktime_ns`: mruby reads the time first; the call moves
    /// to just before the time is stored, past the `tid` call, its store
    /// and the key's address (which follows the call: it is read after).
    func testSinkStateReadsMovesTheClockReadToItsUse() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = call 5()
            %2 = call 14()
            store.32 [fp-8] = %2
            %3 = fp-8
            store.64 [fp-16] = %1
            %4 = fp-16
            %5 = &map start
            %6 = call 2(%5, %3, %4, 0)
            ret %6

        """, pass: "sink-state-reads", expected: """
        function f(ctx: %0):
        b0:
            %2 = call 14()
            store.32 [fp-8] = %2
            %1 = call 5()
            %3 = fp-8
            store.64 [fp-16] = %1
            %4 = fp-16
            %5 = &map start
            %6 = call 2(%5, %3, %4, 0)
            ret %6

        """)
    }

    /// Kept: two clock reads (their order is their meaning), `tid` read on
    /// the way and used after (it would live across the call instead),
    /// and a helper with effects standing between.
    func testSinkStateReadsKeepsOrderThatMatters() {
        for between in ["%2 = call 5()\n    store.64 [fp-8] = %2", "%2 = call 14()\n    store.32 [fp-8] = %2",
                        "%2 = &map m\n    %3 = fp-8\n    call 3(%2, %3)"] {
            assertUnchanged(input: """
            function f(ctx: %0):
            b0:
                %1 = call 5()
                \(between)
                %9 = sub %1, %2
                ret %9

            """, pass: "sink-state-reads")
        }
    }

    /// Five values across the clock read and six across the pid read want
    /// R6–R9: two context fields used only after the calls are read again
    /// there (fewest uses first: %2, then %3), their first reads go, and
    /// the field also tested before the calls keeps its register.
    func testRereadContextReadsFieldsAgainWhereCallsCrowdTheRegisters() {
        assertPass(input: """
        function f(ctx: %0):
        context: read-only
        b0:
            %1 = load.u64 [%0 + 8]
            %2 = load.u64 [%0 + 16]
            %3 = load.u32 [%0 + 24]
            %4 = load.s32 [%0 + 28]
            br.eq %1, 0 ? b1 : b2
        b1:
            ret 0
        b2:
            %5 = call 5()
            %6 = call 14()
            store.64 [fp-8] = %1
            store.64 [fp-16] = %2
            store.64 [fp-24] = %3
            store.64 [fp-32] = %4
            store.64 [fp-40] = %5
            store.64 [fp-48] = %6
            %7 = load.u64 [%0 + 40]
            ret %7

        """, pass: "reread-context", expected: """
        function f(ctx: %0):
        context: read-only
        b0:
            %1 = load.u64 [%0 + 8]
            %4 = load.s32 [%0 + 28]
            br.eq %1, 0 ? b1 : b2
        b1:
            ret 0
        b2:
            %5 = call 5()
            %6 = call 14()
            store.64 [fp-8] = %1
            %8 = load.u64 [%0 + 16]
            store.64 [fp-16] = %8
            %9 = load.u32 [%0 + 24]
            store.64 [fp-24] = %9
            store.64 [fp-32] = %4
            store.64 [fp-40] = %5
            store.64 [fp-48] = %6
            %7 = load.u64 [%0 + 40]
            ret %7

        """)
    }

    /// Kept: four values across the calls (room in R6–R9); the same six
    /// where the context is writable (a packet program's `data` read again
    /// loses its bounds); and where the context itself is not kept across
    /// the calls (reading again would keep it).
    func testRereadContextLeavesRoomyWritableAndUnkeptContexts() {
        let crowded = """
            %1 = load.u64 [%0 + 8]
            %2 = load.u64 [%0 + 16]
            %3 = load.u32 [%0 + 24]
            %4 = load.s32 [%0 + 28]
            %5 = call 5()
            %6 = call 14()
            store.64 [fp-8] = %1
            store.64 [fp-16] = %2
            store.64 [fp-24] = %3
            store.64 [fp-32] = %4
            store.64 [fp-40] = %5
            store.64 [fp-48] = %6
        """
        let roomy = """
            %1 = load.u64 [%0 + 8]
            %2 = load.u64 [%0 + 16]
            %3 = load.u32 [%0 + 24]
            %5 = call 5()
            store.64 [fp-8] = %1
            store.64 [fp-16] = %2
            store.64 [fp-24] = %3
            store.64 [fp-40] = %5
        """
        for (header, body, last) in [("context: read-only\n", roomy, "%7 = load.u64 [%0 + 40]"),
                                     ("", crowded, "%7 = load.u64 [%0 + 40]"),
                                     ("context: read-only\n", crowded, "%7 = 0")] {
            assertUnchanged(input: "function f(ctx: %0):\n" + header + "b0:\n" + body + "\n    " + last + "\n    ret %7\n", pass: "reread-context")
        }
    }
}
