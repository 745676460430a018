import BPF

// Memory of a declared layout: `Event.new` on the stack, fields of records,
// map values and stack structs.

/// Memory of a declared layout: structs on the stack (`Event.new`), ring
/// buffer records and map values behind pointers, their fields.
/// Ids of `Struct.new` sites: the path of call pcs that inlined the frame,
/// then the pc of `new`. One object for a lowering and its scratch copies.
final class StructSites {
    private var ids: [[Int]: Int] = [:]
    func id(_ path: [Int]) -> Int {
        if let i = ids[path] { return i }
        ids[path] = ids.count
        return ids.count - 1
    }
}

extension Lowering {
    /// The stack offset of a struct site: allocated the first time this
    /// lowering meets the site (its `new`, or a use the emission reaches
    /// first), the same offset at every later use.
    func frameOffset(site: Int, type: ValueType, _ irep: Irep?, _ insn: MInstruction?) throws -> Int {
        if let o = structOffsets[site] { return o }
        guard case .structure(let s) = type, let d = language.structs[s] else { throw CompileFailure.internalError("a stack object that is not a struct") }
        guard let off = reserveStack(size: d.size, alignment: max(8, d.alignment)) else {
            if let irep, let insn { throw stackExhausted(irep, insn) }
            throw CompileFailure.internalError("stack exhausted")
        }
        structOffsets[site] = off
        return off
    }

    /// `Event.new`: a zeroed struct on the stack.
    func newStruct(_ s: String, _ frame: Frame, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        let d = language.structs[s]!
        let site = structSites.id(frame.site + [insn.pc])
        let off = try frameOffset(site: site, type: .structure(s), irep, insn)
        var o = 0
        while o < d.size {
            let sz = d.size - o >= 8 ? 8 : (d.size - o >= 4 ? 4 : (d.size - o >= 2 ? 2 : 1))
            emit(.storeFrame(offset: off + o, value: .imm(0), size: sz), loc); o += sz
        }
        return .frameObject(.structure(s), site: site)
    }

    /// The address of memory a kind describes, as an operand.
    func address(of reg: VReg, _ k: Kind, _ loc: SourceLocation) -> VReg? {
        switch k {
        case .pointer(_, false, _): return reg
        case .frameObject(let t, let site):
            guard let off = try? frameOffset(site: site, type: t, nil, nil) else { return nil }
            let a = newVReg(); emit(.frameAddress(a, offset: off), loc); return a
        default: return nil
        }
    }

    /// Puts a value into stack memory of type `t` (for map keys and values);
    /// returns its address. Struct values already in memory are used in place.
    func materialize(_ v: (VReg, Kind), as t: ValueType, _ irep: Irep, _ insn: MInstruction, what: String, _ loc: SourceLocation) throws -> VReg {
        if let a = try stringKey(v, as: t, irep, insn, loc) { return a }
        switch (t, v.1) {
        case (.scalar(let s), .int), (.scalar(let s), .bool), (.scalar(let s), .nil):
            let off = try allocateStack(size: max(s.size, 1), alignment: 8, irep, insn)
            emit(.storeFrame(offset: off, value: v.1 == .nil ? .imm(0) : .reg(v.0), size: s.size), loc)
            let a = newVReg(); emit(.frameAddress(a, offset: off), loc); return a
        case (.structure(let want), .frameObject(.structure(let have), _)) where want == have:
            return address(of: v.0, v.1, loc)!
        case (.structure(let want), .pointer(.structure(let have), false, _)) where want == have:
            return v.0
        default:
            return try unsettled(v.0, error(irep, insn, "\(what) must be \(t), not \(v.1.rubyName)", hint: nil))
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
            return try unsettled(.signedInt, error(irep, insn, "struct \(sname) has no field `\(fname)`", hint: "fields: " + s.fields.map(\.name).joined(separator: ", "), symbol: fname))
        }
        // Base register and offset of the field.
        let base: VReg, off: Int
        switch k {
        case .frameObject(let t, let site):
            base = newVReg(); emit(.frameAddress(base, offset: try frameOffset(site: site, type: t, irep, insn)), loc); off = f.offset
        default:
            base = R[receiverReg]; off = f.offset
        }
        if !setter { return try fieldRead(f, fname, base: base, offset: off, dst: R[insn.a], irep, insn, loc) }
        return try fieldWrite(f, fname, base: base, offset: off, value: args[0], irep, insn, loc)
    }

    /// `e.field`: an Integer field's value, or a char array's address.
    func fieldRead(_ f: FieldDecl, _ fname: String, base: VReg, offset off: Int, dst: VReg,
                   _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        switch f.type {
        case .scalar(let st):
            emit(.load(dst, base: base, offset: off, size: st.size, signed: st.signed), loc)
            return intKind(st)
        case .chars(let n):
            // The array's address, to copy it as a string or compare it.
            emit(.binary(.add, dst, .reg(base), .imm(Int64(off))), loc)
            return .charArray(n)
        default:
            return try unsettled(.signedInt, error(irep, insn, "reading field `\(fname)` (\(f.type)) is not supported in bodies yet", hint: nil, symbol: fname))
        }
    }

    /// `e.field = v`: an Integer stored, or a string copied into a char array.
    func fieldWrite(_ f: FieldDecl, _ fname: String, base: VReg, offset off: Int, value: (VReg, Kind),
                    _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        switch (f.type, value.1) {
        case (.scalar(let st), .int), (.scalar(let st), .bool), (.scalar(let st), .nil):
            emit(.store(base: base, offset: off, value: value.1 == .nil ? .imm(0) : .reg(value.0), size: st.size), loc)
        case (.chars(let n), .comm), (.chars(let n), .cString), (.chars(let n), .charArray):
            copyString(value, into: base, offset: off, size: n, loc)
        case (.chars(let n), .string(let s)):
            // A literal: its bytes and then NULs to the field's end, as
            // immediates (no helper call), so a field set twice holds no tail.
            let bytes = Array(s.utf8)
            guard bytes.count < n, !bytes.contains(0) else {
                return try unsettled(value.1, error(irep, insn, "the string \"\(s)\" has \(bytes.count) bytes: field `\(fname)` (\(f.type)) holds at most \(n - 1) and a NUL",
                                                   hint: "use a shorter string, or declare the field longer", symbol: fname))
            }
            storeBytes(bytes + [UInt8](filled: 0, count: n - bytes.count), base: base, offset: off, loc)
        default:
            return try unsettled(.signedInt, error(irep, insn, "field `\(fname)` (\(f.type)) cannot be set from \(value.1.rubyName)",
                                                   hint: { if case .chars = f.type { return "a char array takes `comm`, a string literal, another char array or a string pointer such as ctx.filename or user_string(p)" }; return nil }(), symbol: fname))
        }
        return value.1
    }

    /// Stores `bytes` at `base + off` as immediates, each store as wide as
    /// the offset's alignment allows (the verifier wants aligned stack
    /// stores; a struct's base is 8-aligned).
    func storeBytes(_ bytes: [UInt8], base: VReg, offset off: Int, _ loc: SourceLocation) {
        var o = 0
        while o < bytes.count {
            let sz = [8, 4, 2, 1].first { (off + o) % $0 == 0 && o + $0 <= bytes.count }!
            var v: UInt64 = 0
            for j in 0..<sz { v |= UInt64(bytes[o + j]) << (8 * UInt64(j)) }
            emit(.store(base: base, offset: off + o, value: .imm(Int64(bitPattern: v)), size: sz), loc)
            o += sz
        }
    }
}
