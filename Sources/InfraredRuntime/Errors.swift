#if canImport(Glibc)
import Glibc
#endif
/// What the kernel asks of a process before it loads or attaches BPF.
public let privilegeHint = "needs root or CAP_BPF+CAP_PERFMON/CAP_SYS_ADMIN"
/// Where libbpf reads a tracepoint's id.
let tracefsEvents = "/sys/kernel/tracing/events"

/// Why an object could not be opened or loaded.
///
/// Like cilium/ebpf's `VerifierError`, a rejection keeps the verifier's whole
/// log while `description` prints a summary: the program, the syscall, the
/// error and the log's last lines.
public enum LoadError: Error, CustomStringConvertible, Sendable {
    /// libbpf could not parse the ELF object (`bpf_object__open_mem`).
    case invalidObject(object: String, errno: Errno, messages: [String])
    /// The verifier rejected `program` (`BPF_PROG_LOAD`); `log` is its whole log.
    case verifierRejected(program: String, errno: Errno, log: String)
    /// The kernel refused for lack of privileges (EPERM, or EACCES without a verifier log).
    case permissionDenied(program: String?, operation: String, errno: Errno)
    /// Any other failure of `operation` (map creation, BTF, CO-RE relocation, …),
    /// with what libbpf printed meanwhile.
    case libbpf(program: String?, operation: String, errno: Errno, messages: [String])
    /// The kernel lacks (or refuses) what `program` needs: `requirement` says
    /// what (`fentry/fexit/lsm programs need BPF trampolines, …`), `detail`
    /// how that was told apart from a privilege error (Trampolines.swift).
    case kernelFeatureMissing(program: String, requirement: String, operation: String, errno: Errno, detail: String)

    /// The program the error is about, when one is known.
    public var program: String? {
        switch self {
        case .invalidObject: return nil
        case .verifierRejected(let program, _, _): return program
        case .permissionDenied(let program, _, _), .libbpf(let program, _, _, _): return program
        case .kernelFeatureMissing(let program, _, _, _, _): return program
        }
    }

    /// The error number the kernel or libbpf returned.
    public var errno: Errno {
        switch self {
        case .invalidObject(_, let e, _), .verifierRejected(_, let e, _),
             .permissionDenied(_, _, let e), .libbpf(_, _, let e, _), .kernelFeatureMissing(_, _, _, let e, _): return e
        }
    }

    /// The verifier's whole log, for a rejection.
    public var verifierLog: String? {
        if case .verifierRejected(_, _, let log) = self { return log }
        return nil
    }

    /// How many of the verifier log's last lines `description` shows.
    public static let summaryLines = 10

    public var description: String {
        switch self {
        case .invalidObject(let object, let e, let messages):
            return "cannot open BPF object '\(object)': \(e)" + Self.indented(messages.suffix(Self.summaryLines))
        case .verifierRejected(let program, let e, let log):
            let lines = log.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
            let tail = lines.suffix(Self.summaryLines)
            let elided = lines.count > tail.count ? "\n  … (\(lines.count - tail.count) earlier lines of the verifier log)" : ""
            return "program '\(program)' rejected by the verifier (BPF_PROG_LOAD: \(e)):" + elided + Self.indented(tail)
        case .permissionDenied(let program, let operation, let e):
            let subject = program.map { "program '\($0)': " } ?? ""
            return "\(subject)\(operation): \(e): \(privilegeHint)"
        case .libbpf(let program, let operation, let e, let messages):
            let subject = program.map { "program '\($0)': " } ?? ""
            return "\(subject)\(operation) failed: \(e)" + Self.indented(messages.suffix(Self.summaryLines))
        case .kernelFeatureMissing(let program, let requirement, let operation, let e, let detail):
            return "program '\(program)': \(requirement) (\(operation) failed: \(e.name))" + Self.indented([detail])
        }
    }

    static func indented<S: Sequence>(_ lines: S) -> String where S.Element == String {
        lines.map { "\n  " + $0 }.joined()
    }
}

