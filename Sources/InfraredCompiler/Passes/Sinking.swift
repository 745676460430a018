import BPF
import InfraredObject

/// Global variables' loads moved to where they are used (sink-loads).
///
/// The lowering reads every global a body uses once, at entry (`kept` and
/// `dropped` of a socket filter that bumps one or the other), which keeps
/// each read in a register across the whole body. Clang reads a global
/// where the code uses it. A load from a global whose uses all lie below
/// another block moves to the start of the nearest block dominating them
/// all, with its own `ld_imm64` of the address, when:
/// - the global's address is only ever a load or store base (no helper
///   gets it, so no call writes it);
/// - no store or atomic add to that global lies on a path from the load to
///   that block;
/// - that block is in no loop the load's block is not in (never read a
///   global once per iteration instead of once).
func sinkGlobalLoads(_ f: inout IRFunction) {
    // Most functions read no global: nothing to index then.
    guard f.containsInstruction(where: { if case .variableAddress = $0 { return true }; return false }) else { return }
    let definitions = Definitions(f)
    var variable: [VReg: String] = [:], useBlocks: [VReg: Set<Int>] = [:]
    var escaped = Set<String>()
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            if case .variableAddress(let d, let name) = i, definitions.count(d) == 1 { variable[d] = name.string }
        }
    }
    // Only a load through a global's address can move (a fault counter is
    // one that is added to, never read): nothing to index without one.
    guard f.containsInstruction(where: {
        if case .load(_, let base, _, _, _) = $0 { return variable[base] != nil }; return false
    }) else { return }
    for bi in f.blocks.indices {
        for (i, _) in f.instructions(of: bi) { for u in i.uses { useBlocks[u, default: []].insert(bi) } }
        for u in f.terminator(of: bi).uses { useBlocks[u, default: []].insert(bi) }
    }
    // Globals whose address goes anywhere but a load or store base.
    var writes: [String: Set<Int>] = [:]
    for bi in f.blocks.indices {
        for (i, _) in f.instructions(of: bi) {
            var bases: [VReg] = []
            switch i {
            case .load(_, let base, _, _, _): bases = [base]
            case .store(let base, _, let v, _):
                bases = [base]
                if let name = variable[base] { writes[name, default: []].insert(bi) }
                if let r = v.register, let name = variable[r] { escaped.insert(name) }
            case .atomicAdd(let base, _, let v, _):
                bases = [base]
                if let name = variable[base] { writes[name, default: []].insert(bi) }
                if let name = variable[v] { escaped.insert(name) }
            default: break
            }
            for u in i.uses where !bases.contains(u) { if let name = variable[u] { escaped.insert(name) } }
        }
        for u in f.terminator(of: bi).uses { if let name = variable[u] { escaped.insert(name) } }
    }
    let order = f.reversePostOrder
    let rank = f.positions(in: order)
    let preds = f.predecessors
    let dominators = Dominators(f)
    let loops = Loop.natural(in: f)
    /// Blocks on some path from `a` to `b` (both ends included).
    func between(_ a: Int, _ b: Int) -> Set<Int> {
        var forward: Set<Int> = [a], work = [a]
        while let x = work.popLast() { for s in f.terminator(of: x).successors where forward.insert(s).inserted { work.append(s) } }
        var backward: Set<Int> = [b]
        work = [b]
        while let x = work.popLast() { for p in preds[x] where backward.insert(p).inserted { work.append(p) } }
        return forward.intersection(backward)
    }
    var moves: [(from: Int, index: Int, to: Int, load: IRInstruction, name: String)] = []
    for bi in f.blocks.indices where rank[bi] >= 0 {
        for (ii, (i, _)) in f.instructions(of: bi).enumerated() {
            guard case .load(let d, let base, _, _, _) = i, let name = variable[base], !escaped.contains(name),
                  definitions.count(d) == 1, let uses = useBlocks[d], !uses.isEmpty, !uses.contains(bi) else { continue }
            // The nearest block dominating every use.
            let candidates = order.filter { c in uses.allSatisfy { dominators.dominates(c, $0) } }
            guard let target = candidates.first(where: { c in candidates.allSatisfy { dominators.dominates($0, c) } }),
                  target != bi, dominators.dominates(bi, target),
                  loops.allSatisfy({ !$0.blocks.contains(target) || $0.blocks.contains(bi) }) else { continue }
            // No write to the global from the load on to the target's start.
            let path = between(bi, target).subtracting([target])
            guard (writes[name] ?? []).isDisjoint(with: path),
                  !f.blocks[bi].instructions[(ii + 1)...].contains(where: {
                      if case .store(let s, _, _, _) = $0.0, variable[s] == name { return true }
                      if case .atomicAdd(let s, _, _, _) = $0.0, variable[s] == name { return true }
                      return false
                  }) else { continue }
            moves.append((bi, ii, target, i, name))
        }
    }
    guard !moves.isEmpty else { return }
    var inserted: [Int: [(IRInstruction, SourceLocation)]] = [:]
    for m in moves {
        let loc = f.blocks[m.from].instructions[m.index].1
        guard case .load(let d, _, let off, let size, let signed) = m.load else { continue }
        let a = f.newVReg()
        inserted[m.to, default: []] += [(.variableAddress(a, name: SymbolName(m.name)), loc), (.load(d, base: a, offset: off, size: size, signed: signed), loc)]
    }
    for (b, indices) in Dictionary(grouping: moves, by: \.from) {
        let drop = Set(indices.map(\.index))
        f.blocks[b].instructions = f.blocks[b].instructions.enumerated().filter { !drop.contains($0.offset) }.map(\.element)
    }
    for (b, insns) in inserted { f.blocks[b].instructions.insert(contentsOf: insns, at: 0) }
    // A later address of the same global in the block (the store's) is the
    // one just loaded: one `ld_imm64` for the read and the write.
    var renamed: [VReg: VReg] = [:]
    for (b, insns) in inserted {
        var first: [String: VReg] = [:]
        for case (.variableAddress(let a, let name), _) in insns { first[name.string] = a }
        f.blocks[b].instructions.removeAll { insn in
            guard case .variableAddress(let a, let name) = insn.0, let x = first[name.string], x != a, definitions.count(a) == 1 else { return false }
            renamed[a] = x
            return true
        }
    }
    guard !renamed.isEmpty else { return }
    for b in f.blocks.indices {
        for i in f.blocks[b].instructions.indices {
            f.blocks[b].instructions[i].0 = f.blocks[b].instructions[i].0.mapUses { o in o.register.flatMap { renamed[$0] }.map { .reg($0) } ?? o }
        }
        f.blocks[b].terminator = f.terminator(of: b).mapUses { o in o.register.flatMap { renamed[$0] }.map { .reg($0) } ?? o }
    }
}

