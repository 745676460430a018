import BPF

// Frames (the body, inlined `def`s and `times` blocks), their basic blocks,
// upvars, and stack slots.

/// An irep being lowered: the program body, or a `def` or block inlined into it.
///
/// A class: blocks inlined into a frame name it (`parent`, and the kinds of
/// its registers in `InlineScope.upvarKinds`), and the `return`s of an
/// inlined `def` merge into its `returnKind` in both the analysis and the
/// emission of its body.
final class Frame {
    let irep: Irep
    let insns: [MInstruction]
    let index: [Int: Int]          // pc → instruction index
    let regs: [VReg]
    let parent: Frame?
    /// Where control leaves an inlined frame to.
    let exits: Exits
    /// Local registers standing for globals (written back) and params (read-only).
    let locals: Locals
    /// `m[k] += n` sequences, by the pcs of their `[]` and `[]=`.
    let atomic: [Int: AtomicIncrement]
    /// The pcs of the calls that inlined this frame, outermost first (empty
    /// for the body): with a pc, it names a site across inlinings.
    let site: [Int]
    /// What an inlined `def`'s `return`s give: merged over every `return`
    /// lowered, the analysis's included.
    var returnKind: Kind = .unset

    struct Exits {
        /// For an inlined `times` block: where `next` (RETURN) and `break` go.
        var nextBlock: Int? = nil
        var breakBlock: Int? = nil
        /// For an inlined `def`: where `return` goes and the register receiving the value.
        var returnTo: (block: Int, value: VReg)? = nil
    }

    /// The body's locals named like a global or a param.
    struct Locals {
        var globals: [Int: String] = [:]
        var params: [Int: String] = [:]
        init() {}
        /// A global's name wins over a param's.
        init(_ body: Irep, _ language: Language) {
            for reg in 2..<max(body.nlocals, 2) {
                guard let name = body.localName(reg) else { continue }
                if language.globals[name] != nil { globals[reg] = name }
                else if language.params[name] != nil { params[reg] = name }
            }
        }
    }

    init(irep: Irep, insns: [MInstruction], regs: [VReg], parent: Frame?, exits: Exits = Exits(), locals: Locals = Locals(), site: [Int] = []) {
        self.irep = irep; self.insns = insns; self.regs = regs; self.parent = parent; self.site = site
        self.exits = exits; self.locals = locals
        index = Dictionary(uniqueKeysWithValues: insns.enumerated().map { ($1.pc, $0) })
        atomic = findAtomicIncrements(insns, symbol: { irep.symbol($0) })
    }
}

/// A frame's basic blocks: leaders are the first instruction, jump targets,
/// and instructions after terminators.
struct BlockGraph {
    /// Instruction index of each block's first instruction, ascending.
    let starts: [Int]
    /// Block of each leader instruction index.
    let blockOf: [Int: Int]
    let instructionCount: Int
    /// Every jump goes to a later instruction (no loop): each block's
    /// predecessors come before it.
    let jumpsOnlyForward: Bool

    init(_ frame: Frame) throws {
        let insns = frame.insns
        var leaders = Set([0])
        var forward = true
        for (i, insn) in insns.enumerated() {
            if let t = insn.jumpTarget {
                guard let ti = frame.index[t] else { throw CompileFailure.internalError("jump into the middle of an instruction") }
                leaders.insert(ti)
                if ti <= i { forward = false }
            }
            if insn.isTerminator && i + 1 < insns.count { leaders.insert(i + 1) }
        }
        starts = leaders.sorted()
        var blockOf: [Int: Int] = [:]
        for (b, s) in starts.enumerated() { blockOf[s] = b }
        self.blockOf = blockOf
        instructionCount = insns.count
        jumpsOnlyForward = forward
    }

    var count: Int { starts.count }
    func range(_ b: Int) -> Range<Int> { starts[b]..<(b + 1 < starts.count ? starts[b + 1] : instructionCount) }
}

/// Where a frame's jumps go: the mruby block of a target pc, and the IR
/// block of an mruby block (block 0 throughout the analysis, whose IR is
/// thrown away).
struct BlockEdges {
    let frame: Frame
    let graph: BlockGraph
    let irBlocks: [Int]?
    func target(_ pc: Int) -> Int { graph.blockOf[frame.index[pc]!]! }
    func ir(_ mb: Int) -> Int { irBlocks?[mb] ?? 0 }
}

/// The `def`s and blocks being inlined right now.
struct InlineScope {
    /// The `def`s being inlined (recursion is an error).
    var inlining: [String] = []
    /// Kinds of enclosing frames' registers while a block is inlined into them.
    var upvarKinds: [ObjectIdentifier: [Kind]] = [:]
}

