import BPF

// Comparisons whose result signedness alone decides: an unsigned value
// `< 0` is never true, `>= 0` always. Almost always a bug (a value the
// program meant as signed, such as an error return read as unsigned), so it
// is a compile error rather than a constant.

extension Lowering {
    /// `x < 0`, `x >= 0`, `0 > x`, `0 <= x` where `x` cannot be negative: a
    /// compile error naming the value's type.
    func checkSignedness(_ op: String, lhs: (VReg, Kind), rhs: (Operand, Kind), _ irep: Irep, _ insn: MInstruction) throws {
        let isZero: (Operand) -> Bool = { o in
            switch o { case .imm(let v): return v == 0; case .reg(let r): return self.constantOf(r) == 0 }
        }
        // The value and whether the comparison is always true, with zero on the right.
        let value: (VReg, Kind), always: Bool
        if (op == "<" || op == ">="), isZero(rhs.0) {
            value = lhs; always = op == ">="
        } else if (op == ">" || op == "<="), isZero(.reg(lhs.0)), let r = rhs.0.register {
            value = (r, rhs.1); always = op == "<="
        } else {
            return
        }
        // A constant compared with 0 is no value's type: leave it to folding.
        guard case .int(let u, let nonNegative) = value.1, nonNegative || u, constantOf(value.0) == nil else { return }
        let type = unsignedTypeName(value.0, u)
        _ = try unsettled((), error(irep, insn, "this comparison is always \(always): the value compared with 0 is \(type), never below 0",
                                    hint: "compare with a signed value (a :s32/:s64 field or param, ctx.ret of a return probe), or test `== 0` / `!= 0`",
                                    symbol: op))
    }

    /// How a never-negative value came to be, for the message: `unsigned
    /// (u32)` for a load of an unsigned field, else `unsigned (u64)` or
    /// `never negative`.
    func unsignedTypeName(_ r: VReg, _ unsigned64: Bool) -> String {
        var target = r
        for (i, _) in ir.function.blocks[ir.current].instructions.reversed() where i.definition == target {
            switch i {
            case .move(_, .reg(let s)): target = s; continue
            case .load(_, _, _, let size, false), .loadFrame(_, _, let size, false): return "unsigned (u\(size * 8))"
            case .call: return "an unsigned helper result" + (unsigned64 ? " (u64)" : "")
            default: break
            }
            break
        }
        return unsigned64 ? "unsigned (u64)" : "unsigned"
    }
}
