import Dispatch

/// Full unrolling of loops whose trip count is known at compile time, kept
/// only where it pays: `while i < 16 … i += 1` or `16.times` peeled
/// iteration by iteration until constant propagation proves the loop is
/// left, then cleaned up; a loop unrolls when that is no larger, or when
/// it computes in registers only, grows by at most `growthBudget` and is
/// smaller than what the verifier walks for it rolled (every trip again).
///
/// The IR is not SSA, so a peeled iteration is a plain copy of the loop's
/// blocks: the entering edges go to the copy, the copy's back edges go to
/// the original header, its exits stay where they were.
///
/// Each loop is judged on its own region (`Loop.region`): the loop's
/// blocks, with what is known on entering it and what is read after it,
/// cleaned up rolled and unrolled. A round judges the innermost loops
/// that way (those that may still fit `maximumInstructions`: past it,
/// judging one is wasted work), peels all that pay and cleans up the whole
/// function once; another round follows while one unrolled (an outer loop
/// may now be innermost, a later loop's trip count known). So the work is
/// linear in the number of loops, where cleaning the whole function for
/// every loop was quadratic.
func unrollConstantLoops(_ f: inout IRFunction) {
    for _ in 0..<Loop.maximumRounds {
        // Most programs have no loop: nothing to analyse.
        let loops = Loop.innermost(in: f)
        guard !loops.isEmpty else { return }
        let order = f.order()
        let position = f.positions(in: order)
        let live = f.liveness()
        let analysis = ConstantAnalysis(f, order: order, liveness: live)
        let size = f.instructionCount
        let chosen = Loop.chosen(loops, in: f, analysis: analysis, position: position, live: live, size: size).chosen
        guard !chosen.isEmpty else { return }
        // Every chosen loop peeled, then one propagation decides every copy's
        // tests; check that it did, as each region showed.
        var g = f
        var predecessors = analysis.predecessors.lists
        let copies = chosen.map { Loop.peel(&g, $0.loop, trips: $0.trips, predecessors: &predecessors) }
        propagateConstants(&g)
        let reached = g.positions(in: g.reversePostOrder)
        guard zip(chosen, copies).allSatisfy({ Loop.left(g, $0.loop, copies: $1, reached: reached) }) else {
            // Not seen: the whole function knows at least what the region
            // did. Should it happen, the first loop alone, checked alone.
            guard let u = Loop.unrolled(f, chosen[0].loop, trips: chosen[0].trips) else { return }
            f = u
            continue
        }
        Loop.cleanUp(&g)
        f = g
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
    /// Most rounds of `unrollConstantLoops` (each unrolls every innermost loop that pays).
    static let maximumRounds = 8
    /// Fewest innermost loops `chosen` judges on the pool's threads. A
    /// build that starts the pool pays for its threads in the rest of the
    /// build too; judging 3 or 33 small loops on one thread made the whole
    /// build 4–10 % faster in wall time than on two cores, 100 the same,
    /// 333 about 6 % slower (`Benchmarks/scaling.sh`'s loop files;
    /// `Benchmarks/RESULTS.md`).
    static let parallelLoops = 64

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
        guard f.hasRetreatingEdge(order: order) else { return [] }
        let dominators = Dominators(f)
        let preds = f.predecessors
        var loops: [Int: Set<Int>] = [:]
        for b in order {
            for h in f.terminator(of: b).successors where dominators.dominates(h, b) {
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

    /// Which of `loops` (innermost, in order) to unroll in one round of
    /// `unrollConstantLoops`, with their trips; and how many were judged on
    /// their region.
    static func chosen(_ loops: [Loop], in f: IRFunction, analysis: ConstantAnalysis, position: [Int], live: IRLiveness, size: Int) -> (chosen: [(loop: Loop, trips: Int)], judged: Int) {
        // Each innermost loop's trip count first (a walk of its body), then,
        // in order, those that pay while the function stays within
        // `maximumInstructions`. Judging a loop on its own region is the
        // costly part, so it is done only for loops that still fit: a batch
        // of them at a time. A batch holds the loops that fit as the
        // function is, until their copies would fill what is left; any of
        // them that no longer fits when its turn comes is skipped, as it
        // would have been. The regions are independent: with
        // `parallelLoops` loops or more, they are judged on the pool's
        // threads (one after the other when the pool is busy with other
        // programs); with fewer, on this one, because starting the pool
        // costs more than it shares (`perform`).
        func perform(_ iterations: Int, _ body: (Int) -> Void) {
            if loops.count >= parallelLoops { DispatchQueue.concurrentPerform(iterations: iterations, execute: body) }
            else { for i in 0..<iterations { body(i) } }
        }
        let counts = UnsafeMutableBufferPointer<(trips: Int, entering: ConstantState)?>.allocate(capacity: loops.count)
        defer { counts.deinitialize(); counts.deallocate() }
        counts.initialize(repeating: nil)
        perform(loops.count) { i in
            counts[i] = Loop.peelCount(f, loops[i], analysis: analysis, position: position, size: size)
        }
        let peeled = loops.indices.map { i in counts[i].map { loops[i].copied(trips: $0.trips, in: f) } ?? 0 }
        // Each judged loop's growth, nil when unrolling it does not pay.
        let growths = UnsafeMutableBufferPointer<Int?>.allocate(capacity: loops.count)
        defer { growths.deallocate() }
        growths.initialize(repeating: nil)
        var judged = [Bool](filled: false, count: loops.count)
        var chosen: [(loop: Loop, trips: Int)] = []
        var taken = Set<Int>(), grown = size
        func fits(_ i: Int) -> Bool {
            counts[i] != nil && grown + peeled[i] <= Loop.maximumInstructions && taken.isDisjoint(with: loops[i].blocks)
        }
        for i in loops.indices where fits(i) {
            if !judged[i] {
                var batch = [i], filling = peeled[i]
                var j = i + 1
                while j < loops.count, filling < Loop.maximumInstructions - grown {
                    if !judged[j] && fits(j) { batch.append(j); filling += peeled[j] }
                    j += 1
                }
                let members = batch
                perform(members.count) { k in
                    let l = members[k]
                    growths[l] = loops[l].growth(in: f, trips: counts[l]!.trips, entering: counts[l]!.entering, analysis: analysis, live: live)
                }
                for l in batch { judged[l] = true }
            }
            guard let growth = growths[i] else { continue }
            chosen.append((loops[i], counts[i]!.trips))
            taken.formUnion(loops[i].blocks)
            grown += growth
        }
        return (chosen, judged.filter { $0 }.count)
    }

    /// The instructions peeling this loop `trips` times copies (before
    /// cleaning up): what `maximumInstructions` is checked against.
    func copied(trips: Int, in f: IRFunction) -> Int {
        trips * blocks.reduce(0) { $0 + f.instructions(of: $1).count }
    }

    /// Unrolling this loop `trips` times (its trip count, from `peelCount`,
    /// with what is known on `entering` it), judged on its region: what the
    /// function grows by, cleaned up (the region's growth). Nil when
    /// unrolling does not pay.
    func growth(in f: IRFunction, trips: Int, entering: ConstantState, analysis: ConstantAnalysis, live: IRLiveness) -> Int? {
        let (region, inRegion) = region(of: f, entering: entering, live: live, predecessors: analysis.predecessors)
        guard let unrolled = Loop.unrolled(region, inRegion, trips: trips) else { return nil }
        var rolled = region
        Loop.cleanUp(&rolled)
        let verified = inRegion.isArithmetic(region) ? Loop.verifiedCost(region, inRegion, trips: trips) : 0
        let (after, before) = (Loop.cost(unrolled), Loop.cost(rolled))
        guard Loop.pays(unrolled: after, baseline: before, verifiedBaseline: verified) else { return nil }
        return after - before
    }

    /// The loop alone, as a function to judge unrolling on: an entry block
    /// that gives each register live on entering the loop what is known of
    /// it there (a constant, or a helper call's result for a varying one),
    /// the loop's blocks, and for each block the loop leaves to, one that
    /// stores every register live there and returns (so that cleaning up
    /// keeps what the rest of the function reads); a block only the loop
    /// enters brings its instructions along, and its return. Returns the
    /// function and the loop in its numbering.
    func region(of f: IRFunction, entering: ConstantState, live: IRLiveness, predecessors: PredecessorTable) -> (IRFunction, Loop) {
        let body = blocks.sorted()
        var number: [Int: Int] = [:]
        for (i, b) in body.enumerated() { number[b] = 1 + i }
        var exits: [Int] = []
        for b in body {
            for t in f.terminator(of: b).successors where number[t] == nil && !exits.contains(t) { exits.append(t) }
        }
        for (i, t) in exits.enumerated() { number[t] = 1 + body.count + i }
        // The region's registers numbered from 0 (the context): passes size
        // their tables by the register count, which is the whole function's.
        var ids: [Int: Int] = [f.context.id: 0]
        func v(_ r: VReg) -> VReg {
            if let i = ids[r.id] { return VReg(id: i) }
            let i = ids.count
            ids[r.id] = i
            return VReg(id: i)
        }
        func o(_ x: Operand) -> Operand { if case .reg(let r) = x { return .reg(v(r)) }; return x }
        func renamed(_ i: IRInstruction) -> IRInstruction {
            let u = i.mapUses(o)
            guard let d = i.definition else { return u }
            return u.renamingDefinition(to: v(d)) ?? u
        }
        func renamed(_ b: IRBlock) -> IRBlock {
            var c = b
            c.instructions = b.instructions.map { (renamed($0.0), $0.1) }
            c.terminator = b.terminator.mapUses(o)
            return c
        }
        var r = f
        r.context = VReg(id: 0)
        r.blocks = []
        r.blocks.reserveCapacity(1 + body.count + exits.count)
        let loc = f.blocks[header].terminatorLocation
        var entry = IRBlock()
        for id in live.liveIn[header].ids where id != f.context.id {
            let x = VReg(id: id)
            entry.instructions.append((entering.value(.reg(x)).map { .move(v(x), .imm($0)) } ?? .call(v(x), helper: 7, args: []), loc))
        }
        entry.terminator = .jump(number[header]!)
        r.blocks.append(entry)
        for b in body {
            var blk = renamed(f.blocks[b])
            blk.terminator = blk.terminator.mapTargets { number[$0]! }
            r.blocks.append(blk)
        }
        for t in exits {
            // A block only the loop enters comes along (what it computes from
            // the loop's results may fold: `sum & 3` of a sum of multiples
            // of 4); then the registers live after it are stored.
            var exit = IRBlock()
            exit.terminator = .ret(.imm(0))
            let kept: RegisterSet
            if predecessors[t].allSatisfy(blocks.contains) {
                let after = renamed(f.blocks[t])
                exit.instructions = after.instructions
                if case .ret = after.terminator { exit.terminator = after.terminator }
                kept = live.liveOut[t].union(f.terminator(of: t).uses)
            } else {
                kept = live.liveIn[t]
            }
            exit.instructions += kept.ids.map { (.store(base: VReg(id: 0), offset: 0, value: .reg(v(VReg(id: $0))), size: 8), loc) }
            r.blocks.append(exit)
        }
        r.vregCount = ids.count
        return (r, Loop(header: number[header]!, blocks: Set(body.map { number[$0]! })))
    }

    /// Peels `trips` iterations of `loop` in `g` (the copies appended, the
    /// entering edges to the first, each copy's back edges to the next, the
    /// last's to the original header), keeping `preds` (each block's
    /// predecessors, one entry an edge) up to date; returns the copies (the
    /// blocks appended).
    static func peel(_ g: inout IRFunction, _ loop: Loop, trips: Int, predecessors preds: inout [[Int]]) -> Range<Int> {
        let body = loop.blocks.sorted()
        let first = g.blocks.count
        // A loop block's place in `body`, which is its copy's place after the
        // copy's first block; nil outside the loop.
        func slot(_ b: Int) -> Int? {
            var lo = 0, hi = body.count
            while lo < hi { let mid = (lo + hi) >> 1; if body[mid] < b { lo = mid + 1 } else { hi = mid } }
            return lo < body.count && body[lo] == b ? lo : nil
        }
        let headerSlot = slot(loop.header)!
        for _ in 0..<trips {
            let base = g.blocks.count
            for b in body {
                var blk = g.blocks[b]
                blk.terminator = blk.terminator.mapTargets { t in t == loop.header ? t : (slot(t).map { base + $0 } ?? t) }
                g.blocks.append(blk)
                preds.append([])
            }
            let copied = base..<g.blocks.count
            for c in copied { g.blocks[c].terminator.forEachSuccessor { preds[$0].append(c) } }
            // Edges entering the loop from outside now enter the copy; the
            // previous copy's back edges are among them.
            let entering = preds[loop.header].filter { !copied.contains($0) && slot($0) == nil }
            // (A block listed twice, once an edge, is retargeted twice: the
            // second finds no edge to the header left.)
            for p in entering {
                g.blocks[p].terminator = g.blocks[p].terminator.mapTargets { $0 == loop.header ? base + headerSlot : $0 }
            }
            preds[base + headerSlot] += entering
            preds[loop.header].removeAll { entering.contains($0) }
        }
        return first..<g.blocks.count
    }

    /// Whether constant propagation over `g` decided every peeled copy's
    /// test that may leave or repeat the loop, so that the loop itself is
    /// no longer reached (`reached`: each block's place in the reverse
    /// post-order after the propagation, -1 when not reached).
    static func left(_ g: IRFunction, _ loop: Loop, copies: Range<Int>, reached: [Int]) -> Bool {
        for c in copies {
            if case .branch(_, _, _, let t, let e) = g.blocks[c].terminator, !(copies.contains(t) && copies.contains(e)) { return false }
        }
        return reached[loop.header] < 0
    }

    /// `f` with `loop` peeled until it is provably left, and cleaned up; nil
    /// when some iteration's continue-or-leave test is not a constant.
    static func unrolled(_ f: IRFunction, _ loop: Loop, trips: Int) -> IRFunction? {
        var g = f
        var predecessors = f.predecessorLists
        let copies = peel(&g, loop, trips: trips, predecessors: &predecessors)
        // One propagation decides every copy's tests (the chain of copies is
        // acyclic); check that it did, as `peelCount` predicted.
        propagateConstants(&g)
        guard left(g, loop, copies: copies, reached: g.positions(in: g.reversePostOrder)) else { return nil }
        cleanUp(&g)
        return g
    }

    /// How many copies of the loop's blocks constant propagation needs to
    /// prove the loop left, and what is known on entering it: each
    /// iteration is run over the constants known on entering it (a local
    /// dataflow over the body, back edges feeding the next iteration). Nil
    /// when a test that may leave or repeat the loop is not a constant, or
    /// past `maximumTrips`, or when the function (of `size` instructions)
    /// would grow past `maximumInstructions`. `position`: each block's place
    /// in the reverse post-order (-1: not reached).
    static func peelCount(_ f: IRFunction, _ loop: Loop, analysis: ConstantAnalysis, position: [Int], size: Int) -> (trips: Int, entering: ConstantState)? {
        // In reverse post-order, the header first: it dominates the body.
        let body = loop.blocks.filter { position[$0] >= 0 }.sorted { position[$0] < position[$1] }
        // Entering from outside: the meet of the outside predecessors.
        guard let entering = analysis.meet(of: analysis.predecessors[loop.header].filter { !loop.blocks.contains($0) }) else { return nil }
        var state = entering
        let bodySize = body.reduce(0) { $0 + f.instructions(of: $1).count }
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
                ConstantAnalysis.transfer(f.instructions(of: b), &s)
                switch f.terminator(of: b) {
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
            guard let n = next else { return (trips, entering) }
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
        var n = t
        for (i, _) in b.instructions { if case .move(let d, .reg(let s)) = i, d == s { continue }; n += 1 }
        return n
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

    init(_ f: borrowing IRFunction) {
        let order = f.reversePostOrder
        let preds = f.predecessors
        let n = f.blocks.count
        var rank = [Int](filled: -1, count: n)   // position in reverse postorder
        for (i, b) in order.enumerated() { rank[b] = i }
        var idom = [Int](filled: -1, count: n)
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
        var children = [[Int]](filled: [], count: n)
        for b in order.dropFirst() where idom[b] >= 0 { children[idom[b]].append(b) }
        entry = [Int](filled: -1, count: n)
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
            f.blocks[b].terminator = f.terminator(of: b).mapUses(replaced)
        }
        guard !hoisted.isEmpty else { continue }
        let loc = f.instructions(of: loop.header).first?.1 ?? f.blocks[loop.header].terminatorLocation
        for p in preds[loop.header] where !loop.blocks.contains(p) {
            f.blocks[p].instructions += hoisted.sorted { $0.key < $1.key }.map { (.move($0.value, .imm($0.key)), loc) }
        }
    }
}
