import InfraredRuntime
import CLoaderSupport
#if canImport(Glibc)
import Glibc
#endif

/// How each program kind of the language is attached (one row per kind),
/// and what it needs from the command line.
enum AttachPlan {
    /// perf_event_open(2) `type`/`config` by the language's event name
    /// (<linux/perf_event.h>: PERF_TYPE_HARDWARE 0, PERF_TYPE_SOFTWARE 1).
    static let perfEvents: [String: (type: UInt32, config: UInt64)] = [
        "cpu_cycles": (0, 0), "cycles": (0, 0), "instructions": (0, 1), "cache_references": (0, 2),
        "cache_misses": (0, 3), "branch_instructions": (0, 4), "branches": (0, 4), "branch_misses": (0, 5),
        "bus_cycles": (0, 6), "stalled_cycles_frontend": (0, 7), "stalled_cycles_backend": (0, 8), "ref_cycles": (0, 9),
        "cpu_clock": (1, 0), "task_clock": (1, 1), "page_faults": (1, 2), "context_switches": (1, 3),
        "cpu_migrations": (1, 4), "minor_faults": (1, 5), "major_faults": (1, 6), "alignment_faults": (1, 7),
        "emulation_faults": (1, 8),
    ]
    static let defaultFrequency: UInt64 = 99

    /// `CGROUP2_SUPER_MAGIC` (<linux/magic.h>): statfs(2)'s `f_type` in a cgroup v2 directory.
    static let cgroup2SuperMagic: Int64 = 0x6367_7270

    /// Where cgroup2 is mounted (/proc/self/mounts), for the hint.
    static func cgroup2Mounts() -> [String] {
        guard let text = readText("/proc/self/mounts") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 2 && f[2] == "cgroup2" ? String(f[1]) : nil
        }
    }

    static func isCgroup(_ p: LoaderManifest.Program) -> Bool { p.kind == "cgroup_device" || p.section.hasPrefix("cgroup") }

    static func perfEvent(_ p: LoaderManifest.Program) throws -> (type: UInt32, config: UInt64, frequency: UInt64) {
        let name = (p.arguments.first ?? "cpu_clock").trimmingPrefix(":")
        guard let e = perfEvents[name] else {
            throw LoaderFailure("program '\(p.name)': unknown perf event :\(name) (known: \(perfEvents.keys.sorted().joined(separator: ", ")))")
        }
        var frequency = defaultFrequency
        if let f = p.options["frequency"] ?? p.options["freq"] {
            guard let v = UInt64(f), v > 0 else { throw LoaderFailure("program '\(p.name)': frequency: \(f) is not a positive integer") }
            frequency = v
        }
        return (e.type, e.config, frequency)
    }

    /// What the command line must give for these programs, checked before
    /// anything is loaded: a cgroup for cgroup programs, an interface for
    /// XDP and tc, a known perf event.
    static func check(_ manifest: LoaderManifest, _ options: LoaderOptions) throws {
        if let btf = options.btf, access(btf, R_OK) != 0 {
            throw LoaderFailure("--btf \(btf): \(String(cString: strerror(errno)))")
        }
        for p in manifest.programs {
            if isCgroup(p) {
                guard let cgroup = options.cgroup else {
                    throw LoaderFailure("program '\(p.name)' (\(p.kind)) attaches to a cgroup: give --cgroup PATH (a cgroup v2 directory, e.g. /sys/fs/cgroup/mygroup)")
                }
                var st = stat()
                guard stat(cgroup, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                    throw LoaderFailure("program '\(p.name)': --cgroup \(cgroup) is not a directory")
                }
                // BPF attaches to cgroup v2 only; any other directory would fail
                // later as EBADF from bpf(BPF_LINK_CREATE), which says nothing.
                guard irl_fs_type(cgroup) == cgroup2SuperMagic else {
                    let mounts = cgroup2Mounts()
                    throw LoaderFailure("program '\(p.name)': --cgroup \(cgroup) is not a cgroup v2 directory; give one"
                        + (mounts.isEmpty ? " (no cgroup2 file system is mounted: mount -t cgroup2 none /sys/fs/cgroup)"
                                          : " under \(mounts.joined(separator: " or ")), e.g. a new one made with mkdir"))
                }
            }
            switch p.kind {
            case "xdp", "tc":
                guard let ifname = options.ifname else {
                    throw LoaderFailure("program '\(p.name)' (\(p.kind)) attaches to a network interface: give --ifname IFACE (e.g. --ifname lo)")
                }
                guard if_nametoindex(ifname) != 0 else { throw LoaderFailure("program '\(p.name)': no network interface named '\(ifname)'") }
            case "socket_filter":
                if let ifname = options.ifname, if_nametoindex(ifname) == 0 {
                    throw LoaderFailure("program '\(p.name)': no network interface named '\(ifname)'")
                }
            case "perf_event":
                _ = try perfEvent(p)
            default: break
            }
        }
    }

    /// Attaches one program by its kind.
    static func attach(_ p: LoaderManifest.Program, object: LoadedObject, options: LoaderOptions) throws {
        switch p.kind {
        case "perf_event":
            let e = try perfEvent(p)
            try object.attachPerfEvent(program: p.name, type: e.type, config: e.config, frequency: e.frequency)
        case "xdp":
            try object.attachXDP(program: p.name, ifname: options.ifname ?? "")
        case "tc":
            let direction = (p.arguments.first ?? "ingress").trimmingPrefix(":")
            guard direction == "ingress" || direction == "egress" else {
                throw LoaderFailure("program '\(p.name)': tc direction :\(direction) is not :ingress or :egress")
            }
            try object.attachTC(program: p.name, ifname: options.ifname ?? "", egress: direction == "egress")
        case "socket_filter":
            try object.attachPacketSocket(program: p.name, ifname: options.ifname)
        case _ where isCgroup(p):
            try object.attachCgroup(program: p.name, cgroupPath: options.cgroup ?? "")
        default:
            // tracepoint, raw_tracepoint, k(ret)probe, u(ret)probe, usdt: the
            // section names the attach point; libbpf's auto-attach reads it.
            try object.attach(program: p.name)
        }
    }
}

/// A loader failure: one message, printed as `TOOL: error: …`, exit status 1.
struct LoaderFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

extension String {
    func trimmingPrefix(_ p: String) -> String { hasPrefix(p) ? String(dropFirst(p.count)) : self }
}
