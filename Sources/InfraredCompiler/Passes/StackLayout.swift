/// Stack objects that are never live at the same time share bytes.
///
/// The lowering gives every stack object (a map key, an insert's value, a
/// string scratch, a struct) bytes of its own, so a body of 30 `m[k] += v`
/// used to run out of the verifier's 512 bytes although each key lives for
/// one statement. This pass lays the objects out again, as clang's stack
/// colouring does: an object is live from the write that defines all of its
/// bytes (or from the entry, when no write does) to its last read, reads
/// through a pointer to it included (a helper's key argument, a
/// `load`/`store` off a `frameAddress`); two objects live at one point get
/// disjoint bytes, the rest may overlap. The objects keep their order of
/// first allocation as the tie-break, so a layout is deterministic.
///
/// It leaves the layout as it is when it cannot see every use: a frame
/// access outside the recorded objects, or a pointer to the stack stored to
/// memory or returned.
func packStackObjects(_ f: inout IRFunction) {
    guard f.stackObjects.count > 1, let layout = StackLayout(f) else { return }
    // New offsets only: the same registers and edges.
    f.keepingLivenessAndOrder { layout.apply(to: &$0) }
}

struct StackLayout {
    /// An object, or objects one access spans, merged: bytes [offset, offset + size) below R10.
    struct Group { var offset: Int; var size: Int; var alignment: Int; var new = 0 }
    var groups: [Group] = []
    /// Object index → group index.
    var groupOf: [Int] = []
    let objects: [IRFunction.StackObject]
    /// Object indices in increasing offset, and those offsets (objects never overlap).
    private let byOffset: [Int]
    private let starts: [Int]

    /// Calls `body` with each object [o, o + size) overlaps, in order, and
    /// says whether they cover it (false when a byte is in none; `body` may
    /// have seen some). No array: the layout asks for every frame access.
    func forEachOverlapping(_ o: Int, _ size: Int, _ body: (Int) -> Void) -> Bool {
        // Last object starting at or below o.
        var i = firstIndex(in: starts) { $0 > o } - 1, covered = o
        guard i >= 0 else { return false }
        while i < byOffset.count, covered < o + max(size, 1) {
            let ob = objects[byOffset[i]]
            guard ob.offset <= covered, covered < ob.offset + ob.size else {
                if ob.offset + ob.size <= covered { i += 1; continue }
                return false
            }
            body(byOffset[i]); covered = ob.offset + ob.size; i += 1
        }
        return covered >= o + max(size, 1)
    }

    /// The object byte `o` is in (the one `forEachOverlapping(o, 1)` visits).
    func objectContaining(_ o: Int) -> Int? {
        var i = firstIndex(in: starts) { $0 > o } - 1
        guard i >= 0 else { return nil }
        while i < byOffset.count {
            let ob = objects[byOffset[i]]
            if ob.offset <= o && o < ob.offset + ob.size { return byOffset[i] }
            if ob.offset + ob.size <= o { i += 1; continue }
            return nil
        }
        return nil
    }

