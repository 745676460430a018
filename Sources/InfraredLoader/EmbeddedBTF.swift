#if canImport(Glibc)
import Glibc
#endif
import CLoaderSupport
import InfraredCompression
import InfraredSupport

/// The kernel BTFs a loader carries for kernels that have none of their own
/// (`gen loader --embed-btf`): for each kernel release, the minimal BTF the
/// object's CO-RE relocations need from that kernel.
///
/// ## Archive format
///
/// All entries are compressed together as one zstd frame (minimal BTFs of
/// kernels of one distribution share most of their types and strings, so
/// one frame compresses them far better than a frame each):
///
///     archive := zstd( count:u32 entry* )
///     entry   := releaseLength:u32 release[releaseLength] btfLength:u32 btf[btfLength]
///
/// Integers are little-endian; releases are UTF-8, unique, sorted.
public struct EmbeddedBTF: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        /// The kernel release (`uname -r`) the BTF describes.
        public var release: String
        /// Raw BTF (types and strings only, no `.BTF.ext`).
        public var btf: [UInt8]
        public init(release: String, btf: [UInt8]) { self.release = release; self.btf = btf }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries.sorted { $0.release < $1.release } }

    public var releases: [String] { entries.map(\.release) }

    /// The compressed archive a payload carries.
    public func archive() throws -> [UInt8] {
        var plain: [UInt8] = []
        func u32(_ v: Int) { plain += (0..<4).map { UInt8(truncatingIfNeeded: UInt32(v) >> (8 * UInt32($0))) } }
        u32(entries.count)
        for e in entries {
            let release = Array(e.release.utf8)
            u32(release.count); plain += release
            u32(e.btf.count); plain += e.btf
        }
        return try Compression.zstdCompress(plain)
    }

    /// Decodes an archive made by `archive()`.
    public init(archive: [UInt8]) throws {
        let source = "the loader's embedded BTF"
        let plain = try Compression.zstd.decompress(archive[...], source: source)
        var at = 0
        func u32() throws -> Int {
            guard plain.count - at >= 4 else { throw FormatError(source, "truncated at byte \(at)") }
            defer { at += 4 }
            return (0..<4).reduce(0) { $0 | Int(plain[at + $1]) << (8 * $1) }
        }
        func bytes(_ n: Int) throws -> [UInt8] {
            guard plain.count - at >= n else { throw FormatError(source, "an entry runs past the end (byte \(at), \(n) bytes)") }
            defer { at += n }
            return Array(plain[at..<at + n])
        }
        let count = try u32()
        var entries: [Entry] = []
        for _ in 0..<count {
            let release = String(decoding: try bytes(try u32()), as: UTF8.self)
            entries.append(Entry(release: release, btf: try bytes(try u32())))
        }
        guard at == plain.count else { throw FormatError(source, "\(plain.count - at) bytes after the last entry") }
        self.init(entries: entries)
    }

    /// The embedded BTF for `release`, if the loader carries one.
    public func btf(release: String) -> [UInt8]? { entries.first { $0.release == release }?.btf }
}

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
            throw LoaderFailure("this kernel (\(release)) has no BTF (/sys/kernel/btf/vmlinux), and BTF is embedded only for "
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

/// An anonymous in-memory file holding `bytes`, for libbpf's
/// `btf_custom_path`, which takes a path: `/proc/self/fd/N` names it. The
/// descriptor stays open for the loader's life.
func memoryFile(named name: String, bytes: [UInt8]) throws -> String {
    let fd = irl_memfd(name)
    guard fd >= 0 else { throw LoaderFailure("cannot hold the embedded BTF in memory (memfd_create): \(String(cString: strerror(errno)))") }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else {
            let why = String(cString: strerror(errno)); close(fd)
            throw LoaderFailure("cannot hold the embedded BTF in memory: \(why)")
        }
        done += n
    }
    return "/proc/self/fd/\(fd)"
}
