#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A minimal HTTP/1.1 server for `/metrics` on plain sockets, one request
/// per connection, on its own thread. Binds in `init` (before anything is
/// loaded, so a busy port is an early, clean error) and serves after `start`
/// what its `render` closure returns on each scrape (the loader's
/// `MetricsSource`: Prometheus text).
public final class MetricsServer: @unchecked Sendable {
    /// Why the server could not bind, as one line (`--metrics: …`).
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    private let fd: Int32
    /// `HOST:PORT` as bound (the port the kernel chose for port 0).
    public let boundAddress: String
    private let lock = Mutex(())
    private var stopped = false

    /// Binds `host:port` (port 0: one the kernel chooses).
    public init(host: String, port: UInt16) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw Failure("--metrics: cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        let s = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw Failure("--metrics: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        _ = setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(s, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(s, 16) == 0 else {
            let e = String(cString: strerror(errno))
            close(s)
            throw Failure("--metrics: cannot listen on \(host):\(port): \(e)")
        }
        fd = s
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var boundPort = port
        withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                if getsockname(s, sa, &length) == 0 {
                    if sa.pointee.sa_family == sa_family_t(AF_INET) {
                        sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { boundPort = UInt16(bigEndian: $0.pointee.sin_port) }
                    } else if sa.pointee.sa_family == sa_family_t(AF_INET6) {
                        sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { boundPort = UInt16(bigEndian: $0.pointee.sin6_port) }
                    }
                }
            }
        }
        boundAddress = (host.contains(":") ? "[\(host)]" : host) + ":\(boundPort)"
    }

    /// Serves from a detached thread until `stop`.
    public func start(_ render: @escaping @Sendable () -> String) {
        // A detached pthread (Foundation's `Thread` would link all of Foundation and ICU).
        let context = Unmanaged.passRetained(ServeContext { [self] in self.serve(render) }).toOpaque()
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

    public func stop() {
        let first = lock.withLock { _ in
            defer { stopped = true }
            return !stopped
        }
        if first {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    private var isStopped: Bool { lock.withLock { _ in stopped } }

    private func serve(_ render: () -> String) {
        while !isStopped {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(client, render)
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

    private func handle(_ client: Int32, _ render: () -> String) {
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
            status = "200 OK"; body = render(); type = "text/plain; version=0.0.4; charset=utf-8"
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
