/// C sources the tests compile.
enum CoreFixtures {
    /// A CO-RE BPF program (clang-14, `#include "vmlinux.h"`) with every
    /// relocation kind clang 14 emits: field offsets through pointers
    /// (`BPF_CORE_READ` chains), array elements, anonymous members, a
    /// bitfield (lshift/rshift/size/offset), field existence with a
    /// `___flavor`, field sizes and signedness, type existence and size,
    /// enum value existence and value, and a type that exists nowhere.
    static let program = """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_core_read.h>
        #include <bpf/bpf_tracing.h>

        char LICENSE[] SEC("license") = "GPL";

        struct task_struct___old { long state; } __attribute__((preserve_access_index));
        struct does_not_exist___x { int nope; } __attribute__((preserve_access_index));
        enum bpf_map_type___x { BPF_MAP_TYPE_ARENA___x = 33, BPF_MAP_TYPE_NOPE___x = 99 };

        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, long); } out SEC(".maps");

        SEC("kprobe/do_nanosleep")
        int probe(struct pt_regs *ctx)
        {
            struct task_struct *t = (void *)bpf_get_current_task();
            struct sk_buff *skb = (void *)PT_REGS_PARM1(ctx);
            long v = 0;
            int k = 0;
            v += BPF_CORE_READ(t, real_parent, tgid);
            v += BPF_CORE_READ(t, pid);
            v += BPF_CORE_READ(t, mm, mmap_base);
            v += BPF_CORE_READ(t, comm[3]);
            v += BPF_CORE_READ(t, signal, rlim[1].rlim_cur);
            if (bpf_core_field_exists(t->__state))
                v += BPF_CORE_READ(t, __state);
            if (bpf_core_field_exists(((struct task_struct___old *)t)->state))
                v += BPF_CORE_READ((struct task_struct___old *)t, state);
            if (bpf_core_type_exists(struct does_not_exist___x))
                v += 1000;
            if (bpf_core_type_exists(struct bpf_map))
                v += bpf_core_type_size(struct bpf_map);
            v += bpf_core_enum_value(enum bpf_map_type, BPF_MAP_TYPE_RINGBUF);
            if (bpf_core_enum_value_exists(enum bpf_map_type___x, BPF_MAP_TYPE_ARENA___x))
                v += 7;
            if (bpf_core_enum_value_exists(enum bpf_map_type___x, BPF_MAP_TYPE_NOPE___x))
                v += 8;
            v += BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
            v += BPF_CORE_READ(skb, len);
            v += bpf_core_field_size(skb->cb);
            v += __builtin_preserve_field_info(skb->len, BPF_FIELD_SIGNED);
            v += BPF_CORE_READ(skb, dev, ifindex);
            bpf_map_update_elem(&out, &k, &v, 0);
            return 0;
        }
        """

    /// A user-space C program for the DWARF converter: bitfields (split
    /// across a storage unit too), unions, anonymous members, enums
    /// (signed, 64-bit), typedefs, multi-dimensional and flexible arrays,
    /// function pointers (variadic, no arguments), qualifiers, functions.
    static let userProgram = """
        #include <stddef.h>
        typedef unsigned int u32;
        enum color { RED, GREEN = 5, BLUE = -1 };
        enum big { HUGE = 0x100000000ULL };
        enum small { TINY = 1 } __attribute__((packed));
        struct flags { unsigned a:3; signed b:5; u32 c:1; unsigned long long d:40; char e; unsigned f:30; unsigned g:30; };
        union value { int i; float f; double d; char bytes[8]; };
        struct node;
        typedef int (*callback_t)(struct node *, const char *, ...);
        struct node {
          struct node *next;
          union value v;
          struct flags fl;
          const volatile int cv;
          char name[16];
          int matrix[3][4];
          callback_t cb;
          void (*plain)(void);
          struct { int x, y; } anon_member;
          union { long l; void *p; };
          struct { short s1; struct { char c1, c2; }; };
          enum color color;
          enum big big;
          enum small small;
          _Bool ok;
          long double ld;
          int flex[];
        };
        struct outer { struct inner { int depth; } in; int n; };
        static int helper(struct node *n, const char *s, ...) { return n ? (int)s[0] : 0; }
        int global_counter;
        int process(struct node *restrict n, union value v, enum color c) {
          struct local_only { int secret; } lo = { 1 };
          n->cb = helper;
          return n->v.i + v.i + c + global_counter + lo.secret;
        }
        long with_outer(struct outer *o, struct inner *i) { return o->in.depth + i->depth; }
        int main(void) { struct node n = {0}; struct outer o = {0}; return process(&n, n.v, RED) + (int)with_outer(&o, &o.in); }
        """
}
