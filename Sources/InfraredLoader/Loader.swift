#if canImport(Glibc)
import Glibc
#endif
import BPF
import InfraredMetrics
import InfraredPayload
import InfraredProfile
import InfraredRuntime
import InfraredSupport
import CLoaderSupport

/// A probe ready to run: a loader's payload, decoded.
public struct LoaderProbe: Sendable {
    /// The tool's name (the probe file's base name).
    public var name: String
    public var object: [UInt8]
    public var manifest: LoaderManifest
    /// The probe file as mruby bytecode, for its hooks (empty: no hooks to run).
    public var bytecode: [UInt8]
    public var source: String
    /// `EmbeddedBTF`'s compressed archive (`--embed-btf`); empty: none.
    public var embeddedBTF: [UInt8]

    public init(name: String, object: [UInt8], manifest: LoaderManifest, bytecode: [UInt8], source: String, embeddedBTF: [UInt8] = []) {
        self.name = name; self.object = object; self.manifest = manifest; self.bytecode = bytecode; self.source = source
        self.embeddedBTF = embeddedBTF
    }

    public init(payload: LoaderPayload) throws {
        let manifest: LoaderManifest
        do { manifest = try LoaderManifest(json: payload.manifestJSON) } catch {
            throw PayloadError.corrupted("the manifest does not decode: \(error)")
        }
        self.init(name: payload.name, object: payload.object, manifest: manifest, bytecode: payload.bytecode, source: payload.source,
                  embeddedBTF: payload.embeddedBTF)
    }

    /// Compiles the probe file's Ruby to mruby bytecode for the loader's hooks.
    public static func hookBytecode(source: String, filename: String) throws -> [UInt8] {
        try HookRuntime.compile(source: source, filename: filename)
    }
}

/// The loader (shared/spec/cli.md, "The loader"): what a generated tool and
/// `infrared run` do with a probe.
///
/// Start-up is ordered so that a failure or a signal at any point leaves
/// nothing behind: the command line is checked first (params typed and
/// range-checked), then the hooks' top level runs, then the object is
/// opened, params are written to `.rodata`, the object is loaded and each
/// program attached. Termination signals are blocked from the first line of
/// `main` and read from a signalfd between steps and in the event loop, so
/// none interrupts a step half-way; every attachment is a BPF link, a perf
/// event or a socket owned by this process, released by `LoadedObject.close()`
/// on every path (and by the kernel if the process is killed).
public enum Loader {
    /// Blocks SIGINT/SIGTERM/SIGHUP and returns the signalfd that reads them.
    /// Call it first in `main`, before any thread starts.
    public static func blockTerminationSignals() -> Int32 { irl_termination_signals() }

    /// Runs the loader and returns the process exit status: 0 after a
    /// normal end (signal, `--duration`, `exit` in a hook), 1 after an error.
    /// `usageName` is how `--help` spells the command (`infrared run x.rb`); it defaults to `toolName`.
    /// `name` is what load errors and metric names call the tool: a generated
    /// tool's own name (its argv[0]'s base name, `execsnoop3` built from
    /// `t3.rb`); nil (`infrared run FILE`) takes the probe file's base name.
    public static func run(probe: LoaderProbe, arguments: [String], toolName: String, usageName: String? = nil, name: String? = nil, signals: Int32) -> Int32 {
        let session = LoaderSession(probe: probe, tool: toolName, signals: signals)
        session.usageName = usageName ?? toolName
        session.name = name ?? probe.name
        do {
            return try session.run(arguments: arguments)
        } catch {
            session.teardown()
            writeStandardError("\(toolName): error: \(LoaderSession.describe(error, tool: session.name))")
            return 1
        }
    }
}

/// Counts records per map for `--metrics` (read from the server's thread).
final class RecordStats: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var counts: [String: UInt64] = [:]
    private var lostCounts: [String: UInt64] = [:]
    func add(_ map: String) { lock.lock(); counts[map, default: 0] += 1; lock.unlock() }
    func add(_ map: String, _ n: UInt64) { guard n > 0 else { return }; lock.lock(); counts[map, default: 0] += n; lock.unlock() }
    func setLost(_ map: String, _ n: UInt64) { lock.lock(); lostCounts[map] = n; lock.unlock() }
    func snapshot() -> (records: [String: UInt64], lost: [String: UInt64]) { lock.lock(); defer { lock.unlock() }; return (counts, lostCounts) }
}

