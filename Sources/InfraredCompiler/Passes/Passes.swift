import BPF

/// The optimisation passes, in the order the driver runs them. Each is a
/// function IRFunction → IRFunction with a name for `--dump-after`.
struct Pass {
    var name: String
    var run: (inout IRFunction) -> Void

    static let pipeline: [Pass] = [
        Pass(name: "simplify-cfg", run: simplifyCFG),
        Pass(name: "webs", run: renameWebs),
        Pass(name: "reuse-invariant-calls", run: reuseInvariantCalls),
        Pass(name: "global-copy-prop", run: propagateGlobalCopies),
        Pass(name: "hoist-params", run: hoistParamLoads),
        Pass(name: "const-prop", run: propagateConstants),
        Pass(name: "copy-prop", run: propagateCopies),
        Pass(name: "simplify-cfg", run: simplifyCFG),
        Pass(name: "unroll-loops", run: unrollConstantLoops),
        Pass(name: "value-numbering", run: numberValues),
        Pass(name: "fold-linear", run: foldLinearExpressions),
        Pass(name: "narrow-stores", run: narrowStoredValues),
        Pass(name: "narrow-divisions", run: narrowDivisions),
        Pass(name: "fuse-compare", run: fuseCompareAndBranch),
        Pass(name: "fold-range-branches", run: foldRangeBranches),
        Pass(name: "flagless-extremes", run: dropExtremeFlags),
        Pass(name: "dce", run: eliminateDeadCode),
        Pass(name: "const-prop", run: propagateConstants),
        Pass(name: "copy-prop", run: propagateCopies),
        Pass(name: "global-copy-prop", run: propagateGlobalCopies),
        Pass(name: "dce", run: eliminateDeadCode),
        Pass(name: "context-reads-first", run: readContextFirst),
        Pass(name: "bit-test-switches", run: testSwitchBitsTogether),
        Pass(name: "sink-loads", run: sinkGlobalLoads),
        Pass(name: "coalesce", run: coalesceMoves),
        Pass(name: "rotate-loops", run: duplicateBranchBlocks),
        Pass(name: "simplify-cfg", run: simplifyCFG),
        Pass(name: "fuse-compare", run: fuseCompareAndBranch),
        Pass(name: "dce", run: eliminateDeadCode),
        // Tests emptied by the last fusion (`while a && b`) rotate now.
        Pass(name: "rotate-loops", run: duplicateBranchBlocks),
        Pass(name: "speculate", run: speculateArms),
        Pass(name: "simplify-cfg", run: simplifyCFG),
        Pass(name: "hoist-loop-constants", run: hoistLoopConstants),
        Pass(name: "unsigned-loads", run: unsignLoadsOnlyStored),
        Pass(name: "forward-probe-reads", run: forwardProbeReads),
        Pass(name: "load-btf-arguments", run: loadThroughBTFArguments),
        Pass(name: "load-packet", run: loadPacketDirectly),
        Pass(name: "fold-frame-addresses", run: foldFrameAddresses),
        Pass(name: "dead-stores", run: eliminateDeadStores),
        Pass(name: "reuse-comm", run: reuseCommBuffers),
        Pass(name: "dce", run: eliminateDeadCode),
        Pass(name: "pack-stack", run: packStackObjects),
        Pass(name: "redundant-stores", run: dropRedundantStores),
        Pass(name: "share-atomic-adds", run: shareAtomicAdds),
        // Unrolled copies and threaded blocks reuse a register's name for
        // live ranges that never meet: split them again before allocation.
        Pass(name: "webs", run: renameWebs),
        Pass(name: "sink-state-reads", run: sinkStateReads),
        Pass(name: "reread-context", run: rereadContextFields),
        Pass(name: "commute", run: commuteOperands),
        Pass(name: "cold-faults", run: moveFaultBlocksLast),
    ]
}

extension CompileOptions {
    /// The names `dumpAfter` (`--dump-after`) accepts, in the order the
    /// compiler reaches them: `lower` (the IR as lowered, before any pass)
    /// and each pass of `Pass.pipeline` once. A pass that runs several times
    /// is printed after each run.
    public static let dumpAfterNames: [String] = Pass.pipeline.reduce(into: ["lower"]) { names, pass in
        if !names.contains(pass.name) { names.append(pass.name) }
    }
}

// MARK: Constant propagation and folding

