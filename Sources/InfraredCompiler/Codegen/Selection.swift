import BPF

/// Instruction selection: IR → machine IR over virtual registers. Fixed
/// registers appear only where BPF's calling convention demands them (the
/// context in R1 at entry, helper arguments in R1–R5, results in R0).
struct Selection {
    private var f: MFunction
    private var current: [MInstruction2] = []
    /// CO-RE constants whose only use is as the right operand of an add.
    private var coreOnlyAdded = Set<VReg>()
    private var coreOffsets: [VReg: (value: Int64, relocation: Int)] = [:]
    /// `%a = add %p, %core` read only by one `load [%a + 0]`: the load takes
    /// `%p` and the CO-RE offset itself (libbpf patches a load's offset).
    private var coreLoadAddresses: [VReg: (base: VReg, offset: VReg)] = [:]
    private var loc = SourceLocation.none

    static func select(_ ir: IRFunction) -> MFunction {
        var s = Selection(f: MFunction(name: ir.name, blocks: [], vregCount: ir.vregCount))
        s.f.stackSize = ir.stackSize
        // Reads of each register, and reads as an `add`'s second operand, by register number.
        var uses = [Int](filled: 0, count: ir.vregCount), addUses = uses
        // Blocks read in place (`instructions(of:)`): a loop over `ir.blocks`
        // copies each block out of the array.
        for b in ir.blocks.indices {
            for (i, _) in ir.instructions(of: b) {
                i.forEachUse { uses[$0.id] += 1 }
                if case .binary(.add, _, .reg(let a), .reg(let c)) = i, a != c { addUses[c.id] += 1 }
            }
            ir.terminator(of: b).forEachUse { uses[$0.id] += 1 }
        }
        for b in ir.blocks.indices {
            for (i, _) in ir.instructions(of: b) {
                if case .coreConstant(let d, _, _) = i, uses[d.id] == addUses[d.id], uses[d.id] > 0 { s.coreOnlyAdded.insert(d) }
            }
        }
        let definitions = Definitions(ir)
        /// One value for the whole run: one definition (the context: its entry value only).
        func once(_ r: VReg) -> Bool { definitions.count(r) == (r == ir.context ? 0 : 1) }
        var loadsOnly: [VReg: Int] = [:], coreValue: [VReg: Int64] = [:]
        for b in ir.blocks.indices {
            for (i, _) in ir.instructions(of: b) {
                if case .load(_, let a, 0, _, _) = i { loadsOnly[a, default: 0] += 1 }
                if case .coreConstant(let d, let v, _) = i { coreValue[d] = v }
            }
        }
        // `%p` must hold at the load what it held at the add: one definition
        // (which dominates both), as must `%a`.
        for b in ir.blocks.indices {
            for (i, _) in ir.instructions(of: b) {
                guard case .binary(.add, let a, .reg(let p), .reg(let c)) = i, s.coreOnlyAdded.contains(c),
                      once(a), uses[a.id] == 1, loadsOnly[a] == 1, once(p), p != a,
                      let v = coreValue[c], Int16(exactly: v) != nil else { continue }
                s.coreLoadAddresses[a] = (p, c)
            }
        }
        s.f.blocks.reserveCapacity(ir.blocks.count)
        for b in ir.blocks.indices {
            let instructions = ir.instructions(of: b)
            // Room for what most blocks become (a call's arguments, a branch
            // and a jump add instructions): appends from empty grew each
            // block's array two or three times.
            s.current = []
            s.current.reserveCapacity(instructions.count + instructions.count / 2 + 4)
            if b == 0 { s.loc = instructions.first?.1 ?? ir.blocks[b].terminatorLocation; s.put(.mov(.v(ir.context.id), .reg(.p(.r1)))) }
            for (insn, loc) in instructions { s.loc = loc; s.select(insn) }
            s.loc = ir.blocks[b].terminatorLocation
            s.select(ir.terminator(of: b), next: b + 1)
            s.f.blocks.append(MBlock(instructions: s.current))
        }
        return s.f
    }

    private mutating func put(_ op: MOp) { current.append(MInstruction2(op: op, location: loc)) }
    private mutating func temp() -> MReg { defer { f.vregCount += 1 }; return .v(f.vregCount) }
    private func reg(_ v: VReg) -> MReg { .v(v.id) }

