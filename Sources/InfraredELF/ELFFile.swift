import CLibBPF
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// The section table of any ELF file (a vmlinux, a shared library, a BPF
/// object, 32- or 64-bit), read with libelf, to find `.BTF` and, for the
/// DWARF converter, the file itself.
///
/// `InfraredObject.ObjectReader` reads BPF objects (and refuses anything
/// that is not `EM_BPF`/`ET_REL`); this is the small general reader the BTF
/// tools need for kernels and user-space binaries. Both open the file with
/// `ELFHandle`; as there, the header and every section's file range are
/// checked against the data before libelf sees it, so a truncated or
/// corrupt file is a `FormatError` (`BTFFormatError`), not a trap.
public struct ELFFile: Sendable {
    /// One section header.
    public struct Section: Sendable, Hashable {
        public var index: Int
        public var name: String
        /// `sh_type`
        public var type: UInt32
        /// `sh_offset`
        public var offset: UInt64
        /// `sh_size`
        public var size: UInt64
        /// `sh_link`
        public var link: UInt32
        /// `sh_entsize`
        public var entrySize: UInt64
        /// Neither `SHT_NOBITS` nor `SHT_NULL`: the section has bytes in the file.
        public var hasContents: Bool { type != UInt32(SHT_NOBITS) && type != UInt32(SHT_NULL) }
    }

