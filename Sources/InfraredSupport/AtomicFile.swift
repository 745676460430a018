#if canImport(Glibc)
import Glibc
#endif

/// Writing a file so that readers see either the whole new contents or the
/// old file: a temporary file beside it (mkstemp), then rename(2). What the
/// CLI writes (objects, BTF, skeletons, loaders) and the profiler's flame
/// graphs go through here. A path that is a device, FIFO or socket
/// (`-o /dev/null`, `-o /dev/stdout`) is written in place: renaming over it
/// would replace the device node with a regular file.
public enum AtomicFile {
    /// What failed, as one line: `cannot write PATH: STEP: REASON`.
    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes `bytes` to `path` with the permissions a new file gets (0666
    /// less the umask). `sync`: fsync before the rename, so the contents
    /// survive a crash too; a compiler's outputs (as clang's) skip it.
    public static func write(_ bytes: [UInt8], to path: String, sync: Bool = false) throws {
        func fail(_ what: String) -> WriteError { WriteError(description: "cannot write \(path): \(what): \(String(cString: strerror(errno)))") }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG, info.st_mode & S_IFMT != S_IFDIR {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw fail("open") }
            defer { close(fd) }
            try writeAll(bytes, to: fd, fail)
            return
        }
        let slash = path.lastIndex(of: "/")
        let dir = slash.map { String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw WriteError(description: "cannot write \(path): not a file name") }
        var template = Array(((dir.isEmpty ? "" : dir) + "/." + base + ".XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw fail("creating a temporary file in \(dir.isEmpty ? "/" : dir)") }
        let temporary = String(cString: template)
        var done = false
        defer { if !done { close(fd); unlink(temporary) } }
        try writeAll(bytes, to: fd, fail)
        let mask = umask(0); umask(mask)
        guard fchmod(fd, 0o666 & ~mask) == 0 else { throw fail("fchmod") }
        if sync { guard fsync(fd) == 0 else { throw fail("fsync") } }
        guard close(fd) == 0 else { done = true; unlink(temporary); throw fail("close") }
        done = true
        guard rename(temporary, path) == 0 else {
            let e = fail("rename")
            unlink(temporary)
            throw e
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, _ fail: (String) -> WriteError) throws {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw fail("write") }
            written += n
        }
    }
}
