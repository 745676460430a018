#if canImport(Glibc)
import Glibc
#endif

/// Standard output with one buffer, written with write(2): records are
/// batched (a flush per wake-up of the event loop, not per line), and the
/// buffer is flushed before any hook runs, so lines the host writes and
/// lines mruby's `puts` writes (straight to fd 1) keep their order.
final class Output {
    private var buffer: [UInt8] = []
    private let fd: Int32
    /// True once a write failed (EPIPE: the reader went away).
    private(set) var broken = false

    init(fd: Int32 = 1) {
        self.fd = fd
        buffer.reserveCapacity(1 << 16)
    }

    /// Appends in place (no intermediate strings); flushes past 64 KiB.
    @inline(__always) func append(_ body: (inout [UInt8]) -> Void) {
        body(&buffer)
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(0x0a)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !buffer.isEmpty else { return }
        defer { buffer.removeAll(keepingCapacity: true) }
        if broken { return }
        var done = 0
        buffer.withUnsafeBytes { p in
            while done < p.count {
                let n = Glibc.write(fd, p.baseAddress! + done, p.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { broken = true; return }
                done += n
            }
        }
    }
}

/// Writes a line to standard error at once (unbuffered).
func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != 0x0a { bytes.append(0x0a) }
    bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
}
