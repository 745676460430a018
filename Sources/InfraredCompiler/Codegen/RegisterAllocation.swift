import BPF

/// Linear-scan register allocation over BPF's ten registers (Poletto &
/// Sarkar), with live intervals from block liveness, fixed-register
/// constraints from the calling convention (a value live across a helper
/// call cannot sit in R0–R5), move hints so copies vanish, and spilling to
/// 8-byte stack slots below R10 (the interval whose register is read and
/// written least often over its length goes first, as each reference of a
/// spilled value costs a load or a store; spilled values are reloaded into
/// short-lived temporaries and the allocation is redone).
enum RegisterAllocation {
    struct Failure: Error { var message: String }

    static let order: [Register] = [.r1, .r2, .r3, .r4, .r5, .r0, .r6, .r7, .r8, .r9]
    static let maxSlots = 64   // 512-byte BPF stack

    static func allocate(_ input: MFunction) throws -> MFunction {
        var f = input
        // The coalesced function's liveness, from the coalescer's own: the
        // first scan does not compute it again (a spill rewrite does).
        var known: BlockLiveness? = coalesce(&f)
        var unspillable = Set<Int>()
        for _ in 0..<32 {
            let live = known ?? liveness(f)
            known = nil
            let (assignment, spilled) = try scan(f, live: live, unspillable: unspillable)
            if spilled.isEmpty {
                for b in f.blocks.indices {
                    f.blocks[b].instructions = f.blocks[b].instructions.map { i in
                        var i = i
                        i.op = i.op.mapRegs { r in if case .v(let v) = r { return .p(assignment[v] ?? .r0) }; return r }
                        return i
                    }
                }
                return f
            }
            for v in spilled {
                guard f.slots + (f.stackSize + 7) / 8 < maxSlots else { throw Failure(message: "the program needs more than 512 bytes of stack for its values") }
                let slot = (f.stackSize + 7) / 8 + f.slots; f.slots += 1
                unspillable.formUnion(rewrite(&f, spilling: v, slot: slot))
            }
        }
        throw Failure(message: "register allocation did not converge")
    }

    /// Aggressive copy coalescing: `mov d, s` where `s` dies at the move and
    /// `d` is born there joins the two into one register (their intervals
    /// only touch), so chains of two-address operations and the final move
    /// into R0 become one value, and the move disappears.
    /// Returns the liveness of the coalesced function.
    static func coalesce(_ f: inout MFunction) -> BlockLiveness {
        let live = liveness(f)
        let (ivs, fixed, _) = intervals(f, live: live, hints: false)
        // Union-find over register numbers (-1: its own root).
        var parent = [Int](filled: -1, count: f.vregCount)
        var merged = false
        func find(_ x: Int) -> Int { var x = x; while x >= 0, parent[x] >= 0, parent[x] != x { x = parent[x] }; return x }
        var range = [(Int, Int)?](filled: nil, count: f.vregCount)
        for x in ivs { range[x.vreg] = (x.start, x.end) }
        // Helper calls clobber R1 at one point each: sorted, searched by bisection.
        let calls = fixed[Int(Register.r1.rawValue)].filter { $0.0 == $0.1 }.map(\.0).sorted()
        func crossesCall(_ r: (Int, Int)) -> Bool {
            let i = firstIndex(in: calls) { $0 > r.0 }
            return i < calls.count && calls[i] < r.1
        }
        func id(_ r: MReg) -> Int { if case .v(let v) = r { return v }; return -1 }
        var g = 0
        for b in f.blocks {
            let first = g
            for (k, i) in b.instructions.enumerated() {
                defer { g += 1 }
                guard case .mov(.v(let d), .reg(.v(let s))) = i.op else { continue }
                let cs = find(s), cd = find(d)
                guard cs != cd, cs >= 0, cd >= 0, let rs = range[cs], let rd = range[cd], rs.1 <= 2 * g else { continue }
                if rd.0 < 2 * g + 1 {
                    // `d` lives before the move too (a local set on another
                    // path, its interval spanning this block). `s` still
                    // joins it when all of `s` lies in this block and `d` is
                    // neither read nor written from `s`'s birth to the move:
                    // `d`'s register holds nothing anyone reads there.
                    guard rs.0 >= 2 * first + 1, rs.0 > rd.0 else { continue }
                    let born = rs.0 / 2 - first
                    let touched = b.instructions[born..<k].enumerated().contains { j, x in
                        let refs = x.op.uses.map { find(id($0)) } + x.op.defs.map { find(id($0)) }
                        // The instruction defining `s` may read `d` (`s = d; s /= 100`).
                        return j == 0 ? x.op.defs.contains { find(id($0)) == cd } : refs.contains(cd)
                    }
                    guard !touched else { continue }
                    let joined = (rd.0, max(rd.1, rs.1))
                    if crossesCall(joined) && !crossesCall(rd) { continue }
                    parent[cs] = cd; merged = true
                    range[cd] = joined
                    continue
                }
                let joined = (rs.0, rd.1)
                // Do not stretch a value across a helper call it did not cross before.
                if crossesCall(joined) && !(crossesCall(rs) || crossesCall(rd)) { continue }
                parent[cd] = cs; merged = true
                range[cs] = joined
            }
        }
        guard merged else { return live }
        for b in f.blocks.indices {
            // Room for every instruction at once (`compactMap` grows its
            // result by appends: two or three allocations a block).
            let old = f.blocks[b].instructions
            var kept: [MInstruction2] = []
            kept.reserveCapacity(old.count)
            for var i in old {
                i.op = i.op.mapRegs { r in if case .v(let v) = r { return .v(find(v)) }; return r }
                if case .mov(let d, .reg(let s)) = i.op, d == s { continue }
                kept.append(i)
            }
            f.blocks[b].instructions = kept
        }
        // A merged register is live exactly where one of its members was:
        // the members' intervals only touch (or, joined into a register that
        // lives before the move, that register holds nothing read from the
        // member's birth to the move), and the move between them is gone.
        // So the sets renamed through `find` are the coalesced function's.
        func renamed(_ s: RegisterSet) -> RegisterSet {
            var out = RegisterSet()
            for v in s.ids { out.insert(VReg(id: find(v))) }
            return out
        }
        return BlockLiveness(liveIn: live.liveIn.map(renamed), liveOut: live.liveOut.map(renamed))
    }

