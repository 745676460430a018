import Glibc
import BPF
import CLibBPF
import InfraredELF
import InfraredSupport

/// A relocatable BPF ELF object, read with libelf: its sections, symbols,
/// relocations, functions (as instructions) and raw `.BTF` / `.BTF.ext`.
///
/// Reading is pure (same bytes in, same value out) and never trusts the
/// input: the ELF header and every section header are checked against the
/// size of the data before libelf is asked for anything, and every symbol,
/// string and relocation index is checked before use. Anything that does not
/// fit throws an `ObjectError` naming the file and the problem; nothing
/// traps. The checks mirror what libbpf's `bpf_object__elf_init` and
/// `bpf_object__elf_collect` refuse (wrong machine, not `ET_REL`, a symbol
/// table that is missing pieces, relocations outside their section).
public struct ObjectReader: Sendable {
    /// One ELF section.
    public struct Section: Sendable, Hashable {
        /// Index in the section header table (0 is the null section).
        public var index: Int
        public var name: String
        /// `sh_type` (`SHT_PROGBITS`, `SHT_SYMTAB`, `SHT_REL`, …).
        public var type: UInt32
        /// `sh_flags` (`SHF_ALLOC`, `SHF_WRITE`, `SHF_EXECINSTR`, …).
        public var flags: UInt64
        /// `sh_size`: for `SHT_NOBITS` (`.bss`) the size in memory, `bytes` is empty.
        public var size: UInt64
        public var link: UInt32
        public var info: UInt32
        public var alignment: UInt64
        public var entrySize: UInt64
        /// The section's contents as stored in the file.
        public var bytes: [UInt8]

        /// `SHF_EXECINSTR`: the section holds BPF instructions.
        public var isExecutable: Bool { flags & UInt64(SHF_EXECINSTR) != 0 }
        /// `SHT_NOBITS`: the section occupies no bytes in the file.
        public var isNoBits: Bool { type == UInt32(SHT_NOBITS) }
    }

    /// One `.symtab` entry.
    public struct Symbol: Sendable, Hashable {
        /// Index in `.symtab` (0 is the null symbol).
        public var index: Int
        /// `st_name` as a string (empty for section symbols, as in the file).
        public var name: String
        public var value: UInt64
        public var size: UInt64
        /// `STT_*` (`STT_NOTYPE` 0, `STT_OBJECT` 1, `STT_FUNC` 2, `STT_SECTION` 3, `STT_FILE` 4).
        public var type: UInt8
        /// `STB_*` (`STB_LOCAL` 0, `STB_GLOBAL` 1, `STB_WEAK` 2).
        public var binding: UInt8
        /// `st_other & 3` (`STV_DEFAULT`, `STV_HIDDEN`, …).
        public var visibility: UInt8
        /// `st_shndx`: a section index, `SHN_UNDEF` (0), `SHN_ABS` (0xfff1), `SHN_COMMON` (0xfff2).
        public var sectionIndex: Int
    }

    /// One relocation of a `SHT_REL` / `SHT_RELA` section.
    public struct RelocationEntry: Sendable, Hashable {
        /// Byte offset in the relocated section.
        public var offset: UInt64
        /// Index of the symbol in `.symtab` (0: no symbol).
        public var symbolIndex: Int
        /// The symbol's name; for a section symbol the section's name, and
        /// `*ABS*` for symbol 0, as `llvm-objdump -r` prints them.
        public var symbolName: String
        /// `R_BPF_*`.
        public var type: UInt32
        /// `r_addend` of a `SHT_RELA` entry; nil for `SHT_REL` (BPF's usual kind).
        public var addend: Int64?

        /// The type's name as in LLVM's `ELFRelocs/BPF.def` (`Unknown` otherwise).
        public var typeName: String { ObjectReader.relocationTypeNames[type] ?? "Unknown" }
    }

    /// A function (`STT_FUNC` symbol) of an executable section: a program or
    /// a subprogram. A section may hold several.
    public struct Function: Sendable, Hashable {
        public var name: String
        /// Name and index of the section that holds it.
        public var section: String
        public var sectionIndex: Int
        /// Byte offset of the first instruction in the section (`st_value`).
        public var offset: Int
        /// The whole 8-byte slots of `st_size` bytes (up to the next function or
        /// the section end when `st_size` is 0).
        public var instructions: [Instruction]
        /// `STB_GLOBAL` / `STB_WEAK`: a program entry point rather than a static subprogram.
        public var isGlobal: Bool
    }

