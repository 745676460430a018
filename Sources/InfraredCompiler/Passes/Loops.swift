import Dispatch

/// Full unrolling of loops whose trip count is known at compile time, kept
/// only where it pays: `while i < 16 … i += 1` or `16.times` peeled
/// iteration by iteration until constant propagation proves the loop is
/// left, then cleaned up; the unrolled function replaces the original when
/// it is no larger (the verifier walks every iteration of a loop anyway, so
/// a loop that folds away is cheaper for it as well).
///
/// The IR is not SSA, so a peeled iteration is a plain copy of the loop's
/// blocks: the entering edges go to the copy, the copy's back edges go to
/// the original header, its exits stay where they were.
///
/// Each try cleans up two whole functions (the unrolled one and, after a
/// change, the baseline); they are independent, so they run side by side.
func unrollConstantLoops(_ f: inout IRFunction) {
    var tried = Set<Int>()   // headers (of the current numbering) that did not unroll
    var baseline: Int? = nil  // cost of `f` cleaned up: the same while no loop unrolls
    for _ in 0..<8 {
        guard let loop = Loop.innermost(in: f).first(where: { !tried.contains($0.header) }) else { return }
        if let trips = Loop.peelCount(f, loop) {
            let (candidate, cleaned) = Loop.unrolledBesideBaseline(f, loop, trips: trips, baseline: baseline == nil)
            baseline = baseline ?? cleaned
            if let unrolled = candidate, Loop.pays(unrolled: Loop.cost(unrolled), baseline: baseline!,
                                                   verifiedBaseline: loop.isArithmetic(f) ? Loop.verifiedCost(f, loop, trips: trips) : 0) {
                // Cleaning `unrolled` up again may find more (a merge of blocks
                // exposes a constant): the next loop's baseline is cleaned anew.
                f = unrolled; baseline = nil; tried = []; continue
            }
        }
        tried.insert(loop.header)
    }
}

/// A natural loop: a header and the blocks that reach a back edge without
/// passing through the header.
struct Loop {
    var header: Int
    var blocks: Set<Int>

    /// Most iterations peeled, and most instructions the unrolled function may have.
    static let maximumTrips = 64
    static let maximumInstructions = 4096

    /// Loops that contain no other loop's header.
    static func innermost(in f: IRFunction) -> [Loop] {
        let all = natural(in: f)
        let headers = Set(all.map(\.header))
        return all.filter { $0.blocks.intersection(headers) == [$0.header] }
    }

    /// Every natural loop, one per header (back edges to one header merged), by header.
    static func natural(in f: IRFunction) -> [Loop] {
        // A back edge (to a block dominating its source) runs against the
        // reverse post-order: with none of those there is no loop, and no
        // dominator tree to build (most probes have no loop).
        let order = f.reversePostOrder
        var position = [Int](repeating: -1, count: f.blocks.count)
        for (i, b) in order.enumerated() { position[b] = i }
        let retreating = order.contains { b in f.blocks[b].terminator.successors.contains { position[$0] <= position[b] } }
        guard retreating else { return [] }
        let dominators = Dominators(f)
        let preds = f.predecessors
        var loops: [Int: Set<Int>] = [:]
        for b in f.reversePostOrder {
            for h in f.blocks[b].terminator.successors where dominators.dominates(h, b) {
                var body: Set<Int> = [h], work = [b]
                while let x = work.popLast() {
                    guard body.insert(x).inserted else { continue }
                    work += preds[x]
                }
                loops[h, default: []].formUnion(body)
            }
        }
        return loops.map { Loop(header: $0.key, blocks: $0.value) }.sorted { $0.header < $1.header }
    }

    /// `f` with `loop` peeled until it is provably left, and cleaned up; nil
    /// when some iteration's continue-or-leave test is not a constant.
    static func unrolled(_ f: IRFunction, _ loop: Loop, trips: Int) -> IRFunction? {
        var g = f
        let body = loop.blocks.sorted()
        var copies = Set<Int>()
        for _ in 0..<trips {
            let base = g.blocks.count
            var copy: [Int: Int] = [:]
            for (i, b) in body.enumerated() { copy[b] = base + i }
            for b in body {
                var blk = g.blocks[b]
                blk.terminator = blk.terminator.mapTargets { t in t == loop.header ? t : (copy[t] ?? t) }
                g.blocks.append(blk)
            }
            // Edges entering the loop from outside now enter the copy; the
            // previous copy's back edges are among them.
            for p in g.blocks.indices where !loop.blocks.contains(p) && !(base..<g.blocks.count).contains(p) {
                g.blocks[p].terminator = g.blocks[p].terminator.mapTargets { $0 == loop.header ? copy[loop.header]! : $0 }
            }
            copies.formUnion(copy.values)
        }
        // One propagation decides every copy's tests (the chain of copies is
        // acyclic); check that it did, as `peelCount` predicted.
        propagateConstants(&g)
        for c in copies {
            if case .branch(_, _, _, let t, let e) = g.blocks[c].terminator, !(copies.contains(t) && copies.contains(e)) { return nil }
        }
        guard !g.reversePostOrder.contains(loop.header) else { return nil }
        cleanUp(&g)
        return g
    }

