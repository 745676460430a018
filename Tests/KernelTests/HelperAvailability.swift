import Foundation
import BPF
import CLibBPF

/// Which program types the running kernel lets call each helper: the oracle
/// `HelperCoverageTests` chooses program kinds by and judges refusals against.
///
/// Two sources, measured once per test run:
/// - `bpftool -j feature probe kernel`: per program type, the helpers bpftool
///   finds supported. Its probe loads `call <helper>; exit` and calls a helper
///   unsupported only when the verifier says "invalid func" or "unknown func".
///   This kernel (6.18) says "program of this type cannot use helper" instead,
///   which Debian 12's bpftool (v7.1.0, libbpf 1.1) takes for support: it lists
///   every helper it knows (206) for every type it probes, `bpf_xdp_adjust_head`
///   for `socket_filter` too. Its lists are then an upper bound, not the answer.
/// - the same probe, done here (`bpf_prog_load` of `call <id>; r0 = 0; exit`),
///   reading the verifier's first word on the call with this kernel's message
///   too: "invalid func" (the kernel does not know the helper), "unknown func" or
///   "program of this type cannot use helper" (the type may not call it), anything
///   else (arguments refused, a sleepable helper, accepted) — the type may call it.
///   The language's program types are probed as the language loads them (their
///   expected attach type from `programKinds`).
///
/// The two must agree where bpftool can tell: every helper found callable here
/// is in bpftool's list for that type (when bpftool knows the helper's name).
struct HelperAvailability {
    /// A program type probed, by bpftool's name (`sched_cls`).
    struct ProbedType {
        var name: String; var type: ProgramType; var expectedAttachType: UInt32; var attachBTFID: UInt32 = 0; var flags: UInt32 = 0
    }

    var bpftoolVersion: String
    /// bpftool's lists: type name → helper names (with `bpf_`); only the types it probed.
    var bpftoolLists: [String: Set<String>]
    /// The types probed here, in enum order.
    var probed: [ProbedType]
    /// Types bpftool reports present on this kernel that were not probed here, with why.
    var notProbed: [String: String]
    /// helper id → the probed types (names) that may call it.
    var callers: [Int32: [String]]
    /// Helpers every probed type answered "invalid func" for: unknown on this kernel.
    var unknown: Set<Int32>
    /// (type, helper, errno) of loads that failed with no verifier message: no answer.
    var inconclusive: [(String, String, Int32)]
    var bpftoolSeconds: Double
    var probeSeconds: Double

    /// Whether bpftool's lists tell types apart on this kernel (a newer bpftool does).
    var bpftoolDiscriminates: Bool { Set(bpftoolLists.values.filter { !$0.isEmpty }).count > 1 }

    func mayCall(_ helper: HelperPrototype, from type: ProgramType) -> Bool {
        guard let name = probed.first(where: { $0.type == type })?.name else { return false }
        return callers[helper.id, default: []].contains(name)
    }

    /// bpftool's name of a program type (`BPF_PROG_TYPE_SCHED_CLS` → `sched_cls`).
    static func name(of type: ProgramType) -> String? {
        ProgramType.kernelNames[type.rawValue].map { String($0.dropFirst("BPF_PROG_TYPE_".count)).lowercased() }
    }

    static func measure(helpers: [HelperPrototype]) throws -> HelperAvailability {
        // bpftool.
        let t0 = Date()
        let version = try Support.run("bpftool", ["version"])
        let run = try Support.run("bpftool", ["-j", "feature", "probe", "kernel"])
        guard run.status == 0,
              let json = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any],
              let types = json["program_types"] as? [String: Bool],
              let lists = json["helpers"] as? [String: [String]]
        else { throw ProbeError("bpftool -j feature probe kernel: status \(run.status), unexpected output: \(run.stderr.prefix(500)) \(run.stdout.prefix(500))") }
        let bpftoolSeconds = Date().timeIntervalSince(t0)
        var bpftoolLists: [String: Set<String>] = [:]
        for (key, names) in lists where key.hasSuffix("_available_helpers") {
            bpftoolLists[String(key.dropLast("_available_helpers".count))] = Set(names)
        }
        let present = Set(types.filter { $0.value }.keys.map { String($0.dropFirst("have_".count).dropLast("_prog_type".count)) })
        guard !present.isEmpty else { throw ProbeError("bpftool reports no program type: \(run.stdout.prefix(300))") }