    /// The name used in error messages and listings (usually the path).
    public var name: String
    /// All sections, in header order (`sections[i].index == i`).
    public var sections: [Section]
    /// All `.symtab` entries, in order (`symbols[i].index == i`); empty without `.symtab`.
    public var symbols: [Symbol]
    /// Relocations by the index of the section they apply to, sorted by offset.
    public var relocations: [Int: [RelocationEntry]]
    /// Functions of executable sections, in section order then offset order.
    public var functions: [Function]

    /// `R_BPF_*` names (LLVM's `llvm/BinaryFormat/ELFRelocs/BPF.def`).
    public static let relocationTypeNames: [UInt32: String] = [
        0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
        4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32",
    ]

    /// `EM_BPF`.
    public static let machineBPF: UInt16 = 247

    /// Reads the object at `path`.
    public init(path: String) throws {
        guard let data = try? readFile(path) else {
            throw ObjectError("\(path): cannot read the file")
        }
        try self.init(bytes: data, name: path)
    }

    /// Reads an object from its bytes; `name` names it in errors.
    public init(bytes: [UInt8], name: String) throws {
        self.name = name
        let header = try ELFHeader(bytes, name: name)
        (sections, symbols, relocations) = try Self.readWithLibelf(bytes, header: header, name: name)
        functions = try Self.collectFunctions(sections: sections, symbols: symbols, name: name)
    }

    /// The first section with this name.
    public func section(named name: String) -> Section? { sections.first { $0.name == name } }

    /// Raw `.BTF`, if present.
    public var btf: [UInt8]? { section(named: ".BTF")?.bytes }
    /// Raw `.BTF.ext`, if present.
    public var btfExt: [UInt8]? { section(named: ".BTF.ext")?.bytes }

    /// Relocations that apply to the section with this index (sorted by offset).
    public func relocations(forSection index: Int) -> [RelocationEntry] { relocations[index] ?? [] }
}

// MARK: - ELF header (checked by hand before libelf sees the bytes)

/// The fields of `Elf64_Ehdr` the reader needs, validated against the data.
private struct ELFHeader {
    var sectionHeaderOffset: UInt64
    var sectionCount: Int
    var stringTableIndex: Int

    static let machineNames: [UInt16: String] = [
        3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390", 40: "ARM",
        62: "x86-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch",
    ]

