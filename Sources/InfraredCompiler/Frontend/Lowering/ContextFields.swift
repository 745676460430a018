import BPF

// The context: fields of the program's context struct, `ctx.arg(n)` and
// `ctx.ret` per program kind (pt_regs, raw tracepoint args, USDT specs).
// The typed BTF arguments of fentry/fexit/tp_btf/lsm programs are context
// fields too (BTFArgumentLayout), with their diagnostics in BTFArguments.swift.

/// What a program reads from its context: the fields of its context struct
/// (`ctx.len`), and the probed function's arguments (`ctx.arg(n)`, `ctx.ret`).
extension Lowering {

    /// `ctx.field`: a load of the field's exact size at its constant offset
    /// (the verifier requires both for context accesses).
    func contextField(_ name: String, base: VReg, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        guard let layout = context else {
            throw error(irep, insn, "this program's context has no fields known to the compiler", hint: nil, symbol: name)
        }
        guard let f = layout.fields.first(where: { $0.name == name }) else {
            if let function = layout.argumentsOf { throw noSuchArgument(name, of: function, layout: layout, irep: irep, insn: insn) }
            throw error(irep, insn, "struct \(layout.structName) has no field `\(name)`",
                        hint: "fields: " + layout.fields.map(\.name).joined(separator: ", "), symbol: name)
        }
        guard [1, 2, 4, 8].contains(f.size) || f.use == .inlineChars else {
            throw error(irep, insn, "field `\(name)` of struct \(layout.structName) is not an integer", hint: nil, symbol: name)
        }
        switch f.use {
        case .integer:
            emit(.load(dst, base: base, offset: f.offset, size: f.size, signed: f.signed), loc)
            return .int(unsigned64: f.size == 8 && !f.signed, nonNegative: !f.signed || f.size == 8 && !f.signed)
        case .dataLocString:
            // The record's offset of the string is the low 16 bits of the u32.
            let loc32 = newVReg()
            emit(.load(loc32, base: base, offset: f.offset, size: 4, signed: false), loc)
            emit(.binary(.and, loc32, .reg(loc32), .imm(0xffff)), loc)
            emit(.binary(.add, dst, .reg(base), .reg(loc32)), loc)
            return .cString(user: false, capacity: nil)
        case .stringPointer(let user):
            emit(.load(dst, base: base, offset: f.offset, size: 8, signed: false), loc)
            return .cString(user: user, capacity: nil)
        case .inlineChars:
            // The string is in the record: its address (read as a kernel string, at most f.size bytes).
            emit(.binary(.add, dst, .reg(base), .imm(Int64(f.offset))), loc)
            return .cString(user: false, capacity: f.size)
        case .kernelPointer(let s):
            emit(.load(dst, base: base, offset: f.offset, size: 8, signed: false), loc)
            return .kernel(s)
        }
    }

    /// `ctx.arg(n)` (a constant n) and `ctx.ret`; nil for other names.
    func contextCall(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        switch (name, args.count) {
        case ("arg", 1):
            guard case .int = args[0].1, let n = constantOf(args[0].0) else {
                throw error(irep, insn, "`ctx.arg` takes a constant argument number", hint: "ctx.arg(0)", symbol: name)
            }
            return try contextArgument(Int(n), base: dst, dst: dst, irep: irep, insn: insn, loc: loc)
        case ("ret", 0):
            return try contextArgument(-1, base: dst, dst: dst, irep: irep, insn: insn, loc: loc)
        default: return nil
        }
    }

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
            // `ctx.ret` is the register as `long` (negative for errors); arguments stay unsigned.
            return n < 0 ? .signedInt : .int(unsigned64: true, nonNegative: true)
        case _ where declaration.kind.btfArguments != nil:
            throw btfArgumentCall(n, irep: irep, insn: insn)
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
        let cookie = newVReg()
        emit(.call(cookie, helper: helperID("get_attach_cookie"), args: [.reg(ctx)]), loc)
        let idSlot = try allocateStack(size: 8, irep, insn), valSlot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: idSlot, value: .reg(cookie), size: 4), loc)
        let key = newVReg(), map = newVReg(), spec = newVReg()
        emit(.frameAddress(key, offset: idSlot), loc)
        emit(.mapAddress(map, name: SymbolName(Self.usdtSpecsMap)), loc)
        emit(.call(spec, helper: helperID("map_lookup_elem"), args: [.reg(map), .reg(key)]), loc)
        let join = newBlock(), zero = newBlock(), found = newBlock()
        terminate(.branch(.eq, .reg(spec), .imm(0), then: zero, else: found), loc)
        ir.current = zero; emit(.move(dst, .imm(0)), loc); terminate(.jump(join), loc)
        ir.current = found
        let count = newVReg()
        emit(.load(count, base: spec, offset: 200, size: 2, signed: true), loc)
        let present = newBlock()
        terminate(.branch(.sle, .reg(count), .imm(Int64(n)), then: zero, else: present), loc)
        ir.current = present
        let a = 16 * n
        let type = newVReg(), regOff = newVReg(), value = newVReg()
        emit(.load(type, base: spec, offset: a + 8, size: 4, signed: false), loc)
        emit(.load(value, base: spec, offset: a, size: 8, signed: false), loc)          // val_off / the constant
        let constant = newBlock(), register = newBlock(), narrow = newBlock()
        terminate(.branch(.eq, .reg(type), .imm(0), then: constant, else: register), loc)
        ir.current = constant; emit(.move(dst, .reg(value)), loc); terminate(.jump(narrow), loc)
        ir.current = register
        emit(.load(regOff, base: spec, offset: a + 12, size: 2, signed: true), loc)
        let addr = newVReg(), buf = newVReg()
        emit(.binary(.add, addr, .reg(ctx), .reg(regOff)), loc)
        emit(.frameAddress(buf, offset: valSlot), loc)
        emit(.call(nil, helper: helperID("probe_read_kernel"), args: [.reg(buf), .imm(8), .reg(addr)]), loc)
        emit(.loadFrame(dst, offset: valSlot, size: 8, signed: false), loc)
        let deref = newBlock()
        terminate(.branch(.eq, .reg(type), .imm(2), then: deref, else: narrow), loc)
        ir.current = deref
        let where_ = newVReg(), buf2 = newVReg()
        emit(.binary(.add, where_, .reg(dst), .reg(value)), loc)
        emit(.frameAddress(buf2, offset: valSlot), loc)
        emit(.call(nil, helper: helperID("probe_read_user"), args: [.reg(buf2), .imm(8), .reg(where_)]), loc)
        emit(.loadFrame(dst, offset: valSlot, size: 8, signed: false), loc)
        terminate(.jump(narrow), loc)
        ir.current = narrow
        // Narrow 1/2/4-byte arguments: shift up, then back (arithmetically if signed).
        let shift = newVReg(), signed = newVReg()
        emit(.load(shift, base: spec, offset: a + 15, size: 1, signed: false), loc)
        emit(.load(signed, base: spec, offset: a + 14, size: 1, signed: false), loc)
        emit(.binary(.shl, dst, .reg(dst), .reg(shift)), loc)
        let sgn = newBlock(), uns = newBlock()
        terminate(.branch(.ne, .reg(signed), .imm(0), then: sgn, else: uns), loc)
        ir.current = sgn; emit(.binary(.ashr, dst, .reg(dst), .reg(shift)), loc); terminate(.jump(join), loc)
        ir.current = uns; emit(.binary(.lshr, dst, .reg(dst), .reg(shift)), loc); terminate(.jump(join), loc)
        ir.current = join
        return .int(unsigned64: false, nonNegative: false)
    }
}
