import CLibDW
import InfraredSupport

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