/// Forward dataflow of "this register holds constant c" (a register assigned
/// different values on different paths is not constant), then folding:
/// constant operands are substituted, operations on constants computed,
/// branches on constants become jumps.
func propagateConstants(_ f: inout IRFunction) {
    let order = f.order()
    let live = f.liveness()
    let analysis = ConstantAnalysis(f, order: order, liveness: live)
    // Rewrite.
    for b in order {
        var s = analysis.state(entering: b)
        // A block stays as it is until an instruction changes (its storage
        // kept, for the liveness cache and to spare a copy).
        let instructions = f.instructions(of: b)
        var rewritten: [(IRInstruction, SourceLocation)]? = nil
        for (k, (insn, loc)) in instructions.enumerated() {
            // Whether a constant replaced a register or the instruction
            // folded: otherwise `out` is `insn`, and is not compared.
            var touched = false
            let subst = insn.mapUses { o in
                guard case .reg = o, let v = s.value(o) else { return o }
                touched = true
                return .imm(v)
            }
            var out = subst
            if let d = insn.definition {
                let folded: IRInstruction?
                switch subst {
                case .binary(let op, _, .imm(let x), .imm(let y)): folded = .move(d, .imm(op.fold(x, y)))
                case .neg(_, .imm(let x)): folded = .move(d, .imm(0 &- x))
                case .setcc(let c, _, .imm(let x), .imm(let y)): folded = .move(d, .imm(c.evaluate(x, y) ? 1 : 0))
                case .binary(let op, _, let a, .imm(let y)) where isIdentity(op, y): folded = .move(d, a)
                case .binary(let op, _, .imm(let x), let a) where op.isCommutative && isIdentity(op, x): folded = .move(d, a)
                case .binary(.mul, _, _, .imm(0)), .binary(.mul, _, .imm(0), _),
                     .binary(.and, _, _, .imm(0)), .binary(.and, _, .imm(0), _): folded = .move(d, .imm(0))
                default: folded = nil
                }
                if let folded { out = folded; touched = true }
                // The state follows the rewritten instruction: a move of a constant
                // or register keeps what is known, anything else varies.
                if case .move(_, let a) = out { s.set(d, s.value(a)) } else { s.set(d, nil) }
            }
            if rewritten != nil {
                rewritten!.append((out, loc))
            } else if touched && out != insn {
                var r = Array(instructions[..<k])
                r.reserveCapacity(instructions.count)
                r.append((out, loc))
                rewritten = r
            }
        }
        if let r = rewritten { f.blocks[b].instructions = r }
        let t = f.terminator(of: b).mapUses { o in s.value(o).map { .imm($0) } ?? o }
        if case .branch(let c, .imm(let x), .imm(let y), let th, let el) = t {
            f.blocks[b].terminator = .jump(c.evaluate(x, y) ? th : el)
        } else {
            f.setTerminator(t, ofBlock: b)
        }
    }
}

/// The dataflow of constant propagation: each block's state on leaving it,
/// iterated to a fixed point in reverse post-order. A state on leaving a
/// block keeps the registers live there only: what a register holds depends
/// on the registers its definition reads, which are live where it is, so the
/// registers read anywhere get what whole states would give them. (Whole
/// states, one a block, were quadratic in a long body.)
struct ConstantAnalysis {
    let predecessors: PredecessorTable
    let entryState: ConstantState
    private(set) var outs: [ConstantState?]

    init(_ f: borrowing IRFunction, order: [Int], liveness live: IRLiveness) {
        predecessors = f.predecessors
        var entry = ConstantState()
        entry.set(f.context, nil)
        entryState = entry
        outs = Array(filled: nil, count: f.blocks.count)
        let predecessors = predecessors
        var outs = self.outs
        sweepForward(f, order: order) { b in
            var out = Self.state(entering: b, entry: entry, predecessors: predecessors, outs)
            Self.transfer(f.instructions(of: b), &out)
            out.keep(live.liveOut[b])
            guard outs[b] != out else { return false }
            outs[b] = out
            return true
        }
        self.outs = outs
    }

    /// The meet of the predecessors' states (the entry block: the context varies, all else unseen).
    func state(entering b: Int) -> ConstantState { Self.state(entering: b, entry: entryState, predecessors: predecessors, outs) }

    static func state(entering b: Int, entry: ConstantState, predecessors: PredecessorTable, _ outs: [ConstantState?]) -> ConstantState {
        if b == 0 { return entry }
        return meet(of: predecessors[b], outs) ?? ConstantState()
    }

    /// The meet of these blocks' states on leaving them; nil when none has one yet.
    func meet(of blocks: some Sequence<Int>) -> ConstantState? { Self.meet(of: blocks, outs) }

    static func meet(of blocks: some Sequence<Int>, _ outs: [ConstantState?]) -> ConstantState? {
        var r: ConstantState? = nil
        for p in blocks {
            guard let s = outs[p] else { continue }
            if r == nil { r = s } else { r!.meet(s) }
        }
        return r
    }

    /// Runs a block's instructions over a state.
    static func transfer(_ instructions: [(IRInstruction, SourceLocation)], _ s: inout ConstantState) {
        for (insn, _) in instructions {
            guard let d = insn.definition else { continue }
            switch insn {
            case .move(_, let a): s.set(d, s.value(a))
            case .binary(let op, _, let a, let c):
                if let x = s.value(a), let y = s.value(c) { s.set(d, op.fold(x, y)) } else { s.set(d, nil) }
            case .neg(_, let a): s.set(d, s.value(a).map { 0 &- $0 })
            case .setcc(let c, _, let a, let b2):
                if let x = s.value(a), let y = s.value(b2) { s.set(d, c.evaluate(x, y) ? 1 : 0) } else { s.set(d, nil) }
            default: s.set(d, nil)
            }
        }
    }
}

/// What constant propagation knows of registers at one point: one constant,
/// or varying; a register absent is not seen yet (optimistic top).
struct ConstantState: Equatable {
    private enum Fact: Equatable { case constant(Int64), varying }
    /// By increasing register number: states hold the live registers only,
    /// so sorted arrays beat hashing.
    private var facts: [(id: Int, fact: Fact)] = []
    init() {}

