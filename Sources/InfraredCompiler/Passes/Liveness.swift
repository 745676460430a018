/// Backward liveness over the IR's blocks: which virtual registers hold a
/// value some later instruction reads. Used by dead-code elimination, move
/// coalescing, linear folding and compare/branch fusion.
struct IRLiveness {
    var liveIn: [RegisterSet]
    var liveOut: [RegisterSet]

    init(_ f: IRFunction) {
        let n = f.blocks.count
        let empty = RegisterSet(capacity: f.vregCount)
        var use = Array(repeating: empty, count: n), def = use
        for (b, block) in f.blocks.enumerated() {
            for (insn, _) in block.instructions {
                for u in insn.uses where !def[b].contains(u) { use[b].insert(u) }
                if let d = insn.definition { def[b].insert(d) }
            }
            for u in block.terminator.uses where !def[b].contains(u) { use[b].insert(u) }
        }
        liveIn = Array(repeating: empty, count: n); liveOut = liveIn
        var changed = true
        let order = Array(f.reversePostOrder.reversed())
        while changed {
            changed = false
            for b in order {
                var out = empty
                for s in f.blocks[b].terminator.successors { out.formUnion(liveIn[s]) }
                var inn = out
                inn.subtract(def[b])
                inn.formUnion(use[b])
                if out != liveOut[b] || inn != liveIn[b] { liveOut[b] = out; liveIn[b] = inn; changed = true }
            }
        }
    }
}

/// A set of virtual registers as a bit vector indexed by register number:
/// liveness sets are unioned and compared constantly, which hashing makes slow.
struct RegisterSet: Equatable {
    private var words: [UInt64]

    init(capacity: Int) { words = Array(repeating: 0, count: (capacity + 63) / 64) }

    func contains(_ r: VReg) -> Bool {
        let w = r.id >> 6
        return w < words.count && words[w] & (1 << UInt64(r.id & 63)) != 0
    }
    mutating func insert(_ r: VReg) {
        let w = r.id >> 6
        if w >= words.count { words += Array(repeating: 0, count: w + 1 - words.count) }
        words[w] |= 1 << UInt64(r.id & 63)
    }
    mutating func remove(_ r: VReg) {
        let w = r.id >> 6
        if w < words.count { words[w] &= ~(1 << UInt64(r.id & 63)) }
    }
    mutating func formUnion(_ o: RegisterSet) {
        if o.words.count > words.count { words += Array(repeating: 0, count: o.words.count - words.count) }
        for i in o.words.indices { words[i] |= o.words[i] }
    }
    mutating func formUnion(_ rs: some Sequence<VReg>) { for r in rs { insert(r) } }
    func union(_ rs: some Sequence<VReg>) -> RegisterSet { var s = self; s.formUnion(rs); return s }
    mutating func subtract(_ o: RegisterSet) {
        for i in words.indices where i < o.words.count { words[i] &= ~o.words[i] }
    }
    /// The members in increasing register number.
    func sorted() -> [VReg] {
        var out: [VReg] = []
        for (i, w) in words.enumerated() where w != 0 {
            var bits = w
            while bits != 0 {
                out.append(VReg(id: i * 64 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        return out
    }
    static func == (a: RegisterSet, b: RegisterSet) -> Bool {
        let n = max(a.words.count, b.words.count)
        for i in 0..<n where (i < a.words.count ? a.words[i] : 0) != (i < b.words.count ? b.words[i] : 0) { return false }
        return true
    }
}
