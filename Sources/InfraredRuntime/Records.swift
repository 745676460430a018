/// Consumes records from a ring buffer map (libbpf `ring_buffer__*`,
/// through `Sys`).
public final class RingBufferReader {
    private var rb: RingBufferHandle?
    private let box: Box
    final class Box {
        let handler: (UnsafeRawBufferPointer) -> Void
        init(_ h: @escaping (UnsafeRawBufferPointer) -> Void) { handler = h }
    }

    /// Opens a reader on the ring buffer `map` of a loaded object; the
    /// handler gets a copy of each record.
    public convenience init(object: LoadedObject, map: String, handler: @escaping ([UInt8]) -> Void) throws {
        try self.init(object: object, map: map, rawHandler: { handler(Array($0)) })
    }

    /// Opens a reader whose handler sees each record in place (valid only
    /// during the call): no copy, for high record rates.
    public init(object: LoadedObject, map: String, rawHandler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        guard let m = object.map(named: map) else { throw RuntimeError.noSuchMap(map, available: object.maps.map(\.name)) }
        box = Box(rawHandler)
        // The box outlives `rb` (freed in deinit first), so the callback
        // borrows it without retaining: no reference counting per record.
        let sample: Sys.RingSample = { ctx, data, size in
            Unmanaged<Box>.fromOpaque(ctx!)._withUnsafeGuaranteedRef { $0.handler(UnsafeRawBufferPointer(start: data, count: size)) }
            return 0
        }
        switch Sys.ringBufferNew(fd: m.fd, sample: sample, context: Unmanaged.passUnretained(box).toOpaque()) {
        case .success(let rb): self.rb = rb
        case .failure(let e): throw RuntimeError.failed(program: nil, operation: "ring_buffer__new(\(map))", errno: e, messages: [])
        }
    }

    /// Waits up to `timeoutMs` for records and hands each to the handler; returns how many.
    @discardableResult
    public func poll(timeoutMs: Int32) throws -> Int {
        guard let rb else { return 0 }
        return try Self.check(Sys.ringBufferPoll(rb, timeoutMs: timeoutMs), "ring_buffer__poll")
    }

    /// The epoll fd libbpf waits on (`ring_buffer__epoll_fd`): readable when
    /// records are available, for callers that multiplex several sources.
    public var epollFD: Int32 { rb.map(Sys.ringBufferEpollFD) ?? -1 }

    /// Hands every available record to the handler without waiting
    /// (`ring_buffer__consume`); returns how many.
    @discardableResult
    public func consume() throws -> Int {
        guard let rb else { return 0 }
        return try Self.check(Sys.ringBufferConsume(rb), "ring_buffer__consume")
    }

    static func check(_ r: Result<Int, Errno>, _ operation: String) throws -> Int {
        switch r {
        case .success(let n): return n
        case .failure(let e): throw RuntimeError.failed(program: nil, operation: operation, errno: e, messages: [])
        }
    }

    deinit { if let rb { Sys.ringBufferFree(rb) } }
}

/// Consumes records from a perf_event_array map (libbpf `perf_buffer__*`,
/// through `Sys`).
public final class PerfBufferReader {
    private var pb: PerfBufferHandle?
    private let box: Box
    final class Box {
        let handler: (Int, UnsafeRawBufferPointer) -> Void
        var lost: UInt64 = 0
        init(_ h: @escaping (Int, UnsafeRawBufferPointer) -> Void) { handler = h }
    }

    /// Records lost because user space was too slow.
    public var lost: UInt64 { box.lost }

    /// Opens a reader on the perf_event_array `map`; the handler gets the
    /// CPU and a copy of each record (the kernel pads raw samples so that
    /// size + 4 is a multiple of 8: a record may be up to 7 bytes longer
    /// than what the program wrote).
    public convenience init(object: LoadedObject, map: String, pagesPerCPU: Int = 8, handler: @escaping (_ cpu: Int, _ record: [UInt8]) -> Void) throws {
        try self.init(object: object, map: map, pagesPerCPU: pagesPerCPU, rawHandler: { handler($0, Array($1)) })
    }

    /// Opens a reader whose handler sees each record in place (valid only during the call).
    public init(object: LoadedObject, map: String, pagesPerCPU: Int = 8, rawHandler: @escaping (_ cpu: Int, _ record: UnsafeRawBufferPointer) -> Void) throws {
        guard let m = object.map(named: map) else { throw RuntimeError.noSuchMap(map, available: object.maps.map(\.name)) }
        box = Box(rawHandler)
        let sample: Sys.PerfSample = { ctx, cpu, data, size in
            Unmanaged<Box>.fromOpaque(ctx!)._withUnsafeGuaranteedRef { $0.handler(Int(cpu), UnsafeRawBufferPointer(start: data, count: Int(size))) }
        }
        let lost: Sys.PerfLost = { ctx, _, n in
            Unmanaged<Box>.fromOpaque(ctx!)._withUnsafeGuaranteedRef { $0.lost += n }
        }
        switch Sys.perfBufferNew(fd: m.fd, pagesPerCPU: pagesPerCPU, sample: sample, lost: lost, context: Unmanaged.passUnretained(box).toOpaque()) {
        case .success(let pb): self.pb = pb
        case .failure(let e): throw RuntimeError.failed(program: nil, operation: "perf_buffer__new(\(map))", errno: e, messages: [])
        }
    }

    @discardableResult
    public func poll(timeoutMs: Int32) throws -> Int {
        guard let pb else { return 0 }
        return try RingBufferReader.check(Sys.perfBufferPoll(pb, timeoutMs: timeoutMs), "perf_buffer__poll")
    }

    /// The epoll fd libbpf waits on (`perf_buffer__epoll_fd`).
    public var epollFD: Int32 { pb.map(Sys.perfBufferEpollFD) ?? -1 }

    /// Hands every available record to the handler without waiting (`perf_buffer__consume`).
    public func consume() throws {
        guard let pb else { return }
        _ = try RingBufferReader.check(Sys.perfBufferConsume(pb), "perf_buffer__consume")
    }

    deinit { if let pb { Sys.perfBufferFree(pb) } }
}
