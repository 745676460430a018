import BPF

// Values into registers: literals, build-time constants and top-level
// variables, params and globals.

extension Lowering {
    // MARK: Literals

    /// `LOADI`, `LOADINEG`, `LOADI__1`, `LOADI_0`…`LOADI_7`, `LOADI16`, `LOADI32`.
    func lowerIntegerLiteral(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let v = insn.integerLiteral!
        try loadConstant(frame.regs[insn.a], v, loc)
        try assign(insn.a, .int(unsigned64: false, nonNegative: v >= 0), &kinds)
    }

    /// `LOADL`: an Integer from the irep's pool (Floats are an error).
    func lowerPoolLiteral(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep
        switch irep.pool(insn.b) {
        case .int(let v):
            try loadConstant(frame.regs[insn.a], v, loc)
            try assign(insn.a, .int(unsigned64: false, nonNegative: v >= 0), &kinds)
        case .float:
            throw error(irep, insn, "Float values are not available in a BPF program body",
                        hint: "BPF has no floating point; use integers (e.g. scale by 1000)")
        default: throw error(irep, insn, "unsupported literal", hint: nil)
        }
    }

    /// `nil`, `true`, `false`, `self`, a Symbol, a String literal.
    func lowerLiteral(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep, dst = frame.regs[insn.a]
        switch insn.op {
        case .loadnil: emit(.move(dst, .imm(0)), loc); try assign(insn.a, .nil, &kinds)
        case .loadt: emit(.move(dst, .imm(1)), loc); try assign(insn.a, .bool, &kinds)
        case .loadf: emit(.move(dst, .imm(0)), loc); try assign(insn.a, .bool, &kinds)
        case .loadself: try assign(insn.a, .selfObject, &kinds)
        case .loadsym: try assign(insn.a, .symbol(irep.symbol(insn.b)), &kinds)
        default:
            guard case .string(let s) = irep.pool(insn.b) else { throw error(irep, insn, "unsupported literal", hint: nil) }
            try assign(insn.a, .string(s), &kinds)
        }
    }

    // MARK: Build-time values

    /// `GETCONST`: a declared struct's name, or the constant's build-time value.
    func lowerConstant(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind]) throws {
        let irep = frame.irep
        let name = irep.symbol(insn.b)
        guard let value = session.constant(name) else {
            throw error(irep, insn, "uninitialized constant \(name)", hint: "define it at the top level, e.g. \(name) = 64")
        }
        if case .symbol(let sym) = value, sym.hasPrefix("__infrared_struct_") {
            try assign(insn.a, .structType(String(sym.dropFirst("__infrared_struct_".count))), &kinds)
        } else {
            try loadValue(value, into: frame.regs[insn.a], kind: &kinds[insn.a], irep: irep, insn: insn, what: "constant \(name)")
        }
    }

    func loadConstant(_ dst: VReg, _ v: Int64, _ loc: SourceLocation) throws {
        emit(.move(dst, .imm(v)), loc)
    }

    /// A build-time value (constant, top-level local) used in a body.
    func loadValue(_ value: RubyValue, into dst: VReg, kind: inout Kind, irep: Irep, insn: MInstruction, what: String) throws {
        let loc = location(irep, insn)
        switch value {
        case .int(let v): emit(.move(dst, .imm(v)), loc); kind = .int(unsigned64: false, nonNegative: v >= 0)
        case .true: emit(.move(dst, .imm(1)), loc); kind = .bool
        case .false: emit(.move(dst, .imm(0)), loc); kind = .bool
        case .nil: emit(.move(dst, .imm(0)), loc); kind = .nil
        case .string(let s): kind = .string(s)
        case .symbol(let s): kind = .symbol(s)
        default:
            throw error(irep, insn, "\(what) holds \(value), which a BPF program cannot use",
                        hint: "constants used in bodies must be Integers, true/false, nil or Strings")
        }
    }

    // MARK: Params and globals

    /// `name` (a param or global, read) or `name = v` (a global, stored);
    /// nil when `name` is neither.
    func variableCall(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
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
                let a = newVReg()
                emit(.variableAddress(a, name: SymbolName(base)), loc)
                emit(.store(base: a, offset: 0, value: v, size: g.type.size), loc)
                return args[0].1
            }
        }
        return nil
    }

    /// After an instruction assigned register a: a local standing for a
    /// global is written back; one standing for a param is an error.
    func writeBackLocal(_ insn: MInstruction, _ frame: Frame, _ kinds: [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep, R = frame.regs
        if let g = frame.locals.globals[insn.a] {
            let v = try integerOperand((R[insn.a], kinds[insn.a]), irep, insn, what: "the value of global `\(g)`")
            let a = newVReg()
            emit(.variableAddress(a, name: SymbolName(g)), loc)
            emit(.store(base: a, offset: 0, value: v, size: language.globals[g]!.type.size), loc)
        } else if let p = frame.locals.params[insn.a], kindsSettled {
            throw error(irep, insn, "param `\(p)` is read-only in programs",
                        hint: "params are set before load (--\(p.replacing("_", with: "-"))); use a `global` for state", symbol: p)
        }
    }

    func loadVariable(_ name: String, _ t: ScalarType, _ dst: VReg, _ loc: SourceLocation) throws -> Kind {
        let a = newVReg()
        emit(.variableAddress(a, name: SymbolName(name)), loc)
        emit(.load(dst, base: a, offset: 0, size: t.size, signed: t.signed), loc)
        return intKind(t)
    }

    func intKind(_ t: ScalarType) -> Kind {
        .int(unsigned64: t.size == 8 && !t.signed, nonNegative: !t.signed)
    }

    // MARK: Operands

    /// The constant an IR register was last set to in the current block, if any.
    func constantOf(_ r: VReg) -> Int64? {
        for (i, _) in ir.currentInstructions.reversed() where i.definition == r {
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
            return try unsettled(.imm(0), error(irep, insn, "\(what) must be an Integer, not \(a.1.rubyName)", hint: nil))
        }
    }
}
