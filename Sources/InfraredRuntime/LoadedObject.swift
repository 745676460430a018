import Glibc
import BPF
import InfraredSupport

/// How an object is opened and loaded.
public struct LoadOptions: Sendable {
    /// The object's name (libbpf prefixes `.bss`/`.data`/`.rodata` map names with it).
    public var objectName: String
    /// BTF to relocate CO-RE accesses against instead of the running kernel's
    /// (libbpf's `btf_custom_path`): raw BTF or an ELF with `.BTF`.
    public var btfCustomPath: String?
    /// The verifier log level for every program: 0 asks for a log only when
    /// a load fails (then libbpf retries at level 1); 1 or 2 always log.
    public var verifierLogLevel: UInt32
    /// Bytes of verifier log kept per program. Kernels ≥ 6.4 keep the log's
    /// tail when it overflows, which is the part that names the rejection.
    public var verifierLogSize: Int

    public init(objectName: String = "infrared", btfCustomPath: String? = nil,
                verifierLogLevel: UInt32 = 0, verifierLogSize: Int = 1 << 20) {
        self.objectName = objectName
        self.btfCustomPath = btfCustomPath
        self.verifierLogLevel = verifierLogLevel
        self.verifierLogSize = verifierLogSize
    }
}

/// A BPF ELF object opened by libbpf, then loaded into the kernel: its
/// programs, maps and the links made from it.
///
/// Mirrors cilium/ebpf's `Collection` and aya's `Ebpf`: `open` parses the
/// bytes (no kernel needed), `load` creates maps and loads programs with the
/// verifier log captured, `attach…` makes `Link`s the object keeps. `close()`
/// (or deinit) destroys every link first, then the object, so nothing stays
/// attached whichever path the caller leaves by.
public final class LoadedObject: @unchecked Sendable {
    /// The object name given in `LoadOptions`.
    public let name: String
    private let options: LoadOptions
    private let lock = PThreadMutex(recursive: true)
    private var handle: ObjectHandle?
    /// libbpf may point into the ELF image after `open`, so the object owns a copy.
    private var image: UnsafeMutableRawBufferPointer?
    private var logBuffers: [(program: String, buffer: UnsafeMutablePointer<CChar>)] = []
    /// The one mapping the log buffers are cut from, and its size.
    private var logArena: (memory: UnsafeMutableRawPointer, bytes: Int)?
    /// Whether a load may have written into the log buffers since they were mapped.
    private var logsWritten = false
    private var links: [Link] = []
    /// The size of `links` at which `keep` next drops closed links.
    private var pruneAt = 16
    private var loaded = false

    /// Opens an object from ELF bytes without loading it (`bpf_object__open_mem`).
    public static func open(bytes: [UInt8], options: LoadOptions = LoadOptions()) throws -> LoadedObject {
        try LoadedObject(opening: bytes, options: options)
    }

    /// Opens and loads an object: `open(bytes:options:)` then `load()`.
    public convenience init(bytes: [UInt8], options: LoadOptions = LoadOptions()) throws {
        try self.init(opening: bytes, options: options)
        try load()
    }

    private init(opening bytes: [UInt8], options: LoadOptions) throws {
        self.name = options.objectName
        self.options = options
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { image.copyMemory(from: $0) }
        let (result, messages) = LibbpfLog.capture {
            Sys.openObject(UnsafeRawBufferPointer(start: image.baseAddress, count: bytes.count),
                           name: options.objectName, btfCustomPath: options.btfCustomPath)
        }
        switch result {
        case .failure(let e):
            image.deallocate()
            throw LoadError.invalidObject(object: options.objectName, errno: e, messages: messages.map { $0.text })
        case .success(let handle):
            self.handle = handle
            self.image = image
        }
        // Our own log buffer per program: libbpf then leaves the verifier's
        // text in it instead of printing it, and we can tell which program
        // the log belongs to. All are cut from one zero-filled mapping whose
        // pages cost nothing until the kernel writes a log (at log level 0,
        // only a rejected program's): one allocation of 1 MiB per program
        // had been 100 mmaps and page faults in an object of 100 programs.
        let programs = Sys.programs(handle!)
        let size = max(options.verifierLogSize, 256)
        if !programs.isEmpty {
            switch Sys.mapZeroedMemory(bytes: size * programs.count) {
            case .failure(let e):
                Sys.closeObject(handle!)
                self.handle = nil
                self.image = nil
                image.deallocate()
                throw RuntimeError.failed(program: nil, operation: "mmap of \(programs.count) verifier log buffers of \(size) bytes",
                                          errno: e, messages: [])
            case .success(let memory):
                logArena = (memory, size * programs.count)
                for (i, program) in programs.enumerated() {
                    let buffer = (memory + i * size).assumingMemoryBound(to: CChar.self)
                    Sys.setLogBuffer(program, buffer, size: size)
                    if options.verifierLogLevel > 0 { Sys.setLogLevel(program, options.verifierLogLevel) }
                    logBuffers.append((Sys.programName(program), buffer))
                }
            }
        }
    }

