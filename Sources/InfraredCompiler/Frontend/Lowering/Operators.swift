import BPF

// Integer operators and comparisons, with Ruby's meaning where BPF's differs
// (shift counts, signedness of comparisons and division).

extension Lowering {
    /// The operator of each arithmetic and comparison opcode (mruby's
    /// shortcuts for `+ - * / == < <= > >=` on R[a] and R[a+1]).
    static let operatorSymbols: [MRubyOpcode: String] = [.add: "+", .sub: "-", .mul: "*", .div: "/", .eq: "==", .lt: "<", .le: "<=", .gt: ">", .ge: ">="]

    /// `ADD`…`GE` on R[a] and R[a+1]; `ADDI`/`SUBI` with an immediate.
    func lowerArithmetic(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep, R = frame.regs
        switch insn.op {
        case .addi, .subi:
            let sym = insn.op == .addi ? "+" : "-"
            kinds[insn.a] = try binary(sym, dst: R[insn.a], lhs: (R[insn.a], kinds[insn.a]), rhs: (.imm(Int64(insn.b)), .int(unsigned64: false, nonNegative: true)), irep, insn, loc)
        default:
            let sym = Self.operatorSymbols[insn.op]!
            kinds[insn.a] = try binary(sym, dst: R[insn.a], lhs: (R[insn.a], kinds[insn.a]), rhs: (.reg(R[insn.a + 1]), kinds[insn.a + 1]), irep, insn, loc)
        }
    }

