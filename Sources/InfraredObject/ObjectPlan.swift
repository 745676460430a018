import BPF

/// An `ObjectFile` checked and arranged for writing: programs grouped into
/// their ELF sections, relocated instructions patched the way clang leaves
/// them, CO-RE paths turned into access strings.
///
/// Everything here is pure and happens before any BTF is built, so a
/// mistake in the model is reported by name (program, map, variable, type,
/// instruction) instead of as libbpf's or the verifier's later complaint.
struct ObjectPlan {
    /// One executable ELF section: the programs that share its name, back
    /// to back in program order (as clang emits several `SEC("socket")`
    /// functions), each with its own `STT_FUNC` symbol and func_info record.
    struct ProgramSectionPlan {
        var name: String
        /// Indices into `ObjectFile.programs`.
        var programs: [Int]
        /// Each program's first instruction slot in the section.
        var starts: [Int]
        var instructions: [Instruction]
    }

    var sections: [ProgramSectionPlan] = []
    /// Per program (as `ObjectFile.programs`), its CO-RE relocations resolved.
    var coreAccesses: [[CoreAccess]] = []
    /// Local types by name.
    var localTypes: [String: ProgramBTFSpec.CType] = [:]

    /// Section names a program may not use: the writer's own sections,
    /// and names libbpf gives another meaning (`bpf_object__elf_collect`,
    /// `ignore_elf_section`): data, maps, BTF, license, `.text` (subprograms).
    static let reservedSections: Set<String> = [
        "license", "version", "maps", ".maps", ".BTF", ".BTF.ext", ".symtab", ".strtab", ".text",
        ".kconfig", ".ksyms", ".struct_ops", ".llvm_addrsig",
    ]
    static let reservedPrefixes = [".rodata", ".data", ".bss", ".rel", ".debug_"]

    init(_ object: ObjectFile) throws {
        guard !object.programs.isEmpty else { throw ObjectError("object has no programs") }
        guard !object.license.utf8.contains(0) else { throw ObjectError("license contains a NUL byte") }
        try Self.checkSymbolNames(object)
        localTypes = try Self.checkLocalTypes(object.btf.localTypes)
        try Self.checkMaps(object.maps)
        let maps = Set(object.maps.map(\.name)), variables = Set(object.variables.map(\.name))

        var sectionIndex: [String: Int] = [:]
        for (i, p) in object.programs.enumerated() {
            let what = "program \(p.name) (section \(p.section))"
            guard !p.section.isEmpty, !p.section.utf8.contains(0) else { throw ObjectError("\(what): empty section name") }
            guard !Self.reservedSections.contains(p.section),
                  !Self.reservedPrefixes.contains(where: { p.section == $0 || p.section.hasPrefix($0 + ".") || ($0 == ".rel" && p.section.hasPrefix($0)) }) else {
                throw ObjectError("\(what): section name \(p.section) is reserved for data, maps, BTF or relocations")
            }
            guard !p.instructions.isEmpty else { throw ObjectError("\(what): no instructions") }
            guard object.btf.functions.indices.contains(p.function) else {
                throw ObjectError("\(what): function index \(p.function) outside btf.functions (\(object.btf.functions.count))")
            }
            guard object.btf.functions[p.function].name == p.name else {
                throw ObjectError("\(what): its BTF function is named \(object.btf.functions[p.function].name)")
            }
            let insns = try Self.patchRelocations(p, object: object, maps: maps, variables: variables, what: what)
            try Self.validateLines(p, insns, object: object, what: what)
            coreAccesses.append(try Self.resolveCore(p, insns, localTypes: localTypes, what: what))

            if let s = sectionIndex[p.section] {
                sections[s].programs.append(i)
                sections[s].starts.append(sections[s].instructions.count)
                sections[s].instructions += insns
            } else {
                sectionIndex[p.section] = sections.count
                sections.append(ProgramSectionPlan(name: p.section, programs: [i], starts: [0], instructions: insns))
            }
        }
    }

    // MARK: - Names

    /// Programs, maps, variables and `_license` are all global ELF symbols
    /// (libbpf finds maps and variables by symbol name): one name each.
    private static func checkSymbolNames(_ object: ObjectFile) throws {
        var seen: [String: String] = [ObjectWriter.licenseSymbol: "the license symbol"]
        func claim(_ name: String, _ what: String) throws {
            guard !name.isEmpty, !name.utf8.contains(0) else { throw ObjectError("\(what): empty name or a NUL byte in it") }
            if let other = seen[name] { throw ObjectError("\(what): duplicate name \(name), also \(other)") }
            seen[name] = what
        }
        for p in object.programs { try claim(p.name, "program \(p.name)") }
        for m in object.maps { try claim(m.name, "map \(m.name)") }
        for v in object.variables { try claim(v.name, "variable \(v.name) (\(v.section.rawValue))") }
    }

    /// Local types must be named structs or enums, one per name (C's tag namespace).
    private static func checkLocalTypes(_ types: [ProgramBTFSpec.CType]) throws -> [String: ProgramBTFSpec.CType] {
        var byName: [String: ProgramBTFSpec.CType] = [:]
        for t in types {
            guard let name = ProgramBTFEncoder.tagName(t) else {
                throw ObjectError("btf.localTypes: \(CoreAccess.describe(t)) is not a named struct or enum")
            }
            guard byName[name] == nil else { throw ObjectError("btf.localTypes: duplicate local type name \(name)") }
            byName[name] = t
        }
        return byName
    }

