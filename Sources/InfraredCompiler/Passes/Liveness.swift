/// Backward liveness over the IR's blocks: which virtual registers hold a
/// value some later instruction reads. Used by dead-code elimination, move
/// coalescing, linear folding and compare/branch fusion.
struct IRLiveness {
    var liveIn: [RegisterSet]
    var liveOut: [RegisterSet]

    /// The liveness of `f`, swept in `order` (its `reversePostOrder`, when
    /// the caller has it).
    init(_ f: borrowing IRFunction, order: [Int]? = nil) {
        let n = f.blocks.count
        let empty = RegisterSet()
        var sets = BlockUsesAndDefinitions(blocks: n, instructions: f.instructionCount)
        // Per register, the last block that defined it / read it before any
        // definition there: membership tests without a set per block.
        var definedIn = [Int](filled: -1, count: f.vregCount), readIn = definedIn
        for b in f.blocks.indices {
            sets.startBlock()
            func read(_ r: VReg) {
                if definedIn[r.id] != b && readIn[r.id] != b { readIn[r.id] = b; sets.use(r.id) }
            }
            f.blocks.withUnsafeBufferPointer { blocks in
                for (insn, _) in blocks[b].instructions {
                    insn.forEachUse(read)
                    if let d = insn.definition, definedIn[d.id] != b { definedIn[d.id] = b; sets.define(d.id) }
                }
                blocks[b].terminator.forEachUse(read)
            }
            sets.endBlock()
        }
        sets.finish()
        let blockSets = sets   // captured as a constant, not a box
        var liveIn = Array(filled: empty, count: n), liveOut = liveIn
        sweepBackward(f, reversePostOrder: order) { b, first in
            var out = empty
            switch f.terminator(of: b) {
            case .jump(let t): out = liveIn[t]
            case .branch(_, _, _, let t, let e): out = liveIn[t]; out.formUnion(liveIn[e])
            case .ret, .unreachable: break
            }
            return blockSets.step(b, out: out, first: first, liveIn: &liveIn, liveOut: &liveOut)
        }
        self.liveIn = liveIn; self.liveOut = liveOut
    }
}

/// Each block's uses (registers read before any write there) and
/// definitions, sorted, block after block in two flat arrays (a set per
/// block cost two allocations per block in each of the eight or so
/// liveness computations of a pipeline): the IR's liveness and the
/// register allocator's fill it block by block and step through it.
struct BlockUsesAndDefinitions {
    private var uses: [Int] = [], defs: [Int] = [], useStart: [Int] = [], defStart: [Int] = []

    init(blocks: Int, instructions: Int) {
        uses.reserveCapacity(2 * instructions + blocks); defs.reserveCapacity(instructions)
        useStart.reserveCapacity(blocks + 1); defStart.reserveCapacity(blocks + 1)
    }
    @inline(__always)
    mutating func startBlock() { useStart.append(uses.count); defStart.append(defs.count) }
    /// A register the block reads before writing it (each once).
    @inline(__always)
    mutating func use(_ id: Int) { uses.append(id) }
    /// A register the block writes (each once).
    @inline(__always)
    mutating func define(_ id: Int) { defs.append(id) }
    mutating func endBlock() { sortTail(&uses, from: useStart[useStart.count - 1]); sortTail(&defs, from: defStart[defStart.count - 1]) }
    mutating func finish() { useStart.append(uses.count); defStart.append(defs.count) }

    /// One block's step of a liveness sweep (`sweepBackward`): `out` (the
    /// union of its successors' live-in) becomes its live-out, and
    /// `uses ∪ (out − definitions)` its live-in; returns whether the live-in
    /// changed. The same live-out after the first sweep gives the same
    /// live-in, so that is not computed again.
    @inline(__always)
    func step(_ b: Int, out: RegisterSet, first: Bool, liveIn: inout [RegisterSet], liveOut: inout [RegisterSet]) -> Bool {
        if !first && out == liveOut[b] { return false }
        let inn = uses.withUnsafeBufferPointer { u in
            defs.withUnsafeBufferPointer { d in
                out.subtracting(UnsafeBufferPointer(rebasing: d[defStart[b]..<defStart[b + 1]]),
                                adding: UnsafeBufferPointer(rebasing: u[useStart[b]..<useStart[b + 1]]))
            }
        }
        liveOut[b] = out
        guard inn != liveIn[b] else { return false }
        liveIn[b] = inn
        return true
    }
}

