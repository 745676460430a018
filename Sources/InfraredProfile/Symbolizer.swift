import CLibBPF
import InfraredELF
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// Names for the instruction pointers of a `:stack_trace` map: kernel
/// addresses through `/proc/kallsyms`, user addresses through the process's
/// `/proc/PID/maps` and the mapped ELF file's `.symtab`/`.dynsym` (read with
/// libelf, which the runner links statically already).
///
/// What it cannot name is `[unknown]` (perf's and bpftrace's spelling): an
/// address in no mapping or no function symbol (JIT code, a stripped file
/// with no debug file), or a user address of a process that exited before
/// its map was read (`remember(pid:)` reads it early; the profile example
/// does so once a second). The vDSO is named from the loader's own copy;
/// separate debug files are found by build id under /usr/lib/debug only
/// (no `.gnu_debuglink`, no debuginfod). No demangling.
///
/// Everything read is cached: kallsyms once, each pid's mappings on first
/// use, each file's symbols once (by device and inode, as `/proc/PID/maps`
/// names them), so a stack seen in thousands of samples costs lookups only.
/// What is kept is compact (24 bytes a symbol; kallsyms' names in one
/// buffer; a file's names left in the file, read when a lookup returns
/// them): a 5-second profile beside a compiling `swift-frontend` (250 k
/// functions, 29 MB of names) peaked at 167 MB RSS with every name a Swift
/// string, 36 MB now (Benchmarks/footprint.sh PROFILE=1).
public final class Symbolizer {
    static let unknown = "[unknown]"

    private var kernel: SymbolTable?
    private var processes: [Int32: (maps: [Mapping], read: UInt64)] = [:]
    private var files: [String: ELFSymbols?] = [:]
    private var vdso: ELFSymbols??

    public init() {}

    /// The kernel function containing `address`, or `[unknown]`.
    func kernelSymbol(_ address: UInt64) -> String { kernelFunction(address)?.name ?? Self.unknown }

    func kernelFunction(_ address: UInt64) -> (name: String, start: UInt64)? {
        if kernel == nil { kernel = Self.readKallsyms() }
        return kernel!.symbol(containing: address)
    }

    /// The kernel function containing `address` (bpftrace's `ksym`: the
    /// name, no offset), or nil outside every text symbol of /proc/kallsyms.
    public func kernelFunction(_ address: UInt64) -> String? {
        if kernel == nil { kernel = Self.readKallsyms() }
        return kernel!.lookup(address)
    }

    /// The function of process `pid` containing `address`, or `[unknown]`.
    func userSymbol(pid: Int32, _ address: UInt64) -> String { userFunction(pid: pid, address)?.name ?? Self.unknown }

    /// The function of process `pid` containing `address` and its start
    /// (a run-time address), or nil.
    func userFunction(pid: Int32, _ address: UInt64) -> (name: String, start: UInt64)? {
        var found = Mapping.find(address, in: mappings(pid))
        if found == nil, let seen = processes[pid], Self.now() - seen.read > 1_000_000_000 {
            // Mapped since we looked (dlopen)? Read the maps again, at most
            // once a second; a process gone since keeps what was read.
            let fresh = readText("/proc/\(pid)/maps").map(Mapping.parse)
            processes[pid] = (fresh ?? seen.maps, Self.now())
            found = fresh.flatMap { Mapping.find(address, in: $0) }
        }
        guard let m = found, let path = m.path else { return nil }
        if path == "[vdso]" {
            if vdso == nil { vdso = .some(Self.readVDSO()) }
            return vdso!.flatMap { $0.symbol(containing: address, mapping: m) }
        }
        guard !path.hasPrefix("[") else { return nil }
        return symbols(for: m, pid: pid)?.symbol(containing: address, mapping: m)
    }

    /// Names for a stack, leaf first. Every frame after the leaf is a return
    /// address, which points past its call instruction (possibly past the end
    /// of a function ending in a call), so those are looked up at `ip - 1`,
    /// as perf and gdb do.
    public func symbols(_ ips: [UInt64], pid: Int32?) -> [String] {
        ips.enumerated().map { i, ip in
            let at = i == 0 ? ip : ip &- 1
            return pid.map { userSymbol(pid: $0, at) } ?? kernelSymbol(at)
        }
    }

