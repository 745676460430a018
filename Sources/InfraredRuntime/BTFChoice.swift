#if canImport(Glibc)
import Glibc
#endif
import CLibBPF

/// Which BTF a loader relocates against, in the contract's order: `--btf`;
/// else the running kernel's own; else the embedded one of the running
/// release; else none (an error when the loader embeds BTF for other kernels).
public enum BTFChoice: Equatable, Sendable {
    /// `--btf FILE`.
    case file(String)
    /// The kernel's own BTF (libbpf finds it: no custom path).
    case kernel
    /// The embedded BTF of this release.
    case embedded(release: String)
    /// Neither: the loader embeds no BTF and the kernel has none (libbpf says so if the object needs it).
    case none

    /// - Parameters:
    ///   - kernelHasBTF: `/sys/kernel/btf/vmlinux` exists and is not empty.
    public static func choose(btfOption: String?, kernelHasBTF: Bool, release: String, embedded: [String]) throws -> BTFChoice {
        if let btfOption { return .file(btfOption) }
        if kernelHasBTF { return .kernel }
        if embedded.isEmpty { return .none }
        guard embedded.contains(release) else {
            throw BTFChoiceError("this kernel (\(release)) has no BTF (/sys/kernel/btf/vmlinux), and BTF is embedded only for "
                + embedded.joined(separator: ", ")
                + "; embed this kernel's BTF too (`--embed-btf RELEASE.btf` when building), or pass --btf FILE")
        }
        return .embedded(release: release)
    }

    /// Whether the running kernel has BTF of its own: sysfs's file exists and
    /// is not empty (an empty file bound over it hides it, as the kernel-matrix tests do).
    public static func kernelHasBTF(path: String = "/sys/kernel/btf/vmlinux") -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_size > 0
    }

    /// `uname -r`.
    public static func runningRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "unknown" }
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

/// Why no BTF can be chosen: this kernel has none and none is embedded for it.
public struct BTFChoiceError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension BTFChoice {
    /// An anonymous in-memory file holding `bytes`, for libbpf's
    /// `btf_custom_path`, which takes a path: `/proc/self/fd/N` names it.
    /// The descriptor stays open for the process's life (libbpf reads the
    /// file at load, and the bytes are a minimal BTF: a few hundred bytes).
    public static func memoryFile(named name: String, bytes: [UInt8]) throws -> String {
        let fd = infrared_memfd(name)
        guard fd >= 0 else { throw BTFChoiceError("cannot hold the embedded BTF in memory (memfd_create): \(String(cString: strerror(errno)))") }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let why = String(cString: strerror(errno)); close(fd)
                throw BTFChoiceError("cannot hold the embedded BTF in memory: \(why)")
            }
            done += n
        }
        return "/proc/self/fd/\(fd)"
    }

    /// The `btf_custom_path` for an object carrying `embedded` BTFs (release,
    /// raw BTF): nil when the kernel has BTF of its own (libbpf reads it),
    /// else a memory file with the one of `uname -r`; throws naming the
    /// releases when there is none. `--btf`-style overrides are the caller's.
    public static func customPath(embedded: [(release: String, btf: [UInt8])], name: String) throws -> String? {
        switch try choose(btfOption: nil, kernelHasBTF: kernelHasBTF(), release: runningRelease(), embedded: embedded.map(\.release)) {
        case .embedded(let release):
            return try memoryFile(named: "\(name)-btf", bytes: embedded.first { $0.release == release }!.btf)
        case .file(let path): return path
        case .kernel, .none: return nil
        }
    }
}