    deinit { close() }

    // MARK: loading

    /// Whether `load()` has succeeded.
    public var isLoaded: Bool { lock.withLock { loaded } }
    /// Whether the kernel took the object's own BTF (`.BTF`) when it was
    /// loaded. libbpf loads the object without it when the kernel refuses
    /// it ("BTF is optional, ignoring"): the maps then have no key and
    /// value types and the programs no line info.
    public var kernelAcceptedObjectBTF: Bool {
        lock.withLock { loaded && handle.map { Sys.objectBTFFD($0) >= 0 } == true }
    }
    /// Whether `close()` has run.
    public var isClosed: Bool { lock.withLock { handle == nil } }

    /// Writes `bytes` at `offset` of a global-data map's initial contents
    /// (`.rodata` for params) before `load()`: how params are set.
    public func setInitialBytes(map name: String, offset: Int, bytes: [UInt8]) throws {
        try lock.withLock {
            guard let handle else { throw RuntimeError.closed(object: self.name) }
            guard !loaded else { throw RuntimeError.failed(program: nil, operation: "set \(name) before load", errno: .invalidArgument, messages: []) }
            guard let map = Sys.maps(handle).first(where: { Sys.mapName($0) == name || Sys.mapName($0).hasSuffix(name) }),
                  var value = Sys.mapInitialValue(map) else { throw RuntimeError.noSuchMap(name, available: Sys.maps(handle).map(Sys.mapName)) }
            guard offset >= 0, offset + bytes.count <= value.count else {
                throw RuntimeError.failed(program: nil, operation: "set bytes \(offset)..<\(offset + bytes.count) of \(name) (\(value.count) bytes)", errno: .invalidArgument, messages: [])
            }
            value.replaceSubrange(offset..<offset + bytes.count, with: bytes)
            if let e = Sys.setMapInitialValue(map, value) { throw RuntimeError.failed(program: nil, operation: "bpf_map__set_initial_value(\(name))", errno: e, messages: []) }
        }
    }

    /// Creates the maps and loads every program (`bpf_object__load`).
    ///
    /// Throws `LoadError.verifierRejected` with the program's name and whole
    /// verifier log, `.permissionDenied` without privileges, or `.libbpf`
    /// with what libbpf printed. Loading twice is a no-op.
    public func load() throws {
        try lock.withLock {
            guard let handle else { throw RuntimeError.closed(object: name) }
            if loaded { return }
            if logsWritten { for (_, buffer) in logBuffers { buffer[0] = 0 } }
            logsWritten = true
            let (failure, messages) = LibbpfLog.capture { Sys.loadObject(handle) }
            guard let failure else { loaded = true; return }
            throw classifyLoadFailure(failure, messages.filter { $0.level == .warning }.map(\.text))
        }
    }

    private func classifyLoadFailure(_ e: Errno, _ messages: [String]) -> LoadError {
        // libbpf names the program it was loading ("prog 'x': failed to load: -13",
        // "prog 'x': relo #0: …"); with log level 0 only the failed program has a log.
        let named = messages.reversed().lazy.compactMap(Self.programNamed(in:)).first
        let program = named ?? logBuffers.first { $0.buffer[0] != 0 }?.program
        if let program, let log = logText(program), !log.isEmpty {
            return .verifierRejected(program: program, errno: e, log: log)
        }
        // The program libbpf named; else (its messages did not reach the capture:
        // seen now and then inside the test suite) the object's first program of
        // a trampoline kind, the only kind refused with EPERM and no log.
        if let handle, let p = program.flatMap({ Sys.findProgram(handle, name: $0) })
            ?? Sys.programs(handle).first(where: { ProgramKind.forSection(Sys.programSection($0))?.usesTrampoline == true }),
           let refused = LoadError.trampolineRefused(program: Sys.programName(p), section: Sys.programSection(p), errno: e) {
            return refused
        }
        if e.isPrivilegeError {
            return .permissionDenied(program: program, operation: "bpf_object__load", errno: e)
        }
        return .libbpf(program: program, operation: "bpf_object__load", errno: e, messages: messages)
    }