    init(_ b: [UInt8], name: String) throws {
        func fail(_ what: String) -> ObjectError { ObjectError("\(name): \(what)") }
        guard b.count >= 4, b[0] == 0x7f, b[1] == 0x45, b[2] == 0x4c, b[3] == 0x46 else {
            throw fail("not an ELF file (no \\x7fELF magic)")
        }
        guard b.count >= 16 else { throw fail("truncated ELF header (\(b.count) bytes)") }
        guard b[4] == UInt8(ELFCLASS64) else { throw fail("not a 64-bit ELF file; BPF objects are ELFCLASS64") }
        guard b[5] == UInt8(ELFDATA2LSB) else { throw fail("big-endian ELF; only little-endian BPF objects are supported") }
        guard b.count >= 64 else { throw fail("truncated ELF header (\(b.count) of 64 bytes)") }
        let type = b.readU16(at: 16), machine = b.readU16(at: 18)
        guard machine == ObjectReader.machineBPF else {
            let known = Self.machineNames[machine].map { "\($0) (\(machine))" } ?? "\(machine)"
            throw fail("not a BPF object: machine is \(known), expected EM_BPF (247)")
        }
        guard type == UInt16(ET_REL) else {
            throw fail("not a relocatable object (e_type \(type), expected ET_REL)")
        }
        sectionHeaderOffset = b.readU64(at: 40)
        let entrySize = Int(b.readU16(at: 58))
        var count = Int(b.readU16(at: 60))
        var strndx = Int(b.readU16(at: 62))
        if sectionHeaderOffset == 0 {
            guard count == 0 else { throw fail("corrupt ELF header: \(count) section headers at offset 0") }
            throw fail("no section header table")
        }
        guard entrySize == 64 else { throw fail("corrupt ELF header: section header size \(entrySize), expected 64") }
        // The first header must be readable to resolve extended counts (e_shnum 0, e_shstrndx SHN_XINDEX).
        guard sectionHeaderOffset <= UInt64(b.count), UInt64(b.count) - sectionHeaderOffset >= 64 else {
            throw fail("truncated: section header table at offset \(sectionHeaderOffset) is past the end of the file (\(b.count) bytes)")
        }
        let first = Int(sectionHeaderOffset)
        if count == 0 { count = Int(clamping: b.readU64(at: first + 32)) }
        if strndx == Int(SHN_XINDEX) { strndx = Int(b.readU32(at: first + 40)) }
        guard count > 0, count < 1 << 20 else { throw fail("corrupt ELF header: \(count) section headers") }
        guard (UInt64(b.count) - sectionHeaderOffset) / 64 >= UInt64(count) else {
            throw fail("truncated: \(count) section headers at offset \(sectionHeaderOffset) do not fit in \(b.count) bytes")
        }
        guard strndx > 0, strndx < count else {
            throw fail("corrupt ELF header: section name table index \(strndx) out of range (\(count) sections)")
        }
        sectionCount = count
        stringTableIndex = strndx
        // Every section's file range must lie inside the data.
        for i in 1..<count {
            let h = first + i * 64
            let shType = b.readU32(at: h + 4), offset = b.readU64(at: h + 24), size = b.readU64(at: h + 32)
            if shType == UInt32(SHT_NOBITS) || shType == UInt32(SHT_NULL) { continue }
            guard offset <= UInt64(b.count), UInt64(b.count) - offset >= size else {
                throw fail("corrupt section header \(i): contents at offset \(offset), size \(size) lie outside the file (\(b.count) bytes)")
            }
        }
        let strType = b.readU32(at: first + stringTableIndex * 64 + 4)
        guard strType == UInt32(SHT_STRTAB) else {
            throw fail("corrupt ELF header: section \(stringTableIndex) named as the section name table is not SHT_STRTAB")
        }
    }
}

private extension Array where Element == UInt8 {
    // Callers check bounds first.
    func readU16(at o: Int) -> UInt16 { UInt16(self[o]) | UInt16(self[o + 1]) << 8 }
    func readU32(at o: Int) -> UInt32 { UInt32(readU16(at: o)) | UInt32(readU16(at: o + 2)) << 16 }
    func readU64(at o: Int) -> UInt64 { UInt64(readU32(at: o)) | UInt64(readU32(at: o + 4)) << 32 }
}

// MARK: - libelf

extension ObjectReader {
    private static func elfMessage() -> String { ELFHandle.errorMessage() }