    /// The position of register `id` in `facts`, or where it would go.
    private func position(_ id: Int) -> Int {
        var lo = 0, hi = facts.count
        while lo < hi { let mid = (lo + hi) >> 1; if facts[mid].id < id { lo = mid + 1 } else { hi = mid } }
        return lo
    }
    /// Records `r`'s value: a constant, or nil for varying.
    mutating func set(_ r: VReg, _ v: Int64?) {
        let fact: Fact = v.map { .constant($0) } ?? .varying
        if let last = facts.last, last.id < r.id { facts.append((r.id, fact)); return }
        let i = position(r.id)
        if i < facts.count && facts[i].id == r.id { facts[i].fact = fact } else { facts.insert((r.id, fact), at: i) }
    }
    /// The operand's constant value; nil when varying or not seen yet.
    func value(_ o: Operand) -> Int64? {
        switch o {
        case .imm(let i): return i
        case .reg(let r):
            let i = position(r.id)
            if i < facts.count, facts[i].id == r.id, case .constant(let v) = facts[i].fact { return v }
            return nil
        }
    }
    /// Merges a predecessor's state: a register not seen yet takes the other's
    /// value; two different values vary.
    mutating func meet(_ o: ConstantState) {
        if o.facts.isEmpty { return }
        if facts.isEmpty { facts = o.facts; return }
        var out: [(id: Int, fact: Fact)] = []
        out.reserveCapacity(facts.count + o.facts.count)
        var i = 0, j = 0
        while i < facts.count || j < o.facts.count {
            if j == o.facts.count || (i < facts.count && facts[i].id < o.facts[j].id) { out.append(facts[i]); i += 1 }
            else if i == facts.count || o.facts[j].id < facts[i].id { out.append(o.facts[j]); j += 1 }
            else {
                out.append((facts[i].id, facts[i].fact == o.facts[j].fact ? facts[i].fact : .varying))
                i += 1; j += 1
            }
        }
        facts = out
    }
    /// Forgets the registers outside `live` (they become not seen yet).
    mutating func keep(_ live: RegisterSet) {
        // Compacted in place, written only from the first register dropped
        // (a new array each time was an allocation per block and sweep).
        let n = facts.count
        var kept = 0
        live.withMembers { ids in
            var j = 0
            for i in 0..<n {
                let id = facts[i].id
                while j < ids.count && ids[j] < id { j += 1 }
                guard j < ids.count && ids[j] == id else { continue }
                if kept != i { facts[kept] = facts[i] }
                kept += 1
            }
        }
        if kept < n { facts.removeLast(n - kept) }
    }

    static func == (a: ConstantState, b: ConstantState) -> Bool {
        a.facts.count == b.facts.count && zip(a.facts, b.facts).allSatisfy { $0.id == $1.id && $0.fact == $1.fact }
    }
}

/// `x + 0`, `x * 1`, `x | 0`, … are `x`.
private func isIdentity(_ op: BinaryOp, _ c: Int64) -> Bool {
    switch op {
    case .add, .sub, .or, .xor, .shl, .lshr, .ashr: return c == 0
    case .mul, .udiv, .sdiv: return c == 1
    case .and: return c == -1
    default: return false
    }
}

// MARK: Params

/// A field of a read-only context as a load reads it (offset, width, sign):
/// what `hoist-params` and `context-reads-first` read once at entry.
struct ContextRead: Hashable {
    var offset: Int, size: Int, signed: Bool

    /// The read of `insn` if it loads from `context`.
    static func read(by insn: IRInstruction, context: VReg) -> (dst: VReg, field: ContextRead)? {
        guard case .load(let d, let base, let offset, let size, let signed) = insn, base == context else { return nil }
        return (d, ContextRead(offset: offset, size: size, signed: signed))
    }

    /// The load of this field from `context` into `v`.
    func load(into v: VReg, context: VReg) -> IRInstruction { .load(v, base: context, offset: offset, size: size, signed: signed) }
}

/// A param read twice or more is read once, at entry: params are constant
/// while the program runs (`.rodata`, frozen by libbpf), and each read
/// costs an `ld_imm64` (two slots) and a load. So is a field of a read-only
/// context (`IRFunction.contextReadOnly`) read twice or more: block-local
/// value numbering cannot merge reads on both sides of a branch or call.
func hoistParamLoads(_ f: inout IRFunction) {
    var address: [VReg: String] = [:]
    for b in f.blocks.indices { for (i, _) in f.instructions(of: b) { if case .variableAddress(let a, let n) = i, f.readOnlyVariables.contains(n.string) { address[a] = n.string } } }
    var reads: [String: [(size: Int, signed: Bool)]] = [:]
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            if case .load(_, let base, 0, let size, let signed) = i, let n = address[base] { reads[n, default: []].append((size, signed)) }
        }
    }
    var hoisted: [String: VReg] = [:]
    var prologue: [(IRInstruction, SourceLocation)] = []
    let loc = f.instructions(of: 0).first?.1 ?? .none
    for (n, rs) in reads.sorted(by: { $0.key < $1.key }) where rs.count >= 2 && Set(rs.map(\.size)).count == 1 && Set(rs.map(\.signed)).count == 1 {
        let a = f.newVReg(), v = f.newVReg()
        prologue += [(.variableAddress(a, name: SymbolName(n)), loc), (.load(v, base: a, offset: 0, size: rs[0].size, signed: rs[0].signed), loc)]
        hoisted[n] = v
    }
    // A read-only context's field read twice or more (`ctx.ret` tested,
    // then stored twice), at the same offset, size and sign, likewise.
    var fieldReads: [ContextRead: Int] = [:]
    var contextWritten = false
    if f.contextReadOnly {
        for b in f.blocks.indices {
            for (i, _) in f.instructions(of: b) {
                if let read = ContextRead.read(by: i, context: f.context) { fieldReads[read.field, default: 0] += 1 }
                if i.definition == f.context { contextWritten = true }
            }
        }
    }
    var hoistedFields: [ContextRead: VReg] = [:]
    if !contextWritten {
        for (field, n) in fieldReads.sorted(by: { ($0.key.offset, $0.key.size) < ($1.key.offset, $1.key.size) }) where n >= 2 {
            let v = f.newVReg()
            prologue.append((field.load(into: v, context: f.context), loc))
            hoistedFields[field] = v
        }
    }
    guard !hoisted.isEmpty || !hoistedFields.isEmpty else { return }
    for b in f.blocks.indices {
        f.blocks[b].instructions = f.blocks[b].instructions.map { (i, l) in
            if case .load(let d, let base, 0, _, _) = i, let n = address[base], let v = hoisted[n] { return (.move(d, .reg(v)), l) }
            if let read = ContextRead.read(by: i, context: f.context), let v = hoistedFields[read.field] { return (.move(read.dst, .reg(v)), l) }
            return (i, l)
        }
    }
    f.blocks[0].instructions.insert(contentsOf: prologue, at: 0)
}

