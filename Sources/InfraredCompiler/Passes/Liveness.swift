/// Backward liveness over the IR's blocks: which virtual registers hold a
/// value some later instruction reads. Used by dead-code elimination, move
/// coalescing, linear folding and compare/branch fusion.
struct IRLiveness {
    var liveIn: [RegisterSet]
    var liveOut: [RegisterSet]

    /// The liveness of `f`, swept in `order` (its `reversePostOrder`, when
    /// the caller has it).
    init(_ f: IRFunction, order: [Int]? = nil) {
        let n = f.blocks.count
        let empty = RegisterSet()
        var sets = BlockUsesAndDefinitions(blocks: n, instructions: f.blocks.reduce(0) { $0 + $1.instructions.count })
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
            switch f.blocks[b].terminator {
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
                  forEachSuccessor: { b, body in f.blocks[b].terminator.forEachSuccessor(body) }, visit: visit)
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
            for s in f.blocks[b].terminator.successors {
                dirty[s] = true
                if position[s] <= position[b] { again = true }
            }
        }
    }
}

/// An array of `capacity` slots that `fill` writes through a buffer,
/// returning how many it wrote (the rest are dropped). A merge writes its
/// result this way without the capacity and uniqueness check of each
/// append. Allocated by `Array(filled:count:)`: `[Int](unsafeUninitializedCapacity:)`
/// reaches the standard library's unspecialised allocation, as
/// `Array(repeating:count:)` does (see `Array(filled:count:)`).
@inline(__always)
private func mergedArray(capacity: Int, _ fill: (UnsafeMutableBufferPointer<Int>) -> Int) -> [Int] {
    var out = [Int](filled: 0, count: capacity)
    let n = out.withUnsafeMutableBufferPointer { fill($0) }
    out.removeLast(capacity - n)
    return out
}

/// A set of virtual registers as a sorted array of register numbers. Live
/// sets are small (the registers live at a point, a block's uses and
/// definitions) while a function may have tens of thousands of registers: a
/// bit vector of every register per block (as this was) made each liveness
/// computation blocks × registers, quadratic in a long body (3,000 map
/// updates: 0.9 GB, most of 14 s; Benchmarks/scaling.sh). Unions,
/// differences and comparisons are merges of the two arrays.
struct RegisterSet: Equatable {
    private(set) var ids: [Int] = []

    init() {}
    /// The set of these distinct register numbers.
    init(members: [Int]) { ids = members.sorted() }

    /// The position of `id` in `ids`, or where it would go.
    private func position(_ id: Int) -> Int {
        var lo = 0, hi = ids.count
        while lo < hi { let mid = (lo + hi) >> 1; if ids[mid] < id { lo = mid + 1 } else { hi = mid } }
        return lo
    }
    func contains(_ r: VReg) -> Bool {
        let i = position(r.id)
        return i < ids.count && ids[i] == r.id
    }
    mutating func insert(_ r: VReg) {
        if let last = ids.last, last < r.id { ids.append(r.id); return }
        let i = position(r.id)
        if i == ids.count || ids[i] != r.id { ids.insert(r.id, at: i) }
    }
    mutating func remove(_ r: VReg) {
        let i = position(r.id)
        if i < ids.count && ids[i] == r.id { ids.remove(at: i) }
    }
    mutating func formUnion(_ o: RegisterSet) {
        if o.ids.isEmpty || o.ids == ids { return }
        if ids.isEmpty { ids = o.ids; return }
        // The merge writes the new array's storage directly (an append
        // checks capacity and uniqueness each time).
        let out = ids.withUnsafeBufferPointer { x in
            o.ids.withUnsafeBufferPointer { y in
                mergedArray(capacity: x.count + y.count) { buffer in
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
        }
        ids = out
    }
    mutating func formUnion(_ rs: some Sequence<VReg>) { for r in rs { insert(r) } }
    func union(_ rs: some Sequence<VReg>) -> RegisterSet { var s = self; s.formUnion(rs); return s }
    /// `(self − r) ∪ y` for sorted, distinct register numbers, merged in
    /// one pass (a liveness step: live-out less the block's definitions,
    /// with its uses). When that takes nothing away and adds nothing (no
    /// definition is live-out, every use already is: most blocks of a long
    /// body), the set shares this one's storage instead of allocating its own.
    func subtracting(_ r: UnsafeBufferPointer<Int>, adding y: UnsafeBufferPointer<Int>) -> RegisterSet {
        if ids.isEmpty {
            var s = RegisterSet()
            if !y.isEmpty { s.ids.reserveCapacity(y.count); s.ids.append(contentsOf: y) }
            return s
        }
        let out: [Int]? = ids.withUnsafeBufferPointer { x in
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
            return mergedArray(capacity: x.count + y.count) { buffer in
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
        guard let out else { return self }
        var s = RegisterSet()
        s.ids = out
        return s
    }
    /// The members in increasing register number.
    func sorted() -> [VReg] { ids.map { VReg(id: $0) } }
}
