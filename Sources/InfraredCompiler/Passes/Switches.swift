/// `case x when 0, 1, 2, 8 … when 39, 56 …` as bit tests (bit-test-switches).
///
/// The lowering tests a `case` one value at a time: a chain of
/// `br.eq x, k` blocks, each but the first empty. Where many of the values
/// lie within 64 of each other, one unsigned range check and `m = 1 << (x - lo)`
/// answer "is x one of this target's values" with one `m & mask` per
/// target, as LLVM lowers a dense `switch`. The verifier then walks a few
/// branches instead of one per value. Values outside the window keep
/// their equality tests, after the bit tests; the chain's order does not
/// matter because its values are distinct (a repeated value is dropped:
/// its first test decides it).
///
/// Done when it emits fewer instructions than the tests it replaces, or, for
/// the targets of several values only, no more.
func testSwitchBitsTogether(_ f: inout IRFunction) {
    let preds = f.predecessors
    var taken = Set<Int>(), changed = false
    for start in f.order() where !taken.contains(start) {
        guard let chain = SwitchChain(f, start: start, predecessors: preds) else { continue }
        taken.formUnion(chain.blocks)
        guard let window = chain.bestWindow() else { continue }
        chain.rewrite(&f, window: window)
        changed = true
    }
    // The chain's unused blocks are now unreachable: drop them.
    if changed { simplifyCFG(&f) }
}

private struct SwitchChain {
    /// The register the chain tests.
    var value: VReg
    /// The chain's blocks, the first (which may hold other instructions) first.
    var blocks: [Int]
    /// Each value once, with the block its test goes to, in chain order.
    var cases: [(value: Int64, target: Int)]
    /// Where a value none of the tests matched goes.
    var otherwise: Int

    /// The chain of equality tests of one register starting at `start`, when
    /// it tests at least four values.
    init?(_ f: borrowing IRFunction, start: Int, predecessors: PredecessorTable) {
        guard case .branch(let c, .reg(let x), .imm, let t0, let e0) = f.terminator(of: start), c == .eq || c == .ne else { return nil }
        // Most such tests (a map lookup's null check) start no chain: the
        // second link decides that before any set or array is built.
        guard case .branch(let c1, .reg(x), .imm, _, _) = f.terminator(of: c == .eq ? e0 : t0), c1 == .eq || c1 == .ne else { return nil }
        value = x
        blocks = []
        cases = []
        var seen = Set<Int64>(), b = start
        while true {
            guard case .branch(let c, .reg(x), .imm(let k), let t, let e) = f.terminator(of: b), c == .eq || c == .ne,
                  !blocks.contains(b) else { break }
            let (equal, unequal) = c == .eq ? (t, e) : (e, t)
            blocks.append(b)
            if seen.insert(k).inserted { cases.append((k, equal)) }
            // The next link: an empty block only this one reaches.
            guard f.instructions(of: unequal).isEmpty, predecessors[unequal].isOnly(b), unequal != start,
                  case .branch(let nc, .reg(x), .imm, _, _) = f.terminator(of: unequal), nc == .eq || nc == .ne
            else { break }
            b = unequal
        }
        guard blocks.count >= 4, case .branch(let c, .reg(x), .imm, let t, let e) = f.terminator(of: blocks.last!) else { return nil }
        otherwise = c == .eq ? e : t
        // A chain that jumps back into itself is not a `case`.
        let inChain = Set(blocks)
        guard !inChain.contains(otherwise), !cases.contains(where: { inChain.contains($0.target) }) else { return nil }
    }

    struct Window {
        var low: Int64
        var high: Int64
        /// Per target, in order of first appearance: the mask of `value - low` bits.
        var masks: [(target: Int, mask: UInt64)]
        var inside: Set<Int64>
    }

