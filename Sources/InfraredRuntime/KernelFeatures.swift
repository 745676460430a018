#if canImport(Glibc)
import Glibc
#endif

/// What the running kernel offers for attaching a program kind, read from
/// sysfs and tracefs, so that an attach failure can name the missing
/// kernel feature instead of a bare errno ("attach point 'kprobe/f' does
/// not exist: ENOENT" while `f` is in /proc/kallsyms).
///
/// Mirrors the probes libbpf makes before it picks a kprobe/uprobe
/// mechanism (`determine_kprobe_perf_type` reads
/// `/sys/bus/event_source/devices/kprobe/type`; the legacy path writes to
/// tracefs `kprobe_events`), and the kernel's rule that fentry/fexit/LSM
/// programs need a BPF trampoline (`arch_prepare_bpf_trampoline`, x86-64
/// with `CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS`).
public struct KernelFeatures: Sendable {
    /// The filesystem root the files are read under (a test gives a fake tree).
    public var root: String

    public init(root: String = "/") { self.root = root }

    func exists(_ path: String) -> Bool {
        access(root.hasSuffix("/") ? root + path : root + "/" + path, F_OK) == 0
    }

    /// `perf_event` PMU `name` (`kprobe`, `uprobe`), or tracefs `NAME_events` (the legacy interface).
    func hasProbes(_ name: String) -> Bool {
        exists("sys/bus/event_source/devices/\(name)/type")
            || exists("sys/kernel/tracing/\(name)_events") || exists("sys/kernel/debug/tracing/\(name)_events")
    }

    /// The kernel feature that attaching a program of `section` needs and this
    /// kernel lacks, judged after an attach failed with `errno`; nil when the
    /// failure is something else (a missing function, privileges, …).
    public func missingFeature(section: String, errno: Errno, privileged: Bool = geteuid() == 0) -> String? {
        let kind = section.split(separator: "/", maxSplits: 1).first.map(String.init) ?? section
        switch kind {
        case "kprobe", "kretprobe", "ksyscall", "kretsyscall":
            guard !hasProbes("kprobe") else { return nil }
            return "this kernel has no kprobes: neither the kprobe PMU (/sys/bus/event_source/devices/kprobe) "
                + "nor tracefs kprobe_events exists (CONFIG_KPROBES, CONFIG_KPROBE_EVENTS)"
        case "uprobe", "uretprobe", "usdt":
            guard !hasProbes("uprobe") else { return nil }
            return "this kernel has no uprobes: neither the uprobe PMU (/sys/bus/event_source/devices/uprobe) "
                + "nor tracefs uprobe_events exists (CONFIG_UPROBES, CONFIG_UPROBE_EVENTS)"
        case "fentry", "fexit", "fmod_ret", "lsm", "fentry.s", "fexit.s", "lsm.s":
            // As root, EPERM/ENOTSUPP here is the kernel refusing the kind, not a capability check.
            guard privileged, errno.isPrivilegeError || errno == .kernelNotSupported || errno == .notSupported else { return nil }
            return "this kernel cannot attach \(kind) programs: it has no BPF trampolines "
                + "(CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS on x86-64, CONFIG_BPF_JIT; \(kind == "lsm" || kind == "lsm.s" ? "and bpf in CONFIG_LSM; " : "")"
                + "not in every kernel or architecture)"
        default:
            return nil
        }
    }
}
