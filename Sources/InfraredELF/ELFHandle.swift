import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// One ELF file opened with libelf: the walk over section headers, program
/// headers, symbol tables, notes and the dynamic section that every reader
/// of ELF in Infrared shares — `ELFFile` (kernels, `.BTF` of any ELF, DWARF
/// inputs), `ObjectReader` (BPF objects), the profiler's symbolizer
/// (executables and shared libraries) and `gen loader`'s check that a
/// runner is static (`neededLibraries`).
///
/// libelf trusts its input's offsets only as far as its own checks go;
/// readers of untrusted bytes (`ELFFile`, `ObjectReader`) check the header
/// and every section's range against the data before opening it here.
public final class ELFHandle {
    /// The libelf `Elf *`, for calls not wrapped here.
    public let elf: OpaquePointer
    /// The copy libelf reads from (nil when the file is mapped); it must
    /// outlive `elf`.
    private let image: UnsafeMutableRawBufferPointer?
    private let fd: Int32

    /// Whether libelf accepted our version (once per process).
    public static let libelfReady: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

    /// libelf's last error message.
    public static func errorMessage() -> String { String(cString: elf_errmsg(-1) ?? elf_errmsg(0)) }

    /// libelf over a private copy of `bytes`; nil when libelf refuses them
    /// (see `errorMessage()`). The kind is not checked: see `isELF`.
    public init?(bytes: [UInt8]) {
        guard Self.libelfReady else { return nil }
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 8)
        image.copyBytes(from: bytes)
        guard let elf = elf_memory(image.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count) else {
            image.deallocate()
            return nil
        }
        self.elf = elf
        self.image = image
        fd = -1
    }

    /// libelf over the file at `path`, mapped rather than copied (large
    /// shared libraries); nil when it cannot be opened.
    public init?(path: String) {
        guard Self.libelfReady else { return nil }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else {
            close(fd)
            return nil
        }
        self.elf = elf
        self.fd = fd
        image = nil
    }

    deinit {
        elf_end(elf)
        if fd >= 0 { close(fd) }
        image?.deallocate()
    }

    /// `ELF_K_ELF` (not an archive or unknown bytes).
    public var isELF: Bool { elf_kind(elf) == ELF_K_ELF }

    /// `e_shnum` and `e_shstrndx`, extended values resolved; nil when libelf cannot read them.
    public func sectionCounts() -> (count: Int, stringTableIndex: Int)? {
        var n = 0, s = 0
        guard elf_getshdrnum(elf, &n) == 0, elf_getshdrstrndx(elf, &s) == 0 else { return nil }
        return (n, s)
    }

    /// Section `index` and its header.
    public func section(_ index: Int) -> (scn: OpaquePointer, header: GElf_Shdr)? {
        var sh = GElf_Shdr()
        guard let scn = elf_getscn(elf, index), gelf_getshdr(scn, &sh) != nil else { return nil }
        return (scn, sh)
    }

    /// Every section after the null one, in order, with its header (those
    /// libelf cannot read are left out).
    public func sections() -> [(scn: OpaquePointer, header: GElf_Shdr)] {
        var out: [(OpaquePointer, GElf_Shdr)] = []
        var scn: OpaquePointer? = nil
        while true {
            scn = elf_nextscn(elf, scn)
            guard let section = scn else { break }
            var sh = GElf_Shdr()
            guard gelf_getshdr(section, &sh) != nil else { continue }
            out.append((section, sh))
        }
        return out
    }

    /// The string at `offset` of string-table section `index`, or nil when it lies outside.
    public func string(section index: Int, offset: Int) -> String? {
        elf_strptr(elf, index, offset).map { String(cString: $0) }
    }

    /// The program headers (`PT_*`), or empty without any.
    public func programHeaders() -> [GElf_Phdr] {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0 else { return [] }
        var out: [GElf_Phdr] = []
        for i in 0..<count {
            var ph = GElf_Phdr()
            if gelf_getphdr(elf, Int32(i), &ph) != nil { out.append(ph) }
        }
        return out
    }

    /// The entries of symbol-table section `scn` (`SHT_SYMTAB`, `SHT_DYNSYM`)
    /// in order, with their names from the string table `header.sh_link`
    /// (nil for a name libelf cannot resolve).
    public func symbols(_ scn: OpaquePointer, header: GElf_Shdr) -> [(symbol: GElf_Sym, name: UnsafePointer<CChar>?)] {
        guard header.sh_entsize > 0, let data = elf_getdata(scn, nil) else { return [] }
        var out: [(GElf_Sym, UnsafePointer<CChar>?)] = []
        for i in 0..<Int(header.sh_size / header.sh_entsize) {
            var sym = GElf_Sym()
            guard gelf_getsym(data, Int32(i), &sym) != nil else { continue }
            out.append((sym, UnsafePointer(elf_strptr(elf, Int(header.sh_link), Int(sym.st_name)))))
        }
        return out
    }

    /// Whether the file is ELFCLASS64 (words in notes and headers are 8 bytes).
    public var is64Bit: Bool { gelf_getclass(elf) == ELFCLASS64 }

    /// The descriptors of the notes owned by `owner` with type `type`, from
    /// every `SHT_NOTE` section (or only the one named `section`), in order;
    /// walked with libelf's `gelf_getnote`.
    public func notes(owner: String, type: UInt32, section: String? = nil) -> [[UInt8]] {
        var out: [[UInt8]] = []
        let ownerBytes = Array(owner.utf8) + [0]
        for (scn, sh) in sections() where sh.sh_type == UInt32(SHT_NOTE) {
            if let section, self.string(section: sectionCounts()?.stringTableIndex ?? 0, offset: Int(sh.sh_name)) != section { continue }
            guard let data = elf_getdata(scn, nil), let base = data.pointee.d_buf else { continue }
            // Notes: (header, name, desc)….
            var offset = 0, header = GElf_Nhdr(), nameAt = 0, descAt = 0
            while true {
                let next = gelf_getnote(data, offset, &header, &nameAt, &descAt)
                guard next > 0 else { break }
                if header.n_type == type, Int(header.n_namesz) == ownerBytes.count,
                   memcmp(base + nameAt, ownerBytes, ownerBytes.count) == 0 {
                    out.append(Array(UnsafeRawBufferPointer(start: base + descAt, count: Int(header.n_descsz))))
                }
                offset = next
            }
        }
        return out
    }

    /// The GNU build id (`NT_GNU_BUILD_ID` owned by "GNU") of the first
    /// `SHT_NOTE` section that has one.
    public func buildID() -> [UInt8]? {
        notes(owner: "GNU", type: UInt32(NT_GNU_BUILD_ID)).first { !$0.isEmpty }
    }

    /// The `DT_NEEDED` names of the `SHT_DYNAMIC` sections, in order.
    public func neededLibraries() -> [String] {
        var names: [String] = []
        for (scn, sh) in sections() where sh.sh_type == UInt32(SHT_DYNAMIC) {
            guard sh.sh_entsize > 0, let data = elf_getdata(scn, nil) else { continue }
            for i in 0..<Int(sh.sh_size / sh.sh_entsize) {
                var dyn = GElf_Dyn()
                guard gelf_getdyn(data, Int32(i), &dyn) != nil, dyn.d_tag != Int64(DT_NULL) else { break }
                if dyn.d_tag == Int64(DT_NEEDED), let name = string(section: Int(sh.sh_link), offset: Int(dyn.d_un.d_val)) {
                    names.append(name)
                }
            }
        }
        return names
    }
}