    /// An operand as an instruction source: immediates that fit in 32 bits
    /// (sign-extended by BPF) stay immediates.
    private mutating func source(_ o: Operand) -> MSource {
        switch o {
        case .reg(let r): return .reg(reg(r))
        case .imm(let i):
            if let i32 = Int32(exactly: i) { return .imm(i32) }
            let t = temp(); put(.loadImm64(t, i, relocation: nil)); return .reg(t)
        }
    }
    private mutating func register(_ o: Operand) -> MReg {
        switch source(o) {
        case .reg(let r): return r
        case .imm(let i): let t = temp(); put(.mov(t, .imm(i))); return t
        }
    }
    private mutating func move(_ d: MReg, _ o: Operand) {
        let s = source(o)
        if s != .reg(d) { put(.mov(d, s)) }
    }

    private mutating func select(_ insn: IRInstruction) {
        switch insn {
        case .binary(.add, let d, _, _) where coreLoadAddresses[d] != nil:
            break   // folded into the load that reads through it
        case .move(let d, let a):
            move(reg(d), a)
        case .neg(let d, let a):
            move(reg(d), a); put(.neg(reg(d)))
        case .binary(let op, let d, let a, let b):
            binary(op, reg(d), a, b)
        case .setcc(let c, let d, let a, let b):
            var (c, a, b) = (c, a, b)
            if case .imm = a { swap(&a, &b); c = c.swapped }
            let ra = register(a)
            // setcc writes its result before comparing: compute into a fresh
            // register (the allocator keeps it apart from the operands), then copy.
            let t = temp()
            put(.setcc(jumpOp(c), t, ra, source(b)))
            put(.mov(reg(d), .reg(t)))
        case .load(let d, let base, 0, let size, let signed) where coreLoadAddresses[base] != nil:
            let (p, c) = coreLoadAddresses[base]!, core = coreOffsets[c]!
            put(.loadCore(sizeModifier(size), reg(d), base: reg(p), offset: Int16(truncatingIfNeeded: core.value), relocation: core.relocation))
            extend(reg(d), size: size, signed: signed)
        case .load(let d, let base, let off, let size, let signed):
            put(.load(sizeModifier(size), reg(d), base: reg(base), offset: Int16(off)))
            extend(reg(d), size: size, signed: signed)
        case .stringAddress(let d, let off):
            put(.loadImm64(reg(d), Int64(off), relocation: .stringLiteral(offset: off)))
        case .mapAddress(let d, let name):
            put(.loadImm64(reg(d), 0, relocation: .map(name)))
        case .variableAddress(let d, let name):
            put(.loadImm64(reg(d), 0, relocation: .variable(name)))
        case .frameAddress(let d, let off):
            put(.mov(reg(d), .reg(.p(.r10)))); put(.alu(.add, reg(d), .imm(Int32(off))))
        case .loadFrame(let d, let off, let size, let signed):
            put(.load(sizeModifier(size), reg(d), base: .p(.r10), offset: Int16(off)))
            extend(reg(d), size: size, signed: signed)
        case .storeFrame(let off, let v, let size):
            put(.store(sizeModifier(size), base: .p(.r10), offset: Int16(off), storeSource(v)))
        case .store(let base, let off, let v, let size):
            put(.store(sizeModifier(size), base: reg(base), offset: Int16(off), storeSource(v)))
        case .atomicAdd(let base, let off, let v, let size):
            put(.atomicAdd(sizeModifier(size), base: reg(base), offset: Int16(off), reg(v)))
        case .coreConstant(let d, let v, let r):
            if coreOnlyAdded.contains(d) {
                coreOffsets[d] = (v, r)       // folded into the add that uses it
            } else {
                put(.movCore(reg(d), Int32(truncatingIfNeeded: v), relocation: r))
            }
        case .call(let d, let helper, let args):
            for (i, a) in args.enumerated() { put(.mov(.p(Register.arguments[i]), source(a))) }
            put(.call(helper, argc: args.count))
            if let d { put(.mov(reg(d), .reg(.p(.r0)))) }
        }
    }

    private func sizeModifier(_ size: Int) -> SizeModifier { SizeModifier(bytes: size)! }