    init?(_ f: borrowing IRFunction) {
        let objects = f.stackObjects
        let byOffset = objects.indices.sorted { objects[$0].offset < objects[$1].offset }
        self.objects = objects
        self.byOffset = byOffset
        starts = byOffset.map { objects[$0].offset }
        // Union-find over objects; an access spanning two merges them.
        var parent = Array(objects.indices)
        func find(_ x: Int) -> Int { var x = x; while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }; return x }
        func union(_ a: Int, _ b: Int) {
            let ra = find(a), rb = find(b)
            if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
        }
        // Frame accesses, and pointers derived from frame addresses, to a
        // fixed point: a copy can come before the copy it copies (loops).
        // A register's object is set once and never changes, so a walk
        // differs from the one before only where a register was read
        // without one and given one afterwards (`missed`): without such a
        // register it makes the same merges and answers (unions repeat).
        var pointerObjects = VRegTable(count: f.vregCount)   // a vreg that may point into this object
        var missed = [Bool](filled: false, count: f.vregCount), again = false
        func pointer(_ v: VReg) -> Int? {
            if let p = pointerObjects[v] { return p }
            if v.id < missed.count { missed[v.id] = true }
            return nil
        }
        func derive(_ d: VReg, from p: Int) {
            if let q = pointerObjects[d] { union(p, q); return }
            pointerObjects[d] = p
            if d.id < missed.count && missed[d.id] { again = true }
        }
        repeat {
            again = false
            for b in f.blocks.indices {
                for (insn, _) in f.instructions(of: b) {
                    // The first object an access touches; the others join it.
                    var first = -1
                    func join(_ x: Int) { if first < 0 { first = x } else { union(first, x) } }
                    switch insn {
                    case .frameAddress(let d, let o):
                        guard forEachOverlapping(o, 1, join) else { return nil }
                        derive(d, from: first)
                    case .loadFrame(_, let o, let size, _), .storeFrame(let o, _, let size):
                        guard forEachOverlapping(o, size, join) else { return nil }
                    case .move(let d, .reg(let s)):
                        if let p = pointer(s) { derive(d, from: p) }
                    case .binary(_, let d, let a, let c):
                        if let s = a.register, let p = pointer(s) { derive(d, from: p) }
                        if let s = c.register, let p = pointer(s) { derive(d, from: p) }
                    default: break
                    }
                    // A pointer to the stack written to memory: its uses are out of sight.
                    switch insn {
                    case .storeFrame(_, .reg(let v), _), .store(_, _, .reg(let v), _):
                        if pointer(v) != nil { return nil }
                    case .atomicAdd(_, _, let v, _):
                        if pointer(v) != nil { return nil }
                    default: break
                    }
                }
                if case .ret(.reg(let v)) = f.terminator(of: b), pointer(v) != nil { return nil }
            }
        } while again
        var index: [Int: Int] = [:]
        var groupOf: [Int] = []
        for i in objects.indices {
            let r = find(i)
            if let g = index[r] { groupOf.append(g); continue }
            index[r] = index.count
            groupOf.append(index.count - 1)
        }
        self.groupOf = groupOf
        groups = Array(filled: Group(offset: 0, size: 0, alignment: 1), count: index.count)
        var bounds = [(lo: Int, hi: Int, align: Int)](filled: (Int.max, Int.min, 1), count: groups.count)
        for (i, ob) in objects.enumerated() {
            let g = groupOf[i]
            bounds[g] = (min(bounds[g].lo, ob.offset), max(bounds[g].hi, ob.offset + ob.size), max(bounds[g].align, ob.alignment))
        }
        for g in groups.indices { groups[g] = Group(offset: bounds[g].lo, size: bounds[g].hi - bounds[g].lo, alignment: bounds[g].align) }

