import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import InfraredBTF
import InfraredELF
import InfraredCompiler

/// `infrared list [PATTERN] [-v]` and `infrared list usdt PATH [PATTERN]`:
/// what a probe can attach to, one probe a line as bpftrace's `-l` prints
/// them (`tracepoint:sched:sched_process_exec`, `kprobe:do_sys_openat2`,
/// `fentry:do_unlinkat`, `usdt:/path:provider:name`).
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List tracepoints, kprobe-able and BTF functions, or a binary's USDT probes.",
        usage: """
            infrared list [PATTERN] [-v] [--btf FILE]
              infrared list usdt PATH [PATTERN]
            """,
        discussion: """
            Tracepoints come from tracefs's available_events, kprobe-able functions from its \
            available_filter_functions, fentry functions from the kernel BTF's FUNC entries (--btf), \
            USDT probes from the binary's .note.stapsdt notes. PATTERN is a glob (`*`, `?`, `[…]`) \
            matched against the whole line (`'tracepoint:sched:*'`, `'*openat*'`); without a glob \
            character it matches a line equal to it when it contains `:`, else any line containing it \
            (`infrared list getppid`). A pattern starting with `tracepoint:`, `kprobe:`, `fentry:` or \
            `usdt:PATH:` reads only that source. -v shows each tracepoint's fields as `ctx` has them \
            in a tracepoint body (from the same source the compiler reads).
            """)

    @Argument(help: ArgumentHelp("A pattern, or `usdt PATH [PATTERN]`.", valueName: "PATTERN"))
    var words: [String] = []
    @Flag(name: .shortAndLong, help: "Show each tracepoint's fields as a tracepoint body's ctx has them.")
    var verbose = false
    @Option(help: "Kernel BTF for fentry functions and tracepoint fields (raw BTF or ELF with .BTF).")
    var btf: String = KernelBTF.defaultPath
    @Option(help: ArgumentHelp("The tracefs mount to read (default /sys/kernel/tracing, else /sys/kernel/debug/tracing).",
                               visibility: .hidden))
    var tracefs: String?

    /// The sources `list` reads, in the order it prints them.
    enum Source: String, CaseIterable { case tracepoint, kprobe, fentry, usdt }

    func run() throws {
        try reportingErrors {
            var pattern: String?
            var usdtPath: String?
            if words.first == "usdt" {
                guard words.count >= 2, words.count <= 3 else { throw CLIError("usage: infrared list usdt PATH [PATTERN]") }
                usdtPath = words[1]
                pattern = words.count == 3 ? words[2] : nil
            } else {
                guard words.count <= 1 else { throw CLIError("give one PATTERN (quote it: infrared list 'tracepoint:sched:*')") }
                pattern = words.first
                if let p = pattern, p.hasPrefix("usdt:") {
                    // usdt:PATH:PROVIDER:NAME — the path is the second field.
                    let fields = p.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                    guard fields.count >= 2, !fields[1].isEmpty else { throw CLIError("\(p): give the binary, as usdt:PATH:*") }
                    usdtPath = String(fields[1])
                }
            }
            let matcher = ProbePattern(pattern)
            if let usdtPath {
                for line in try Self.usdtProbes(path: usdtPath) where matcher.matches(line) { writeStandardOutput(line + "\n") }
                return
            }
            let wanted = Source.allCases.filter { $0 != .usdt && (matcher.source == nil || matcher.source == $0.rawValue) }
            let root = tracefs ?? Self.tracefsRoot()
            var kernel: KernelBTF? = nil
            func openKernel() throws -> KernelBTF {
                if let kernel { return kernel }
                kernel = try KernelBTF(path: btf)
                return kernel!
            }
            for source in wanted {
                let lines: [String]
                do {
                    switch source {
                    case .tracepoint: lines = try Self.tracepoints(root: root)
                    case .kprobe: lines = try Self.kprobeFunctions(root: root)
                    case .fentry: lines = try Self.btfFunctions(try openKernel())
                    case .usdt: lines = []
                    }
                } catch {
                    // A source this machine does not offer (no tracefs, no
                    // dynamic ftrace, no BTF) is an error only when asked for by name.
                    if matcher.source == source.rawValue { throw error }
                    writeStandardError("infrared: warning: no \(source.rawValue) probes listed: \(error)\n")
                    continue
                }
                var out = ""
                for line in lines where matcher.matches(line) {
                    out += line + "\n"
                    if verbose, source == .tracepoint {
                        let parts = line.split(separator: ":").map(String.init)
                        let fields = try Tracepoints.fields(category: parts[1], event: parts[2], kernel: try openKernel(),
                                                            tracefsEvents: [root + "/events"])
                        if let fields {
                            for f in fields { out += "    \(f.description)\n" }
                        } else {
                            out += "    (no fields: neither the BTF nor tracefs describe it)\n"
                        }
                    }
                    if out.utf8.count > 1 << 16 { writeStandardOutput(out); out = "" }
                }
                writeStandardOutput(out)
            }
        }
    }

    /// Where tracefs is mounted.
    static func tracefsRoot() -> String {
        for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] where access(root + "/available_events", F_OK) == 0 { return root }
        return "/sys/kernel/tracing"
    }

    /// A tracefs file's text (tracefs reports sizes of 0: read to the end).
    static func readText(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return String(decoding: try readToEnd(fd, name: path), as: UTF8.self)
    }

    /// `tracepoint:CATEGORY:EVENT` for each line `CATEGORY:EVENT` of `available_events`.
    static func tracepoints(root: String) throws -> [String] {
        try readText(root + "/available_events").split(separator: "\n")
            .filter { $0.contains(":") }.map { "tracepoint:" + $0 }.sorted()
    }

    /// `kprobe:NAME` for each function of `available_filter_functions`
    /// (`NAME` or `NAME [MODULE]` a line), each name once.
    static func kprobeFunctions(root: String) throws -> [String] {
        var names = Set<Substring>()
        for line in try readText(root + "/available_filter_functions").split(separator: "\n") {
            guard let name = line.split(separator: " ").first, !name.hasPrefix("__ftrace_invalid_address__") else { continue }
            names.insert(name)
        }
        return names.map { "kprobe:" + $0 }.sorted()
    }

    /// `fentry:NAME` for each `BTF_KIND_FUNC` of the kernel's BTF, each name once.
    static func btfFunctions(_ kernel: KernelBTF) throws -> [String] {
        var names = Set<String>()
        for id in 1...UInt32(max(kernel.typeCount, 1)) where id <= kernel.typeCount {
            if try kernel.kind(of: id) == .function { names.insert(try kernel.name(of: id)) }
        }
        return names.map { "fentry:" + $0 }.sorted()
    }

    /// `usdt:PATH:PROVIDER:NAME` for each probe of the binary's `.note.stapsdt`, each once.
    static func usdtProbes(path: String) throws -> [String] {
        guard let elf = ELFHandle(path: path), elf.isELF else { throw CLIError("\(path): not an ELF file") }
        let probes = try elf.notes(owner: "stapsdt", type: USDTNotes.ntStapSDT, section: ".note.stapsdt")
            .map { try USDTNotes.probe($0, is64Bit: elf.is64Bit, source: path) }
        return Set(probes.map { "usdt:\(path):\($0.provider):\($0.name)" }).sorted()
    }
}

