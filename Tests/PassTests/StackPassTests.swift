import XCTest
@testable import InfraredCompiler

/// pack-stack: stack objects never live together share bytes.
final class StackPassTests: XCTestCase {
    /// Two map keys used one after the other take the same 8 bytes; the
    /// second key and the value are live together (one update reads both)
    /// and stay apart.
    func testObjectsLiveApartShareBytes() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8, fp-16 size 4 align 8, fp-24 size 8 align 8
        b0:
            %1 = &map c
            store.32 [fp-8] = 1
            %2 = fp-8
            %3 = call 1(%1, %2)
            store.32 [fp-16] = 2
            %4 = fp-16
            store.64 [fp-24] = %3
            %5 = fp-24
            %6 = call 2(%1, %4, %5, 0)
            ret 0

        """, pass: "pack-stack", expected: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8, fp-8 size 4 align 8, fp-16 size 8 align 8
        b0:
            %1 = &map c
            store.32 [fp-8] = 1
            %2 = fp-8
            %3 = call 1(%1, %2)
            store.32 [fp-8] = 2
            %4 = fp-8
            store.64 [fp-16] = %3
            %5 = fp-16
            %6 = call 2(%1, %4, %5, 0)
            ret 0

        """)
    }

    /// Bytes defined by two narrower stores end the old value as one wide
    /// store does.
    func testARunOfStoresDefinesAnObject() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 8 align 8
        b0:
            %1 = &map c
            store.64 [fp-8] = 7
            %2 = fp-8
            %3 = call 1(%1, %2)
            store.32 [fp-16] = 1
            store.32 [fp-12] = 2
            %4 = fp-16
            %5 = call 1(%1, %4)
            ret 0

        """, pass: "pack-stack", expected: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-8 size 8 align 8
        b0:
            %1 = &map c
            store.64 [fp-8] = 7
            %2 = fp-8
            %3 = call 1(%1, %2)
            store.32 [fp-8] = 1
            store.32 [fp-4] = 2
            %4 = fp-8
            %5 = call 1(%1, %4)
            ret 0

        """)
    }

    /// An object read at a loop's top and written only before the loop is
    /// live through the whole body (the next trip reads it again): the
    /// body's other object keeps apart from it, though it is written after
    /// the first one's last read in program order.
    func testALoopCarriedObjectKeepsItsBytes() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 8 align 8
        b0:
            store.64 [fp-8] = 0
            jump b1
        b1:
            %1 = load.u64 [fp-8]
            store.64 [fp-16] = %1
            %2 = load.u64 [fp-16]
            %3 = add %2, 1
            br.ult %3, 10 ? b1 : b2
        b2:
            ret 0

        """, pass: "pack-stack")
    }

    /// Written again at the loop's bottom before the next trip reads it, the
    /// object is dead between its read and that store: the other object
    /// takes its bytes there.
    func testAnObjectRedefinedInTheLoopIsDeadInBetween() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 8 align 8
        b0:
            store.64 [fp-8] = 0
            jump b1
        b1:
            %1 = load.u64 [fp-8]
            store.64 [fp-16] = %1
            %2 = load.u64 [fp-16]
            %3 = add %2, 1
            store.64 [fp-8] = %3
            br.ult %3, 10 ? b1 : b2
        b2:
            ret 0

        """, pass: "pack-stack", expected: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-8 size 8 align 8
        b0:
            store.64 [fp-8] = 0
            jump b1
        b1:
            %1 = load.u64 [fp-8]
            store.64 [fp-8] = %1
            %2 = load.u64 [fp-8]
            %3 = add %2, 1
            store.64 [fp-8] = %3
            br.ult %3, 10 ? b1 : b2
        b2:
            ret 0

        """)
    }

    /// A pointer to the stack stored to memory: its uses are out of sight,
    /// so the layout stays as the lowering made it.
    func testAnEscapingPointerLeavesTheLayout() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 8 align 8
        b0:
            store.64 [fp-8] = 1
            %1 = fp-8
            store.64 [%0 + 0] = %1
            store.64 [fp-16] = 2
            %2 = load.u64 [fp-16]
            ret %2

        """, pass: "pack-stack")
    }

    /// The pointer escapes through a register that becomes one only two
    /// copies later in block order (around the loop): the walk over the
    /// blocks is repeated until no register read without an object gets
    /// one afterwards, so the third walk sees the store and the layout stays.
    /// Without the store, fp-16 (used after the loop only) shares fp-8's bytes.
    func testAPointerEscapingAroundALoopLeavesTheLayout() {
        func function(escaping: Bool, after: String) -> String {
            """
            function f(ctx: %0):
            stack: fp-8 size 8 align 8, \(after) size 8 align 8
            b0:
                jump b1
            b1:
            \(escaping ? "    store.64 [%0 + 0] = %2\n" : "")    %2 = %3
                %3 = fp-8
                store.64 [fp-8] = 1
                %4 = load.u64 [fp-8]
                br.ult %4, 10 ? b1 : b2
            b2:
                store.64 [\(after)] = 2
                %5 = load.u64 [\(after)]
                ret %5

            """
        }
        assertUnchanged(input: function(escaping: true, after: "fp-16"), pass: "pack-stack")
        assertPass(input: function(escaping: false, after: "fp-16"), pass: "pack-stack",
                   expected: function(escaping: false, after: "fp-8"))
    }

    /// Loads and stores through a register whose one definition is a frame
    /// address address the frame directly.
    func testFoldFrameAddressesRewritesLoadsAndStores() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            %1 = fp-8
            store.8 [%1 + 1] = 0
            %2 = call 26(%0, 23, %1, 1)
            br.ne %2, 0 ? b2 : b1
        b1:
            %3 = load.u8 [%1 + 0]
            ret %3
        b2:
            ret 0

        """, pass: "fold-frame-addresses", expected: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            %1 = fp-8
            store.8 [fp-7] = 0
            %2 = call 26(%0, 23, %1, 1)
            br.ne %2, 0 ? b2 : b1
        b1:
            %3 = load.u8 [fp-8]
            ret %3
        b2:
            ret 0

        """)
    }

    /// A register that holds a frame address on one path and something else
    /// on another (two definitions) is left alone.
    func testFoldFrameAddressesLeavesARegisterDefinedTwice() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            store.64 [fp-8] = 0
            %2 = load.u32 [%0 + 0]
            br.ne %2, 0 ? b1 : b2
        b1:
            %1 = fp-8
            jump b3
        b2:
            %1 = %0
            jump b3
        b3:
            %3 = load.u8 [%1 + 0]
            ret %3

        """, pass: "fold-frame-addresses")
    }
}