    /// `x` in "libbpf: prog 'x': …".
    static func programNamed(in message: String) -> String? {
        guard let start = message.firstRange(ofText: "prog '") else { return nil }
        let rest = message[start.upperBound...]
        guard let end = rest.firstRange(ofText: "':") else { return nil }
        return String(rest[..<end.lowerBound])
    }

    private func logText(_ program: String) -> String? {
        guard let entry = logBuffers.first(where: { $0.program == program }) else { return nil }
        return String(cString: entry.buffer)
    }

    /// The verifier's log for `program` from the last load: the whole log of
    /// a rejected program, or of every program when `verifierLogLevel` > 0.
    public func verifierLog(program: String) -> String? {
        lock.withLock { handle == nil ? nil : logText(program) }
    }

    // MARK: programs and maps

    /// The object's programs, in section order.
    public var programs: [Program] {
        lock.withLock { handle.map { Sys.programs($0).map(Self.snapshot) } ?? [] }
    }

    /// The program named `name` (`bpf_object__find_program_by_name`).
    public func program(named name: String) -> Program? {
        lock.withLock { handle.flatMap { Sys.findProgram($0, name: name) }.map(Self.snapshot) }
    }

    /// The object's maps, including `.rodata`/`.data`/`.bss`.
    public var maps: [Map] {
        lock.withLock { handle.map { Sys.maps($0).map(Self.snapshot) } ?? [] }
    }

    /// The map named `name`.
    public func map(named name: String) -> Map? {
        lock.withLock { handle.flatMap { Sys.findMap($0, name: name) }.map { m -> Map in Self.snapshot(m) } }
    }

    private static func snapshot(_ p: ProgramHandle) -> Program {
        // libbpf answers -ENOENT (not -1) for a program not loaded yet.
        let fd = max(Sys.programFD(p), -1)
        return Program(name: Sys.programName(p), section: Sys.programSection(p),
                       type: ProgramType(rawValue: Sys.programType(p)), fd: fd,
                       id: fd >= 0 ? Sys.programID(fd: fd) : nil)
    }

    private static func snapshot(_ m: MapHandle) -> Map {
        Map(name: Sys.mapName(m), type: MapType(rawValue: Sys.mapType(m)), keySize: Int(Sys.mapKeySize(m)),
            valueSize: Int(Sys.mapValueSize(m)), maxEntries: Int(Sys.mapMaxEntries(m)), fd: max(Sys.mapFD(m), -1))
    }

    /// The libbpf handle of a loaded program, or the error saying why not.
    private func loadedProgram(_ name: String) throws -> ProgramHandle {
        guard let handle else { throw RuntimeError.closed(object: self.name) }
        guard let program = Sys.findProgram(handle, name: name) else {
            throw RuntimeError.noSuchProgram(name, available: Sys.programs(handle).map(Sys.programName))
        }
        guard loaded, Sys.programFD(program) >= 0 else { throw RuntimeError.notLoaded(object: self.name) }
        return program
    }

    private func loadedMap(_ name: String) throws -> Map {
        guard handle != nil else { throw RuntimeError.closed(object: self.name) }
        // One map's snapshot, not every map's: readers and metrics look maps
        // up by name once per map, which was quadratic in the object's maps.
        guard let map = map(named: name) else {
            throw RuntimeError.noSuchMap(name, available: maps.map(\.name))
        }
        guard loaded, map.fd >= 0 else { throw RuntimeError.notLoaded(object: self.name) }
        return map
    }

    // MARK: attaching

    /// The links made from this object and not yet closed.
    public var attachedLinks: [Link] { lock.withLock { links.filter(\.isAttached) } }