/// Sorts `a[from...]` in place (a block's few registers: an insertion sort).
private func sortTail(_ a: inout [Int], from: Int) {
    guard a.count - from > 1 else { return }
    a.withUnsafeMutableBufferPointer { a in
        for i in (from + 1)..<a.count {
            let x = a[i]
            var j = i
            while j > from && a[j - 1] > x { a[j] = a[j - 1]; j -= 1 }
            a[j] = x
        }
    }
}

/// Sweeps of a backward dataflow in post-order, to its fixed point:
/// `visit(b, first)` recomputes block `b` from its successors (`first` on the
/// first sweep) and says whether what it gives its predecessors changed.
/// A block's successors are visited before it except along a loop's back
/// edge (to a block at the same or a later position), where it reads what
/// the sweep before left. Only such a read can be stale, so another sweep
/// runs only when the target of a back edge changed: one sweep without
/// loops, and none that merely confirms. The result is the fixed point of
/// sweeping until nothing changes (`DataflowReferenceTests`).
func sweepBackward(_ f: IRFunction, reversePostOrder: [Int]? = nil, visit: (_ block: Int, _ first: Bool) -> Bool) {
    // Successors read off the terminators: no successor list per block.
    var postOrder = reversePostOrder ?? f.reversePostOrder
    postOrder.reverse()   // in place: no second array
    sweepBackward(order: postOrder, blockCount: f.blocks.count,
                  forEachSuccessor: { b, body in f.terminator(of: b).forEachSuccessor(body) }, visit: visit)
}

/// The same over any blocks: `order` visits successors first except along
/// back edges (the register allocator's machine blocks: last to first);
/// `forEachSuccessor(b, body)` calls `body` with each successor of `b`.
func sweepBackward(order: [Int], blockCount: Int, forEachSuccessor: (Int, (Int) -> Void) -> Void,
                   visit: (_ block: Int, _ first: Bool) -> Bool) {
    var position = [Int](filled: -1, count: blockCount)
    for (i, b) in order.enumerated() { position[b] = i }
    var backTargets: [Int] = []
    for b in order {
        forEachSuccessor(b) { t in if position[t] >= position[b] { backTargets.append(t) } }
    }
    var changedIn = [Int](filled: -1, count: blockCount)   // the last sweep that changed a block
    var sweep = 0
    repeat {
        for b in order where visit(b, sweep == 0) { changedIn[b] = sweep }
        sweep += 1
    } while backTargets.contains { changedIn[$0] == sweep - 1 }
}

/// Sweeps of a forward dataflow over `order` (a reverse post-order), to its
/// fixed point: `visit(b)` recomputes block `b` from its predecessors and
/// says whether what it gives its successors changed. The first sweep
/// visits every block; later ones only the blocks a change reached, and a
/// later sweep runs only when a change reached a block at the same or an
/// earlier position (a loop's back edge). A block is visited again only
/// when something it reads changed, so the result is the fixed point of
/// visiting every block until nothing changes (`DataflowReferenceTests`).
func sweepForward(_ f: IRFunction, order: [Int], visit: (_ block: Int) -> Bool) {
    var position = [Int](filled: -1, count: f.blocks.count), dirty = [Bool](filled: false, count: f.blocks.count)
    for (i, b) in order.enumerated() { position[b] = i; dirty[b] = true }
    var again = true
    while again {
        again = false
        for b in order where dirty[b] {
            dirty[b] = false
            guard visit(b) else { continue }
            for s in f.terminator(of: b).successors {
                dirty[s] = true
                if position[s] <= position[b] { again = true }
            }
        }
    }
}

/// A set of virtual registers: their numbers, sorted. Live sets are small
/// (the registers live at a point, a block's uses and definitions) while a
/// function may have tens of thousands of registers: a bit vector of every
/// register per block (as this was) made each liveness computation
/// blocks × registers, quadratic in a long body (3,000 map updates:
/// 0.9 GB, most of 14 s; Benchmarks/scaling.sh). Up to `inlineCapacity`
/// members are kept in the value itself, more in an array: a live set of a
/// few registers, made for every block by every liveness computation, was
/// an allocation each. Unions, differences and comparisons are merges of
/// the two sorted lists.
struct RegisterSet: Equatable {
    static let inlineCapacity = 4
    /// The members while there are at most `inlineCapacity` (`spilled` nil).
    private var inline: (Int, Int, Int, Int) = (0, 0, 0, 0)
    private var inlineCount = 0
    /// The members once there are more.
    private var spilled: [Int]?