extension Lowering {
    // MARK: Stack slots

    /// Reserves `size` bytes below R10 (aligned); returns the (negative) offset.
    func allocateStack(size: Int, alignment: Int = 8, _ irep: Irep, _ insn: MInstruction) throws -> Int {
        guard let off = reserveStack(size: size, alignment: alignment) else { throw stackExhausted(irep, insn) }
        return off
    }

    /// `allocateStack` without a place to blame: nil when the stack is full.
    /// Each object gets bytes of its own here (offsets in the IR are plain
    /// integers); `packStackObjects` then overlaps the ones never live
    /// together, and `Checks` holds the result to the verifier's 512 bytes
    /// less the register allocator's 64.
    func reserveStack(size: Int, alignment: Int = 8) -> Int? {
        let a = max(alignment, 1)
        let top = (ir.function.stackSize + size + a - 1) / a * a
        guard top <= Self.stackObjectLimit else { return nil }
        ir.function.stackSize = top
        ir.function.stackObjects.append(.init(offset: -top, size: size, alignment: a))
        return -top
    }

    /// Bytes of stack objects the lowering hands out before packing.
    static let stackObjectLimit = 1 << 24
    /// Bytes of stack objects a program may use after packing (the
    /// register allocator's spill slots take the last 64 of the 512).
    static let stackLimit = 512 - 64

    func stackExhausted(_ irep: Irep, _ insn: MInstruction) -> Diagnostic {
        error(irep, insn, "this program needs more than \(Self.stackObjectLimit) bytes of stack objects for its keys, values and records, before any share bytes",
              hint: "BPF programs have a 512-byte stack; use a ring buffer record or a per-CPU array as scratch space")
    }

    // MARK: Inlined `def`s and blocks

