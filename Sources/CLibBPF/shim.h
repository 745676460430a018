// libbpf (BTF, loading) and libelf (object files), as one system module.
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <bpf/bpf.h>
#include <libelf.h>
#include <gelf.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

/// perf_event_open(2) has no libc wrapper; this is the runtime's only use of syscall(2).
static inline int infrared_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group, unsigned long flags) {
    return (int)syscall(__NR_perf_event_open, attr, pid, cpu, group, flags);
}