    init() {}
    /// The set of these distinct register numbers.
    init(members: [Int]) { self.init(sorted: members.sorted()) }
    /// The set of these distinct register numbers, in increasing order.
    private init(sorted ids: some Collection<Int>) {
        if ids.count <= Self.inlineCapacity {
            withUnsafeMutableBytes(of: &inline) { raw in
                let slots = raw.bindMemory(to: Int.self)
                for (k, id) in ids.enumerated() { slots[k] = id }
            }
            inlineCount = ids.count
        } else {
            spilled = Array(ids)
        }
    }

    var count: Int { spilled?.count ?? inlineCount }

    /// Calls `body` with the members, in increasing order.
    @inline(__always)
    func withMembers<R>(_ body: (UnsafeBufferPointer<Int>) -> R) -> R {
        if let spilled { return spilled.withUnsafeBufferPointer(body) }
        var copy = inline
        let n = inlineCount
        return withUnsafeBytes(of: &copy) { body(UnsafeBufferPointer(rebasing: $0.bindMemory(to: Int.self)[..<n])) }
    }

    /// The members in increasing register number.
    var ids: Members { Members(of: self) }
    struct Members: RandomAccessCollection {
        private let members: RegisterSet
        fileprivate init(of s: RegisterSet) { members = s }
        var startIndex: Int { 0 }
        var endIndex: Int { members.count }
        subscript(_ k: Int) -> Int {
            if let spilled = members.spilled { return spilled[k] }
            precondition(k >= 0 && k < members.inlineCount, "index out of range")
            switch k {
            case 0: return members.inline.0
            case 1: return members.inline.1
            case 2: return members.inline.2
            default: return members.inline.3
            }
        }
    }