    /// Attaches `program` the way its section says (`bpf_program__attach`,
    /// libbpf's auto-attach: tracepoints, raw tracepoints, k/uprobes with a
    /// target in the section name, …).
    /// With `pid`, uprobes and USDT probes attach to that process only, and
    /// their binary is resolved through `/proc/PID/maps` (a short name such as
    /// `libruby` matches a mapped file whose name starts with it), else the
    /// linker's directories; a short name without `pid` is looked up there too.
    @discardableResult
    public func attach(program name: String, pid: Int32? = nil) throws -> Link {
        try lock.withLock {
            let program = try loadedProgram(name)
            let section = Sys.programSection(program)
            let target = UserProbeTarget(section: section)
            let (result, messages): (Result<LinkHandle, Errno>, [LibbpfLog.Message])
            if let target, pid != nil || !target.path.contains("/") {
                let path = try UserProbeTarget.resolve(target.path, pid: pid, program: name)
                (result, messages) = LibbpfLog.capture {
                    switch target.kind {
                    case .usdt(let provider, let probe):
                        return Sys.attachUSDT(program, pid: pid ?? -1, path: path, provider: provider, name: probe)
                    case .uprobe(let function, let offset, let retprobe):
                        return Sys.attachUprobe(program, pid: pid ?? -1, path: path, function: function, offset: offset, retprobe: retprobe)
                    }
                }
            } else {
                (result, messages) = LibbpfLog.capture { Sys.attach(program) }
            }
            let texts = messages.filter { $0.level == .warning }.map(\.text)
            if case .failure(let e) = result, let feature = KernelFeatures().missingFeature(section: section, errno: e) {
                throw RuntimeError.kernelLacks(program: name, target: section, feature: feature, errno: e, messages: texts)
            }
            switch result {
            case .success(let h):
                return keep(Link(handle: h, program: name, target: section))
            case .failure(let e) where e == .noSuchFileOrDirectory:
                throw RuntimeError.attachPointMissing(program: name, target: section, errno: e, messages: texts)
            case .failure(let e) where e == .notSupported && texts.isEmpty:
                // libbpf 1.1 says nothing when the section has no attach function.
                throw RuntimeError.cannotAutoAttach(program: name, section: section)
            case .failure(let e) where e.isPrivilegeError:
                throw RuntimeError.permissionDenied(program: name, operation: "attach \(section)", errno: e)
            case .failure(let e):
                throw RuntimeError.failed(program: name, operation: "bpf_program__attach (section \(section))", errno: e, messages: texts)
            }
        }
    }

    /// The loaded program's instructions as the kernel holds them
    /// (after libbpf's relocations and the verifier's rewrites).
    public func xlatedInstructions(program name: String) throws -> [UInt8] {
        try lock.withLock {
            let program = try loadedProgram(name)
            switch Sys.xlatedInstructions(fd: Sys.programFD(program)) {
            case .success(let b): return b
            case .failure(let e): throw RuntimeError.failed(program: name, operation: "bpf_obj_get_info_by_fd", errno: e, messages: [])
            }
        }
    }

    /// Attaches a `perf_event` program to a sampling event on every online
    /// CPU (all processes): `type`/`config` as perf_event_open(2) takes them
    /// (PERF_TYPE_SOFTWARE 1 / PERF_COUNT_SW_CPU_CLOCK 0), sampled `frequency` times a second.
    @discardableResult
    public func attachPerfEvent(program name: String, type: UInt32, config: UInt64, frequency: UInt64) throws -> [Link] {
        try lock.withLock {
            let program = try loadedProgram(name)
            var made: [Link] = []
            for cpu in Sys.onlineCPUs() {
                switch Sys.attachPerfEvent(program, type: type, config: config, frequency: frequency, cpu: cpu) {
                case .success(let h): made.append(keep(Link(handle: h, program: name, target: "perf_event cpu \(cpu)")))
                case .failure(let e):
                    made.forEach { $0.close() }
                    if e.isPrivilegeError { throw RuntimeError.permissionDenied(program: name, operation: "perf_event_open", errno: e) }
                    throw RuntimeError.failed(program: name, operation: "perf_event_open/attach on cpu \(cpu)", errno: e, messages: [])
                }
            }
            return made
        }
    }

