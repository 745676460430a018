#if canImport(Glibc)
import Glibc
#endif
import InfraredCompression
import InfraredSupport

/// What a loader carries: the probe's BPF object, its manifest, its hooks
/// as mruby bytecode, and the Ruby source they came from.
///
/// ## Wire format
///
/// A loader is the runner executable with the payload appended, then a
/// 64-byte trailer (little-endian):
///
///     payload := entry*
///     entry   := tag[4] length:u64 bytes[length]        tags: NAME OBJ_ MANI RITE SRC_ KBTF
///     trailer := payloadLength:u64 crc32(payload):u32 zero[28] version:u32 reserved:u32 magic[16]
///
/// `magic` is `INFRARED-LOADER1`. The runner reads the trailer from the end
/// of `/proc/self/exe`, then the payload before it, and checks its CRC-32
/// (zlib's) before decoding anything, so a truncated or damaged file is
/// refused before a byte of it reaches libbpf or mruby. The check is against
/// accident, not attack: whoever can alter the payload can rewrite its sum,
/// whatever the sum. Format version 1 held a SHA-256 in the same place;
/// CRC-32 costs 0.05 ms for a 150 KB payload where SHA-256 cost 1.4 ms of
/// every start (Benchmarks/startup-breakdown.sh). Unknown tags are skipped
/// (later versions may add some); a missing required tag is an error.
public struct LoaderPayload: Sendable, Equatable {
    /// The tool's name (the probe file's base name): object name, metric prefix.
    public var name: String
    /// The relocatable BPF ELF object.
    public var object: [UInt8]
    /// The compiler's manifest as JSON (decoded with `LoaderManifest`).
    public var manifestJSON: [UInt8]
    /// The probe file compiled to mruby bytecode (RITE), run for its hooks.
    public var bytecode: [UInt8]
    /// The probe file's Ruby source, for reference (`--print-source`).
    public var source: String
    /// Minimal kernel BTFs for kernels without their own (`gen loader
    /// --embed-btf`), as `EmbeddedBTF`'s compressed archive; empty: none.
    /// Written only when present, so loaders without it are unchanged.
    public var embeddedBTF: [UInt8]

    public init(name: String, object: [UInt8], manifestJSON: [UInt8], bytecode: [UInt8], source: String, embeddedBTF: [UInt8] = []) {
        self.name = name; self.object = object; self.manifestJSON = manifestJSON; self.bytecode = bytecode; self.source = source
        self.embeddedBTF = embeddedBTF
    }

    public static let magic = Array("INFRARED-LOADER1".utf8)
    public static let version: UInt32 = 2
    public static let trailerSize = 64

    /// The payload and its trailer, to append to the runner.
    public func encoded() -> [UInt8] {
        var payload: [UInt8] = []
        func entry(_ tag: String, _ bytes: [UInt8]) {
            payload += Array(tag.utf8)
            payload += Self.le(UInt64(bytes.count))
            payload += bytes
        }
        entry("NAME", Array(name.utf8))
        entry("OBJ_", object)
        entry("MANI", manifestJSON)
        entry("RITE", bytecode)
        entry("SRC_", Array(source.utf8))
        if !embeddedBTF.isEmpty { entry("KBTF", embeddedBTF) }
        var trailer = Self.le(UInt64(payload.count))
        trailer += Self.le32(Compression.crc32(payload)) + [UInt8](repeating: 0, count: 28)
        trailer += Self.le32(Self.version) + Self.le32(0)
        trailer += Self.magic
        precondition(trailer.count == Self.trailerSize)
        return payload + trailer
    }

    /// Decodes a payload whose CRC-32 has been checked.
    public init(payload: [UInt8]) throws {
        self = try payload.withUnsafeBytes { try LoaderPayload(buffer: $0) }
    }

