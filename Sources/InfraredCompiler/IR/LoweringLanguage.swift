import BPF
import InfraredBTF
import InfraredObject

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
        let members = l.members.sorted { ($0.value.offset, $0.key) < ($1.value.offset, $1.key) }.map { (k, v) -> ProgramBTFSpec.Member in
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

/// Which struct each ring buffer / perf buffer map carries, as the bodies
/// show it (`reserve(Event)`, `output(e)`): loaders decode records with it.
final class RecordTypes {
    var byMap: [String: String] = [:]
}

/// The `bpf_core_relo_kind` values the compiler emits (<linux/bpf.h>).
enum CoreKind: UInt32 {
    case fieldByteOffset = 0, fieldByteSize = 1, fieldExists = 2, fieldLShift = 4, fieldRShift = 5
    case typeExists = 8, typeSize = 9, enumValueExists = 10, enumValue = 11
}

extension Lowering {
    // MARK: Stack objects

    /// Reserves `size` bytes below R10 (aligned); returns the (negative) offset.
    func allocateStack(size: Int, alignment: Int = 8, _ irep: Irep, _ insn: MInstruction) throws -> Int {
        let a = max(alignment, 1)
        let top = (function.stackSize + size + a - 1) / a * a
        guard top <= 512 - 64 else {
            throw error(irep, insn, "this program needs more than 448 bytes of stack for its keys, values and records",
                        hint: "BPF programs have a 512-byte stack; use a ring buffer record or a per-CPU array as scratch space")
        }
        function.stackSize = top
        return -top
    }

    /// Every register holding pointer `id` becomes non-nil (or nil).
    func refine(_ kinds: [Kind], id: Int, nonNil: Bool) -> [Kind] {
        kinds.map { k in
            if case .pointer(let t, _, let i) = k, i == id { return nonNil ? .pointer(t, nullable: false, id: i) : .nil }
            return k
        }
    }

    /// A possibly-nil pointer used without a check: the program returns 0 when
    /// it is nil (the language's rule), and every copy is known non-nil after.
    func ensureNonNil(_ reg: VReg, _ kinds: inout [Kind], _ k: Kind, _ loc: SourceLocation) -> Kind {
        guard case .pointer(let t, true, let id) = k else { return k }
        let bail = newBlock(), cont = newBlock()
        terminate(.branch(.eq, .reg(reg), .imm(0), then: bail, else: cont), loc)
        current = bail; terminate(.ret(.imm(0)), loc)
        current = cont
        kinds = refine(kinds, id: id, nonNil: true)
        return .pointer(t, nullable: false, id: id)
    }

    // MARK: Dispatch

    /// Method calls that involve the language's declarations: maps, structs,
    /// params, globals, records, kernel pointers, the context's arguments.
    /// Returns nil when the call is not one of these.
    func sendLanguage(_ frame: Frame, _ insn: MInstruction, name: String, receiver: Kind, argRegs: [Int], hasBlock: Bool,
                      kinds: inout [Kind], loc: SourceLocation) throws -> Kind? {
        let irep = frame.irep, R = frame.regs
        let dst = R[insn.a]
        let args = argRegs.map { (R[$0], kinds[$0]) }
        func noBlock() throws {
            if hasBlock { throw error(irep, insn, "`\(name)` does not take a block", hint: nil, symbol: name) }
        }
        switch receiver {
        case .selfObject:
            if language.maps[name] != nil, args.isEmpty { try noBlock(); return .map(name) }
            if let p = language.params[name], args.isEmpty {
                return try loadVariable(name, p.type, dst, loc)
            }
            if let g = language.globals[name], args.isEmpty {
                return try loadVariable(name, g.type, dst, loc)
            }
            if name.hasSuffix("="), args.count == 1 {
                let base = String(name.dropLast())
                if language.params[base] != nil {
                    throw error(irep, insn, "param `\(base)` is read-only in programs", hint: "params are set before load (--\(base.replacing("_", with: "-")))", symbol: base)
                }
                if let g = language.globals[base] {
                    let v = try integerOperand(args[0], irep, insn, what: "the value of global `\(base)`")
                    let a = function.newVReg()
                    emit(.variableAddress(a, name: base), loc)
                    emit(.store(base: a, offset: 0, value: v, size: g.type.size), loc)
                    return args[0].1
                }
            }
            switch (name, args.count) {
            case ("comm", 0): return .comm
            case ("user_string", 1), ("kernel_string", 1):
                // An address (e.g. a USDT or uprobe argument), or a `char *` read from a
                // kernel struct, as a C string to copy into a char array.
                switch args[0].1 { case .int, .cString: break; default:
                    throw error(irep, insn, "`\(name)` takes an address (an Integer) or a `char *`", hint: "e.name = user_string(ctx.arg(1))", symbol: name)
                }
                emit(.move(dst, .reg(args[0].0)), loc)
                return .cString(user: name == "user_string")
            case ("current_task", 0):
                emit(.call(dst, helper: HelperPrototype.named("get_current_task")!.id, args: []), loc)
                return .kernel("task_struct")
            case ("cast", 2):
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
            case ("enum_value", 2), ("enum_exists?", 2):
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
            case ("type_exists?", 1), ("type_size", 1):
                guard case .symbol(let type) = args[0].1 else {
                    throw error(irep, insn, "`\(name)` takes a struct name", hint: "\(name)(:task_struct)", symbol: name)
                }
                let layout = try kernelBTF().structLayout(named: type)
                if name == "type_size" && layout == nil { throw error(irep, insn, "the kernel BTF has no struct \(type)", hint: nil, symbol: name) }
                core.touch(type, size: layout?.size ?? 0, isUnion: layout?.kind == .union)
                let reloc = addCore(name == "type_size" ? .typeSize : .typeExists, root: type, path: [])
                emit(.coreConstant(dst, value: name == "type_size" ? Int64(layout!.size) : 1, relocation: reloc), loc)
                return name == "type_size" ? .int(unsigned64: false, nonNegative: true) : .bool
            case ("field_exists?", 2):
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
            default: return nil
            }
        case .structType(let s):
            guard name == "new", args.isEmpty else { return nil }
            try noBlock()
            let d = language.structs[s]!
            let off = try allocateStack(size: d.size, alignment: max(8, d.alignment), irep, insn)
            var o = 0
            while o < d.size {
                let sz = d.size - o >= 8 ? 8 : (d.size - o >= 4 ? 4 : (d.size - o >= 2 ? 2 : 1))
                emit(.storeFrame(offset: off + o, value: .imm(0), size: sz), loc); o += sz
            }
            return .frameObject(.structure(s), offset: off)
        case .map(let m):
            try noBlock()
            return try mapMethod(frame, insn, map: language.maps[m]!, name: name, args: argRegs, kinds: &kinds, loc: loc)
        case .pointer, .frameObject:
            try noBlock()
            return try memberAccess(frame, insn, name: name, receiverReg: insn.a, args: args, kinds: &kinds, loc: loc)
        case .kernel, .kernelPath:
            guard args.isEmpty else { return nil }
            try noBlock()
            return try kernelRead(name, base: dst, receiver: receiver, dst: dst, irep: irep, insn: insn, loc: loc)
        case .context where context?.fields.contains(where: { $0.name == name }) != true:
            switch (name, args.count) {
            case ("arg", 1):
                guard case .int = args[0].1, let n = constantOf(args[0].0) else {
                    throw error(irep, insn, "`ctx.arg` takes a constant argument number", hint: "ctx.arg(0)", symbol: name)
                }
                return try contextArgument(Int(n), base: R[insn.a], dst: dst, irep: irep, insn: insn, loc: loc)
            case ("ret", 0):
                return try contextArgument(-1, base: R[insn.a], dst: dst, irep: irep, insn: insn, loc: loc)
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The constant an IR register was last set to in the current block, if any.
    func constantOf(_ r: VReg) -> Int64? {
        for (i, _) in function.blocks[current].instructions.reversed() where i.definition == r {
            if case .move(_, .imm(let v)) = i { return v }
            return nil
        }
        return nil
    }

    func integerOperand(_ a: (VReg, Kind), _ irep: Irep, _ insn: MInstruction, what: String) throws -> Operand {
        switch a.1 {
        case .int, .bool: return .reg(a.0)
        case .nil: return .imm(0)
        default:
            if analysing { return .imm(0) }
            throw error(irep, insn, "\(what) must be an Integer, not \(a.1.rubyName)", hint: nil)
        }
    }

    func loadVariable(_ name: String, _ t: ScalarType, _ dst: VReg, _ loc: SourceLocation) throws -> Kind {
        let a = function.newVReg()
        emit(.variableAddress(a, name: name), loc)
        emit(.load(dst, base: a, offset: 0, size: t.size, signed: t.signed), loc)
        return intKind(t)
    }

    func intKind(_ t: ScalarType) -> Kind {
        .int(unsigned64: t.size == 8 && !t.signed, nonNegative: !t.signed)
    }

    // MARK: Memory with a declared layout

    /// The address of memory a kind describes, as an operand.
    func address(of reg: VReg, _ k: Kind, _ loc: SourceLocation) -> VReg? {
        switch k {
        case .pointer(_, false, _): return reg
        case .frameObject(_, let off):
            let a = function.newVReg(); emit(.frameAddress(a, offset: off), loc); return a
        default: return nil
        }
    }

    /// Puts a value into stack memory of type `t` (for map keys and values);
    /// returns its address. Struct values already in memory are used in place.
    func materialize(_ v: (VReg, Kind), as t: ValueType, _ irep: Irep, _ insn: MInstruction, what: String, _ loc: SourceLocation) throws -> VReg {
        switch (t, v.1) {
        case (.scalar(let s), .int), (.scalar(let s), .bool), (.scalar(let s), .nil):
            let off = try allocateStack(size: max(s.size, 1), alignment: 8, irep, insn)
            emit(.storeFrame(offset: off, value: v.1 == .nil ? .imm(0) : .reg(v.0), size: s.size), loc)
            let a = function.newVReg(); emit(.frameAddress(a, offset: off), loc); return a
        case (.structure(let want), .frameObject(.structure(let have), _)) where want == have:
            return address(of: v.0, v.1, loc)!
        case (.structure(let want), .pointer(.structure(let have), false, _)) where want == have:
            return v.0
        default:
            if analysing { return v.0 }
            throw error(irep, insn, "\(what) must be \(t), not \(v.1.rubyName)", hint: nil)
        }
    }

    /// `e.field` and `e.field = v` on a record, a map value or a stack struct.
    func memberAccess(_ frame: Frame, _ insn: MInstruction, name: String, receiverReg: Int, args: [(VReg, Kind)],
                      kinds: inout [Kind], loc: SourceLocation) throws -> Kind? {
        let irep = frame.irep, R = frame.regs
        var k = kinds[receiverReg]
        k = ensureNonNil(R[receiverReg], &kinds, k, loc)
        let type: ValueType
        switch k { case .pointer(let t, _, _), .frameObject(let t, _): type = t; default: return nil }
        guard case .structure(let sname) = type, let s = language.structs[sname] else {
            if case .scalar(let st) = type, name == "value", args.isEmpty {
                emit(.load(R[insn.a], base: R[receiverReg], offset: 0, size: st.size, signed: st.signed), loc)
                return intKind(st)
            }
            return nil
        }
        let setter = name.hasSuffix("=") && args.count == 1
        let fname = setter ? String(name.dropLast()) : name
        guard let f = s.field(fname), setter || args.isEmpty else {
            if analysing { return .signedInt }
            throw error(irep, insn, "struct \(sname) has no field `\(fname)`", hint: "fields: " + s.fields.map(\.name).joined(separator: ", "), symbol: fname)
        }
        // Base register and offset of the field.
        let base: VReg, off: Int
        switch k {
        case .frameObject(_, let o):
            base = function.newVReg(); emit(.frameAddress(base, offset: o), loc); off = f.offset
        default:
            base = R[receiverReg]; off = f.offset
        }
        if !setter {
            switch f.type {
            case .scalar(let st):
                emit(.load(R[insn.a], base: base, offset: off, size: st.size, signed: st.signed), loc)
                return intKind(st)
            case .chars:
                // The array's address, to copy it as a string into another char array.
                emit(.binary(.add, R[insn.a], .reg(base), .imm(Int64(off))), loc)
                return .cString(user: false)
            default:
                if analysing { return .signedInt }
                throw error(irep, insn, "reading field `\(fname)` (\(f.type)) is not supported in bodies yet", hint: nil, symbol: fname)
            }
        }
        let value = args[0]
        switch (f.type, value.1) {
        case (.scalar(let st), .int), (.scalar(let st), .bool), (.scalar(let st), .nil):
            emit(.store(base: base, offset: off, value: value.1 == .nil ? .imm(0) : .reg(value.0), size: st.size), loc)
        case (.chars(let n), .comm):
            let a = function.newVReg()
            emit(.move(a, .reg(base)), loc); emit(.binary(.add, a, .reg(a), .imm(Int64(off))), loc)
            emit(.call(nil, helper: HelperPrototype.named("get_current_comm")!.id, args: [.reg(a), .imm(Int64(min(n, 16)))]), loc)
        case (.chars(let n), .cString(let user)):
            let a = function.newVReg()
            emit(.move(a, .reg(base)), loc); emit(.binary(.add, a, .reg(a), .imm(Int64(off))), loc)
            let helper = user ? "probe_read_user_str" : "probe_read_kernel_str"
            emit(.call(nil, helper: HelperPrototype.named(helper)!.id, args: [.reg(a), .imm(Int64(n)), .reg(value.0)]), loc)
        default:
            if analysing { return .signedInt }
            throw error(irep, insn, "field `\(fname)` (\(f.type)) cannot be set from \(value.1.rubyName)",
                        hint: f.type == .chars(16) ? "a char array takes `comm` or a string pointer such as ctx.filename" : nil, symbol: fname)
        }
        return value.1
    }

    // MARK: Maps

    func mapIndex(_ frame: Frame, _ insn: MInstruction, receiver: Int, args: [Int], set: Bool, kinds: inout [Kind], loc: SourceLocation) throws -> Kind {
        guard case .map(let m) = kinds[receiver] else {
            if analysing { return .signedInt }
            throw error(frame.irep, insn, "`[]` is only available on maps in a BPF program body", hint: nil)
        }
        return try mapMethod(frame, insn, map: language.maps[m]!, name: set ? "[]=" : "[]", args: args, kinds: &kinds, loc: loc,
                             dst: frame.regs[receiver])
    }

    func mapMethod(_ frame: Frame, _ insn: MInstruction, map: MapDecl, name: String, args argRegs: [Int], kinds: inout [Kind],
                   loc: SourceLocation, dst explicitDst: VReg? = nil) throws -> Kind {
        let irep = frame.irep, R = frame.regs
        let dst = explicitDst ?? R[insn.a]
        let args = argRegs.map { (R[$0], kinds[$0]) }
        func helper(_ n: String) -> Int32 { HelperPrototype.named(n)!.id }
        func expect(_ n: Int, _ usage: String) throws {
            if args.count != n { throw error(irep, insn, "`\(map.name).\(name)` takes \(n) argument\(n == 1 ? "" : "s")", hint: usage, symbol: name) }
        }
        func mapRef() -> VReg { let r = function.newVReg(); emit(.mapAddress(r, name: map.name), loc); return r }
        func keyAddress() throws -> VReg { try materialize(args[0], as: map.key!, irep, insn, what: "the key of map `\(map.name)`", loc) }
        let keyed = !map.isRecordStream && map.kind != "stack_trace"

        switch (name, map.kind) {
        case ("[]", _) where keyed && map.kind != "hist":
            try expect(1, "\(map.name)[key]")
            guard case .scalar(let vt) = map.value! else {
                throw error(irep, insn, "`\(map.name)[k]` needs Integer values; this map holds \(map.value!)", hint: "use \(map.name).lookup(k), which gives a pointer or nil", symbol: map.name)
            }
            if frame.atomic[insn.pc] != nil { return .int(unsigned64: false, nonNegative: false) }   // folded into the `[]=` below
            let k = try keyAddress()
            let p = function.newVReg()
            emit(.call(p, helper: helper("map_lookup_elem"), args: [.reg(mapRef()), .reg(k)]), loc)
            let hit = newBlock(), miss = newBlock(), join = newBlock()
            terminate(.branch(.eq, .reg(p), .imm(0), then: miss, else: hit), loc)
            current = hit; emit(.load(dst, base: p, offset: 0, size: vt.size, signed: vt.signed), loc); terminate(.jump(join), loc)
            current = miss; emit(.move(dst, .imm(0)), loc); terminate(.jump(join), loc)
            current = join
            return intKind(vt)
        case ("[]=", _) where keyed && map.kind != "hist":
            try expect(2, "\(map.name)[key] = value")
            if let inc = frame.atomic[insn.pc] {
                let increment: Operand
                switch inc { case .immediate(let v): increment = .imm(v); case .register(let r): increment = .reg(R[r]) }
                try atomicAdd(map: map, key: try keyAddress(), increment: increment, irep, insn, loc)
                return args[1].1
            }
            let k = try keyAddress()
            let v = try materialize(args[1], as: map.value!, irep, insn, what: "the value of map `\(map.name)`", loc)
            emit(.call(nil, helper: helper("map_update_elem"), args: [.reg(mapRef()), .reg(k), .reg(v), .imm(0)]), loc)
            return args[1].1
        case ("lookup", _) where keyed:
            try expect(1, "\(map.name).lookup(key)")
            let k = try keyAddress()
            emit(.call(dst, helper: helper("map_lookup_elem"), args: [.reg(mapRef()), .reg(k)]), loc)
            defer { nextPointerID += 1 }
            return .pointer(map.value!, nullable: map.kind != "array" && map.kind != "percpu_array" ? true : true, id: nextPointerID)
        case ("update", _) where keyed:
            guard args.count == 2 || args.count == 3 else { try expect(3, "\(map.name).update(key, value, flags)"); return .nil }
            let k = try keyAddress()
            let v = try materialize(args[1], as: map.value!, irep, insn, what: "the value of map `\(map.name)`", loc)
            let flags = args.count == 3 ? try integerOperand(args[2], irep, insn, what: "the flags") : .imm(0)
            emit(.call(dst, helper: helper("map_update_elem"), args: [.reg(mapRef()), .reg(k), .reg(v), flags]), loc)
            return .int(unsigned64: false, nonNegative: false)
        case ("delete", _) where keyed:
            try expect(1, "\(map.name).delete(key)")
            let k = try keyAddress()
            emit(.call(dst, helper: helper("map_delete_elem"), args: [.reg(mapRef()), .reg(k)]), loc)
            return .int(unsigned64: false, nonNegative: false)
        case ("add", "hist"):
            try expect(1, "\(map.name).add(value)")
            let v = try integerOperand(args[0], irep, insn, what: "the value added to hist `\(map.name)`")
            let bucket = log2Bucket(v, loc)
            let k = try materialize((bucket, .int(unsigned64: false, nonNegative: true)), as: map.key!, irep, insn, what: "the bucket", loc)
            try atomicAdd(map: map, key: k, increment: .imm(1), irep, insn, loc)
            return .nil
        case ("reserve", "ringbuf"):
            try expect(1, "e = \(map.name).reserve(Event)")
            guard case .structType(let s) = args[0].1 else {
                throw error(irep, insn, "`reserve` takes a struct declared with `struct`", hint: "e = \(map.name).reserve(Event)", symbol: name)
            }
            let size = language.structs[s]!.size
            records.byMap[map.name] = s
            emit(.call(dst, helper: helper("ringbuf_reserve"), args: [.reg(mapRef()), .imm(Int64(size)), .imm(0)]), loc)
            acquired[nextPointerID] = (loc.line, "ring buffer record")
            defer { nextPointerID += 1 }
            return .pointer(.structure(s), nullable: true, id: nextPointerID)
        case ("submit", "ringbuf"), ("discard", "ringbuf"):
            try expect(1, "\(map.name).\(name)(e)")
            let r = argRegs[0]
            var k = kinds[r]
            k = ensureNonNil(R[r], &kinds, k, loc)
            guard case .pointer(_, false, let id) = k else {
                if analysing { return .nil }
                throw error(irep, insn, "`\(name)` takes a record from `\(map.name).reserve`, not \(k.rubyName)", hint: nil, symbol: name)
            }
            emit(.call(nil, helper: helper(name == "submit" ? "ringbuf_submit" : "ringbuf_discard"), args: [.reg(R[r]), .imm(0)]), loc)
            kinds = kinds.map { if case .pointer(_, _, let i) = $0, i == id { return .released }; return $0 }
            return .nil
        case ("output", "ringbuf"), ("output", "perf_event_array"):
            let perf = map.kind == "perf_event_array"
            try expect(perf ? 2 : 1, perf ? "\(map.name).output(ctx, event)" : "\(map.name).output(event)")
            if perf, args[0].1 != .context { throw error(irep, insn, "`output` on a perf_event_array takes the context first", hint: "\(map.name).output(ctx, event)", symbol: name) }
            let value = args[perf ? 1 : 0]
            let (addr, size): (VReg, Int)
            switch value.1 {
            case .frameObject(.structure(let s), _), .pointer(.structure(let s), false, _):
                (addr, size) = (address(of: value.0, value.1, loc)!, language.structs[s]!.size)
                records.byMap[map.name] = s
            case .int, .bool:
                (addr, size) = (try materialize(value, as: .scalar(ScalarType.table["u64"]!), irep, insn, what: "the event", loc), 8)
            default:
                if analysing { return .nil }
                throw error(irep, insn, "`output` takes a struct (Event.new) or an Integer, not \(value.1.rubyName)", hint: nil, symbol: name)
            }
            if perf {
                emit(.call(dst, helper: helper("perf_event_output"), args: [.reg(args[0].0), .reg(mapRef()), .imm(0xffff_ffff), .reg(addr), .imm(Int64(size))]), loc)
            } else {
                emit(.call(dst, helper: helper("ringbuf_output"), args: [.reg(mapRef()), .reg(addr), .imm(Int64(size)), .imm(0)]), loc)
            }
            return .int(unsigned64: false, nonNegative: false)
        case ("get_stackid", "stack_trace"):
            try expect(2, "\(map.name).get_stackid(ctx, flags)")
            guard args[0].1 == .context else { throw error(irep, insn, "`get_stackid` takes the context first", hint: "\(map.name).get_stackid(ctx, 0)", symbol: name) }
            let flags = try integerOperand(args[1], irep, insn, what: "the flags")
            emit(.call(dst, helper: helper("get_stackid"), args: [.reg(args[0].0), .reg(mapRef()), flags]), loc)
            return .int(unsigned64: false, nonNegative: false)
        default:
            if analysing { return .signedInt }
            throw error(irep, insn, "maps of type :\(map.kind) have no method `\(name)` in bodies",
                        hint: Self.mapMethods[map.kind] ?? "", symbol: name)
        }
    }

    static let mapMethods: [String: String] = [
        "ringbuf": "ringbuf maps: reserve, submit, discard, output",
        "perf_event_array": "perf_event_array maps: output(ctx, value)",
        "stack_trace": "stack_trace maps: get_stackid(ctx, flags)",
        "hist": "hist maps: add(value)",
    ]

    /// `lock value += increment` for the key, creating the entry when absent
    /// (like `__sync_fetch_and_add` on a looked-up value in C).
    func atomicAdd(map: MapDecl, key: VReg, increment: Operand, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws {
        guard case .scalar(let vt) = map.value!, vt.size == 8 || vt.size == 4 else {
            throw error(irep, insn, "`+=` on map `\(map.name)` needs 4- or 8-byte Integer values", hint: nil)
        }
        func mapRef() -> VReg { let r = function.newVReg(); emit(.mapAddress(r, name: map.name), loc); return r }
        let lookup = HelperPrototype.named("map_lookup_elem")!.id, update = HelperPrototype.named("map_update_elem")!.id
        let inc = function.newVReg()
        emit(.move(inc, increment), loc)
        let p = function.newVReg()
        emit(.call(p, helper: lookup, args: [.reg(mapRef()), .reg(key)]), loc)
        let hit = newBlock(), miss = newBlock(), join = newBlock()
        terminate(.branch(.ne, .reg(p), .imm(0), then: hit, else: miss), loc)
        current = hit
        emit(.atomicAdd(base: p, offset: 0, value: inc, size: vt.size), loc)
        terminate(.jump(join), loc)
        current = miss
        let slot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: slot, value: .reg(inc), size: vt.size), loc)
        let v = function.newVReg(); emit(.frameAddress(v, offset: slot), loc)
        // BPF_NOEXIST: if another CPU created the entry meanwhile, add to it.
        let rc = function.newVReg()
        emit(.call(rc, helper: update, args: [.reg(mapRef()), .reg(key), .reg(v), .imm(1)]), loc)
        let retry = newBlock()
        terminate(.branch(.eq, .reg(rc), .imm(0), then: join, else: retry), loc)
        current = retry
        let p2 = function.newVReg()
        emit(.call(p2, helper: lookup, args: [.reg(mapRef()), .reg(key)]), loc)
        let hit2 = newBlock()
        terminate(.branch(.ne, .reg(p2), .imm(0), then: hit2, else: join), loc)
        current = hit2
        emit(.atomicAdd(base: p2, offset: 0, value: inc, size: vt.size), loc)
        terminate(.jump(join), loc)
        current = join
    }

    /// bpftrace's hist() bucket: 0 for v ≤ 0, else 1 + floor(log2(v)),
    /// by binary search: five steps `sh = (x > 2^s - 1) ? s : 0; x >>= sh;
    /// r |= sh` (a conditional move the verifier prunes at the join) and a
    /// last `r |= x >> 1`. Values ≤ 0 skip it all.
    func log2Bucket(_ v: Operand, _ loc: SourceLocation) -> VReg {
        let x = function.newVReg(), r = function.newVReg(), out = function.newVReg()
        let positive = newBlock(), join = newBlock()
        emit(.move(out, .imm(0)), loc)
        terminate(.branch(.slt, v, .imm(1), then: join, else: positive), loc)
        current = positive
        emit(.move(x, v), loc)
        emit(.move(r, .imm(0)), loc)
        for s in [32, 16, 8, 4, 2] {
            let sh = function.newVReg()
            emit(.setcc(.ugt, sh, .reg(x), .imm((1 << Int64(s)) - 1)), loc)
            emit(.binary(.shl, sh, .reg(sh), .imm(Int64(s.trailingZeroBitCount))), loc)
            emit(.binary(.lshr, x, .reg(x), .reg(sh)), loc)
            emit(.binary(.or, r, .reg(r), .reg(sh)), loc)
        }
        let last = function.newVReg()
        emit(.binary(.lshr, last, .reg(x), .imm(1)), loc)
        emit(.binary(.or, r, .reg(r), .reg(last)), loc)
        emit(.binary(.add, out, .reg(r), .imm(1)), loc)
        terminate(.jump(join), loc)
        current = join
        return out
    }

    // MARK: Kernel pointers (CO-RE)

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
                member = .type(.int(name: ScalarType(size: size, signed: f.isSigned, name: "").cName, size: size, signed: f.isSigned))
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

    func addCore(_ kind: CoreKind, root: String, path: [String]) -> Int {
        function.coreRelocations.append(CoreRecord(kind: kind.rawValue, rootType: root, path: path))
        return function.coreRelocations.count - 1
    }

    /// `ptr.member`: an embedded struct extends the path; a scalar or pointer
    /// is read with bpf_probe_read_kernel from a CO-RE-relocated offset.
    func kernelRead(_ name: String, base: VReg, receiver: Kind, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        let (root, prefix) = try kernelRoot(receiver, irep, insn)
        let path = prefix + [name]
        guard let (offset, f) = try kernelMember(root: root, path: path) else {
            if analysing { return .signedInt }
            let holder: String
            if case .kernelPath(_, _, let t) = receiver { holder = t } else { holder = root }
            throw error(irep, insn, "struct \(holder) has no member `\(name)` in the kernel BTF",
                        hint: "check the name against `bpftool btf dump file /sys/kernel/btf/vmlinux format c`", symbol: name)
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
            let off = function.newVReg()
            emit(.coreConstant(off, value: Int64(offset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
            emit(.binary(.add, dst, .reg(base), .reg(off)), loc)
            return .cString(user: false)
        case .int, .enumeration, .enumeration64, .pointer:
            let size = f.size
            guard [1, 2, 4, 8].contains(size) else { break }
            let off = function.newVReg(), addr = function.newVReg()
            emit(.coreConstant(off, value: Int64(offset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
            emit(.binary(.add, addr, .reg(base), .reg(off)), loc)
            let slot = try allocateStack(size: 8, irep, insn)
            let buf = function.newVReg()
            emit(.frameAddress(buf, offset: slot), loc)
            emit(.call(nil, helper: HelperPrototype.named("probe_read_kernel")!.id, args: [.reg(buf), .imm(Int64(size)), .reg(addr)]), loc)
            emit(.loadFrame(dst, offset: slot, size: size, signed: f.isSigned), loc)
            if resolved.kind == .pointer {
                if let t = resolved.targetName, !t.isEmpty, resolved.targetKind == .structure || resolved.targetKind == .union { return .kernel(t) }
                if resolved.targetKind == .int, resolved.targetSize == 1 { return .cString(user: false) }
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
        let off = function.newVReg(), addr = function.newVReg(), size = function.newVReg(), ls = function.newVReg(), rs = function.newVReg()
        emit(.coreConstant(off, value: Int64(byteOffset), relocation: addCore(.fieldByteOffset, root: root, path: path)), loc)
        emit(.binary(.add, addr, .reg(base), .reg(off)), loc)
        emit(.coreConstant(size, value: Int64(byteSize), relocation: addCore(.fieldByteSize, root: root, path: path)), loc)
        let slot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: slot, value: .imm(0), size: 8), loc)
        let buf = function.newVReg()
        emit(.frameAddress(buf, offset: slot), loc)
        emit(.call(nil, helper: HelperPrototype.named("probe_read_kernel")!.id, args: [.reg(buf), .reg(size), .reg(addr)]), loc)
        emit(.loadFrame(dst, offset: slot, size: 8, signed: false), loc)
        emit(.coreConstant(ls, value: Int64(lshift), relocation: addCore(.fieldLShift, root: root, path: path)), loc)
        emit(.binary(.shl, dst, .reg(dst), .reg(ls)), loc)
        emit(.coreConstant(rs, value: Int64(rshift), relocation: addCore(.fieldRShift, root: root, path: path)), loc)
        emit(.binary(signed ? .ashr : .lshr, dst, .reg(dst), .reg(rs)), loc)
        return .int(unsigned64: false, nonNegative: !signed)
    }

    // MARK: Context arguments

    /// `ctx.arg(n)` / `ctx.ret`: pt_regs registers on x86-64 for kprobes and
    /// uprobes, `args[n]` for raw tracepoints.
    func contextArgument(_ n: Int, base: VReg, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        let decl = declaration.kind.declaration
        switch decl {
        case "raw_tracepoint":
            guard n >= 0, n < 12 else { throw error(irep, insn, "raw tracepoint arguments are numbered 0…11", hint: nil) }
            emit(.load(dst, base: base, offset: 8 * n, size: 8, signed: false), loc)
            return .int(unsigned64: true, nonNegative: true)
        case "kprobe", "kretprobe", "uprobe", "uretprobe":
            let regs = ["di", "si", "dx", "cx", "r8", "r9"]
            let field: String
            if n < 0 {
                guard decl.hasSuffix("retprobe") else { throw error(irep, insn, "`ctx.ret` is only available in kretprobe/uretprobe programs", hint: nil, symbol: "ret") }
                field = "ax"
            } else {
                guard n < regs.count else { throw error(irep, insn, "x86-64 passes 6 arguments in registers: ctx.arg(0)…ctx.arg(5)", hint: nil, symbol: "arg") }
                field = regs[n]
            }
            guard let layout = try kernelBTF().structLayout(named: "pt_regs"), let f = layout.member(named: field) else {
                throw error(irep, insn, "the kernel BTF has no pt_regs.\(field)", hint: nil)
            }
            emit(.load(dst, base: base, offset: f.byteOffset, size: 8, signed: false), loc)
            return .int(unsigned64: true, nonNegative: true)
        case "usdt" where n >= 0:
            return try usdtArgument(n, ctx: base, dst: dst, irep: irep, insn: insn, loc: loc)
        default:
            throw error(irep, insn, "`ctx.\(n < 0 ? "ret" : "arg")` is not available in \(decl) programs",
                        hint: "use the context's fields by name", symbol: n < 0 ? "ret" : "arg")
        }
    }
}

extension Lowering {
    /// libbpf's USDT support: the maps its user-space half fills at attach
    /// time (<bpf/usdt.bpf.h> names and sizes), which the object must define.
    static let usdtSpecsMap = "__bpf_usdt_specs", usdtIPMap = "__bpf_usdt_ip_to_spec_id"
    /// `struct __bpf_usdt_spec`: 12 × 16-byte `__bpf_usdt_arg_spec`, u64 cookie, short arg_cnt.
    static let usdtSpecSize = 208, usdtMaxArgs = 12

    /// `ctx.arg(n)` in a USDT program, computed as libbpf's `bpf_usdt_arg()`
    /// does: the attach cookie names the spec libbpf stored for this probe
    /// site; the spec says whether the argument is a constant, a register
    /// (`8@%rax`) or memory at a register plus offset (`-4@-1204(%rbp)`), and
    /// how to narrow and sign-extend it. Absent arguments read as 0.
    func usdtArgument(_ n: Int, ctx: VReg, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        guard n < Self.usdtMaxArgs else { throw error(irep, insn, "USDT probes have at most 12 arguments: ctx.arg(0)…ctx.arg(11)", hint: nil, symbol: "arg") }
        func helper(_ h: String) -> Int32 { HelperPrototype.named(h)!.id }
        let cookie = function.newVReg()
        emit(.call(cookie, helper: helper("get_attach_cookie"), args: [.reg(ctx)]), loc)
        let idSlot = try allocateStack(size: 8, irep, insn), valSlot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: idSlot, value: .reg(cookie), size: 4), loc)
        let key = function.newVReg(), map = function.newVReg(), spec = function.newVReg()
        emit(.frameAddress(key, offset: idSlot), loc)
        emit(.mapAddress(map, name: Self.usdtSpecsMap), loc)
        emit(.call(spec, helper: helper("map_lookup_elem"), args: [.reg(map), .reg(key)]), loc)
        let join = newBlock(), zero = newBlock(), found = newBlock()
        terminate(.branch(.eq, .reg(spec), .imm(0), then: zero, else: found), loc)
        current = zero; emit(.move(dst, .imm(0)), loc); terminate(.jump(join), loc)
        current = found
        let count = function.newVReg()
        emit(.load(count, base: spec, offset: 200, size: 2, signed: true), loc)
        let present = newBlock()
        terminate(.branch(.sle, .reg(count), .imm(Int64(n)), then: zero, else: present), loc)
        current = present
        let a = 16 * n
        let type = function.newVReg(), regOff = function.newVReg(), value = function.newVReg()
        emit(.load(type, base: spec, offset: a + 8, size: 4, signed: false), loc)
        emit(.load(value, base: spec, offset: a, size: 8, signed: false), loc)          // val_off / the constant
        let constant = newBlock(), register = newBlock(), narrow = newBlock()
        terminate(.branch(.eq, .reg(type), .imm(0), then: constant, else: register), loc)
        current = constant; emit(.move(dst, .reg(value)), loc); terminate(.jump(narrow), loc)
        current = register
        emit(.load(regOff, base: spec, offset: a + 12, size: 2, signed: true), loc)
        let addr = function.newVReg(), buf = function.newVReg()
        emit(.binary(.add, addr, .reg(ctx), .reg(regOff)), loc)
        emit(.frameAddress(buf, offset: valSlot), loc)
        emit(.call(nil, helper: helper("probe_read_kernel"), args: [.reg(buf), .imm(8), .reg(addr)]), loc)
        emit(.loadFrame(dst, offset: valSlot, size: 8, signed: false), loc)
        let deref = newBlock()
        terminate(.branch(.eq, .reg(type), .imm(2), then: deref, else: narrow), loc)
        current = deref
        let where_ = function.newVReg(), buf2 = function.newVReg()
        emit(.binary(.add, where_, .reg(dst), .reg(value)), loc)
        emit(.frameAddress(buf2, offset: valSlot), loc)
        emit(.call(nil, helper: helper("probe_read_user"), args: [.reg(buf2), .imm(8), .reg(where_)]), loc)
        emit(.loadFrame(dst, offset: valSlot, size: 8, signed: false), loc)
        terminate(.jump(narrow), loc)
        current = narrow
        // Narrow 1/2/4-byte arguments: shift up, then back (arithmetically if signed).
        let shift = function.newVReg(), signed = function.newVReg()
        emit(.load(shift, base: spec, offset: a + 15, size: 1, signed: false), loc)
        emit(.load(signed, base: spec, offset: a + 14, size: 1, signed: false), loc)
        emit(.binary(.shl, dst, .reg(dst), .reg(shift)), loc)
        let sgn = newBlock(), uns = newBlock()
        terminate(.branch(.ne, .reg(signed), .imm(0), then: sgn, else: uns), loc)
        current = sgn; emit(.binary(.ashr, dst, .reg(dst), .reg(shift)), loc); terminate(.jump(join), loc)
        current = uns; emit(.binary(.lshr, dst, .reg(dst), .reg(shift)), loc); terminate(.jump(join), loc)
        current = join
        return .int(unsigned64: false, nonNegative: false)
    }
}

/// The increment of a `m[k] += n` found in the bytecode (mruby compiles it
/// to `m[k]`, an add and `m[k]=`; the compiler turns the triple into one
/// atomic add).
enum AtomicIncrement { case immediate(Int64), register(Int) }

/// Finds `m[k] op= n` sequences: `MOVE x m; MOVE x+1 k; SEND x :[] 1;
/// …; ADD x / ADDI x n / SUB x / SUBI x n; SEND m :[]= 2` with m+1 = k and
/// m+2 = x. Keys: pcs of both the `[]` and the `[]=`.
func findAtomicIncrements(_ insns: [MInstruction], symbol: (Int) -> String) -> [Int: AtomicIncrement] {
    var out: [Int: AtomicIncrement] = [:]
    for (i, get) in insns.enumerated() where get.op == "SEND" && (get.c & 0x0f) == 1 && symbol(get.b) == "[]" && i >= 2 {
        let x = get.a
        guard insns[i - 2].op == "MOVE", insns[i - 2].a == x, insns[i - 1].op == "MOVE", insns[i - 1].a == x + 1 else { continue }
        let m = insns[i - 2].b, k = insns[i - 1].b
        guard k == m + 1, x == m + 2 else { continue }
        // Skip the increment's computation: it may use x+1… but not x, m, k.
        var j = i + 1
        while j < insns.count {
            let n = insns[j]
            if ["ADD", "ADDI", "SUB", "SUBI"].contains(n.op), n.a == x { break }
            if n.isTerminator || n.a == x || n.a == m || n.a == k { j = insns.count; break }
            j += 1
        }
        guard j + 1 < insns.count else { continue }
        let op = insns[j], set = insns[j + 1]
        guard set.op == "SEND", set.a == m, (set.c & 0x0f) == 2, symbol(set.b) == "[]=" else { continue }
        let inc: AtomicIncrement
        switch op.op {
        case "ADDI": inc = .immediate(Int64(op.b))
        case "SUBI": inc = .immediate(-Int64(op.b))
        case "ADD": inc = .register(x + 1)
        default: continue   // SUB by a register: leave it a read-modify-write
        }
        out[get.pc] = inc
        out[set.pc] = inc
    }
    return out
}