// MARK: Context reads first

/// A read-only context (pt_regs, a tracepoint's record, BTF arguments)
/// arrives in R1, which the first helper call clobbers: a field read after
/// a call keeps the context in a callee-saved register (`r6 = r1`) only to
/// read it. Where every use of the context is a field read in a block every
/// run passes through, at most two fields, and one of them is read after a
/// call, the reads move to the entry, as C's BPF_KPROBE/BPF_PROG read their
/// arguments first (`sums[pid] += ctx.arg(0) + ctx.arg(1)`, `results.add(ctx.ret)`
/// after a map update): each field then holds the callee-saved register the
/// context held, and the copy is gone. Runs once dead copies of the context
/// are gone; `hoist-params` already reads a field read twice once at entry.
func readContextFirst(_ f: inout IRFunction) {
    guard f.contextReadOnly, f.blocks.count > 0 else { return }
    var fields: [ContextRead] = []
    var loadBlocks = Set<Int>()
    var afterCall = false
    for bi in f.blocks.indices {
        var callSeen = bi != 0   // conservatively: a block other than the entry may follow a call
        for (i, _) in f.instructions(of: bi) {
            if let (d, field) = ContextRead.read(by: i, context: f.context), d != f.context {
                if !fields.contains(field) { fields.append(field) }
                loadBlocks.insert(bi)
                if callSeen { afterCall = true }
                continue
            }
            if case .call = i { callSeen = true }
            var uses = false
            i.forEachUse { if $0 == f.context { uses = true } }
            if uses || i.definition == f.context { return }
        }
        if f.terminator(of: bi).uses.contains(f.context) { return }
    }
    guard afterCall, !fields.isEmpty, fields.count <= 2 else { return }
    // Every run passes through each reading block: no path from the entry
    // to a return avoids it (a read in one arm stays where it is).
    for target in loadBlocks where target != 0 {
        var seen: Set = [target, 0], stack = [0]
        while let b = stack.popLast() {
            if case .ret = f.terminator(of: b) { return }
            for s in f.terminator(of: b).successors where !seen.contains(s) { seen.insert(s); stack.append(s) }
        }
    }
    let loc = f.instructions(of: 0).first?.1 ?? .none
    var value: [ContextRead: VReg] = [:], prologue: [(IRInstruction, SourceLocation)] = []
    for field in fields {
        let v = f.newVReg()
        value[field] = v
        prologue.append((field.load(into: v, context: f.context), loc))
    }
    for b in loadBlocks {
        f.blocks[b].instructions = f.blocks[b].instructions.map { (i, l) in
            if let read = ContextRead.read(by: i, context: f.context), let v = value[read.field] { return (.move(read.dst, .reg(v)), l) }
            return (i, l)
        }
    }
    f.blocks[0].instructions.insert(contentsOf: prologue, at: 0)
}

// MARK: Copy propagation

/// `d = s` where both have a single definition (after `webs`, most values):
/// every read of `d` reads `s` instead, across blocks. `s`'s only definition
/// comes before the copy, which comes before every read of `d`.
func propagateGlobalCopies(_ f: inout IRFunction) {
    // By register number (arrays, not hashed dictionaries: this pass runs
    // twice over every instruction).
    var defCount = [Int](filled: 0, count: f.vregCount)
    defCount[f.context.id] = 1
    for b in f.blocks.indices { for (i, _) in f.instructions(of: b) { if let d = i.definition { defCount[d.id] += 1 } } }
    var replace = [Int](filled: -1, count: f.vregCount), any = false
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            if case .move(let d, .reg(let src)) = i, d != src, defCount[d.id] == 1, defCount[src.id] == 1 { replace[d.id] = src.id; any = true }
        }
    }
    guard any else { return }
    func resolve(_ v: VReg) -> VReg { var v = v.id, n = 0; while replace[v] >= 0, n < 64 { v = replace[v]; n += 1 }; return VReg(id: v) }
    let map: (Operand) -> Operand = { o in if case .reg(let r) = o { return .reg(resolve(r)) }; return o }
    for b in f.blocks.indices {
        f.blocks[b].instructions = f.blocks[b].instructions.map { ($0.0.mapUses(map), $0.1) }
        f.blocks[b].terminator = f.terminator(of: b).mapUses(map)
    }
}