/// Fault paths last (cold-faults): a block that counts a fault (a failed
/// map update, a dropped record: `lock __infrared_faults[n] += 1`) and
/// returns moves after every other block, keeping their order (one that
/// jumps back into the body stays: moved, it would need that jump). The hot path then falls
/// through (`if r0 == 0 goto fault`), and a lookup's result stays in R0:
/// the allocator's intervals follow the layout, and a fault block laid
/// between a lookup and its use, which ends `r0 = 0; exit`, kept R0 from it.
/// Clang lays out the `else FAULT()` arm after the rest the same way.
func moveFaultBlocksLast(_ f: inout IRFunction) {
    let cold = f.blocks.indices.filter { b in
        guard b != 0, case .ret = f.terminator(of: b) else { return false }
        return f.blocks[b].instructions.contains { if case .variableAddress(_, Fault.variableName) = $0.0 { return true }; return false }
    }
    guard !cold.isEmpty else { return }
    let coldSet = Set(cold)
    let order = f.blocks.indices.filter { !coldSet.contains($0) } + cold
    guard order != Array(f.blocks.indices) else { return }
    var position = [Int](filled: 0, count: f.blocks.count)
    for (i, b) in order.enumerated() { position[b] = i }
    f.blocks = order.map { b in
        var block = f.blocks[b]
        block.terminator = block.terminator.mapTargets { position[$0] }
        return block
    }
}

