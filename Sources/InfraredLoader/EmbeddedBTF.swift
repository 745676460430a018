#if canImport(Glibc)
import Glibc
#endif
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

