import CLibBPF
import InfraredELF
#if canImport(Glibc)
import Glibc
#endif

/// Another process as a profiler of its runtime needs it before it loads its
/// programs: where a file it maps has put a symbol (a shared library's
/// global, such as `ruby_current_vm_ptr`), and C strings in its memory
/// (`ruby_version`). The hooks' `Target` module calls these.
public enum ProcessImage {
    /// The run-time address of `symbol` (any kind: a variable, a function)
    /// of the ELF file `path` as process `pid` maps it: the symbol's value
    /// plus the file's load bias, which is where the mapping of file offset
    /// 0 starts less the lowest `PT_LOAD`'s page-aligned address (0 for a
    /// non-PIE executable). Nil when the file has no such symbol or `pid`
    /// does not map it.
    public static func address(of symbol: String, in path: String, pid: Int32) -> UInt64? {
        guard let maps = readText("/proc/\(pid)/maps"),
              let value = symbolValue(symbol, in: path),
              let lowest = lowestLoadAddress(path) else { return nil }
        guard let first = Mapping.parse(maps).first(where: { $0.path == path && $0.offset == 0 }) else { return nil }
        return first.start &- lowest &+ value
    }

    /// `st_value` of the first defined symbol named `name` in `.symtab` or `.dynsym`.
    static func symbolValue(_ name: String, in path: String) -> UInt64? {
        guard let elf = ELFHandle(path: path), elf.isELF else { return nil }
        for (scn, sh) in elf.sections() where sh.sh_type == UInt32(SHT_SYMTAB) || sh.sh_type == UInt32(SHT_DYNSYM) {
            for (sym, n) in elf.symbols(scn, header: sh) where sym.st_shndx != UInt16(SHN_UNDEF) {
                if let n, strcmp(n, name) == 0 { return sym.st_value }
            }
        }
        return nil
    }

    /// The page-aligned address of the file's first `PT_LOAD` segment.
    static func lowestLoadAddress(_ path: String) -> UInt64? {
        guard let elf = ELFHandle(path: path), elf.isELF else { return nil }
        let loads = elf.programHeaders().filter { $0.p_type == UInt32(PT_LOAD) }
        guard let low = loads.map({ $0.p_vaddr }).min() else { return nil }
        return low & ~UInt64(0xfff)
    }

    /// The NUL-terminated string at `address` in process `pid` (at most
    /// `limit` bytes), read from `/proc/PID/mem`; nil when it cannot be read.
    public static func string(at address: UInt64, pid: Int32, limit: Int = 256) -> String? {
        let fd = open("/proc/\(pid)/mem", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: max(limit, 1))
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(Int64(bitPattern: address))) }
        guard n > 0 else { return nil }
        let text = bytes[0..<n]
        return String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
    }
}
