/// Splits each virtual register into its webs: the groups of definitions
/// and uses that reach each other. mruby reuses a few scratch registers for
/// every expression; after this pass each value has its own register, so
/// live ranges are short, copies coalesce and constants propagate.
///
/// Reaching definitions per use, then union-find over the definitions that
/// reach a common use (the classic web construction, e.g. Muchnick §16.3).
func renameWebs(_ f: inout IRFunction) {
    struct Def: Hashable { var block: Int; var index: Int }   // index -1: defined on entry
    var defs: [Def] = []
    var defVReg: [VReg] = []
    var defID: [Def: Int] = [:]
    func addDef(_ d: Def, _ v: VReg) { defID[d] = defs.count; defs.append(d); defVReg.append(v) }
    // Registers read before any definition (the context) are defined on entry.
    var entryDefs: [VReg: Int] = [:]
    for (b, block) in f.blocks.enumerated() {
        for (i, (insn, _)) in block.instructions.enumerated() {
            if let d = insn.definition { addDef(Def(block: b, index: i), d) }
        }
    }
    let live = IRLiveness(f)
    for v in live.liveIn[0].union([f.context]).sorted() {
        entryDefs[v] = defs.count
        addDef(Def(block: 0, index: -1 - v.id), v)
    }
    // Reaching definitions: block → vreg → def ids, of the registers live
    // there only: a use reads a register live where it is, and a register's
    // definitions reach a block only through blocks where it is live, so the
    // uses see what the full sets would give them. Without the pruning every
    // block carried every register defined before it: quadratic in a long
    // body (Benchmarks/scaling.sh).
    //
    // The definitions of a register that reach a block where it is live all
    // reach one use (the first on a path from there that does not define
    // it), so they are one web: merged as soon as they meet, each register
    // carries one definition per web, and a chain of `if`s that each assign
    // `x` does not carry every assignment before it to every block after it.
    var parent = Array(0..<defs.count)
    func find(_ x: Int) -> Int { var x = x; while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }; return x }
    func union(_ ds: Set<Int>) {
        guard let first = ds.first else { return }
        for d in ds { let a = find(first), b = find(d); if a != b { parent[b] = a } }
    }
    let n = f.blocks.count
    var outs = Array(repeating: [VReg: Set<Int>](), count: n)
    let preds = f.predecessors
    func transfer(_ b: Int, _ input: [VReg: Set<Int>]) -> [VReg: Set<Int>] {
        var s = input
        for (i, (insn, _)) in f.blocks[b].instructions.enumerated() {
            if let d = insn.definition { s[d] = [defID[Def(block: b, index: i)]!] }
        }
        return s.filter { live.liveOut[b].contains($0.key) }
    }
    func input(_ b: Int) -> [VReg: Set<Int>] {
        var s: [VReg: Set<Int>] = [:]
        if b == 0 { for (v, d) in entryDefs { s[v] = [d] } }
        for p in preds[b] { for (v, ds) in outs[p] where live.liveIn[b].contains(v) { s[v, default: []].formUnion(ds) } }
        for (v, ds) in s { union(ds); s[v] = [find(ds.first!)] }   // one web: its root stands for it
        return s
    }
    let order = f.reversePostOrder
    var changed = true
    while changed {
        changed = false
        for b in order {
            let out = transfer(b, input(b))
            if out != outs[b] { outs[b] = out; changed = true }
        }
    }
    // Union the definitions reaching each use.
    var useDefs: [Def: [VReg: Set<Int>]] = [:]   // per instruction (index count = terminator)
    for b in order {
        var s = input(b)
        for (i, (insn, _)) in f.blocks[b].instructions.enumerated() {
            var m: [VReg: Set<Int>] = [:]
            for u in insn.uses { let ds = s[u] ?? []; union(ds); m[u] = ds }
            useDefs[Def(block: b, index: i)] = m
            if let d = insn.definition { s[d] = [defID[Def(block: b, index: i)]!] }
        }
        var m: [VReg: Set<Int>] = [:]
        for u in f.blocks[b].terminator.uses { let ds = s[u] ?? []; union(ds); m[u] = ds }
        useDefs[Def(block: b, index: f.blocks[b].instructions.count)] = m
    }
    // One register per web; the context's entry web keeps the context register.
    var name: [Int: VReg] = [:]
    if let c = entryDefs[f.context] { name[find(c)] = f.context }
    func web(_ d: Int) -> VReg {
        let r = find(d)
        if let v = name[r] { return v }
        let v = f.newVReg(); name[r] = v; return v
    }
    for b in order {
        for i in f.blocks[b].instructions.indices {
            let (insn, loc) = f.blocks[b].instructions[i]
            let m = useDefs[Def(block: b, index: i)] ?? [:]
            var rewritten = insn.mapUses { o in
                guard case .reg(let u) = o, let ds = m[u], let d = ds.first else { return o }
                return .reg(web(d))
            }
            if insn.definition != nil, let retargeted = rewritten.renamingDefinition(to: web(defID[Def(block: b, index: i)]!)) { rewritten = retargeted }
            f.blocks[b].instructions[i] = (rewritten, loc)
        }
        let m = useDefs[Def(block: b, index: f.blocks[b].instructions.count)] ?? [:]
        f.blocks[b].terminator = f.blocks[b].terminator.mapUses { o in
            guard case .reg(let u) = o, let ds = m[u], let d = ds.first else { return o }
            return .reg(web(d))
        }
    }
}
