import BPF
import InfraredBTF

/// Writes an `ObjectFile` as a relocatable BPF ELF object (libelf), with
/// `.BTF` (libbpf's btf__add_* API) and a hand-written `.BTF.ext`.
///
/// The sections are those `clang -target bpf -g` emits, in its order:
///
///     .strtab                    section and symbol names (one table, like clang)
///     <program section>          per program: PROGBITS, ALLOC|EXECINSTR, align 8
///     .rel<program section>      per program with relocations: R_BPF_64_64 records
///     .rodata.str1.1             string literals (ALLOC|MERGE|STRINGS), if any
///     license                    the NUL-terminated license, symbol `_license`
///     .BTF                       program BTF: FUNC_PROTO + FUNC per function, `license` DATASEC
///     .BTF.ext                   func_info and line_info per program section
///     .symtab                    null, section symbols, then the global symbols
public enum ObjectWriter {
    /// The object's bytes. Pure: the same input gives the same bytes, and
    /// the only file read is `btf.kernelBTFPath` when `.kernelStruct` types
    /// are used (libelf writes through an unlinked temporary file).
    public static func write(_ object: ObjectFile) throws -> [UInt8] {
        let programs = try validate(object)
        let btf = try ProgramBTF(object)
        let ext = try btf.extInfo(object, programs: programs)
        let btfBytes = try btf.builder.rawData()   // after extInfo: its strings live in .BTF
        return try layout(object, programs: programs, btf: btfBytes, ext: ext.encoded()).bytes()
    }

    /// The license section and symbol names libbpf looks for.
    static let licenseSection = "license", licenseSymbol = "_license"
    static let stringsSection = ".rodata.str1.1"

    // MARK: - Validation

    /// Checks what the kernel or libbpf would reject later with a less
    /// helpful message, and returns the programs' instructions with each
    /// string-literal `ld_imm64` holding its offset in `imm`.
    static func validate(_ object: ObjectFile) throws -> [[Instruction]] {
        guard !object.programs.isEmpty else { throw ObjectError("object has no programs") }
        guard !object.license.utf8.contains(0) else { throw ObjectError("license contains a NUL byte") }
        var names = Set<String>(), sections = Set<String>()
        return try object.programs.map { p in
            let what = "program \(p.name) (section \(p.section))"
            guard !p.name.isEmpty, names.insert(p.name).inserted else { throw ObjectError("\(what): empty or duplicate program name") }
            guard !p.section.isEmpty, sections.insert(p.section).inserted else { throw ObjectError("\(what): empty or duplicate section name") }
            guard !p.instructions.isEmpty else { throw ObjectError("\(what): no instructions") }
            guard object.btf.functions.indices.contains(p.function) else {
                throw ObjectError("\(what): function index \(p.function) outside btf.functions (\(object.btf.functions.count))")
            }
            guard object.btf.functions[p.function].name == p.name else {
                throw ObjectError("\(what): its BTF function is named \(object.btf.functions[p.function].name)")
            }
            var insns = p.instructions
            for r in p.relocations {
                guard insns.indices.contains(r.instruction), insns[r.instruction].isLoadImm64,
                      r.instruction + 1 < insns.count else {
                    throw ObjectError("\(what): relocation at instruction \(r.instruction) is not on an ld_imm64")
                }
                switch r.target {
                case let .stringLiteral(offset):
                    guard offset >= 0, offset < object.stringLiterals.count, let imm = Int32(exactly: offset) else {
                        throw ObjectError("\(what): string literal offset \(offset) outside \(stringsSection) (\(object.stringLiterals.count) bytes)")
                    }
                    // libbpf adds imm to the section symbol's value (0) to find
                    // the literal (bpf_object__relocate_data); clang puts it there.
                    insns[r.instruction].imm = imm
                    insns[r.instruction].src = 0
                    insns[r.instruction + 1].imm = 0
                case .map, .variable:
                    throw ObjectError("\(what): map and variable relocations are not written yet")
                }
            }
            try validateLines(p, insns, object: object, what: what)
            return insns
        }
    }

