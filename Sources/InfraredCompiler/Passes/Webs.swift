/// Splits each virtual register into its webs: the groups of definitions
/// and uses that reach each other. mruby reuses a few scratch registers for
/// every expression; after this pass each value has its own register, so
/// live ranges are short, copies coalesce and constants propagate.
///
/// Reaching definitions per use, then union-find over the definitions that
/// reach a common use (the classic web construction, e.g. Muchnick §16.3).
func renameWebs(_ f: inout IRFunction) {
    // Definitions are numbered in block and instruction order, then one per
    // register read before any definition (the context), defined on entry.
    var firstDef: [Int] = []   // per block: the id of its first definition
    var defCount = 0
    for block in f.blocks.indices {
        firstDef.append(defCount)
        for (insn, _) in f.instructions(of: block) where insn.definition != nil { defCount += 1 }
    }
    let live = f.liveness()
    var entryDefs: [(VReg, Int)] = []
    for v in live.liveIn[0].union([f.context]).sorted() { entryDefs.append((v, defCount)); defCount += 1 }
    // Reaching definitions of the registers live at each block's end, one
    // per live-out register (`live.liveOut[b]`'s order; -1: none yet). A
    // use reads a register live where it is, and a register's definitions
    // reach a block only through blocks where it is live, so the uses see
    // what full sets would give them. Without the pruning every block
    // carried every register defined before it: quadratic in a long body
    // (Benchmarks/scaling.sh).
    //
    // The definitions of a register that reach a block where it is live all
    // reach one use (the first on a path from there that does not define
    // it), so they are one web: merged as soon as they meet (union-find),
    // and each register carries one definition per block, its web's root.
    // Reaching sets only grow, so every merge made on the way to the fixed
    // point is one the fixed point makes too.
    var parent = Array(0..<defCount)
    func find(_ x: Int) -> Int { var x = x; while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }; return x }
    func union(_ a: Int, _ b: Int) -> Int {
        let ra = find(a), rb = find(b)
        if ra != rb { parent[rb] = ra }
        return ra
    }
    let n = f.blocks.count
    // Each block's reaching webs of its live-out registers, once visited:
    // all blocks' in one array, block b's at outStart[b] ..< outStart[b + 1]
    // (an array a block was an allocation a block).
    var outStart = [Int](filled: 0, count: n + 1)
    for b in 0..<n { outStart[b + 1] = outStart[b] + live.liveOut[b].ids.count }
    var outs = [Int](filled: -1, count: outStart[n]), visited = [Bool](filled: false, count: n)
    let preds = f.predecessors
    // The reaching web of each register while walking a block, indexed by
    // register number: written for a block's live-in registers and its
    // definitions before any read, so entries left by other blocks are never read.
    var current = [Int](filled: -1, count: f.vregCount)
    // The webs reaching a block's live-in registers, in `enter`: one array
    // for every block (an array a block was two allocations a block).
    var reaching: [Int] = []
    func enter(_ b: Int) {
        if b == 0 { for (v, d) in entryDefs { current[v.id] = d } }
        live.liveIn[b].withMembers { ins in
            reaching.removeAll(keepingCapacity: true)
            for _ in 0..<ins.count { reaching.append(-1) }
            if b == 0 { for k in 0..<ins.count { reaching[k] = current[ins[k]] } }
            for p in preds[b] {
                guard visited[p] else { continue }
                // liveIn[b] ⊆ liveOut[p]: one merge walk finds each register.
                let out = outStart[p]
                live.liveOut[p].withMembers { outIDs in
                    var j = 0
                    for k in 0..<ins.count {
                        let v = ins[k]
                        while outIDs[j] < v { j += 1 }
                        let d = outs[out + j]
                        guard d >= 0 else { continue }
                        reaching[k] = reaching[k] < 0 ? find(d) : union(reaching[k], d)
                    }
                }
            }
            for k in 0..<ins.count { current[ins[k]] = reaching[k] < 0 ? -1 : find(reaching[k]) }
        }
    }
    let order = f.order()
    // A block whose predecessors are as when it was visited would make the same merges again.
    sweepForward(f, order: order) { b in
        enter(b)
        var d = firstDef[b]
        for (insn, _) in f.blocks[b].instructions {
            if let v = insn.definition { current[v.id] = d; d += 1 }
        }
        let out = outStart[b]
        var changed = !visited[b]
        visited[b] = true
        live.liveOut[b].withMembers { ids in
            for j in 0..<ids.count where outs[out + j] != current[ids[j]] {
                outs[out + j] = current[ids[j]]
                changed = true
            }
        }
        return changed
    }
    // One register per web, in the order the rewrite meets them; the
    // context's entry web keeps the context register.
    var name = [VReg?](filled: nil, count: defCount)   // by web root
    if let (_, c) = entryDefs.first(where: { $0.0 == f.context }) { name[find(c)] = f.context }
    func web(_ d: Int) -> VReg {
        let r = find(d)
        if let v = name[r] { return v }
        let v = f.newVReg(); name[r] = v; return v
    }
    func rename(_ o: Operand) -> Operand {
        guard case .reg(let u) = o, u.id < current.count, current[u.id] >= 0 else { return o }
        return .reg(web(current[u.id]))
    }
    for b in order {
        enter(b)
        var d = firstDef[b]
        // The block's array taken out and put back once (a write through
        // `f.blocks` for each instruction checked both arrays' uniqueness
        // and bumped the blocks' version every time).
        var instructions: [(IRInstruction, SourceLocation)] = []
        swap(&instructions, &f.blocks[b].instructions)
        for i in instructions.indices {
            let insn = instructions[i].0
            var rewritten = insn.mapUses(rename)
            if let v = insn.definition {
                current[v.id] = d
                if let retargeted = rewritten.renamingDefinition(to: web(d)) { rewritten = retargeted }
                d += 1
            }
            instructions[i].0 = rewritten
        }
        f.blocks[b].instructions = instructions
        f.blocks[b].terminator = f.terminator(of: b).mapUses(rename)
    }
}
