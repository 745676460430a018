import BPF
import InfraredObject
import InfraredSupport

/// How records and maps are printed.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// `field=value …` a record, bpftrace-style maps and histograms.
    case text
    /// One JSON object a line.
    case json
}

/// The loader's command line, parsed and checked: every param value is
/// type- and range-checked here, before anything is loaded.
public struct LoaderOptions: Sendable {
    /// Param values by param name (the bit pattern for the param's size).
    public var params: [String: Int64] = [:]
    public var duration: Double?
    public var format: OutputFormat = .text
    public var btf: String?
    public var metrics: MetricsAddress?
    /// `--metrics-prefix P`: metric names start `P_` (default: the tool's name).
    public var metricsPrefix: String?
    /// The cgroup v2 directory cgroup programs attach to.
    public var cgroup: String?
    /// The network interface XDP, tc and socket filter programs attach to.
    public var ifname: String?
    /// `--pid`: uprobes and USDT probes attach to this process only.
    public var pid: Int32?
    /// `--frequency HZ`: perf_event programs sample this often instead of their declared `frequency:`.
    public var frequency: UInt64?
    public var help = false
    public var quiet = false
    /// Print the probe file the tool was built from, and exit.
    public var printSource = false
    /// Values of the file's `option`s given on the command line, by option name.
    public var optionValues: [String: OptionValue] = [:]

    public init() {}
}

/// The value of an `option` (Manifest.Option): what its hooks read by name.
public enum OptionValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
}

/// Where `--metrics` serves: `127.0.0.1:PORT` unless the user names a host.
public struct MetricsAddress: Sendable, Equatable {
    public var host: String
    public var port: UInt16
}

/// A command-line mistake: printed as `TOOL: error: …`, exit status 1.
public struct UsageError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

/// The loader's command line (shared/spec/cli.md, "The loader"):
///
///     TOOL [--PARAM VALUE]... [--duration SECONDS] [--format text|json]
///          [--btf FILE] [--metrics HOST:PORT] [--metrics-prefix P] [--cgroup PATH] [--ifname IFACE] [--pid PID] [--help]
public enum LoaderCLI {
    /// The loader's own options; a param may not take one of these names.
    public static let reservedFlags = Manifest.loaderFlags

    /// `target_pid` → `target-pid`.
    public static func flag(for param: String) -> String { param.replacing(text: "_", with: "-") }

    /// Params whose flag clashes with a loader option, as an error message.
    public static func checkParamNames(_ manifest: LoaderManifest) -> String? {
        for p in manifest.params where reservedFlags.contains(flag(for: p.name)) {
            return "param :\(p.name) would be the flag --\(flag(for: p.name)), which the loader uses itself; rename the param"
        }
        let paramFlags = Set(manifest.params.map { flag(for: $0.name) })
        for o in manifest.declaredOptions where reservedFlags.contains(flag(for: o.name)) || paramFlags.contains(flag(for: o.name)) {
            return "option :\(o.name) would be the flag --\(flag(for: o.name)), which the loader or a param uses; rename the option"
        }
        return nil
    }