    /// The kernel's check_btf_line: the first entry at instruction 0,
    /// offsets not decreasing (equal ones collapse), none on the second
    /// half of an ld_imm64, and a source line to point at.
    private static func validateLines(_ p: ProgramSection, _ insns: [Instruction], object: ObjectFile, what: String) throws {
        var secondHalves = Set<Int>(), k = 0
        while k < insns.count {
            if insns[k].isLoadImm64 { secondHalves.insert(k + 1); k += 2 } else { k += 1 }
        }
        if let first = p.lines.first, first.instruction != 0 {
            throw ObjectError("\(what): line info must start at instruction 0, not \(first.instruction)")
        }
        var previous = 0
        for l in p.lines {
            guard insns.indices.contains(l.instruction) else {
                throw ObjectError("\(what): line info at instruction \(l.instruction) past the end (\(insns.count))")
            }
            guard l.instruction >= previous else {
                throw ObjectError("\(what): line info out of order at instruction \(l.instruction)")
            }
            guard !secondHalves.contains(l.instruction) else {
                throw ObjectError("\(what): line info at instruction \(l.instruction), the second half of an ld_imm64")
            }
            guard l.line >= 1, l.line <= object.sourceLines.count else {
                throw ObjectError("\(what): line info for line \(l.line), but the source has \(object.sourceLines.count) lines")
            }
            previous = l.instruction
        }
    }

    // MARK: - BTF and .BTF.ext

    /// The program BTF being built, and the FUNC id of each function.
    struct ProgramBTF {
        let builder: BTFBuilder
        var functionIDs: [BTFTypeID] = []

        init(_ object: ObjectFile) throws {
            builder = try BTFBuilder()
            var encoder = ProgramBTFEncoder(builder: builder, spec: object.btf)
            for f in object.btf.functions { functionIDs.append(try encoder.addFunction(f)) }
            try encoder.addLicense(size: object.license.utf8.count + 1)
        }

        /// func_info (one FUNC at offset 0 per program) and line_info, with
        /// their strings added to `.BTF`. Entries on the same instruction
        /// collapse to the last one, which is the one that covers it.
        func extInfo(_ object: ObjectFile, programs: [[Instruction]]) throws -> BTFExt {
            var ext = BTFExt()
            let file = try builder.addString(object.sourcePath)
            for p in object.programs {
                let section = UInt32(try builder.addString(p.section))
                ext.funcInfo.append(.init(nameOffset: section, records: [
                    .init(instructionOffset: 0, typeID: UInt32(functionIDs[p.function])),
                ]))
                var records: [BTFExt.LineInfo] = []
                for l in p.lines {
                    let text = try builder.addString(object.sourceLines[l.line - 1])
                    let r = BTFExt.LineInfo(instructionOffset: UInt32(l.instruction * Instruction.size),
                                            fileNameOffset: UInt32(file), lineOffset: UInt32(text),
                                            line: UInt32(l.line), column: UInt32(max(0, l.column)))
                    if records.last?.instructionOffset == r.instructionOffset { records.removeLast() }
                    records.append(r)
                }
                ext.lineInfo.append(.init(nameOffset: section, records: records))
            }
            return ext
        }
    }

    // MARK: - ELF layout