    /// Block successors in layout order (fallthrough to the next block unless
    /// the block ends in `jump` or `exit`).
    static func forEachSuccessor(_ f: MFunction, _ b: Int, _ body: (Int) -> Void) {
        for i in f.blocks[b].instructions {
            if case .branch(_, _, _, let t) = i.op { body(t) }
            if case .jump(let t) = i.op { body(t); return }
            if case .exit = i.op { return }
        }
        if b + 1 < f.blocks.count { body(b + 1) }
    }

    struct Interval { var vreg: Int; var start: Int; var end: Int }


    /// A physical register's fixed ranges (uses, definitions, clobbers)
    /// for "does any meet [start, end]" in O(log n): sorted by end, with the
    /// least start of every suffix. (Testing every range of every register
    /// for every interval made allocation quadratic in a long body.)
    struct FixedRanges {
        var ends: [Int] = [], suffixMinStart: [Int] = []
        /// The first range ending at or after the last start asked about.
        private var cursor = 0
        init(_ ranges: [(Int, Int)]) {
            let sorted = ranges.sorted { $0.1 < $1.1 }
            ends = sorted.map(\.1)
            suffixMinStart = Array(filled: Int.max, count: sorted.count)
            var m = Int.max
            for i in sorted.indices.reversed() { m = min(m, sorted[i].0); suffixMinStart[i] = m }
        }
        /// Whether some range meets [start, end], asked in order of increasing
        /// `start` (the scan's order): the first range that ends at or after
        /// `start` only moves forward, where a bisection for each interval
        /// and register was 2 % of a long body's build.
        mutating func meets(_ start: Int, _ end: Int) -> Bool {
            while cursor < ends.count && ends[cursor] < start { cursor += 1 }
            return cursor < ends.count && suffixMinStart[cursor] <= end
        }
    }

    /// The virtual registers live into and out of each block.
    struct BlockLiveness { var liveIn: [RegisterSet]; var liveOut: [RegisterSet] }