/// Within each block, after `d = s` a later read of `d` reads `s` instead,
/// until either is redefined. Global copies are left to the allocator's hints.
func propagateCopies(_ f: inout IRFunction) {
    // copy[r]: what r holds a copy of in this block so far; copiers[s]: the
    // registers copied from s (to forget them when s is written). Arrays by
    // register number, reset through `touched` at each block.
    var copy = [Operand?](filled: nil, count: f.vregCount)
    var copiers = [[Int]](filled: [], count: f.vregCount)
    var touched: [Int] = []
    for b in f.blocks.indices {
        for r in touched { copy[r] = nil; copiers[r] = [] }
        touched.removeAll(keepingCapacity: true)
        func resolve(_ o: Operand) -> Operand {
            if case .reg(let r) = o, let c = copy[r.id] { return c }
            return o
        }
        f.rewriteInstructions(ofBlock: b) { insn, _ in
            // Rebuilt only when a register it reads holds a copy.
            var copies = false
            insn.forEachUse { if copy[$0.id] != nil { copies = true } }
            let i = copies ? insn.mapUses(resolve) : insn
            if let d = i.definition {
                copy[d.id] = nil
                for k in copiers[d.id] where copy[k] == .reg(d) { copy[k] = nil }
                copiers[d.id].removeAll(keepingCapacity: true)
                if case .move(_, let src) = i, src != .reg(d) {
                    copy[d.id] = src
                    touched.append(d.id)
                    if case .reg(let s) = src { copiers[s.id].append(d.id); touched.append(s.id) }
                }
            }
            // Unchanged when no copy can stand in (an atomic add's value
            // must stay a register): a write would make the liveness stale.
            return copies && i != insn ? i : nil
        }
        f.setTerminator(f.terminator(of: b).mapUses(resolve), ofBlock: b)
    }
}

// MARK: Compare and branch

/// `t = set.cc a, b; br.ne t, 0` becomes `br.cc a, b` when `t` is read
/// nowhere else: BPF compares and jumps in one instruction.
func fuseCompareAndBranch(_ f: inout IRFunction) {
    let live = f.liveness()
    for b in f.blocks.indices {
        guard case .branch(let c, .reg(let t), .imm(0), let th, let el) = f.terminator(of: b), c == .eq || c == .ne,
              let (last, _) = f.instructions(of: b).last,
              case .setcc(let cc, let d, let x, let y) = last, d == t, !live.liveOut[b].contains(t) else { continue }
        f.blocks[b].instructions.removeLast()
        let cond = c == .ne ? cc : cc.negated
        if case .imm = x, case .reg = y {
            f.blocks[b].terminator = .branch(cond.swapped, y, x, then: th, else: el)
        } else {
            f.blocks[b].terminator = .branch(cond, x, y, then: th, else: el)
        }
    }
}

// MARK: Dead code

/// Removes instructions whose result nobody reads (calls stay: they act).
func eliminateDeadCode(_ f: inout IRFunction) {
    // A removal changes what is live in other blocks only if it changes
    // what is live on entering its block: only then may a definition in a
    // predecessor have become dead, and another round (with the liveness
    // computed again) is needed.
    //
    // What is live at each point of a block's backward walk is kept as marks
    // by register number: a register is live when its mark is the block's
    // stamp (a copy of the block's live-out set, grown and shrunk element
    // by element, was an allocation a block and a shift of the array at
    // each change).
    var l = LiveMarks(registers: f.vregCount)
    var changed = true
    while changed {
        changed = false
        let live = f.liveness()
        for b in f.blocks.indices {
            l.start(live.liveOut[b])
            f.terminator(of: b).forEachUse { l.insert($0) }
            let insns = f.instructions(of: b)
            // The kept instructions, last first, built only from the first
            // removal on (most blocks lose nothing: no array for them).
            var kept: [(IRInstruction, SourceLocation)] = []
            var edited = false   // the block is rewritten only when something went
            for k in insns.indices.reversed() {
                let (insn, loc) = insns[k]
                func edit() {
                    guard !edited else { return }
                    edited = true
                    kept.reserveCapacity(insns.count)
                    kept.append(contentsOf: insns[(k + 1)...].reversed())
                }
                if let d = insn.definition, !l.contains(d), !insn.hasSideEffects { edit(); continue }
                if case .call(let d?, let h, let args) = insn, !l.contains(d) {
                    edit()
                    insn.forEachUse { l.insert($0) }
                    kept.append((.call(nil, helper: h, args: args), loc)); continue
                }
                if case .move(let d, .reg(let s)) = insn, d == s { edit(); continue }
                if let d = insn.definition { l.remove(d) }
                insn.forEachUse { l.insert($0) }
                if edited { kept.append((insn, loc)) }
            }
            if edited {
                f.blocks[b].instructions = kept.reversed()
                if !l.equals(live.liveIn[b]) { changed = true }
            }
        }
    }
}

/// A set of registers for one backward walk of a block at a time (dead-code
/// elimination): `start` begins a block's set from its live-out set; then
/// membership, insertion and removal are one array access each.
struct LiveMarks {
    private var mark: [Int]
    private var stamp = 0, count = 0

    init(registers: Int) { mark = [Int](filled: 0, count: registers) }

    mutating func start(_ set: RegisterSet) {
        stamp += 1
        count = 0
        for id in set.ids { insert(VReg(id: id)) }
    }
    func contains(_ r: VReg) -> Bool { mark[r.id] == stamp }
    mutating func insert(_ r: VReg) {
        if mark[r.id] != stamp { mark[r.id] = stamp; count += 1 }
    }
    mutating func remove(_ r: VReg) {
        if mark[r.id] == stamp { mark[r.id] = 0; count -= 1 }
    }
    /// Whether the set holds exactly `set`'s registers.
    func equals(_ set: RegisterSet) -> Bool {
        set.ids.count == count && set.ids.allSatisfy { mark[$0] == stamp }
    }
}

// MARK: Control flow