    /// Decodes a payload in memory (the loader's: mapped from its own file),
    /// copying each entry out once.
    init(buffer payload: UnsafeRawBufferPointer) throws {
        var entries: [(tag: UInt32, bytes: UnsafeRawBufferPointer)] = []
        var i = 0
        while i < payload.count {
            guard payload.count - i >= 12 else { throw PayloadError.corrupted("truncated entry header at byte \(i)") }
            let tag = payload.loadUnaligned(fromByteOffset: i, as: UInt32.self)
            let length = UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: i + 4, as: UInt64.self))
            i += 12
            guard length <= UInt64(payload.count - i) else {
                throw PayloadError.corrupted("entry \(Self.tagName(tag)) runs past the payload")
            }
            entries.append((tag, UnsafeRawBufferPointer(rebasing: payload[i..<i + Int(length)])))
            i += Int(length)
        }
        // The last entry of a tag wins, as it did when entries went into a dictionary.
        func entry(_ name: StaticString) -> UnsafeRawBufferPointer? {
            let tag = name.withUTF8Buffer { UnsafeRawBufferPointer($0).loadUnaligned(as: UInt32.self) }
            return entries.last { $0.tag == tag }?.bytes
        }
        func required(_ name: StaticString) throws -> UnsafeRawBufferPointer {
            guard let v = entry(name) else { throw PayloadError.corrupted("no \(name) entry") }
            return v
        }
        name = String(decoding: try required("NAME"), as: UTF8.self)
        object = Array(try required("OBJ_"))
        manifestJSON = Array(try required("MANI"))
        bytecode = entry("RITE").map { Array($0) } ?? []
        source = String(decoding: entry("SRC_") ?? UnsafeRawBufferPointer(start: nil, count: 0), as: UTF8.self)
        embeddedBTF = entry("KBTF").map { Array($0) } ?? []
    }

    private static func tagName(_ tag: UInt32) -> String {
        withUnsafeBytes(of: tag) { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads and verifies the payload at the end of the file at `path`
    /// (`/proc/self/exe` for the running loader). The payload is mapped, not
    /// read: the page cache's pages are checked and each entry copied out of
    /// them once (reading had zeroed, filled and copied 150 KB of fresh
    /// memory, a third of a 100-program loader's payload step).
    public static func read(executable path: String) throws -> LoaderPayload {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PayloadError.unreadable(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PayloadError.unreadable(path, String(cString: strerror(errno))) }
        let size = Int(st.st_size)
        guard size >= trailerSize else { throw PayloadError.missing }
        let trailer = try pread(fd, count: trailerSize, at: size - trailerSize, path: path)
        guard Array(trailer[48..<64]) == magic else { throw PayloadError.missing }
        let version = UInt32(trailer[40]) | UInt32(trailer[41]) << 8 | UInt32(trailer[42]) << 16 | UInt32(trailer[43]) << 24
        guard version == Self.version else { throw PayloadError.corrupted("payload format version \(version), this runner reads \(Self.version)") }
        let length = readLE(trailer, at: 0)
        guard length <= UInt64(size - trailerSize) else { throw PayloadError.corrupted("payload length \(length) exceeds the file") }
        let expected = UInt32(truncatingIfNeeded: readLE(trailer, at: 8))
        guard trailer[12..<40].allSatisfy({ $0 == 0 }) else { throw PayloadError.corrupted("the trailer's reserved bytes are not zero") }
        let start = size - trailerSize - Int(length)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapStart = start - start % page
        let mapLength = size - trailerSize - mapStart
        // An empty payload on a page boundary maps nothing (mmap refuses a
        // length of 0); it still goes through the same check.
        var mapped: UnsafeMutableRawPointer?
        if mapLength > 0 {
            guard let base = mmap(nil, mapLength, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, off_t(mapStart)), base != MAP_FAILED else {
                throw PayloadError.unreadable(path, String(cString: strerror(errno)))
            }
            mapped = base
        }
        defer { if let mapped { munmap(mapped, mapLength) } }
        let payload = UnsafeRawBufferPointer(start: mapped.map { $0 + (start - mapStart) }, count: Int(length))
        let found = Compression.crc32(payload)
        guard found == expected else {
            throw PayloadError.corrupted("CRC-32 mismatch (expected \(Self.hex32(expected)), found \(Self.hex32(found)))")
        }
        return try LoaderPayload(buffer: payload)
    }

    private static func pread(_ fd: Int32, count: Int, at offset: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { Glibc.pread(fd, $0.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw PayloadError.unreadable(path, n < 0 ? String(cString: strerror(errno)) : "unexpected end of file") }
            done += n
        }
        return bytes
    }

    static func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }
    static func hex32(_ v: UInt32) -> String { Self.le32(v).reversed().hexString }
    static func readLE(_ b: [UInt8], at o: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) }
    }
}

/// Why a loader's payload cannot be used.
public enum PayloadError: Error, CustomStringConvertible, Equatable {
    /// The executable has no trailer: it is the bare runner.
    case missing
    /// The trailer or payload does not check out.
    case corrupted(String)
    case unreadable(String, String)

    public var description: String {
        switch self {
        case .missing:
            return "this executable carries no probe (it is the bare runner); build a tool with `infrared gen loader PROG.rb -o TOOL`"
        case .corrupted(let why): return "corrupted payload: \(why); rebuild the tool with `infrared gen loader`"
        case .unreadable(let path, let why): return "cannot read \(path): \(why)"
        }
    }
}