    static func liveness(_ f: MFunction) -> BlockLiveness {
        let n = f.blocks.count
        var sets = BlockUsesAndDefinitions(blocks: n, instructions: f.blocks.reduce(0) { $0 + $1.instructions.count })
        // Per register, the last block that defined it / read it before any
        // definition there: membership tests without a hashed set per block.
        var definedIn = [Int](filled: -1, count: f.vregCount), readIn = definedIn
        for b in 0..<n {
            sets.startBlock()
            for i in f.blocks[b].instructions {
                i.op.forEachUse { r in
                    if case .v(let v) = r, definedIn[v] != b && readIn[v] != b { readIn[v] = b; sets.use(v) }
                }
                if case .v(let v)? = i.op.definition, definedIn[v] != b { definedIn[v] = b; sets.define(v) }
            }
            sets.endBlock()
        }
        sets.finish()
        let blockSets = sets   // captured as a constant, not a box
        var liveIn = Array(filled: RegisterSet(), count: n), liveOut = liveIn
        // Sweeps from the last block to the first (successors first, but for
        // back edges), as IRLiveness sweeps the IR's blocks.
        // Every block's successors in one array, block after block (an
        // array per block was an allocation per block, twice an allocation).
        var succStart = [Int](filled: 0, count: n + 1), succ: [Int] = []
        succ.reserveCapacity(2 * n)
        for b in 0..<n {
            forEachSuccessor(f, b) { succ.append($0) }
            succStart[b + 1] = succ.count
        }
        sweepBackward(order: Array(stride(from: n - 1, through: 0, by: -1)), blockCount: n,
                      forEachSuccessor: { b, body in for k in succStart[b]..<succStart[b + 1] { body(succ[k]) } }) { b, first in
            var out = RegisterSet()
            for k in succStart[b]..<succStart[b + 1] { out.formUnion(liveIn[succ[k]]) }
            return blockSets.step(b, out: out, first: first, liveIn: &liveIn, liveOut: &liveOut)
        }
        return BlockLiveness(liveIn: liveIn, liveOut: liveOut)
    }

    /// Live intervals of the virtual registers (in register order), the
    /// physical registers' fixed ranges (by register number), and move hints
    /// (by virtual register number; empty lists unless `wantHints`: coalescing
    /// reads none), from the blocks' liveness `live`.
    static func intervals(_ f: MFunction, live: BlockLiveness, hints wantHints: Bool) -> (vregs: [Interval], fixed: [[(Int, Int)]], hints: MoveHints) {
        let n = f.blocks.count
        var iv = [Interval?](filled: nil, count: f.vregCount)
        func touch(_ v: Int, _ p: Int) {
            if var x = iv[v] { x.start = min(x.start, p); x.end = max(x.end, p); iv[v] = x } else { iv[v] = Interval(vreg: v, start: p, end: p) }
        }
        // Room for a small function's ranges in each list at once (grown
        // from empty by appends, they were most of its allocations).
        var fixed = [[(Int, Int)]](filled: [], count: Register.allCases.count)
        for r in fixed.indices { fixed[r].reserveCapacity(16) }
        var lastDef = [Int?](filled: nil, count: Register.allCases.count)
        var hints: [(Int, MReg)] = []
        var g = 0
        for b in 0..<n {
            let first = g
            for i in f.blocks[b].instructions {
                let u = 2 * g, d = 2 * g + 1
                i.op.forEachUse { r in
                    switch r {
                    case .v(let v): touch(v, u)
                    case .p(let p): fixed[Int(p.rawValue)].append((lastDef[Int(p.rawValue)] ?? u, u))
                    }
                }
                if let r = i.op.definition {
                    switch r {
                    case .v(let v):
                        // setcc writes its result before it reads its operands.
                        if case .setcc = i.op { touch(v, u) }
                        touch(v, d)
                    case .p(let p): lastDef[Int(p.rawValue)] = d; fixed[Int(p.rawValue)].append((d, d))
                    }
                }
                i.op.forEachClobber { fixed[Int($0.rawValue)].append((d, d)) }
                if wantHints, case .mov(let dst, .reg(let src)) = i.op {
                    if case .v(let a) = dst { hints.append((a, src)) }
                    if case .v(let a) = src { hints.append((a, dst)) }
                }
                g += 1
            }
            let last = g - 1
            for v in live.liveIn[b].ids { touch(v, 2 * first) }
            for v in live.liveOut[b].ids { touch(v, 2 * max(last, first) + 1) }
        }
        return (iv.compactMap { $0 }, fixed, MoveHints(hints, registers: wantHints ? f.vregCount : 0))
    }

    /// Each virtual register's move partners, in the order of the moves:
    /// one array grouped by register (an array per register was an
    /// allocation for every register a move touches).
    struct MoveHints {
        private var start: [Int], partners: [MReg]
        init(_ pairs: [(Int, MReg)], registers: Int) {
            start = [Int](filled: 0, count: registers + 1)
            for (v, _) in pairs { start[v + 1] += 1 }
            for v in 0..<registers { start[v + 1] += start[v] }
            var next = start
            partners = [MReg](filled: .v(0), count: pairs.count)
            for (v, r) in pairs { partners[next[v]] = r; next[v] += 1 }
        }
        subscript(v: Int) -> ArraySlice<MReg> { partners[start[v]..<start[v + 1]] }
    }