/// A `jump` to a loop's header that only tests and branches takes the test
/// itself: a loop's latch then branches back to the body directly (loop
/// rotation), saving a jump per iteration for the CPU and for the verifier.
/// Not a test where forward paths join (the arms of an aggregation, then
/// `return 0 if kind != 1`): copied into each arm, it saves no jump the
/// layout cannot, and the verifier walks every copy where it would have
/// pruned the second path at the shared test (a held-out TCP event probe:
/// 274 → 247 verified instructions).
func duplicateBranchBlocks(_ f: inout IRFunction) {
    let order = f.order(), header = f.loopHeaders(order: order)
    for b in order {
        guard case .jump(let t) = f.terminator(of: b), t != b, f.instructions(of: t).isEmpty,
              case .branch = f.terminator(of: t), header[t] else { continue }
        f.blocks[b].terminator = f.terminator(of: t)
        f.blocks[b].terminatorLocation = f.blocks[t].terminatorLocation
    }
}

/// Drops unreachable blocks, threads jumps through empty blocks, turns
/// branches with equal targets into jumps, and merges a block into its only
/// predecessor when that predecessor jumps straight to it.
func simplifyCFG(_ f: inout IRFunction) {
    var changed = true
    while changed {
        changed = false
        // Thread through empty jump-only blocks.
        func forward(_ t: Int) -> Int {
            var t = t, seen = Set<Int>()
            while f.instructions(of: t).isEmpty, case .jump(let n) = f.terminator(of: t), seen.insert(t).inserted { t = n }
            return t
        }
        for b in f.blocks.indices {
            let old = f.terminator(of: b)
            var t = old.mapTargets(forward)
            if case .branch(_, _, _, let x, let y) = t, x == y { t = .jump(x) }
            // An empty block returning a constant can be copied into a jump
            // to it (`r0 = k; exit` in place of the jump). Not one returning
            // a register: the copy would cost as much as the jump, which
            // the layout may make a fallthrough.
            if case .jump(let n) = t, f.instructions(of: n).isEmpty, case .ret(.imm) = f.terminator(of: n) {
                f.blocks[b].terminatorLocation = f.blocks[n].terminatorLocation
                t = f.terminator(of: n)
            }
            if t != old { f.blocks[b].terminator = t; changed = true }
        }
        // Thread a jump whose outcome is known: when an empty block re-tests
        // `v == k` that its predecessor just tested (`a && b`, `a || b`),
        // the predecessor's edge goes straight to the known successor.
        for p in f.blocks.indices {
            guard case .branch(let pc, .reg(let v), .imm(let k), let pt, let pe) = f.terminator(of: p),
                  pc == .eq || pc == .ne, pt != pe else { continue }
            func known(_ edgeTaken: Bool, _ target: Int) -> Int {
                guard f.instructions(of: target).isEmpty,
                      case .branch(let c, .reg(let w), .imm(let k2), let t, let e) = f.terminator(of: target),
                      w == v, k2 == k, c == .eq || c == .ne else { return target }
                let vEqualsK = (pc == .eq) == edgeTaken
                return ((c == .eq) == vEqualsK) ? t : e
            }
            let nt = known(true, pt), ne = known(false, pe)
            if nt != pt || ne != pe {
                f.blocks[p].terminator = .branch(pc, .reg(v), .imm(k), then: nt, else: ne)
                changed = true
            }
        }
        // Thread a jump into a test of a constant it just set: when a block
        // sets `v = c` and jumps to a block of at most two copies that tests
        // `v` against a constant (`t = @m[k]` giving 0 on a miss, then
        // `if t != 0`), the block takes the copies and jumps to the known
        // side. Not into a loop's header (an entry edge into a loop's test
        // is the loop's own shape, which unrolling reads).
        // Through the function's kept order: a call that changes nothing
        // leaves it for the passes after it.
        var rpo = f.order()
        let loopHeader = f.loopHeaders(order: rpo)
        // The order stays right for the steps below while no edge changes.
        var edgesChanged = false
        for b in rpo {
            guard case .jump(let j) = f.terminator(of: b), j != b, !loopHeader[j],
                  case .branch(let c, .reg(let v), .imm(let k), let t, let e) = f.terminator(of: j),
                  f.instructions(of: j).count <= 2,
                  f.blocks[j].instructions.allSatisfy({ if case .move(let d, _) = $0.0, d != v { return true }; return false }),
                  let last = f.instructions(of: b).last(where: { $0.0.definition == v }),
                  case .move(_, .imm(let value)) = last.0 else { continue }
            f.blocks[b].instructions += f.blocks[j].instructions
            f.blocks[b].terminator = .jump(c.evaluate(value, k) ? t : e)
            f.blocks[b].terminatorLocation = f.blocks[j].terminatorLocation
            changed = true
            edgesChanged = true
        }
        if edgesChanged { rpo = f.order(); edgesChanged = false }
        // Merge a block into its single predecessor (whole chains at once: a
        // merge moves the successor's edges to the predecessor, so every
        // predecessor count stays right).
        let predecessorCount = f.predecessorCounts
        var merged = [Bool](filled: false, count: f.blocks.count)
        for b in rpo where !merged[b] {
            while case .jump(let n) = f.terminator(of: b), n != 0, n != b, predecessorCount[n] == 1, !merged[n] {
                f.blocks[b].instructions += f.blocks[n].instructions
                f.blocks[b].terminator = f.terminator(of: n)
                f.blocks[b].terminatorLocation = f.blocks[n].terminatorLocation
                f.blocks[n] = IRBlock()
                f.blocks[n].terminator = .ret(.imm(0))
                merged[n] = true
                changed = true
                edgesChanged = true
            }
        }
        // Compact: keep reachable blocks only, renumbered in reverse post-order.
        let order = edgesChanged ? f.order() : rpo
        if order.count != f.blocks.count || order != Array(0..<order.count) {
            let map = f.positions(in: order)
            f.blocks = order.map { b in
                var blk = f.blocks[b]
                blk.terminator = blk.terminator.mapTargets { map[$0] }
                return blk
            }
        }
    }
}

