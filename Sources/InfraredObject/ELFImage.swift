import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// An ELF64 little-endian relocatable object for `EM_BPF`, described
/// section by section and serialised with libelf (which lays out section
/// contents and the section header table).
///
/// Section contents are given as bytes already in the file's byte order
/// (symbols, relocations included), so libelf never converts anything and
/// the output does not depend on the host.
struct ELFImage {
    struct Section {
        var name: String
        /// `SHT_*`
        var type: UInt32
        /// `SHF_*`
        var flags: UInt64 = 0
        var alignment: UInt64 = 1
        var entrySize: UInt64 = 0
        /// `sh_link`: a section index.
        var link: UInt32 = 0
        /// `sh_info`: a section index or, for `SHT_SYMTAB`, the first global symbol.
        var info: UInt32 = 0
        /// The contents; empty for `SHT_NOBITS`, whose size is `noBitsSize`.
        var data: [UInt8]
        /// `sh_size` of an `SHT_NOBITS` section (`.bss`): memory it takes, with no bytes in the file.
        var noBitsSize: Int = 0
    }

    /// Sections in file order; index 0 (the null section) is implicit, so
    /// `sections[i]` gets section index `i + 1`.
    var sections: [Section] = []
    /// Index of the section holding section names (`e_shstrndx`).
    var sectionNameTable: Int = 0
    /// Offsets of the section names in that table, by section (`sh_name`).
    var sectionNameOffsets: [UInt32] = []

    // ELF constants (<elf.h>), spelled here once.
    static let EM_BPF: UInt16 = 247
    static let SHT_PROGBITS: UInt32 = 1, SHT_SYMTAB: UInt32 = 2, SHT_STRTAB: UInt32 = 3, SHT_NOBITS: UInt32 = 8, SHT_REL: UInt32 = 9
    static let SHF_WRITE: UInt64 = 0x1, SHF_ALLOC: UInt64 = 0x2, SHF_EXECINSTR: UInt64 = 0x4
    static let SHF_MERGE: UInt64 = 0x10, SHF_STRINGS: UInt64 = 0x20, SHF_INFO_LINK: UInt64 = 0x40
    static let STB_LOCAL: UInt8 = 0, STB_GLOBAL: UInt8 = 1
    static let STT_NOTYPE: UInt8 = 0, STT_OBJECT: UInt8 = 1, STT_FUNC: UInt8 = 2, STT_SECTION: UInt8 = 3
    /// `R_BPF_64_64`: a 64-bit address in an `ld_imm64` pair.
    static let R_BPF_64_64: UInt32 = 1
    static let symbolSize = 24, relocationSize = 16

    /// The object file's bytes.
    func bytes() throws -> [UInt8] {
        guard elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE) else { throw libelfError("elf_version") }
        let file = try AnonymousFile()
        var buffers: [UnsafeMutableRawPointer] = []
        defer { buffers.forEach { $0.deallocate() } }

        guard let elf = elf_begin(file.fd, ELF_C_WRITE, nil) else { throw libelfError("elf_begin") }
        var ended = false
        defer { if !ended { elf_end(elf) } }

        guard let ehdr = elf64_newehdr(elf) else { throw libelfError("elf64_newehdr") }
        withUnsafeMutableBytes(of: &ehdr.pointee.e_ident) { id in
            id[Int(EI_CLASS)] = UInt8(ELFCLASS64)
            id[Int(EI_DATA)] = UInt8(ELFDATA2LSB)
            id[Int(EI_VERSION)] = UInt8(EV_CURRENT)
            id[Int(EI_OSABI)] = UInt8(ELFOSABI_NONE)
        }
        ehdr.pointee.e_type = UInt16(ET_REL)
        ehdr.pointee.e_machine = Self.EM_BPF
        ehdr.pointee.e_version = UInt32(EV_CURRENT)

        for (i, s) in sections.enumerated() {
            guard let scn = elf_newscn(elf) else { throw libelfError("elf_newscn(\(s.name))") }
            guard let shdr = elf64_getshdr(scn) else { throw libelfError("elf64_getshdr(\(s.name))") }
            shdr.pointee.sh_name = sectionNameOffsets[i]
            shdr.pointee.sh_type = s.type
            shdr.pointee.sh_flags = s.flags
            shdr.pointee.sh_addralign = s.alignment
            shdr.pointee.sh_entsize = s.entrySize
            shdr.pointee.sh_link = s.link
            shdr.pointee.sh_info = s.info
            guard let data = elf_newdata(scn) else { throw libelfError("elf_newdata(\(s.name))") }
            if s.type == Self.SHT_NOBITS {
                // libelf takes sh_size from d_size and writes nothing for NOBITS.
                data.pointee.d_buf = nil
                data.pointee.d_size = s.noBitsSize
                data.pointee.d_type = ELF_T_BYTE
                data.pointee.d_off = 0
                data.pointee.d_align = Int(s.alignment)
                data.pointee.d_version = UInt32(EV_CURRENT)
                continue
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(s.data.count, 1), alignment: 8)
            buffers.append(buffer)
            s.data.withUnsafeBytes { if let b = $0.baseAddress { buffer.copyMemory(from: b, byteCount: $0.count) } }
            data.pointee.d_buf = buffer
            data.pointee.d_size = s.data.count
            data.pointee.d_type = ELF_T_BYTE
            data.pointee.d_off = 0
            data.pointee.d_align = Int(s.alignment)
            data.pointee.d_version = UInt32(EV_CURRENT)
        }
        ehdr.pointee.e_shstrndx = UInt16(sectionNameTable)
        elf_flagehdr(elf, ELF_C_SET, UInt32(ELF_F_DIRTY))

        let size = elf_update(elf, ELF_C_WRITE)
        guard size >= 0 else { throw libelfError("elf_update") }
        ended = true
        guard elf_end(elf) == 0 else { throw libelfError("elf_end") }
        return try file.read(count: Int(size))
    }

    private func libelfError(_ step: String) -> ObjectError {
        let message = elf_errmsg(-1).map { String(cString: $0) } ?? "unknown libelf error"
        return ObjectError("writing ELF: \(step): \(message)")
    }
}

/// A shared string table (`.strtab`): offset 0 is the empty string and
/// each distinct string is stored once, in order of first use.
struct StringTable {
    private(set) var bytes: [UInt8] = [0]
    private var offsets: [String: UInt32] = ["": 0]

    mutating func offset(of s: String) -> UInt32 {
        if let o = offsets[s] { return o }
        let o = UInt32(bytes.count)
        bytes += Array(s.utf8); bytes.append(0)
        offsets[s] = o
        return o
    }
}

/// A file with no name for libelf to write into (libelf writes only to
/// file descriptors): created in the temporary directory and unlinked at
/// once, so it disappears when closed, on every path.
private final class AnonymousFile {
    let fd: Int32

    init() throws {
        // In memory when the kernel has memfd_create, else an unlinked temporary file.
        let memfd = infrared_memfd("infrared-object")
        if memfd >= 0 { fd = memfd; return }
        let dir = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(dir)/infrared-object-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw ObjectError("writing ELF: temporary file in \(dir): \(String(cString: strerror(errno)))") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)   // not inherited by processes forked meanwhile
        self.fd = fd
    }

    deinit { close(fd) }

    func read(count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw ObjectError("writing ELF: reading back the object: \(n < 0 ? String(cString: strerror(errno)) : "short file")") }
            done += n
        }
        return out
    }
}
