import BPF
import InfraredBTF

/// Writes an `ObjectFile` as a relocatable BPF ELF object (libelf), with
/// `.BTF` (libbpf's btf__add_* API) and a hand-written `.BTF.ext`.
///
/// The sections are those `clang -target bpf -g` emits, in its order:
///
///     .strtab                    section and symbol names (one table, like clang)
///     <program section>          per section name: PROGBITS, ALLOC|EXECINSTR, align 8, its
///                                programs back to back (several `SEC("socket")` functions)
///     .rel<program section>      per section with relocations: R_BPF_64_64 records
///     .rodata.str1.1             string literals (ALLOC|MERGE|STRINGS), if any
///     .rodata                    `param`s (ALLOC), if any
///     .data                      initialised globals (ALLOC|WRITE), if any
///     .maps                      BTF-defined maps, 8 zero bytes per definition member (ALLOC|WRITE)
///     .bss                       zeroed globals (NOBITS, ALLOC|WRITE), if any
///     license                    the NUL-terminated license, symbol `_license`
///     .BTF                       program BTF: functions, local types, maps, globals, DATASECs
///     .BTF.ext                   func_info, line_info and CO-RE relocations per program section
///     .symtab                    null, the string section's symbol, then the global symbols:
///                                programs (STT_FUNC), maps and variables (STT_OBJECT), _license
public enum ObjectWriter {
    /// The object's bytes. Pure: the same input gives the same bytes, and
    /// the only file read is `btf.kernelBTFPath` when `.kernelStruct` types
    /// are used and `kernelBTF` (that file, already open) is not given
    /// (libelf writes into a memfd or an unlinked temporary file).
    public static func write(_ object: ObjectFile, kernelBTF: KernelBTF? = nil) throws -> [UInt8] {
        try written(object, kernelBTF: kernelBTF).bytes
    }

    /// The object's bytes and where they place its maps and variables (what
    /// a manifest tells loaders), from the one layout the writer computes.
    public static func written(_ object: ObjectFile, kernelBTF: KernelBTF? = nil) throws -> WrittenObject {
        let plan = try ObjectPlan(object)
        let btf = try ProgramBTF(object, kernelBTF: kernelBTF)
        let ext = try btf.extInfo(object, plan: plan)
        let btfBytes = try btf.builder.rawData()   // after extInfo: its strings live in .BTF
        let bytes = try layout(object, plan: plan, data: btf.data, btf: btfBytes, ext: ext.encoded()).bytes()
        return WrittenObject(bytes: bytes, placements: btf.data.placements)
    }

    /// The license section and symbol names libbpf looks for.
    static let licenseSection = "license", licenseSymbol = "_license"
    static let stringsSection = ".rodata.str1.1"
    static let mapsSection = ".maps"

    // MARK: - BTF and .BTF.ext

    /// The program BTF being built, the FUNC id of each function, the id of
    /// each local type, and where maps and variables are placed.
    struct ProgramBTF {
        let builder: BTFBuilder
        var functionIDs: [BTFTypeID] = []
        var localTypeIDs: [String: BTFTypeID] = [:]
        var data = DataLayout()

        init(_ object: ObjectFile, kernelBTF: KernelBTF? = nil) throws {
            builder = try BTFBuilder()
            var encoder = ProgramBTFEncoder(builder: builder, spec: object.btf, kernel: kernelBTF)
            for f in object.btf.functions { functionIDs.append(try encoder.addFunction(f)) }
            localTypeIDs = try encoder.addLocalTypes()
            // What maps point to and variables hold must have a size; libbpf
            // measures them the same way (btf__resolve_size, btf__align_of).
            let measured = try encoder.measure(object.maps.flatMap { [$0.key, $0.value].compactMap { $0 } }
                                               + object.variables.map(\.type))
            let maps = try Self.addMaps(object.maps, measured: measured, to: &encoder)
            var globals: [DataVariable.Section: DataLayout.Section] = [:]
            for kind in [DataVariable.Section.rodata, .data, .bss] {
                globals[kind] = try Self.addVariables(object.variables.filter { $0.section == kind }, in: kind,
                                                      measured: measured, to: &encoder)
            }
            data.sections = [globals[.rodata], globals[.data], maps, globals[.bss]].compactMap { $0 }
            try encoder.addLicense(size: object.license.utf8.count + 1)
        }

        typealias Measured = [ProgramBTFSpec.CType: (size: Int, alignment: Int)]