    /// A set of physical registers, one bit each.
    struct RegisterMask {
        var bits: UInt16 = 0
        func contains(_ r: Register) -> Bool { bits & (1 << r.rawValue) != 0 }
        mutating func insert(_ r: Register) { bits |= 1 << r.rawValue }
    }

    static func scan(_ f: MFunction, live: BlockLiveness, unspillable: Set<Int>) throws -> ([Register?], [Int]) {
        let (ivs, fixed, hints) = intervals(f, live: live, hints: true)
        let sorted = ivs.sorted { ($0.start, $0.vreg) < ($1.start, $1.vreg) }
        var references = [Int](filled: 0, count: f.vregCount)
        for b in f.blocks { for i in b.instructions {
            i.op.forEachUse { if case .v(let v) = $0 { references[v] += 1 } }
            if case .v(let v)? = i.op.definition { references[v] += 1 }
        } }
        var assignment = [Register?](filled: nil, count: f.vregCount)
        var active: [Interval] = []
        var spilled: [Int] = []
        var fixedRanges = Register.allCases.filter { !fixed[Int($0.rawValue)].isEmpty }.map { ($0, FixedRanges(fixed[Int($0.rawValue)])) }
        func forbidden(_ x: Interval) -> RegisterMask {
            var s = RegisterMask()
            for k in fixedRanges.indices where fixedRanges[k].1.meets(x.start, x.end) { s.insert(fixedRanges[k].0) }
            return s
        }
        for x in sorted {
            active.removeAll { $0.end < x.start }
            var busy = RegisterMask()
            for a in active { if let r = assignment[a.vreg] { busy.insert(r) } }
            let banned = forbidden(x)
            if let first = order.first(where: { !busy.contains($0) && !banned.contains($0) }) {
                var pick = first
                for h in hints[x.vreg] {
                    let r: Register?
                    switch h { case .p(let p): r = p; case .v(let v): r = assignment[v] }
                    if let r, order.contains(r), !busy.contains(r), !banned.contains(r) { pick = r; break }
                }
                // Values live across calls take callee-saved registers only via `banned`; short ones prefer R1–R5.
                assignment[x.vreg] = pick
                active.append(x)
                continue
            }
            // Spill the interval whose register is used least often over its
            // length (each use of a spilled value costs a load), among those
            // that can give their register to x and x itself.
            let candidates = active.filter { !unspillable.contains($0.vreg) && !banned.contains(assignment[$0.vreg]!) }
            func density(_ i: Interval) -> Double { Double(references[i.vreg]) / Double(i.end - i.start + 1) }
            if let victim = candidates.min(by: { (density($0), -$0.end) < (density($1), -$1.end) }),
               unspillable.contains(x.vreg) || (density(victim), -victim.end) < (density(x), -x.end) {
                assignment[x.vreg] = assignment[victim.vreg]
                assignment[victim.vreg] = nil
                active.removeAll { $0.vreg == victim.vreg }
                active.append(x)
                spilled.append(victim.vreg)
            } else if !unspillable.contains(x.vreg) {
                spilled.append(x.vreg)
            } else {
                throw Failure(message: "too many values are live at once (even after spilling)")
            }
        }
        return (assignment, spilled)
    }

    /// Rewrites every use and definition of `v` through a fresh temporary
    /// and stack slot `slot`. Returns the temporaries (never spilled again).
    static func rewrite(_ f: inout MFunction, spilling v: Int, slot: Int) -> Set<Int> {
        var temps = Set<Int>()
        for b in f.blocks.indices {
            var out: [MInstruction2] = []
            for i in f.blocks[b].instructions {
                let uses = i.op.uses.contains(.v(v)), defs = i.op.defs.contains(.v(v))
                guard uses || defs else { out.append(i); continue }
                let t = f.vregCount; f.vregCount += 1; temps.insert(t)
                if uses { out.append(MInstruction2(op: .spillLoad(.v(t), slot: slot), location: i.location)) }
                var j = i
                j.op = i.op.mapRegs { $0 == .v(v) ? .v(t) : $0 }
                // A terminator that reads v must stay last; defs never happen on terminators.
                out.append(j)
                if defs { out.append(MInstruction2(op: .spillStore(slot: slot, .v(t)), location: i.location)) }
            }
            f.blocks[b].instructions = out
        }
        return temps
    }
}
