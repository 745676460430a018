import XCTest
@testable import InfraredCompiler

/// The passes of Forwarding.swift: reuse-invariant-calls, forward-probe-reads.
/// Helpers by id: 1 map_lookup_elem, 5 ktime_get_ns, 14 get_current_pid_tgid,
/// 113 probe_read_kernel.
final class ForwardingPassTests: XCTestCase {
    /// `get_current_pid_tgid` again where the first call dominates: its result.
    func testReuseInvariantCallsWhereTheFirstDominates() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            br.eq %0, 0 ? b2 : b1
        b1:
            %2 = call 14()
            %3 = call 14()
            %4 = add %2, %3
            ret %4
        b2:
            ret %1

        """, pass: "reuse-invariant-calls", expected: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            br.eq %0, 0 ? b2 : b1
        b1:
            %2 = %1
            %3 = %1
            %4 = add %2, %3
            ret %4
        b2:
            ret %1

        """)
    }

    /// A call on one branch does not dominate the one after the join; a
    /// clock (`ktime_get_ns`) changes between calls; a result register
    /// written again does not hold the result everywhere.
    func testReuseInvariantCallsLeavesCallsNotDominatedOrNotInvariant() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %5 = call 5()
            br.eq %0, 0 ? b2 : b1
        b1:
            %1 = call 14()
            jump b2
        b2:
            %2 = call 14()
            %6 = call 5()
            %7 = sub %6, %5
            %4 = add %2, %7
            ret %4

        """, pass: "reuse-invariant-calls")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = call 14()
            %1 = add %1, 1
            %2 = call 14()
            %3 = add %1, %2
            ret %3

        """, pass: "reuse-invariant-calls")
    }

    /// A value probe-read into a scratch slot and only copied into the map
    /// key's slot is read into the key's slot.
    func testForwardProbeReadsIntoTheKeySlot() {
        assertPass(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = fp-16
            call 113(%2, 4, %1)
            %3 = load.u32 [fp-16]
            store.32 [fp-24] = %3
            %4 = fp-24
            %5 = &map counts
            %6 = call 1(%5, %4)
            ret 0

        """, pass: "forward-probe-reads", expected: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = fp-24
            call 113(%2, 4, %1)
            %4 = fp-24
            %5 = &map counts
            %6 = call 1(%5, %4)
            ret 0

        """)
    }

    /// The scratch slot is read again, the value read is used twice, or the
    /// copy is wider than the read: the copy stays.
    func testForwardProbeReadsLeavesAScratchSlotStillUsed() {
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = fp-16
            call 113(%2, 4, %1)
            %3 = load.u32 [fp-16]
            store.32 [fp-24] = %3
            %7 = load.u32 [fp-16]
            ret %7

        """, pass: "forward-probe-reads")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = fp-16
            call 113(%2, 4, %1)
            %3 = load.u32 [fp-16]
            store.32 [fp-24] = %3
            ret %3

        """, pass: "forward-probe-reads")
        assertUnchanged(input: """
        function f(ctx: %0):
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = fp-16
            call 113(%2, 4, %1)
            %3 = load.u32 [fp-16]
            store.64 [fp-24] = %3
            ret 0

        """, pass: "forward-probe-reads")
    }

    /// A probe read of 4 bytes at a CO-RE offset from a BTF pointer argument
    /// (`ctx.p.pid` in tp_btf) becomes a load stored into the buffer.
    func testLoadBTFArgumentsTurnsAProbeReadIntoALoad() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8
        btf pointers: 0
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = core(1264, reloc 0)
            %3 = add %1, %2
            %4 = fp-8
            call 113(%4, 4, %3)
            %5 = load.u32 [fp-8]
            ret %5

        """, pass: "load-btf-arguments", expected: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8
        btf pointers: 0
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = core(1264, reloc 0)
            %3 = add %1, %2
            %4 = fp-8
            %5 = load.u32 [%3 + 0]
            ret %5

        """)
        // The buffer is read again later: the load stores into it.
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8
        btf pointers: 0
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = core(1264, reloc 0)
            %3 = add %1, %2
            %4 = fp-8
            call 113(%4, 4, %3)
            %5 = load.u32 [fp-8]
            %6 = load.u32 [fp-8]
            %7 = add %5, %6
            ret %7

        """, pass: "load-btf-arguments", expected: """
        function f(ctx: %0):
        stack: fp-8 size 4 align 8
        btf pointers: 0
        b0:
            %1 = load.u64 [%0 + 0]
            %2 = core(1264, reloc 0)
            %3 = add %1, %2
            %4 = fp-8
            %8 = load.u32 [%3 + 0]
            store.32 [%4 + 0] = %8
            %5 = load.u32 [fp-8]
            %6 = load.u32 [fp-8]
            %7 = add %5, %6
            ret %7

        """)
    }

    /// Left alone: a pointer read out of the argument (not known to be a
    /// BTF pointer), an argument not listed as one, and a variable size.
    func testLoadBTFArgumentsLeavesOtherReads() {
        for (header, body) in [("btf pointers: 0\n", "    %1 = load.u64 [%0 + 0]\n    %6 = load.u64 [%1 + 8]\n    %3 = add %6, 4\n    call 113(%4, 4, %3)\n"),
                               ("btf pointers: 8\n", "    %1 = load.u64 [%0 + 0]\n    %3 = add %1, 4\n    call 113(%4, 4, %3)\n"),
                               ("btf pointers: 0\n", "    %1 = load.u64 [%0 + 0]\n    %3 = add %1, 4\n    %7 = load.u32 [%0 + 8]\n    call 113(%4, %7, %3)\n")] {
            assertUnchanged(input: """
            function f(ctx: %0):
            stack: fp-8 size 8 align 8
            \(header)b0:
                %4 = fp-8
            \(body)    %5 = load.u32 [fp-8]
                ret %5

            """, pass: "load-btf-arguments")
        }
    }

    /// XDP: `data + 34 <= data_end` proven (the branch's else edge), so the
    /// 2-byte read at data + 12 (a CO-RE offset: its local value) and the
    /// byte at data + 14 + 9 are loads from `data`; the check becomes
    /// unsigned, the form the verifier learns a packet range from.
    func testLoadPacketReadsWhatABoundsCheckCovers() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 2 align 8, fp-16 size 1 align 8
        packet: data 0, end 4
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = load.u32 [%0 + 4]
            %3 = add %1, 34
            br.sgt %3, %2 ? b1 : b2
        b1:
            ret 2
        b2:
            %4 = core(12, reloc 0)
            %5 = add %1, %4
            %6 = fp-8
            call 113(%6, 2, %5)
            %7 = load.u16 [fp-8]
            %8 = add %1, 14
            %9 = add %8, 9
            %10 = fp-16
            call 113(%10, 1, %9)
            %11 = load.u8 [fp-16]
            %12 = add %7, %11
            ret %12

        """, pass: "load-packet", expected: """
        function f(ctx: %0):
        stack: fp-8 size 2 align 8, fp-16 size 1 align 8
        packet: data 0, end 4
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = load.u32 [%0 + 4]
            %3 = add %1, 34
            br.ugt %3, %2 ? b1 : b2
        b1:
            ret 2
        b2:
            %4 = core(12, reloc 0)
            %5 = add %1, %4
            %6 = fp-8
            %7 = load.u16 [%1 + 12]
            %8 = add %1, 14
            %9 = add %8, 9
            %10 = fp-16
            %11 = load.u8 [%1 + 23]
            %12 = add %7, %11
            ret %12

        """)
    }

    /// Left alone: a read past the checked length (data + 33, 2 bytes, of
    /// 34), a read on the edge where the check failed, a read in a block
    /// the checked edge does not dominate (b3 is also reached from b0), and
    /// a program without packet fields.
    func testLoadPacketLeavesReadsNoCheckCovers() {
        for (header, read) in [("packet: data 0, end 4\n", "%5 = add %1, 33\n    call 113(%6, 2, %5)"),
                               ("", "%5 = add %1, 12\n    call 113(%6, 2, %5)")] {
            assertUnchanged(input: """
            function f(ctx: %0):
            stack: fp-8 size 2 align 8
            \(header)b0:
                %1 = load.u32 [%0 + 0]
                %2 = load.u32 [%0 + 4]
                %3 = add %1, 34
                br.ule %3, %2 ? b2 : b1
            b1:
                ret 2
            b2:
                %6 = fp-8
                \(read)
                %7 = load.u16 [fp-8]
                ret %7

            """, pass: "load-packet")
        }
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 2 align 8
        packet: data 0, end 4
        b0:
            %1 = load.u32 [%0 + 0]
            %2 = load.u32 [%0 + 4]
            %3 = add %1, 34
            br.ule %3, %2 ? b1 : b2
        b1:
            jump b3
        b2:
            jump b3
        b3:
            %8 = fp-8
            %9 = add %1, 12
            call 113(%8, 2, %9)
            %10 = load.u16 [fp-8]
            ret %10

        """, pass: "load-packet")
    }

    /// tc: `ctx.data` read again after the check (no helper moves the
    /// packet) is the checked read's value, so its bytes are loads too; a
    /// helper that may move the packet (skb_pull_data, 39) leaves all as is.
    func testLoadPacketSharesRereadsOfData() {
        assertPass(input: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8
        packet: data 76, end 80
        b0:
            %1 = load.u32 [%0 + 76]
            %2 = add %1, 64
            %3 = load.u32 [%0 + 80]
            br.ule %2, %3 ? b2 : b1
        b1:
            ret 0
        b2:
            %4 = load.u32 [%0 + 76]
            %5 = add %4, 10
            %6 = fp-8
            call 113(%6, 1, %5)
            %7 = load.u8 [fp-8]
            ret %7

        """, pass: "load-packet", expected: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8
        packet: data 76, end 80
        b0:
            %1 = load.u32 [%0 + 76]
            %2 = add %1, 64
            %3 = load.u32 [%0 + 80]
            br.ule %2, %3 ? b2 : b1
        b1:
            ret 0
        b2:
            %4 = %1
            %5 = add %4, 10
            %6 = fp-8
            %7 = load.u8 [%1 + 10]
            ret %7

        """)
        assertUnchanged(input: """
        function f(ctx: %0):
        stack: fp-8 size 1 align 8
        packet: data 76, end 80
        b0:
            %1 = load.u32 [%0 + 76]
            %2 = add %1, 64
            %3 = load.u32 [%0 + 80]
            br.ule %2, %3 ? b2 : b1
        b1:
            ret 0
        b2:
            %8 = call 39(%0, 0)
            %4 = load.u32 [%0 + 76]
            %5 = add %4, 10
            %6 = fp-8
            call 113(%6, 1, %5)
            %7 = load.u8 [fp-8]
            ret %7

        """, pass: "load-packet")
    }
}