    /// BPF loads zero-extend; a signed field is sign-extended by shifts.
    private mutating func extend(_ d: MReg, size: Int, signed: Bool) {
        if signed && size < 8 {
            put(.alu(.lsh, d, .imm(Int32(64 - size * 8))))
            put(.alu(.arsh, d, .imm(Int32(64 - size * 8))))
        }
    }

    /// A stored value: `st` takes a 32-bit immediate (sign-extended for 8-byte stores).
    private mutating func storeSource(_ o: Operand) -> MSource {
        if case .imm(let i) = o, let i32 = Int32(exactly: i) { return .imm(i32) }
        if case .imm(let i) = o { return .reg(register(.imm(i))) }
        return source(o)
    }

    private mutating func binary(_ op: BinaryOp, _ d: MReg, _ a: Operand, _ b: Operand) {
        var (a, b) = (a, b)
        if case .imm = a, case .reg = b, op.isCommutative { swap(&a, &b) }
        switch op {
        case .sdiv, .smod:
            signedDivision(op, d, a, b); return
        case .shl, .lshr, .ashr:
            if case .imm(let n) = b, n >= 64 || n < 0 {
                // Everything shifted out (counts ≥ 64 keep Ruby's meaning).
                if op == .ashr { move(d, a); put(.alu(.arsh, d, .imm(63))) } else { put(.mov(d, .imm(0))) }
                return
            }
        case .bswap:
            guard case .imm(let w) = b else { preconditionFailure("bswap takes a constant width") }
            move(d, a)
            put(.byteSwap(d, bits: BinaryOp.byteSwapWidth(w)))
            return
        case .udiv, .umod:
            if case .imm(0) = b {
                if op == .udiv { put(.mov(d, .imm(0))) } else { move(d, a) }
                return
            }
        default: break
        }
        if op == .and, case .imm(0xffff_ffff) = b {
            // Zero-extending the low half is one 32-bit move.
            put(.mov32(d, register(a)))
            return
        }
        if op == .add, case .reg(let off) = b, let core = coreOffsets[off] {
            // base + CO-RE offset: libbpf patches the add's immediate directly.
            move(d, a)
            put(.addCore(d, Int32(truncatingIfNeeded: core.value), relocation: core.relocation))
            return
        }
        // A switch, not a dictionary literal: that was built for every
        // instruction (a tenth of selection's time in a long body).
        let alu: ALUOp
        switch op {
        case .add: alu = .add
        case .sub: alu = .sub
        case .mul: alu = .mul
        case .udiv: alu = .div
        case .umod: alu = .mod
        case .and: alu = .and
        case .or: alu = .or
        case .xor: alu = .xor
        case .shl: alu = .lsh
        case .lshr: alu = .rsh
        case .ashr: alu = .arsh
        case .sdiv, .smod: preconditionFailure("signed division is expanded above")
        case .bswap: preconditionFailure("bswap is selected above")
        }
        // Two-address form: d = a; d op= b. If b lives in d, go through a temporary.
        if b == .reg(VReg(id: vregID(d))), a != b {
            let t = temp()
            move(t, a); put(.alu(alu, t, source(b))); put(.mov(d, .reg(t)))
            return
        }
        move(d, a)
        put(.alu(alu, d, source(b)))
    }

    private func vregID(_ r: MReg) -> Int { if case .v(let i) = r { return i }; return -1 }