    /// The 64-value window holding the most values, when bit tests there
    /// cost fewer instructions than the equality tests they replace.
    func bestWindow() -> Window? {
        let sorted = cases.map(\.value).sorted()
        var best: (low: Int64, count: Int)?
        var j = 0
        for (i, lo) in sorted.enumerated() {
            if j < i { j = i }
            // sorted[j + 1] ≥ lo, so the wrapping difference is the exact one.
            while j + 1 < sorted.count, UInt64(bitPattern: sorted[j + 1] &- lo) <= 63 { j += 1 }
            if best == nil || j - i + 1 > best!.count { best = (lo, j - i + 1) }
        }
        guard let (first, _) = best else { return nil }
        let inside = sorted.filter { $0 >= first && UInt64(bitPattern: $0 &- first) <= 63 }
        let high = inside.last!
        // Values from 0 to 63 need no subtraction.
        let low: Int64 = first >= 0 && high <= 63 ? 0 : first
        var masks: [(target: Int, mask: UInt64)] = []
        for (v, t) in cases where inside.contains(v) {
            let bit = UInt64(1) << UInt64(v &- low)
            if let i = masks.firstIndex(where: { $0.target == t }) { masks[i].mask |= bit } else { masks.append((t, bit)) }
        }
        // Cost in instructions: the subtraction (copy and subtract), the
        // range check, `m = 1; m <<= t`, and per target a copy, an `and`
        // (a 64-bit mask loaded first: two slots) and a branch.
        func cost(_ masks: [(target: Int, mask: UInt64)], low: Int64) -> Int {
            masks.reduce((low == 0 ? 0 : 2) + 1 + 2) { $0 + 3 + ($1.mask > UInt64(Int32.max) ? 2 : 0) }
        }
        if cost(masks, low: low) < inside.count {
            return Window(low: low, high: high, masks: masks, inside: Set(inside))
        }
        // Otherwise the targets of one value each may keep their equality
        // tests (after the bit tests) while those of several share bits:
        // taken where that emits no more than the tests it replaces, for
        // what the verifier walks: a chain is a branch per value, each
        // explored with the value known (`case state when 1 … when 2, 3, 12
        // … when 4, 5, 6, 8, 9, 11 … when 7`: nine tests become a range
        // check, a shift and two bit tests; 1 and 7 are tested after them).
        let shared = masks.filter { $0.mask.nonzeroBitCount > 1 }
        guard !shared.isEmpty, shared.count < masks.count else { return nil }
        let sharedValues = inside.filter { v in shared.contains { $0.mask & (UInt64(1) << UInt64(v &- low)) != 0 } }
        let sharedLow: Int64 = sharedValues.first! >= 0 && sharedValues.last! <= 63 ? 0 : sharedValues.first!
        let rebased = sharedLow == low ? shared : shared.map { m in
            (target: m.target, mask: sharedValues.filter { m.mask & (UInt64(1) << UInt64($0 &- low)) != 0 }
                .reduce(UInt64(0)) { $0 | UInt64(1) << UInt64($1 &- sharedLow) })
        }
        guard cost(rebased, low: sharedLow) <= sharedValues.count else { return nil }
        return Window(low: sharedLow, high: sharedValues.last!, masks: rebased, inside: Set(sharedValues))
    }

    /// Replaces the chain: the first block checks the window, bit-test
    /// blocks follow, and the values outside the window keep their tests.
    func rewrite(_ f: inout IRFunction, window w: Window) {
        let start = blocks[0]
        let location = f.blocks[start].terminatorLocation
        func newBlock() -> Int { f.blocks.append(IRBlock()); return f.blocks.count - 1 }
        func end(_ b: Int, _ t: Terminator) { f.blocks[b].terminator = t; f.blocks[b].terminatorLocation = location }
        // The values outside the window, tested one by one in chain order,
        // reusing the chain's own empty blocks.
        let outside = cases.filter { !w.inside.contains($0.value) }
        var rest = otherwise
        for (i, c) in outside.enumerated().reversed() {
            let b = i == 0 ? newBlock() : blocks[i]
            end(b, .branch(.eq, .reg(value), .imm(c.value), then: c.target, else: rest))
            rest = b
        }
        for b in blocks.dropFirst(max(1, outside.count)) { f.blocks[b] = IRBlock(); f.blocks[b].terminator = .jump(otherwise) }
        // start: t = x - low; if t > high - low (unsigned) go to the rest.
        var offset = value
        if w.low != 0 {
            offset = f.newVReg()
            f.blocks[start].instructions.append((.binary(.sub, offset, .reg(value), .imm(w.low)), location))
        }
        let bits = f.newVReg()
        var test = newBlock()
        end(start, .branch(.ugt, .reg(offset), .imm(w.high &- w.low), then: rest, else: test))
        f.blocks[test].instructions.append((.binary(.shl, bits, .imm(1), .reg(offset)), location))
        for (i, m) in w.masks.enumerated() {
            let hit = f.newVReg()
            let next = i == w.masks.count - 1 ? rest : newBlock()
            f.blocks[test].instructions.append((.binary(.and, hit, .reg(bits), .imm(Int64(bitPattern: m.mask))), location))
            end(test, .branch(.ne, .reg(hit), .imm(0), then: m.target, else: next))
            test = next
        }
    }
}
