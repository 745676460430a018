import BPF
import InfraredBTF

/// The `.BTF.ext` section: per-program function info, line info and CO-RE
/// relocations, each record pointing into the `.BTF` of the same object.
///
/// There is no library to write it, so this file is both encoder and
/// decoder. Layout (kernel Documentation/bpf/btf.rst, "4.2 .BTF.ext
/// section"; libbpf's `struct btf_ext_header` and `btf_ext_setup_info` in
/// btf.c), all fields little-endian:
///
///     header (32 bytes): u16 magic 0xeB9F, u8 version 1, u8 flags 0, u32 hdr_len,
///                        u32 func_info_off, func_info_len,
///                        u32 line_info_off, line_info_len,
///                        u32 core_relo_off, core_relo_len    (offsets from the end of the header)
///     each subsection:   u32 rec_size, then per ELF section:
///                        u32 sec_name_off (in .BTF strings), u32 num_info, num_info records
///
/// Record offsets (`insn_off`) are in bytes from the start of the program's
/// section, as clang writes them; libbpf divides by 8 when loading.
public struct BTFExt: Sendable, Hashable {
    /// `struct bpf_func_info`: the function starting at `instructionOffset`.
    public struct FuncInfo: Sendable, Hashable {
        /// `insn_off`, in bytes.
        public var instructionOffset: UInt32
        /// `type_id` of the `BTF_KIND_FUNC`.
        public var typeID: UInt32
        public init(instructionOffset: UInt32, typeID: UInt32) { self.instructionOffset = instructionOffset; self.typeID = typeID }
    }

    /// `struct bpf_line_info`: the source line of the instructions from `instructionOffset` on.
    public struct LineInfo: Sendable, Hashable {
        /// `insn_off`, in bytes.
        public var instructionOffset: UInt32
        /// `file_name_off`: the file's path in the `.BTF` string section.
        public var fileNameOffset: UInt32
        /// `line_off`: the line's text in the `.BTF` string section.
        public var lineOffset: UInt32
        public var line: UInt32
        public var column: UInt32
        public init(instructionOffset: UInt32, fileNameOffset: UInt32, lineOffset: UInt32, line: UInt32, column: UInt32) {
            self.instructionOffset = instructionOffset; self.fileNameOffset = fileNameOffset
            self.lineOffset = lineOffset; self.line = line; self.column = column
        }
        /// `line_col`: line in bits 10–31, column in bits 0–9 (BPF_LINE_INFO_LINE_NUM / _LINE_COL).
        public var lineColumn: UInt32 { (min(line, BTFExt.maxLine) << 10) | min(column, BTFExt.maxColumn) }
    }

    /// `struct bpf_core_relo`: a CO-RE relocation of the instruction at
    /// `instructionOffset`, against local type `typeID` (see `CoreAccess`
    /// for how the writer computes the access string). The wire form of
    /// `BTFCoreRelocation`, which holds the access string itself
    /// (`BTFCoreRelocation(_:strings:)` reads one from the other).
    public struct CoreRelo: Sendable, Hashable {
        public var instructionOffset: UInt32
        public var typeID: UInt32
        /// `access_str_off`: the access string ("0:1:2") in `.BTF` strings.
        public var accessStringOffset: UInt32
        public var kind: CoreRelocationKind
        public init(instructionOffset: UInt32, typeID: UInt32, accessStringOffset: UInt32, kind: CoreRelocationKind) {
            self.instructionOffset = instructionOffset; self.typeID = typeID
            self.accessStringOffset = accessStringOffset; self.kind = kind
        }
    }

    /// The records of one ELF section (`struct btf_ext_info_sec`).
    public struct Section<Record: Sendable & Hashable>: Sendable, Hashable {
        /// `sec_name_off`: the program section's name in `.BTF` strings.
        public var nameOffset: UInt32
        public var records: [Record]
        public init(nameOffset: UInt32, records: [Record]) { self.nameOffset = nameOffset; self.records = records }
    }

    public var funcInfo: [Section<FuncInfo>]
    public var lineInfo: [Section<LineInfo>]
    public var coreRelo: [Section<CoreRelo>]

