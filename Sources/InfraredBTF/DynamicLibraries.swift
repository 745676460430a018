import CCompression
import CLibDW
#if canImport(Glibc)
import Glibc
#endif

// libdw (DWARF), liblz4 and liblzma are opened with dlopen the first time
// `from-dwarf` or an lz4/xz input needs them, instead of being linked.
// Everything that links InfraredBTF — including the static loader runner,
// which must need no shared library but libc — then links only libbpf,
// libelf, zlib and libzstd. The CLibDW and CCompression modules give the
// declarations (types, constants); the functions come from here.

/// A shared library opened with `dlopen`, and typed look-ups of its symbols —
/// or, in an executable that links the library itself and registered its
/// symbols (`LinkedSymbols`), those: a static executable cannot dlopen.
final class DynamicLibrary: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer?
    let name: String

    /// Opens the first of `names` that loads; `purpose` says in errors what needed it.
    init(_ names: [String], purpose: String) throws {
        if LinkedSymbols.lookup != nil { handle = nil; name = names[0]; return }
        for n in names {
            if let h = dlopen(n, RTLD_NOW | RTLD_LOCAL) { handle = h; name = n; return }
        }
        let why = dlerror().map { String(cString: $0) } ?? "not found"
        throw BTFFormatError(names[0], "cannot load it for \(purpose): \(why)")
    }

    /// The symbol `symbol` as a C function of type `T`.
    func function<T>(_ symbol: String) throws -> T {
        let p: UnsafeRawPointer?
        if let handle { p = dlsym(handle, symbol).map { UnsafeRawPointer($0) } } else { p = LinkedSymbols.lookup?(symbol) }
        guard let p else { throw BTFFormatError(name, "has no symbol \(symbol)") }
        return unsafeBitCast(p, to: T.self)
    }
}

/// The libdw, liblz4 and liblzma functions of an executable that links those
/// libraries (the static `infrared` CLI: Sources/CLinkedLibraries), by name.
/// Registered once at start-up, before any BTF is read; when set, nothing is
/// opened with dlopen.
public enum LinkedSymbols {
    nonisolated(unsafe) static var lookup: ((String) -> UnsafeRawPointer?)?
    public static func register(_ lookup: @escaping (String) -> UnsafeRawPointer?) { self.lookup = lookup }
}

/// The libdw and libdwfl functions the DWARF converter calls (elfutils
/// 0.188 signatures, <elfutils/libdw.h>, <elfutils/libdwfl.h>).
struct LibDW {
    typealias Die = UnsafeMutablePointer<Dwarf_Die>?
    typealias Attribute = UnsafeMutablePointer<Dwarf_Attribute>?

    let dwarf_errmsg: @convention(c) (Int32) -> UnsafePointer<CChar>?
    let dwarf_nextcu: @convention(c) (OpaquePointer?, Dwarf_Off, UnsafeMutablePointer<Dwarf_Off>?, UnsafeMutablePointer<Int>?,
                                      UnsafeMutablePointer<Dwarf_Off>?, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<UInt8>?) -> Int32
    let dwarf_offdie: @convention(c) (OpaquePointer?, Dwarf_Off, Die) -> Die
    let dwarf_child: @convention(c) (Die, Die) -> Int32
    let dwarf_siblingof: @convention(c) (Die, Die) -> Int32
    let dwarf_tag: @convention(c) (Die) -> Int32
    let dwarf_diename: @convention(c) (Die) -> UnsafePointer<CChar>?
    let dwarf_attr: @convention(c) (Die, UInt32, Attribute) -> Attribute
    let dwarf_attr_integrate: @convention(c) (Die, UInt32, Attribute) -> Attribute
    let dwarf_hasattr: @convention(c) (Die, UInt32) -> Int32
    let dwarf_hasattr_integrate: @convention(c) (Die, UInt32) -> Int32
    let dwarf_whatform: @convention(c) (Attribute) -> UInt32
    let dwarf_formudata: @convention(c) (Attribute, UnsafeMutablePointer<Dwarf_Word>?) -> Int32
    let dwarf_formsdata: @convention(c) (Attribute, UnsafeMutablePointer<Dwarf_Sword>?) -> Int32
    let dwarf_formref_die: @convention(c) (Attribute, Die) -> Die
    let dwarf_dieoffset: @convention(c) (Die) -> Dwarf_Off
    let dwarf_bytesize: @convention(c) (Die) -> Int32
    let dwarf_bitsize: @convention(c) (Die) -> Int32
    let dwarf_getlocation: @convention(c) (Attribute, UnsafeMutablePointer<UnsafeMutablePointer<Dwarf_Op>?>?, UnsafeMutablePointer<Int>?) -> Int32
    let dwfl_errmsg: @convention(c) (Int32) -> UnsafePointer<CChar>?
    let dwfl_begin: @convention(c) (UnsafePointer<Dwfl_Callbacks>?) -> OpaquePointer?
    let dwfl_end: @convention(c) (OpaquePointer?) -> Void
    let dwfl_report_offline_memory: @convention(c) (OpaquePointer?, UnsafePointer<CChar>?, UnsafePointer<CChar>?,
                                                    UnsafeMutablePointer<CChar>?, Int) -> OpaquePointer?
    /// The `removed` callback is always NULL here.
    let dwfl_report_end: @convention(c) (OpaquePointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    let dwfl_module_getdwarf: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Dwarf_Addr>?) -> OpaquePointer?
    /// For `Dwfl_Callbacks.find_elf` / `.section_address`.
    let findELF: UnsafeMutableRawPointer
    let sectionAddress: UnsafeMutableRawPointer

