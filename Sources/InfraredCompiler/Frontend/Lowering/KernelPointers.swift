import BPF
import InfraredBTF
import InfraredObject

// Kernel pointers read with CO-RE: the local copies of the kernel types a file
// touches, member paths through the compile-time BTF, relocated reads and
// bitfields, and the CO-RE conveniences (cast, enum_value, type_size, …).

/// Minimal local copies of the kernel structs a file reads with CO-RE: only
/// the members it touches, at the offsets of the BTF it was compiled
/// against. libbpf matches them by name against the target kernel's BTF,
/// descending into anonymous members there (bpf_core_match_member), so a
/// flattened local member still relocates.
final class CoreTypes {
    enum Member: Hashable { case type(ProgramBTFSpec.CType), embedded(String) }
    struct Local { var size: Int; var isUnion: Bool; var members: [String: (offset: Int, type: Member)] = [:]; var bitfields: [String: (bitOffset: Int, size: Int)] = [:] }
    private(set) var structs: [String: Local] = [:]
    private(set) var order: [String] = []
    /// Local enums: only the enumerators the programs name.
    private(set) var enums: [String: (size: Int, values: [String: Int64])] = [:]

    func recordEnumerator(_ name: String, size: Int, enumerator: String, value: Int64) {
        enums[name, default: (size, [:])].values[enumerator] = value
    }

    func record(_ name: String, size: Int, isUnion: Bool, member: String, offset: Int, type: Member) {
        if structs[name] == nil { structs[name] = Local(size: size, isUnion: isUnion); order.append(name) }
        structs[name]!.members[member] = (offset, type)
    }
    func recordBitfield(_ name: String, member: String, bitOffset: Int, bitSize: Int) {
        structs[name]?.bitfields[member] = (bitOffset, bitSize)
    }

    func touch(_ name: String, size: Int, isUnion: Bool) {
        if structs[name] == nil { structs[name] = Local(size: size, isUnion: isUnion); order.append(name) }
    }

    /// The local types for the object's BTF, members in offset order.
    func localTypes() -> [ProgramBTFSpec.CType] {
        order.map { ctype($0) } + enums.keys.sorted().map { n in
            .enumeration(name: n, size: enums[n]!.size, values: enums[n]!.values.sorted { $0.value < $1.value || ($0.value == $1.value && $0.key < $1.key) }
                .map { .init(name: $0.key, value: $0.value) })
        }
    }

    func ctype(_ name: String) -> ProgramBTFSpec.CType {
        let l = structs[name]!
        // In bit order: bitfields of one storage unit share its byte
        // offset, and the kernel refuses a struct whose members' bit
        // offsets go backwards ("Invalid member bits_offset").
        func bit(_ k: String, _ offset: Int) -> Int { offset * 8 + (l.bitfields[k]?.bitOffset ?? 0) }
        let members = l.members.sorted { (bit($0.key, $0.value.offset), $0.key) < (bit($1.key, $1.value.offset), $1.key) }.map { (k, v) -> ProgramBTFSpec.Member in
            switch v.type {
            case .type(let t):
                if let bf = l.bitfields[k] { return .init(name: k, type: t, offset: v.offset, bitOffset: bf.bitOffset, bitfieldSize: bf.size) }
                return .init(name: k, type: t, offset: v.offset)
            case .embedded(let n): return .init(name: k, type: ctype(n), offset: v.offset)
            }
        }
        return .structure(name: name, size: l.size, members: members)
    }
}

extension Lowering {
    // MARK: Conveniences

    /// `current_task`, `cast(:type, x)`, `enum_value`/`enum_exists?`,
    /// `type_exists?`/`type_size` and `field_exists?`: kernel pointers and
    /// CO-RE answers relocated per kernel; nil for other names.
    func kernelCall(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        switch (name, args.count) {
        case ("current_task", 0):
            emit(.call(dst, helper: helperID("get_current_task"), args: []), loc)
            return .kernel("task_struct")
        case ("cast", 2): return try cast(name, args: args, dst: dst, irep, insn, loc)
        case ("enum_value", 2), ("enum_exists?", 2): return try enumValue(name, args: args, dst: dst, irep, insn, loc)
        case ("type_exists?", 1), ("type_size", 1): return try typeQuery(name, args: args, dst: dst, irep, insn, loc)
        case ("field_exists?", 2): return try fieldExists(name, args: args, dst: dst, irep, insn, loc)
        default: return nil
        }
    }

