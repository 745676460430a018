import BPF

// `user_read(T, addr)`: a user-space value of a declared layout, copied with
// `bpf_probe_read_user` — an Integer of a scalar type, or a struct on the
// stack — so that a walk through another program's data structures (a Ruby
// VM's frames) reads like field access.

extension Lowering {
    /// `user_read(:u64, addr)` (any scalar type) is an Integer;
    /// `user_read(Struct, addr)` a copy of the declared struct on the
    /// stack, its fields read by name. What cannot be read (a bad address,
    /// memory paged out) reads as zeros, as the helper leaves it.
    /// Nil for other names.
    func userRead(_ name: String, args: [(VReg, Kind)], frame: Frame, dst: VReg, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        guard name == "user_read" else { return nil }
        let irep = frame.irep
        let hint = "user_read(:u64, addr) reads an Integer, user_read(Frame, addr) a struct declared with `struct`"
        guard args.count == 2 else {
            throw error(irep, insn, "`user_read` takes a type and an address, given \(args.count) argument\(args.count == 1 ? "" : "s")", hint: hint, symbol: name)
        }
        guard case .int = args[1].1 else {
            return try unsettled(.signedInt, error(irep, insn, "the address `user_read` reads from must be an Integer, not \(args[1].1.rubyName)", hint: hint, symbol: name))
        }
        let address = args[1].0
        switch args[0].1 {
        case .symbol(let t):
            guard let st = ScalarType(rawValue: t) else {
                throw error(irep, insn, "unknown type :\(t) for `user_read`", hint: "scalar types: " + ScalarType.names.map { ":" + $0 }.joined(separator: " ") + ", or a struct's name", symbol: name)
            }
            // One word of stack shared by every scalar read: the value is loaded at once.
            let slot: Int
            if let s = userReadSlot { slot = s } else { slot = try allocateStack(size: 8, irep, insn); userReadSlot = slot }
            let buf = newVReg()
            emit(.frameAddress(buf, offset: slot), loc)
            emit(.call(nil, helper: helperID("probe_read_user"), args: [.reg(buf), .imm(Int64(st.size)), .reg(address)]), loc)
            emit(.loadFrame(dst, offset: slot, size: st.size, signed: st.signed), loc)
            return intKind(st)
        case .structType(let s):
            let d = language.structs[s]!
            let site = structSites.id(frame.site + [insn.pc])
            let off = try frameOffset(site: site, type: .structure(s), irep, insn)
            let buf = newVReg()
            emit(.frameAddress(buf, offset: off), loc)
            emit(.call(nil, helper: helperID("probe_read_user"), args: [.reg(buf), .imm(Int64(d.size)), .reg(address)]), loc)
            return .frameObject(.structure(s), site: site)
        default:
            throw error(irep, insn, "`user_read` reads a scalar type (:u64) or a declared struct, not \(args[0].1.rubyName)", hint: hint, symbol: name)
        }
    }
}