    /// The same as bpftrace prints `kstack`/`ustack` frames: `name+offset`,
    /// the offset (decimal) of the address itself from the function's start.
    public func symbolsWithOffsets(_ ips: [UInt64], pid: Int32?) -> [String] {
        ips.enumerated().map { i, ip in
            let at = i == 0 ? ip : ip &- 1
            guard let f = pid.map({ userFunction(pid: $0, at) }) ?? kernelFunction(at) else { return Self.unknown }
            return "\(f.name)+\(ip &- f.start)"
        }
    }

    /// Reads the memory map of `pid` now, if not yet: its user addresses can
    /// then be named after it exits, as long as its files are still there.
    public func remember(pid: Int32) { _ = mappings(pid) }

    /// Forgets what it knows of `pid` (a new process may reuse the number).
    public func forget(pid: Int32) { processes[pid] = nil }

    private func mappings(_ pid: Int32) -> [Mapping] {
        if let m = processes[pid] { return m.maps }
        let m = readText("/proc/\(pid)/maps").map(Mapping.parse) ?? []
        processes[pid] = (m, Self.now())
        return m
    }

    static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    private func symbols(for m: Mapping, pid: Int32) -> ELFSymbols? {
        let key = m.inode != 0 ? "\(m.device):\(m.inode)" : m.path ?? ""
        if let cached = files[key] { return cached }
        // map_files reaches the very file mapped (also deleted or in another
        // mount namespace); then the path in the process's root; then ours.
        let path = m.path ?? ""
        let candidates = ["/proc/\(pid)/map_files/\(String(m.start, radix: 16))-\(String(m.end, radix: 16))", "/proc/\(pid)/root" + path,
                          path.hasSuffix(" (deleted)") ? String(path.dropLast(10)) : path]
        var found: ELFSymbols? = nil
        for c in candidates {
            if let s = ELFSymbols(path: c) { found = s; break }
        }
        files[key] = found
        return found
    }

    /// The vDSO's symbols (`__vdso_clock_gettime`…): every process of this
    /// kernel maps the same image, so ours (found in our own maps) names theirs.
    static func readVDSO() -> ELFSymbols? {
        guard let m = readText("/proc/self/maps").map(Mapping.parse)?.first(where: { $0.path == "[vdso]" }),
              let start = UnsafeRawPointer(bitPattern: UInt(m.start)) else { return nil }
        return ELFSymbols(image: Array(UnsafeRawBufferPointer(start: start, count: Int(m.end - m.start))))
    }

    /// `/proc/kallsyms`, read in 64 KB chunks (it is ~10 MB of text: only
    /// the text symbols' addresses and names are kept).
    static func readKallsyms() -> SymbolTable {
        var parser = KallsymsParser()
        let fd = open("/proc/kallsyms", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return parser.table() }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            parser.feed(chunk[0..<n])
        }
        return parser.table()
    }

    /// `ffffffff81000000 T _stext` lines (with `\t[module]` for modules): the
    /// text symbols (`t T w W`), without sizes: an address belongs to the
    /// closest symbol at or below it.
    static func parseKallsyms(_ text: String) -> SymbolTable {
        var parser = KallsymsParser()
        parser.feed(Array(text.utf8)[...])
        return parser.table()
    }
}

/// kallsyms lines to symbol table entries, their names in one byte buffer
/// (~120 k kernel functions: ~3 MB of names, 24 bytes an entry).
struct KallsymsParser {
    private var entries: [SymbolTable.Entry] = []
    private var names: [UInt8] = []
    private var pending: [UInt8] = []