    public init(funcInfo: [Section<FuncInfo>] = [], lineInfo: [Section<LineInfo>] = [], coreRelo: [Section<CoreRelo>] = []) {
        self.funcInfo = funcInfo; self.lineInfo = lineInfo; self.coreRelo = coreRelo
    }

    /// `BTF_MAGIC`
    public static let magic: UInt16 = 0xeB9F
    /// Largest line and column `line_col` can hold.
    public static let maxLine: UInt32 = (1 << 22) - 1
    public static let maxColumn: UInt32 = (1 << 10) - 1

    // Record sizes written (and the minimum accepted when reading): the sizes
    // of struct bpf_func_info, bpf_line_info and bpf_core_relo.
    static let funcInfoSize = 8, lineInfoSize = 16, coreReloSize = 16, headerSize = 32

    /// The section's bytes. Sections without records are left out (libbpf
    /// rejects `num_info == 0`), and a subsection with no sections is empty
    /// (len 0, no rec_size), as libbpf expects.
    public func encoded() -> [UInt8] {
        let fi = Self.subsection(funcInfo, recordSize: Self.funcInfoSize) { r, out in
            out.u32(r.instructionOffset); out.u32(r.typeID)
        }
        let li = Self.subsection(lineInfo, recordSize: Self.lineInfoSize) { r, out in
            out.u32(r.instructionOffset); out.u32(r.fileNameOffset); out.u32(r.lineOffset); out.u32(r.lineColumn)
        }
        let cr = Self.subsection(coreRelo, recordSize: Self.coreReloSize) { r, out in
            out.u32(r.instructionOffset); out.u32(r.typeID); out.u32(r.accessStringOffset); out.u32(r.kind.rawValue)
        }
        var out: [UInt8] = []
        out.u16(Self.magic); out.append(1); out.append(0)
        out.u32(UInt32(Self.headerSize))
        out.u32(0); out.u32(UInt32(fi.count))
        out.u32(UInt32(fi.count)); out.u32(UInt32(li.count))
        out.u32(UInt32(fi.count + li.count)); out.u32(UInt32(cr.count))
        out += fi; out += li; out += cr
        return out
    }

    private static func subsection<R>(_ sections: [Section<R>], recordSize: Int, _ write: (R, inout [UInt8]) -> Void) -> [UInt8] {
        let nonEmpty = sections.filter { !$0.records.isEmpty }
        if nonEmpty.isEmpty { return [] }
        var out: [UInt8] = []
        out.u32(UInt32(recordSize))
        for s in nonEmpty {
            out.u32(s.nameOffset); out.u32(UInt32(s.records.count))
            for r in s.records { write(r, &out) }
        }
        return out
    }

    /// Reads a `.BTF.ext` section. Accepts what libbpf accepts: a header
    /// shorter than 32 bytes (no CO-RE relocations) and records larger than
    /// the ones known here (the extra bytes are skipped).
    public static func decode(bytes: [UInt8]) throws -> BTFExt {
        var r = Reader(bytes: bytes, base: 0)
        guard bytes.count >= 8 else { throw ObjectError(".BTF.ext: \(bytes.count) bytes, too short for a header") }
        let magic = try r.u16(0)
        guard magic == Self.magic else { throw ObjectError(".BTF.ext: bad magic 0x\(String(magic, radix: 16))") }
        guard bytes[2] == 1 else { throw ObjectError(".BTF.ext: unsupported version \(bytes[2])") }
        guard bytes[3] == 0 else { throw ObjectError(".BTF.ext: unsupported flags 0x\(String(bytes[3], radix: 16))") }
        let headerLength = Int(try r.u32(4))
        guard headerLength >= 24, headerLength <= bytes.count else { throw ObjectError(".BTF.ext: bad hdr_len \(headerLength)") }
        func range(_ at: Int) throws -> (Int, Int) {
            at + 8 <= headerLength ? (Int(try r.u32(at)), Int(try r.u32(at + 4))) : (0, 0)
        }
        r.base = headerLength
        var ext = BTFExt()
        let (fo, fl) = try range(8), (lo, ll) = try range(16), (co, cl) = try range(24)
        ext.funcInfo = try r.subsection("func_info", offset: fo, length: fl, minRecord: funcInfoSize) { r, at in
            FuncInfo(instructionOffset: try r.u32(at), typeID: try r.u32(at + 4))
        }
        ext.lineInfo = try r.subsection("line_info", offset: lo, length: ll, minRecord: lineInfoSize) { r, at in
            let lc = try r.u32(at + 12)
            return LineInfo(instructionOffset: try r.u32(at), fileNameOffset: try r.u32(at + 4),
                            lineOffset: try r.u32(at + 8), line: lc >> 10, column: lc & 0x3ff)
        }
        ext.coreRelo = try r.subsection("core_relo", offset: co, length: cl, minRecord: coreReloSize) { r, at in
            CoreRelo(instructionOffset: try r.u32(at), typeID: try r.u32(at + 4),
                     accessStringOffset: try r.u32(at + 8), kind: CoreRelocationKind(rawValue: try r.u32(at + 12)))
        }
        return ext
    }

