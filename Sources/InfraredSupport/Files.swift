#if canImport(Glibc)
import Glibc
#endif

/// Bad input bytes (BTF, ELF, a kernel image, a compressed stream) or an
/// unreadable file: what is wrong and where. InfraredBTF calls it `BTFFormatError`.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The input (a path, or a description such as "BTF").
    public var source: String
    public var message: String
    public init(_ source: String, _ message: String) { self.source = source; self.message = message }
    public var description: String { "\(source): \(message)" }
}

/// The whole file at `path` (read to its end: sysfs and procfs sizes are not
/// lengths), or a `FormatError` saying why not.
public func readFile(_ path: String) throws -> [UInt8] {
    var info = stat()
    guard stat(path, &info) == 0 else { throw FormatError(path, "no such file") }
    guard info.st_mode & S_IFMT != S_IFDIR else { throw FormatError(path, "is a directory") }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FormatError(path, "cannot open the file") }
    defer { close(fd) }
    // sysfs files report size 4096 whatever their length, so read to the end.
    var bytes: [UInt8] = []
    bytes.reserveCapacity(max(Int(info.st_size), 0))
    // Read through a buffer the size of the file (64 KB at most) that is
    // not zeroed first: a zeroed 64 KB array was two thirds of the work of
    // reading a 500-byte tracepoint format, and four page faults a build.
    let size = min(1 << 16, max(Int(info.st_size) + 1, 4096))
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    defer { chunk.deallocate() }
    while true {
        let n = read(fd, chunk.baseAddress, size)
        if n == 0 { return bytes }
        if n < 0 {
            if errno == EINTR { continue }
            throw FormatError(path, "cannot read the file: \(String(cString: strerror(errno)))")
        }
        bytes += UnsafeRawBufferPointer(rebasing: chunk[0..<n])
    }
}

/// The names of the entries of directory `path` (without `.` and `..`), in
/// the order `readdir` gives them; nil when it cannot be opened.
public func directoryEntries(_ path: String) -> [String]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Little-endian reads of byte arrays (the ELF, BTF and bzImage headers);
/// callers check bounds first.
extension Array where Element == UInt8 {
    public func le16(_ o: Int) -> UInt16 { UInt16(self[o]) | UInt16(self[o + 1]) << 8 }
    public func le32(_ o: Int) -> UInt32 { UInt32(le16(o)) | UInt32(le16(o + 2)) << 16 }
    public func le64(_ o: Int) -> UInt64 { UInt64(le32(o)) | UInt64(le32(o + 4)) << 32 }
}