/// One atomic add for a lookup's two outcomes (share-atomic-adds): where a
/// test of a pointer against null leads to one arm that only adds to
/// `[p + off]` and another that adds to a fault counter (`[&faults + n]`),
/// both then going the same way, the counter's address is taken above the
/// test, the found arm only replaces it with `p`, and one add after them
/// serves both, as clang compiles `v ? v : &faults` feeding one
/// `__sync_fetch_and_add`:
///
///     q = &faults + (n - off); w = 1  (w only where the two values differ)
///     if p == 0 goto add
///     q = p; w = value
///   add: lock [q + off] += w
///
/// The null arm's other instructions (the counter's address, its constant)
/// must be free of effects: they move above the test.
func shareAtomicAdds(_ f: inout IRFunction) {
    let preds = f.predecessors
    // The definitions of the function as it came, found when first asked
    // (most functions have no add to share).
    let original = f
    var definitions: Definitions?
    func constant(_ r: VReg) -> Int64? {
        if definitions == nil { definitions = Definitions(original, instructions: true) }
        if case .move(_, .imm(let k))? = definitions!.single(r) { return k }
        return nil
    }
    let blockCount = f.blocks.count
    var liveness: IRLiveness?   // of the blocks as they were (each rewrite only adds registers)
    var changed = false
    defer { if changed { simplifyCFG(&f); eliminateDeadCode(&f) } }
    for h in 0..<blockCount {
        guard case .branch(let c, .reg(let p), .imm(0), let t, let e) = f.terminator(of: h), c == .eq || c == .ne, t != e else { continue }
        let (found, missing) = c == .ne ? (t, e) : (e, t)
        guard preds[found].isOnly(h), preds[missing].isOnly(h), found != h, missing != h,
              f.terminator(of: found) == f.terminator(of: missing),
              f.instructions(of: found).count == 1,
              case .atomicAdd(p, let offset, let value, let size) = f.blocks[found].instructions[0].0,
              let (last, lastLocation) = f.instructions(of: missing).last,
              case .atomicAdd(let counter, let counterOffset, let counterValue, size) = last,
              counter != p else { continue }
        // Only where both then return: the verifier walks what follows the
        // shared add once per arm (the two pointers differ), so sharing an
        // add in the middle of a body costs more instructions verified than
        // it saves emitted.
        guard case .ret(.imm) = f.terminator(of: found) else { continue }
        let prefix = f.blocks[missing].instructions.dropLast()
        guard prefix.allSatisfy({ insn in
            switch insn.0 {
            case .move, .variableAddress, .mapAddress: return true
            default: return false
            }
        }) else { continue }
        // What moves above the test must not overwrite a value the found arm reads.
        if liveness == nil { liveness = f.liveness() }
        guard !prefix.contains(where: { $0.0.definition.map { liveness!.liveIn[found].contains($0) } ?? false }) else { continue }
        let location = f.blocks[found].instructions[0].1
        let q = f.newVReg()
        var hoisted = Array(prefix)
        hoisted.append((.move(q, .reg(counter)), lastLocation))
        if counterOffset != offset { hoisted.append((.binary(.add, q, .reg(q), .imm(Int64(counterOffset - offset))), lastLocation)) }
        // Equal constants: the counter's own (set after any call above, so
        // it needs no register kept across the call).
        var w = counterValue
        var arm: [(IRInstruction, SourceLocation)] = [(.move(q, .reg(p)), location)]
        if value != counterValue && !(constant(value) != nil && constant(value) == constant(counterValue)) {
            w = f.newVReg()
            hoisted.append((.move(w, .reg(counterValue)), lastLocation))
            arm.append((.move(w, .reg(value)), location))
        }
        let join = f.blocks.count
        f.blocks.append(IRBlock(instructions: [(.atomicAdd(base: q, offset: offset, value: w, size: size), location)],
                                terminator: f.terminator(of: found), terminatorLocation: f.blocks[found].terminatorLocation))
        f.blocks[h].instructions += hoisted
        f.blocks[h].terminator = c == .ne ? .branch(.ne, .reg(p), .imm(0), then: found, else: join)
                                          : .branch(.eq, .reg(p), .imm(0), then: join, else: found)
        f.blocks[found].instructions = arm
        f.blocks[found].terminator = .jump(join)
        f.blocks[missing] = IRBlock(instructions: [], terminator: .jump(join))
        changed = true
    }
}

/// Values the selection materialises in one or two instructions where they
/// are used (addresses, constants): no register need hold them across a call.
private func rematerialized(_ x: IRInstruction) -> Bool {
    switch x { case .frameAddress, .mapAddress, .variableAddress, .stringAddress, .move(_, .imm): return true; default: return false }
}

/// Helpers that only read the current state (the time, the task's ids, the
/// CPU): a call of one may move past anything that cannot change what it
/// returns, which is everything but another call of the same helper.
private let stateReaders = Set(["ktime_get_ns", "ktime_get_boot_ns", "ktime_get_coarse_ns", "get_current_pid_tgid",
                                "get_current_uid_gid", "get_smp_processor_id", "get_current_task", "get_current_cgroup_id",
                                "jiffies64"].compactMap { HelperPrototype.named($0)?.id })