final class LoaderSession {
    let probe: LoaderProbe
    let tool: String
    let signals: Int32
    let out = Output()
    let codec: TypeCodec
    let stats = RecordStats()
    var options = LoaderOptions()
    var usageName = ""
    /// The tool's name in load errors and metric names (`Loader.run`'s `name`).
    var name = ""
    var hooks: HookRuntime?
    /// The params the `before_load` hooks set (`self.name = v`), written to `.rodata` at load.
    var hookParams: [String: HostValue] = [:]
    var object: LoadedObject?
    var access: MapAccess?
    var metrics: MetricsServer?
    /// `metric_labels` tables, when `--metrics` serves labelled maps.
    var metricLabels: MetricLabels?
    var ringReaders: [(map: LoaderManifest.Map, reader: RingBufferReader)] = []
    var perfReaders: [(map: LoaderManifest.Map, reader: PerfBufferReader)] = []
    var stopping = false
    /// `printk` lines (TracePipe.swift), when a body calls bpf_trace_printk.
    var tracePipe: TracePipe?
    var hookError: Error?
    /// Names for stack addresses (hooks' `stacks.symbols`), caching what it reads.
    let symbolizer = Symbolizer()
    /// Cgroup ids to paths for the hooks' `cgroup_path` (HookHelpers.swift).
    let cgroups = CgroupPaths()

    init(probe: LoaderProbe, tool: String, signals: Int32) {
        self.probe = probe
        self.tool = tool
        self.signals = signals
        self.codec = TypeCodec(manifest: probe.manifest)
    }

    /// One message for an error: the runtime's descriptions name the program
    /// and the cause (and keep the verifier log's last lines).
    static func describe(_ error: Error, tool: String) -> String {
        switch error {
        case let e as LoadError where e.program == nil:
            return "cannot load \(tool): \(e)"
        default:
            return "\(error)"
        }
    }

    /// The BTF libbpf relocates against (nil: the kernel's own), chosen as
    /// `BTFChoice` says; an embedded one is handed over in a memory file.
    func btfPath() throws -> String? {
        let embedded = probe.embeddedBTF.isEmpty ? nil : try EmbeddedBTF(archive: probe.embeddedBTF)
        let release = BTFChoice.runningRelease()
        switch try BTFChoice.choose(btfOption: options.btf, kernelHasBTF: BTFChoice.kernelHasBTF(), release: release,
                                    embedded: embedded?.releases ?? []) {
        case .file(let path): return path
        case .kernel, .none: return nil
        case .embedded(let release):
            return try BTFChoice.memoryFile(named: "btf-\(release)", bytes: embedded!.btf(release: release)!)
        }
    }

    /// Whether a termination signal arrived (consumes it).
    func interrupted() -> Bool { irl_read_signal(signals) != 0 }

