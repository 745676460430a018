import BPF

// Stack objects the lowering fills and then only reads: one fill of the
// current task's name serves every key built from it (reuse-comm), and a
// store whose bytes are written again before anything reads them goes
// (dead-stores).

private let getCurrentComm = HelperPrototype.named("get_current_comm")!.id

/// Registers that only ever hold one frame address (`%a = fp-16` their one
/// definition), with that offset.
func frameAddresses(_ f: IRFunction) -> [VReg: Int] {
    let definitions = Definitions(f)
    var frameOf: [VReg: Int] = [:]
    for b in f.blocks {
        for (i, _) in b.instructions {
            if case .frameAddress(let d, let o) = i, d != f.context, definitions.count(d) == 1 { frameOf[d] = o }
        }
    }
    return frameOf
}
/// Map helpers whose pointer arguments (key, value) are only read.
private let mapReaders = Set(["map_lookup_elem", "map_update_elem", "map_delete_elem"].compactMap { HelperPrototype.named($0)?.id })
private let mapUpdate = HelperPrototype.named("map_update_elem")!.id

/// `@bytes[comm].stats(x); @largest[comm].max(x)` fetches the task's name
/// into one key buffer per map; C fetches it once (`bpf_get_current_comm(&k)`)
/// and passes `&k` to both lookups. A stack object whose only write is its
/// fill (`get_current_comm(buf, size)` of the whole object; dead-stores,
/// run first, has removed the zeroing the lowering put before it) and that
/// is otherwise only read (loads, and map helpers' key and value arguments)
/// holds the task's name from its fill on. A second such object whose fill
/// the first's dominates is the first: its fill goes, and its reads read
/// the first. The name cannot change while one program runs (the task is
/// running the program).
func reuseCommBuffers(_ f: inout IRFunction) {
    let frameOf = frameAddresses(f)
    // Fills: (block, index) of each call, per object offset.
    var fills: [Int: [(block: Int, index: Int)]] = [:]
    for (bi, b) in f.blocks.enumerated() {
        for (ii, (i, _)) in b.instructions.enumerated() {
            if case .call(nil, getCurrentComm, let args) = i, args.count == 2, case .reg(let v) = args[0],
               let o = frameOf[v], case .imm(let n) = args[1],
               f.stackObjects.contains(where: { $0.offset == o && $0.size == Int(n) }) {
                fills[o, default: []].append((bi, ii))
            }
        }
    }
    guard fills.count > 1 else { return }
    func object(_ o: Int) -> IRFunction.StackObject? { f.stackObjects.first { $0.offset == o } }
    func inside(_ x: Int, _ n: Int, _ o: IRFunction.StackObject) -> Bool { x < o.offset + o.size && o.offset < x + n }
    /// Objects filled once, whose every other mention only reads them.
    var qualified: [Int] = []
    candidates: for (o, sites) in fills where sites.count == 1 {
        guard let obj = object(o) else { continue }
        for (bi, b) in f.blocks.enumerated() {
            for (ii, (i, _)) in b.instructions.enumerated() {
                switch i {
                case .storeFrame(let x, _, let n) where inside(x, n, obj): continue candidates
                case .frameAddress(let v, let x) where inside(x, 1, obj) && (x != o || frameOf[v] == nil): continue candidates
                case .call(_, let h, let args):
                    for (k, a) in args.enumerated() {
                        guard case .reg(let v) = a, frameOf[v] == o else { continue }
                        let fill = bi == sites[0].block && ii == sites[0].index
                        let reads = mapReaders.contains(h) && (k == 1 || (k == 2 && h == mapUpdate))
                        if !fill && !reads { continue candidates }
                    }
                default:
                    // Any other use of the address (a move, a load or store through it) lets it escape.
                    if i.uses.contains(where: { frameOf[$0] == o }) { continue candidates }
                }
            }
        }
        qualified.append(o)
    }
    guard qualified.count > 1 else { return }
    var rank = [Int](repeating: Int.max, count: f.blocks.count)
    for (r, b) in f.reversePostOrder.enumerated() { rank[b] = r }
    qualified.sort { (rank[fills[$0]![0].block], fills[$0]![0].index) < (rank[fills[$1]![0].block], fills[$1]![0].index) }
    let dominators = Dominators(f)
    func before(_ a: (block: Int, index: Int), _ b: (block: Int, index: Int)) -> Bool {
        a.block == b.block ? a.index < b.index : dominators.dominates(a.block, b.block)
    }
    // The first fill (in dominance order) of each chain absorbs the others.
    var into: [Int: Int] = [:]
    for o in qualified {
        if let keep = qualified.first(where: { $0 != o && into[$0] == nil && before(fills[$0]![0], fills[o]![0]) }) { into[o] = keep }
    }
    guard !into.isEmpty else { return }
    let dropped = Set(into.keys.map { o in [fills[o]![0].block, fills[o]![0].index] })
    for bi in f.blocks.indices {
        var out: [(IRInstruction, SourceLocation)] = []
        for (ii, (i, loc)) in f.blocks[bi].instructions.enumerated() where !dropped.contains([bi, ii]) {
            switch i {
            case .frameAddress(let v, let x) where into[x] != nil: out.append((.frameAddress(v, offset: into[x]!), loc))
            case .loadFrame(let v, let x, let n, let s):
                if let o = into.keys.first(where: { inside(x, n, object($0)!) }) {
                    out.append((.loadFrame(v, offset: x - o + into[o]!, size: n, signed: s), loc))
                } else {
                    out.append((i, loc))
                }
            default: out.append((i, loc))
            }
        }
        f.blocks[bi].instructions = out
    }
}

/// Helpers that write their first argument's `size` (second argument)
/// bytes in full and read no memory. (Not the probe reads: their source
/// may be an address into the stack that no frame address names directly.)
private let fullWriters = Set(["get_current_comm"].compactMap { HelperPrototype.named($0)?.id })

/// A store to the stack whose bytes are all written again, later in its
/// block, before anything may read them: `store.64 [fp-32] = 0` before
/// `store.64 [fp-32] = %44` (an insert value zeroed, then filled), or a key
/// zeroed before `get_current_comm` writes all of it. Backwards over each
/// block with the set of bytes known overwritten: a load of frame bytes
/// takes them out; a helper call, a load or atomic add through a register
/// (which may point into the stack) empties it, except `get_current_comm`,
/// which only writes its buffer whole.
func eliminateDeadStores(_ f: inout IRFunction) {
    let frameOf = frameAddresses(f)
    for bi in f.blocks.indices {
        var covered = Set<Int>()
        var dead = Set<Int>()
        let insns = f.blocks[bi].instructions
        for ii in insns.indices.reversed() {
            switch insns[ii].0 {
            case .storeFrame(let o, _, let n):
                if (o..<o + n).allSatisfy(covered.contains) { dead.insert(ii) } else { covered.formUnion(o..<o + n) }
            case .loadFrame(_, let o, let n, _):
                covered.subtract(o..<o + n)
            case .call(_, let h, let args):
                if fullWriters.contains(h), args.count == 2, case .reg(let buf) = args[0], let o = frameOf[buf], case .imm(let n) = args[1] {
                    covered.formUnion(o..<o + Int(n))
                } else {
                    covered.removeAll()
                }
            case .load, .atomicAdd:
                covered.removeAll()
            default: break
            }
        }
        if !dead.isEmpty { f.blocks[bi].instructions = insns.enumerated().filter { !dead.contains($0.offset) }.map(\.element) }
    }
}
