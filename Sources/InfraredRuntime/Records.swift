import CLibBPF
import Glibc

/// Consumes records from a ring buffer map (libbpf `ring_buffer__*`).
public final class RingBufferReader {
    private var rb: OpaquePointer?
    private let box: Box
    final class Box {
        var handler: (UnsafeRawBufferPointer) -> Void
        init(_ h: @escaping (UnsafeRawBufferPointer) -> Void) { handler = h }
    }

    /// Opens a reader on the ring buffer `map` of a loaded object.
    public convenience init(object: LoadedObject, map: String, handler: @escaping ([UInt8]) -> Void) throws {
        try self.init(object: object, map: map, rawHandler: { handler(Array($0)) })
    }

    /// Opens a reader whose handler sees each record in place (valid only
    /// during the call): no copy, for high record rates.
    public init(object: LoadedObject, map: String, rawHandler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        guard let m = object.map(named: map) else { throw RuntimeError.noSuchMap(map, available: object.maps.map(\.name)) }
        box = Box(rawHandler)
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let cb: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Int32 = { ctx, data, size in
            let box = Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue()
            box.handler(UnsafeRawBufferPointer(start: data, count: size))
            return 0
        }
        rb = ring_buffer__new(m.fd, cb, ctx, nil)
        if rb == nil {
            throw RuntimeError.failed(program: nil, operation: "ring_buffer__new(\(map))", errno: Errno(rawValue: errno), messages: [])
        }
    }

    /// Waits up to `timeoutMs` for records and hands each to the handler; returns how many.
    @discardableResult
    public func poll(timeoutMs: Int32) throws -> Int {
        let n = ring_buffer__poll(rb, timeoutMs)
        if n < 0 && -n != EINTR { throw RuntimeError.failed(program: nil, operation: "ring_buffer__poll", errno: Errno(libbpf: n), messages: []) }
        return max(Int(n), 0)
    }

    /// The epoll fd libbpf waits on (`ring_buffer__epoll_fd`): readable when
    /// records are available, for callers that multiplex several sources.
    public var epollFD: Int32 { ring_buffer__epoll_fd(rb) }

    /// Hands every available record to the handler without waiting
    /// (`ring_buffer__consume`); returns how many.
    @discardableResult
    public func consume() throws -> Int {
        let n = ring_buffer__consume(rb)
        if n < 0 && -n != EINTR { throw RuntimeError.failed(program: nil, operation: "ring_buffer__consume", errno: Errno(libbpf: n), messages: []) }
        return max(Int(n), 0)
    }

    deinit { ring_buffer__free(rb) }
}

/// Consumes records from a perf_event_array map (libbpf `perf_buffer__*`).
public final class PerfBufferReader {
    private var pb: OpaquePointer?
    private let box: Box
    final class Box {
        var handler: (Int, [UInt8]) -> Void; var lost: UInt64 = 0
        init(_ h: @escaping (Int, [UInt8]) -> Void) { handler = h }
    }

    /// Records lost because user space was too slow.
    public var lost: UInt64 { box.lost }

    public init(object: LoadedObject, map: String, pagesPerCPU: Int = 8, handler: @escaping (_ cpu: Int, _ record: [UInt8]) -> Void) throws {
        guard let m = object.map(named: map) else { throw RuntimeError.noSuchMap(map, available: object.maps.map(\.name)) }
        box = Box(handler)
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let sample: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, UInt32) -> Void = { ctx, cpu, data, size in
            let box = Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue()
            box.handler(Int(cpu), Array(UnsafeRawBufferPointer(start: data, count: Int(size))))
        }
        let lost: @convention(c) (UnsafeMutableRawPointer?, Int32, UInt64) -> Void = { ctx, _, n in
            Unmanaged<Box>.fromOpaque(ctx!).takeUnretainedValue().lost += n
        }
        pb = perf_buffer__new(m.fd, pagesPerCPU, sample, lost, ctx, nil)
        if pb == nil {
            throw RuntimeError.failed(program: nil, operation: "perf_buffer__new(\(map))", errno: Errno(rawValue: errno), messages: [])
        }
    }

    @discardableResult
    public func poll(timeoutMs: Int32) throws -> Int {
        let n = perf_buffer__poll(pb, timeoutMs)
        if n < 0 && -n != EINTR { throw RuntimeError.failed(program: nil, operation: "perf_buffer__poll", errno: Errno(libbpf: n), messages: []) }
        return max(Int(n), 0)
    }

    /// The epoll fd libbpf waits on (`perf_buffer__epoll_fd`).
    public var epollFD: Int32 { perf_buffer__epoll_fd(pb) }

    /// Hands every available record to the handler without waiting (`perf_buffer__consume`).
    public func consume() throws {
        let n = perf_buffer__consume(pb)
        if n < 0 && -n != EINTR { throw RuntimeError.failed(program: nil, operation: "perf_buffer__consume", errno: Errno(libbpf: n), messages: []) }
    }

    deinit { perf_buffer__free(pb) }
}