    func run(arguments: [String]) throws -> Int32 {
        let manifest = probe.manifest
        if let clash = LoaderCLI.checkParamNames(manifest) { throw LoaderFailure(clash) }
        options = try LoaderCLI.parse(arguments, manifest: manifest)
        StartupTrace.mark("options")
        if options.help || options.printSource {
            out.write(options.help ? LoaderCLI.usage(tool: usageName, manifest: manifest) : probe.source)
            out.flush()
            return 0
        }
        try AttachPlan.check(manifest, options)
        if let address = options.metrics { metrics = try MetricsServer(host: address.host, port: address.port) }
        if interrupted() { return 0 }

        // The hooks' top level runs before anything is loaded: its errors cost nothing.
        if !probe.bytecode.isEmpty {
            let hooks = try HookRuntime()
            var params: [String: HostValue] = [:]
            for p in manifest.params {
                let v = options.params[p.name] ?? p.defaultValue
                params[p.name] = p.type == .bool ? .bool(v != 0) : (p.type == .u64 && v < 0 ? .float(Double(UInt64(bitPattern: v))) : .int(v))
            }
            var values: [String: HostValue] = [:]
            for o in manifest.declaredOptions { values[o.name] = LoaderCLI.optionValue(o, in: options).map(HookRuntime.host) ?? .nil }
            do { try hooks.runTopLevel(bytecode: probe.bytecode, params: params, options: values,
                                                implicitMaps: probe.manifest.maps.filter { $0.implicit != nil }.map(\.name)) } catch {
                throw LoaderFailure("the probe file's top level raised in the loader: \(error)")
            }
            self.hooks = hooks
            StartupTrace.mark("hooks")
            if let status = hooks.exitStatus { return status }
            if metrics != nil && !hooks.labelMaps.isEmpty { metricLabels = MetricLabels() }
            hooks.host = { [unowned self] op, args in try self.host(op, args) }
            if hooks.beforeLoadCount > 0 {
                do { hookParams = try hooks.beforeLoad() } catch { throw LoaderFailure("before_load: \(error)") }
                if let status = hooks.exitStatus { return status }
            }
        }
        if interrupted() { return 0 }

        let object = try LoadedObject.open(bytes: probe.object, options: LoadOptions(objectName: Self.objectName(name), btfCustomPath: try btfPath()))
        self.object = object
        StartupTrace.mark("open")
        for p in manifest.params {
            // A value the before_load hooks set wins over the command line's.
            guard let v = try hookParams[p.name].map({ try Self.paramValue($0, p) }) ?? options.params[p.name] else { continue }
            let bytes = (0..<p.size).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * UInt64($0))) }
            try object.setInitialBytes(map: ".rodata", offset: p.offset, bytes: bytes)
        }
        try object.load()
        StartupTrace.mark("load")
        let access = MapAccess(object: object, manifest: manifest)
        access.symbolizer = symbolizer
        self.access = access
        if interrupted() { teardown(); return 0 }

        // A signal is looked for every 16 attachments (and after the last):
        // one read of the signalfd each, where an attachment takes ~50 µs.
        for (i, p) in manifest.programs.enumerated() {
            try AttachPlan.attach(p, object: object, options: options)
            if (i % 16 == 15 || i == manifest.programs.count - 1), interrupted() { teardown(); return 0 }
        }
        StartupTrace.mark("attach")
        try openReaders(object)
        StartupTrace.mark("readers")
        if let metrics {
            try refreshMetricLabels()
            let source = MetricsSource(access: access, stats: stats, prefix: options.metricsPrefix ?? Self.metricPrefix(name), decoded: metricLabels)
            metrics.start { source.render() }
        }
        StartupTrace.report()
        if !options.quiet {
            let names = manifest.programs.map(\.name).joined(separator: ", ")
            var message = "\(tool): attached \(manifest.programs.count) program\(manifest.programs.count == 1 ? "" : "s") (\(names))"
            if let m = metrics { message += "; metrics at http://\(m.boundAddress)/metrics" }
            writeStandardError(message + "; Ctrl-C to end")
            if options.format == .json, let hooks {
                // Hooks print what they print: say so rather than leave the
                // user wondering why some lines are not JSON.
                let printing = hooks.eventMaps.sorted().map { "on_event :\($0)" } + (hooks.periods.isEmpty ? [] : ["every"]) + (hooks.atExitCount > 0 ? ["at_exit"] : [])
                if !printing.isEmpty {
                    writeStandardError("\(tool): note: --format json is what the loader prints (records and maps it prints itself); this tool's hooks (\(printing.joined(separator: ", "))) print their own lines")
                }
            }
        }
        try eventLoop()
        return try finish()
    }

    /// Detaches and closes everything (idempotent).
    func teardown() {
        metrics?.stop()
        object?.close()
    }

    static func objectName(_ name: String) -> String {
        let cleaned = String(name.map { $0.isLetter || $0.isNumber || $0 == "_" ? $0 : "_" })
        return cleaned.isEmpty ? "infrared" : cleaned
    }

    /// A metric name prefix made of `name`: Prometheus's
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, every other character `_`, `_` before a
    /// leading digit (`execsnoop-2` → `execsnoop_2`, `3x` → `_3x`).
    static func metricPrefix(_ name: String) -> String {
        var p = String(name.map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" || $0 == ":" ? $0 : "_" })
        if p.isEmpty { return "infrared" }
        if p.first!.isNumber { p = "_" + p }
        return p
    }

    // MARK: records

    /// Per record map: where its records go, and the records read since
    /// the last `flushCounts` (the stats lock is taken once a batch).
    ///
    /// A record no hook wants, of its struct's size, prints straight from
    /// the ring into the output buffer (`RecordPrinter`); anything else is
    /// decoded into a `Value` (`LoaderSession.record`).
    final class Sink {
        let map: LoaderManifest.Map
        unowned(unsafe) let session: LoaderSession
        let out: Output
        /// An `on_event` hook takes this map's records.
        let hooked: Bool
        let many: Bool
        var count: UInt64 = 0
        /// The record size `fast` prints, and its printer (unretained: owned
        /// by `printers`), so the per-record path touches no reference counts.
        private var size = -1
        private var fast: Unmanaged<RecordPrinter>?
        /// The printer of each record size seen (nil: no struct fits).
        private var printers: [Int: RecordPrinter?] = [:]

        init(map: LoaderManifest.Map, session: LoaderSession, hooked: Bool, many: Bool) {
            self.map = map; self.session = session; self.out = session.out; self.hooked = hooked; self.many = many
        }

        /// One record, in place (valid during the call only).
        @inline(__always) func consume(_ p: UnsafeRawBufferPointer) {
            count &+= 1
            if p.count == size, let fast {
                fast._withUnsafeGuaranteedRef { printer in
                    out.commit(printer.write(p.baseAddress!, to: out.space(printer.maxLength)))
                }
            } else {
                other(p)
            }
        }

        /// A record of another size than the last (or no printer): finds its
        /// printer, or decodes it into a `Value`.
        private func other(_ p: UnsafeRawBufferPointer) {
            let printer: RecordPrinter?
            if hooked {
                printer = nil
            } else if let known = printers[p.count] {
                printer = known
            } else {
                let s = session
                printer = s.probe.manifest.recordStruct(for: map, size: p.count).flatMap {
                    RecordPrinter(structure: $0, codec: s.codec, json: s.options.format == .json, mapField: many ? map.name : nil)
                }.flatMap { p.count >= $0.needed ? $0 : nil }
                printers[p.count] = printer
            }
            if let printer {
                size = p.count
                fast = Unmanaged.passUnretained(printer)
                out.commit(printer.write(p.baseAddress!, to: out.space(printer.maxLength)))
            } else {
                session.record(map, Array(p))
            }
        }
    }
    var sinks: [Sink] = []

    func flushCounts() {
        for s in sinks where s.count > 0 { stats.add(s.map.name, s.count); s.count = 0 }
    }

    func openReaders(_ object: LoadedObject) throws {
        if probe.manifest.printk == true {
            tracePipe = TracePipe()
            if tracePipe == nil { writeStandardError("\(tool): printk output will not show: cannot open \(TracePipe.path)") }
        }
        if let output = probe.manifest.output, let map = probe.manifest.mapNamed(output.map) {
            let sink = PrintSink(output: output, session: self)
            ringReaders.append((map, try RingBufferReader(object: object, map: map.name, rawHandler: { sink.consume($0) })))
        }
        let many = probe.manifest.recordMaps.count > 1
        for m in probe.manifest.recordMaps {
            let sink = Sink(map: m, session: self, hooked: hooks?.eventMaps.contains(m.name) == true, many: many)
            sinks.append(sink)
            if m.kind == .ringbuf {
                ringReaders.append((m, try RingBufferReader(object: object, map: m.name, rawHandler: { sink.consume($0) })))
            } else {
                perfReaders.append((m, try PerfBufferReader(object: object, map: m.name, rawHandler: { _, p in sink.consume(p) })))
            }
        }
    }

    func decodeRecord(_ bytes: [UInt8], map: LoaderManifest.Map) -> (Value, String?) {
        if let st = probe.manifest.recordStruct(for: map, size: bytes.count) {
            return (codec.decode(bytes, structure: st), st.name)
        }
        switch bytes.count {
        case 1, 2, 4, 8: return (.record("", [("value", codec.decode(bytes, type: ScalarType.integer(size: bytes.count, signed: false).map { .scalar($0) }))]), nil)
        default: return (.record("", [("size", .unsigned(UInt64(bytes.count))), ("data", .bytes(bytes))]), nil)
        }
    }

    func record(_ map: LoaderManifest.Map, _ bytes: [UInt8]) {
        if stopping && hookError != nil { return }
        let (value, structName) = decodeRecord(bytes, map: map)
        if let hooks, hooks.eventMaps.contains(map.name) {
            out.flush()
            do {
                var v = value
                if structName == nil, case .record(_, let f) = value, f.count == 1 { v = f[0].1 }
                try hooks.event(map: map.name, structName: structName, value: v)
            } catch {
                hookError = LoaderFailure("on_event :\(map.name) raised: \(error)")
                stopping = true
            }
            if hooks.exitStatus != nil { stopping = true }
            return
        }
        let many = probe.manifest.recordMaps.count > 1
        switch options.format {
        case .text:
            out.line((many ? "map=\(map.name) " : "") + value.text)
        case .json:
            if many, case .record(let n, let f) = value {
                out.line(Value.record(n, [("map", .string(map.name))] + f).json)
            } else {
                out.line(value.json)
            }
        }
    }

    func consumeAll() throws {
        for r in ringReaders { try r.reader.consume() }
        for r in perfReaders { try r.reader.consume(); stats.setLost(r.map.name, r.reader.lost) }
    }

    // MARK: the event loop

    func eventLoop() throws {
        let ep = irl_epoll_create()
        guard ep >= 0 else { throw LoaderFailure("epoll_create1: \(String(cString: strerror(errno)))") }
        defer { close(ep) }
        _ = irl_epoll_add(ep, signals, 0)
        for (i, r) in ringReaders.enumerated() { _ = irl_epoll_add(ep, r.reader.epollFD, UInt64(1 + i)) }
        for (i, r) in perfReaders.enumerated() { _ = irl_epoll_add(ep, r.reader.epollFD, UInt64(1 + ringReaders.count + i)) }
        if let tracePipe { _ = irl_epoll_add(ep, tracePipe.fd, UInt64.max) }
        let start = irl_monotonic_ns()
        let periods = hooks?.periods ?? []
        var due = periods.map { start + UInt64($0 * 1e9) }
        let deadline = options.duration.map { start + UInt64($0 * 1e9) }
        var tags = [UInt64](repeating: 0, count: 32)
        var labelled = start
        while !stopping {
            let now = irl_monotonic_ns()
            var wake: UInt64? = due.min()
            if metricLabels != nil { wake = min(wake ?? .max, labelled + 1_000_000_000) }
            if let deadline { wake = min(wake ?? deadline, deadline) }
            let timeout: Int32 = wake.map { $0 <= now ? 0 : Int32(min((($0 - now) + 999_999) / 1_000_000, 60_000)) } ?? -1
            let n = irl_epoll_wait(ep, &tags, Int32(tags.count), timeout)
            if n < 0 && errno != EINTR { throw LoaderFailure("epoll_wait: \(String(cString: strerror(errno)))") }
            if n > 0 {
                for t in tags.prefix(Int(n)) {
                    if t == UInt64.max {
                        tracePipe?.drain(to: out, json: options.format == .json)
                    } else if t == 0 {
                        if interrupted() { stopping = true }
                    } else if Int(t) <= ringReaders.count {
                        try ringReaders[Int(t) - 1].reader.consume()
                    } else {
                        let r = perfReaders[Int(t) - 1 - ringReaders.count]
                        try r.reader.consume()
                        stats.setLost(r.map.name, r.reader.lost)
                    }
                }
            }
            flushCounts()
            let after = irl_monotonic_ns()
            if let hooks {
                for i in due.indices where due[i] <= after && !stopping {
                    out.flush()
                    do { try hooks.every(i) } catch {
                        hookError = LoaderFailure("every \(periods[i]) raised: \(error)")
                        stopping = true
                    }
                    if hooks.exitStatus != nil { stopping = true }
                    let step = UInt64(periods[i] * 1e9)
                    while due[i] <= after { due[i] += max(step, 1) }
                }
            }
            if metricLabels != nil && after >= labelled + 1_000_000_000 && !stopping {
                labelled = after
                do { try refreshMetricLabels() } catch {
                    hookError = error
                    stopping = true
                }
                if hooks?.exitStatus != nil { stopping = true }
            }
            if let deadline, after >= deadline { stopping = true }
            out.flush()
            if out.broken { stopping = true }
        }
    }

    // MARK: the end

    /// Detaches, drains the buffers, runs `at_exit` blocks or prints the
    /// maps, then closes the object. Returns the exit status.
    func finish() throws -> Int32 {
        guard let object, let access else { return 0 }
        object.detachAll()
        if hookError == nil { try? consumeAll(); tracePipe?.drain(to: out, json: options.format == .json) }
        flushCounts()
        // What was lost is reported on every way out, a hook's `exit` or error too.
        if let hookError {
            reportFaults(access)
            out.flush()
            teardown()
            throw hookError
        }
        if let hooks, let status = hooks.exitStatus {
            reportFaults(access)
            out.flush()
            teardown()
            return status
        }
        if let hooks, hooks.atExitCount > 0 {
            out.flush()
            do { try hooks.atExit() } catch {
                reportFaults(access)
                teardown()
                throw LoaderFailure("at_exit raised: \(error)")
            }
        } else {
            printMaps(access)
        }
        reportFaults(access)
        out.flush()
        teardown()
        return hooks?.exitStatus ?? 0
    }

    /// Every non-empty map and non-zero global, as text or JSON lines.
    func printMaps(_ access: MapAccess) {
        var blocks: [String] = []
        for g in probe.manifest.globals {
            guard let v = try? access.global(g.name), !v.isZero else { continue }
            blocks.append(options.format == .json ? "{\"global\":\(JSON.quoted(g.name)),\"value\":\(v.json)}\n" : "\(g.name): \(v.text)\n")
        }
        // Implicit maps (`@name`) first, as bpftrace prints them (ImplicitMaps.swift).
        switch options.format {
        case .text: if let text = try? access.implicitText(), !text.isEmpty { blocks.append(text) }
        case .json: blocks += ((try? access.implicitJSON()) ?? []).map { $0 + "\n" }
        }
        for m in access.reportedMaps where m.implicit == nil {
            switch options.format {
            case .text:
                if let text = try? access.formatText(m.name), !text.isEmpty { blocks.append(text) }
            case .json:
                if let line = try? access.formatJSON(m.name) { blocks.append(line + "\n") }
            }
        }
        guard !blocks.isEmpty else { return }
        if options.format == .text && (probe.manifest.recordMaps.isEmpty == false || probe.manifest.output != nil) { out.write("\n") }
        out.write(blocks.joined(separator: options.format == .text ? "\n" : ""))
    }

    // MARK: host calls from the hooks

    func host(_ op: String, _ args: [HostValue]) throws -> HostValue {
        if let named = try helperHost(op, args) { return named }
        if op.hasPrefix("target_") { return try targetHost(op, args) }
        guard let access else { throw LoaderFailure("maps are not loaded yet: the before_load hooks run before anything is loaded") }
        func name(_ i: Int) throws -> String {
            guard i < args.count, let s = args[i].stringValue else { throw LoaderFailure("\(op): bad arguments") }
            return s
        }
        func arg(_ i: Int) -> HostValue { i < args.count ? args[i] : .nil }
        switch op {
        case "map_get":
            return try access.get(try name(0), key: arg(1)).map(HookRuntime.host) ?? .nil
        case "map_set":
            try access.set(try name(0), key: arg(1), value: arg(2)); return .nil
        case "map_delete":
            try access.delete(try name(0), key: arg(1)); return .nil
        case "map_entries":
            return .array(try access.entries(try name(0)).map { .array([HookRuntime.host($0.key), HookRuntime.host($0.value)]) })
        case "map_clear":
            try access.clear(try name(0)); return .nil
        case "map_format":
            return .string(try access.formatText(try name(0)))
        case "map_print":
            let map = try name(0)
            if options.format == .json {
                if let line = try access.formatJSON(map) { out.line(line) }
            } else {
                out.write(try access.formatText(map, top: { if case .int(let n) = arg(1) { return Int(n) }; return nil }()))
            }
            out.flush()
            return .nil
        case "global_get":
            return HookRuntime.host(try access.global(try name(0)))
        case "global_set":
            try access.setGlobal(try name(0), arg(1)); return arg(1)
        case "stack_addresses", "stack_symbols", "stack_remember", "flamegraph_write", "flamegraph_svg":
            return try profileHost(op, args, access: access)
        default:
            throw LoaderFailure("unknown host operation \(op)")
        }
    }
}
