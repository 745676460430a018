import CLibBPF
import InfraredELF
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
public final class Symbolizer {
    static let unknown = "[unknown]"

    private var kernel: SymbolTable?
    private var processes: [Int32: (maps: [Mapping], read: UInt64)] = [:]
    private var files: [String: ELFSymbols?] = [:]
    private var vdso: ELFSymbols??

    public init() {}

    /// The kernel function containing `address`, or `[unknown]`.
    func kernelSymbol(_ address: UInt64) -> String {
        if kernel == nil { kernel = Self.readKallsyms() }
        return kernel!.lookup(address) ?? Self.unknown
    }

    /// The kernel function containing `address` (bpftrace's `ksym`: the
    /// name, no offset), or nil outside every text symbol of /proc/kallsyms.
    public func kernelFunction(_ address: UInt64) -> String? {
        if kernel == nil { kernel = Self.readKallsyms() }
        return kernel!.lookup(address)
    }

    /// The function of process `pid` containing `address`, or `[unknown]`.
    func userSymbol(pid: Int32, _ address: UInt64) -> String {
        var found = Mapping.find(address, in: mappings(pid))
        if found == nil, let seen = processes[pid], Self.now() - seen.read > 1_000_000_000 {
            // Mapped since we looked (dlopen)? Read the maps again, at most
            // once a second; a process gone since keeps what was read.
            let fresh = readText("/proc/\(pid)/maps").map(Mapping.parse)
            processes[pid] = (fresh ?? seen.maps, Self.now())
            found = fresh.flatMap { Mapping.find(address, in: $0) }
        }
        guard let m = found, let path = m.path else { return Self.unknown }
        if path == "[vdso]" {
            if vdso == nil { vdso = .some(Self.readVDSO()) }
            return vdso!.flatMap { $0.lookup(address, mapping: m) } ?? Self.unknown
        }
        guard !path.hasPrefix("[") else { return Self.unknown }
        guard let elf = symbols(for: m, pid: pid) else { return Self.unknown }
        return elf.lookup(address, mapping: m) ?? Self.unknown
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

    static func readKallsyms() -> SymbolTable {
        guard let text = readText("/proc/kallsyms") else { return SymbolTable([]) }
        return parseKallsyms(text)
    }

    /// `ffffffff81000000 T _stext` lines (with `\t[module]` for modules): the
    /// text symbols (`t T w W`), without sizes: an address belongs to the
    /// closest symbol at or below it.
    static func parseKallsyms(_ text: String) -> SymbolTable {
        var symbols: [Symbol] = []
        symbols.reserveCapacity(200_000)
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            var fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
            guard fields.count == 3, let kind = fields[1].first, [UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "w"), UInt8(ascii: "W")].contains(kind),
                  let address = UInt64(String(decoding: fields[0], as: UTF8.self), radix: 16), address != 0 else { continue }
            if let tab = fields[2].firstIndex(of: UInt8(ascii: "\t")) { fields[2] = fields[2][..<tab] }
            symbols.append(Symbol(address: address, size: 0, name: String(decoding: fields[2], as: UTF8.self), rank: kind == UInt8(ascii: "T") ? 0 : 1))
        }
        return SymbolTable(symbols)
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

/// Symbols sorted by address, looked up by binary search.
struct SymbolTable {
    private(set) var symbols: [Symbol]

    init(_ symbols: [Symbol]) {
        // One symbol per address: the best ranked, then the shortest name (`write` over `__GI___libc_write`).
        let sorted = symbols.sorted { ($0.address, $0.rank, $0.name.utf8.count, $0.name) < ($1.address, $1.rank, $1.name.utf8.count, $1.name) }
        var unique: [Symbol] = []
        unique.reserveCapacity(sorted.count)
        for s in sorted where unique.last?.address != s.address { unique.append(s) }
        self.symbols = unique
    }

    /// The name of the symbol containing `address`. A sized symbol must
    /// cover it; an unsized one (kallsyms) covers up to the next symbol.
    func lookup(_ address: UInt64) -> String? {
        var lo = 0, hi = symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if symbols[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        // symbols[lo - 1] is the last at or below `address`; a few earlier
        // ones may still cover it (a function with an inner label symbol).
        var i = lo - 1
        while i >= 0 && i >= lo - 4 {
            let s = symbols[i]
            if s.size == 0 ? i == lo - 1 : address - s.address < s.size { return s.name }
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

    /// Where separate debug files are found by build id (Debian's `*-dbg`
    /// and `*-dbgsym` packages): `DIR/.build-id/ab/cdef….debug`.
    static let debugDirectory = "/usr/lib/debug"

    /// Reads `path` with libelf (mapped, not copied), adding the `.symtab`
    /// of its separate debug file when one is installed for its build id
    /// (stripped libraries keep only `.dynsym`: libc's `__libc_start_call_main`
    /// is named only there); nil when `path` is not a readable ELF file.
    init?(path: String) {
        guard let file = Self.read(path) else { return nil }
        var symbols = file.symbols
        if let id = file.buildID, id.count >= 2 {
            let hex = id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            let debug = "\(Self.debugDirectory)/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
            if let d = Self.read(debug), d.buildID == id { symbols += d.symbols }
        }
        self.init(table: SymbolTable(symbols), segments: file.segments)
    }

    /// An ELF image in memory (the vDSO).
    init?(image: [UInt8]) {
        guard let elf = ELFHandle(bytes: image), let file = Self.read(elf) else { return nil }
        self.init(table: SymbolTable(file.symbols), segments: file.segments)
    }

    /// The function symbols, `PT_LOAD` segments and GNU build id of one file.
    static func read(_ path: String) -> (symbols: [Symbol], segments: [Segment], buildID: [UInt8]?)? {
        ELFHandle(path: path).flatMap(read)
    }

    static func read(_ elf: ELFHandle) -> (symbols: [Symbol], segments: [Segment], buildID: [UInt8]?)? {
        guard elf.isELF else { return nil }
        let segments = elf.programHeaders().filter { $0.p_type == UInt32(PT_LOAD) }.map {
            Segment(virtualAddress: $0.p_vaddr, offset: $0.p_offset, fileSize: $0.p_filesz, executable: $0.p_flags & UInt32(PF_X) != 0)
        }
        var symbols: [Symbol] = []
        for (scn, sh) in elf.sections() where sh.sh_type == UInt32(SHT_SYMTAB) || sh.sh_type == UInt32(SHT_DYNSYM) {
            for (sym, name) in elf.symbols(scn, header: sh) {
                let type = Int32(sym.st_info & 0xf), binding = Int32(sym.st_info >> 4)
                guard type == STT_FUNC || type == STT_GNU_IFUNC, sym.st_value != 0, sym.st_shndx != UInt16(SHN_UNDEF),
                      let name, name.pointee != 0 else { continue }
                symbols.append(Symbol(address: sym.st_value, size: sym.st_size, name: String(cString: name),
                                      rank: binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2))
            }
        }
        return (symbols, segments, elf.buildID())
    }
}

/// A whole (small, procfs) file as text, read with read(2) until EOF: procfs
/// files report size 0.
func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}
