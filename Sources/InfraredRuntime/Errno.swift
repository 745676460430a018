#if canImport(Glibc)
import Glibc
#endif

/// An error number from a syscall or libbpf, as swift-system's `Errno` does it:
/// a `RawRepresentable` struct, so values this file doesn't list still fit.
///
/// libbpf returns negative error codes; `init(libbpf:)` takes either sign.
/// Codes above 4000 are libbpf's own (`LIBBPF_ERRNO__*`, e.g. 4001 "Invalid
/// ELF object format"); `description` names them through `libbpf_strerror`.
public struct Errno: RawRepresentable, Hashable, Sendable, Error, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// A libbpf return code (`-EPERM`) or an errno value (`EPERM`).
    public init(libbpf code: Int32) { self.rawValue = code < 0 ? -code : code }

    /// The calling thread's `errno`.
    static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// `EPERM`: operation not permitted (missing capability).
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `ENOENT`: no such file, tracepoint, function or object.
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// `ESRCH`: no such process / kernel object.
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    /// `EBADF`: bad file descriptor.
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    /// `EACCES`: permission denied; also what the verifier returns on rejection.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EINVAL`: invalid argument.
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ENOSPC`: no space (verifier log buffer too small).
    public static let noSpace = Errno(rawValue: ENOSPC)
    /// `E2BIG`: argument too big.
    public static let argumentListTooLong = Errno(rawValue: E2BIG)
    /// `ENOSYS`: the `bpf` syscall is not implemented.
    public static let noFunction = Errno(rawValue: ENOSYS)
    /// `EOPNOTSUPP`: e.g. a section libbpf cannot auto-attach.
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    /// `ENOTSUP` spelled as libbpf's `-ENOTSUP` (524 in the kernel); libbpf also uses `EOPNOTSUPP`.
    public static let kernelNotSupported = Errno(rawValue: 524)

    /// The C constant's name (`EPERM`), or the number when unknown.
    public var name: String {
        switch rawValue {
        case EPERM: return "EPERM"
        case ENOENT: return "ENOENT"
        case ESRCH: return "ESRCH"
        case EINTR: return "EINTR"
        case EBADF: return "EBADF"
        case E2BIG: return "E2BIG"
        case EAGAIN: return "EAGAIN"
        case ENOMEM: return "ENOMEM"
        case EACCES: return "EACCES"
        case EFAULT: return "EFAULT"
        case EBUSY: return "EBUSY"
        case EEXIST: return "EEXIST"
        case ENODEV: return "ENODEV"
        case ENOTDIR: return "ENOTDIR"
        case EINVAL: return "EINVAL"
        case ENOSPC: return "ENOSPC"
        case ERANGE: return "ERANGE"
        case ENOSYS: return "ENOSYS"
        case EOPNOTSUPP: return "EOPNOTSUPP"
        case 524: return "ENOTSUPP"
        case 4000..<4014: return "LIBBPF_ERRNO__" + Self.libbpfNames[Int(rawValue) - 4000]
        default: return "errno \(rawValue)"
        }
    }

    /// libbpf's own codes from 4000 (`enum libbpf_errno` in <bpf/libbpf.h>).
    private static let libbpfNames = ["LIBELF", "FORMAT", "KVERSION", "ENDIAN", "INTERNAL", "RELOC", "LOAD",
                                      "VERIFY", "PROG2BIG", "KVER", "PROGTYPE", "WRNGPID", "INVSEQ", "NLPARSE"]

    /// The message `strerror` (or `libbpf_strerror` for libbpf's own codes) gives.
    public var message: String {
        Sys.errorMessage(rawValue)
    }

    /// True for the two codes the kernel uses when the caller lacks a capability.
    public var isPrivilegeError: Bool { self == .notPermitted || self == .permissionDenied }

    /// `EPERM (Operation not permitted)`.
    public var description: String { "\(name) (\(message))" }
}