    /// `unrolled(f, loop, trips:)` and, when `baseline`, the cost of `f`
    /// cleaned up, computed on two threads of libdispatch's pool (or one
    /// after the other, when the pool is busy with other programs).
    static func unrolledBesideBaseline(_ f: IRFunction, _ loop: Loop, trips: Int, baseline: Bool) -> (IRFunction?, Int?) {
        guard baseline else { return (unrolled(f, loop, trips: trips), nil) }
        final class Results: @unchecked Sendable { var unrolled: IRFunction?; var baseline: Int? }
        let results = Results()
        // Each iteration writes its own property; concurrentPerform returns
        // after both, which orders those writes before the reads below.
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            if i == 0 {
                results.unrolled = unrolled(f, loop, trips: trips)
            } else {
                var g = f
                cleanUp(&g)
                results.baseline = cost(g)
            }
        }
        return (results.unrolled, results.baseline)
    }

    /// How many copies of the loop's blocks constant propagation needs to
    /// prove the loop left: each iteration is run over the constants known on
    /// entering it (a local dataflow over the body, back edges feeding the
    /// next iteration). Nil when a test that may leave or repeat the loop is
    /// not a constant, or past `maximumTrips` / `maximumInstructions`.
    static func peelCount(_ f: IRFunction, _ loop: Loop) -> Int? {
        let order = f.reversePostOrder
        let analysis = ConstantAnalysis(f, order: order)
        let body = order.filter { loop.blocks.contains($0) }   // the header first: it dominates the body
        // Entering from outside: the meet of the outside predecessors.
        guard var state = analysis.meet(of: analysis.predecessors[loop.header].filter { !loop.blocks.contains($0) }) else { return nil }
        let size = f.blocks.reduce(0) { $0 + $1.instructions.count }
        let bodySize = body.reduce(0) { $0 + f.blocks[$1].instructions.count }
        for trips in 1...maximumTrips {
            guard size + trips * bodySize <= maximumInstructions else { return nil }
            var incoming: [Int: ConstantState] = [loop.header: state]
            var next: ConstantState? = nil
            func reach(_ t: Int, _ s: ConstantState) {
                if t == loop.header {
                    if next == nil { next = s } else { next!.meet(s) }
                } else if loop.blocks.contains(t) {
                    if incoming[t] == nil { incoming[t] = s } else { incoming[t]!.meet(s) }
                }
            }
            for b in body {
                guard var s = incoming[b] else { continue }   // not reached in this iteration
                ConstantAnalysis.transfer(f.blocks[b], &s)
                switch f.blocks[b].terminator {
                case .jump(let t): reach(t, s)
                case .branch(let c, let x, let y, let t, let e):
                    if let x = s.value(x), let y = s.value(y) {
                        reach(c.evaluate(x, y) ? t : e, s)
                    } else {
                        // A test on data may only choose between blocks of this iteration.
                        guard loop.blocks.contains(t), loop.blocks.contains(e), t != loop.header, e != loop.header else { return nil }
                        reach(t, s); reach(e, s)
                    }
                case .ret, .unreachable: break
                }
            }
            guard let n = next else { return trips }
            state = n
        }
        return nil
    }

    /// The passes that make an unrolled loop (and its baseline) comparable.
    static func cleanUp(_ f: inout IRFunction) {
        simplifyCFG(&f)
        propagateConstants(&f)
        propagateCopies(&f)
        numberValues(&f)
        foldLinearExpressions(&f)
        propagateConstants(&f)
        propagateCopies(&f)
        eliminateDeadCode(&f)
        simplifyCFG(&f)
    }

    /// Most instructions an unrolling may add to buy fewer verified ones.
    static let growthBudget = 64

    /// Whether to keep an unrolled loop: when it is no larger, or when it
    /// grows by at most `growthBudget` and is smaller than what the verifier
    /// walks for the rolled loop (every trip of the body again: a 12-trip
    /// loop is 12 bodies to the verifier, one to the emitter).
    static func pays(unrolled: Int, baseline: Int, verifiedBaseline: Int) -> Bool {
        unrolled <= baseline || (unrolled <= baseline + growthBudget && unrolled < verifiedBaseline)
    }

    /// Whether the loop only computes in registers (no calls, memory or
    /// stack slots): growing such a loop cannot grow the stack (each peeled
    /// copy of a stack slot would need its own).
    func isArithmetic(_ f: IRFunction) -> Bool {
        blocks.allSatisfy { b in
            f.blocks[b].instructions.allSatisfy { i in
                switch i.0 { case .binary, .move, .setcc, .neg: return true; default: return false }
            }
        }
    }

    /// The verifier's walk of `f` with `loop` rolled, estimated: the
    /// function once plus the loop's blocks once per further trip.
    static func verifiedCost(_ f: IRFunction, _ loop: Loop, trips: Int) -> Int {
        return cost(f) + (trips - 1) * loop.blocks.reduce(0) { $0 + cost(f.blocks[$1]) }
    }

    /// Instructions and taken branches: a stand-in for emitted BPF instructions.
    static func cost(_ f: IRFunction) -> Int {
        f.blocks.reduce(0) { $0 + cost($1) }
    }

    /// One block's share of `cost(_:)`.
    static func cost(_ b: IRBlock) -> Int {
        let t: Int
        switch b.terminator { case .branch: t = 1; case .ret: t = 2; default: t = 1 }
        return b.instructions.filter { if case .move(let d, .reg(let s)) = $0.0 { return d != s }; return true }.count + t
    }
}

