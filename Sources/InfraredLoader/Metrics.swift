#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredRuntime
#if canImport(Glibc)
import Glibc
#endif

/// What `/metrics` shows, rendered on each scrape (Prometheus text
/// exposition format 0.0.4): maps as gauges labelled by key, hist maps as
/// histograms (`_bucket{le=…}` cumulative, `_count`; no `_sum`, which the
/// buckets cannot give), globals as gauges, and per-map record counters.
struct MetricsSource: @unchecked Sendable {
    let access: MapAccess
    let stats: RecordStats
    let prefix: String

    static func metricName(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }

    static func labelValue(_ s: String) -> String {
        s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
    }

    static func labels(for key: Value) -> String {
        switch key {
        case .record(_, let fields):
            return fields.map { "\(metricName($0.0))=\"\(labelValue(plain($0.1)))\"" }.joined(separator: ",")
        default:
            return "key=\"\(labelValue(plain(key)))\""
        }
    }

    static func plain(_ v: Value) -> String {
        if case .string(let s) = v { return s }
        return v.text
    }

    /// Integer samples of a value: the value itself, or each integer field of a struct.
    static func samples(_ v: Value) -> [(suffix: String, value: String)] {
        switch v {
        case .unsigned(let u): return [("", String(u))]
        case .signed(let i): return [("", String(i))]
        case .bool(let b): return [("", b ? "1" : "0")]
        case .record(_, let fields):
            return fields.flatMap { f in samples(f.1).map { ("_" + metricName(f.0) + $0.suffix, $0.value) } }
        default: return []
        }
    }

    func render() -> String {
        var out = ""
        let manifest = access.manifest
        for g in manifest.globals {
            let name = "\(prefix)_\(Self.metricName(g.name))"
            guard let v = try? access.global(g.name) else { continue }
            out += "# HELP \(name) global \(g.name) (\(g.type))\n# TYPE \(name) gauge\n"
            for s in Self.samples(v) { out += "\(name)\(s.suffix) \(s.value)\n" }
        }
        out += implicitMetrics()   // ImplicitMapMetrics.swift
        for m in access.reportedMaps where m.implicit == nil {
            let name = "\(prefix)_\(Self.metricName(m.name))"
            if m.kind == .hist {
                guard let counts = try? access.histogram(m.name) else { continue }
                out += "# HELP \(name) log2 histogram \(m.name)\n# TYPE \(name) histogram\n"
                let last = counts.lastIndex { $0 > 0 } ?? 0
                var cumulative: UInt64 = 0
                for k in 0...last {
                    cumulative += counts[k]
                    out += "\(name)_bucket{le=\"\(Histogram.bounds(k).high)\"} \(cumulative)\n"
                }
                let total = counts.reduce(0, +)
                out += "\(name)_bucket{le=\"+Inf\"} \(total)\n\(name)_count \(total)\n"
                continue
            }
            guard let entries = try? access.entries(m.name) else { continue }
            // One metric family per integer part of the value (a struct value gives one per field).
            var families: [String] = []
            var lines: [String: [String]] = [:]
            for e in entries {
                for s in Self.samples(e.value) {
                    if lines[s.suffix] == nil { families.append(s.suffix); lines[s.suffix] = [] }
                    lines[s.suffix]!.append("\(name)\(s.suffix){\(Self.labels(for: e.key))} \(s.value)")
                }
            }
            if families.isEmpty, m.value?.scalar != nil { families = [""]; lines[""] = [] }
            for f in families {
                out += "# HELP \(name)\(f) map \(m.name) (\(m.kind))\n# TYPE \(name)\(f) gauge\n"
                for l in lines[f]! { out += l + "\n" }
            }
        }
        let (records, lost) = stats.snapshot()
        if !manifest.recordMaps.isEmpty {
            let name = "\(prefix)_records_total"
            out += "# HELP \(name) records read from ring and perf buffers\n# TYPE \(name) counter\n"
            for m in manifest.recordMaps { out += "\(name){map=\"\(Self.labelValue(m.name))\"} \(records[m.name] ?? 0)\n" }
            let perf = manifest.recordMaps.filter { $0.kind == .perfEventArray }
            if !perf.isEmpty {
                let lostName = "\(prefix)_lost_records_total"
                out += "# HELP \(lostName) perf buffer records lost\n# TYPE \(lostName) counter\n"
                for m in perf { out += "\(lostName){map=\"\(Self.labelValue(m.name))\"} \(lost[m.name] ?? 0)\n" }
            }
        }
        return out
    }
}