        // The types to probe: every type bpftool found, loaded as the language
        // loads its kinds or as bpftool's probe does, and `tracing` (tp_btf) and `lsm`,
        // which bpftool cannot probe without an attach target.
        var notProbed: [String: String] = [:]
        var probed: [ProbedType] = []
        let languageAttach = Dictionary(programKinds.map { ($0.programType, $0.expectedAttachType?.rawValue ?? 0) }, uniquingKeysWith: { a, _ in a })
        let otherAttach: [String: UInt32] = [
            "cgroup_sock_addr": BPF_CGROUP_INET4_CONNECT.rawValue, "cgroup_sockopt": BPF_CGROUP_GETSOCKOPT.rawValue,
            "sk_lookup": BPF_SK_LOOKUP.rawValue, "lirc_mode2": BPF_LIRC_MODE2.rawValue,
        ]
        // Types loaded against a kernel function: (attach type, target) for libbpf_find_vmlinux_btf_id.
        // `tracing` as the language declares it in HelperCoverage (tp_btf), which
        // loads also where the kernel refuses the trampolines fentry needs.
        let btfTargets: [String: (bpf_attach_type, String)] = ["tracing": (BPF_TRACE_RAW_TP, "sched_switch"), "lsm": (BPF_LSM_MAC, "file_open")]
        for raw in UInt32(1)...UInt32(64) {
            let type = ProgramType(rawValue: raw)
            guard let name = name(of: type) else { continue }
            var p = ProbedType(name: name, type: type, expectedAttachType: languageAttach[type] ?? otherAttach[name] ?? 0)
            var what = "an empty program"
            if let (attach, target) = btfTargets[name] {
                what = "an empty \(name) program on \(target)"
                let id = libbpf_find_vmlinux_btf_id(target, attach)
                guard id > 0 else { notProbed[name] = "no BTF id for \(target)"; continue }
                p.expectedAttachType = attach.rawValue; p.attachBTFID = UInt32(id)
            } else if name == "syscall" {
                p.flags = BPF_F_SLEEPABLE_FLAG                                  // "Syscall programs can only be sleepable"
            } else if !present.contains(name) {
                notProbed[name] = types["have_\(name)_prog_type"] == false ? "bpftool: not available on this kernel" : "unknown to bpftool"
                if ["ext", "struct_ops"].contains(name) { notProbed[name] = "needs an attach target (a program, a struct_ops map)" }
                continue
            }
            // The type must load an empty program, else its answers mean nothing.
            let empty = load(p, helper: nil)
            guard empty.fd >= 0 else {
                let first = empty.log.split(separator: "\n").first.map(String.init) ?? "no verifier log"
                notProbed[name] = "\(what) does not load (errno \(-empty.fd)): \(first)"
                continue
            }
            close(empty.fd)
            probed.append(p)
        }

        // The helpers, on every probed type.
        let t1 = Date()
        var callers: [Int32: [String]] = [:]
        var unknown: Set<Int32> = []
        var inconclusive: [(String, String, Int32)] = []
        for h in helpers {
            var invalidEverywhere = true
            for p in probed {
                let r = load(p, helper: h.id)
                if r.fd >= 0 { close(r.fd) }
                if r.log.contains("invalid func ") { continue }
                invalidEverywhere = false
                if r.log.contains("unknown func ") || r.log.contains("program of this type cannot use helper ") { continue }
                if r.fd < 0 && r.log.isEmpty { inconclusive.append((p.name, h.name, -r.fd)); continue }
                callers[h.id, default: []].append(p.name)
            }
            if invalidEverywhere && !probed.isEmpty { unknown.insert(h.id) }
        }
        return HelperAvailability(
            bpftoolVersion: version.stdout.split(separator: "\n").first.map(String.init) ?? "bpftool",
            bpftoolLists: bpftoolLists, probed: probed, notProbed: notProbed, callers: callers, unknown: unknown,
            inconclusive: inconclusive, bpftoolSeconds: bpftoolSeconds, probeSeconds: Date().timeIntervalSince(t1))
    }

    /// Loads `call id; r0 = 0; exit` (or `r0 = 0; exit`): the fd (or -errno) and the verifier log.
    static func load(_ p: ProbedType, helper: Int32?) -> (fd: Int32, log: String) {
        // Raw instructions: code, regs, off, imm (little endian).
        var words: [UInt64] = [0xb7, 0x95]                                  // mov64 r0, 0; exit
        if let id = helper { words.insert(0x85 | UInt64(UInt32(bitPattern: id)) << 32, at: 0) }   // call id
        var log = [CChar](repeating: 0, count: 4096)
        let fd: Int32 = words.withUnsafeBytes { insns in
            log.withUnsafeMutableBufferPointer { buf in
                var opts = bpf_prog_load_opts()
                opts.sz = MemoryLayout<bpf_prog_load_opts>.size
                opts.expected_attach_type = bpf_attach_type(p.expectedAttachType)
                opts.attach_btf_id = p.attachBTFID
                opts.prog_flags = p.flags
                opts.log_level = 1
                opts.log_size = UInt32(buf.count)
                opts.log_buf = buf.baseAddress
                return bpf_prog_load(bpf_prog_type(p.type.rawValue), "probe", "GPL",
                                     insns.baseAddress!.assumingMemoryBound(to: bpf_insn.self), words.count, &opts)
            }
        }
        return (fd, String(cString: log))
    }

    /// `BPF_F_SLEEPABLE` (a #define, not imported).
    static let BPF_F_SLEEPABLE_FLAG: UInt32 = 1 << 4

    struct ProbeError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}