    /// Takes the next bytes of the file; a line cut at the end waits for the rest.
    mutating func feed(_ bytes: ArraySlice<UInt8>) {
        var start = bytes.startIndex
        while let nl = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            if pending.isEmpty {
                line(bytes[start..<nl])
            } else {
                pending += bytes[start..<nl]
                line(pending[...])
                pending.removeAll(keepingCapacity: true)
            }
            start = nl + 1
        }
        pending += bytes[start...]
    }

    private mutating func line(_ line: ArraySlice<UInt8>) {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
        guard fields.count == 3, let kind = fields[1].first,
              kind == UInt8(ascii: "t") || kind == UInt8(ascii: "T") || kind == UInt8(ascii: "w") || kind == UInt8(ascii: "W"),
              let address = Self.hex(fields[0]), address != 0 else { return }
        var name = fields[2]
        if let tab = name.firstIndex(of: UInt8(ascii: "\t")) { name = name[..<tab] }
        guard let offset = UInt32(exactly: names.count) else { return }
        names += name
        names.append(0)
        entries.append(SymbolTable.Entry(address: address, size: 0, name: offset, table: 0, rank: kind == UInt8(ascii: "T") ? 0 : 1))
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var v: UInt64 = 0
        for c in digits {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = v << 4 | UInt64(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = v << 4 | UInt64(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = v << 4 | UInt64(c - UInt8(ascii: "A") + 10)
            default: return nil
            }
        }
        return v
    }

    mutating func table() -> SymbolTable {
        if !pending.isEmpty { line(pending[...]); pending = [] }
        return SymbolTable(entries: entries, names: SymbolNames(buffer: names))
    }
}

/// A function symbol: `[address, address + size)`, or up to the next symbol when `size` is 0.
struct Symbol: Equatable {
    var address: UInt64
    var size: UInt64
    var name: String
    /// Among symbols at one address the lowest rank names it (global before weak before local).
    var rank: Int = 0
}

/// Where a symbol table's names are: one byte buffer of NUL-terminated names
/// (kallsyms, the vDSO, tests) and string tables of files, read with
/// `pread` only for the names a lookup returns (and for ties at one
/// address). Reading the names up front was what took a profile's memory:
/// `swift-frontend`'s `.strtab` alone is 29 MB for 250 k functions.
/// The files stay open (a mapping's `/proc/PID/map_files` entry goes with
/// its process) until the table is dropped.
final class SymbolNames {
    /// A string table section of an open file.
    struct FileTable {
        var fd: Int32
        var offset: UInt64
        var size: UInt64
    }

    private(set) var buffer: [UInt8]
    /// Table `i + 1` of an entry (table 0 is `buffer`).
    private(set) var files: [FileTable] = []
    private var owned: Set<Int32> = []
    private var cache: [UInt64: String] = [:]

    init(buffer: [UInt8] = []) { self.buffer = buffer }

    deinit { for fd in owned { close(fd) } }

    /// Adds a string table of `fd` (closed with this object); its entries' `table`.
    func add(fd: Int32, offset: UInt64, size: UInt64) -> UInt8? {
        guard files.count < Int(UInt8.max) else { return nil }
        owned.insert(fd)
        files.append(FileTable(fd: fd, offset: offset, size: size))
        return UInt8(files.count)
    }

    /// Appends `name` to the buffer (table 0); its offset, nil past 4 GB.
    func append(_ name: UnsafePointer<CChar>) -> UInt32? {
        guard let offset = UInt32(exactly: buffer.count) else { return nil }
        let n = strlen(name)
        name.withMemoryRebound(to: UInt8.self, capacity: n) { buffer.append(contentsOf: UnsafeBufferPointer(start: $0, count: n)) }
        buffer.append(0)
        return offset
    }

