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
    let definitions = Definitions(f)
    var variable: [VReg: String] = [:], useBlocks: [VReg: Set<Int>] = [:]
    var escaped = Set<String>()
    for (bi, b) in f.blocks.enumerated() {
        for (i, _) in b.instructions {
            if case .variableAddress(let d, let name) = i, definitions.count(d) == 1 { variable[d] = name }
            for u in i.uses { useBlocks[u, default: []].insert(bi) }
        }
        for u in b.terminator.uses { useBlocks[u, default: []].insert(bi) }
    }
    guard !variable.isEmpty else { return }
    // Globals whose address goes anywhere but a load or store base.
    var writes: [String: Set<Int>] = [:]
    for (bi, b) in f.blocks.enumerated() {
        for (i, _) in b.instructions {
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
        for u in b.terminator.uses { if let name = variable[u] { escaped.insert(name) } }
    }
    let order = f.reversePostOrder
    var rank = [Int](repeating: -1, count: f.blocks.count)
    for (r, b) in order.enumerated() { rank[b] = r }
    let preds = f.predecessors
    let dominators = Dominators(f)
    let loops = Loop.natural(in: f)
    /// Blocks on some path from `a` to `b` (both ends included).
    func between(_ a: Int, _ b: Int) -> Set<Int> {
        var forward: Set<Int> = [a], work = [a]
        while let x = work.popLast() { for s in f.blocks[x].terminator.successors where forward.insert(s).inserted { work.append(s) } }
        var backward: Set<Int> = [b]
        work = [b]
        while let x = work.popLast() { for p in preds[x] where backward.insert(p).inserted { work.append(p) } }
        return forward.intersection(backward)
    }
    var moves: [(from: Int, index: Int, to: Int, load: IRInstruction, name: String)] = []
    for (bi, b) in f.blocks.enumerated() where rank[bi] >= 0 {
        for (ii, (i, _)) in b.instructions.enumerated() {
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
        inserted[m.to, default: []] += [(.variableAddress(a, name: m.name), loc), (.load(d, base: a, offset: off, size: size, signed: signed), loc)]
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
        for case (.variableAddress(let a, let name), _) in insns { first[name] = a }
        f.blocks[b].instructions.removeAll { insn in
            guard case .variableAddress(let a, let name) = insn.0, let x = first[name], x != a, definitions.count(a) == 1 else { return false }
            renamed[a] = x
            return true
        }
    }
    guard !renamed.isEmpty else { return }
    for b in f.blocks.indices {
        for i in f.blocks[b].instructions.indices {
            f.blocks[b].instructions[i].0 = f.blocks[b].instructions[i].0.mapUses { o in o.register.flatMap { renamed[$0] }.map { .reg($0) } ?? o }
        }
        f.blocks[b].terminator = f.blocks[b].terminator.mapUses { o in o.register.flatMap { renamed[$0] }.map { .reg($0) } ?? o }
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
        guard b != 0, case .ret = f.blocks[b].terminator else { return false }
        return f.blocks[b].instructions.contains { if case .variableAddress(_, Fault.variableName) = $0.0 { return true }; return false }
    }
    guard !cold.isEmpty else { return }
    let coldSet = Set(cold)
    let order = f.blocks.indices.filter { !coldSet.contains($0) } + cold
    guard order != Array(f.blocks.indices) else { return }
    var position = [Int](repeating: 0, count: f.blocks.count)
    for (i, b) in order.enumerated() { position[b] = i }
    f.blocks = order.map { b in
        var block = f.blocks[b]
        block.terminator = block.terminator.mapTargets { position[$0] }
        return block
    }
}