// MARK: BTF arguments

/// In fentry/fexit/tp_btf/lsm programs a struct pointer argument is a BTF
/// pointer: `bpf_probe_read_kernel(buf, n, arg + off)` of 1, 2, 4 or 8
/// bytes becomes a load from `arg + off` stored into `buf`, as clang
/// compiles `p->pid` there (no helper call; the verifier checks the offset
/// against the struct and a fault reads 0, as the helper's would). Only
/// the argument itself: a pointer read out of it is not known to be one.
func loadThroughBTFArguments(_ f: inout IRFunction) {
    guard !f.btfPointerArguments.isEmpty else { return }
    let definitions = Definitions(f, instructions: true)
    func single(_ r: VReg) -> IRInstruction? { definitions.single(r) }
    let context = f.context, arguments = f.btfPointerArguments
    func isArgument(_ r: VReg) -> Bool {
        guard definitions.count(context) == 0, case .load(_, context, let off, 8, _)? = single(r) else { return false }
        return arguments.contains(off)
    }
    /// `addr` is an argument plus a constant or CO-RE offset.
    func throughArgument(_ addr: VReg) -> Bool {
        if isArgument(addr) { return true }
        guard case .binary(.add, _, .reg(let p), let off)? = single(addr), isArgument(p) else { return false }
        switch off {
        case .imm: return true
        case .reg(let r):
            if case .coreConstant? = single(r) { return true }
            if case .move(_, .imm)? = single(r) { return true }
            return false
        }
    }
    loadInsteadOfProbeReads(&f) { _, addr, _ in
        guard case .reg(let r) = addr, throughArgument(r) else { return nil }
        return (r, 0)
    }
}

// MARK: Frame addresses

/// A load or store through a register that only ever holds one frame
/// address (`%a = fp-8` its one definition) addresses the frame directly:
/// `load.u8 [%a + 0]` becomes `load.u8 [fp-8]`, so the address is not built
/// in a register first (R10 is the base the verifier tracks best anyway).
/// The one definition dominates every use, so the value is that address
/// wherever it is read.
func foldFrameAddresses(_ f: inout IRFunction) {
    let frame = frameAddresses(f)
    guard !frame.isEmpty else { return }
    for b in f.blocks.indices {
        for i in f.blocks[b].instructions.indices {
            switch f.blocks[b].instructions[i].0 {
            case .load(let v, let base, let k, let size, let signed):
                if let off = frame[base] { f.blocks[b].instructions[i].0 = .loadFrame(v, offset: off + k, size: size, signed: signed) }
            case .store(let base, let k, let value, let size):
                if let off = frame[base] { f.blocks[b].instructions[i].0 = .storeFrame(offset: off + k, value: value, size: size) }
            default: break
            }
        }
    }
}

// MARK: Speculation

/// `d = c ? x op y : y op x`: a diamond whose two arms each only compute `d`
/// with at most two register operations becomes one arm: the else arm's
/// operations move above the branch (they cannot fault and write nothing
/// but `d`), and the branch goes to the then arm or straight to the join.
/// One jump fewer on both paths (clang selects the same way).
func speculateArms(_ f: inout IRFunction) {
    let preds = f.predecessors
    func onlyComputes(_ b: Int) -> VReg? {
        let insns = f.blocks[b].instructions
        guard (1...2).contains(insns.count), preds[b].count == 1 else { return nil }
        var d: VReg?
        for (i, _) in insns {
            switch i {
            case .move, .binary, .neg, .setcc: break
            default: return nil
            }
            guard let x = i.definition, d == nil || d == x else { return nil }
            d = x
        }
        return d
    }
    /// Whether `insns` read `d` before they set it (the then arm must not
    /// see the else arm's speculated value).
    func readsBeforeWriting(_ insns: [IRInstruction], _ d: VReg) -> Bool {
        for i in insns {
            if i.uses.contains(d) { return true }
            if i.definition == d { return false }
        }
        return false
    }
    for h in f.blocks.indices {
        guard case .branch(let c, let l, let r, let t, let e) = f.terminator(of: h), t != e,
              case .jump(let jt) = f.terminator(of: t), case .jump(let je) = f.terminator(of: e), jt == je, jt != h,
              let dt = onlyComputes(t), let de = onlyComputes(e), dt == de,
              !f.terminator(of: h).uses.contains(dt),
              !readsBeforeWriting(f.blocks[t].instructions.map(\.0), dt) else { continue }
        f.blocks[h].instructions += f.blocks[e].instructions
        f.blocks[h].terminator = .branch(c, l, r, then: t, else: jt)
    }
    hoistConstantArms(&f)
}