    /// `cast(:sock, x)`: an Integer or pointer as a typed kernel pointer.
    func cast(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        guard case .symbol(let type) = args[0].1 else {
            throw error(irep, insn, "`cast` takes a struct name and a value", hint: "cast(:sock, x)", symbol: name)
        }
        guard try kernelBTF().structLayout(named: type) != nil else {
            throw error(irep, insn, "the kernel BTF has no struct \(type)", hint: "check the name, or pass --btf FILE", symbol: name)
        }
        switch args[1].1 {
        case .int, .kernel, .cString: emit(.move(dst, .reg(args[1].0)), loc)
        default: throw error(irep, insn, "`cast` needs an Integer or a pointer, not \(args[1].1.rubyName)", hint: nil, symbol: name)
        }
        return .kernel(type)
    }

    /// `enum_value(:type, :E)` / `enum_exists?(:type, :E)`.
    func enumValue(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        // A kernel enum's value (or whether it has that enumerator), relocated per kernel.
        guard case .symbol(let type) = args[0].1, case .symbol(let e) = args[1].1 else {
            throw error(irep, insn, "`\(name)` takes an enum type and an enumerator", hint: "\(name)(:bpf_func_id, :BPF_FUNC_map_lookup_elem)", symbol: name)
        }
        guard let en = try kernelBTF().enumerators(named: type) else {
            throw error(irep, insn, "the kernel BTF has no enum \(type)", hint: nil, symbol: name)
        }
        let found = en.values.first { $0.name == e }
        if name == "enum_value" && found == nil {
            throw error(irep, insn, "enum \(type) has no enumerator \(e) in the kernel BTF", hint: "use enum_exists?(:\(type), :\(e)) to test for it", symbol: name)
        }
        core.recordEnumerator(type, size: en.size, enumerator: e, value: found?.value ?? 0)
        let reloc = addCore(name == "enum_value" ? .enumValue : .enumValueExists, root: type, path: [e])
        // libbpf checks the instruction holds the local answer: the local enum has the enumerator, so 1.
        emit(.coreConstant(dst, value: name == "enum_value" ? found!.value : 1, relocation: reloc), loc)
        return name == "enum_value" ? .int(unsigned64: false, nonNegative: found!.value >= 0) : .bool
    }

    /// `type_exists?(:type)` / `type_size(:type)`.
    func typeQuery(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        guard case .symbol(let type) = args[0].1 else {
            throw error(irep, insn, "`\(name)` takes a struct name", hint: "\(name)(:task_struct)", symbol: name)
        }
        let layout = try kernelBTF().structLayout(named: type)
        if name == "type_size" && layout == nil { throw error(irep, insn, "the kernel BTF has no struct \(type)", hint: nil, symbol: name) }
        core.touch(type, size: layout?.size ?? 0, isUnion: layout?.kind == .union)
        let reloc = addCore(name == "type_size" ? .typeSize : .typeExists, root: type, path: [])
        emit(.coreConstant(dst, value: name == "type_size" ? Int64(layout!.size) : 1, relocation: reloc), loc)
        return name == "type_size" ? .int(unsigned64: false, nonNegative: true) : .bool
    }

    /// `field_exists?(ptr, :field)`.
    func fieldExists(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        guard case .symbol(let field) = args[1].1 else {
            throw error(irep, insn, "`field_exists?` takes a kernel pointer and a field name", hint: "field_exists?(task, :loginuid)", symbol: name)
        }
        let (root, path) = try kernelRoot(args[0].1, irep, insn)
        if try kernelMember(root: root, path: path + [field]) == nil {
            // Absent from the compile-time BTF: the local type still names it, so
            // libbpf can answer for the target kernel.
            let holder: String
            if case .kernelPath(_, _, let t) = args[0].1 { holder = t } else { holder = root }
            let size = try kernelBTF().structLayout(named: holder)?.size ?? 0
            core.record(holder, size: size, isUnion: false, member: field, offset: 0, type: .type(.int(name: "int", size: 4, signed: true)))
        }
        let reloc = addCore(.fieldExists, root: root, path: path + [field])
        emit(.coreConstant(dst, value: 1, relocation: reloc), loc)
        return .bool
    }