/// Dominance among the reachable blocks: the immediate dominators by the
/// iterative algorithm of Cooper, Harvey and Kennedy ("A Simple, Fast
/// Dominance Algorithm", 2001), then the dominator tree numbered in a
/// depth-first walk, so that `dominates` compares two intervals. (Sets of
/// dominators per block, as this was before, are quadratic in a long body:
/// a chain of `if`s has blocks dominated by all the blocks before them.)
struct Dominators {
    /// Entry and exit numbers of each block in a walk of the dominator tree (-1: unreachable).
    private var entry: [Int]
    private var exit: [Int]

    init(_ f: IRFunction) {
        let order = f.reversePostOrder
        let preds = f.predecessors
        let n = f.blocks.count
        var rank = [Int](repeating: -1, count: n)   // position in reverse postorder
        for (i, b) in order.enumerated() { rank[b] = i }
        var idom = [Int](repeating: -1, count: n)
        if !order.isEmpty { idom[order[0]] = order[0] }
        func intersect(_ a: Int, _ b: Int) -> Int {
            var x = a, y = b
            while x != y {
                while rank[x] > rank[y] { x = idom[x] }
                while rank[y] > rank[x] { y = idom[y] }
            }
            return x
        }
        var changed = true
        while changed {
            changed = false
            for b in order.dropFirst() {
                var new = -1
                for p in preds[b] where rank[p] >= 0 && idom[p] >= 0 {
                    new = new < 0 ? p : intersect(p, new)
                }
                if new >= 0, idom[b] != new { idom[b] = new; changed = true }
            }
        }
        var children = [[Int]](repeating: [], count: n)
        for b in order.dropFirst() where idom[b] >= 0 { children[idom[b]].append(b) }
        entry = [Int](repeating: -1, count: n)
        exit = entry
        guard let root = order.first else { return }
        var clock = 0
        var stack: [(block: Int, next: Int)] = [(root, 0)]
        entry[root] = clock; clock += 1
        while let (b, next) = stack.last {
            if next < children[b].count {
                stack[stack.count - 1].next = next + 1
                let c = children[b][next]
                entry[c] = clock; clock += 1
                stack.append((c, 0))
            } else {
                exit[b] = clock; clock += 1
                stack.removeLast()
            }
        }
    }

    /// Whether `a` dominates `b` (every path from the entry to `b` passes `a`); false for an unreachable block.
    func dominates(_ a: Int, _ b: Int) -> Bool {
        guard a >= 0, b >= 0, a < entry.count, b < entry.count, entry[a] >= 0, entry[b] >= 0 else { return false }
        return entry[a] <= entry[b] && exit[b] <= exit[a]
    }
}

/// Constants that do not fit an instruction's 32-bit immediate take an
/// `ld_imm64` (two slots) at each use; inside a loop they are loaded once,
/// before it, into a register.
func hoistLoopConstants(_ f: inout IRFunction) {
    let preds = f.predecessors
    for loop in Loop.innermost(in: f) {
        var hoisted: [Int64: VReg] = [:]
        func replaced(_ o: Operand) -> Operand {
            guard case .imm(let k) = o, Int64(Int32(truncatingIfNeeded: k)) != k else { return o }
            if let r = hoisted[k] { return .reg(r) }
            let r = f.newVReg()
            hoisted[k] = r
            return .reg(r)
        }
        for b in loop.blocks.sorted() {
            f.blocks[b].instructions = f.blocks[b].instructions.map { (insn, loc) in
                // A move of a constant is itself the load.
                if case .move = insn { return (insn, loc) }
                return (insn.mapUses(replaced), loc)
            }
            f.blocks[b].terminator = f.blocks[b].terminator.mapUses(replaced)
        }
        guard !hoisted.isEmpty else { continue }
        let loc = f.blocks[loop.header].instructions.first?.1 ?? f.blocks[loop.header].terminatorLocation
        for p in preds[loop.header] where !loop.blocks.contains(p) {
            f.blocks[p].instructions += hoisted.sorted { $0.key < $1.key }.map { (.move($0.value, .imm($0.key)), loc) }
        }
    }
}