    /// A call of a top-level `def`, inlined: its arguments become its first
    /// registers, each `return` (or the last value) lands in the caller's register.
    func inlineFunction(_ name: String, frame: Frame, insn: MInstruction, argRegs: [Int], kinds: [Kind], loc: SourceLocation) throws -> Kind {
        let irep = frame.irep
        guard !scope.inlining.contains(name) else {
            throw error(irep, insn, "`\(name)` calls itself (through \(scope.inlining.joined(separator: " → "))); BPF programs cannot recurse",
                        hint: "write the recursion as a bounded loop", symbol: name)
        }
        guard let body = session.methodIrep(name) else { throw CompileFailure.internalError("no irep for def \(name)") }
        let insns = try decodeChecked(body)
        if let enter = insns.first, enter.op == .enter {
            let required = (enter.a >> 18) & 0x1f, optional = (enter.a >> 13) & 0x1f, rest = (enter.a >> 12) & 1
            guard optional == 0, rest == 0, required == argRegs.count else {
                throw error(irep, insn, "`\(name)` takes \(required) argument\(required == 1 ? "" : "s"), given \(argRegs.count)",
                            hint: optional != 0 || rest != 0 ? "functions called from programs take plain positional arguments" : nil, symbol: name)
            }
        }
        let regs = (0..<max(body.nregs, argRegs.count + 2)).map { _ in newVReg() }
        var entry = Array(filled: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        for (i, r) in argRegs.enumerated() {
            emit(.move(regs[i + 1], .reg(frame.regs[r])), loc)
            entry[i + 1] = kinds[r]
        }
        let join = newBlock()
        let sub = Frame(irep: body, insns: insns, regs: regs, parent: nil, exits: .init(returnTo: (join, frame.regs[insn.a])), site: frame.site + [insn.pc])
        scope.inlining.append(name)
        defer { scope.inlining.removeLast() }
        try lowerFrame(sub, entryKinds: entry)
        ir.current = join
        switch sub.returnKind {
        case .unset: return .nil
        case .mixed:
            return try unsettled(.signedInt, error(irep, insn, "`\(name)` returns values of different types", hint: "return Integers (or true/false) on every path", symbol: name))
        default: return sub.returnKind
        }
    }

    /// `count.times do |i| … end`, the block's irep inlined as a counted loop.
    /// Returns the frame's register kinds after the loop (widened by the block's assignments).
    func timesLoop(_ frame: Frame, callPC: Int, count: VReg, child: Irep, kinds: [Kind], loc: SourceLocation) throws -> [Kind] {
        let insns = try decodeChecked(child)
        let i = newVReg()
        let regs = (0..<max(child.nregs, 2)).map { _ in newVReg() }
        emit(.move(i, .imm(0)), loc)
        let header = newBlock(), body = newBlock(), latch = newBlock(), exit = newBlock()
        let sub = Frame(irep: child, insns: insns, regs: regs, parent: frame, exits: .init(nextBlock: latch, breakBlock: exit), site: frame.site + [callPC])
        terminate(.jump(header), loc)
        ir.current = header
        terminate(.branch(.slt, .reg(i), .reg(count), then: body, else: exit), loc)
        ir.current = body
        emit(.move(regs[1], .reg(i)), loc)
        var entry = Array(filled: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        entry[1] = .int(unsigned64: false, nonNegative: true)
        let key = ObjectIdentifier(frame)
        let saved = scope.upvarKinds[key]
        defer { scope.upvarKinds[key] = saved }
        // What the block assigns to this frame's registers flows into the next
        // iteration and past the loop: `r = ctx.len; 2.times { r = p16 }` leaves
        // `r` possibly negative, so a later `r >> 11` is arithmetic. Widen the
        // registers by the block's stores (`lowerSetUpvar` merges into
        // `upvarKinds`), lowering the block on a scratch copy, to a fixed point.
        var widened = kinds
        for _ in 0..<8 {
            let scratch = Lowering(scratchOf: self)
            scratch.scope.upvarKinds[key] = widened
            let trial = Frame(irep: child, insns: insns, regs: regs, parent: frame, exits: .init(nextBlock: latch, breakBlock: exit), site: frame.site + [callPC])
            try? scratch.lowerFrame(trial, entryKinds: entry)
            let stored = scratch.scope.upvarKinds[key] ?? widened
            if stored == widened { break }
            widened = stored
        }
        scope.upvarKinds[key] = widened
        try lowerFrame(sub, entryKinds: entry)
        ir.current = latch
        emit(.binary(.add, i, .reg(i), .imm(1)), loc)
        terminate(.jump(header), loc)
        ir.current = exit
        return widened
    }

    // MARK: Upvars

    /// `GETUPVAR`: a register of an enclosing frame we are inlined into, or a
    /// top-level variable (captured at build time: a constant).
    func lowerGetUpvar(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep, R = frame.regs
        var f: Frame? = frame, level = insn.c
        while level > 0, let p = f?.parent { f = p; level -= 1 }
        if let p = f?.parent, level == 0 {
            // An enclosing frame we are inlined into: its register.
            emit(.move(R[insn.a], .reg(p.regs[insn.b])), loc)
            try assign(insn.a, upvarKind(p, insn.b) ?? .signedInt, &kinds)
        } else {
            // The top level (captured at build time): a constant.
            guard let proc = declaration.procHandle,
                  let value = session.upvar(of: proc, up: level, index: insn.b) else {
                throw error(irep, insn, "this variable is not available in the program body", hint: "use a constant or a param")
            }
            try loadValue(value, into: R[insn.a], kind: &kinds[insn.a], irep: irep, insn: insn, what: "top-level variable")
        }
    }

    /// `SETUPVAR`: only registers of enclosing frames can be assigned.
    func lowerSetUpvar(_ insn: MInstruction, _ frame: Frame, kinds: [Kind], _ loc: SourceLocation) throws {
        let irep = frame.irep
        var f: Frame? = frame, level = insn.c
        while level > 0, let p = f?.parent { f = p; level -= 1 }
        guard let p = f?.parent, level == 0 else {
            throw error(irep, insn, "a program body cannot assign top-level variables",
                        hint: "top-level variables are build-time constants; use a `global` for state shared between runs")
        }
        try checkUpvarStore(p, insn.b, kinds[insn.a], irep, insn)
        let key = ObjectIdentifier(p)
        if let old = scope.upvarKinds[key]?[insn.b] { scope.upvarKinds[key]![insn.b] = old.merged(with: kinds[insn.a]) }
        emit(.move(p.regs[insn.b], .reg(frame.regs[insn.a])), loc)
    }

    func upvarKind(_ frame: Frame, _ reg: Int) -> Kind? { scope.upvarKinds[ObjectIdentifier(frame)]?[reg] }

    func checkUpvarStore(_ frame: Frame, _ reg: Int, _ k: Kind, _ irep: Irep, _ insn: MInstruction) throws {
        guard let old = upvarKind(frame, reg) else { return }
        let merged = old.merged(with: k)
        if merged == .mixed && kindsSettled {
            throw error(irep, insn, "this block assigns \(k.rubyName) to a variable that holds \(old.rubyName)",
                        hint: "keep each variable one type inside loops")
        }
    }
}