    /// Attaches a cgroup program (`cgroup/dev`, `cgroup_skb/…`, `cgroup/sock…`)
    /// to the cgroup v2 directory at `cgroupPath` with a BPF link
    /// (`bpf_program__attach_cgroup`); it applies to that cgroup and its descendants.
    @discardableResult
    public func attachCgroup(program name: String, cgroupPath: String) throws -> Link {
        try lock.withLock {
            let program = try loadedProgram(name)
            let cgroup: Int32
            switch Sys.openDirectory(cgroupPath) {
            case .success(let fd): cgroup = fd
            case .failure(let e) where e.isPrivilegeError:
                throw RuntimeError.permissionDenied(program: name, operation: "open cgroup \(cgroupPath)", errno: e)
            case .failure(let e):
                throw RuntimeError.attachPointMissing(program: name, target: cgroupPath, errno: e, messages: [])
            }
            // The link holds its own reference to the cgroup.
            defer { Sys.closeFD(cgroup) }
            let (result, messages) = LibbpfLog.capture { Sys.attachCgroup(program, cgroupFD: cgroup) }
            switch result {
            case .success(let h):
                return keep(Link(handle: h, program: name, target: "cgroup:" + cgroupPath))
            case .failure(let e):
                throw attachError(e, program: name, action: "attach to cgroup \(cgroupPath)",
                                  call: "bpf_program__attach_cgroup (\(cgroupPath))", messages: messages)
            }
        }
    }

    /// The interface index of `ifname`, or the error naming the program.
    private func interface(_ ifname: String, program name: String) throws -> Int32 {
        switch Sys.interfaceIndex(ifname) {
        case .success(let index): return index
        case .failure(let e): throw RuntimeError.attachPointMissing(program: name, target: "interface \(ifname)", errno: e, messages: [])
        }
    }

    /// Attaches an XDP program to the interface `ifname` with a BPF link
    /// (`bpf_program__attach_xdp`): it leaves the interface when the link
    /// closes, even if the process is killed.
    @discardableResult
    public func attachXDP(program name: String, ifname: String) throws -> Link {
        try lock.withLock {
            let program = try loadedProgram(name)
            let index = try interface(ifname, program: name)
            let (result, messages) = LibbpfLog.capture { Sys.attachXDP(program, ifindex: index) }
            switch result {
            case .success(let h): return keep(Link(handle: h, program: name, target: "xdp:" + ifname))
            case .failure(let e):
                throw attachError(e, program: name, action: "attach XDP to \(ifname)",
                                  call: "bpf_program__attach_xdp (\(ifname))", messages: messages)
            }
        }
    }

    /// A failed attach: missing privileges (CAP_BPF/CAP_NET_ADMIN/…), or
    /// the call's error with libbpf's warnings.
    private func attachError(_ e: Errno, program: String, action: String, call: String, messages: [LibbpfLog.Message]) -> RuntimeError {
        if e.isPrivilegeError { return .permissionDenied(program: program, operation: action, errno: e) }
        return .failed(program: program, operation: call, errno: e, messages: messages.filter { $0.level == .warning }.map(\.text))
    }

    /// Attaches a tc (`sched_cls`) program to `ifname`'s ingress or egress:
    /// a tcx link where the kernel has them (≥ 6.6; detached when closed or
    /// when the process dies), else a netlink filter on a clsact qdisc that
    /// `close()` removes again.
    @discardableResult
    public func attachTC(program name: String, ifname: String, egress: Bool = false) throws -> Link {
        try lock.withLock {
            let program = try loadedProgram(name)
            let index = try interface(ifname, program: name)
            let target = "tc:\(ifname):\(egress ? "egress" : "ingress")"
            let fd = Sys.programFD(program)
            switch Sys.createTCXLink(programFD: fd, ifindex: index, egress: egress) {
            case .success(let linkFD):
                return keep(Link(program: name, target: target, id: Sys.linkID(fd: linkFD), closer: { Sys.closeFD(linkFD) }))
            case .failure(let e) where e.isPrivilegeError:
                throw RuntimeError.permissionDenied(program: name, operation: "attach tc to \(ifname)", errno: e)
            case .failure:
                let (result, messages) = LibbpfLog.capture { Sys.attachTCNetlink(programFD: fd, ifindex: index, egress: egress) }
                switch result {
                case .success(let detach): return keep(Link(program: name, target: target, id: nil, closer: detach))
                case .failure(let e):
                    throw attachError(e, program: name, action: "attach tc to \(ifname)",
                                      call: "bpf_tc_attach (\(ifname))", messages: messages)
                }
            }
        }
    }