/// A minimal HTTP/1.1 server for `/metrics` on plain sockets, one request
/// per connection, on its own thread. Binds in `init` (before anything is
/// loaded, so a busy port is an early, clean error) and serves after `start`.
final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    /// `HOST:PORT` as bound (the port the kernel chose for port 0).
    let boundAddress: String
    private let lock = PThreadMutex()
    private var stopped = false

    init(address: MetricsAddress) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(address.host, String(address.port), &hints, &result)
        guard rc == 0, let info = result else {
            throw LoaderFailure("--metrics: cannot resolve \(address.host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let s = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw LoaderFailure("--metrics: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        _ = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(s, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(s)
            throw LoaderFailure("--metrics: cannot listen on \(address.host):\(address.port): \(e)")
        }
        fd = s
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var port = address.port
        withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                if getsockname(s, sa, &length) == 0 {
                    if sa.pointee.sa_family == sa_family_t(AF_INET) {
                        sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { port = UInt16(bigEndian: $0.pointee.sin_port) }
                    } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                        sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { port = UInt16(bigEndian: $0.pointee.sin6_port) }
                    }
                }
            }
        }
        boundAddress = (address.host.contains(":") ? "[\(address.host)]" : address.host) + ":\(port)"
    }

    func start(_ source: MetricsSource) {
        // A detached pthread (Foundation's `Thread` would link all of Foundation and ICU).
        let context = Unmanaged.passRetained(ServeContext { [self] in self.serve(source) }).toOpaque()
        var thread = pthread_t()
        if pthread_create(&thread, nil, { context in
            Unmanaged<ServeContext>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context) == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ServeContext>.fromOpaque(context).release()
        }
    }

    private final class ServeContext {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    func stop() {
        lock.lock()
        let first = !stopped
        stopped = true
        lock.unlock()
        if first {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func serve(_ source: MetricsSource) {
        while !isStopped {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(client, source)
            close(client)
        }
    }

    /// Whether the request holds a blank line (`\r\n\r\n` or `\n\n`): its headers are complete.
    static func headersEnd(_ r: [UInt8]) -> Bool {
        var i = 0
        while i + 1 < r.count {
            if r[i] == 10 && (r[i + 1] == 10 || (i + 2 < r.count && r[i + 1] == 13 && r[i + 2] == 10)) { return true }
            i += 1
        }
        return false
    }

    private func handle(_ client: Int32, _ source: MetricsSource) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while request.count < 16384 {
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            request += buffer[0..<n]
            if request.count >= 4 && request.suffix(4) == [13, 10, 13, 10] { break }
            if Self.headersEnd(request) { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self).split(separator: " ")
        let status: String, body: String, type: String
        if line.count >= 2, line[0] == "GET" || line[0] == "HEAD", line[1].split(separator: "?").first == "/metrics" {
            status = "200 OK"; body = source.render(); type = "text/plain; version=0.0.4; charset=utf-8"
        } else if line.count >= 2, line[1] == "/" {
            status = "200 OK"; body = "<html><body><a href=\"/metrics\">/metrics</a></body></html>\n"; type = "text/html"
        } else {
            status = "404 Not Found"; body = "not found: try /metrics\n"; type = "text/plain"
        }
        let head = line.first == "HEAD"
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + (head ? "" : body)
        var bytes = Array(response.utf8)
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { send(client, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            done += n
        }
    }
}