    /// The bytes of the name at `offset` of `table`, without its NUL.
    func bytes(table: UInt8, offset: UInt32) -> [UInt8] {
        if table == 0 {
            guard Int(offset) < buffer.count else { return [] }
            let rest = buffer[Int(offset)...]
            return Array(rest[..<(rest.firstIndex(of: 0) ?? rest.endIndex)])
        }
        let file = files[Int(table) - 1]
        var out: [UInt8] = []
        var at = UInt64(offset)
        var chunk = [UInt8](repeating: 0, count: 256)
        while at < file.size {
            let want = Int(min(UInt64(chunk.count), file.size - at))
            let n = chunk.withUnsafeMutableBytes { pread(file.fd, $0.baseAddress, want, off_t(file.offset + at)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            if let nul = chunk[0..<n].firstIndex(of: 0) { return out + chunk[0..<nul] }
            out += chunk[0..<n]
            at += UInt64(n)
        }
        return out
    }

    /// The name at `offset` of `table` (cached: a stack's frames are named again and again).
    func name(table: UInt8, offset: UInt32) -> String {
        let key = UInt64(table) << 32 | UInt64(offset)
        if let s = cache[key] { return s }
        let s = String(decoding: bytes(table: table, offset: offset), as: UTF8.self)
        cache[key] = s
        return s
    }
}

/// Symbols sorted by address, one an address, looked up by binary search.
/// 24 bytes a symbol; names stay where `SymbolNames` keeps them.
struct SymbolTable {
    struct Entry {
        var address: UInt64
        /// 0: unsized (up to the next symbol).
        var size: UInt32
        /// The name's offset in its table of `names`.
        var name: UInt32
        var table: UInt8
        var rank: UInt8
    }

    private(set) var entries: [Entry]
    let names: SymbolNames

    init(entries: [Entry], names: SymbolNames) {
        self.names = names
        // One symbol per address: the best ranked, then the shortest name (`write` over
        // `__GI___libc_write`), then the first name in byte order. Names are read only
        // for ties of address and rank.
        var sorted = entries
        sorted.sort { ($0.address, $0.rank) < ($1.address, $1.rank) }
        var unique: [Entry] = []
        unique.reserveCapacity(sorted.count)
        var i = 0
        while i < sorted.count {
            var j = i + 1
            while j < sorted.count && sorted[j].address == sorted[i].address { j += 1 }
            var best = sorted[i]
            var k = i + 1
            if k < j && sorted[k].rank == best.rank {
                var bestName = names.bytes(table: best.table, offset: best.name)
                while k < j && sorted[k].rank == best.rank {
                    let name = names.bytes(table: sorted[k].table, offset: sorted[k].name)
                    if name.count < bestName.count || name.count == bestName.count && name.lexicographicallyPrecedes(bestName) {
                        best = sorted[k]; bestName = name
                    }
                    k += 1
                }
            }
            unique.append(best)
            i = j
        }
        self.entries = unique
    }

    /// A table of `symbols` (tests, and readers that hold names already).
    init(_ symbols: [Symbol]) {
        let names = SymbolNames()
        var entries: [Entry] = []
        for s in symbols {
            let offset = s.name.withCString { names.append($0) } ?? 0
            entries.append(Entry(address: s.address, size: UInt32(clamping: s.size), name: offset, table: 0, rank: UInt8(clamping: s.rank)))
        }
        self.init(entries: entries, names: names)
    }

    /// Every symbol with its name (tests).
    var symbols: [Symbol] {
        entries.map { Symbol(address: $0.address, size: UInt64($0.size), name: names.name(table: $0.table, offset: $0.name), rank: Int($0.rank)) }
    }

    /// The name of the symbol containing `address`. A sized symbol must
    /// cover it; an unsized one (kallsyms) covers up to the next symbol.
    func lookup(_ address: UInt64) -> String? { symbol(containing: address)?.name }

    /// The name and start address of the symbol containing `address`.
    func symbol(containing address: UInt64) -> (name: String, start: UInt64)? {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        // entries[lo - 1] is the last at or below `address`; a few earlier
        // ones may still cover it (a function with an inner label symbol).
        var i = lo - 1
        while i >= 0 && i >= lo - 4 {
            let s = entries[i]
            if s.size == 0 ? i == lo - 1 : address - s.address < UInt64(s.size) { return (names.name(table: s.table, offset: s.name), s.address) }
            i -= 1
        }
        return nil
    }
}

/// One line of `/proc/PID/maps`.
struct Mapping: Equatable {
    var start: UInt64
    var end: UInt64
    /// The file offset mapped at `start`.
    var offset: UInt64
    var executable: Bool
    var device: String
    var inode: UInt64
    /// The file, or `[heap]`, `[vdso]`…; nil for anonymous memory.
    var path: String?

    /// `55d0c0a00000-55d0c0a01000 r-xp 00001000 08:01 1234  /usr/bin/x`
    static func parse(_ text: String) -> [Mapping] {
        var out: [Mapping] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard f.count >= 5 else { continue }
            let range = f[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  let offset = UInt64(f[2], radix: 16), let inode = UInt64(f[4]) else { continue }
            let path = f.count > 5 ? String(f[5].drop { $0 == " " }) : nil
            out.append(Mapping(start: start, end: end, offset: offset, executable: f[1].contains("x"), device: String(f[3]),
                               inode: inode, path: path?.isEmpty == false ? path : nil))
        }
        return out.sorted { $0.start < $1.start }
    }

    /// The mapping containing `address` (mappings sorted by start).
    static func find(_ address: UInt64, in maps: [Mapping]) -> Mapping? {
        var lo = 0, hi = maps.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if maps[mid].start <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0, address < maps[lo - 1].end else { return nil }
        return maps[lo - 1]
    }
}

/// The function symbols of one ELF file (`.symtab` and `.dynsym`) and its
/// `PT_LOAD` segments, which turn a run-time address into the file's own
/// virtual addresses whatever the load bias (PIE executables, shared objects).
struct ELFSymbols {
    /// A `PT_LOAD` program header.
    struct Segment: Equatable {
        var virtualAddress: UInt64
        var offset: UInt64
        var fileSize: UInt64
        var executable: Bool
    }

    /// What `read` finds in one file.
    struct File {
        var entries: [SymbolTable.Entry]
        var names: SymbolNames
        var segments: [Segment]
        var buildID: [UInt8]?
        /// Every function symbol with its name (tests).
        var symbols: [Symbol] {
            entries.map { Symbol(address: $0.address, size: UInt64($0.size), name: names.name(table: $0.table, offset: $0.name), rank: Int($0.rank)) }
        }
    }

    var table: SymbolTable
    var segments: [Segment]

    init(table: SymbolTable, segments: [Segment]) { self.table = table; self.segments = segments }

    /// The address the file's symbols use for run-time `address` in `mapping`:
    /// the file offset it maps (`address - start + offset`), moved into the
    /// segment holding that offset (`- p_offset + p_vaddr`). For a non-PIE
    /// executable this is `address` again; for PIE and shared objects it
    /// removes the load bias.
    func fileAddress(_ address: UInt64, mapping: Mapping) -> UInt64 {
        let fileOffset = address &- mapping.start &+ mapping.offset
        let holding = segments.filter { fileOffset >= $0.offset && fileOffset - $0.offset < max($0.fileSize, 1) }
        guard let s = holding.first(where: \.executable) ?? holding.first else { return fileOffset }
        return fileOffset - s.offset &+ s.virtualAddress
    }

    func lookup(_ address: UInt64, mapping: Mapping) -> String? {
        table.lookup(fileAddress(address, mapping: mapping))
    }

    /// The symbol containing `address`, its start as a run-time address.
    func symbol(containing address: UInt64, mapping: Mapping) -> (name: String, start: UInt64)? {
        let at = fileAddress(address, mapping: mapping)
        return table.symbol(containing: at).map { ($0.name, address &- (at &- $0.start)) }
    }

    /// Where separate debug files are found by build id (Debian's `*-dbg`
    /// and `*-dbgsym` packages): `DIR/.build-id/ab/cdef….debug`.
    static let debugDirectory = "/usr/lib/debug"

    /// Reads `path`'s symbols, adding the `.symtab` of its separate debug
    /// file when one is installed for its build id (stripped libraries keep
    /// only `.dynsym`: libc's `__libc_start_call_main` is named only there);
    /// nil when `path` is not a readable ELF file.
    init?(path: String) {
        let names = SymbolNames()
        guard let file = Self.read(path, names: names) else { return nil }
        var entries = file.entries
        if let id = file.buildID, id.count >= 2 {
            let hex = id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            let debug = "\(Self.debugDirectory)/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            if let d = Self.read(debug, names: names), d.buildID == id { entries += d.entries }
        }
        self.init(table: SymbolTable(entries: entries, names: names), segments: file.segments)
    }

    /// An ELF image in memory (the vDSO): its names are copied.
    init?(image: [UInt8]) {
        guard let elf = ELFHandle(bytes: image), let file = Self.read(elf, fd: nil, names: SymbolNames()) else { return nil }
        self.init(table: SymbolTable(entries: file.entries, names: file.names), segments: file.segments)
    }

    /// The function symbols, `PT_LOAD` segments and GNU build id of one file.
    static func read(_ path: String) -> File? { read(path, names: SymbolNames()) }

    static func read(_ path: String, names: SymbolNames) -> File? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard let elf = ELFHandle(path: path), let file = read(elf, fd: fd, names: names) else { close(fd); return nil }
        if !names.files.contains(where: { $0.fd == fd }) { close(fd) }
        return file
    }

    /// A symbol table section's entries: from `fd` with `pread` in 48 KB
    /// chunks when the file is 64-bit little-endian (x86-64, arm64: the
    /// table is not mapped, so its pages never count in the loader's RSS;
    /// names are left in the file), else through libelf with the names copied.
    static func read(_ elf: ELFHandle, fd: Int32?, names: SymbolNames) -> File? {
        guard elf.isELF else { return nil }
        let segments = elf.programHeaders().filter { $0.p_type == UInt32(PT_LOAD) }.map {
            Segment(virtualAddress: $0.p_vaddr, offset: $0.p_offset, fileSize: $0.p_filesz, executable: $0.p_flags & UInt32(PF_X) != 0)
        }
        var header = GElf_Ehdr()
        let native = gelf_getehdr(elf.elf, &header) != nil && header.e_ident.4 == UInt8(ELFCLASS64) && header.e_ident.5 == UInt8(ELFDATA2LSB)
        var entries: [SymbolTable.Entry] = []
        for (scn, sh) in elf.sections() where sh.sh_type == UInt32(SHT_SYMTAB) || sh.sh_type == UInt32(SHT_DYNSYM) {
            if let fd, native, sh.sh_entsize == 24, let strings = elf.section(Int(sh.sh_link))?.header, strings.sh_type == UInt32(SHT_STRTAB),
               let table = names.add(fd: fd, offset: strings.sh_offset, size: strings.sh_size) {
                readSymbols(fd: fd, offset: sh.sh_offset, count: Int(sh.sh_size / 24), table: table, into: &entries)
                continue
            }
            for (sym, name) in elf.symbols(scn, header: sh) {
                let type = Int32(sym.st_info & 0xf), binding = Int32(sym.st_info >> 4)
                guard type == STT_FUNC || type == STT_GNU_IFUNC, sym.st_value != 0, sym.st_shndx != UInt16(SHN_UNDEF),
                      let name, name.pointee != 0, let offset = names.append(name) else { continue }
                entries.append(SymbolTable.Entry(address: sym.st_value, size: UInt32(clamping: sym.st_size), name: offset, table: 0,
                                                 rank: binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2))
            }
        }
        return File(entries: entries, names: names, segments: segments, buildID: elf.buildID())
    }

    /// `Elf64_Sym`s (st_name u32, st_info u8, st_other u8, st_shndx u16, st_value u64, st_size u64), function symbols kept.
    private static func readSymbols(fd: Int32, offset: UInt64, count: Int, table: UInt8, into entries: inout [SymbolTable.Entry]) {
        var chunk = [UInt8](repeating: 0, count: 24 * 2048)
        var done = 0
        while done < count {
            let want = min(2048, count - done) * 24
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset + UInt64(done * 24))) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 24 else { return }
            chunk.withUnsafeBytes { raw in
                for i in 0..<n / 24 {
                    let at = i * 24
                    let info = raw[at + 4], shndx = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self))
                    let value = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 8, as: UInt64.self))
                    let type = Int32(info & 0xf), binding = Int32(info >> 4)
                    let name = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                    guard type == STT_FUNC || type == STT_GNU_IFUNC, value != 0, shndx != UInt16(SHN_UNDEF), name != 0 else { continue }
                    let size = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 16, as: UInt64.self))
                    entries.append(SymbolTable.Entry(address: value, size: UInt32(clamping: size), name: name, table: table,
                                                     rank: binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2))
                }
            }
            done += n / 24
        }
    }
}

/// A whole (small, procfs) file as text, nil when it cannot be read
/// (`readFile` reads to EOF: procfs files report size 0).
func readText(_ path: String) -> String? {
    (try? readFile(path)).map { String(decoding: $0, as: UTF8.self) }
}