/// `start[tid] = ktime_ns`: mruby evaluates the value before the index, so
/// the time is read first and held in a callee-saved register across the
/// `tid` call (sink-state-reads). A call of a state-reading helper with no
/// arguments moves down its block to just before its value's first use,
/// past stores, addresses and constants and other such calls (never one
/// of the same helper: two clock reads keep their order), when every value
/// defined on the way is used before the new position: no value then
/// lives across the call instead of it.
func sinkStateReads(_ f: inout IRFunction) {
    var liveness: IRLiveness?   // moves within a block change no block's live-out set
    for b in f.blocks.indices {
        var insns = f.blocks[b].instructions, changed = false
        var i = 0
        while i < insns.count {
            guard case .call(let d?, let h, let args) = insns[i].0, args.isEmpty, stateReaders.contains(h) else { i += 1; continue }
            var target: Int?
            var definedOnTheWay: [VReg] = []
            scan: for j in (i + 1)..<insns.count {
                let x = insns[j].0
                if x.uses.contains(d) { target = j; break }
                if x.definition == d { break }
                switch x {
                case .call(_, let h2, let a2) where a2.isEmpty && stateReaders.contains(h2) && h2 != h: break
                case .storeFrame, .store: break
                case _ where rematerialized(x): break
                default: break scan
                }
                if let def = x.definition { definedOnTheWay.append(def) }
            }
            guard let t = target, t > i + 1 else { i += 1; continue }
            // A value defined on the way and read at or after the new position would live across the call.
            if liveness == nil { liveness = f.liveness() }
            var readLater = Set(insns[t...].flatMap { $0.0.uses } + f.terminator(of: b).uses)
            readLater.formUnion(liveness!.liveOut[b].sorted())
            let crossing = insns[(i + 1)..<t].contains { x in
                guard let def = x.0.definition, !rematerialized(x.0) else { return false }
                return readLater.contains(def) || definedOnTheWay.filter { $0 == def }.count > 1
            }
            guard !crossing, d != f.context else { i += 1; continue }
            // Addresses and constants read after the new position follow the
            // call, so they do not live across it either.
            func follows(_ x: (IRInstruction, SourceLocation)) -> Bool { rematerialized(x.0) && x.0.definition.map(readLater.contains) == true }
            let between = insns[(i + 1)..<t]
            let follow = between.filter(follows), stay = between.filter { !follows($0) }
            guard !stay.isEmpty else { i += 1; continue }   // only what follows anyway: nothing to gain
            insns.replaceSubrange(i..<t, with: stay + [insns[i]] + follow)
            changed = true
            // The instruction now at i is new to the scan.
        }
        if changed { f.blocks[b].instructions = insns }
    }
}

