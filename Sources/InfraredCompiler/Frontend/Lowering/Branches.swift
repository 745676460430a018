import BPF

// Control flow: jumps and branches on the kinds they test, returns from the
// program, an inlined `def` or a `times` block, `break`.

extension Lowering {
    // MARK: Jumps

    /// `JMP`, and `JMPIF`/`JMPNOT`/`JMPNIL` on R[a]: a jump, a branch, or —
    /// when the kind decides the test — a jump to the one side taken. A nil
    /// test of a possibly-nil pointer refines it on each edge. `JMPUW` (what
    /// mruby emits for `break` out of a `while` inside a block) unwinds
    /// `ensure` handlers, which bodies cannot have: a plain jump here.
    func lowerJump(_ insn: MInstruction, at i: Int, _ frame: Frame, kinds: [Kind], edges: BlockEdges, _ loc: SourceLocation) throws -> [(Int, [Kind])] {
        let R = frame.regs
        let t = edges.target(insn.jumpTarget!)
        if insn.op == .jmp || insn.op == .jmpuw {
            terminate(.jump(edges.ir(t)), loc)
            return [(t, kinds)]
        }
        let f = edges.graph.blockOf[i + 1]!
        let k = kinds[insn.a]
        if case .pointer(_, true, let id) = k {
            // A nil test of a possibly-nil pointer: each edge knows the answer.
            let nonNil = refine(kinds, id: id, nonNil: true), isNil = refine(kinds, id: id, nonNil: false)
            let jumpWhenNonNil = insn.op == .jmpif
            var (thenIR, elseIR) = (edges.ir(t), edges.ir(f))
            if let map = pointers.ringRecords[id] {
                // A nil record: the ring buffer was full. Count it on the nil edge.
                let fault = newBlock(), branching = ir.current
                ir.current = fault
                incrementFault(map: map, .lostRecords, loc)
                terminate(.jump(jumpWhenNonNil ? elseIR : thenIR), loc)
                ir.current = branching
                if jumpWhenNonNil { elseIR = fault } else { thenIR = fault }
            }
            terminate(.branch(jumpWhenNonNil ? .ne : .eq, .reg(R[insn.a]), .imm(0), then: thenIR, else: elseIR), loc)
            return [(t, jumpWhenNonNil ? nonNil : isNil), (f, jumpWhenNonNil ? isNil : nonNil)]
        }
        if insn.op == .jmpnil {
            // Only nil is nil here: every other kind we hold is never nil.
            if k == .nil || k == .unset { terminate(.jump(edges.ir(t)), loc); return [(t, kinds)] }
            terminate(.jump(edges.ir(f)), loc); return [(f, kinds)]
        }
        let truthy = try truthiness(k, frame.irep, insn)
        let jumpWhenTrue = insn.op == .jmpif
        switch truthy {
        case .always(let v):
            let taken = v == jumpWhenTrue
            terminate(.jump(edges.ir(taken ? t : f)), loc); return [(taken ? t : f, kinds)]
        case .test:
            terminate(.branch(jumpWhenTrue ? .ne : .eq, .reg(R[insn.a]), .imm(0), then: edges.ir(t), else: edges.ir(f)), loc)
            return [(t, kinds), (f, kinds)]
        }
    }

    enum Truthiness { case always(Bool), test }

    func truthiness(_ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> Truthiness {
        switch k {
        case .bool: return .test
        case .nil, .unset: return .always(false)
        case .context, .string, .symbol, .selfObject, .block, .map, .implicitMap, .implicitEntry, .structType, .frameObject, .kernel, .kernelPath, .comm, .stack,
             .cString, .charArray, .text, .pointer(_, false, _): return .always(true)
        case .pointer(_, true, _): return .test
        case .released:
            return try unsettled(.test, error(irep, insn, "this record was already submitted or discarded", hint: "use a record before `submit`/`discard`"))
        case .int:
            return try unsettled(.test, error(irep, insn, "an Integer used as a condition is always true in Ruby",
                                              hint: "compare it explicitly, e.g. `x != 0`"))
        case .formatSize, .mixed:
            return try unsettled(.test, error(irep, insn, "this condition mixes true/false with other values on different paths",
                                              hint: "make both sides of `&&`/`||`/`?:` comparisons, or compare integers explicitly (`x != 0`)"))
        }
    }

    // MARK: Leaving a frame

    /// `RETURN` (from the program, an inlined `def`, or — as `next` — a
    /// `times` block), `RETURN_BLK`, `BREAK` and `STOP`.
    func lowerExit(_ insn: MInstruction, _ frame: Frame, kinds: [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep, R = frame.regs
        switch insn.op {
        case .break:
            guard let b = frame.exits.breakBlock else { throw error(irep, insn, "`break` outside a loop", hint: nil) }
            terminate(.jump(b), loc)
        case .stop:
            terminate(.ret(.imm(0)), loc)
        default:
            if insn.op == .return, let (join, value) = frame.exits.returnTo {
                // Return from an inlined `def`: its value goes to the caller's register.
                emit(.move(value, try returnOperand(R[insn.a], kinds[insn.a], irep, insn)), loc)
                frame.returnKind = frame.returnKind.merged(with: kinds[insn.a] == .unset ? .nil : kinds[insn.a])
                terminate(.jump(join), loc)
            } else if insn.op == .return, let next = frame.exits.nextBlock {
                terminate(.jump(next), loc)    // `next` / end of a `times` block
            } else {
                if kindsSettled { try checkNothingHeld(kinds, irep, insn) }
                terminate(.ret(try returnOperand(R[insn.a], kinds[insn.a], irep, insn)), loc)
            }
        }
    }

    /// The program returns: no ring buffer record or socket may still be held.
    func checkNothingHeld(_ kinds: [Kind], _ irep: Irep, _ insn: MInstruction) throws {
        for k in kinds {
            if case .pointer(_, _, let id) = k, let a = pointers.acquired[id] {
                throw error(irep, insn, "the \(a.what) from line \(a.line) is still held when the program returns here",
                            hint: a.what.contains("record") ? "submit or discard it on every path" : "release it (sk_release) on every path")
            }
        }
    }

    func returnOperand(_ r: VReg, _ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> Operand {
        switch k {
        case .int, .bool: return .reg(r)
        case .nil, .unset: return .imm(0)
        default:
            return try unsettled(.imm(0), error(irep, insn, "a program must return an Integer, true/false or nil, not \(k.rubyName)",
                                                hint: "the value of the body's last expression is the program's return value"))
        }
    }
}
