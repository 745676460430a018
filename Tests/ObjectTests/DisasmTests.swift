import BPF
import Foundation
@testable import InfraredObject
import XCTest

/// `Disassembler` against the real thing: objects compiled by clang-14 and
/// random instruction streams assembled by it, listed by us and by
/// `llvm-objdump-14 -d -r`, must agree line for line — addresses, bytes,
/// instruction text, branch-target symbols (`<LBB0_3>`, compared as printed,
/// not stripped), relocation lines, `...` zero runs and data dumps.
///
/// The one tolerated difference: where llvm-objdump-14 prints `<unknown>` for
/// an encoding the kernel accepts (ST imm stores, MOD, JSET, non-add 32-bit
/// atomics without alu32), we print later LLVM's spelling; the comparison
/// accepts that line only if our decoder marks that very instruction as such
/// an extension. Source lines (`; …`) are ours alone and are checked against
/// the C sources instead.
final class DisasmTests: XCTestCase {
    // MARK: - Corpus parity

    /// Each program is compiled with `clang-14 -O2 -g -target bpf -mcpu=CPU -c` for every CPU listed.
    static let corpus: [(name: String, cpus: [String], source: String)] = [
        ("maps", ["v1", "v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct event { __u32 pid; __u64 ts; char comm[16]; };
            struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } stats SEC(".maps");
            struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
            SEC("tracepoint/syscalls/sys_enter_execve")
            int on_exec(void *ctx) {
              __u32 pid = bpf_get_current_pid_tgid() >> 32;
              __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &pid);
              if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST);
              struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
              if (!e) return 0;
              e->pid = pid; e->ts = bpf_ktime_get_ns();
              bpf_get_current_comm(e->comm, sizeof(e->comm));
              bpf_ringbuf_submit(e, 0);
              __u32 k = 0; __u64 *s = bpf_map_lookup_elem(&stats, &k);
              if (s) *s += 1;
              return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("strings", ["v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            const volatile int filter_pid = 0;
            int counter = 3;
            long hits;
            static const char greeting[] = "hello from rodata";
            SEC("kprobe/do_sys_open")
            int probe_open(void *ctx) {
              int pid = bpf_get_current_pid_tgid() >> 32;
              if (filter_pid && pid != filter_pid) return 0;
              bpf_printk("open by %d", pid);
              bpf_printk("counter %d hits %ld", counter, hits);
              char buf[sizeof(greeting)];
              __builtin_memcpy(buf, greeting, sizeof(greeting));
              bpf_trace_printk(buf, sizeof(buf));
              hits++;
              counter += 2;
              return 0;
            }
            SEC("kretprobe/do_sys_open")
            int probe_ret(void *ctx) { bpf_printk("ret"); bpf_printk("ret %s", "again"); return 1; }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("atomics", ["v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            __u64 a64; __u32 a32; __u64 res[16];
            SEC("xdp") int atom(struct xdp_md *ctx) {
              __u64 v = ctx->data_end - ctx->data; __u32 w = ctx->ingress_ifindex;
              __sync_fetch_and_add(&a64, v); __sync_fetch_and_add(&a32, w);
              res[0] = __sync_fetch_and_add(&a64, v); res[1] = __sync_fetch_and_add(&a32, w);
              __sync_fetch_and_or(&a64, v); __sync_fetch_and_and(&a64, v); __sync_fetch_and_xor(&a64, v);
              res[2] = __sync_fetch_and_or(&a64, v); res[3] = __sync_fetch_and_and(&a64, v); res[4] = __sync_fetch_and_xor(&a64, v);
              __sync_fetch_and_or(&a32, w); __sync_fetch_and_and(&a32, w); __sync_fetch_and_xor(&a32, w);
              res[5] = __sync_fetch_and_or(&a32, w); res[6] = __sync_fetch_and_and(&a32, w); res[7] = __sync_fetch_and_xor(&a32, w);
              res[8] = __sync_lock_test_and_set(&a64, v); res[9] = __sync_lock_test_and_set(&a32, w);
              res[10] = __sync_val_compare_and_swap(&a64, v, 7); res[11] = __sync_val_compare_and_swap(&a32, w, 9);
              return XDP_PASS;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("atomic_add", ["v1", "v2"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            __u64 a64; __u32 a32;
            SEC("xdp") int atom_add(struct xdp_md *ctx) {
              __sync_fetch_and_add(&a64, ctx->data_end - ctx->data); __sync_fetch_and_add(&a32, ctx->ingress_ifindex);
              return XDP_PASS;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("alu", ["v1", "v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            __u64 out[32]; __u32 out32[32];
            SEC("socket") int alu(struct __sk_buff *skb) {
              __u64 a = skb->len, b = skb->protocol | 1; __s64 s = (__s64)skb->mark;
              __u32 x = skb->hash, y = skb->priority | 1; __s32 sx = skb->tc_index;
              out[0] = a + b; out[1] = a - b; out[2] = a * b; out[3] = a / b; out[4] = a % b;
              out[5] = a | b; out[6] = a & b; out[7] = a ^ b; out[8] = a << (b & 63); out[9] = a >> (b & 63);
              out[10] = s >> (b & 63); out[11] = -s; out[12] = a + 123456; out[13] = a * 7; out[14] = a / 3;
              out[15] = a << 5; out[16] = s >> 7; out[17] = a ^ 0xff; out[18] = a & -16; out[19] = 0x1234567890abcdefULL;
              out[20] = -5; out[21] = a - 0x7fffffff;
              out32[0] = x + y; out32[1] = x - y; out32[2] = x * y; out32[3] = x / y; out32[4] = x % y;
              out32[5] = x | y; out32[6] = x & y; out32[7] = x ^ y; out32[8] = x << (y & 31); out32[9] = x >> (y & 31);
              out32[10] = sx >> (y & 31); out32[11] = -sx; out32[12] = x + 77; out32[13] = x * 9; out32[14] = sx >> 3;
              return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("jumps", ["v1", "v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("tc") int jumps(struct __sk_buff *skb) {
              __u64 a = skb->len, b = skb->mark; __s64 sa = (__s64)a - 100, sb = (__s64)b - 50;
              __u32 x = skb->hash, y = skb->priority; __s32 sx = x, sy = y;
              int r = 0;
              if (a == b) r += 1; if (a != 5) r += 2; if (a > b) r += 3; if (a >= 9) r += 4; if (a < b) r += 5; if (a <= 11) r += 6;
              if (sa > sb) r += 7; if (sa >= -3) r += 8; if (sa < sb) r += 9; if (sa <= -30) r += 10; if (a & 4) r += 11; if (a & b) r += 12;
              if (x == y) r += 13; if (x > 17) r += 14; if (sx < sy) r += 15; if (sx >= -2) r += 16; if (x <= y) r += 17; if (x & 8) r += 18;
              for (int i = 0; i < 10; i++) { if (skb->cb[i & 3] == i) r ^= i; }
              switch (skb->protocol) { case 1: r += 100; break; case 2: r += 200; break; case 8: r -= 1; break; default: r = 0; }
              return r;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("calls", ["v1", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            static __noinline __u64 mix(__u64 a, __u64 b) { return (a * 31) ^ b; }
            static __noinline int clamp(int v) { if (v < 0) return 0; if (v > 255) return 255; return v; }
            __noinline int global_helper(int v) { return clamp(v * 2) + 1; }
            struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } jt SEC(".maps");
            SEC("xdp") int entry(struct xdp_md *ctx) {
              __u64 m = mix(ctx->data, ctx->data_end);
              bpf_tail_call(ctx, &jt, 1);
              return global_helper((int)m) & 3;
            }
            SEC("xdp") int entry2(struct xdp_md *ctx) { return clamp(ctx->ingress_ifindex) ? XDP_PASS : XDP_DROP; }
            SEC("tc") int entry3(struct __sk_buff *skb) { return (int)mix(skb->len, skb->mark); }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("endian", ["v2", "v3"], """
            #include <linux/bpf.h>
            #include <linux/if_ether.h>
            #include <linux/ip.h>
            #include <bpf/bpf_helpers.h>
            #include <bpf/bpf_endian.h>
            __u64 sink[8];
            SEC("xdp") int parse(struct xdp_md *ctx) {
              void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
              struct ethhdr *eth = data;
              if ((void *)(eth + 1) > end) return XDP_ABORTED;
              if (eth->h_proto != bpf_htons(ETH_P_IP)) return XDP_PASS;
              struct iphdr *ip = (void *)(eth + 1);
              if ((void *)(ip + 1) > end) return XDP_ABORTED;
              sink[0] = bpf_ntohl(ip->saddr); sink[1] = bpf_ntohs(ip->tot_len); sink[2] = __builtin_bswap64(sink[3]);
              __u64 v = sink[4];
              asm volatile("%0 = le16 %0" : "+r"(v)); asm volatile("%0 = le32 %0" : "+r"(v)); asm volatile("%0 = le64 %0" : "+r"(v));
              sink[5] = v;
              return ip->protocol == 6 ? XDP_DROP : XDP_PASS;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("ldabs", ["v1", "v3"], """
            #include <linux/bpf.h>
            #include <linux/if_ether.h>
            #include <bpf/bpf_helpers.h>
            unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
            unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
            unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");
            SEC("socket") int legacy(struct __sk_buff *skb) {
              unsigned long long proto = load_half(skb, 12);
              if (proto != ETH_P_IP) return 0;
              unsigned long long ihl = load_byte(skb, 14) & 0xf;
              unsigned long long port = load_half(skb, 14 + ihl * 4);
              unsigned long long w = load_word(skb, 26) + load_word(skb, ihl);
              unsigned long long b = load_byte(skb, ihl + 1);
              return port == 53 ? (int)(w + b) : 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("stack", ["v2"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct rec { __u8 a; __u16 b; __u32 c; __u64 d; __s8 e; __s16 f; __s32 g; };
            struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, sizeof(int)); __uint(value_size, sizeof(int)); } perf SEC(".maps");
            SEC("perf_event") int stack(void *ctx) {
              struct rec r = {};
              r.a = 1; r.b = 2; r.c = 3; r.d = 0x100000001ULL; r.e = -1; r.f = -2; r.g = -3;
              volatile __u8 small = r.a + 1; volatile __u16 half = r.b * 3; volatile __s32 neg = -r.g;
              r.d += small + half + neg;
              bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &r, sizeof(r));
              return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("core", ["v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            #include <bpf/bpf_core_read.h>
            struct task_struct { int pid; int tgid; struct task_struct *parent; char comm[16]; } __attribute__((preserve_access_index));
            SEC("kprobe/wake_up_new_task") int core(void *ctx) {
              struct task_struct *t = (void *)bpf_get_current_task();
              int ppid = BPF_CORE_READ(t, parent, pid);
              int tgid = BPF_CORE_READ(t, tgid);
              if (bpf_core_field_exists(t->comm)) bpf_printk("%d %d", ppid, tgid);
              return bpf_core_field_size(t->comm);
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("loops", ["v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            __u32 table[64];
            static int cb(__u32 idx, void *data) { *(__u64 *)data += table[idx & 63]; return 0; }
            SEC("fentry/do_nanosleep") int loops(void *ctx) {
              __u64 sum = 0;
              #pragma unroll
              for (int i = 0; i < 8; i++) sum += table[i];
              for (int i = 8; i < 64; i++) { if (table[i] == 0) break; sum += table[i] * i; }
              bpf_loop(16, cb, &sum, 0);
              table[0] = sum;
              return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("inline_asm", ["v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("raw_tp/sys_enter") int inline_asm(void *ctx) {
              unsigned long long r;
              asm volatile(
                "r1 = 0x7fffffffffffffff ll\\n r2 = -1 ll\\n"
                "r3 = r1\\n r3 s>>= 63\\n r3 = -r3\\n w4 = w3\\n w4 = -w4\\n w4 s>>= 2\\n w4 >>= w3\\n r4 <<= r3\\n"
                "r0 = *(u8 *)(r10 - 1)\\n *(u16 *)(r10 - 2) = r0\\n"
                "if r1 s> r2 goto +1\\n r0 = 0\\n"
                "w5 = 7\\n w5 *= w5\\n w5 /= 3\\n w5 |= 8\\n w5 &= 15\\n w5 ^= 1\\n w5 <<= 2\\n"
                "r0 = *(u16 *)skb[r5]\\n r0 = *(u32 *)skb[4]\\n"
                "%0 = r0\\n" : "=r"(r) :: "r1", "r2", "r3", "r4", "r5", "r0");
              return r;
            }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("sections", ["v2", "v3"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            int g;
            SEC("cgroup/dev") int dev(struct bpf_cgroup_dev_ctx *c) { return c->major == 1 && c->minor < 9; }
            SEC("cgroup_skb/ingress") int ingress(struct __sk_buff *s) { g++; return s->len > 1500 ? 0 : 1; }
            SEC("cgroup_skb/egress") int egress(struct __sk_buff *s) { return 1; }
            SEC("lsm/file_open") int lsm(void *ctx) { return g & 1 ? -1 : 0; }
            SEC("sockops") int on_sockops(struct bpf_sock_ops *o) { if (o->op == BPF_SOCK_OPS_TCP_CONNECT_CB) o->reply = 1; return 1; }
            char LICENSE[] SEC("license") = "GPL";
            """),
        ("minimal", ["v1"], """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }
            SEC("tp/sched/sched_switch") int zero(void *ctx) { return 0; }
            char LICENSE[] SEC("license") = "Dual BSD/GPL";
            """),
    ]

    /// Odd layouts llvm-objdump handles in particular ways: no symbol at the
    /// section start (dummy `<xdp>`), two symbols at one address (the
    /// greatest name wins), a label, runs of zero bytes (skipped in steps of
    /// 4, which can misalign what follows), a data symbol in a text section
    /// (hex dump), an `ld_imm64` cut by the section end and trailing bytes
    /// (one `<unknown>` byte each), an empty text section (left out).
    static let oddLayout = """
        \t.section xdp,"ax",@progbits
        \t.byte 0xb7, 1, 0, 0, 7, 0, 0, 0
        \t.globl zeta
        \t.type zeta,@function
        \t.globl alpha
        \t.type alpha,@function
        zeta:
        alpha:
        \tr1 = 7
        \tgoto +0
        mid:
        \tr0 = 0
        \t.byte 0,0,0,0,0,0,0,0
        \t.byte 0,0,0,0,1,0,0,0
        \texit
        \t.byte 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0
        \tr0 = 1
        \t.byte 0x18, 1, 0, 0, 7, 0, 0, 0
        \t.byte 0xb7, 1, 0, 0, 7, 0, 0
        \t.section kprobe/x,"ax",@progbits
        obj:
        \tr0 = 1
        \t.byte 0x41, 0x42, 0x43
        \t.type obj,@object
        \t.section empty,"ax",@progbits
        """

    func testCorpusListingsMatchLLVMObjdump() throws {
        let tools = try Tools()
        var compared = 0, extensions = 0, objects = 0
        for program in Self.corpus {
            let source = tools.dir.appendingPathComponent("\(program.name).c")
            try program.source.write(to: source, atomically: true, encoding: .utf8)
            for cpu in program.cpus {
                let object = "\(program.name).\(cpu).o"
                try tools.clang(["-O2", "-g", "-target", "bpf", "-mcpu=\(cpu)", "-c", source.lastPathComponent, "-o", object])
                let reader = try ObjectReader(path: tools.dir.appendingPathComponent(object).path)
                // Name the object as llvm-objdump was given it, for the header line.
                var named = reader
                named.name = object
                objects += 1
                for alu32 in cpu == "v3" ? [false, true] : [false] {
                    for relocs in [true, false] {
                        var args = [relocs ? "-dr" : "-d"]
                        if alu32 { args.append("--mattr=+alu32") }
                        let expected = try tools.objdump(args + [object])
                        let ours = Disassembler.listing(named, options: .init(alu32: alu32, showRelocations: relocs, showSourceLines: false))
                        let r = compareListings(ours: ours, llvm: expected, alu32: alu32, what: "\(object) \(args)")
                        compared += r.instructions; extensions += r.extensions
                    }
                }
            }
        }
        XCTAssertGreaterThan(compared, 2000)
        print("DisasmTests: \(objects) objects, \(compared) instruction lines equal to llvm-objdump-14 (\(extensions) LLVM-14 <unknown> lines decoded as documented extensions)")
    }

    func testOddLayoutMatchesLLVMObjdump() throws {
        let tools = try Tools()
        try Self.oddLayout.write(to: tools.dir.appendingPathComponent("odd.s"), atomically: true, encoding: .utf8)
        try tools.clang(["-target", "bpf", "-c", "odd.s", "-o", "odd.o"])
        var reader = try ObjectReader(path: tools.dir.appendingPathComponent("odd.o").path)
        reader.name = "odd.o"
        for relocs in [true, false] {
            let expected = try tools.objdump([relocs ? "-dr" : "-d", "odd.o"])
            let ours = Disassembler.listing(reader, options: .init(showRelocations: relocs, showSourceLines: false))
            XCTAssertEqual(ours, expected)
        }
        XCTAssertTrue(try tools.objdump(["-d", "odd.o"]).contains("\t\t..."))
    }

    /// Random instruction words (fields biased towards edge values: registers
    /// 10–15, offsets ±1 and extremes, immediates that are atomic and endian
    /// codes), assembled with `.byte` and listed by both.
    func testRandomInstructionsMatchLLVMObjdump() throws {
        let tools = try Tools()
        var rng = SplitMix64(seed: 0x1f2e_3d4c)
        var compared = 0, extensions = 0
        for round in 0..<4 {
            var asm = "\t.section xdp,\"ax\",@progbits\n\t.globl fz\n\t.type fz,@function\nfz:\n"
            for i in 0..<5000 {
                if i % 97 == 50 { asm += "L\(i):\n" }
                asm += "\t.byte " + rng.instructionBytes().map(String.init).joined(separator: ", ") + "\n"
            }
            asm += "\t.size fz, .-fz\n"
            try asm.write(to: tools.dir.appendingPathComponent("fz\(round).s"), atomically: true, encoding: .utf8)
            try tools.clang(["-target", "bpf", "-c", "fz\(round).s", "-o", "fz\(round).o"])
            var reader = try ObjectReader(path: tools.dir.appendingPathComponent("fz\(round).o").path)
            reader.name = "fz\(round).o"
            for alu32 in [false, true] {
                let expected = try tools.objdump(["-dr"] + (alu32 ? ["--mattr=+alu32"] : []) + ["fz\(round).o"])
                let ours = Disassembler.listing(reader, options: .init(alu32: alu32, showSourceLines: false))
                let r = compareListings(ours: ours, llvm: expected, alu32: alu32, what: "random round \(round) alu32=\(alu32)")
                compared += r.instructions; extensions += r.extensions
            }
        }
        XCTAssertGreaterThan(compared, 39000)
        print("DisasmTests: \(compared) random instruction lines equal to llvm-objdump-14 (\(extensions) documented extensions)")
    }

    /// Line-by-line equality, except `<unknown>` lines of llvm-objdump-14 that
    /// our decoder reports as an extension for the same bytes.
    private func compareListings(ours: String, llvm: String, alu32: Bool, what: String,
                                 file: StaticString = #filePath, line: UInt = #line) -> (instructions: Int, extensions: Int) {
        let a = ours.split(separator: "\n", omittingEmptySubsequences: false)
        let b = llvm.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(a.count, b.count, "\(what): line count", file: file, line: line)
        var instructions = 0, extensions = 0, failures = 0
        for (x, y) in zip(a, b) {
            let isInstruction = y.range(of: #"^ *\d+:\t"#, options: .regularExpression) != nil
            if isInstruction { instructions += 1 }
            if x == y { continue }
            if isInstruction, y.hasSuffix("\t<unknown>"), let bytes = Self.rawBytes(of: y), bytes.count == 8,
               x.hasPrefix(y.dropLast("<unknown>".count)) {
                let d = Disassembler.decode(Instruction(bytes: bytes), next: nil, alu32: alu32)
                if d.isExtension, d.text != nil { extensions += 1; continue }
            }
            failures += 1
            if failures <= 10 { XCTFail("\(what):\n  ours: \(x)\n  llvm: \(y)", file: file, line: line) }
        }
        return (instructions, extensions)
    }

    private static func rawBytes(of line: Substring) -> [UInt8]? {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
        guard fields.count >= 3 else { return nil }
        let bytes = fields[1].split(separator: " ").compactMap { UInt8($0, radix: 16) }
        return bytes
    }

    // MARK: - Source lines

    /// Every `; FILE:LINE: TEXT` line names the C file and quotes line LINE of it.
    func testSourceLinesQuoteTheSource() throws {
        let tools = try Tools()
        var checked = 0
        for program in Self.corpus {
            let source = tools.dir.appendingPathComponent("\(program.name).c")
            try program.source.write(to: source, atomically: true, encoding: .utf8)
            try tools.clang(["-O2", "-g", "-target", "bpf", "-mcpu=\(program.cpus.last!)", "-c", source.lastPathComponent, "-o", "\(program.name).o"])
            let reader = try ObjectReader(path: tools.dir.appendingPathComponent("\(program.name).o").path)
            let listing = Disassembler.listing(reader)
            let sourceLines = program.source.split(separator: "\n", omittingEmptySubsequences: false)
            let prefix = "; \(program.name).c:"
            let comments = listing.split(separator: "\n").filter { $0.hasPrefix("; ") }
            XCTAssertFalse(comments.isEmpty, "\(program.name): no source lines")
            for c in comments {
                XCTAssertTrue(c.hasPrefix(prefix), "\(program.name): \(c)")
                let rest = c.dropFirst(prefix.count)
                guard let colon = rest.firstIndex(of: ":"), let n = Int(rest[..<colon]), n >= 1, n <= sourceLines.count else {
                    XCTFail("\(program.name): malformed \(c)"); continue
                }
                var text = String(sourceLines[n - 1])
                while text.last?.isWhitespace == true { text.removeLast() }
                XCTAssertEqual(String(rest[rest.index(after: colon)...]), text.isEmpty ? "" : " " + text, "\(program.name) line \(n)")
                checked += 1
            }
            // Without source lines the listing is llvm-objdump's.
            XCTAssertFalse(Disassembler.listing(reader, options: .init(showSourceLines: false)).contains("\n; "))
        }
        XCTAssertGreaterThan(checked, 50)
    }

    /// A sample of the format, fixed so changes to it are deliberate.
    func testListingFormatWithSourceLines() throws {
        let tools = try Tools()
        let source = """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("xdp") int pass(struct xdp_md *ctx) {
              bpf_printk("hi");
              return XDP_PASS;
            }
            char LICENSE[] SEC("license") = "GPL";
            """
        try source.write(to: tools.dir.appendingPathComponent("p.c"), atomically: true, encoding: .utf8)
        try tools.clang(["-O2", "-g", "-target", "bpf", "-c", "p.c", "-o", "p.o"])
        var reader = try ObjectReader(path: tools.dir.appendingPathComponent("p.o").path)
        reader.name = "p.o"
        XCTAssertEqual(Disassembler.listing(reader), """

            p.o:\tfile format elf64-bpf

            Disassembly of section xdp:

            0000000000000000 <pass>:
            ; p.c:4:   bpf_printk("hi");
                   0:\t18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00\tr1 = 0 ll
            \t\t0000000000000000:  R_BPF_64_64\t.rodata
                   2:\tb7 02 00 00 03 00 00 00\tr2 = 3
                   3:\t85 00 00 00 06 00 00 00\tcall 6
            ; p.c:5:   return XDP_PASS;
                   4:\tb7 00 00 00 02 00 00 00\tr0 = 2
                   5:\t95 00 00 00 00 00 00 00\texit

            """)
    }

    // MARK: - Single instructions

    func testFormatSpellings() {
        func f(_ i: Instruction, _ next: Instruction? = nil) -> String { Disassembler.format(i, next: next, at: 0) }
        XCTAssertEqual(f(.mov64(.r1, imm: 7)), "r1 = 7")
        XCTAssertEqual(f(.alu64(.add, .r0, .r1)), "r0 += r1")
        XCTAssertEqual(f(.alu32(.mov, .r1, .r2)), "w1 = w2")
        XCTAssertEqual(f(.alu64(.arsh, .r1, imm: 3)), "r1 s>>= 3")
        XCTAssertEqual(f(.neg64(.r1)), "r1 = -r1")
        XCTAssertEqual(f(Instruction(opcode: 0xdc, dst: 1, imm: 16)), "r1 = be16 r1")
        XCTAssertEqual(f(.jump(.jne, .r1, imm: 9, 3)), "if r1 != 9 goto +3")
        XCTAssertEqual(f(.ja(-5)), "goto -5")
        XCTAssertEqual(f(.call(helper: 6)), "call 6")
        XCTAssertEqual(f(.exit), "exit")
        let ld = Instruction.loadImm64(.r1, 0)
        XCTAssertEqual(f(ld[0], ld[1]), "r1 = 0 ll")
        XCTAssertEqual(f(ld[0]), "<unknown>", "ld_imm64 without its second slot")
        let big = Instruction.loadImm64(.r2, -2)
        XCTAssertEqual(f(big[0], big[1]), "r2 = -2 ll")
        XCTAssertEqual(f(.store(.w, .r10, -4, .r1)), "*(u32 *)(r10 - 4) = r1")
        XCTAssertEqual(f(.load(.w, .r2, .r1, 8)), "r2 = *(u32 *)(r1 + 8)")
        XCTAssertEqual(f(.load(.b, .r2, .r1, 0)), "r2 = *(u8 *)(r1 + 0)")
        XCTAssertEqual(f(.atomicAdd(.dw, .r1, 0, .r2)), "lock *(u64 *)(r1 + 0) += r2")
        XCTAssertEqual(f(Instruction(opcode: 0x20, imm: 12)), "r0 = *(u32 *)skb[12]")
        XCTAssertEqual(f(Instruction(opcode: 0x50, src: 3)), "r0 = *(u8 *)skb[r3]")
        XCTAssertEqual(f(Instruction(opcode: 0x07, dst: 12, imm: 1)), "<unknown>", "r12 does not decode")
        // Later-LLVM spellings where LLVM 14 says <unknown>.
        XCTAssertEqual(f(.store(.w, .r10, -8, imm: 7)), "*(u32 *)(r10 - 8) = 7")
        XCTAssertEqual(f(.alu64(.mod, .r1, .r2)), "r1 %= r2")
        XCTAssertEqual(f(.jump(.jset, .r1, imm: 8, 2)), "if r1 & 8 goto +2")
        XCTAssertEqual(f(Instruction(opcode: 0xc3, dst: 1, src: 2, imm: 0x41)), "w2 = atomic_fetch_or((u32 *)(r1 + 0), w2)")
        // Branch target symbols through `label`.
        let text = Disassembler.format(.ja(2), next: nil, at: 4, options: .init()) { $0 == 56 ? "LBB0_7" : nil }
        XCTAssertEqual(text, "goto +2 <LBB0_7>")
    }

    // MARK: - Reader

    func testReaderSplitsSectionsIntoFunctions() throws {
        let tools = try Tools()
        let program = Self.corpus.first { $0.name == "calls" }!
        try program.source.write(to: tools.dir.appendingPathComponent("calls.c"), atomically: true, encoding: .utf8)
        try tools.clang(["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-c", "calls.c", "-o", "calls.o"])
        let object = try ObjectReader(path: tools.dir.appendingPathComponent("calls.o").path)
        let bySection = Dictionary(grouping: object.functions, by: \.section)
        XCTAssertEqual(Set(bySection[".text"]?.map(\.name) ?? []), ["mix", "clamp", "global_helper"])
        XCTAssertEqual(bySection["xdp"]?.map(\.name), ["entry", "entry2"])
        XCTAssertEqual(bySection["tc"]?.map(\.name), ["entry3"])
        for (name, functions) in bySection {
            let section = try XCTUnwrap(object.section(named: name))
            XCTAssertEqual(functions.map(\.instructions.count).reduce(0, +) * 8, section.bytes.count, name)
            for f in functions {
                XCTAssertEqual(f.instructions.bytes, Array(section.bytes[f.offset..<f.offset + f.instructions.count * 8]))
            }
        }
        XCTAssertEqual(bySection["xdp"]?.map(\.isGlobal), [true, true])
        XCTAssertEqual(bySection[".text"]?.first { $0.name == "clamp" }?.isGlobal, false)
        let xdp = try XCTUnwrap(object.section(named: "xdp"))
        let relocs = object.relocations(forSection: xdp.index)
        XCTAssertTrue(relocs.contains { $0.typeName == "R_BPF_64_64" && $0.symbolName == "jt" })
        XCTAssertTrue(relocs.contains { $0.typeName == "R_BPF_64_32" && $0.symbolName == ".text" })
        XCTAssertEqual(relocs.map(\.offset), relocs.map(\.offset).sorted())
        XCTAssertNotNil(object.btf)
        XCTAssertNotNil(object.btfExt)
        XCTAssertEqual(object.sections.map(\.index), Array(object.sections.indices))
        XCTAssertTrue(object.symbols.contains { $0.name == "entry" && $0.type == 2 && $0.sectionIndex == xdp.index })
    }

    // MARK: - Bad input

    func testNotBPFObjects() throws {
        XCTAssertThrowsError(try ObjectReader(bytes: [], name: "empty.o")) { XCTAssertTrue("\($0)".contains("empty.o: not an ELF file")) }
        XCTAssertThrowsError(try ObjectReader(bytes: Array("hello, world".utf8), name: "text.o")) { XCTAssertTrue("\($0)".contains("not an ELF file")) }
        if FileManager.default.fileExists(atPath: "/bin/true") {
            XCTAssertThrowsError(try ObjectReader(path: "/bin/true")) { error in
                XCTAssertTrue(error is ObjectError)
                XCTAssertTrue("\(error)".contains("/bin/true: not a BPF object: machine is x86-64 (62)") || "\(error)".contains("expected EM_BPF (247)"), "\(error)")
            }
        }
        XCTAssertThrowsError(try ObjectReader(path: "/nonexistent/x.o")) { XCTAssertTrue("\($0)".contains("/nonexistent/x.o: cannot read")) }
        var rng = SplitMix64(seed: 7)
        for n in [1, 4, 16, 63, 64, 200, 4096] {
            var bytes = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            XCTAssertThrowsError(try ObjectReader(bytes: bytes, name: "random.o"))
            // Random bytes behind a valid-looking identification.
            let ident: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]
            for (i, b) in ident.enumerated() where i < bytes.count { bytes[i] = b }
            XCTAssertThrowsError(try ObjectReader(bytes: bytes, name: "random.o")) { XCTAssertTrue($0 is ObjectError) }
        }
    }

    func testCorruptObjectsThrow() throws {
        let good = try minimalObject()
        func expectError(_ bytes: [UInt8], _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try ObjectReader(bytes: bytes, name: "bad.o"), file: file, line: line) { error in
                XCTAssertTrue(error is ObjectError, file: file, line: line)
                XCTAssertTrue("\(error)".hasPrefix("bad.o: "), "\(error)", file: file, line: line)
                XCTAssertTrue("\(error)".contains(fragment), "\(error) lacks \(fragment)", file: file, line: line)
            }
        }
        XCTAssertNoThrow(try ObjectReader(bytes: good, name: "good.o"))
        let shoff = Int(good.read64(40)), shnum = Int(good.read16(60))
        var b = good
        b.put64(40, UInt64(good.count))                  // section headers past the end
        expectError(b, "truncated")
        b = good; b.put64(40, 0xffff_ffff_ffff_0000)
        expectError(b, "truncated")
        b = good; b.put16(60, UInt16(shnum + 1000))         // more headers than fit
        expectError(b, "truncated")
        b = good; b.put16(58, 40)                          // wrong header size
        expectError(b, "section header size")
        b = good; b.put16(62, UInt16(shnum + 3))            // name table index out of range
        expectError(b, "section name table index")
        b = good; b.put16(18, 62)                          // x86-64
        expectError(b, "machine is x86-64 (62)")
        b = good; b.put16(16, 2)                           // ET_EXEC
        expectError(b, "ET_REL")
        b = good; b[4] = 1                                 // ELFCLASS32
        expectError(b, "64-bit")
        b = good; b[5] = 2                                 // big-endian
        expectError(b, "big-endian")
        // Each section's contents moved outside the file, in turn.
        for i in 1..<shnum {
            let h = shoff + i * 64
            guard good.read32(h + 4) != UInt32(8) /* SHT_NOBITS */ else { continue }
            b = good; b.put64(h + 24, UInt64(good.count) - 4); b.put64(h + 32, 64)
            expectError(b, "section header \(i)")
            b = good; b.put64(h + 32, UInt64.max - 8)
            expectError(b, "section header \(i)")
        }
        // Truncations at every length: never a crash, always an ObjectError.
        for n in stride(from: 0, to: good.count, by: 3) {
            XCTAssertThrowsError(try ObjectReader(bytes: Array(good[..<n]), name: "cut.o")) { XCTAssertTrue($0 is ObjectError) }
        }
    }

    /// Random corruption of a real object: reading either succeeds or throws an
    /// ObjectError, and whatever reads lists without trapping.
    func testMutatedObjectsNeverCrash() throws {
        let good = try minimalObject()
        var rng = SplitMix64(seed: 99)
        var read = 0, rejected = 0
        // DISASM_MUTATIONS=N runs more rounds (offline hunting for traps).
        let rounds = ProcessInfo.processInfo.environment["DISASM_MUTATIONS"].flatMap(Int.init) ?? 3000
        for _ in 0..<rounds {
            var b = good
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(b.count))
                b[at] = rng.next() % 3 == 0 ? 0xff : UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let object = try ObjectReader(bytes: b, name: "m.o")
                _ = Disassembler.listing(object)
                read += 1
            } catch is ObjectError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(read, 0)
        XCTAssertGreaterThan(rejected, 0)
    }

    /// A small real object (clang's output for a program with a map, a string and line info).
    private func minimalObject() throws -> [UInt8] {
        let tools = try Tools()
        try Self.corpus.first { $0.name == "maps" }!.source.write(to: tools.dir.appendingPathComponent("m.c"), atomically: true, encoding: .utf8)
        try tools.clang(["-O2", "-g", "-target", "bpf", "-c", "m.c", "-o", "m.o"])
        return [UInt8](try Data(contentsOf: tools.dir.appendingPathComponent("m.o")))
    }
}

// MARK: - Helpers

/// clang-14 and llvm-objdump-14 in a fresh temporary directory.
private struct Tools {
    let clangPath: String, objdumpPath: String
    let dir: URL
    let includes: [String]

    init() throws {
        func find(_ name: String) -> String? {
            (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
                .map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
        }
        guard let clang = find("clang-14") else { throw XCTSkip("clang-14 is not installed: the parity tests compile with it") }
        guard let objdump = find("llvm-objdump-14") else { throw XCTSkip("llvm-objdump-14 is not installed: it is the oracle") }
        guard FileManager.default.fileExists(atPath: "/usr/include/bpf/bpf_helpers.h") else {
            throw XCTSkip("libbpf-dev headers (bpf/bpf_helpers.h) are not installed")
        }
        clangPath = clang; objdumpPath = objdump
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("disasm-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // <linux/types.h> needs <asm/types.h>, which lives in the multiarch directory.
        var uts = utsname()
        uname(&uts)
        let machine = withUnsafeBytes(of: &uts.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        includes = ["-I/usr/include/\(machine)-linux-gnu"]
    }

    func clang(_ args: [String]) throws {
        let r = try run(clangPath, includes + args)
        guard r.status == 0 else { throw ObjectError("clang-14 \(args.joined(separator: " ")) failed:\n\(r.stderr)") }
    }

    func objdump(_ args: [String]) throws -> String {
        let r = try run(objdumpPath, args)
        guard r.status == 0 else { throw ObjectError("llvm-objdump-14 \(args.joined(separator: " ")) failed:\n\(r.stderr)") }
        return r.stdout
    }

    private func run(_ tool: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.currentDirectoryURL = dir
        // stdout through a pipe (read to the end before waiting), stderr to a file: neither can block the tool.
        let out = Pipe()
        let errURL = dir.appendingPathComponent("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let err = try FileHandle(forWritingTo: errURL)
        defer { try? err.close(); try? FileManager.default.removeItem(at: errURL) }
        p.standardOutput = out; p.standardError = err
        try p.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errData = (try? Data(contentsOf: errURL)) ?? Data()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

/// Deterministic random numbers (SplitMix64), so failures reproduce.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
    mutating func pick<T>(_ values: [T]) -> T { values[Int(next() % UInt64(values.count))] }

    /// One 8-byte instruction word with fields biased towards the values decoders care about.
    mutating func instructionBytes() -> [UInt8] {
        let opcode = UInt8(truncatingIfNeeded: next())
        let dst = pick([0, 1, 2, 10, 11, 12, 15, UInt8(next() % 16)])
        let src = pick([0, 1, 2, 10, 11, 12, 15, UInt8(next() % 16)])
        let off = pick([0, 0, 1, -1, 5, -4, 32767, -32768, Int16(truncatingIfNeeded: next())])
        let imm = pick([0, 1, -1, 7, 16, 32, 64, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x101, 11, 12,
                        Int32(truncatingIfNeeded: next()), Int32(next() % 256)])
        return Instruction(opcode: opcode, dst: dst, src: src, offset: off, imm: imm).bytes
    }
}

private extension Array where Element == UInt8 {
    func read16(_ o: Int) -> UInt16 { UInt16(self[o]) | UInt16(self[o + 1]) << 8 }
    func read32(_ o: Int) -> UInt32 { UInt32(read16(o)) | UInt32(read16(o + 2)) << 16 }
    func read64(_ o: Int) -> UInt64 { UInt64(read32(o)) | UInt64(read32(o + 4)) << 32 }
    mutating func put16(_ o: Int, _ v: UInt16) { self[o] = UInt8(v & 0xff); self[o + 1] = UInt8(v >> 8) }
    mutating func put64(_ o: Int, _ v: UInt64) { for k in 0..<8 { self[o + k] = UInt8((v >> (8 * UInt64(k))) & 0xff) } }
}