    /// `\x7fELF`
    public static let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]

    public var source: String
    /// `ELFCLASS64` (else `ELFCLASS32`).
    public var is64Bit: Bool
    /// `e_machine`
    public var machine: UInt16
    public var sections: [Section]
    private let bytes: [UInt8]

    /// Reads the section headers of `bytes`; `source` names the file in errors.
    public init(bytes: [UInt8], source: String) throws {
        self.source = source
        self.bytes = bytes
        func fail(_ m: String) -> FormatError { FormatError(source, m) }
        guard bytes.starts(with: Self.magic) else { throw fail("not an ELF file (no \\x7fELF magic)") }
        guard bytes.count >= 52 else { throw fail("truncated ELF header (\(bytes.count) bytes)") }
        guard bytes[4] == 1 || bytes[4] == 2 else { throw fail("corrupt ELF header: class \(bytes[4])") }
        guard bytes[5] == 1 else { throw fail("big-endian ELF files are not supported") }
        let is64Bit = bytes[4] == 2
        self.is64Bit = is64Bit
        let ehdrSize = is64Bit ? 64 : 52, shentsize = is64Bit ? 64 : 40
        guard bytes.count >= ehdrSize else { throw fail("truncated ELF header (\(bytes.count) of \(ehdrSize) bytes)") }
        machine = bytes.le16(18)
        sections = []
        let shoff = is64Bit ? bytes.le64(40) : UInt64(bytes.le32(32))
        let entsize = Int(bytes.le16(is64Bit ? 58 : 46))
        var count = Int(bytes.le16(is64Bit ? 60 : 48)), strndx = Int(bytes.le16(is64Bit ? 62 : 50))
        guard shoff != 0 else { throw fail("ELF file has no section header table") }
        guard entsize == shentsize else { throw fail("corrupt ELF header: section header size \(entsize), expected \(shentsize)") }
        guard shoff <= UInt64(bytes.count), UInt64(bytes.count) - shoff >= UInt64(shentsize) else {
            throw fail("truncated ELF file: section headers at offset \(shoff) are past the end (\(bytes.count) bytes)")
        }
        let first = Int(shoff)
        func header(_ i: Int) -> (name: UInt32, type: UInt32, offset: UInt64, size: UInt64, link: UInt32) {
            let h = first + i * shentsize
            return is64Bit
                ? (bytes.le32(h), bytes.le32(h + 4), bytes.le64(h + 24), bytes.le64(h + 32), bytes.le32(h + 40))
                : (bytes.le32(h), bytes.le32(h + 4), UInt64(bytes.le32(h + 16)), UInt64(bytes.le32(h + 20)), bytes.le32(h + 24))
        }
        if count == 0 { count = Int(clamping: header(0).size) }
        if strndx == Int(SHN_XINDEX) { strndx = Int(header(0).link) }
        guard count > 0, count < 1 << 20 else { throw fail("corrupt ELF header: \(count) sections") }
        guard (UInt64(bytes.count) - shoff) / UInt64(shentsize) >= UInt64(count) else {
            throw fail("truncated ELF file: \(count) section headers at offset \(shoff) do not fit in \(bytes.count) bytes")
        }
        guard strndx > 0, strndx < count else { throw fail("corrupt ELF header: section name table index \(strndx) of \(count)") }
        for i in 1..<count {
            let h = header(i)
            if h.type == UInt32(SHT_NOBITS) || h.type == UInt32(SHT_NULL) { continue }
            guard h.offset <= UInt64(bytes.count), UInt64(bytes.count) - h.offset >= h.size else {
                throw fail("truncated ELF file: section \(i) (\(h.size) bytes at offset \(h.offset)) lies past the end (\(bytes.count) bytes)")
            }
        }
        guard header(strndx).type == UInt32(SHT_STRTAB) else { throw fail("corrupt ELF file: section \(strndx) holding section names is not a string table") }
        sections = try Self.readSections(bytes, count: count, strndx: strndx, fail: fail)
    }

    /// Reads the file at `path`.
    public init(path: String) throws {
        try self.init(bytes: try readFile(path), source: path)
    }

    /// The first section called `name`.
    public func section(named name: String) -> Section? { sections.first { $0.name == name } }

    /// The bytes of `section` as stored in the file (empty for `SHT_NOBITS`
    /// and `SHT_NULL`, whose offset and size mean nothing and were not checked).
    public func contents(of section: Section) -> [UInt8] {
        guard section.hasContents else { return [] }
        let start = Int(section.offset)
        return Array(bytes[start..<start + Int(section.size)])
    }

    /// Names of the `STT_FUNC` symbols of `.symtab`, or nil without one.
    public func functionSymbols() throws -> Set<String>? {
        guard let symtab = sections.first(where: { $0.type == UInt32(SHT_SYMTAB) }) else { return nil }
        let entry = is64Bit ? 24 : 16
        guard Int(symtab.link) < sections.count, sections[Int(symtab.link)].type == UInt32(SHT_STRTAB) else {
            throw FormatError(source, "corrupt ELF file: .symtab's string table index \(symtab.link) is not a string table")
        }
        let strings = contents(of: sections[Int(symtab.link)])
        let table = contents(of: symtab)
        var names = Set<String>()
        for at in stride(from: 0, to: table.count - entry + 1, by: entry) {
            let info = table[at + (is64Bit ? 4 : 12)]
            guard info & 0xf == UInt8(STT_FUNC) else { continue }
            let nameOffset = Int(table.le32(at))
            guard nameOffset < strings.count else { continue }
            let end = strings[nameOffset...].firstIndex(of: 0) ?? strings.count
            if end > nameOffset { names.insert(String(decoding: strings[nameOffset..<end], as: UTF8.self)) }
        }
        return names
    }

    /// Section names and headers through libelf (`ELFHandle`, which has
    /// checked nothing we have not: the ranges above keep it inside the buffer).
    private static func readSections(_ bytes: [UInt8], count: Int, strndx: Int,
                                     fail: (String) -> FormatError) throws -> [Section] {
        guard ELFHandle.libelfReady, let elf = ELFHandle(bytes: bytes) else { throw fail("libelf: \(String(cString: elf_errmsg(-1)))") }
        guard elf.isELF, let counts = elf.sectionCounts(), counts.count == count, counts.stringTableIndex == strndx else {
            throw fail("corrupt ELF section headers: \(String(cString: elf_errmsg(-1)))")
        }
        var out: [Section] = []
        out.reserveCapacity(count)
        for i in 0..<count {
            guard let sh = elf.section(i)?.header else {
                throw fail("corrupt ELF section header \(i): \(String(cString: elf_errmsg(-1)))")
            }
            var name = ""
            if i > 0 {
                guard let n = elf.string(section: strndx, offset: Int(sh.sh_name)) else {
                    throw fail("corrupt ELF file: section \(i)'s name offset \(sh.sh_name) is outside the name table")
                }
                name = n
            }
            out.append(Section(index: i, name: name, type: sh.sh_type, offset: sh.sh_offset, size: sh.sh_size,
                               link: sh.sh_link, entrySize: sh.sh_entsize))
        }
        return out
    }
}