    /// Bounds-checked little-endian reads; `base` is where subsection offsets count from.
    private struct Reader {
        let bytes: [UInt8]
        var base: Int

        func u16(_ at: Int) throws -> UInt16 {
            guard at >= 0, at + 2 <= bytes.count else { throw ObjectError(".BTF.ext: read past the end at \(at)") }
            return UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
        }
        func u32(_ at: Int) throws -> UInt32 {
            guard at >= 0, at + 4 <= bytes.count else { throw ObjectError(".BTF.ext: read past the end at \(at)") }
            return UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
        }

        /// Mirrors libbpf's btf_ext_setup_info checks.
        func subsection<R>(_ what: String, offset: Int, length: Int, minRecord: Int,
                           _ record: (Reader, Int) throws -> R) throws -> [Section<R>] {
            if length == 0 { return [] }
            let start = base + offset, end = start + length
            guard offset % 4 == 0, end <= bytes.count else {
                throw ObjectError(".BTF.ext \(what): off \(offset) len \(length) outside the section")
            }
            guard length >= 4 else { throw ObjectError(".BTF.ext \(what): no record size") }
            let recordSize = Int(try u32(start))
            guard recordSize >= minRecord, recordSize % 4 == 0 else {
                throw ObjectError(".BTF.ext \(what): bad record size \(recordSize)")
            }
            var at = start + 4, sections: [Section<R>] = []
            while at < end {
                guard at + 8 <= end else { throw ObjectError(".BTF.ext \(what): truncated section header at \(at - start)") }
                let nameOffset = try u32(at), count = Int(try u32(at + 4))
                at += 8
                guard count > 0, count <= (end - at) / recordSize else {
                    throw ObjectError(".BTF.ext \(what): bad num_info \(count) for section name at \(nameOffset)")
                }
                var records: [R] = []
                records.reserveCapacity(count)
                for i in 0..<count { records.append(try record(self, at + i * recordSize)) }
                at += count * recordSize
                sections.append(Section(nameOffset: nameOffset, records: records))
            }
            return sections
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends `v` little-endian.
    mutating func u16(_ v: UInt16) { append(UInt8(v & 0xff)); append(UInt8(v >> 8)) }
    /// Appends `v` little-endian.
    mutating func u32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { append(UInt8((v >> UInt32(s)) & 0xff)) } }
    /// Appends `v` little-endian.
    mutating func u64(_ v: UInt64) { for s in stride(from: 0, to: 64, by: 8) { append(UInt8((v >> UInt64(s)) & 0xff)) } }
}

public extension BTFCoreRelocation {
    /// The model of a `.BTF.ext` record: its access string looked up in the
    /// object's `.BTF` strings.
    init(_ record: BTFExt.CoreRelo, strings: BTFStringTable) throws {
        self.init(instructionOffset: record.instructionOffset, localType: record.typeID,
                  accessString: try strings.string(at: record.accessStringOffset), kind: record.kind)
    }
}
