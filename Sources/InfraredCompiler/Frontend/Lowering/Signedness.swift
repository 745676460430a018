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
        // Only a value of an unsigned type: arithmetic that happens to be
        // non-negative (`(x & 255) < 0`) is well-defined Ruby, left alone.
        guard case .int(let u, let nonNegative) = value.1, nonNegative || u, constantOf(value.0) == nil,
              let type = unsignedType(value.0, u) else { return }
        _ = try unsettled((), error(irep, insn, "this comparison is always \(always): the value compared with 0 is \(type), never below 0",
                                    hint: "compare with a signed value (a :s32/:s64 field or param, ctx.ret of a return probe), or test `== 0` / `!= 0`",
                                    symbol: op))
    }

    /// The unsigned type of a value, for the message, when it has one: a
    /// u64 (`unsigned (u64)`), or, defined in this block, a zero-extended
    /// load of a field, param or global (`unsigned (u32)`) or a helper's
    /// unsigned result. Nil for other values.
    func unsignedType(_ r: VReg, _ unsigned64: Bool) -> String? {
        if unsigned64 { return "unsigned (u64)" }
        var target = r
        for (i, _) in ir.currentInstructions.reversed() where i.definition == target {
            switch i {
            case .move(_, .reg(let s)): target = s; continue
            case .load(_, _, _, let size, false), .loadFrame(_, _, let size, false): return "unsigned (u\(size * 8))"
            case .call: return "an unsigned helper result"
            default: return nil
            }
        }
        return nil
    }
}