/// `d = x < 0 ? 0 : (x >= 1000 ? 11 : x / 100 + 1)`: an arm that only sets
/// `d` to a constant and jumps on sets it above the branch instead, when
/// the other arm does not read `d` before writing it; the branch goes
/// straight to the join. One jump fewer for each such arm (as clang
/// selects a constant into a register before testing): `lhist`'s bucket.
func hoistConstantArms(_ f: inout IRFunction) {
    var preds = EditedPredecessors(f)
    var liveness: IRLiveness?
    for h in f.reversePostOrder {
        guard case .branch(let c, let l, let r, let t, let e) = f.terminator(of: h), t != e else { continue }
        // `return 0 if …; … 1`: two returns of different constants become
        // one `ret v`, each setting `v`, so that the return only this test
        // reaches is set above it (`r0 = 0; if …; r0 = 1; exit`).
        if case .ret(.imm(let kt)) = f.terminator(of: t), case .ret(.imm(let ke)) = f.terminator(of: e), kt != ke,
           f.instructions(of: t).isEmpty, f.instructions(of: e).isEmpty, preds.isOnly(t, h) || preds.isOnly(e, h) {
            let v = f.newVReg()
            f.blocks.append(IRBlock(instructions: [], terminator: .ret(.reg(v)), terminatorLocation: f.blocks[e].terminatorLocation))
            let exit = f.blocks.count - 1
            for (b, k) in [(t, kt), (e, ke)] {
                f.blocks[b].instructions = [(.move(v, .imm(k)), f.blocks[b].terminatorLocation)]
                f.blocks[b].terminator = .jump(exit)
            }
            preds[exit] = [t, e]
            liveness = nil
        }
        // Each arm in turn (a loop over `[(t, e), (e, t)]` made the array
        // for every branch).
        func hoist(_ arm: Int, other: Int) -> Bool {
            guard preds.isOnly(arm, h), f.instructions(of: arm).count == 1,
                  case (.move(let d, .imm(let k)), let loc) = f.blocks[arm].instructions[0],
                  case .jump(let join) = f.terminator(of: arm), join != h, join != arm,
                  !f.terminator(of: h).uses.contains(d) else { return false }
            if liveness == nil { liveness = f.liveness() }
            guard !liveness!.liveIn[other].contains(d) else { return false }
            f.blocks[h].instructions.append((.move(d, .imm(k)), loc))
            f.blocks[h].terminator = arm == t ? .branch(c, l, r, then: join, else: e) : .branch(c, l, r, then: t, else: join)
            preds[join].append(h)
            preds[arm] = []
            return true
        }
        if !hoist(t, other: e) { _ = hoist(e, other: t) }
    }
}

// MARK: Operand order

/// BPF arithmetic is two-address (`d op= s`), so `d = a op b` is selected as
/// `d = a; d op= b`, and the copy goes away only when `a` dies there. For a
/// commutative op whose left operand lives on while the right one dies (or
/// is `d` itself), the operands swap: `h ^ (h >> 7)` becomes `t ^= h` in
/// `t`'s register instead of a copy of `h`.
func commuteOperands(_ f: inout IRFunction) {
    let liveness = f.liveness()
    for b in f.blocks.indices {
        // Only a commutative op on two registers may swap: a block without
        // one needs no walk (and no live set per instruction).
        guard f.blocks[b].instructions.contains(where: { insn, _ in
            if case .binary(let op, _, .reg(let x), .reg(let y)) = insn, op.isCommutative, x != y { return true }
            return false
        }) else { continue }
        var live = liveness.liveOut[b]
        live.formUnion(f.terminator(of: b).uses)
        for i in f.blocks[b].instructions.indices.reversed() {
            let insn = f.blocks[b].instructions[i].0
            if case .binary(let op, let d, .reg(let x), .reg(let y)) = insn, op.isCommutative, x != y, d != x,
               d == y || (live.contains(x) && !live.contains(y)) {
                f.blocks[b].instructions[i].0 = .binary(op, d, .reg(y), .reg(x))
            }
            if let d = insn.definition { live.remove(d) }
            live.formUnion(insn.uses)
        }
    }
}

// MARK: Move coalescing

/// `t = E; …; x = t` becomes `x = E` when `t` is read nowhere else and `x`
/// is neither read nor written in between: mruby computes into scratch
/// registers and copies into locals; BPF can compute into the local directly.
func coalesceMoves(_ f: inout IRFunction) {
    let live = f.liveness()
    for b in f.blocks.indices {
        // Only a move between registers is coalesced: a block without one
        // keeps its instructions (and needs no liveness per instruction).
        guard f.blocks[b].instructions.contains(where: { insn, _ in
            if case .move(let x, .reg(let t)) = insn, x != t { return true }
            return false
        }) else { continue }
        var insns = f.blocks[b].instructions
        // liveAfter[i]: registers read after instruction i.
        func liveAfter() -> [RegisterSet] {
            var l = live.liveOut[b].union(f.terminator(of: b).uses)
            var out = Array(filled: l, count: insns.count)
            for i in stride(from: insns.count - 1, through: 0, by: -1) {
                out[i] = l
                if let d = insns[i].0.definition { l.remove(d) }
                l.formUnion(insns[i].0.uses)
            }
            return out
        }
        var after = liveAfter()
        var i = 0
        while i < insns.count {
            guard case .move(let x, .reg(let t)) = insns[i].0, x != t, !after[i].contains(t) else { i += 1; continue }
            var j = i - 1
            var ok = false
            while j >= 0 {
                let insn = insns[j].0
                if insn.definition == t { ok = true; break }
                if insn.uses.contains(t) || insn.uses.contains(x) || insn.definition == x { break }
                j -= 1
            }
            guard ok, j >= 0, let def = insns[j].0.renamingDefinition(to: x) else { i += 1; continue }
            insns[j].0 = def
            insns.remove(at: i)
            after = liveAfter()
        }
        f.blocks[b].instructions = insns
    }
}