/// A SystemTap SDT note of `.note.stapsdt` (one ELF note per probe site:
/// type `NT_STAPSDT` 3, owner `stapsdt`; its descriptor holds the site's
/// address, the `.stapsdt.base` address, the semaphore address — each a word
/// of the file's class — and the provider, name and argument strings).
/// See https://sourceware.org/systemtap/wiki/UserSpaceProbeImplementation.
enum USDTNotes {
    struct Probe: Equatable {
        var provider: String
        var name: String
        var location: UInt64
        var semaphore: UInt64
        var arguments: String
    }

    static let ntStapSDT: UInt32 = 3

    /// One note's descriptor, as `ELFHandle.notes` gives it.
    static func probe(_ d: [UInt8], is64Bit: Bool, source: String) throws -> Probe {
        let wordSize = is64Bit ? 8 : 4
        func word(_ o: Int) -> UInt64 { (0..<wordSize).reduce(UInt64(0)) { $0 | UInt64(d[o + $1]) << (8 * UInt64($1)) } }
        guard d.count >= 3 * wordSize else { throw CLIError("\(source): a .note.stapsdt note is too short (\(d.count) bytes)") }
        let strings = d[(3 * wordSize)...].split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false)
            .prefix(3).map { String(decoding: $0, as: UTF8.self) }
        guard strings.count >= 2, !strings[0].isEmpty, !strings[1].isEmpty else {
            throw CLIError("\(source): a .note.stapsdt note has no provider and name")
        }
        return Probe(provider: strings[0], name: strings[1], location: word(0), semaphore: word(2 * wordSize),
                     arguments: strings.count > 2 ? strings[2] : "")
    }
}

/// `list`'s PATTERN: a glob over the whole line, an exact line, or a substring.
struct ProbePattern {
    let text: String?
    /// The source a pattern names by its prefix (`tracepoint:…`), if any.
    let source: String?

    init(_ text: String?) {
        self.text = text
        let head = text.flatMap { t in t.firstIndex(of: ":").map { String(t[..<$0]) } }
        source = head.flatMap { List.Source(rawValue: $0)?.rawValue }
    }

    func matches(_ line: String) -> Bool {
        guard let text else { return true }
        if text.contains(where: { "*?[".contains($0) }) { return fnmatch(text, line, 0) == 0 }
        return text.contains(":") ? line == text : line.contains(text)
    }
}