    private init(_ l: DynamicLibrary) throws {
        dwarf_errmsg = try l.function("dwarf_errmsg")
        dwarf_nextcu = try l.function("dwarf_nextcu")
        dwarf_offdie = try l.function("dwarf_offdie")
        dwarf_child = try l.function("dwarf_child")
        dwarf_siblingof = try l.function("dwarf_siblingof")
        dwarf_tag = try l.function("dwarf_tag")
        dwarf_diename = try l.function("dwarf_diename")
        dwarf_attr = try l.function("dwarf_attr")
        dwarf_attr_integrate = try l.function("dwarf_attr_integrate")
        dwarf_hasattr = try l.function("dwarf_hasattr")
        dwarf_hasattr_integrate = try l.function("dwarf_hasattr_integrate")
        dwarf_whatform = try l.function("dwarf_whatform")
        dwarf_formudata = try l.function("dwarf_formudata")
        dwarf_formsdata = try l.function("dwarf_formsdata")
        dwarf_formref_die = try l.function("dwarf_formref_die")
        dwarf_dieoffset = try l.function("dwarf_dieoffset")
        dwarf_bytesize = try l.function("dwarf_bytesize")
        dwarf_bitsize = try l.function("dwarf_bitsize")
        dwarf_getlocation = try l.function("dwarf_getlocation")
        dwfl_errmsg = try l.function("dwfl_errmsg")
        dwfl_begin = try l.function("dwfl_begin")
        dwfl_end = try l.function("dwfl_end")
        dwfl_report_offline_memory = try l.function("dwfl_report_offline_memory")
        dwfl_report_end = try l.function("dwfl_report_end")
        dwfl_module_getdwarf = try l.function("dwfl_module_getdwarf")
        findELF = try l.function("dwfl_build_id_find_elf")
        sectionAddress = try l.function("dwfl_offline_section_address")
    }

    private static let loaded: Result<LibDW, Error> = Result(catching: {
        try LibDW(DynamicLibrary(["libdw.so.1", "libdw.so"], purpose: "reading DWARF (Debian: libdw1)"))
    })

    /// libdw, loaded on first use.
    static func load() throws -> LibDW { try loaded.get() }

    func dwarfError() -> String { dwarf_errmsg(-1).map { String(cString: $0) } ?? "unknown libdw error" }
    func dwflError() -> String { dwfl_errmsg(-1).map { String(cString: $0) } ?? "unknown libdwfl error" }
}

/// liblz4's block decoder (<lz4.h>).
struct LibLZ4 {
    let LZ4_decompress_safe: @convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, Int32, Int32) -> Int32

    private static let loaded: Result<LibLZ4, Error> = Result(catching: {
        let l = try DynamicLibrary(["liblz4.so.1", "liblz4.so"], purpose: "decompressing lz4 (Debian: liblz4-1)")
        return LibLZ4(LZ4_decompress_safe: try l.function("LZ4_decompress_safe"))
    })
    static func load() throws -> LibLZ4 { try loaded.get() }

    /// `LZ4_COMPRESSBOUND`
    static func compressBound(_ n: Int) -> Int { n + n / 255 + 16 }
}

/// liblzma's stream decoder (<lzma.h>).
struct LibLZMA {
    let lzma_stream_decoder: @convention(c) (UnsafeMutablePointer<lzma_stream>?, UInt64, UInt32) -> lzma_ret
    let lzma_code: @convention(c) (UnsafeMutablePointer<lzma_stream>?, lzma_action) -> lzma_ret
    let lzma_end: @convention(c) (UnsafeMutablePointer<lzma_stream>?) -> Void

    private static let loaded: Result<LibLZMA, Error> = Result(catching: {
        let l = try DynamicLibrary(["liblzma.so.5", "liblzma.so"], purpose: "decompressing xz (Debian: liblzma5)")
        return LibLZMA(lzma_stream_decoder: try l.function("lzma_stream_decoder"), lzma_code: try l.function("lzma_code"),
                       lzma_end: try l.function("lzma_end"))
    })
    static func load() throws -> LibLZMA { try loaded.get() }
}