        // What each instruction touches (reads or writes, itself or through a
        // pointer), and where a run of stores with no read between defines every
        // byte of a group: before its first store the old bytes are dead. Flat,
        // by instruction number over the blocks in order: instruction k touches
        // `touched[touchStart[k] ..< touchStart[k + 1]]` (most touch none) and
        // starts a defining run of group `defines[k]` (-1: none).
        func group(_ o: Int) -> Int? { objectContaining(o).map { groupOf[$0] } }
        func pointerGroup(_ v: VReg) -> Int? { pointerObjects[v].map { groupOf[$0] } }
        let n = f.blocks.count
        var blockStart = [Int](filled: 0, count: n + 1)
        for b in 0..<n { blockStart[b + 1] = blockStart[b] + f.instructions(of: b).count }
        var touched: [Int] = [], touchStart: [Int] = []
        touchStart.reserveCapacity(blockStart[n] + 1)
        var defines = [Int](filled: -1, count: blockStart[n])
        let terminatorTouches: [[Int]] = f.blocks.indices.map { b in
            var t: [Int] = []
            f.terminator(of: b).forEachUse { if let g = pointerGroup($0) { insertSorted(g, into: &t) } }
            return t
        }
        // Per group: bytes written since its last read in this block, and the first of those stores.
        var written: [Int: (mask: UInt64, first: Int)] = [:]
        for bi in f.blocks.indices {
            written.removeAll(keepingCapacity: true)
            for (ii, (insn, _)) in f.instructions(of: bi).enumerated() {
                let k = blockStart[bi] + ii, first = touched.count
                touchStart.append(first)
                func touch(_ g: Int) { if !touched[first...].contains(g) { touched.append(g) } }
                insn.forEachUse { if let g = pointerGroup($0) { touch(g) } }
                if let d = insn.definition, let g = pointerGroup(d) { touch(g) }
                switch insn {
                case .frameAddress(_, let o), .loadFrame(_, let o, _, _):
                    if let g = group(o) { touch(g) }
                case .storeFrame(let o, _, let size):
                    guard let g = group(o) else { break }
                    touch(g)
                    let gr = groups[g]
                    if gr.size <= 64 {
                        let lo = o - gr.offset
                        let bits: UInt64 = size >= 64 ? ~0 : ((1 << UInt64(size)) - 1) << UInt64(lo)
                        var w = written[g] ?? (0, k)
                        w.mask |= bits
                        written[g] = w
                        let full: UInt64 = gr.size == 64 ? ~0 : (1 << UInt64(gr.size)) - 1
                        if w.mask & full == full { defines[w.first] = g; written[g] = nil }
                    }
                    continue
                default: break
                }
                // Anything else touching a group reads it (a helper may read its key).
                for g in touched[first...] { written[g] = nil }
            }
        }
        touchStart.append(touched.count)

        // Liveness, backward: a touch keeps a group live above it, the first
        // store of a defining run ends it. A live set is a sorted array: a
        // handful of groups at most are live at once.
        var liveIn = [[Int]](filled: [], count: n)
        let preds = f.predecessors
        var work = Array(0..<n), queued = [Bool](filled: true, count: n)
        func liveOut(_ b: Int) -> [Int] {
            var s = terminatorTouches[b]
            f.terminator(of: b).forEachSuccessor { for g in liveIn[$0] { insertSorted(g, into: &s) } }
            return s
        }
        /// The groups live above block b's instructions, from `out`, those live
        /// below them (`liveOut`: its terminator's touches included);
        /// `visit(k, live)` sees each instruction k with what is live below it.
        func transferBlock(_ b: Int, _ out: [Int], visit: ((Int, [Int]) -> Void)? = nil) -> [Int] {
            var live = out
            for k in (blockStart[b]..<blockStart[b + 1]).reversed() {
                visit?(k, live)
                let d = defines[k]
                if d >= 0, let i = live.firstIndex(of: d) { live.remove(at: i) }
                for g in touched[touchStart[k]..<touchStart[k + 1]] where g != d { insertSorted(g, into: &live) }
            }
            return live
        }
        while let b = work.popLast() {
            queued[b] = false
            let new = transferBlock(b, liveOut(b))
            if new != liveIn[b] {
                liveIn[b] = new
                for p in preds[b] where !queued[p] { queued[p] = true; work.append(p) }
            }
        }
        // Interference: groups live together, or one touched where another is
        // live below the instruction. Every pair live together above an
        // instruction is live together below it or has one touched there, so
        // pairs are added where a block ends and where an instruction touches.
        var neighbours = [[Int]](filled: [], count: groups.count)
        func interfere(_ a: Int, _ b: Int) { if a != b { neighbours[a].append(b); neighbours[b].append(a) } }
        for b in 0..<n {
            let out = liveOut(b)
            for i in out.indices { for j in out.indices where j > i { interfere(out[i], out[j]) } }
            _ = transferBlock(b, out) { k, below in
                let t = touched[touchStart[k]..<touchStart[k + 1]]
                for g in t {
                    for h in below { interfere(g, h) }
                    for h in t where h > g { interfere(g, h) }
                }
            }
        }
        let interferes: [[Int]] = neighbours.map { a in
            var u: [Int] = []
            for x in a.sorted() where u.last != x { u.append(x) }
            return u
        }

