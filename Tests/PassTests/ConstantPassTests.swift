import XCTest
@testable import InfraredCompiler

/// const-prop, hoist-params, narrow-divisions (the range analysis).
final class ConstantPassTests: XCTestCase {
    /// Constants fold, `x + 0` is `x`, a branch on constants is a jump, and
    /// the constant reaches the block the jump goes to.
    func testConstPropFoldsAndDecidesBranches() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = 6
            %2 = mul %1, 7
            %3 = add %0, 0
            br.eq %2, 42 ? b2 : b1
        b1:
            ret 0
        b2:
            %4 = load.u32 [%3 + 0]
            %5 = sub %4, %2
            ret %2

        """, pass: "const-prop", expected: """
        function f(ctx: %0):
        b0:
            %1 = 6
            %2 = 42
            %3 = %0
            jump b2
        b1:
            ret 0
        b2:
            %4 = load.u32 [%3 + 0]
            %5 = sub %4, 42
            ret 42

        """)
    }

    /// `%1` is 1 on one path and 2 on the other: not a constant at the join.
    func testConstPropLeavesAValueThatDiffersByPath() {
        assertUnchanged(input: """
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
            %2 = add %1, 1
            ret %2

        """, pass: "const-prop")
    }

    /// A param (read-only global) read twice is loaded once, at entry.
    func testHoistParamsLoadsAParamOnce() {
        assertPass(input: """
        function f(ctx: %0):
        readonly: target
        b0:
            %1 = &var target    ; line 4
            %2 = load.u32 [%1 + 0]    ; line 4
            br.eq %2, 0 ? b2 : b1
        b1:
            %3 = &var target    ; line 5
            %4 = load.u32 [%3 + 0]    ; line 5
            ret %4
        b2:
            ret 0

        """, pass: "hoist-params", expected: """
        function f(ctx: %0):
        readonly: target
        b0:
            %5 = &var target    ; line 4
            %6 = load.u32 [%5 + 0]    ; line 4
            %1 = &var target    ; line 4
            %2 = %6    ; line 4
            br.eq %2, 0 ? b2 : b1
        b1:
            %3 = &var target    ; line 5
            %4 = %6    ; line 5
            ret %4
        b2:
            ret 0

