#if canImport(Glibc)
import Glibc
#endif

/// Standard output with one buffer, written with write(2): records are
/// batched (a flush when the buffer is full and once per wake-up of the
/// event loop, not per line), and the buffer is flushed before any hook
/// runs, so lines the host writes and lines mruby's `puts` writes (straight
/// to fd 1) keep their order.
///
/// The buffer is raw memory: the record printers format into it in place
/// (`space`, then `commit`), with no array growth or reference counting per
/// record.
final class Output {
    private var base: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private let fd: Int32
    /// True once a write failed (EPIPE: the reader went away).
    private(set) var broken = false

    /// 256 KiB: large writes (a drain of a full ring buffer is a few dozen
    /// write(2) calls), small enough to stay in the cache.
    init(fd: Int32 = 1, capacity: Int = 1 << 18) {
        self.fd = fd
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// Where the next `n` bytes go: flushes first when they do not fit (and
    /// grows the buffer for a line longer than it). Follow with `commit`.
    @inline(__always) func space(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        if capacity &- count < n { makeRoom(n) }
        return base + count
    }

    /// Adds the `n` bytes written at `space`'s pointer.
    @inline(__always) func commit(_ n: Int) { count &+= n }

    private func makeRoom(_ n: Int) {
        flush()
        if n > capacity {
            base.deallocate()
            capacity = n
            base = .allocate(capacity: n)
        }
    }

    func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            guard let b = bytes.baseAddress else { return }
            if bytes.count > capacity {     // a long text (maps printed at exit): straight through
                flush()
                writeAll(b, bytes.count)
                return
            }
            space(bytes.count).update(from: b, count: bytes.count)
            commit(bytes.count)
        }
    }

    func line(_ text: String) {
        write(text)
        space(1).pointee = 0x0a
        commit(1)
    }

    func flush() {
        guard count > 0 else { return }
        writeAll(base, count)
        count = 0
    }

    private func writeAll(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if broken { return }
        var done = 0
        while done < n {
            let w = Glibc.write(fd, p + done, n - done)
            if w < 0 && errno == EINTR { continue }
            if w <= 0 { broken = true; return }
            done += w
        }
    }
}

/// Writes a line to standard error at once (unbuffered).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != 0x0a { bytes.append(0x0a) }
    bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}