    static func layout(_ object: ObjectFile, programs: [[Instruction]], btf: [UInt8], ext: [UInt8]) throws -> ELFImage {
        typealias E = ELFImage
        var names = StringTable()
        var image = ELFImage()
        func add(_ s: ELFImage.Section) -> Int {
            image.sections.append(s)
            image.sectionNameOffsets.append(names.offset(of: s.name))
            return image.sections.count   // its section index
        }

        // Section indices are fixed up front: relocation sections link to
        // .symtab, which comes last.
        let hasStrings = !object.stringLiterals.isEmpty
        let relocating = object.programs.map { !$0.relocations.isEmpty }
        let symtabIndex = 1 + object.programs.count + relocating.filter { $0 }.count + (hasStrings ? 1 : 0) + 3 + 1

        image.sectionNameTable = add(.init(name: ".strtab", type: E.SHT_STRTAB, data: []))   // filled in last
        var programIndices: [Int] = []
        var relocationSlots: [(section: Int, program: Int)] = []
        for (i, p) in object.programs.enumerated() {
            let index = add(.init(name: p.section, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_EXECINSTR,
                                  alignment: 8, data: programs[i].bytes))
            programIndices.append(index)
            if relocating[i] {
                let rel = add(.init(name: ".rel" + p.section, type: E.SHT_REL, flags: E.SHF_INFO_LINK, alignment: 8,
                                    entrySize: UInt64(E.relocationSize), link: UInt32(symtabIndex), info: UInt32(index), data: []))
                relocationSlots.append((rel, i))
            }
        }
        let stringsIndex = hasStrings
            ? add(.init(name: stringsSection, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_MERGE | E.SHF_STRINGS,
                        alignment: 1, entrySize: 1, data: object.stringLiterals))
            : 0
        let license = Array(object.license.utf8) + [0]
        let licenseIndex = add(.init(name: licenseSection, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_WRITE,
                                     alignment: 1, data: license))
        _ = add(.init(name: ".BTF", type: E.SHT_PROGBITS, alignment: 4, data: btf))
        _ = add(.init(name: ".BTF.ext", type: E.SHT_PROGBITS, alignment: 4, data: ext))

        // Symbols: locals (the string section's symbol, which relocations
        // name) before globals; sh_info is the first global's index.
        var symbols: [UInt8] = []
        func symbol(_ name: String, type: UInt8, binding: UInt8, section: Int, size: Int) {
            symbols.u32(name.isEmpty ? 0 : names.offset(of: name))
            symbols.append(binding << 4 | type)
            symbols.append(0)                      // STV_DEFAULT
            symbols.u16(UInt16(section))
            symbols.u64(0)                         // st_value: everything starts its section
            symbols.u64(UInt64(size))
        }
        symbol("", type: E.STT_NOTYPE, binding: E.STB_LOCAL, section: 0, size: 0)
        var stringsSymbol = 0
        if hasStrings {
            stringsSymbol = 1
            symbol("", type: E.STT_SECTION, binding: E.STB_LOCAL, section: stringsIndex, size: 0)
        }
        let firstGlobal = symbols.count / E.symbolSize
        for (i, p) in object.programs.enumerated() {
            symbol(p.name, type: E.STT_FUNC, binding: E.STB_GLOBAL, section: programIndices[i], size: programs[i].count * Instruction.size)
        }
        symbol(licenseSymbol, type: E.STT_OBJECT, binding: E.STB_GLOBAL, section: licenseIndex, size: license.count)

        for slot in relocationSlots {
            var rel: [UInt8] = []
            for r in object.programs[slot.program].relocations {
                switch r.target {
                case .stringLiteral:
                    guard hasStrings else { throw ObjectError("relocation to \(stringsSection), which is empty") }
                    rel.u64(UInt64(r.instruction * Instruction.size))
                    rel.u64(UInt64(stringsSymbol) << 32 | UInt64(E.R_BPF_64_64))
                case .map, .variable:
                    throw ObjectError("map and variable relocations are not written yet")
                }
            }
            image.sections[slot.section - 1].data = rel
        }

        let symtab = add(.init(name: ".symtab", type: E.SHT_SYMTAB, alignment: 8, entrySize: UInt64(E.symbolSize),
                               link: UInt32(image.sectionNameTable), info: UInt32(firstGlobal), data: symbols))
        precondition(symtab == symtabIndex, "section count changed without updating symtabIndex")
        image.sections[image.sectionNameTable - 1].data = names.bytes
        return image
    }
}

/// An error reading or writing an object, with the section or step named.
public struct ObjectError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