    /// The position of `id` among the members, or where it would go.
    private static func position(_ id: Int, in ids: UnsafeBufferPointer<Int>) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi { let mid = (lo + hi) >> 1; if ids[mid] < id { lo = mid + 1 } else { hi = mid } }
        return lo
    }
    func contains(_ r: VReg) -> Bool {
        withMembers { ids in
            let i = Self.position(r.id, in: ids)
            return i < ids.count && ids[i] == r.id
        }
    }
    mutating func insert(_ r: VReg) {
        if spilled != nil {
            if let last = spilled!.last, last < r.id { spilled!.append(r.id); return }
            let i = spilled!.withUnsafeBufferPointer { Self.position(r.id, in: $0) }
            if i == spilled!.count || spilled![i] != r.id { spilled!.insert(r.id, at: i) }
            return
        }
        // In the value: the larger members shift up one slot.
        let n = inlineCount
        let inserted: Bool? = withUnsafeMutableBytes(of: &inline) { raw in
            let slots = raw.bindMemory(to: Int.self)
            var i = 0
            while i < n && slots[i] < r.id { i += 1 }
            if i < n && slots[i] == r.id { return false }   // already a member
            if n == Self.inlineCapacity { return nil }      // no room
            var k = n
            while k > i { slots[k] = slots[k - 1]; k -= 1 }
            slots[i] = r.id
            return true
        }
        switch inserted {
        case true?: inlineCount = n + 1
        case false?: break
        case nil:
            var ids = Array(ids)
            ids.insert(r.id, at: ids.firstIndex { $0 > r.id } ?? ids.count)
            self = RegisterSet(sorted: ids)
        }
    }
    mutating func remove(_ r: VReg) {
        if spilled != nil {
            // In place, as `insert` does: a walk removing each definition
            // (commute, coalescing) must not build a new array each time.
            let i = spilled!.withUnsafeBufferPointer { Self.position(r.id, in: $0) }
            if i < spilled!.count && spilled![i] == r.id { spilled!.remove(at: i) }
            return
        }
        guard contains(r) else { return }
        self = withMembers { ids in RegisterSet(sorted: ids.lazy.filter { $0 != r.id }) }
    }
    mutating func formUnion(_ o: RegisterSet) {
        if o.count == 0 || o == self { return }
        if count == 0 { self = o; return }
        self = withMembers { x in o.withMembers { y in Self.merged(x, y) } }
    }
    mutating func formUnion(_ rs: some Sequence<VReg>) { for r in rs { insert(r) } }
    func union(_ rs: some Sequence<VReg>) -> RegisterSet { var s = self; s.formUnion(rs); return s }

    /// The union of two sorted lists of distinct numbers.
    private static func merged(_ x: UnsafeBufferPointer<Int>, _ y: UnsafeBufferPointer<Int>) -> RegisterSet {
        built(capacity: x.count + y.count) { buffer in
            var i = 0, j = 0, n = 0
            while i < x.count && j < y.count {
                let a = x[i], b = y[j]
                if a < b { buffer[n] = a; i += 1 } else if b < a { buffer[n] = b; j += 1 } else { buffer[n] = a; i += 1; j += 1 }
                n += 1
            }
            while i < x.count { buffer[n] = x[i]; i += 1; n += 1 }
            while j < y.count { buffer[n] = y[j]; j += 1; n += 1 }
            return n
        }
    }

    /// The set `fill` writes, in increasing order, through a buffer of
    /// `capacity` slots, returning how many it wrote: in the value itself
    /// when that is few enough (`fill` writes a local buffer first), else
    /// into a new array without the capacity and uniqueness check of each
    /// append. The array is allocated by `Array(filled:count:)`:
    /// `[Int](unsafeUninitializedCapacity:)` reaches the standard library's
    /// unspecialised allocation, as `Array(repeating:count:)` does.
    @inline(__always)
    private static func built(capacity: Int, _ fill: (UnsafeMutableBufferPointer<Int>) -> Int) -> RegisterSet {
        var s = RegisterSet()
        if capacity <= inlineCapacity {
            s.inlineCount = withUnsafeMutableBytes(of: &s.inline) { fill($0.bindMemory(to: Int.self)) }
            return s
        }
        var out = [Int](filled: 0, count: capacity)
        let n = out.withUnsafeMutableBufferPointer { fill($0) }
        if n <= inlineCapacity {
            return out.withUnsafeBufferPointer { RegisterSet(sorted: $0[..<n]) }
        }
        out.removeLast(capacity - n)
        s.spilled = out
        return s
    }

    /// `(self − r) ∪ y` for sorted, distinct register numbers, merged in
    /// one pass (a liveness step: live-out less the block's definitions,
    /// with its uses). When that takes nothing away and adds nothing (no
    /// definition is live-out, every use already is: most blocks of a long
    /// body), the set is this one (sharing its storage when spilled).
    func subtracting(_ r: UnsafeBufferPointer<Int>, adding y: UnsafeBufferPointer<Int>) -> RegisterSet {
        if count == 0 { return RegisterSet(sorted: y) }
        let out: RegisterSet? = withMembers { x in
            // Anything to take away or to add?
            var j = 0, k = 0, changes = false
            for a in x {
                while j < r.count && r[j] < a { j += 1 }
                if j < r.count && r[j] == a { changes = true; break }
                if k < y.count && y[k] < a { changes = true; break }
                if k < y.count && y[k] == a { k += 1 }
            }
            if !changes && k == y.count { return nil }
            j = 0; k = 0
            return Self.built(capacity: x.count + y.count) { buffer in
                var n = 0
                for a in x {
                    while j < r.count && r[j] < a { j += 1 }
                    if j < r.count && r[j] == a { continue }
                    while k < y.count && y[k] < a { buffer[n] = y[k]; k += 1; n += 1 }
                    if k < y.count && y[k] == a { k += 1 }
                    buffer[n] = a; n += 1
                }
                while k < y.count { buffer[n] = y[k]; k += 1; n += 1 }
                return n
            }
        }
        return out ?? self
    }
    /// The members in increasing register number.
    func sorted() -> [VReg] { ids.map { VReg(id: $0) } }

    static func == (a: RegisterSet, b: RegisterSet) -> Bool {
        a.count == b.count && a.withMembers { x in b.withMembers { y in x.elementsEqual(y) } }
    }
}
