#if canImport(Glibc)
import Glibc
#endif
import InfraredSupport

/// `printk` output (`bpf_trace_printk`) shown by the loader instead of
/// vanishing into the kernel's trace buffer: the lines of
/// /sys/kernel/tracing/trace_pipe that `bpf_trace_printk` wrote, each
/// prefixed `printk: TASK-PID: ` (text) or as `{"printk": …, "task": …}`
/// (JSON).
///
/// The trace buffer is the whole system's: a line does not say which
/// program wrote it, so lines of other tools' `printk`s show too (the task
/// tells them apart), and reading consumes them (another reader of
/// trace_pipe misses them). Opened only for files whose manifest says a
/// body calls `bpf_trace_printk`.
final class TracePipe {
    static let path = "/sys/kernel/tracing/trace_pipe"
    let fd: Int32
    private var pending: [UInt8] = []

    init?() {
        fd = open(Self.path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// Reads what is there (never blocks) and writes its printk lines.
    func drain(to out: Output, json: Bool) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            pending += buffer[0..<n]
            while let nl = pending.firstIndex(of: 0x0a) {
                let line = String(decoding: pending[..<nl], as: UTF8.self)
                pending.removeSubrange(...nl)
                if let text = Self.format(line, json: json) { out.line(text) }
            }
        }
    }

    /// A trace_pipe line (`  TASK-PID  [CPU] FLAGS  TIME: bpf_trace_printk: MSG`)
    /// as the loader prints it; nil for lines of other trace events.
    static func format(_ line: String, json: Bool) -> String? {
        let marker = ": bpf_trace_printk: "
        guard let r = line.firstRange(ofText: marker) else { return nil }
        let message = String(line[r.upperBound...])
        let head = line[..<r.lowerBound].drop { $0 == " " }
        let task = head.firstRange(ofText: " [").map { String(head[..<$0.lowerBound]).trimmingSpaces } ?? ""
        if json { return "{\"printk\":" + JSON.quoted(message) + ",\"task\":" + JSON.quoted(task) + "}" }
        return "printk: \(task): \(message)"
    }
}

private extension String {
    var trimmingSpaces: String { String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
}