    /// Ruby's floored signed division and modulo, branch-free over BPF's
    /// unsigned `div`/`mod` (which older kernels' ISA is limited to).
    private mutating func signedDivision(_ op: BinaryOp, _ d: MReg, _ a: Operand, _ b: Operand) {
        if case .imm(let k) = b, k > 0, k <= Int64(Int32.max) {
            // Floored division by a power of two is an arithmetic shift, and
            // floored modulo a mask, for every sign of the dividend.
            if k & (k - 1) == 0 {
                move(d, a)
                if op == .sdiv { if k > 1 { put(.alu(.arsh, d, .imm(Int32(k.trailingZeroBitCount)))) } }
                else { put(.alu(.and, d, .imm(Int32(k - 1)))) }
                return
            }
            // A positive constant divisor: only the dividend's sign matters.
            let sa = temp(), ua = temp(), r = temp(), nz = temp()
            move(sa, a); put(.alu(.arsh, sa, .imm(63)))
            move(ua, a); put(.alu(.xor, ua, .reg(sa))); put(.alu(.sub, ua, .reg(sa)))
            put(.mov(r, .reg(ua))); put(.alu(.mod, r, .imm(Int32(k))))
            put(.mov(nz, .reg(r))); put(.neg(nz)); put(.alu(.or, nz, .reg(r))); put(.alu(.rsh, nz, .imm(63)))
            put(.alu(.and, nz, .reg(sa)))                                   // 1 when a < 0 and r != 0
            if op == .sdiv {
                let q = temp()
                put(.mov(q, .reg(ua))); put(.alu(.div, q, .imm(Int32(k))))
                put(.alu(.xor, q, .reg(sa))); put(.alu(.sub, q, .reg(sa)))
                put(.mov(d, .reg(q))); put(.alu(.sub, d, .reg(nz)))
            } else {
                let m = temp()
                put(.neg(nz))
                put(.mov(m, .imm(Int32(k)))); put(.alu(.sub, m, .reg(r)))   // k - r
                put(.alu(.xor, m, .reg(r))); put(.alu(.and, m, .reg(nz))); put(.alu(.xor, m, .reg(r)))
                put(.mov(d, .reg(m)))
            }
            return
        }
        let sa = temp(), ua = temp(), sb = temp(), ub = temp(), r = temp(), nz = temp()
        move(sa, a); put(.alu(.arsh, sa, .imm(63)))
        move(ua, a); put(.alu(.xor, ua, .reg(sa))); put(.alu(.sub, ua, .reg(sa)))
        move(sb, b); put(.alu(.arsh, sb, .imm(63)))
        move(ub, b); put(.alu(.xor, ub, .reg(sb))); put(.alu(.sub, ub, .reg(sb)))
        put(.mov(r, .reg(ua))); put(.alu(.mod, r, .reg(ub)))
        put(.mov(nz, .reg(r))); put(.neg(nz)); put(.alu(.or, nz, .reg(r))); put(.alu(.rsh, nz, .imm(63)))
        let sq = temp()
        put(.mov(sq, .reg(sa))); put(.alu(.xor, sq, .reg(sb)))          // 0 or -1: signs differ
        if op == .sdiv {
            let q = temp()
            put(.mov(q, .reg(ua))); put(.alu(.div, q, .reg(ub)))
            put(.alu(.xor, q, .reg(sq))); put(.alu(.sub, q, .reg(sq)))   // negate when signs differ
            put(.alu(.and, nz, .reg(sq)))                                 // round toward -∞
            put(.mov(d, .reg(q))); put(.alu(.sub, d, .reg(nz)))
        } else {
            put(.alu(.and, nz, .reg(sq))); put(.neg(nz))                  // -1 when adjusting
            let m = temp()
            put(.mov(m, .reg(ub))); put(.alu(.sub, m, .reg(r)))            // ub - r
            put(.alu(.xor, m, .reg(r))); put(.alu(.and, m, .reg(nz))); put(.alu(.xor, m, .reg(r)))
            put(.alu(.xor, m, .reg(sb))); put(.alu(.sub, m, .reg(sb)))     // sign of the divisor
            put(.mov(d, .reg(m)))
        }
    }

    private mutating func select(_ t: Terminator, next: Int) {
        switch t {
        case .jump(let target):
            put(.jump(target: target))
        case .branch(var c, var a, var b, let th, let el):
            if case .imm = a { swap(&a, &b); c = c.swapped }
            let ra = register(a), sb = source(b)
            if th == next {
                put(.branch(jumpOp(c.negated), ra, sb, target: el))
            } else {
                put(.branch(jumpOp(c), ra, sb, target: th))
                put(.jump(target: el))
            }
        case .ret(let v):
            move(.p(.r0), v)
            put(.exit)
        case .unreachable:
            put(.mov(.p(.r0), .imm(0))); put(.exit)
        }
    }

    private func jumpOp(_ c: Condition) -> JumpOp {
        switch c {
        case .eq: return .jeq; case .ne: return .jne
        case .ugt: return .jgt; case .uge: return .jge; case .ult: return .jlt; case .ule: return .jle
        case .sgt: return .jsgt; case .sge: return .jsge; case .slt: return .jslt; case .sle: return .jsle
        }
    }
}