        /// Each map's STRUCT and VAR, then the `.maps` DATASEC: 8 bytes a
        /// definition member, maps in declaration order.
        private static func addMaps(_ maps: [MapDefinition], measured: Measured,
                                    to encoder: inout ProgramBTFEncoder) throws -> DataLayout.Section? {
            var items: [DataLayout.Item] = [], vars: [BTFTypeID] = []
            for m in maps {
                for (role, t) in [("key", m.key), ("value", m.value)] {
                    if let t, measured[t] == nil {
                        throw ObjectError("map \(m.name): its \(role) type \(CoreAccess.describe(t)) has no size")
                    }
                }
                let (variable, size) = try encoder.addMap(m)
                vars.append(variable)
                items.append(DataLayout.Item(name: m.name, size: size, alignment: 8, bytes: []))
            }
            guard let section = DataLayout.pack(ObjectWriter.mapsSection, flags: ELFImage.SHF_ALLOC | ELFImage.SHF_WRITE,
                                                noBits: false, items) else { return nil }
            try encoder.addDataSection(section, variables: vars)
            return section
        }

        /// The VARs of one data section, each at its natural alignment, then its DATASEC.
        private static func addVariables(_ variables: [DataVariable], in kind: DataVariable.Section, measured: Measured,
                                         to encoder: inout ProgramBTFEncoder) throws -> DataLayout.Section? {
            var items: [DataLayout.Item] = [], vars: [BTFTypeID] = []
            for v in variables {
                let what = "variable \(v.name) (\(kind.rawValue))"
                guard let m = measured[v.type] else { throw ObjectError("\(what): its type \(CoreAccess.describe(v.type)) has no size") }
                if kind == .bss {
                    guard v.initialValue.isEmpty || v.initialValue.count == m.size, v.initialValue.allSatisfy({ $0 == 0 }) else {
                        throw ObjectError("\(what): .bss is zeroed, but the initial value is \(v.initialValue.count) bytes, not all zero")
                    }
                } else if v.initialValue.count != m.size {
                    throw ObjectError("\(what): initial value is \(v.initialValue.count) bytes, the type's size is \(m.size)")
                }
                vars.append(try encoder.addVariable(v))
                items.append(DataLayout.Item(name: v.name, size: m.size, alignment: m.alignment, bytes: kind == .bss ? [] : v.initialValue))
            }
            let flags = kind == .rodata ? ELFImage.SHF_ALLOC : ELFImage.SHF_ALLOC | ELFImage.SHF_WRITE
            guard let section = DataLayout.pack(kind.rawValue, flags: flags, noBits: kind == .bss, items) else { return nil }
            try encoder.addDataSection(section, variables: vars)
            return section
        }

        /// func_info (one FUNC per program, at its offset in the section),
        /// line_info and CO-RE relocations per program section, with their
        /// strings added to `.BTF`. Line entries on the same instruction
        /// collapse to the last one, which is the one that covers it.
        func extInfo(_ object: ObjectFile, plan: ObjectPlan) throws -> BTFExt {
            var ext = BTFExt()
            let file = try builder.addString(object.sourcePath)
            for section in plan.sections {
                let name = UInt32(try builder.addString(section.name))
                var functions: [BTFExt.FuncInfo] = [], lines: [BTFExt.LineInfo] = [], core: [BTFExt.CoreRelo] = []
                for (p, start) in zip(section.programs, section.starts) {
                    let program = object.programs[p]
                    let base = start * Instruction.size
                    functions.append(.init(instructionOffset: UInt32(base), typeID: UInt32(functionIDs[program.function])))
                    var records: [BTFExt.LineInfo] = []
                    for l in program.lines {
                        let text = try builder.addString(object.sourceLines[l.line - 1])
                        let r = BTFExt.LineInfo(instructionOffset: UInt32(base + l.instruction * Instruction.size),
                                                fileNameOffset: UInt32(file), lineOffset: UInt32(text),
                                                line: UInt32(l.line), column: UInt32(max(0, l.column)))
                        if records.last?.instructionOffset == r.instructionOffset { records.removeLast() }
                        records.append(r)
                    }
                    lines += records
                    for (r, access) in zip(program.coreRelocations, plan.coreAccesses[p]) {
                        guard let root = localTypeIDs[access.rootType] else {
                            throw ObjectError("program \(program.name): CO-RE root type \(access.rootType) was not emitted")
                        }
                        core.append(.init(instructionOffset: UInt32(base + r.instruction * Instruction.size), typeID: UInt32(root),
                                          accessStringOffset: UInt32(try builder.addString(access.accessString)), kind: r.kind))
                    }
                }
                ext.funcInfo.append(.init(nameOffset: name, records: functions))
                ext.lineInfo.append(.init(nameOffset: name, records: lines))
                ext.coreRelo.append(.init(nameOffset: name, records: core))
            }
            return ext
        }
    }

    // MARK: - ELF layout