        // Placement: in order of first allocation, the lowest aligned place
        // clear of every placed group it interferes with.
        var firstObject = [Int](filled: Int.max, count: groups.count)
        for (i, g) in groupOf.enumerated() { firstObject[g] = min(firstObject[g], i) }
        var placed = [Bool](filled: false, count: groups.count)
        for g in groups.indices.sorted(by: { firstObject[$0] < firstObject[$1] }) {
            let size = groups[g].size, align = max(groups[g].alignment, 1)
            var depth = (size + align - 1) / align * align   // bytes below R10 to the group's start
            var moved = true
            while moved {
                moved = false
                for h in interferes[g] where placed[h] {
                    // h occupies [-(h.new), -(h.new) + h.size); g would occupy [-depth, -depth + size).
                    let hLo = -groups[h].new, hHi = hLo + groups[h].size
                    if -depth < hHi && hLo < -depth + size {
                        depth = (groups[h].new + size + align - 1) / align * align
                        moved = true
                    }
                }
            }
            groups[g].new = depth
            placed[g] = true
        }
    }

    /// The stack bytes the new layout uses.
    var size: Int { groups.map(\.new).max() ?? 0 }

    func apply(to f: inout IRFunction) {
        /// Where an old offset goes: with the group of the object it is in.
        func moved(_ o: Int) -> Int {
            guard let i = objectContaining(o) else { return o }
            let g = groups[groupOf[i]]
            return o - g.offset - g.new
        }
        var cache: [Int: Int] = [:]
        func at(_ o: Int) -> Int { if let m = cache[o] { return m }; let m = moved(o); cache[o] = m; return m }
        for b in f.blocks.indices {
            f.rewriteInstructions(ofBlock: b) { insn, _ in
                switch insn {
                case .frameAddress(let d, let o): let m = at(o); return m == o ? nil : .frameAddress(d, offset: m)
                case .loadFrame(let d, let o, let s, let sg): let m = at(o); return m == o ? nil : .loadFrame(d, offset: m, size: s, signed: sg)
                case .storeFrame(let o, let v, let s): let m = at(o); return m == o ? nil : .storeFrame(offset: m, value: v, size: s)
                default: return nil
                }
            }
        }
        var placedObjects = objects
        for i in placedObjects.indices {
            let g = groups[groupOf[i]]
            placedObjects[i].offset = objects[i].offset - g.offset - g.new
        }
        f.stackObjects = placedObjects
        f.stackSize = size
    }
}

/// A number per virtual register (an object index here, a frame offset in
/// `frameAddresses`), nil where none: an array by register number (register
/// numbers are dense), not a dictionary hashed for every operand.
struct VRegTable {
    private var slots: [Int]
    /// Whether no register was ever given a number.
    private(set) var isEmpty = true
    /// Marks a register without a number (never a stack offset or an index).
    private static let none = Int.min
    init(count: Int) { slots = [Int](filled: Self.none, count: count) }
    subscript(_ v: VReg) -> Int? {
        get { v.id < slots.count && slots[v.id] != Self.none ? slots[v.id] : nil }
        set {
            if v.id >= slots.count { slots += [Int](filled: Self.none, count: v.id + 1 - slots.count) }
            slots[v.id] = newValue ?? Self.none
            if newValue != nil { isEmpty = false }
        }
    }
}

/// Inserts x into the sorted array a unless it is there.
private func insertSorted(_ x: Int, into a: inout [Int]) {
    var i = a.count
    while i > 0 && a[i - 1] > x { i -= 1 }
    if i > 0 && a[i - 1] == x { return }
    a.insert(x, at: i)
}
