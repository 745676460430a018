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

/// An anonymous in-memory file (memfd_create(2), close-on-exec) for libelf to
/// write an object into: no file system round trip. -1 where unsupported.
static inline int infrared_memfd(const char *name) {
#ifdef __NR_memfd_create
    return (int)syscall(__NR_memfd_create, name, 1U /* MFD_CLOEXEC */);
#else
    (void)name;
    return -1;
#endif
}