/// A field of a read-only context read once and used after a helper call
/// holds a callee-saved register across the call (reread-context). BPF has
/// four, R6–R9; where more values than that live across one call, the
/// allocator spills some to the stack: a store, then a load before every
/// use. A field can be read again instead, from the context the program
/// keeps anyway, as clang reads `ctx->field` again after a call: the uses
/// after a call read it afresh (one load, shared by the uses up to the next
/// call; no store, no stack slot). Fields go fewest uses first, until no
/// call has more than four values across it, and only a field whose every
/// call has the context across it too (reading it again then never keeps
/// the context longer). The tracing contexts only (`contextReadOnly`): a
/// packet program's `data` read again would lose the bounds its checks gave.
func rereadContextFields(_ f: inout IRFunction) {
    guard f.contextReadOnly else { return }
    let ctx = f.context
    var definitions = [Int](filled: 0, count: f.vregCount)
    // Registers only ever defined as the selection rematerialises take no
    // register across a call.
    var materialized = [Bool](filled: false, count: f.vregCount), other = materialized
    var fields: [VReg: IRInstruction] = [:]
    var uses = [Int](filled: 0, count: f.vregCount)
    var calls = 0
    for b in f.blocks.indices {
        f.terminator(of: b).forEachUse { uses[$0.id] += 1 }
        for (insn, _) in f.blocks[b].instructions {
            if case .call = insn { calls += 1 }
            insn.forEachUse { uses[$0.id] += 1 }
            guard let d = insn.definition else { continue }
            definitions[d.id] += 1
            if rematerialized(insn) { materialized[d.id] = true } else { other[d.id] = true }
            if case .load(_, ctx, _, _, _) = insn { fields[d] = insn }
        }
    }
    guard calls > 0, definitions[ctx.id] == 0 else { return }
    fields = fields.filter { definitions[$0.key.id] == 1 }
    guard !fields.isEmpty else { return }

    // The registers live across each call (after it, but for its result).
    let live = f.liveness()
    var across: [[VReg]] = []
    for b in f.blocks.indices {
        var s = live.liveOut[b]
        f.terminator(of: b).forEachUse { s.insert($0) }
        for (insn, _) in f.blocks[b].instructions.reversed() {
            if let d = insn.definition { s.remove(d) }
            if case .call = insn { across.append(s.ids.filter { !materialized[$0] || other[$0] }.map { VReg(id: $0) }) }
            insn.forEachUse { s.insert($0) }
        }
    }
    let limit = 4   // R6–R9
    var crowded = across.filter { $0.count > limit }
    guard !crowded.isEmpty else { return }
    // A field qualifies where the context lives across every call it does.
    let eligible = Set(fields.keys.filter { v in across.allSatisfy { !$0.contains(v) || $0.contains(ctx) } })
    var chosen = Set<VReg>()
    while let worst = crowded.indices.first(where: { crowded[$0].count > limit }) {
        guard let v = crowded[worst].filter({ eligible.contains($0) && !chosen.contains($0) })
            .min(by: { (uses[$0.id], $0.id) < (uses[$1.id], $1.id) }) else {
            crowded.remove(at: worst)
            continue
        }
        chosen.insert(v)
        for k in crowded.indices { crowded[k].removeAll { $0 == v } }
    }
    guard !chosen.isEmpty else { return }

    // Where a field's first read still holds with no call since (on every
    // path in), its uses read that register; elsewhere they read the field
    // again, once per stretch between calls in a block.
    let order = f.order(), preds = f.predecessors
    var holding = [Set<VReg>?](filled: nil, count: f.blocks.count)   // at each block's end; nil: not reached yet
    func transfer(_ b: Int, _ s: inout Set<VReg>) {
        for (insn, _) in f.blocks[b].instructions {
            if case .call = insn { s = [] }
            if let d = insn.definition, chosen.contains(d) { s.insert(d) }
        }
    }
    func entry(_ b: Int) -> Set<VReg> {
        guard b != 0 else { return [] }
        let ins = preds[b].compactMap { holding[$0] }
        return ins.dropFirst().reduce(ins.first ?? []) { $0.intersection($1) }
    }
    var changed = true
    while changed {
        changed = false
        for b in order {
            var s = entry(b)
            transfer(b, &s)
            if holding[b] != s { holding[b] = s; changed = true }
        }
    }
    for b in order {
        var held = entry(b)
        var fresh: [VReg: VReg] = [:]
        var out: [(IRInstruction, SourceLocation)] = []
        func reading(_ o: Operand, at location: SourceLocation) -> Operand {
            guard case .reg(let v) = o, chosen.contains(v), !held.contains(v) else { return o }
            if let t = fresh[v] { return .reg(t) }
            let t = f.newVReg()
            out.append((fields[v]!.renamingDefinition(to: t)!, location))
            fresh[v] = t
            return .reg(t)
        }
        var rewritten = false
        for (insn, loc) in f.blocks[b].instructions {
            if insn.uses.contains(where: { chosen.contains($0) && !held.contains($0) }) {
                out.append((insn.mapUses { reading($0, at: loc) }, loc))
                rewritten = true
            } else {
                out.append((insn, loc))
            }
            if case .call = insn { held = []; fresh = [:] }
            if let d = insn.definition, chosen.contains(d) { held.insert(d) }
        }
        var terminator = f.terminator(of: b)
        if terminator.uses.contains(where: { chosen.contains($0) && !held.contains($0) }) {
            terminator = terminator.mapUses { reading($0, at: f.blocks[b].terminatorLocation) }
            rewritten = true
        }
        if rewritten {
            f.blocks[b].instructions = out
            f.blocks[b].terminator = terminator
        }
    }
    // A first read no use reads any more goes (this runs after the last dce).
    var used = Set<VReg>()
    for b in f.blocks.indices {
        for (insn, _) in f.blocks[b].instructions { insn.forEachUse { if chosen.contains($0) { used.insert($0) } } }
        f.terminator(of: b).forEachUse { if chosen.contains($0) { used.insert($0) } }
    }
    let unused = chosen.subtracting(used)
    guard !unused.isEmpty else { return }
    for b in f.blocks.indices where f.blocks[b].instructions.contains(where: { $0.0.definition.map(unused.contains) ?? false }) {
        f.blocks[b].instructions.removeAll { $0.0.definition.map(unused.contains) ?? false }
    }
}
