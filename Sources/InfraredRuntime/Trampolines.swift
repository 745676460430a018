import BPF

// fentry, fexit and lsm programs attach through BPF trampolines, which the
// kernel sets up when it loads the program (check_attach_btf_id →
// bpf_trampoline_get). A kernel that refuses them answers BPF_PROG_LOAD with
// EPERM before the verifier runs, with no log, which libbpf then blames on
// privileges ("try raising 'ulimit -l'"). When a kprobe program, which needs
// the same privileges (CAP_BPF + CAP_PERFMON), does load, the EPERM is the
// kernel's refusal of the trampoline, and the error says so.

extension Kernel {
    /// Whether this process may load tracing programs: loads the smallest
    /// kprobe program (`r0 = 0; exit`) with `BPF_PROG_LOAD` and unloads it.
    public static func canLoadKprobePrograms() -> Bool {
        let instructions: [Instruction] = [.mov64(.r0, imm: 0), .exit]
        switch Sys.loadRawProgram(type: ProgramType.kprobe.rawValue, name: probeProgramName, license: "GPL",
                                  instructions: instructions.bytes) {
        case .success(let fd):
            Sys.closeFD(fd)
            return true
        case .failure:
            return false
        }
    }
}

extension ProgramKind {
    /// Whether the kernel runs programs of this kind through a BPF
    /// trampoline (fentry, fexit, lsm), which it sets up at load time.
    public var usesTrampoline: Bool {
        programType == .lsm || expectedAttachType == .traceFentry || expectedAttachType == .traceFexit || expectedAttachType == .modifyReturn
    }
}

extension LoadError {
    /// The error for a program in `section` that failed to load with `errno`
    /// and no verifier log, when the cause is the kernel refusing BPF
    /// trampolines: EPERM for a trampoline kind while kprobe programs load.
    static func trampolineRefused(program: String, section: String, errno: Errno) -> LoadError? {
        guard errno == .notPermitted, let kind = ProgramKind.forSection(section), kind.usesTrampoline,
              Kernel.canLoadKprobePrograms() else { return nil }
        return .kernelFeatureMissing(program: program,
                                     requirement: "fentry/fexit/lsm programs need BPF trampolines, which this kernel does not provide",
                                     operation: "BPF_PROG_LOAD", errno: errno,
                                     detail: "kprobe programs load here, so privileges are not the cause; on this kernel use kprobe/kretprobe instead")
    }
}
