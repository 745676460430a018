// The one seam between Infrared and the kernel: every libbpf call and every
// syscall the runtime makes is in this file (as swift-system keeps its
// syscalls in `Internals/Syscalls.swift`). The rest of the module speaks
// Swift types and `Errno`; nothing else imports a C function.
//
// libbpf ≥ 1.0 semantics throughout: functions return a negative errno, or
// NULL with `errno` set.
import CLibBPF
#if canImport(Glibc)
import Glibc
import InfraredSupport
#endif

/// Opaque libbpf handles (`struct bpf_object *`, `struct bpf_program *`, …).
typealias ObjectHandle = OpaquePointer
typealias ProgramHandle = OpaquePointer
typealias MapHandle = OpaquePointer
typealias LinkHandle = OpaquePointer
typealias RingBufferHandle = OpaquePointer
typealias PerfBufferHandle = OpaquePointer

enum Sys {
    // MARK: libbpf's print callback

    /// libbpf prints through one process-wide callback; ours formats the
    /// message and hands it to `LibbpfLog`, which files it under the
    /// operation in progress (see `LibbpfLog.capture`). Set again before
    /// every captured operation: other code in the process may have set its
    /// own (the fuzz readers silence libbpf, some tests install theirs), and
    /// a load error names its program from these messages.
    static func installPrintHook() {
        _ = libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            let severity: LibbpfLog.Level
            switch level {
            case LIBBPF_WARN: severity = .warning
            case LIBBPF_INFO: severity = .info
            default: severity = .debug
            }
            // Debug messages are dropped unformatted unless INFRARED_LIBBPF_DEBUG
            // asks for them: libbpf prints several per map, program and
            // relocation, and formatting them was most of `open`'s time for
            // an object of 100 programs (Benchmarks/startup-breakdown.sh).
            if severity == .debug && !LibbpfLog.verbose { return 0 }
            // va_list can be consumed once: format into a buffer large enough
            // for any libbpf message except the verifier log, which we take
            // from the per-program log buffer instead.
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 8192) { buffer in
                buffer[0] = 0
                let n = vsnprintf(buffer.baseAddress, buffer.count, format, arguments)
                LibbpfLog.record(severity, String(cString: buffer.baseAddress!))
                return n
            }
        }
    }

    // MARK: objects

    /// `bpf_object__open_mem`; `bytes` must stay alive until the object is closed.
    static func openObject(_ bytes: UnsafeRawBufferPointer, name: String, btfCustomPath: String?) -> Result<ObjectHandle, Errno> {
        installPrintHook()
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        return name.withCString { cName in
            withOptionalCString(btfCustomPath) { cBTF in
                opts.object_name = cName
                opts.btf_custom_path = cBTF
                errno = 0
                guard let object = bpf_object__open_mem(bytes.baseAddress, bytes.count, &opts) else {
                    return .failure(Errno.current)
                }
                return .success(object)
            }
        }
    }

    /// `bpf_object__open_mem` for reading what libbpf makes of an object
    /// (`OpenedObject`): leaves libbpf's print callback as it is, so warnings
    /// print as they would without Infrared's runtime, and `errno` as libbpf set it.
    static func openObjectToInspect(_ bytes: UnsafeRawBufferPointer, name: String) -> Result<ObjectHandle, Errno> {
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        return name.withCString { cName in
            opts.object_name = cName
            guard let object = bpf_object__open_mem(bytes.baseAddress, bytes.count, &opts) else { return .failure(Errno.current) }
            return .success(object)
        }
    }

    /// `bpf_object__load`: creates maps, relocates and loads every program.
    static func loadObject(_ object: ObjectHandle) -> Errno? {
        let rc = bpf_object__load(object)
        return rc == 0 ? nil : Errno(libbpf: rc)
    }

    /// `bpf_object__btf_fd`: the fd of the object's BTF in the kernel, -1
    /// when it has none there (libbpf ignores a `.BTF` the kernel refuses).
    static func objectBTFFD(_ object: ObjectHandle) -> Int32 { bpf_object__btf_fd(object) }

    /// `bpf_object__close`: unloads programs, closes map fds, frees the object.
    static func closeObject(_ object: ObjectHandle) { bpf_object__close(object) }

    // MARK: programs

    static func programs(_ object: ObjectHandle) -> [ProgramHandle] {
        var result: [ProgramHandle] = []
        var current = bpf_object__next_program(object, nil)
        while let program = current {
            result.append(program)
            current = bpf_object__next_program(object, program)
        }
        return result
    }

    static func findProgram(_ object: ObjectHandle, name: String) -> ProgramHandle? {
        bpf_object__find_program_by_name(object, name)
    }

    static func programName(_ program: ProgramHandle) -> String { String(cString: bpf_program__name(program)) }
    static func programSection(_ program: ProgramHandle) -> String { String(cString: bpf_program__section_name(program)) }
    static func programType(_ program: ProgramHandle) -> UInt32 { bpf_program__type(program).rawValue }
    static func programFD(_ program: ProgramHandle) -> Int32 { bpf_program__fd(program) }

    /// Zero-filled memory that costs nothing until touched: an anonymous
    /// private mapping, not reserved against swap (`MAP_NORESERVE`).
    static func mapZeroedMemory(bytes: Int) -> Result<UnsafeMutableRawPointer, Errno> {
        let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let p, p != MAP_FAILED else { return .failure(Errno.current) }
        return .success(p)
    }

    static func unmapMemory(_ memory: UnsafeMutableRawPointer, bytes: Int) { _ = munmap(memory, bytes) }

    /// `bpf_program__set_log_buf`: the kernel's verifier log goes to `buffer`
    /// (libbpf otherwise allocates its own and prints it through the callback).
    static func setLogBuffer(_ program: ProgramHandle, _ buffer: UnsafeMutablePointer<CChar>, size: Int) {
        _ = bpf_program__set_log_buf(program, buffer, size)
    }

    /// `bpf_program__set_log_level`: 0 asks for a log only when loading fails.
    static func setLogLevel(_ program: ProgramHandle, _ level: UInt32) {
        _ = bpf_program__set_log_level(program, level)
    }

    // MARK: maps

    /// `bpf_object__find_map_by_name`: the map whose `bpf_map__name` is `name`.
    static func findMap(_ object: ObjectHandle, name: String) -> MapHandle? {
        bpf_object__find_map_by_name(object, name)
    }

    static func maps(_ object: ObjectHandle) -> [MapHandle] {
        var result: [MapHandle] = []
        var current = bpf_object__next_map(object, nil)
        while let map = current {
            result.append(map)
            current = bpf_object__next_map(object, map)
        }
        return result
    }

    static func mapName(_ map: MapHandle) -> String { String(cString: bpf_map__name(map)) }
    /// The map's initial contents (`.rodata`/`.data` before load), or nil.
    static func mapInitialValue(_ map: MapHandle) -> [UInt8]? {
        var size = 0
        guard let p = bpf_map__initial_value(map, &size) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: size))
    }
    static func setMapInitialValue(_ map: MapHandle, _ bytes: [UInt8]) -> Errno? {
        let rc = bytes.withUnsafeBytes { bpf_map__set_initial_value(map, $0.baseAddress, $0.count) }
        return rc < 0 ? Errno(libbpf: rc) : nil
    }
    static func mapType(_ map: MapHandle) -> UInt32 { bpf_map__type(map).rawValue }
    static func mapKeySize(_ map: MapHandle) -> UInt32 { bpf_map__key_size(map) }
    static func mapValueSize(_ map: MapHandle) -> UInt32 { bpf_map__value_size(map) }
    static func mapMaxEntries(_ map: MapHandle) -> UInt32 { bpf_map__max_entries(map) }
    static func mapFD(_ map: MapHandle) -> Int32 { bpf_map__fd(map) }

    /// `BPF_MAP_LOOKUP_ELEM`; `nil` when the key is absent.
    static func mapLookup(fd: Int32, key: [UInt8], valueSize: Int) -> Result<[UInt8]?, Errno> {
        var value = [UInt8](repeating: 0, count: valueSize)
        let rc = key.withUnsafeBytes { k in value.withUnsafeMutableBytes { v in bpf_map_lookup_elem(fd, k.baseAddress, v.baseAddress) } }
        if rc == 0 { return .success(value) }
        let e = Errno.current
        return e == .noSuchFileOrDirectory ? .success(nil) : .failure(e)
    }

    /// `BPF_MAP_UPDATE_ELEM` with `flags` (`BPF_ANY` = 0).
    static func mapUpdate(fd: Int32, key: [UInt8], value: [UInt8], flags: UInt64) -> Errno? {
        let rc = key.withUnsafeBytes { k in value.withUnsafeBytes { v in bpf_map_update_elem(fd, k.baseAddress, v.baseAddress, flags) } }
        return rc == 0 ? nil : Errno.current
    }

    /// `BPF_MAP_DELETE_ELEM`.
    static func mapDelete(fd: Int32, key: [UInt8]) -> Errno? {
        let rc = key.withUnsafeBytes { bpf_map_delete_elem(fd, $0.baseAddress) }
        return rc == 0 ? nil : Errno.current
    }

    /// `BPF_MAP_GET_NEXT_KEY`; `nil` past the last key.
    static func mapNextKey(fd: Int32, after key: [UInt8]?, keySize: Int) -> Result<[UInt8]?, Errno> {
        var next = [UInt8](repeating: 0, count: keySize)
        let rc: Int32 = next.withUnsafeMutableBytes { n in
            if let key { return key.withUnsafeBytes { bpf_map_get_next_key(fd, $0.baseAddress, n.baseAddress) } }
            return bpf_map_get_next_key(fd, nil, n.baseAddress)
        }
        if rc == 0 { return .success(next) }
        let e = Errno.current
        return e == .noSuchFileOrDirectory ? .success(nil) : .failure(e)
    }

    /// One batch of `BPF_MAP_LOOKUP_BATCH`: up to `count` entries from the
    /// batch token `after` (nil: the map's start), keys and values packed;
    /// `next` is the token to go on from, nil once the map is done.
    static func mapLookupBatch(fd: Int32, after: [UInt8]?, keySize: Int, valueSize: Int, count: Int)
        -> Result<(keys: [UInt8], values: [UInt8], count: Int, next: [UInt8]?), Errno> {
        var keys = [UInt8](repeating: 0, count: keySize * count)
        var values = [UInt8](repeating: 0, count: valueSize * count)
        // The token is opaque: a hash map's is a 4-byte bucket, an array's a 4-byte index.
        var token = [UInt8](repeating: 0, count: max(keySize, 8))
        var n = UInt32(count)
        let rc: Int32 = keys.withUnsafeMutableBytes { k in
            values.withUnsafeMutableBytes { v in
                token.withUnsafeMutableBytes { out in
                    guard let after else { return bpf_map_lookup_batch(fd, nil, out.baseAddress, k.baseAddress, v.baseAddress, &n, nil) }
                    var input = after
                    return input.withUnsafeMutableBytes { bpf_map_lookup_batch(fd, $0.baseAddress, out.baseAddress, k.baseAddress, v.baseAddress, &n, nil) }
                }
            }
        }
        if rc == 0 { return .success((keys, values, Int(n), token)) }
        let e = Errno.current
        return e == .noSuchFileOrDirectory ? .success((keys, values, Int(n), nil)) : .failure(e)
    }

    /// `libbpf_num_possible_cpus`: per-CPU maps hold one value slot per possible CPU.
    static func possibleCPUs() -> Int { max(1, Int(libbpf_num_possible_cpus())) }

    // MARK: links

    /// `bpf_program__attach`: libbpf's auto-attach, by section name.
    static func attach(_ program: ProgramHandle) -> Result<LinkHandle, Errno> {
        errno = 0
        guard let link = bpf_program__attach(program) else { return .failure(Errno.current) }
        return .success(link)
    }

    /// `bpf_program__attach_uprobe_opts` limited to process `pid` (-1: every process).
    static func attachUprobe(_ program: ProgramHandle, pid: Int32, path: String, function: String, offset: Int, retprobe: Bool) -> Result<LinkHandle, Errno> {
        var opts = bpf_uprobe_opts()
        opts.sz = MemoryLayout<bpf_uprobe_opts>.size
        opts.retprobe = retprobe
        errno = 0
        let link: LinkHandle? = function.withCString { f in
            opts.func_name = function.isEmpty ? nil : f
            return bpf_program__attach_uprobe_opts(program, pid, path, offset, &opts)
        }
        guard let link else { return .failure(Errno.current) }
        return .success(link)
    }

    /// `bpf_program__attach_usdt` limited to process `pid` (-1: every process).
    static func attachUSDT(_ program: ProgramHandle, pid: Int32, path: String, provider: String, name: String) -> Result<LinkHandle, Errno> {
        errno = 0
        guard let link = bpf_program__attach_usdt(program, pid, path, provider, name, nil) else { return .failure(Errno.current) }
        return .success(link)
    }

    /// The file `/proc/PID/maps` or `ldconfig -p` text, nil when unreadable.
    /// Read with read(2) until EOF: procfs files report size 0, and
    /// Foundation's whole-file read of another process's maps came back empty.
    static func readText(_ path: String) -> String? {
        guard let d = try? readFile(path) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    /// The directories the dynamic linker searches: /etc/ld.so.conf.d/*.conf's, then the defaults.
    static func linkerDirectories() -> [String] {
        var dirs: [String] = []
        let conf = "/etc/ld.so.conf.d"
        for f in (InfraredSupport.directoryEntries(conf) ?? []).sorted() where f.hasSuffix(".conf") {
            for line in (readText(conf + "/" + f) ?? "").split(separator: "\n") {
                let l = line.drop(while: { $0 == " " || $0 == "\t" })
                if l.hasPrefix("/") { dirs.append(String(l.prefix(while: { $0 != " " && $0 != "\t" && $0 != "#" }))) }
            }
        }
        return dirs + ["/lib", "/usr/lib"]
    }

    /// The names of the files in `dir` (empty when unreadable).
    static func directoryEntries(_ dir: String) -> [String] {
        (InfraredSupport.directoryEntries(dir) ?? []).sorted()
    }

    /// `bpf_program__attach_cgroup` (`BPF_LINK_CREATE` on the cgroup's fd).
    static func attachCgroup(_ program: ProgramHandle, cgroupFD: Int32) -> Result<LinkHandle, Errno> {
        errno = 0
        guard let link = bpf_program__attach_cgroup(program, cgroupFD) else { return .failure(Errno.current) }
        return .success(link)
    }

    /// Opens a sampling perf event on `cpu` (all processes) and attaches the program to it.
    static func attachPerfEvent(_ program: ProgramHandle, type: UInt32, config: UInt64, frequency: UInt64, cpu: Int32) -> Result<LinkHandle, Errno> {
        var attr = perf_event_attr()
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attr.type = type
        attr.config = config
        attr.sample_period = frequency      // union with sample_freq
        attr.freq = 1
        let fd = infrared_perf_event_open(&attr, -1, cpu, -1, UInt(PERF_FLAG_FD_CLOEXEC))
        if fd < 0 { return .failure(Errno(rawValue: errno)) }
        guard let link = bpf_program__attach_perf_event(program, fd) else {
            let e = Errno(rawValue: errno); Glibc.close(fd); return .failure(e)
        }
        return .success(link)
    }
    /// CPUs listed in /sys/devices/system/cpu/online ("0-3,5").
    static func onlineCPUs() -> [Int32] {
        guard let f = fopen("/sys/devices/system/cpu/online", "r") else { return Array(0..<Int32(possibleCPUs())) }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 4096)
        guard fgets(&buf, 4096, f) != nil else { return Array(0..<Int32(possibleCPUs())) }
        let text = String(cString: buf).filter { !$0.isWhitespace }
        var cpus: [Int32] = []
        for part in text.split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int32($0) }
            if ends.count == 2 { cpus += Array(ends[0]...ends[1]) } else if let c = ends.first { cpus.append(c) }
        }
        return cpus
    }

    /// The program as the kernel holds it after verification (xlated instructions).
    static func xlatedInstructions(fd: Int32) -> Result<[UInt8], Errno> {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        if bpf_obj_get_info_by_fd(fd, &info, &len) != 0 { return .failure(Errno(rawValue: errno)) }
        let size = Int(info.xlated_prog_len)
        var bytes = [UInt8](repeating: 0, count: size)
        var again = bpf_prog_info()
        bytes.withUnsafeMutableBytes { again.xlated_prog_insns = UInt64(UInt(bitPattern: $0.baseAddress)) }
        again.xlated_prog_len = UInt32(size)
        len = UInt32(MemoryLayout<bpf_prog_info>.size)
        let rc = bytes.withUnsafeMutableBytes { buf -> Int32 in
            again.xlated_prog_insns = UInt64(UInt(bitPattern: buf.baseAddress))
            return bpf_obj_get_info_by_fd(fd, &again, &len)
        }
        if rc != 0 { return .failure(Errno(rawValue: errno)) }
        return .success(bytes)
    }

    static func linkFD(_ link: LinkHandle) -> Int32 { bpf_link__fd(link) }

    /// `bpf_link__destroy`: detaches and frees the link.
    static func destroyLink(_ link: LinkHandle) { _ = bpf_link__destroy(link) }

    // MARK: ring buffers and perf buffers

    /// libbpf's `ring_buffer_sample_fn`: `ctx`, the record (valid during the
    /// call only), its size; a negative return stops the consume.
    typealias RingSample = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Int32
    /// libbpf's `perf_buffer_sample_fn`: `ctx`, the CPU, the raw sample, its size.
    typealias PerfSample = @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, UInt32) -> Void
    /// libbpf's `perf_buffer_lost_fn`: `ctx`, the CPU, how many records the kernel dropped.
    typealias PerfLost = @convention(c) (UnsafeMutableRawPointer?, Int32, UInt64) -> Void

    /// A libbpf count or negative errno as a count; an interrupted wait counts 0.
    private static func count(_ n: Int32) -> Result<Int, Errno> {
        if n >= 0 { return .success(Int(n)) }
        return -n == EINTR ? .success(0) : .failure(Errno(libbpf: n))
    }

    /// `ring_buffer__new`: maps the ring buffer map `fd`'s consumer and
    /// producer pages and an epoll fd on it; `sample` is called per record.
    static func ringBufferNew(fd: Int32, sample: RingSample, context: UnsafeMutableRawPointer) -> Result<RingBufferHandle, Errno> {
        errno = 0
        guard let rb = ring_buffer__new(fd, sample, context, nil) else { return .failure(Errno.current) }
        return .success(rb)
    }
    /// `ring_buffer__poll`: waits up to `timeoutMs`, then consumes every available record.
    static func ringBufferPoll(_ rb: RingBufferHandle, timeoutMs: Int32) -> Result<Int, Errno> { count(ring_buffer__poll(rb, timeoutMs)) }
    /// `ring_buffer__consume`: every available record, without waiting.
    static func ringBufferConsume(_ rb: RingBufferHandle) -> Result<Int, Errno> { count(ring_buffer__consume(rb)) }
    static func ringBufferEpollFD(_ rb: RingBufferHandle) -> Int32 { ring_buffer__epoll_fd(rb) }
    static func ringBufferFree(_ rb: RingBufferHandle) { ring_buffer__free(rb) }

    /// `perf_buffer__new`: one perf event and `pagesPerCPU` mapped pages per CPU.
    static func perfBufferNew(fd: Int32, pagesPerCPU: Int, sample: PerfSample, lost: PerfLost, context: UnsafeMutableRawPointer) -> Result<PerfBufferHandle, Errno> {
        errno = 0
        guard let pb = perf_buffer__new(fd, pagesPerCPU, sample, lost, context, nil) else { return .failure(Errno.current) }
        return .success(pb)
    }
    static func perfBufferPoll(_ pb: PerfBufferHandle, timeoutMs: Int32) -> Result<Int, Errno> { count(perf_buffer__poll(pb, timeoutMs)) }
    static func perfBufferConsume(_ pb: PerfBufferHandle) -> Result<Int, Errno> { count(perf_buffer__consume(pb)) }
    static func perfBufferEpollFD(_ pb: PerfBufferHandle) -> Int32 { perf_buffer__epoll_fd(pb) }
    static func perfBufferFree(_ pb: PerfBufferHandle) { perf_buffer__free(pb) }

    // MARK: test run

    /// `BPF_PROG_TEST_RUN` with `packet` as input data.
    static func testRun(fd: Int32, packet: [UInt8], repeat count: Int) -> Result<(retval: UInt32, duration: UInt32), Errno> {
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = Int32(clamping: count)
        let rc = packet.withUnsafeBytes { data -> Int32 in
            opts.data_in = data.baseAddress
            opts.data_size_in = UInt32(data.count)
            return bpf_prog_test_run_opts(fd, &opts)
        }
        if rc != 0 { return .failure(Errno(libbpf: rc)) }
        return .success((opts.retval, opts.duration))
    }

    // MARK: raw loads, ids, info

    /// `BPF_PROG_LOAD` of raw instructions, bypassing libbpf's object model.
    static func loadRawProgram(type: UInt32, name: String, license: String, instructions: [UInt8]) -> Result<Int32, Errno> {
        precondition(instructions.count % MemoryLayout<bpf_insn>.size == 0)
        let count = instructions.count / MemoryLayout<bpf_insn>.size
        let fd = instructions.withUnsafeBytes { raw in
            bpf_prog_load(bpf_prog_type(rawValue: type), name, license,
                          raw.baseAddress?.assumingMemoryBound(to: bpf_insn.self), count, nil)
        }
        return fd >= 0 ? .success(fd) : .failure(Errno(libbpf: fd))
    }

    /// The kernel id of a program fd (`BPF_OBJ_GET_INFO_BY_FD`).
    static func programID(fd: Int32) -> UInt32? {
        var info = bpf_prog_info()
        var length = UInt32(MemoryLayout<bpf_prog_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info.id : nil
    }

    /// The kernel id of a link fd.
    static func linkID(fd: Int32) -> UInt32? {
        var info = bpf_link_info()
        var length = UInt32(MemoryLayout<bpf_link_info>.size)
        return bpf_obj_get_info_by_fd(fd, &info, &length) == 0 ? info.id : nil
    }

    /// Every id `BPF_PROG_GET_NEXT_ID` (or `BPF_LINK_GET_NEXT_ID`) walks through.
    static func allIDs(links: Bool) -> Result<[UInt32], Errno> {
        var ids: [UInt32] = []
        var current: UInt32 = 0
        while true {
            var next: UInt32 = 0
            let rc = links ? bpf_link_get_next_id(current, &next) : bpf_prog_get_next_id(current, &next)
            if rc != 0 {
                let e = Errno.current
                return e == .noSuchFileOrDirectory ? .success(ids) : .failure(e)
            }
            ids.append(next)
            current = next
        }
    }

    // MARK: files

    /// `open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)`.
    static func openDirectory(_ path: String) -> Result<Int32, Errno> {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        return fd >= 0 ? .success(fd) : .failure(Errno.current)
    }

    static func closeFD(_ fd: Int32) { _ = close(fd) }

    // MARK: helpers

    /// `libbpf_strerror`: `strerror`, and libbpf's own messages for its codes above 4000.
    static func errorMessage(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = libbpf_strerror(code, &buffer, buffer.count)
        return String(cString: buffer)
    }

    private static func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let string else { return body(nil) }
        return string.withCString { body($0) }
    }
}
