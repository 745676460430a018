import BPF

/// Questions about the running kernel that only loading something answers.
public enum Kernel {
    /// The name of the probe program `canLoadBPF` loads.
    public static let probeProgramName = "infrared_probe"

    /// Whether this process can load BPF at all: loads the smallest socket
    /// filter (`r0 = 0; exit`) with `BPF_PROG_LOAD` and unloads it.
    ///
    /// Fails with `.permissionDenied` without root or CAP_BPF, and with
    /// `.libbpf` when the kernel has no `bpf(2)` (ENOSYS) or refuses otherwise.
    public static func canLoadBPF() -> Result<Void, LoadError> {
        let instructions: [Instruction] = [.mov64(.r0, imm: 0), .exit]
        switch Sys.loadRawProgram(type: ProgramType.socketFilter.rawValue, name: probeProgramName,
                                  license: "GPL", instructions: instructions.bytes) {
        case .success(let fd):
            Sys.closeFD(fd)
            return .success(())
        case .failure(let e) where e.isPrivilegeError:
            return .failure(.permissionDenied(program: probeProgramName, operation: "BPF_PROG_LOAD", errno: e))
        case .failure(let e) where e == .noFunction:
            return .failure(.libbpf(program: probeProgramName, operation: "BPF_PROG_LOAD", errno: e,
                                    messages: ["the kernel has no bpf(2) syscall (CONFIG_BPF_SYSCALL is off)"]))
        case .failure(let e):
            return .failure(.libbpf(program: probeProgramName, operation: "BPF_PROG_LOAD", errno: e, messages: []))
        }
    }

    /// The ids of every BPF program loaded in the kernel (`BPF_PROG_GET_NEXT_ID`).
    public static func programIDs() throws -> [UInt32] {
        try Sys.allIDs(links: false).mapError { RuntimeError.failed(program: nil, operation: "BPF_PROG_GET_NEXT_ID", errno: $0, messages: []) }.get()
    }

    /// The ids of every BPF link in the kernel (`BPF_LINK_GET_NEXT_ID`).
    public static func linkIDs() throws -> [UInt32] {
        try Sys.allIDs(links: true).mapError { RuntimeError.failed(program: nil, operation: "BPF_LINK_GET_NEXT_ID", errno: $0, messages: []) }.get()
    }
}
