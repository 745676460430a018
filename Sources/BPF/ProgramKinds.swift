/// One row per program declaration of the probe language: the ELF section
/// libbpf expects (its `SEC()` convention), the kernel program type, the
/// expected attach type, and the context struct the kernel passes.
///
/// This is the single table the compiler, the object writer and the runtime
/// consult; nothing else spells section names.
public struct ProgramKind: Sendable, Hashable {
    /// The declaration's name in Ruby (`cgroup_device`, `xdp`, …).
    public var declaration: String
    /// Section name, or its prefix when the declaration takes an attach target.
    public var section: String
    public var takesTarget: Bool
    public var programType: ProgramType
    public var expectedAttachType: AttachType?
    /// The kernel struct the context pointer points at (`nil`: `void *` / per-target).
    public var contextStruct: String?
    /// For BTF-typed programs (fentry, fexit, tp_btf, lsm): where their
    /// arguments' prototype is in the kernel's BTF. Their context is then an
    /// array of u64 slots, one per argument (`ctx[i]`).
    public var btfArguments: BTFArguments? = nil

    /// The section for a declaration with the given attach target (`sched/sched_process_exec`).
    public func sectionName(target: String?) -> String {
        guard takesTarget, let target else { return section }
        return section + target
    }
}

/// Where a BTF-typed program's arguments are described in the kernel's BTF,
/// as the kernel's bpf_check_attach_target finds them.
public enum BTFArguments: Sendable, Hashable {
    /// The `BTF_KIND_FUNC` named `prefix` + the target (`do_unlinkat`,
    /// `bpf_lsm_file_open`); `returnValue`: the return value follows the
    /// arguments (fexit's `ctx.ret`).
    case function(prefix: String, returnValue: Bool)
    /// The `btf_trace_<target>` typedef of a BTF tracepoint.
    case tracepoint
}

public let programKinds: [ProgramKind] = [
    ProgramKind(declaration: "socket_filter", section: "socket", takesTarget: false, programType: .socketFilter, expectedAttachType: nil, contextStruct: "__sk_buff"),
    ProgramKind(declaration: "xdp", section: "xdp", takesTarget: false, programType: .xdp, expectedAttachType: .xdp, contextStruct: "xdp_md"),
    ProgramKind(declaration: "cgroup_device", section: "cgroup/dev", takesTarget: false, programType: .cgroupDevice, expectedAttachType: .cgroupDevice, contextStruct: "bpf_cgroup_dev_ctx"),
    ProgramKind(declaration: "tc", section: "tc", takesTarget: false, programType: .schedCls, expectedAttachType: nil, contextStruct: "__sk_buff"),
    ProgramKind(declaration: "tracepoint", section: "tracepoint/", takesTarget: true, programType: .tracepoint, expectedAttachType: nil, contextStruct: nil),
    ProgramKind(declaration: "raw_tracepoint", section: "raw_tracepoint/", takesTarget: true, programType: .rawTracepoint, expectedAttachType: nil, contextStruct: "bpf_raw_tracepoint_args"),
    ProgramKind(declaration: "kprobe", section: "kprobe/", takesTarget: true, programType: .kprobe, expectedAttachType: nil, contextStruct: "pt_regs"),
    ProgramKind(declaration: "kretprobe", section: "kretprobe/", takesTarget: true, programType: .kprobe, expectedAttachType: nil, contextStruct: "pt_regs"),
    ProgramKind(declaration: "uprobe", section: "uprobe/", takesTarget: true, programType: .kprobe, expectedAttachType: nil, contextStruct: "pt_regs"),
    ProgramKind(declaration: "uretprobe", section: "uretprobe/", takesTarget: true, programType: .kprobe, expectedAttachType: nil, contextStruct: "pt_regs"),
    ProgramKind(declaration: "usdt", section: "usdt/", takesTarget: true, programType: .kprobe, expectedAttachType: nil, contextStruct: "pt_regs"),
    ProgramKind(declaration: "perf_event", section: "perf_event", takesTarget: false, programType: .perfEvent, expectedAttachType: nil, contextStruct: "bpf_perf_event_data"),
    ProgramKind(declaration: "fentry", section: "fentry/", takesTarget: true, programType: .tracing, expectedAttachType: .traceFentry, contextStruct: nil,
                btfArguments: .function(prefix: "", returnValue: false)),
    ProgramKind(declaration: "fexit", section: "fexit/", takesTarget: true, programType: .tracing, expectedAttachType: .traceFexit, contextStruct: nil,
                btfArguments: .function(prefix: "", returnValue: true)),
    ProgramKind(declaration: "tp_btf", section: "tp_btf/", takesTarget: true, programType: .tracing, expectedAttachType: .traceRawTp, contextStruct: nil,
                btfArguments: .tracepoint),
    ProgramKind(declaration: "lsm", section: "lsm/", takesTarget: true, programType: .lsm, expectedAttachType: .lsmMac, contextStruct: nil,
                btfArguments: .function(prefix: "bpf_lsm_", returnValue: false)),
]

/// Row index by declaration (the first row, should two share one): a loader
/// looks up every program's kind in its manifest.
private let programKindsByDeclaration: [String: Int] =
    Dictionary(programKinds.enumerated().map { ($0.element.declaration, $0.offset) }, uniquingKeysWith: { first, _ in first })

public extension ProgramKind {
    /// The row for a declaration name.
    static func declared(_ name: String) -> ProgramKind? { programKindsByDeclaration[name].map { programKinds[$0] } }
    /// The row whose section matches an ELF section name (seed form's `section!`), longest prefix first.
    static func forSection(_ name: String) -> ProgramKind? {
        programKinds.filter { $0.takesTarget ? name.hasPrefix($0.section) : name == $0.section }
            .max { $0.section.count < $1.section.count }
    }
}
