#if canImport(Glibc)
import Glibc
#endif

/// Collects libbpf's printed messages per operation.
///
/// libbpf has one process-wide print callback (`libbpf_set_print`), so
/// operations that may print (open, load, attach) run one at a time under
/// `capture`, and the messages printed meanwhile are returned with the
/// result: errors carry them instead of libbpf writing to stderr. Outside a
/// capture, warnings go to stderr as libbpf's default callback would; with
/// `INFRARED_LIBBPF_DEBUG=1` every message does.
enum LibbpfLog {
    enum Level: Int, Sendable { case warning, info, debug }

    /// One message, without its trailing newline.
    struct Message: Sendable, CustomStringConvertible {
        var level: Level
        var text: String
        var description: String { text }
    }

    private static let operation = PThreadMutex(recursive: true)
    private static let state = PThreadMutex()
    nonisolated(unsafe) private static var collected: [Message]? = nil
    /// `INFRARED_LIBBPF_DEBUG=1`: libbpf's debug messages too, on stderr as they come.
    static let verbose = getenv("INFRARED_LIBBPF_DEBUG").map { String(cString: $0) } == "1"

    /// Runs `body` alone among captured operations and returns what libbpf
    /// printed (warnings and info; debug messages only when verbose).
    static func capture<T>(_ body: () throws -> T) rethrows -> (T, [Message]) {
        operation.lock(); defer { operation.unlock() }
        Sys.installPrintHook()
        state.lock(); let outer = collected; collected = []; state.unlock()
        defer { state.lock(); collected = outer.map { $0 + (collected ?? []) }; state.unlock() }
        let value = try body()
        state.lock(); let messages = collected ?? []; state.unlock()
        return (value, messages)
    }

    /// Called from the C callback.
    static func record(_ level: Level, _ text: String) {
        let trimmed = text.hasSuffix("\n") ? String(text.dropLast()) : text
        if verbose { writeStandardError("libbpf: \(trimmed)\n") }
        state.lock(); defer { state.unlock() }
        if collected != nil {
            if level != .debug || verbose { collected!.append(Message(level: level, text: trimmed)) }
        } else if level == .warning && !verbose {
            writeStandardError("libbpf: \(trimmed)\n")
        }
    }

    /// write(2) to fd 2 (FileHandle would link all of Foundation).
    private static func writeStandardError(_ text: String) {
        var text = text
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}