    /// Parses `arguments` (without the program name).
    public static func parse(_ arguments: [String], manifest: LoaderManifest) throws -> LoaderOptions {
        var options = LoaderOptions()
        let params = Dictionary(manifest.params.map { (flag(for: $0.name), $0) }, uniquingKeysWith: { a, _ in a })
        let declared = Dictionary(manifest.declaredOptions.map { (flag(for: $0.name), $0) }, uniquingKeysWith: { a, _ in a })
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            i += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                if argument == "-h" { options.help = true; continue }
                throw UsageError("unexpected argument '\(argument)' (options start with --; see --help)")
            }
            var name = String(argument.dropFirst(2))
            var inlineValue: String? = nil
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            func value() throws -> String {
                if let inlineValue { return inlineValue }
                guard i < arguments.count else { throw UsageError("--\(name) needs a value") }
                i += 1
                return arguments[i - 1]
            }
            switch name {
            case "help": options.help = true
            case "quiet": options.quiet = true
            case "print-source": options.printSource = true
            case "duration":
                let text = try value()
                guard let seconds = Double(text), seconds > 0, seconds.isFinite else {
                    throw UsageError("--duration: '\(text)' is not a positive number of seconds")
                }
                options.duration = seconds
            case "format":
                let text = try value()
                guard let f = OutputFormat(rawValue: text) else { throw UsageError("--format: '\(text)' is not text or json") }
                options.format = f
            case "btf": options.btf = try value()
            case "cgroup": options.cgroup = try value()
            case "ifname": options.ifname = try value()
            case "pid":
                let text = try value()
                guard let p = Int32(text), p > 0 else { throw UsageError("--pid: '\(text)' is not a process id (a positive integer)") }
                options.pid = p
            case "frequency":
                let text = try value()
                guard let f = UInt64(text), f > 0 else { throw UsageError("--frequency: '\(text)' is not a positive number of samples a second") }
                options.frequency = f
            case "metrics": options.metrics = try parseMetrics(try value())
            case "metrics-prefix":
                let text = try value()
                guard let first = text.first, first.isASCII, first.isLetter || first == "_" || first == ":",
                      text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }) else {
                    throw UsageError("--metrics-prefix: '\(text)' is not a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)")
                }
                options.metricsPrefix = text
            default:
                if let o = declared[name] {
                    if o.type == .bool, inlineValue == nil {
                        options.optionValues[o.name] = .bool(true)
                    } else {
                        options.optionValues[o.name] = try parseOption(try value(), option: o, flag: name)
                    }
                    continue
                }
                guard let p = params[name] else {
                    let known = manifest.params.map { "--" + flag(for: $0.name) } + manifest.declaredOptions.map { "--" + flag(for: $0.name) }
                    throw UsageError("unknown option --\(name)" + (known.isEmpty ? "" : " (this tool's: \(known.joined(separator: ", ")))") + "; see --help")
                }
                var text: String
                if p.type == .bool, inlineValue == nil, i >= arguments.count || arguments[i].hasPrefix("--") {
                    text = "true"
                } else {
                    text = try value()
                }
                options.params[p.name] = try parseParam(text, param: p, flag: name)
            }
        }
        return options
    }

    /// An option's value from its flag's text: any text for `string`, a
    /// 64-bit integer for `int` (as params spell them), true/false for `bool`.
    public static func parseOption(_ text: String, option: Manifest.Option, flag: String) throws -> OptionValue {
        switch option.type {
        case .int:
            switch parseInteger(text) {
            case .negative(let v)?: return .int(v)
            case .nonNegative(let v)? where v <= UInt64(Int64.max): return .int(Int64(v))
            default: throw UsageError("--\(flag): '\(text)' is not an integer (\(Int64.min)…\(Int64.max))")
            }
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on", "1": return .bool(true)
            case "false", "no", "off", "0": return .bool(false)
            default: throw UsageError("--\(flag): '\(text)' is not a bool (true or false)")
            }
        case .string:
            return .string(text)
        }
    }

    /// What hooks read for each declared option: the command line's value,
    /// else the declared default, else nil (false for a switch).
    public static func optionValue(_ option: Manifest.Option, in options: LoaderOptions) -> OptionValue? {
        if let v = options.optionValues[option.name] { return v }
        if let d = option.defaultValue, let v = try? parseOption(d, option: option, flag: flag(for: option.name)) { return v }
        return option.type == .bool ? .bool(false) : nil
    }

    /// `--flamegraph FILE` (`--verbose` for a switch).
    static func optionSynopsis(_ o: Manifest.Option) -> String {
        "--\(flag(for: o.name))" + (o.type == .bool ? "" : " " + (o.argument ?? o.type.rawValue.uppercased()))
    }

    /// Checks a param value against its type: integers in decimal, `0x`,
    /// `0o` or `0b` form (underscores allowed), within the type's range;
    /// bools as true/false/yes/no/on/off/1/0; a char also as one ASCII character.
    public static func parseParam(_ text: String, param: LoaderManifest.Variable, flag: String) throws -> Int64 {
        let type = param.type
        if type == .bool {
            switch text.lowercased() {
            case "true", "yes", "on", "1": return 1
            case "false", "no", "off", "0": return 0
            default: throw UsageError("--\(flag): '\(text)' is not a bool (true or false)")
            }
        }
        if type == .char, text.utf8.count == 1, let c = text.utf8.first, !(c >= 0x30 && c <= 0x39) { return Int64(c) }
        let r = type.range
        let rangeText = "\(r.min)…\(r.max)"
        guard let parsed = parseInteger(text) else {
            throw UsageError("--\(flag): '\(text)' is not a valid \(type) (an integer \(rangeText))")
        }
        switch parsed {
        case .negative(let v):
            guard v >= r.min else { throw UsageError("--\(flag): \(text) is out of range for \(type) (\(rangeText))") }
            return v
        case .nonNegative(let v):
            guard v <= r.max else { throw UsageError("--\(flag): \(text) is out of range for \(type) (\(rangeText))") }
            return Int64(bitPattern: v)
        }
    }

    enum ParsedInteger { case negative(Int64), nonNegative(UInt64) }

    static func parseInteger(_ text: String) -> ParsedInteger? {
        var s = Substring(text.replacing(text: "_", with: ""))
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() } else if s.hasPrefix("+") { s = s.dropFirst() }
        var radix = 10
        let lower = s.lowercased()
        if lower.hasPrefix("0x") { radix = 16; s = s.dropFirst(2) } else if lower.hasPrefix("0o") { radix = 8; s = s.dropFirst(2) } else if lower.hasPrefix("0b") { radix = 2; s = s.dropFirst(2) }
        guard !s.isEmpty, let magnitude = UInt64(s, radix: radix) else { return nil }
        if negative {
            if magnitude == 0 { return .nonNegative(0) }
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return .negative(magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude))
        }
        return .nonNegative(magnitude)
    }

    /// `PORT`, `:PORT`, `HOST:PORT` or `[V6]:PORT`; the host defaults to 127.0.0.1.
    static func parseMetrics(_ text: String) throws -> MetricsAddress {
        var host = "127.0.0.1", portText = text
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw UsageError("--metrics: '\(text)' is not HOST:PORT") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw UsageError("--metrics: '\(text)' is not HOST:PORT") }
            portText = String(rest.dropFirst())
        } else if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            if !h.isEmpty { host = h == "localhost" ? "127.0.0.1" : h }
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = UInt16(portText) else { throw UsageError("--metrics: '\(text)' is not HOST:PORT (port 0…65535)") }
        return MetricsAddress(host: host, port: port)
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

    /// `--help`: the params with their types and defaults, then the loader's options.
    public static func usage(tool: String, manifest: LoaderManifest, source: String? = nil) -> String {
        var lines: [String] = []
        let paramSynopsis = manifest.params.map { "[--\(flag(for: $0.name)) \($0.type.name.uppercased())]" }
            + manifest.declaredOptions.map { "[\(optionSynopsis($0))]" }
        lines.append("usage: \(tool) " + (paramSynopsis + ["[--duration SECONDS]", "[--format text|json]", "[--btf FILE]", "[--metrics HOST:PORT]"]
            + (manifest.programs.contains(where: AttachPlan.isCgroup) ? ["--cgroup PATH"] : [])
            + (manifest.programs.contains { $0.kind.programType == .xdp || $0.kind.programType == .schedCls } ? ["--ifname IFACE"] : [])
            + (manifest.programs.contains { $0.kind.programType == .socketFilter } ? ["[--ifname IFACE]"] : [])
            + (manifest.programs.contains(where: AttachPlan.isUserProbe) || manifest.declaredHooks.contains("before_load") ? ["[--pid PID]"] : [])
            + (manifest.programs.contains { $0.kind.programType == .perfEvent } ? ["[--frequency HZ]"] : [])
            + ["[--help]"]).joined(separator: " "))
        lines.append("")
        let programs = manifest.programs.map { "\($0.name) (\($0.section))" }.joined(separator: ", ")
        let hooks = Set(manifest.declaredHooks)
        let records = hooks.contains("on_event") ? "its on_event hooks take the records" : "prints each record"
        let atExit = hooks.contains("at_exit") ? "runs its at_exit hooks" : "prints the maps"
        lines.append("Loads and attaches \(programs);")
        lines.append("\(records); at exit (Ctrl-C, SIGTERM or --duration) \(atExit),")
        lines.append("then detaches everything.")
        if !manifest.params.isEmpty {
            lines.append("")
            lines.append("Params:")
            for p in manifest.params {
                let def = p.type == .bool ? (p.defaultValue != 0 ? "true" : "false") : String(p.defaultValue)
                lines.append("  " + pad("--\(flag(for: p.name)) \(p.type.name.uppercased())", 30) + "\(p.type), default \(def)")
            }
        }
        if !manifest.declaredOptions.isEmpty {
            lines.append("")
            lines.append("Options of this tool:")
            for o in manifest.declaredOptions {
                var text = o.help ?? o.type.rawValue
                if let d = o.defaultValue { text += " (default \(d))" }
                lines.append("  " + pad(optionSynopsis(o), 30) + text)
            }
        }
        lines.append("")
        lines.append("Options:")
        let options: [(String, String)] = [
            ("--duration SECONDS", "stop after this many seconds (default: until Ctrl-C or SIGTERM)"),
            ("--format text|json", "records and maps as `field=value` text (default) or one JSON object a line"),
            ("--btf FILE", "relocate CO-RE accesses against this BTF instead of the kernel's"),
            ("--metrics HOST:PORT", "serve the maps at http://HOST:PORT/metrics (Prometheus text; HOST defaults to 127.0.0.1)"),
            ("--metrics-prefix P", "metric names start P_ (default: this tool's name)"),
            ("--cgroup PATH", "the cgroup v2 directory cgroup programs attach to"),
            ("--ifname IFACE", "the interface XDP and tc programs attach to (socket filters: default every interface)"),
            ("--pid PID", "uprobes and USDT probes attach to this process only; short library names resolve through its /proc/PID/maps; before_load hooks read it as Target.pid"),
            ("--frequency HZ", "perf_event programs sample this many times a second (default: their frequency:)"),
            ("--quiet", "no start-up message on stderr"),
            ("--print-source", "print the probe file this tool was built from"),
            ("--help", "this text"),
        ]
        for (o, d) in options { lines.append("  " + pad(o, 30) + d) }
        return lines.joined(separator: "\n") + "\n"
    }
}
