import XCTest
@testable import InfraredCompiler

/// The block-local passes of ValueNumbering.swift: value-numbering,
/// fold-linear, narrow-stores, unsigned-loads.
final class LocalPassTests: XCTestCase {
    /// A field read twice and a commutative operation computed twice (its
    /// operands swapped) are computed once.
    func testValueNumberingReusesAnEqualValue() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            %2 = load.u32 [%0 + 8]
            %3 = add %1, %2
            %4 = add %2, %1
            %5 = mul %3, %4
            ret %5

        """, pass: "value-numbering", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            %2 = %1
            %3 = add %1, %2
            %4 = %3
            %5 = mul %3, %4
            ret %5

        """)
    }

    /// A store between two reads may change the memory, and a register
    /// written again between two computations is another value: both stay.
    func testValueNumberingLeavesReadsAcrossAStore() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            store.32 [%0 + 8] = 5
            %2 = load.u32 [%0 + 8]
            %3 = add %1, 1
            %1 = load.u32 [%0 + 12]
            %4 = add %1, 1
            %5 = add %3, %4
            %6 = add %5, %2
            ret %6

        """, pass: "value-numbering")
    }

    /// `(x + 3) - 3` is `x`; `(x << 3) & 7` is 0; so their sum is `x`.
    func testFoldLinearRecomputesFromOneTerm() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = add %1, 3
            %3 = sub %2, 3
            %4 = shl %1, 3
            %5 = and %4, 7
            %6 = add %3, %5
            ret %6

        """, pass: "fold-linear", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = add %1, 3
            %3 = %1
            %4 = shl %1, 3
            %5 = 0
            %6 = %1
            ret %6

        """)
    }

    /// `5 * (x + 3)` would take two instructions (`x * 5 + 15`), which pays
    /// only when `x + 3` dies; it is stored too, so the chain stays. A
    /// product of two unknowns is not linear.
    func testFoldLinearLeavesAChainStillRead() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = add %1, 3
            %3 = mul %2, 5
            store.64 [fp-8] = %2
            %4 = load.u64 [%0 + 8]
            %5 = mul %3, %4
            ret %5

        """, pass: "fold-linear")
    }

    /// A 4-byte store of `x & 0xffffffff` stores `x`.
    func testNarrowStoresDropsAMaskTheStoreImplies() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            %2 = and %1, 4294967295
            store.32 [fp-8] = %2
            %3 = fp-16
            store.16 [%3 + 0] = %2
            ret 0

        """, pass: "narrow-stores", expected: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            %2 = and %1, 4294967295
            store.32 [fp-8] = %1
            %3 = fp-16
            store.16 [%3 + 0] = %1
            ret 0

        """)
    }

    /// An 8-byte store keeps the mask (it stores the upper bits, zeroed), a
    /// mask narrower than the store changes the stored bits, and the source
    /// written again between mask and store is another value.
    func testNarrowStoresKeepsMasksThatMatter() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            %2 = and %1, 4294967295
            store.64 [fp-8] = %2
            %3 = and %1, 255
            store.32 [fp-16] = %3
            %1 = call 14()
            store.32 [fp-24] = %2
            ret 0

        """, pass: "narrow-stores")
    }

    /// A signed 4-byte field only stored into 4 bytes is loaded unsigned:
    /// the sign extension is never seen.
    func testUnsignedLoadsForAValueOnlyStored() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.s32 [%0 + 4]
            store.32 [fp-8] = %1
            %2 = load.s16 [fp-16]
            %3 = fp-24
            store.8 [%3 + 0] = %2
            ret 0

        """, pass: "unsigned-loads", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 4]
            store.32 [fp-8] = %1
            %2 = load.u16 [fp-16]
            %3 = fp-24
            store.8 [%3 + 0] = %2
            ret 0

        """)
    }

    /// Equality tests see only the low bytes: a signed field tested against
    /// a constant its range holds (the constant becomes its low bytes:
    /// -2 as a u16 is 65534) or against another signed field of its size
    /// (both turn unsigned) is loaded unsigned, in a branch or a `set`.
    func testUnsignedLoadsForEqualityTests() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.s32 [%0 + 8]
            %2 = load.s32 [%0 + 12]
            %3 = load.s16 [%0 + 16]
            %4 = set.eq %3, -2
            store.32 [fp-8] = %1
            br.ne %1, %2 ? b1 : b2
        b1:
            br.eq %3, 7 ? b2 : b3
        b2:
            ret %4
        b3:
            ret 0

        """, pass: "unsigned-loads", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 8]
            %2 = load.u32 [%0 + 12]
            %3 = load.u16 [%0 + 16]
            %4 = set.eq %3, 65534
            store.32 [fp-8] = %1
            br.ne %1, %2 ? b1 : b2
        b1:
            br.eq %3, 7 ? b2 : b3
        b2:
            ret %4
        b3:
            ret 0

        """)
    }

    /// Left signed: a constant outside the field's range (an s8 is never
    /// 200, a u8 can be), an order test, and two fields compared where one
    /// is also read by arithmetic (so neither turns unsigned, or the test
    /// would compare a sign-extended value with a zero-extended one).
    func testUnsignedLoadsLeavesEqualityTestsTheSignDecides() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.s8 [%0 + 8]
            %2 = load.s32 [%0 + 12]
            %3 = load.s32 [%0 + 16]
            %4 = load.s16 [%0 + 20]
            %5 = add %3, 1
            store.32 [fp-8] = %5
            br.eq %1, 200 ? b1 : b2
        b1:
            br.ne %2, %3 ? b2 : b3
        b2:
            br.slt %4, 0 ? b3 : b4
        b3:
            ret 1
        b4:
            ret 0

        """, pass: "unsigned-loads")
    }

    /// Stored wider than loaded (the sign bits are stored), read by
    /// arithmetic, or returned: the load stays signed.
    func testUnsignedLoadsLeavesValuesWhoseSignIsSeen() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.s32 [%0 + 4]
            store.64 [fp-8] = %1
            %2 = load.s16 [%0 + 8]
            store.16 [fp-16] = %2
            %3 = add %2, 1
            store.16 [fp-24] = %3
            %4 = load.s8 [fp-32]
            ret %4

        """, pass: "unsigned-loads")
    }

    /// `h ^ (h >> 7)` with `h` still needed after and the shift dying: the
    /// operands swap so the xor lands in the shift's register, no copy of `h`.
    func testCommuteSwapsWhenTheRightOperandDies() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = lshr %1, 7
            %3 = xor %1, %2
            %4 = add %3, %1
            ret %4

        """, pass: "commute", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = lshr %1, 7
            %3 = xor %2, %1
            %4 = add %3, %1
            ret %4

        """)
    }

    /// Left alone: the left operand dies (the copy coalesces already), a
    /// non-commutative op, and a left operand that is the destination.
    func testCommuteLeavesOrdersThatNeedNoCopy() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = load.u64 [%0 + 8]
            %3 = sub %1, %2
            %4 = or %3, %1
            %1 = add %1, %4
            ret %1

        """, pass: "commute")
    }
}
