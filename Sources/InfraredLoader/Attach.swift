import BPF
import InfraredSupport
import InfraredRuntime
import CLoaderSupport
#if canImport(Glibc)
import Glibc
#endif

/// How each program kind of the language is attached (one row per kind),
/// and what it needs from the command line.
enum AttachPlan {
    /// The language's perf event names (`perf_event :cpu_clock`), each a
    /// generalized event of <linux/perf_event.h> (BPF's generated `PerfEvent`).
    static let perfEvents: [String: PerfEvent] = [
        "cpu_cycles": .hardwareCpuCycles, "cycles": .hardwareCpuCycles, "instructions": .hardwareInstructions,
        "cache_references": .hardwareCacheReferences, "cache_misses": .hardwareCacheMisses,
        "branch_instructions": .hardwareBranchInstructions, "branches": .hardwareBranchInstructions,
        "branch_misses": .hardwareBranchMisses, "bus_cycles": .hardwareBusCycles,
        "stalled_cycles_frontend": .hardwareStalledCyclesFrontend, "stalled_cycles_backend": .hardwareStalledCyclesBackend,
        "ref_cycles": .hardwareRefCpuCycles,
        "cpu_clock": .softwareCpuClock, "task_clock": .softwareTaskClock, "page_faults": .softwarePageFaults,
        "context_switches": .softwareContextSwitches, "cpu_migrations": .softwareCpuMigrations,
        "minor_faults": .softwarePageFaultsMin, "major_faults": .softwarePageFaultsMaj,
        "alignment_faults": .softwareAlignmentFaults, "emulation_faults": .softwareEmulationFaults,
    ]
    static let defaultFrequency: UInt64 = 99

    /// `CGROUP2_SUPER_MAGIC` (<linux/magic.h>): statfs(2)'s `f_type` in a cgroup v2 directory.
    static let cgroup2SuperMagic: Int64 = 0x6367_7270

    /// Where cgroup2 is mounted (/proc/self/mounts), for the hint.
    static func cgroup2Mounts() -> [String] {
        guard let bytes = try? readFile("/proc/self/mounts") else { return [] }   // no hint without it
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 2 && f[2] == "cgroup2" ? String(f[1]) : nil
        }
    }

    static func isCgroup(_ p: LoaderManifest.Program) -> Bool { p.kind.programType == .cgroupDevice || p.section.hasPrefix("cgroup") }

    /// uprobe, uretprobe and USDT programs: the ones `--pid` limits.
    static func isUserProbe(_ p: LoaderManifest.Program) -> Bool {
        ["uprobe/", "uretprobe/", "usdt/"].contains { p.section.hasPrefix($0) }
    }

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
        return (e.type.rawValue, e.config, frequency)
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
            switch p.kind.programType {
            case .xdp, .schedCls:
                guard let ifname = options.ifname else {
                    throw LoaderFailure("program '\(p.name)' (\(p.kind)) attaches to a network interface: give --ifname IFACE (e.g. --ifname lo)")
                }
                guard if_nametoindex(ifname) != 0 else { throw LoaderFailure("program '\(p.name)': no network interface named '\(ifname)'") }
            case .socketFilter:
                if let ifname = options.ifname, if_nametoindex(ifname) == 0 {
                    throw LoaderFailure("program '\(p.name)': no network interface named '\(ifname)'")
                }
            case .perfEvent:
                _ = try perfEvent(p)
            default: break
            }
        }
    }

    /// Attaches one program by its kind.
    static func attach(_ p: LoaderManifest.Program, object: LoadedObject, options: LoaderOptions) throws {
        switch p.kind.programType {
        case .perfEvent:
            let e = try perfEvent(p)
            try object.attachPerfEvent(program: p.name, type: e.type, config: e.config, frequency: options.frequency ?? e.frequency)
        case .xdp:
            try object.attachXDP(program: p.name, ifname: options.ifname ?? "")
        case .schedCls:
            let direction = (p.arguments.first ?? "ingress").trimmingPrefix(":")
            guard direction == "ingress" || direction == "egress" else {
                throw LoaderFailure("program '\(p.name)': tc direction :\(direction) is not :ingress or :egress")
            }
            try object.attachTC(program: p.name, ifname: options.ifname ?? "", egress: direction == "egress")
        case .socketFilter:
            try object.attachPacketSocket(program: p.name, ifname: options.ifname)
        case _ where isCgroup(p):
            try object.attachCgroup(program: p.name, cgroupPath: options.cgroup ?? "")
        default:
            // tracepoint, raw_tracepoint, k(ret)probe, u(ret)probe, usdt,
            // tp_btf, fentry/fexit, lsm: the section names the attach point;
            // libbpf's auto-attach reads it.
            try object.attach(program: p.name, pid: isUserProbe(p) ? options.pid : nil)
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