    static func layout(_ object: ObjectFile, plan: ObjectPlan, data: DataLayout, btf: [UInt8], ext: [UInt8]) throws -> ELFImage {
        typealias E = ELFImage
        var names = StringTable()
        var image = ELFImage()
        func add(_ s: ELFImage.Section) -> Int {
            image.sections.append(s)
            image.sectionNameOffsets.append(names.offset(of: s.name))
            return image.sections.count   // its section index
        }

        image.sectionNameTable = add(.init(name: ".strtab", type: E.SHT_STRTAB, data: []))   // filled in last
        var programIndices: [Int] = []                      // by plan.sections
        var relocationSlots: [(section: Int, plan: Int)] = []
        for (i, s) in plan.sections.enumerated() {
            let index = add(.init(name: s.name, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_EXECINSTR,
                                  alignment: 8, data: s.instructions.bytes))
            programIndices.append(index)
            if s.programs.contains(where: { !object.programs[$0].relocations.isEmpty }) {
                // sh_link (.symtab) is set once .symtab has its index.
                let rel = add(.init(name: ".rel" + s.name, type: E.SHT_REL, flags: E.SHF_INFO_LINK, alignment: 8,
                                    entrySize: UInt64(E.relocationSize), info: UInt32(index), data: []))
                relocationSlots.append((rel, i))
            }
        }
        let hasStrings = !object.stringLiterals.isEmpty
        let stringsIndex = hasStrings
            ? add(.init(name: stringsSection, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_MERGE | E.SHF_STRINGS,
                        alignment: 1, entrySize: 1, data: object.stringLiterals))
            : 0
        var dataIndices: [Int] = []                         // by data.sections
        for s in data.sections {
            dataIndices.append(add(.init(name: s.name, type: s.isNoBits ? E.SHT_NOBITS : E.SHT_PROGBITS, flags: s.flags,
                                         alignment: UInt64(s.alignment), data: s.bytes, noBitsSize: s.isNoBits ? s.size : 0)))
        }
        let license = Array(object.license.utf8) + [0]
        let licenseIndex = add(.init(name: licenseSection, type: E.SHT_PROGBITS, flags: E.SHF_ALLOC | E.SHF_WRITE,
                                     alignment: 1, data: license))
        _ = add(.init(name: ".BTF", type: E.SHT_PROGBITS, alignment: 4, data: btf))
        _ = add(.init(name: ".BTF.ext", type: E.SHT_PROGBITS, alignment: 4, data: ext))

        // Symbols: locals (the string section's symbol, which relocations
        // name) before globals; sh_info is the first global's index.
        var symbols: [UInt8] = []
        var symbolIndex: [String: Int] = [:]               // global symbols by name
        func symbol(_ name: String, type: UInt8, binding: UInt8, section: Int, value: Int, size: Int) {
            if !name.isEmpty { symbolIndex[name] = symbols.count / E.symbolSize }
            symbols.u32(name.isEmpty ? 0 : names.offset(of: name))
            symbols.append(binding << 4 | type)
            symbols.append(0)                      // STV_DEFAULT
            symbols.u16(UInt16(section))
            symbols.u64(UInt64(value))
            symbols.u64(UInt64(size))
        }
        symbol("", type: E.STT_NOTYPE, binding: E.STB_LOCAL, section: 0, value: 0, size: 0)
        var stringsSymbol = 0
        if hasStrings {
            stringsSymbol = 1
            symbol("", type: E.STT_SECTION, binding: E.STB_LOCAL, section: stringsIndex, value: 0, size: 0)
        }
        let firstGlobal = symbols.count / E.symbolSize
        for (i, s) in plan.sections.enumerated() {
            for (p, start) in zip(s.programs, s.starts) {
                let program = object.programs[p]
                symbol(program.name, type: E.STT_FUNC, binding: E.STB_GLOBAL, section: programIndices[i],
                       value: start * Instruction.size, size: program.instructions.count * Instruction.size)
            }
        }
        for (i, s) in data.sections.enumerated() {
            for v in s.placements {
                symbol(v.name, type: E.STT_OBJECT, binding: E.STB_GLOBAL, section: dataIndices[i], value: v.offset, size: v.size)
            }
        }
        symbol(licenseSymbol, type: E.STT_OBJECT, binding: E.STB_GLOBAL, section: licenseIndex, value: 0, size: license.count)

        for slot in relocationSlots {
            let s = plan.sections[slot.plan]
            var rel: [UInt8] = []
            for (p, start) in zip(s.programs, s.starts) {
                for r in object.programs[p].relocations.sorted(by: { $0.instruction < $1.instruction }) {
                    let target: Int
                    switch r.target {
                    case .stringLiteral: target = stringsSymbol
                    case let .map(name), let .variable(name):
                        guard let index = symbolIndex[name] else { throw ObjectError("relocation against \(name), which has no symbol") }
                        target = index
                    }
                    rel.u64(UInt64((start + r.instruction) * Instruction.size))
                    rel.u64(UInt64(target) << 32 | UInt64(E.R_BPF_64_64))
                }
            }
            image.sections[slot.section - 1].data = rel
        }

        let symtab = add(.init(name: ".symtab", type: E.SHT_SYMTAB, alignment: 8, entrySize: UInt64(E.symbolSize),
                               link: UInt32(image.sectionNameTable), info: UInt32(firstGlobal), data: symbols))
        for slot in relocationSlots { image.sections[slot.section - 1].link = UInt32(symtab) }
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