    /// Attaches a socket filter to a packet socket of its own (`AF_PACKET`,
    /// every protocol) on `ifname`, or on every interface when nil: the
    /// program then sees each packet the host sends or receives, as with
    /// tcpdump. Closing the link closes the socket.
    @discardableResult
    public func attachPacketSocket(program name: String, ifname: String?) throws -> Link {
        try lock.withLock {
            let program = try loadedProgram(name)
            let index = try ifname.map { try interface($0, program: name) }
            let fd: Int32
            switch Sys.packetSocket(ifindex: index) {
            case .success(let s): fd = s
            case .failure(let e) where e.isPrivilegeError:
                throw RuntimeError.permissionDenied(program: name, operation: "socket(AF_PACKET)", errno: e)
            case .failure(let e):
                throw RuntimeError.failed(program: name, operation: "socket(AF_PACKET)", errno: e, messages: [])
            }
            if let e = Sys.attachSocketFilter(socket: fd, programFD: Sys.programFD(program)) {
                Sys.closeFD(fd)
                throw RuntimeError.failed(program: name, operation: "setsockopt(SO_ATTACH_BPF)", errno: e, messages: [])
            }
            return keep(Link(program: name, target: "packet socket" + (ifname.map { " on " + $0 } ?? ""), id: nil, closer: { Sys.closeFD(fd) }))
        }
    }

    private func keep(_ link: Link) -> Link {
        // Closed links are dropped when the list has doubled since the last
        // time: dropping them at every attach made attaching N programs
        // N²/2 lock round trips (0.2 ms at 100 programs, 2 ms at 300).
        if links.count >= pruneAt {
            links.removeAll { !$0.isAttached }
            pruneAt = max(16, 2 * links.count)
        }
        links.append(link)
        return link
    }

    /// Detaches every link made from this object; the programs stay loaded.
    public func detachAll() {
        let all: [Link] = lock.withLock { defer { links = [] }; return links }
        for link in all { link.close() }
    }

    // MARK: test run

    /// Runs `program` on `packet` in the kernel without attaching it
    /// (`BPF_PROG_TEST_RUN`): the program's return value and the mean
    /// duration of one run in nanoseconds. Socket filter, tc and XDP
    /// programs need at least an Ethernet header (14 bytes); for skb
    /// programs the kernel pulls it first (`skb->len` is the length past it)
    /// and an IPv4/IPv6 ethertype needs the IP header too, else EINVAL.
    public func testRun(program name: String, packet: [UInt8], repeat count: Int = 1) throws -> (retval: UInt32, duration: UInt32) {
        try lock.withLock {
            let program = try loadedProgram(name)
            switch Sys.testRun(fd: Sys.programFD(program), packet: packet, repeat: count) {
            case .success(let r): return r
            case .failure(let e) where e == .notPermitted:
                throw RuntimeError.permissionDenied(program: name, operation: "BPF_PROG_TEST_RUN", errno: e)
            case .failure(let e):
                throw RuntimeError.failed(program: name, operation: "BPF_PROG_TEST_RUN", errno: e, messages: [])
            }
        }
    }

    // MARK: maps

    /// The value stored under `key` in `map`, or `nil` when absent. For
    /// per-CPU maps, the values of every possible CPU, each rounded up to 8 bytes.
    public func lookup(map name: String, key: [UInt8]) throws -> [UInt8]? {
        try lock.withLock {
            let map = try loadedMap(name)
            switch Sys.mapLookup(fd: map.fd, key: key, valueSize: Self.lookupSize(map)) {
            case .success(let v): return v
            case .failure(let e): throw RuntimeError.failed(program: nil, operation: "BPF_MAP_LOOKUP_ELEM on \(name)", errno: e, messages: [])
            }
        }
    }