    // MARK: Reading through kernel pointers

    func kernelRoot(_ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> (String, [String]) {
        switch k {
        case .kernel(let s): return (s, [])
        case .kernelPath(let r, let p, _): return (r, p)
        default:
            throw error(irep, insn, "expected a kernel pointer (current_task, cast(:type, x)), not \(k.rubyName)", hint: nil)
        }
    }

    /// Resolves `path` from struct `root` in the compile-time kernel BTF,
    /// recording each step in the local types. Returns the member's layout.
    func kernelMember(root: String, path: [String]) throws -> (offset: Int, field: FieldLayout)? {
        let btf = try kernelBTF()
        var structName = root, offset = 0
        var last: FieldLayout? = nil
        for (i, m) in path.enumerated() {
            guard let layout = try btf.structLayout(named: structName), let f = layout.member(named: m) else { return nil }
            let resolved = try btf.resolve(f.typeID)
            let member: CoreTypes.Member
            switch resolved.kind {
            case .structure, .union:
                guard !resolved.name.isEmpty else { return nil }
                member = .embedded(resolved.name)
                core.touch(resolved.name, size: resolved.size, isUnion: resolved.kind == .union)
            case .pointer:
                if resolved.targetKind == .structure || resolved.targetKind == .union, let t = resolved.targetName, !t.isEmpty {
                    member = .type(.pointer(.forwardStruct(name: t)))
                } else if resolved.targetKind == .int, resolved.targetSize == 1 {
                    member = .type(.pointer(.int(name: "char", size: 1, signed: true)))
                } else {
                    member = .type(.pointer(.void))
                }
            case .array:
                member = .type(.array(.int(name: resolved.targetSize == 1 ? "char" : "unsigned int", size: resolved.targetSize ?? 1, signed: resolved.targetSize == 1),
                                      count: resolved.arrayCount ?? 0))
            default:
                let size = f.size
                member = .type(.int(name: ScalarType.cIntegerName(size: size, signed: f.isSigned), size: size, signed: f.isSigned))
            }
            core.record(structName, size: layout.size, isUnion: layout.kind == .union, member: m, offset: f.byteOffset, type: member)
            if f.isBitfield { core.recordBitfield(structName, member: m, bitOffset: f.bitOffset, bitSize: f.bitfieldSize) }
            offset += f.byteOffset
            last = f
            if i < path.count - 1 {
                guard case .embedded(let next) = member else { return nil }
                structName = next
            }
        }
        return last.map { (offset, $0) }
    }

    func addCore(_ kind: CoreRelocationKind, root: String, path: [String]) -> Int {
        ir.function.coreRelocations.append(CoreRelocation(kind: kind, instruction: 0, rootType: root, path: path))
        return ir.function.coreRelocations.count - 1
    }

    /// `ptr.member`: an embedded struct extends the path; a scalar or pointer
    /// is read with bpf_probe_read_kernel from a CO-RE-relocated offset.
    func kernelRead(_ name: String, base: VReg, receiver: Kind, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        let (root, prefix) = try kernelRoot(receiver, irep, insn)
        let path = prefix + [name]
        guard let (offset, f) = try kernelMember(root: root, path: path) else {
            let holder: String
            if case .kernelPath(_, _, let t) = receiver { holder = t } else { holder = root }
            return try unsettled(.signedInt, error(irep, insn, "struct \(holder) has no member `\(name)` in the kernel BTF",
                                                   hint: "check the name against `bpftool btf dump file /sys/kernel/btf/vmlinux format c`", symbol: name))
        }
        let resolved = try kernelBTF().resolve(f.typeID)
        if f.isBitfield {
            return try bitfieldRead(root: root, path: path, bitOffset: (offset - f.byteOffset) * 8 + f.bitOffset, bitSize: f.bitfieldSize,
                                    typeSize: f.size, signed: f.isSigned, base: base, dst: dst, irep: irep, insn: insn, loc: loc)
        }
        switch resolved.kind {
        case .structure, .union:
            return .kernelPath(root: root, path: path, type: resolved.name)
        case .array where resolved.targetSize == 1:
            // A char array in kernel memory: its address, for copying as a string.
            let off = newVReg()
            emit(.coreConstant(off, value: Int64(offset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
            emit(.binary(.add, dst, .reg(base), .reg(off)), loc)
            return .cString(user: false, capacity: resolved.arrayCount.flatMap { $0 > 0 ? $0 : nil })
        case .int, .enumeration, .enumeration64, .pointer:
            let size = f.size
            guard [1, 2, 4, 8].contains(size) else { break }
            let off = newVReg(), addr = newVReg()
            emit(.coreConstant(off, value: Int64(offset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
            emit(.binary(.add, addr, .reg(base), .reg(off)), loc)
            let slot = try allocateStack(size: 8, irep, insn)
            let buf = newVReg()
            emit(.frameAddress(buf, offset: slot), loc)
            emit(.call(nil, helper: helperID("probe_read_kernel"), args: [.reg(buf), .imm(Int64(size)), .reg(addr)]), loc)
            emit(.loadFrame(dst, offset: slot, size: size, signed: f.isSigned), loc)
            if resolved.kind == .pointer {
                if let t = resolved.targetName, !t.isEmpty, resolved.targetKind == .structure || resolved.targetKind == .union { return .kernel(t) }
                if resolved.targetKind == .int, resolved.targetSize == 1 { return .cString(user: false, capacity: nil) }
                return .int(unsigned64: true, nonNegative: true)
            }
            return .int(unsigned64: size == 8 && !f.isSigned, nonNegative: !f.isSigned)
        default: break
        }
        throw error(irep, insn, "member `\(name)` of struct \(root) has a type this compiler cannot read yet", hint: nil, symbol: name)
    }

    /// A bitfield read through a kernel pointer, as clang's
    /// BPF_CORE_READ_BITFIELD_PROBED: read the bytes holding it (offset and
    /// size relocated), shift left then right (shifts relocated). The local
    /// values mirror libbpf's bpf_core_calc_field_relo for the local type.
    func bitfieldRead(root: String, path: [String], bitOffset: Int, bitSize: Int, typeSize: Int, signed: Bool,
                      base: VReg, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        var byteSize = max(typeSize, 1)
        var byteOffset = bitOffset / 8 / byteSize * byteSize
        while bitOffset + bitSize - byteOffset * 8 > byteSize * 8 {
            guard byteSize < 8 else { throw error(irep, insn, "bitfield `\(path.last!)` spans more than 8 bytes", hint: nil) }
            byteSize *= 2
            byteOffset = bitOffset / 8 / byteSize * byteSize
        }
        let lshift = 64 - (bitOffset + bitSize - byteOffset * 8), rshift = 64 - bitSize
        let off = newVReg(), addr = newVReg(), size = newVReg(), ls = newVReg(), rs = newVReg()
        emit(.coreConstant(off, value: Int64(byteOffset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
        emit(.binary(.add, addr, .reg(base), .reg(off)), loc)
        emit(.coreConstant(size, value: Int64(byteSize), relocation: addCore(.fieldByteSize, root: root, path: path)), loc)
        let slot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: slot, value: .imm(0), size: 8), loc)
        let buf = newVReg()
        emit(.frameAddress(buf, offset: slot), loc)
        emit(.call(nil, helper: helperID("probe_read_kernel"), args: [.reg(buf), .reg(size), .reg(addr)]), loc)
        emit(.loadFrame(dst, offset: slot, size: 8, signed: false), loc)
        emit(.coreConstant(ls, value: Int64(lshift), relocation: addCore(.fieldLShiftU64, root: root, path: path)), loc)
        emit(.binary(.shl, dst, .reg(dst), .reg(ls)), loc)
        emit(.coreConstant(rs, value: Int64(rshift), relocation: addCore(.fieldRShiftU64, root: root, path: path)), loc)
        emit(.binary(signed ? .ashr : .lshr, dst, .reg(dst), .reg(rs)), loc)
        return .int(unsigned64: false, nonNegative: !signed)
    }
}
