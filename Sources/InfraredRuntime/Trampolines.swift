import BPF
#if canImport(Glibc)
import Glibc
#endif

// fentry, fexit and lsm programs attach through BPF trampolines, which the
// kernel sets up when it loads the program (check_attach_btf_id →
// bpf_trampoline_get). A kernel that refuses them answers BPF_PROG_LOAD with
// EPERM before the verifier runs, with no log, which libbpf then blames on
// privileges ("try raising 'ulimit -l'"). When the process has the
// privileges tracing programs need (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN),
// or a kprobe program, which needs the same, does load, the EPERM is the
// kernel's refusal of the trampoline, and the error says so.

extension Kernel {
    /// Whether this process may load tracing programs: loads the smallest
    /// kprobe program (`r0 = 0; exit`) with `BPF_PROG_LOAD` and unloads it.
    public static func canLoadKprobePrograms() -> Bool {
        let instructions: [Instruction] = [.mov64(.r0, imm: 0), .exit]
        guard case .success(let fd) = Sys.loadRawProgram(type: ProgramType.kprobe.rawValue, name: probeProgramName, license: "GPL",
                                                          instructions: instructions.bytes) else { return false }
        Sys.closeFD(fd)
        return true
    }

    /// Whether the effective capabilities allow loading tracing programs:
    /// CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON (<linux/capability.h>: 21,
    /// 39, 38), from `CapEff:` in /proc/self/status.
    public static func hasTracingCapabilities() -> Bool {
        guard let f = fopen("/proc/self/status", "r") else { return false }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = String(cString: line)
            guard text.hasPrefix("CapEff:") else { continue }
            guard let caps = UInt64(text.dropFirst("CapEff:".count).filter { !$0.isWhitespace }, radix: 16) else { return false }
            func has(_ bit: UInt64) -> Bool { caps & (1 << bit) != 0 }
            return has(21) || (has(39) && has(38))
        }
        return false
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
              Kernel.hasTracingCapabilities() || Kernel.canLoadKprobePrograms() else { return nil }
        return .kernelFeatureMissing(program: program,
                                     requirement: "fentry/fexit/lsm programs need BPF trampolines, which this kernel does not provide",
                                     operation: "BPF_PROG_LOAD", errno: errno,
                                     detail: "this process has CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), so privileges are not the cause; on this kernel use kprobe/kretprobe or tracepoints instead")
    }
}