    /// Stores `value` under `key` (`flags`: `BPF_ANY` 0, `BPF_NOEXIST` 1, `BPF_EXIST` 2).
    public func update(map name: String, key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws {
        try lock.withLock {
            let map = try loadedMap(name)
            if let e = Sys.mapUpdate(fd: map.fd, key: key, value: value, flags: flags) {
                throw RuntimeError.failed(program: nil, operation: "BPF_MAP_UPDATE_ELEM on \(name)", errno: e, messages: [])
            }
        }
    }

    /// Removes `key` from `map`.
    public func delete(map name: String, key: [UInt8]) throws {
        try lock.withLock {
            let map = try loadedMap(name)
            if let e = Sys.mapDelete(fd: map.fd, key: key) {
                throw RuntimeError.failed(program: nil, operation: "BPF_MAP_DELETE_ELEM on \(name)", errno: e, messages: [])
            }
        }
    }

    /// The bytes a lookup of `map` returns: the value, or for per-CPU maps
    /// one value per possible CPU, each rounded up to 8 bytes.
    private static func lookupSize(_ map: Map) -> Int {
        map.isPerCPU ? ((map.valueSize + 7) & ~7) * Sys.possibleCPUs() : map.valueSize
    }

    /// Every entry of `map`, keys and values as `lookup` returns them
    /// (`forEachEntry`, collected).
    public func entries(map name: String) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        try forEachEntry(map: name) { k, v in out.append((Array(k), Array(v))) }
        return out
    }

    /// Calls `body` with every entry of `map`: its key and its value as
    /// `lookup` returns it, the bytes valid during the call. The entries are
    /// read in batches of 4,096 (`BPF_MAP_LOOKUP_BATCH`: one system call per
    /// batch instead of two per entry) and handed over one batch at a time,
    /// outside the object's lock (`body` may use the object). Where the
    /// kernel or the map type has no batched lookup (before 5.6; stack
    /// traces…), key by key as `keys` and `lookup` do. Returns whether the
    /// entries came in batches.
    @discardableResult
    public func forEachEntry(map name: String, _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        let map = try lock.withLock { try loadedMap(name) }
        let size = Self.lookupSize(map)
        var token: [UInt8]? = nil
        var count = 4096
        while true {
            let result = try lock.withLock {
                _ = try loadedMap(name)   // still open
                return Sys.mapLookupBatch(fd: map.fd, after: token, keySize: map.keySize, valueSize: size, count: count)
            }
            switch result {
            case .success(let batch):
                try batch.keys.withUnsafeBytes { keys in
                    try batch.values.withUnsafeBytes { values in
                        for i in 0..<batch.count {
                            try body(UnsafeRawBufferPointer(rebasing: keys[i * map.keySize..<(i + 1) * map.keySize]),
                                     UnsafeRawBufferPointer(rebasing: values[i * size..<(i + 1) * size]))
                        }
                    }
                }
                guard let next = batch.next else { return true }
                token = next
            case .failure(let e) where e.rawValue == ENOSPC && count < 1 << 20:
                count *= 16   // a hash bucket holds more entries than a batch: a bigger batch
            case .failure(let e) where token == nil && [EINVAL, EOPNOTSUPP, 524 /* ENOTSUPP */].contains(e.rawValue):
                for key in try keys(map: name) {
                    guard let value = try lookup(map: name, key: key) else { continue }   // deleted meanwhile
                    try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try body(k, v) } }
                }
                return false
            case .failure(let e):
                throw RuntimeError.failed(program: nil, operation: "BPF_MAP_LOOKUP_BATCH on \(name)", errno: e, messages: [])
            }
        }
    }

    /// Every key of `map`, in the kernel's iteration order.
    public func keys(map name: String) throws -> [[UInt8]] {
        try lock.withLock {
            let map = try loadedMap(name)
            var keys: [[UInt8]] = []
            var previous: [UInt8]? = nil
            while true {
                switch Sys.mapNextKey(fd: map.fd, after: previous, keySize: map.keySize) {
                case .success(nil): return keys
                case .success(let next?): keys.append(next); previous = next
                case .failure(let e): throw RuntimeError.failed(program: nil, operation: "BPF_MAP_GET_NEXT_KEY on \(name)", errno: e, messages: [])
                }
            }
        }
    }

    // MARK: closing

    /// Detaches every link, then unloads the programs and frees the maps
    /// (`bpf_link__destroy`, `bpf_object__close`). Idempotent.
    public func close() {
        let (all, object, image, arena): ([Link], ObjectHandle?, UnsafeMutableRawBufferPointer?, (memory: UnsafeMutableRawPointer, bytes: Int)?) = lock.withLock {
            defer { links = []; handle = nil; self.image = nil; logBuffers = []; logArena = nil; loaded = false }
            return (links, handle, self.image, logArena)
        }
        for link in all { link.close() }
        if let object { Sys.closeObject(object) }
        if let arena { Sys.unmapMemory(arena.memory, bytes: arena.bytes) }
        image?.deallocate()
    }
}
