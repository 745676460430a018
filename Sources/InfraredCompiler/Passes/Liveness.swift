/// Backward liveness over the IR's blocks: which virtual registers hold a
/// value some later instruction reads. Used by dead-code elimination and
/// compare/branch fusion.
struct IRLiveness {
    var liveIn: [Set<VReg>]
    var liveOut: [Set<VReg>]

    init(_ f: IRFunction) {
        let n = f.blocks.count
        var use = Array(repeating: Set<VReg>(), count: n), def = use
        for (b, block) in f.blocks.enumerated() {
            for (insn, _) in block.instructions {
                for u in insn.uses where !def[b].contains(u) { use[b].insert(u) }
                if let d = insn.definition { def[b].insert(d) }
            }
            for u in block.terminator.uses where !def[b].contains(u) { use[b].insert(u) }
        }
        liveIn = Array(repeating: [], count: n); liveOut = liveIn
        var changed = true
        let order = Array(f.reversePostOrder.reversed())
        while changed {
            changed = false
            for b in order {
                var out = Set<VReg>()
                for s in f.blocks[b].terminator.successors { out.formUnion(liveIn[s]) }
                let inn = use[b].union(out.subtracting(def[b]))
                if out != liveOut[b] || inn != liveIn[b] { liveOut[b] = out; liveIn[b] = inn; changed = true }
            }
        }
    }
}