    /// What libbpf's parse_btf_map_def would reject when opening the object.
    private static func checkMaps(_ maps: [MapDefinition]) throws {
        for m in maps {
            let what = "map \(m.name)"
            guard m.type != 0 else { throw ObjectError("\(what): map type 0 is BPF_MAP_TYPE_UNSPEC") }
            guard m.key == nil || m.keySize == nil else { throw ObjectError("\(what): give key or keySize, not both") }
            guard m.value == nil || m.valueSize == nil else { throw ObjectError("\(what): give value or valueSize, not both") }
            for (field, n) in [("maxEntries", m.maxEntries), ("keySize", m.keySize), ("valueSize", m.valueSize)] {
                if let n, UInt32(exactly: n) == nil {
                    throw ObjectError("\(what): \(field) \(n) does not fit the u32 libbpf reads it into")
                }
            }
            if let k = m.keySize, k == 0 { throw ObjectError("\(what): keySize 0") }
            if let v = m.valueSize, v == 0 { throw ObjectError("\(what): valueSize 0") }
            if m.key == .void || m.value == .void { throw ObjectError("\(what): key or value type is void") }
        }
    }

    // MARK: - Relocations

    /// Checks each relocation and returns the program's instructions with
    /// each relocated `ld_imm64` holding what clang leaves there: the
    /// literal's offset for a string (relocation against the section
    /// symbol), 0 for a map or a variable (relocation against its own
    /// symbol, whose value is its offset).
    private static func patchRelocations(_ p: ProgramSection, object: ObjectFile, maps: Set<String>, variables: Set<String>,
                                         what: String) throws -> [Instruction] {
        var insns = p.instructions
        var relocated = Set<Int>()
        for r in p.relocations {
            guard insns.indices.contains(r.instruction), insns[r.instruction].isLoadImm64,
                  r.instruction + 1 < insns.count else {
                throw ObjectError("\(what): relocation at instruction \(r.instruction) is not on an ld_imm64")
            }
            guard relocated.insert(r.instruction).inserted else {
                throw ObjectError("\(what): two relocations on instruction \(r.instruction)")
            }
            var imm: Int32 = 0
            switch r.target {
            case let .stringLiteral(offset):
                guard offset >= 0, offset < object.stringLiterals.count, let o = Int32(exactly: offset) else {
                    throw ObjectError("\(what): string literal offset \(offset) outside \(ObjectWriter.stringsSection) (\(object.stringLiterals.count) bytes)")
                }
                // libbpf adds imm to the section symbol's value (0) to find
                // the literal (bpf_object__relocate_data); clang puts it there.
                imm = o
            case let .map(name):
                guard maps.contains(name) else {
                    throw ObjectError("\(what): relocation at instruction \(r.instruction) names map \(name), which is not in the object's maps")
                }
            case let .variable(name):
                guard variables.contains(name) else {
                    throw ObjectError("\(what): relocation at instruction \(r.instruction) names variable \(name), which is not in the object's variables")
                }
            }
            insns[r.instruction].imm = imm
            insns[r.instruction].src = 0
            insns[r.instruction + 1].imm = 0
        }
        return insns
    }

    /// Offsets of the second halves of the `ld_imm64`s in `insns`.
    private static func secondHalves(_ insns: [Instruction]) -> Set<Int> {
        var out = Set<Int>(), k = 0
        while k < insns.count {
            if insns[k].isLoadImm64 { out.insert(k + 1); k += 2 } else { k += 1 }
        }
        return out
    }

    /// The kernel's check_btf_line: the first entry at instruction 0,
    /// offsets not decreasing (equal ones collapse), none on the second
    /// half of an ld_imm64, and a source line to point at.
    private static func validateLines(_ p: ProgramSection, _ insns: [Instruction], object: ObjectFile, what: String) throws {
        let halves = secondHalves(insns)
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
            guard !halves.contains(l.instruction) else {
                throw ObjectError("\(what): line info at instruction \(l.instruction), the second half of an ld_imm64")
            }
            guard l.line >= 1, l.line <= object.sourceLines.count else {
                throw ObjectError("\(what): line info for line \(l.line), but the source has \(object.sourceLines.count) lines")
            }
            previous = l.instruction
        }
    }

    /// Resolves each CO-RE relocation's path and checks that its
    /// instruction is one libbpf's bpf_core_patch_insn can patch: an ALU
    /// immediate, the offset of a load or store, or an `ld_imm64`.
    private static func resolveCore(_ p: ProgramSection, _ insns: [Instruction], localTypes: [String: ProgramBTFSpec.CType],
                                    what: String) throws -> [CoreAccess] {
        let halves = secondHalves(insns)
        return try p.coreRelocations.map { r in
            let at = "\(what): CO-RE relocation at instruction \(r.instruction)"
            guard insns.indices.contains(r.instruction), !halves.contains(r.instruction) else {
                throw ObjectError("\(at): no such instruction (or the second half of an ld_imm64)")
            }
            let insn = insns[r.instruction]
            let patchable: Bool
            switch insn.instructionClass {
            case .alu, .alu64: patchable = insn.opcode & SourceOperand.x.rawValue == 0
            case .ldx, .st, .stx: patchable = insn.opcode & 0xe0 == ModeModifier.mem.rawValue
            case .ld: patchable = insn.isLoadImm64 && insn.src == 0
            default: patchable = false
            }
            guard patchable else {
                throw ObjectError("\(at): libbpf can only patch an ALU immediate, a load/store offset or an ld_imm64, not \(insn)")
            }
            do { return try CoreAccess(r, localTypes: localTypes) } catch let e as ObjectError {
                throw ObjectError("\(what): \(e.message)")
            }
        }
    }
}
