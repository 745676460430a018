import XCTest
import DifferentialSupport
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

    /// `key = task.pid; m[key] = v` after pack-stack gave the key the read
    /// buffer's bytes: the key's store writes back the value just loaded
    /// from them, in the block after the test and in the same block, and
    /// goes; so does a store in a block both of whose ways in leave the
    /// bytes alone.
    func testRedundantStoresOfLoadedValuesGo() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            %1 = fp-8
            call 113(%1, 4, %0)
            %2 = load.u32 [fp-8]
            br.eq %2, 0 ? b2 : b1
        b1:
            store.32 [fp-8] = %2
            %3 = &map m
            %4 = call 1(%3, %1)
            jump b3
        b2:
            %5 = load.u16 [fp-8]
            %6 = add %5, 1
            store.16 [fp-4] = %6
            store.16 [fp-8] = %5
            jump b3
        b3:
            store.32 [fp-8] = %2
            %7 = &map m
            %8 = call 1(%7, %1)
            ret %8

        """, pass: "redundant-stores", expected: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            %1 = fp-8
            call 113(%1, 4, %0)
            %2 = load.u32 [fp-8]
            br.eq %2, 0 ? b2 : b1
        b1:
            %3 = &map m
            %4 = call 1(%3, %1)
            jump b3
        b2:
            %5 = load.u16 [fp-8]
            %6 = add %5, 1
            store.16 [fp-4] = %6
            jump b3
        b3:
            %7 = &map m
            %8 = call 1(%7, %1)
            ret %8

        """)
    }

    /// `@sum[uid] += n; @max[uid].max(n)`: the key stored once serves the
    /// second lookup (map helpers only read their key), across the first
    /// one's arms, an add into its value (a helper's result, never the
    /// stack) and one into the fault counter (a global); a constant stored
    /// again likewise.
    func testRedundantStoresOfAKeyAlreadyThereGo() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 4 align 8
        b0:
            %1 = fp-8
            %2 = call 15()
            store.64 [fp-8] = %2
            store.32 [fp-16] = 7
            %3 = &map sum
            %4 = call 1(%3, %1)
            br.eq %4, 0 ? b2 : b1
        b1:
            atomic.add.64 [%4 + 0] += %0
            jump b3
        b2:
            %9 = &var __infrared_faults
            %10 = 1
            atomic.add.64 [%9 + 0] += %10
            jump b3
        b3:
            store.64 [fp-8] = %2
            store.32 [fp-16] = 7
            %5 = &map max
            %6 = call 1(%5, %1)
            ret %6

        """, pass: "redundant-stores", expected: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-16 size 4 align 8
        b0:
            %1 = fp-8
            %2 = call 15()
            store.64 [fp-8] = %2
            store.32 [fp-16] = 7
            %3 = &map sum
            %4 = call 1(%3, %1)
            br.eq %4, 0 ? b2 : b1
        b1:
            atomic.add.64 [%4 + 0] += %0
            jump b3
        b2:
            %9 = &var __infrared_faults
            %10 = 1
            atomic.add.64 [%9 + 0] += %10
            jump b3
        b3:
            %5 = &map max
            %6 = call 1(%5, %1)
            ret %6

        """)
    }

    /// Kept: a store of other bytes than those loaded (fp-4, or 2 of 4),
    /// one after a store to the loaded bytes, after a probe read (a helper
    /// may write the frame through a pointer), after a store through a
    /// frame pointer, after the register took a new value, and where one
    /// way in wrote the bytes (b1) or went round a loop that writes them.
    func testRedundantStoresStayWhenTheBytesMayHaveChanged() {
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8
        b0:
            %1 = fp-8
            %2 = load.u32 [fp-8]
            store.32 [fp-4] = %2
            store.16 [fp-8] = %2
            store.32 [fp-8] = 5
            store.32 [fp-8] = %2
            %3 = load.u32 [fp-8]
            call 113(%1, 4, %0)
            store.32 [fp-8] = %3
            %4 = load.u32 [fp-8]
            store.32 [%1 + 0] = 7
            store.32 [fp-8] = %4
            %4 = add %4, 1
            store.32 [fp-8] = %4
            %5 = load.u32 [fp-8]
            br.eq %5, 0 ? b1 : b2
        b1:
            store.32 [fp-8] = 9
            jump b2
        b2:
            store.32 [fp-8] = %5
            jump b3
        b3:
            store.32 [fp-8] = %5
            %6 = &map m
            %7 = call 1(%6, %1)
            store.32 [fp-8] = 3
            br.eq %7, 0 ? b3 : b4
        b4:
            ret %7

        """, pass: "redundant-stores")
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
    /// (which reads the object its argument points into) sits between, a
    /// partial overwrite, and stores at the end of a block a successor reads.
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
            %6 = load.u64 [fp-16]
            %7 = add %5, %6
            ret %7

        """, pass: "dead-stores")
        // Objects deeper than 512 bytes (before pack-stack shares their
        // bytes): a key read by a lookup is kept there too.
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 8 align 8, fp-600 size 4 align 8
        b0:
            store.32 [fp-600] = 7
            %1 = &map m
            %2 = fp-600
            %3 = call 1(%1, %2)
            ret %3

        """, pass: "dead-stores")
        // A key address set twice (no one frame address): the helper
        // reading it reads the store.
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8
        b0:
            store.8 [fp-8] = 3
            %1 = fp-8
            %2 = &map h
            call 3(%2, %1)
            store.8 [fp-8] = 3
            %1 = fp-8
            call 3(%2, %1)
            ret 0

        """, pass: "dead-stores")
        // A load through a pointer may read the stack once a frame address
        // has left its register (here: copied and offset).
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-16 size 16 align 8
        b0:
            store.64 [fp-16] = 0
            %1 = fp-16
            %2 = add %1, 8
            br.eq %0, 0 ? b1 : b2
        b1:
            %3 = load.u64 [%2 + 0]
            ret %3
        b2:
            ret 0

        """, pass: "dead-stores")
    }

    /// `h = Hdr.new` zeroed at entry, then filled by skb_load_bytes on the
    /// path that reads it (the kernel writes the buffer whole, zeroing it on
    /// failure); the other path never reads it, and a load through a map
    /// value's pointer cannot read the stack (no stack address escapes).
    /// A probe read's buffer, zeroed and then read into, likewise.
    func testDeadStoresSeeAcrossBlocksAndFullWriters() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8, fp-16 size 8 align 8
        b0:
            store.8 [fp-8] = 0
            store.64 [fp-16] = 0
            %1 = load.u32 [%0 + 16]
            br.eq %1, 8 ? b1 : b2
        b1:
            %2 = fp-8
            %3 = call 26(%0, 23, %2, 1)
            %4 = load.u8 [fp-8]
            %5 = fp-16
            call 113(%5, 8, %4)
            %6 = load.u64 [fp-16]
            ret %6
        b2:
            %7 = &map m
            %8 = load.u64 [%7 + 0]
            ret %8

        """, pass: "dead-stores", expected: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8, fp-16 size 8 align 8
        b0:
            %1 = load.u32 [%0 + 16]
            br.eq %1, 8 ? b1 : b2
        b1:
            %2 = fp-8
            %3 = call 26(%0, 23, %2, 1)
            %4 = load.u8 [fp-8]
            %5 = fp-16
            call 113(%5, 8, %4)
            %6 = load.u64 [fp-16]
            ret %6
        b2:
            %7 = &map m
            %8 = load.u64 [%7 + 0]
            ret %8

        """)
    }
}

/// dead-stores' sets of stack bytes (ranges that neither overlap nor touch)
/// against a plain set of byte indices, over random operations: the sweep's
/// fixed point relies on equal sets comparing equal.
final class StackBytesTests: XCTestCase {
    func testRangesAgreeWithASetOfBytes() {
        var rng = SplitMix64(seed: 0x57AC_B17E)
        var checked = 0
        for depth in [8, 64, 100, 512, 700] {
            let limit = (depth + 63) / 64 * 64
            // Byte fp+o (o < 0) is index -o-1; indices at or past the limit are never live.
            func indices(_ o: Int, _ n: Int) -> Set<Int> { Set((-(o + n) ..< -o).filter { $0 >= 0 && $0 < limit }) }
            func randomRange() -> (Int, Int) {
                let o = -Int(rng.next() % UInt64(depth + 80)) - 1 + Int(rng.next() % 8)   // a few past either end
                return (o, Int(rng.next() % 24))
            }
            var sets = [(StackBytes(depth: depth), Set<Int>()), (StackBytes(depth: depth, all: true), Set(0..<limit))]
            for _ in 0..<4000 {
                let i = Int(rng.next() % UInt64(sets.count))
                var (s, model) = sets[i]
                switch rng.next() % 5 {
                case 0, 1:
                    let (o, n) = randomRange()
                    s.set(o, n, true); model.formUnion(indices(o, n))
                case 2:
                    let (o, n) = randomRange()
                    s.set(o, n, false); model.subtract(indices(o, n))
                case 3:
                    let (other, otherModel) = sets[Int(rng.next() % UInt64(sets.count))]
                    s.formUnion(other); model.formUnion(otherModel)
                default:
                    if sets.count < 6 { sets.append((StackBytes(depth: depth), [])) }
                }
                sets[i] = (s, model)
                for _ in 0..<4 {
                    let (o, n) = randomRange()
                    XCTAssertEqual(s.any(o, n), !model.isDisjoint(with: indices(o, n)), "depth \(depth): any(\(o), \(n))")
                    checked += 1
                }
                for (t, tModel) in sets { XCTAssertEqual(s == t, model == tModel, "depth \(depth): equality") }
            }
        }
        XCTAssertEqual(checked, 5 * 4000 * 4)
    }
}
