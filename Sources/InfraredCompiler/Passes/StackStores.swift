import BPF

// Stack objects the lowering fills and then only reads: one fill of the
// current task's name serves every key built from it (reuse-comm), and a
// store whose bytes are written again before anything reads them goes
// (dead-stores).

private let getCurrentComm = HelperPrototype.named("get_current_comm")!.id

/// Registers that only ever hold one frame address (`%a = fp-16` their one
/// definition), with that offset.
func frameAddresses(_ f: IRFunction) -> VRegTable {
    let definitions = Definitions(f)
    var frameOf = VRegTable(count: f.vregCount)
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
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
    for bi in f.blocks.indices {
        for (ii, (i, _)) in f.instructions(of: bi).enumerated() {
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
        for bi in f.blocks.indices {
            for (ii, (i, _)) in f.instructions(of: bi).enumerated() {
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
    var rank = [Int](filled: Int.max, count: f.blocks.count)
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

/// Helpers that write a stack buffer whole (on failure too: the kernel
/// zeroes it), by the arguments holding the buffer and its size, and
/// read no stack memory but through their other pointer arguments.
private let fullWriters: [Int32: (buffer: Int, size: Int)] = {
    var t: [Int32: (buffer: Int, size: Int)] = [:]
    for (name, buffer, size) in [("get_current_comm", 0, 1), ("skb_load_bytes", 2, 3), ("probe_read", 0, 1),
                                 ("probe_read_kernel", 0, 1), ("probe_read_user", 0, 1)] {
        t[HelperPrototype.named(name)!.id] = (buffer, size)
    }
    return t
}()

/// A set of stack bytes. Before pack-stack the objects may lie deeper than
/// 512 bytes, so the set is as deep as the deepest frame offset the
/// function uses.
struct StackBytes: Equatable {
    /// Byte `fp-(i+1)` is index `i`; the live ones as sorted ranges that
    /// neither overlap nor touch, so equal sets are equal arrays. (A bit per
    /// byte of the frame made each block's set as large as the frame: blocks
    /// × frame bytes, quadratic in a long body whose every statement has its
    /// own key.) Indices at or past `limit`, the depth rounded up to 64, are
    /// never live, as with the bit vector this was.
    private var ranges: [Range<Int>] = []
    private let limit: Int
    init(depth: Int, all: Bool = false) {
        limit = (depth + 63) / 64 * 64
        if all && limit > 0 { ranges = [0..<limit] }
    }
    /// Indices of `[o, o + n)` inside the set (none outside it).
    private func range(_ o: Int, _ n: Int) -> Range<Int> {
        let lo = max(-(o + n), 0), hi = min(-o, limit)
        return lo < hi ? lo..<hi : 0..<0
    }
    mutating func set(_ o: Int, _ n: Int, _ on: Bool) {
        let r = range(o, n)
        guard !r.isEmpty else { return }
        if on { insert(r) } else { remove(r) }
    }
    private mutating func insert(_ r: Range<Int>) {
        if let last = ranges.last, last.upperBound < r.lowerBound { ranges.append(r); return }
        var out: [Range<Int>] = [], new = r, placed = false
        out.reserveCapacity(ranges.count + 1)
        for x in ranges {
            if x.upperBound < new.lowerBound { out.append(x) }
            else if new.upperBound < x.lowerBound {
                if !placed { out.append(new); placed = true }
                out.append(x)
            } else { new = min(x.lowerBound, new.lowerBound)..<max(x.upperBound, new.upperBound) }
        }
        if !placed { out.append(new) }
        ranges = out
    }
    private mutating func remove(_ r: Range<Int>) {
        guard ranges.contains(where: { $0.overlaps(r) }) else { return }
        var out: [Range<Int>] = []
        out.reserveCapacity(ranges.count + 1)
        for x in ranges {
            guard x.overlaps(r) else { out.append(x); continue }
            if x.lowerBound < r.lowerBound { out.append(x.lowerBound..<r.lowerBound) }
            if r.upperBound < x.upperBound { out.append(r.upperBound..<x.upperBound) }
        }
        ranges = out
    }
    func any(_ o: Int, _ n: Int) -> Bool {
        let r = range(o, n)
        return !r.isEmpty && ranges.contains { $0.overlaps(r) }
    }
    mutating func formUnion(_ o: StackBytes) {
        if ranges.isEmpty { ranges = o.ranges; return }
        for r in o.ranges { insert(r) }
    }
}

/// A store to the stack none of whose bytes is read before it is written
/// again or the program returns: `store.64 [fp-32] = 0` before
/// `store.64 [fp-32] = %44` (an insert value zeroed, then filled), a key
/// zeroed before `get_current_comm` writes all of it, a header struct
/// zeroed before `skb_load_bytes` fills it on one path while the other
/// path never reads it. A backward analysis of the stack bytes a later
/// instruction may read, over the whole CFG:
/// - a load from the frame reads its bytes; a helper reads the whole stack
///   object each frame-address argument points into (all of the stack if
///   the address is in no object), and a full writer (table above) writes
///   its buffer;
/// - a load through any other register reads all of the stack, unless no
///   stack address ever leaves the registers that hold one frame address
///   (then nothing else may point into the stack).
func eliminateDeadStores(_ f: inout IRFunction) {
    let frameOf = frameAddresses(f)
    // Whether some register other than a one-frame-address register may
    // point into the stack (an address copied, offset, stored or returned).
    var escapes = false
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            switch i {
            case .frameAddress(let d, _): if frameOf[d] == nil { escapes = true }
            // A helper's argument or a load's base lets no address out.
            case .call, .load: break
            // A store's or an add's base neither; the value written does.
            case .store(_, _, .reg(let v), _), .atomicAdd(_, _, let v, _): if frameOf[v] != nil { escapes = true }
            case .store: break
            default: if i.uses.contains(where: { frameOf[$0] != nil }) { escapes = true }
            }
        }
        if f.terminator(of: b).uses.contains(where: { frameOf[$0] != nil }) { escapes = true }
    }
    var depth = max(f.stackSize, 512)
    for o in f.stackObjects { depth = max(depth, -o.offset) }
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            switch i {
            case .frameAddress(_, let o), .loadFrame(_, let o, _, _), .storeFrame(let o, _, _): depth = max(depth, -o)
            default: break
            }
        }
    }
    let none = StackBytes(depth: depth), all = StackBytes(depth: depth, all: true)
    // The first object holding an address. Objects laid out apart (as the
    // lowering leaves them) are found by bisection: a search of every
    // object per helper argument was objects × calls, quadratic in a long
    // body (a key and a value per map update).
    let byOffset = f.stackObjects.sorted { $0.offset < $1.offset }
    let apart = byOffset.allSatisfy { $0.size > 0 } && zip(byOffset, byOffset.dropFirst()).allSatisfy { $0.offset + $0.size <= $1.offset }
    func object(_ o: Int) -> IRFunction.StackObject? {
        guard apart else { return f.stackObjects.first { o >= $0.offset && o < $0.offset + $0.size } }
        // The last object starting at or below o.
        let after = firstIndex(in: byOffset) { $0.offset > o }
        guard after > 0, o < byOffset[after - 1].offset + byOffset[after - 1].size else { return nil }
        return byOffset[after - 1]
    }
    /// The bytes live before `insn`, given those live after it; `dead` is
    /// set for a store none of whose bytes is live after it.
    func transfer(_ insn: IRInstruction, _ live: inout StackBytes) -> Bool {
        switch insn {
        case .storeFrame(let o, _, let n):
            if !live.any(o, n) { return true }
            live.set(o, n, false)
        case .loadFrame(_, let o, let n, _):
            live.set(o, n, true)
        case .call(_, let h, let args):
            var written: (Int, Int)?
            let writer = fullWriters[h]
            if let w = writer, w.size < args.count, case .reg(let buf) = args[w.buffer], let o = frameOf[buf],
               case .imm(let n) = args[w.size] {
                written = (o, Int(n))
            }
            if let (o, n) = written { live.set(o, n, false) }
            for (k, a) in args.enumerated() {
                guard case .reg(let r) = a else { continue }
                if let w = writer, k == w.buffer, written != nil { continue }
                guard let o = frameOf[r] else {
                    // Any other register may point into the stack once an address escapes.
                    if escapes { live = all }
                    continue
                }
                if let obj = object(o) { live.set(obj.offset, obj.size, true) } else { live = all }
            }
        case .load(_, let base, let off, let n, _), .atomicAdd(let base, let off, _, let n):
            if let o = frameOf[base] { live.set(o + off, n, true) } else if escapes { live = all }
        default: break
        }
        return false
    }
    var liveIn = [StackBytes](filled: none, count: f.blocks.count)
    sweepBackward(f) { b, _ in
        var live = none
        for s in f.terminator(of: b).successors { live.formUnion(liveIn[s]) }
        for (i, _) in f.blocks[b].instructions.reversed() { _ = transfer(i, &live) }
        guard live != liveIn[b] else { return false }
        liveIn[b] = live
        return true
    }
    for b in f.blocks.indices {
        var live = none
        for s in f.terminator(of: b).successors { live.formUnion(liveIn[s]) }
        var dead = Set<Int>()
        let insns = f.blocks[b].instructions
        for ii in insns.indices.reversed() where transfer(insns[ii].0, &live) { dead.insert(ii) }
        if !dead.isEmpty { f.blocks[b].instructions = insns.enumerated().filter { !dead.contains($0.offset) }.map(\.element) }
    }
}

/// A store of what its frame bytes already hold goes (redundant-stores):
/// a key stored again before each aggregation on it (`@sum[uid] +=…;
/// @max[uid].max(…)` after pack-stack gave both keys the same bytes), or
/// the value just loaded from those bytes stored back (`key = task.pid`
/// read into a buffer that became the key's bytes). Besides the
/// instruction, the verifier then sees the bytes as they were on every
/// path, so its states match where paths join (a 4-byte store of a
/// register makes them a spilled register on one path only, and each path
/// after the join is walked again).
///
/// A forward dataflow of "bytes [o, o + n) hold the low n bytes of x" (x a
/// register or a constant), met by intersection where paths join: a store
/// or load of the frame makes such a fact and ends those overlapping it; a
/// new value of x ends those about x; a helper call ends all, unless it
/// only reads through its pointers (the map helpers) or takes none; so
/// does a store through a pointer, unless the pointer is a helper's result
/// (a map value or a ring buffer record) or a global's address (the fault
/// counters), never the stack.
func dropRedundantStores(_ f: inout IRFunction) {
    struct Fact: Equatable { var offset: Int, size: Int, value: Operand }
    // By register number: whether its one definition is a helper's result
    // (a map value, a ring buffer record) or a global's or map's address,
    // so a store through it never writes the stack (0: no definition yet,
    // 1: such, 2: anything else or more than one).
    let offStack: [UInt8] = {
        var kinds = [UInt8](filled: 0, count: f.vregCount)
        for b in f.blocks.indices {
            for (insn, _) in f.instructions(of: b) {
                guard let d = insn.definition else { continue }
                switch insn {
                case .call, .variableAddress, .mapAddress: kinds[d.id] = kinds[d.id] == 0 ? 1 : 2
                default: kinds[d.id] = 2
                }
            }
        }
        return kinds
    }()
    /// Runs `insn` over `facts`; true when it is a store of what its bytes
    /// already hold (which changes nothing, and goes).
    @discardableResult
    func transfer(_ insn: IRInstruction, _ facts: inout [Fact]) -> Bool {
        func overwrite(_ off: Int, _ n: Int) {
            func overlaps(_ x: Fact) -> Bool { x.offset < off + n && off < x.offset + x.size }
            if facts.contains(where: overlaps) { facts.removeAll(where: overlaps) }
        }
        switch insn {
        case .storeFrame(let off, let v, let n):
            let fact = Fact(offset: off, size: n, value: v)
            if facts.contains(fact) { return true }
            overwrite(off, n)
            facts.append(fact)
            return false
        case .store(let base, _, _, _), .atomicAdd(let base, _, _, _):
            if offStack[base.id] != 1 && !facts.isEmpty { facts.removeAll() }
        case .call(_, let h, let args):
            if !facts.isEmpty && !mapReaders.contains(h) && args.contains(where: { $0.register != nil }) { facts.removeAll() }
        default: break
        }
        if let d = insn.definition {
            if facts.contains(where: { $0.value == .reg(d) }) { facts.removeAll { $0.value == .reg(d) } }
            if case .loadFrame(_, let off, let n, _) = insn { facts.append(Fact(offset: off, size: n, value: .reg(d))) }
        }
        return false
    }
    func meet(_ a: [Fact], _ b: [Fact]) -> [Fact] { a.filter { b.contains($0) } }

    let order = f.order()
    let predecessors = f.predecessors
    var outs = [[Fact]?](repeating: nil, count: f.blocks.count)
    func entering(_ b: Int) -> [Fact] {
        if b == 0 { return [] }
        let ps = predecessors[b]
        var r: [Fact]? = nil
        for i in 0..<ps.count {
            guard let o = outs[ps[i]] else { continue }
            if r == nil { r = o } else if r != o { r = meet(r!, o) }
            if r!.isEmpty { return [] }
        }
        return r ?? []
    }
    sweepForward(f, order: order) { b in
        var facts = entering(b)
        for (insn, _) in f.instructions(of: b) { transfer(insn, &facts) }
        guard outs[b] != facts else { return false }
        outs[b] = facts
        return true
    }
    for b in order {
        var facts = entering(b)
        var dropped: [Int] = []
        for (i, (insn, _)) in f.instructions(of: b).enumerated() {
            if transfer(insn, &facts) { dropped.append(i) }
        }
        guard !dropped.isEmpty else { continue }
        var insns = f.blocks[b].instructions
        for i in dropped.reversed() { insns.remove(at: i) }
        f.blocks[b].instructions = insns
    }
}