/// Why an operation on a loaded object failed (attach, test run, map access).
public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    /// The object was closed before the call.
    case closed(object: String)
    /// The object was opened but `load()` has not succeeded yet.
    case notLoaded(object: String)
    /// No program of that name; `available` lists the object's programs.
    case noSuchProgram(String, available: [String])
    /// No map of that name; `available` lists the object's maps.
    case noSuchMap(String, available: [String])
    /// The thing to attach to does not exist (a tracepoint, function, cgroup, …).
    case attachPointMissing(program: String, target: String, errno: Errno, messages: [String])
    /// The kernel lacks what the program kind needs (`KernelFeatures`): no
    /// kprobe PMU, no BPF trampolines, …; `feature` says which.
    case kernelLacks(program: String, target: String, feature: String, errno: Errno, messages: [String])
    /// libbpf knows no automatic attach point for the section (`cgroup/dev`,
    /// `socket`, `xdp`, …): attach it explicitly (`attachCgroup`, …).
    case cannotAutoAttach(program: String, section: String)
    /// EPERM/EACCES from the kernel.
    case permissionDenied(program: String?, operation: String, errno: Errno)
    /// Any other failure of `operation`, with libbpf's messages.
    case failed(program: String?, operation: String, errno: Errno, messages: [String])

    /// The program the error is about, when one is known.
    public var program: String? {
        switch self {
        case .closed, .notLoaded, .noSuchMap: return nil
        case .noSuchProgram(let name, _): return name
        case .attachPointMissing(let program, _, _, _), .cannotAutoAttach(let program, _): return program
        case .kernelLacks(let program, _, _, _, _): return program
        case .permissionDenied(let program, _, _), .failed(let program, _, _, _): return program
        }
    }

    public var description: String {
        switch self {
        case .closed(let object): return "BPF object '\(object)' is closed"
        case .notLoaded(let object): return "BPF object '\(object)' is not loaded"
        case .noSuchProgram(let name, let available):
            return "no program '\(name)' in the object (programs: \(available.joined(separator: ", ")))"
        case .noSuchMap(let name, let available):
            return "no map '\(name)' in the object (maps: \(available.joined(separator: ", ")))"
        case .attachPointMissing(let program, let target, let e, let messages):
            return "program '\(program)': attach point '\(target)' does not exist: \(e)" + LoadError.indented(messages.suffix(LoadError.summaryLines))
        case .kernelLacks(let program, let target, let feature, let e, let messages):
            return "program '\(program)': cannot attach '\(target)': \(feature) (\(e))" + LoadError.indented(messages.suffix(LoadError.summaryLines))
        case .cannotAutoAttach(let program, let section):
            let how = section.hasPrefix("cgroup") ? "attach it to a cgroup (attachCgroup(program:cgroupPath:))" : "attach it explicitly"
            return "program '\(program)': libbpf cannot attach section '\(section)' by itself; \(how)"
        case .permissionDenied(let program, let operation, let e):
            let subject = program.map { "program '\($0)': " } ?? ""
            if operation.hasPrefix("attach tracepoint/") && e.rawValue == EACCES {
                if geteuid() != 0 {
                    // libbpf reads the tracepoint's id from tracefs, which is mode 0700:
                    // CAP_BPF+CAP_PERFMON do not open it (docs/privileges.md).
                    return "\(subject)\(operation): \(e): tracefs (\(tracefsEvents)) is readable by root only; "
                        + "without root, add CAP_DAC_READ_SEARCH to CAP_BPF+CAP_PERFMON (setcap cap_bpf,cap_perfmon,cap_dac_read_search+ep TOOL)"
                }
                // Root passes every capability check: what is left is perf's
                // check that the program reads no further into the record than
                // the tracepoint's size (perf_event_attach_bpf_prog), done at
                // attach, not by the verifier, or a security module's veto.
                return "\(subject)\(operation): \(e): the kernel refuses a tracepoint program that reads past the end of the "
                    + "tracepoint's record, and this kernel's record is shorter than the format the program was built against "
                    + "(\(tracefsEvents)/…/format): build it against this kernel, or read only the fields its tracepoint has "
                    + "(or a security module such as SELinux refused perf events)"
            }
            return "\(subject)\(operation): \(e): \(privilegeHint)"
        case .failed(let program, let operation, let e, let messages):
            let subject = program.map { "program '\($0)': " } ?? ""
            return "\(subject)\(operation) failed: \(e)" + LoadError.indented(messages.suffix(LoadError.summaryLines))
        }
    }
}