        """)
    }

    /// A global programs may write (no `readonly:`), or a param read once
    /// or at two widths, is read where it was.
    func testHoistParamsLeavesGlobalsAndSingleReads() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = &var counter
            %2 = load.u32 [%1 + 0]
            %3 = &var counter
            %4 = load.u32 [%3 + 0]
            %5 = add %2, %4
            ret %5

        """, pass: "hoist-params")
        assertUnchanged(input: """
        function f(ctx: %0):
        readonly: limit, target
        b0:
            %1 = &var target
            %2 = load.u32 [%1 + 0]
            %3 = &var limit
            %4 = load.u16 [%3 + 0]
            %5 = &var limit
            %6 = load.u32 [%5 + 0]
            %7 = add %2, %4
            ret %7

        """, pass: "hoist-params")
    }

    /// A read-only context's fields read after a call (`sums[pid] += ctx.arg(0) + ctx.arg(1)`)
    /// are read at entry, before the call clobbers R1: no copy of the context lives across it.
    func testContextReadsFirstMovesFieldReadsAboveTheCall() {
        let input = """
        function f(ctx: %0):
        context: read-only
        b0:
            %1 = call 14()    ; line 4
            %2 = load.u64 [%0 + 112]    ; line 4
            %3 = load.u64 [%0 + 104]    ; line 4
            %4 = add %2, %3    ; line 4
            br.eq %1, 0 ? b2 : b1
        b1:
            ret 1
        b2:
            ret %4

        """
        // The two reads, into new registers, open the entry; where they were, copies.
        let expected = input
            .replacingOccurrences(of: "b0:\n", with: "b0:\n    %5 = load.u64 [%0 + 112]    ; line 4\n    %6 = load.u64 [%0 + 104]    ; line 4\n")
            .replacingOccurrences(of: "%2 = load.u64 [%0 + 112]", with: "%2 = %5")
            .replacingOccurrences(of: "%3 = load.u64 [%0 + 104]", with: "%3 = %6")
        assertPass(input: input, pass: "context-reads-first", expected: expected)
    }

    /// Left where they are: a read in one arm only (not every run reads it),
    /// the context passed to a helper, three fields, a writable context, and
    /// reads that already come before every call.
    func testContextReadsFirstLeavesOtherShapes() {
        let readOnly = "function f(ctx: %0):\ncontext: read-only\nb0:\n"
        let bodies = [
            // A read in one arm.
            readOnly + "    %1 = call 14()\n    br.eq %1, 0 ? b2 : b1\nb1:\n    %2 = load.u64 [%0 + 80]\n    ret %2\nb2:\n    ret 0\n",
            // The context passed to a helper.
            readOnly + "    %1 = call 14()\n    %2 = load.u64 [%0 + 80]\n    %3 = call 27(%0, 0, 0)\n    %4 = add %2, %3\n    ret %4\n",
            // Three fields.
            readOnly + "    %1 = call 14()\n    %2 = load.u64 [%0 + 80]\n    %3 = load.u64 [%0 + 88]\n    %4 = load.u64 [%0 + 96]\n"
                + "    %5 = add %2, %3\n    %6 = add %5, %4\n    ret %6\n",
            // A context programs may write (no `context: read-only`).
            "function f(ctx: %0):\nb0:\n    %1 = call 14()\n    %2 = load.u64 [%0 + 80]\n    ret %2\n",
            // The read already comes before every call.
            readOnly + "    %2 = load.u64 [%0 + 80]\n    %1 = call 14()\n    %3 = add %1, %2\n    ret %3\n",
        ]
        for body in bodies { assertUnchanged(input: body, pass: "context-reads-first") }
    }

    /// A u32 field is never negative: `/` and `%` by 10 need no floor fix-up.
    func testNarrowDivisionsOfAnUnsignedField() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = sdiv %1, 10
            %3 = smod %1, 10
            %4 = add %2, %3
            ret %4

        """, pass: "narrow-divisions", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = udiv %1, 10
            %3 = umod %1, 10
            %4 = add %2, %3
            ret %4

        """)
    }

    /// A dividend that may be negative, or a divisor that may be zero or
    /// negative, keeps Ruby's floored division.
    func testNarrowDivisionsLeavesSignedValues() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.s32 [%0 + 0]
            %2 = sdiv %1, 10
            %3 = load.u32 [%0 + 4]
            %4 = smod %3, %1
            %5 = load.u8 [%0 + 8]
            %6 = sdiv %3, %5
            %7 = add %2, %4
            %8 = add %7, %6
            ret %8

        """, pass: "narrow-divisions")
    }

    /// `max(v)` on a per-CPU slot where `v >= 0` is known (here from the
    /// test above it): the "set" flag's test goes, `v >= t` decides alone
    /// (an unset slot holds 0, which `v` matches or beats).
    func testFlaglessExtremesDropsTheSetTestForANonNegativeMax() {
        assertPass(input: Self.extreme(test: "br.slt %1, 0 ? b6 : b1", compare: "br.sgt %1, %4 ? b4 : b5"),
                   pass: "flagless-extremes", expected: Self.flagless(test: "br.slt %1, 0 ? b6 : b1", compare: "br.sgt %1, %4 ? b4 : b5", condition: "sge"))
    }

    /// The same for `min(v)` with `v <= 0`; and a max whose value may be
    /// negative (the test bounds it on the other side) keeps the flag.
    func testFlaglessExtremesMinAndASignedMax() {
        assertPass(input: Self.extreme(test: "br.sgt %1, 0 ? b6 : b1", compare: "br.slt %1, %4 ? b4 : b5"),
                   pass: "flagless-extremes", expected: Self.flagless(test: "br.sgt %1, 0 ? b6 : b1", compare: "br.slt %1, %4 ? b4 : b5", condition: "sle"))
        assertUnchanged(input: Self.extreme(test: "br.sgt %1, 0 ? b6 : b1", compare: "br.sgt %1, %4 ? b4 : b5"), pass: "flagless-extremes")
        assertUnchanged(input: Self.extreme(test: "br.slt %1, -1 ? b6 : b1", compare: "br.sgt %1, %4 ? b4 : b5"), pass: "flagless-extremes")
    }

    /// `extreme` after the pass: the flag's load left for dead-code
    /// elimination, the value compared in its block, the compare block
    /// emptied (unreachable, for simplify-cfg).
    static func flagless(test: String, compare: String, condition: String) -> String {
        let before = """
                %3 = load.u64 [%2 + 8]
                br.eq %3, 0 ? b4 : b3
            b3:
                %4 = load.s64 [%2 + 0]
                \(compare)

            """
        let after = """
                %3 = load.u64 [%2 + 8]
                %4 = load.s64 [%2 + 0]
                br.\(condition) %1, %4 ? b4 : b5
            b3:
                jump b5

            """
        let input = extreme(test: test, compare: compare)
        precondition(input.contains(before))
        return input.replacingOccurrences(of: before, with: after)
    }

    /// A lookup, then the lowering's max/min shape on the slot at %2.
    static func extreme(test: String, compare: String) -> String {
        """
        function f(ctx: %0):
        b0:
            %1 = load.s64 [%0 + 16]
            \(test)
        b1:
            %2 = call 1(%0, %0)
            br.eq %2, 0 ? b6 : b2
        b2:
            %3 = load.u64 [%2 + 8]
            br.eq %3, 0 ? b4 : b3
        b3:
            %4 = load.s64 [%2 + 0]
            \(compare)
        b4:
            store.64 [%2 + 0] = %1
            store.64 [%2 + 8] = 1
            jump b5
        b5:
            ret 0
        b6:
            ret 1

        """
    }

    /// A read-only (tracing) context's field read in two blocks is read
    /// once, at entry; a packet's context (no `context: read-only`) is not.
    func testHoistParamsReadsAReadOnlyContextFieldOnce() {
        let body = """
            b0:
                %1 = load.s64 [%0 + 16]
                br.slt %1, 0 ? b2 : b1
            b1:
                %2 = call 14()
                %3 = load.s64 [%0 + 16]
                %4 = add %3, %2
                ret %4
            b2:
                ret 0

            """
        assertPass(input: "function f(ctx: %0):\ncontext: read-only\n" + body, pass: "hoist-params", expected: """
            function f(ctx: %0):
            context: read-only
            b0:
                %5 = load.s64 [%0 + 16]
                %1 = %5
                br.slt %1, 0 ? b2 : b1
            b1:
                %2 = call 14()
                %3 = %5
                %4 = add %3, %2
                ret %4
            b2:
                ret 0

            """)
        assertUnchanged(input: "function f(ctx: %0):\n" + body, pass: "hoist-params")
    }
}
