import XCTest
@testable import InfraredCompiler

/// The passes of StackStores.swift: reuse-comm, dead-stores.
/// Helpers by id: 1 map_lookup_elem, 2 map_update_elem, 16 get_current_comm,
/// 113 probe_read_kernel.
final class StackStoresPassTests: XCTestCase {
    /// Two keys filled with the task's name (`@a[comm]`, `@b[comm]`, their
    /// zeroing already gone: dead-stores runs first): the second fill,
    /// dominated by the first, goes, and the second lookup reads the first key.
    func testReuseCommWhereTheFirstFillDominates() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            %1 = fp-16
            call 16(%1, 16)
            %2 = &map a
            %3 = fp-16
            %4 = call 1(%2, %3)
            br.ne %4, 0 ? b1 : b2
        b1:
            jump b2
        b2:
            %5 = fp-32
            call 16(%5, 16)
            %6 = &map b
            %7 = fp-32
            %8 = call 1(%6, %7)
            %9 = load.u8 [fp-31]
            ret %9

        """, pass: "reuse-comm", expected: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            %1 = fp-16
            call 16(%1, 16)
            %2 = &map a
            %3 = fp-16
            %4 = call 1(%2, %3)
            br.ne %4, 0 ? b1 : b2
        b1:
            jump b2
        b2:
            %5 = fp-16
            %6 = &map b
            %7 = fp-16
            %8 = call 1(%6, %7)
            %9 = load.u8 [fp-15]
            ret %9

        """)
    }

    /// Left alone: a second fill the first does not dominate (each arm fills
    /// its own key), and a key also written otherwise (`[fp-24]` stored
    /// after its fill: `@b[comm, x]`-style).
    func testReuseCommLeavesFillsNotDominatedOrKeysWrittenOtherwise() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            br.ne %0, 0 ? b1 : b2
        b1:
            %1 = fp-16
            call 16(%1, 16)
            %2 = &map a
            %3 = call 1(%2, %1)
            ret 0
        b2:
            %5 = fp-32
            call 16(%5, 16)
            %6 = &map b
            %8 = call 1(%6, %5)
            ret 0

        """, pass: "reuse-comm")
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            %1 = fp-16
            call 16(%1, 16)
            %2 = &map a
            %3 = call 1(%2, %1)
            %5 = fp-32
            call 16(%5, 16)
            store.8 [fp-24] = 7
            %6 = &map b
            %8 = call 1(%6, %5)
            ret 0

        """, pass: "reuse-comm")
    }

    /// An insert value zeroed, then filled: the zeroing stores go. A key
    /// zeroed before get_current_comm writes all of it: the zeroing goes.
    func testDeadStoresGoWhenOverwrittenBeforeAnyRead() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            store.64 [fp-16] = 0
            store.64 [fp-8] = 0
            %1 = fp-16
            call 16(%1, 16)
            store.64 [fp-32] = 0
            store.64 [fp-24] = 0
            store.64 [fp-32] = %0
            store.64 [fp-24] = 1
            %2 = &map a
            %3 = fp-32
            %4 = call 2(%2, %1, %3, 0)
            ret %4

        """, pass: "dead-stores", expected: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8, fp-32 size 16 align 8
        b0:
            %1 = fp-16
            call 16(%1, 16)
            store.64 [fp-32] = %0
            store.64 [fp-24] = 1
            %2 = &map a
            %3 = fp-32
            %4 = call 2(%2, %1, %3, 0)
            ret %4

        """)
    }

    /// Kept: a store read back before the overwrite, a store a helper call
    /// (which may read the stack through a pointer) sits between, a partial
    /// overwrite, and a store at the end of a block (a successor may read it).
    func testDeadStoresKeepStoresThatMayBeRead() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8
        b0:
            store.64 [fp-16] = 0
            %1 = load.u32 [fp-12]
            store.64 [fp-16] = %1
            store.64 [fp-8] = 0
            %2 = &map a
            %3 = fp-16
            %4 = call 1(%2, %3)
            store.64 [fp-8] = 5
            store.64 [fp-16] = 1
            store.32 [fp-16] = %0
            store.32 [fp-8] = 3
            jump b1
        b1:
            %5 = load.u64 [fp-8]
            ret %5

        """, pass: "dead-stores")
    }
}