    private static func readWithLibelf(_ bytes: [UInt8], header: ELFHeader, name: String) throws
        -> ([Section], [Symbol], [Int: [RelocationEntry]])
    {
        func fail(_ what: String) -> ObjectError { ObjectError("\(name): \(what)") }
        // The shared libelf handle (InfraredELF) over a copy of the bytes;
        // the walk below is the BPF object's own, strict at every entry.
        guard ELFHandle.libelfReady, let handle = ELFHandle(bytes: bytes) else { throw fail("libelf: \(elfMessage())") }
        // `elf` is borrowed from `handle`, which must outlive every use of it.
        defer { withExtendedLifetime(handle) {} }
        let elf = handle.elf
        guard handle.isELF else { throw fail("not an ELF file") }

        var count = 0, strndx = 0
        guard elf_getshdrnum(elf, &count) == 0, elf_getshdrstrndx(elf, &strndx) == 0 else {
            throw fail("corrupt section headers: \(elfMessage())")
        }
        guard count == header.sectionCount, strndx == header.stringTableIndex else {
            throw fail("corrupt section headers: libelf sees \(count) sections, the header says \(header.sectionCount)")
        }

        // Sections.
        var sections: [Section] = []
        sections.reserveCapacity(count)
        for i in 0..<count {
            guard let scn = elf_getscn(elf, i) else { throw fail("section \(i): \(elfMessage())") }
            var sh = GElf_Shdr()
            guard gelf_getshdr(scn, &sh) != nil else { throw fail("section \(i): corrupt header: \(elfMessage())") }
            var sectionName = ""
            if i > 0 {
                guard let p = elf_strptr(elf, strndx, Int(sh.sh_name)) else {
                    throw fail("section \(i): name offset \(sh.sh_name) is outside the section name table")
                }
                sectionName = String(cString: p)
            }
            var contents: [UInt8] = []
            if sh.sh_type != UInt32(SHT_NOBITS), sh.sh_type != UInt32(SHT_NULL), sh.sh_size > 0 {
                // Raw bytes: the ELF header check has already placed them inside the file.
                guard let data = elf_rawdata(scn, nil) else {
                    throw fail("section \(i) (\(sectionName)): cannot read contents: \(elfMessage())")
                }
                guard data.pointee.d_size == Int(sh.sh_size) else {
                    throw fail("section \(i) (\(sectionName)): libelf returned \(data.pointee.d_size) of \(sh.sh_size) bytes")
                }
                if let buf = data.pointee.d_buf {
                    contents = [UInt8](UnsafeRawBufferPointer(start: buf, count: data.pointee.d_size))
                }
            }
            sections.append(Section(index: i, name: sectionName, type: sh.sh_type, flags: sh.sh_flags, size: sh.sh_size,
                                    link: sh.sh_link, info: sh.sh_info, alignment: sh.sh_addralign,
                                    entrySize: sh.sh_entsize, bytes: contents))
        }

        // Symbols: the one SHT_SYMTAB, as libbpf requires.
        let symtabs = sections.filter { $0.type == UInt32(SHT_SYMTAB) }
        guard symtabs.count <= 1 else { throw fail("more than one symbol table (sections \(symtabs.map(\.index)))") }
        var symbols: [Symbol] = []
        if let symtab = symtabs.first {
            guard symtab.entrySize == 24, symtab.size % 24 == 0 else {
                throw fail("corrupt symbol table: entry size \(symtab.entrySize), size \(symtab.size)")
            }
            guard Int(symtab.link) > 0, Int(symtab.link) < count, sections[Int(symtab.link)].type == UInt32(SHT_STRTAB) else {
                throw fail("corrupt symbol table: its string table index \(symtab.link) is not a string table")
            }
            guard let scn = elf_getscn(elf, symtab.index), let data = elf_getdata(scn, nil) else {
                throw fail("cannot read the symbol table: \(elfMessage())")
            }
            let n = Int(symtab.size / 24)
            symbols.reserveCapacity(n)
            for i in 0..<n {
                var sym = GElf_Sym()
                guard gelf_getsym(data, Int32(i), &sym) != nil else { throw fail("symbol \(i): \(elfMessage())") }
                var symbolName = ""
                if sym.st_name != 0 {
                    guard let p = elf_strptr(elf, Int(symtab.link), Int(sym.st_name)) else {
                        throw fail("symbol \(i): name offset \(sym.st_name) is outside the string table")
                    }
                    symbolName = String(cString: p)
                }
                let shndx = Int(sym.st_shndx)
                if shndx != Int(SHN_UNDEF), shndx < Int(SHN_LORESERVE), shndx >= count {
                    throw fail("symbol \(i) (\(symbolName)): section index \(shndx) out of range (\(count) sections)")
                }
                symbols.append(Symbol(index: i, name: symbolName, value: sym.st_value, size: sym.st_size,
                                      type: sym.st_info & 0xf, binding: sym.st_info >> 4, visibility: sym.st_other & 3,
                                      sectionIndex: shndx))
            }
        }

        // Relocations, grouped by the section they apply to.
        var relocations: [Int: [RelocationEntry]] = [:]
        for rel in sections where rel.type == UInt32(SHT_REL) || rel.type == UInt32(SHT_RELA) {
            let isRela = rel.type == UInt32(SHT_RELA)
            let entry: UInt64 = isRela ? 24 : 16
            guard rel.size % entry == 0 else {
                throw fail("relocation section \(rel.name): size \(rel.size) is not a multiple of \(entry)")
            }
            if rel.size == 0 { continue }
            guard let symtab = symtabs.first, Int(rel.link) == symtab.index else {
                throw fail("relocation section \(rel.name): its symbol table index \(rel.link) is not .symtab")
            }
            let target = Int(rel.info)
            guard target > 0, target < count else {
                throw fail("relocation section \(rel.name): target section index \(target) out of range")
            }
            let targetSection = sections[target]
            guard let scn = elf_getscn(elf, rel.index), let data = elf_getdata(scn, nil) else {
                throw fail("cannot read relocation section \(rel.name): \(elfMessage())")
            }
            var list: [RelocationEntry] = []
            for i in 0..<Int(rel.size / entry) {
                var offset: UInt64, info: UInt64, addend: Int64?
                if isRela {
                    var r = GElf_Rela()
                    guard gelf_getrela(data, Int32(i), &r) != nil else { throw fail("\(rel.name) entry \(i): \(elfMessage())") }
                    offset = r.r_offset; info = r.r_info; addend = r.r_addend
                } else {
                    var r = GElf_Rel()
                    guard gelf_getrel(data, Int32(i), &r) != nil else { throw fail("\(rel.name) entry \(i): \(elfMessage())") }
                    offset = r.r_offset; info = r.r_info; addend = nil
                }
                let symIndex = Int(info >> 32), type = UInt32(truncatingIfNeeded: info)
                guard symIndex < symbols.count else {
                    throw fail("\(rel.name) entry \(i): symbol index \(symIndex) out of range (\(symbols.count) symbols)")
                }
                guard offset < targetSection.size else {
                    throw fail("\(rel.name) entry \(i): offset \(offset) is outside section \(targetSection.name) (\(targetSection.size) bytes)")
                }
                let sym = symbols[symIndex]
                var symName = sym.name
                if symIndex == 0 {
                    symName = "*ABS*"
                } else if sym.type == UInt8(STT_SECTION) {
                    guard sym.sectionIndex > 0, sym.sectionIndex < count else {
                        throw fail("\(rel.name) entry \(i): section symbol \(symIndex) has no section")
                    }
                    symName = sections[sym.sectionIndex].name
                }
                list.append(RelocationEntry(offset: offset, symbolIndex: symIndex, symbolName: symName, type: type, addend: addend))
            }
            relocations[target, default: []].append(contentsOf: list)
        }
        for key in relocations.keys {
            // Stable sort by offset, as llvm-objdump orders them.
            relocations[key] = relocations[key]!.enumerated()
                .sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)
        }
        return (sections, symbols, relocations)
    }

    /// Splits executable sections into their `STT_FUNC` symbols.
    private static func collectFunctions(sections: [Section], symbols: [Symbol], name: String) throws -> [Function] {
        var functions: [Function] = []
        for section in sections where section.isExecutable && !section.isNoBits {
            // Bounds are the bytes read, not sh_size: an SHT_NULL section has
            // none whatever its header says (found by fuzzing).
            let length = UInt64(section.bytes.count)
            let funcs = symbols.filter { $0.type == UInt8(STT_FUNC) && $0.sectionIndex == section.index }
                .sorted { ($0.value, $0.index) < ($1.value, $1.index) }
            for (k, f) in funcs.enumerated() {
                let start = f.value
                var size = f.size
                if size == 0 {
                    // No st_size: up to the next function or the end of the section.
                    let next = funcs[(k + 1)...].first { $0.value > start }?.value ?? length
                    size = next >= start ? next - start : 0
                }
                guard start <= length, length - start >= size else {
                    throw ObjectError("\(name): function \(f.name) (offset \(start), size \(size)) lies outside section \(section.name) (\(length) bytes)")
                }
                // A size that is not a multiple of 8 (never written by clang or
                // us) keeps its whole slots; the listing still shows every byte.
                let lo = Int(start), hi = lo + Int(size) / Instruction.size * Instruction.size
                var insns: [Instruction] = []
                insns.reserveCapacity((hi - lo) / Instruction.size)
                var o = lo
                while o < hi {
                    insns.append(Instruction(bytes: section.bytes[o..<(o + Instruction.size)]))
                    o += Instruction.size
                }
                functions.append(Function(name: f.name, section: section.name, sectionIndex: section.index, offset: lo,
                                          instructions: insns, isGlobal: f.binding == UInt8(STB_GLOBAL) || f.binding == UInt8(STB_WEAK)))
            }
        }
        return functions
    }
}