    /// Lowers `lhs <op> rhs` into `dst`; returns the result's kind.
    func binary(_ op: String, dst: VReg, lhs: (VReg, Kind), rhs: (Operand, Kind), _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        let (l, lk) = lhs, (r, rk) = rhs
        if let k = try stringCompare(op, dst: dst, lhs: lhs, rhs: rhs, irep, insn, loc) { return k }
        if case .bool = lk, case .bool = rk, ["==", "!=", "&", "|", "^"].contains(op) {
            switch op {
            case "==": emit(.setcc(.eq, dst, .reg(l), r), loc)
            case "!=": emit(.setcc(.ne, dst, .reg(l), r), loc)
            case "&": emit(.binary(.and, dst, .reg(l), r), loc)
            case "|": emit(.binary(.or, dst, .reg(l), r), loc)
            default: emit(.binary(.xor, dst, .reg(l), r), loc)
            }
            return .bool
        }
        guard case .int(let lu, let ln) = lk, case .int(let ru, let rn) = rk else {
            let which = { () -> Kind in if case .int = lk { return rk }; return lk }()
            return try unsettled(.signedInt, error(irep, insn, "`\(op)` needs Integer operands, not \(which.rubyName)",
                                                   hint: which == .bool ? "true/false are not numbers; use a conditional (`c ? 1 : 0`)" : nil))
        }
        try checkSignedness(op, lhs: (l, lk), rhs: (r, rk), irep, insn)
        // Comparisons are unsigned when a u64 meets a u64 or a non-negative value.
        let unsignedCompare = (lu && (ru || rn)) || (ru && (lu || ln))
        func cmp(_ s: Condition, _ u: Condition) -> Kind {
            emit(.setcc(unsignedCompare ? u : s, dst, .reg(l), r), loc); return .bool
        }
        let nonNegative = ln && rn
        let bothUnsigned = (lu || ln) && (ru || rn)
        switch op {
        // Unsigned by type (docs/language.md, "Unsigned values"): a u64 with
        // a u64 or a non-negative value sums, subtracts and multiplies to a
        // u64 (wrapping, as in C), so `/`, `%`, `>>` and comparisons on the
        // result are unsigned; anything else is a signed Ruby Integer.
        case "+": emit(.binary(.add, dst, .reg(l), r), loc); return unsignedCompare ? .unsignedInt : .signedInt
        case "-": emit(.binary(.sub, dst, .reg(l), r), loc); return unsignedCompare ? .unsignedInt : .signedInt
        case "*": emit(.binary(.mul, dst, .reg(l), r), loc); return unsignedCompare ? .unsignedInt : .signedInt
        case "/": emit(.binary(bothUnsigned ? .udiv : .sdiv, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && bothUnsigned, nonNegative: nonNegative)
        case "%": emit(.binary(bothUnsigned ? .umod : .smod, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && bothUnsigned, nonNegative: nonNegative || (bothUnsigned && !lu))
        case "&": emit(.binary(.and, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && ru, nonNegative: ln || rn)
        case "|": emit(.binary(.or, dst, .reg(l), r), loc); return .int(unsigned64: lu && ru, nonNegative: nonNegative)
        case "^": emit(.binary(.xor, dst, .reg(l), r), loc); return .int(unsigned64: lu && ru, nonNegative: nonNegative)
        case "<<": try shift(.shl, dst, l, r, loc); return .signedInt
        case ">>": try shift(lu || ln ? .lshr : .ashr, dst, l, r, loc); return .int(unsigned64: lu, nonNegative: ln || lu)
        case "==", "===": return cmp(.eq, .eq)
        case "!=": return cmp(.ne, .ne)
        case "<": return cmp(.slt, .ult)
        case "<=": return cmp(.sle, .ule)
        case ">": return cmp(.sgt, .ugt)
        case ">=": return cmp(.sge, .uge)
        default:
            throw error(irep, insn, "Integer#\(op) is not available in a BPF program body",
                        hint: "available: + - * / % & | ^ << >> == != < <= > >=")
        }
    }

    /// Shifts with Ruby's meaning for counts ≥ 64 (all bits shifted out) and
    /// negative constant counts (the other direction).
    func shift(_ op: BinaryOp, _ dst: VReg, _ l: VReg, _ r: Operand, _ loc: SourceLocation) throws {
        if case .imm(let n) = r {
            if n < 0 {
                let back: BinaryOp = op == .shl ? .ashr : .shl
                emit(.binary(back, dst, .reg(l), .imm(n == .min ? 64 : -n)), loc)
            } else {
                emit(.binary(op, dst, .reg(l), .imm(n)), loc)
            }
            return
        }
        if case .reg(let c) = r, countBelow64(c) {
            emit(.binary(op, dst, .reg(l), r), loc)
            return
        }
        // Variable count: BPF masks it to 0…63; Ruby shifts everything out.
        // Clamp (unsigned) counts ≥ 64: shl/lshr give 0, ashr gives the sign.
        let big = newVReg(), t = newVReg()
        emit(.binary(op, t, .reg(l), r), loc)
        emit(.setcc(.ugt, big, r, .imm(63)), loc)
        if op == .ashr {
            let sign = newVReg(), mask = newVReg(), keep = newVReg(), fill = newVReg()
            emit(.binary(.ashr, sign, .reg(l), .imm(63)), loc)
            emit(.neg(mask, .reg(big)), loc)                       // -1 when count ≥ 64
            emit(.binary(.and, fill, .reg(sign), .reg(mask)), loc)
            emit(.binary(.xor, keep, .reg(mask), .imm(-1)), loc)
            emit(.binary(.and, t, .reg(t), .reg(keep)), loc)
            emit(.binary(.or, dst, .reg(t), .reg(fill)), loc)
        } else {
            let keep = newVReg()
            emit(.binary(.sub, keep, .reg(big), .imm(1)), loc)     // 0 when count ≥ 64, else -1
            emit(.binary(.and, dst, .reg(t), .reg(keep)), loc)
        }
    }

    /// Whether a shift count is known to be 0…63: it was just masked with a
    /// constant below 64 (`x >> (i & 7)`), in this block.
    func countBelow64(_ r: VReg) -> Bool {
        var target = r
        for (i, _) in ir.currentInstructions.reversed() where i.definition == target {
            switch i {
            case .binary(.and, _, _, .imm(let k)), .binary(.and, _, .imm(let k), _): return k >= 0 && k < 64
            case .binary(.and, _, .reg(let a), .reg(let b)):
                if let k = constantOf(b) ?? constantOf(a) { return k >= 0 && k < 64 }
                return false
            case .binary(.umod, _, _, .imm(let k)): return k > 0 && k <= 64
            case .move(_, .reg(let s)): target = s
            case .move(_, .imm(let k)): return k >= 0 && k < 64
            default: return false
            }
        }
        return false
    }

    /// `-x`, `+x`, `~x`, `!x` and `x.zero?`, in place in `r`; nil for
    /// other methods.
    func unary(_ name: String, _ receiver: Kind, _ r: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        switch (name, receiver) {
        case ("-@", .int):
            emit(.neg(r, .reg(r)), loc); return .signedInt
        case ("+@", .int): return receiver
        case ("~", .int(let u, _)):
            emit(.binary(.xor, r, .reg(r), .imm(-1)), loc); return .int(unsigned64: u, nonNegative: false)
        case ("!", .bool):
            emit(.binary(.xor, r, .reg(r), .imm(1)), loc); return .bool
        case ("!", .nil), ("!", .unset):
            emit(.move(r, .imm(1)), loc); return .bool
        case ("!", .int):
            return try unsettled(.bool, error(irep, insn, "`!` of an Integer is always false in Ruby", hint: "compare explicitly, e.g. `x == 0`", symbol: name))
        case ("zero?", .int):
            emit(.setcc(.eq, r, .reg(r), .imm(0)), loc); return .bool
        default: return nil
        }
    }
}
