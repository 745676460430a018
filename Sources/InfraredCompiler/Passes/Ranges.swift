/// Value ranges: a forward analysis of the signed interval each register
/// may hold, over constants, narrow loads, masks, shifts, wrapping-checked
/// arithmetic and modulo; loops converge by widening a bound that keeps
/// moving to its extreme. Used to compute Ruby's floored `/` and `%` as
/// BPF's unsigned ones where both sides are known not negative, and to
/// check the values a program returns. A state on leaving a block keeps the
/// registers live there only (as constant propagation's does): a register
/// is read only where it is live, so every read gets what whole states
/// would give it, and a long body's states stay small (whole states were
/// quadratic: 4.2 s of a 1,000-`max` body in `flagless-extremes`).
struct Ranges {
    typealias Interval = ClosedRange<Int64>
    typealias State = [VReg: Interval]   // a missing register: any value
    static let full: Interval = Int64.min...Int64.max

    /// The state at each block's entry (nil: unreachable).
    private(set) var entry: [State?]

    init(_ f: borrowing IRFunction) {
        let preds = f.predecessors, live = IRLiveness(f)
        var outs = Array(filled: State?.none, count: f.blocks.count)
        entry = Array(filled: nil, count: f.blocks.count)
        var visits = Array(filled: 0, count: f.blocks.count)
        // Widening happens where a loop comes back (a retreating edge's
        // target): every cycle passes one, and a block inside a loop keeps
        // what its tests refine (widened there, `i` of `while i < 4` would
        // lose the `< 4` its header's test gave it).
        let order = f.reversePostOrder, header = f.loopHeaders(order: order)
        var changed = true
        while changed {
            changed = false
            for b in order {
                var input: State = [:]
                if b != 0 {
                    let ps = preds[b].compactMap { p in outs[p].map { Ranges.refined($0, along: f.terminator(of: p), to: b) } }
                    guard let first = ps.first else { continue }
                    for (k, v) in first {
                        var r = v
                        var everywhere = true
                        for p in ps.dropFirst() {
                            guard let w = p[k] else { everywhere = false; break }
                            r = min(r.lowerBound, w.lowerBound)...max(r.upperBound, w.upperBound)
                        }
                        if everywhere { input[k] = r }
                    }
                }
                visits[b] += 1
                if header[b], visits[b] > 3, let old = entry[b] {
                    // Widen: a bound still moving goes to its extreme. A
                    // bound may come back in (the header's own test refines
                    // what the back edge brings) for a few rounds, then only
                    // widens, so that the rounds end.
                    let narrowing = visits[b] <= 8
                    for (k, v) in input {
                        guard let o = old[k] else { input[k] = nil; continue }
                        let lo = v.lowerBound < o.lowerBound ? Int64.min : narrowing ? v.lowerBound : o.lowerBound
                        let hi = v.upperBound > o.upperBound ? Int64.max : narrowing ? v.upperBound : o.upperBound
                        input[k] = lo...hi
                    }
                    for k in input.keys where old[k] == nil { input[k] = nil }
                }
                entry[b] = input
                var s = input
                for (insn, _) in f.blocks[b].instructions { Ranges.transfer(insn, &s) }
                s = s.filter { live.liveOut[b].contains($0.key) }
                if outs[b] != s { outs[b] = s; changed = true }
            }
        }
    }

    /// A predecessor's state on the edge to `target`: a branch comparing a
    /// register with a constant bounds it on each side (`if v < 0` leaves
    /// `v` in 0…max on the edge that was not taken). Signed tests and `==`
    /// only; a bound that would leave nothing keeps the state as it was.
    static func refined(_ s: State, along terminator: Terminator, to target: Int) -> State {
        guard case .branch(let c, let x, let y, let t, let e) = terminator, t != e else { return s }
        let (r, k, condition): (VReg, Int64, Condition)
        switch (x, y) {
        case (.reg(let a), .imm(let b)): (r, k, condition) = (a, b, c)
        case (.imm(let a), .reg(let b)): (r, k, condition) = (b, a, c.swapped)
        default: return s
        }
        let holds = target == t
        let bound: Interval?
        switch (holds ? condition : condition.negated) {
        case .slt: bound = k == .min ? nil : Int64.min...(k - 1)
        case .sle: bound = Int64.min...k
        case .sgt: bound = k == .max ? nil : (k + 1)...Int64.max
        case .sge: bound = k...Int64.max
        case .eq: bound = k...k
        default: return s
        }
        guard let bound else { return s }
        let old = s[r] ?? full
        let lo = max(old.lowerBound, bound.lowerBound), hi = min(old.upperBound, bound.upperBound)
        guard lo <= hi else { return s }
        var out = s
        out[r] = lo...hi == full ? nil : lo...hi
        return out
    }

    static func value(_ o: Operand, _ s: State) -> Interval {
        switch o { case .imm(let i): return i...i; case .reg(let r): return s[r] ?? full }
    }

    /// The effect of one instruction on the state.
    static func transfer(_ insn: IRInstruction, _ s: inout State) {
        guard let d = insn.definition else { return }
        let r: Interval
        switch insn {
        case .move(_, let a): r = value(a, s)
        case .setcc: r = 0...1
        case .load(_, _, _, let size, let signed), .loadFrame(_, _, let size, let signed):
            if size >= 8 { r = full }
            else if signed { let m = Int64(1) << Int64(size * 8 - 1); r = -m...(m - 1) }
            else { r = 0...((Int64(1) << Int64(size * 8)) - 1) }
        case .neg(_, let a):
            let x = value(a, s)
            r = x.lowerBound == .min ? full : (0 - x.upperBound)...(0 - x.lowerBound)
        case .binary(let op, _, let a, let b): r = binary(op, value(a, s), value(b, s))
        default: r = full
        }
        s[d] = r == full ? nil : r
    }

    private static func binary(_ op: BinaryOp, _ x: Interval, _ y: Interval) -> Interval {
        func checked(_ values: [(Int64, Bool)]) -> Interval {
            guard values.allSatisfy({ !$0.1 }) else { return full }
            let v = values.map(\.0)
            return v.min()!...v.max()!
        }
        let constant: Int64? = y.lowerBound == y.upperBound ? y.lowerBound : nil
        let nonNegative = x.lowerBound >= 0 && y.lowerBound >= 0
        func bits(_ v: Int64) -> Int64 { v == 0 ? 0 : Int64(bitPattern: UInt64.max >> UInt64(v.leadingZeroBitCount)) }
        switch op {
        case .add:
            return checked([x.lowerBound.addingReportingOverflow(y.lowerBound), x.upperBound.addingReportingOverflow(y.upperBound)].map { ($0.partialValue, $0.overflow) })
        case .sub:
            return checked([x.lowerBound.subtractingReportingOverflow(y.upperBound), x.upperBound.subtractingReportingOverflow(y.lowerBound)].map { ($0.partialValue, $0.overflow) })
        case .mul:
            let ps = [(x.lowerBound, y.lowerBound), (x.lowerBound, y.upperBound), (x.upperBound, y.lowerBound), (x.upperBound, y.upperBound)]
            return checked(ps.map { $0.0.multipliedReportingOverflow(by: $0.1) }.map { ($0.partialValue, $0.overflow) })
        case .and:
            if nonNegative { return 0...min(x.upperBound, y.upperBound) }
            if x.lowerBound >= 0 { return 0...x.upperBound }
            if y.lowerBound >= 0 { return 0...y.upperBound }
            return full
        case .or, .xor:
            return nonNegative ? 0...bits(max(x.upperBound, y.upperBound)) : full
        case .shl:
            guard let k = constant, (0..<63).contains(k) else { return full }
            return binary(.mul, x, (Int64(1) << k)...(Int64(1) << k))
        case .lshr:
            if let k = constant, (1..<64).contains(k) {
                return x.lowerBound >= 0 ? (x.lowerBound >> k)...(x.upperBound >> k) : 0...Int64(bitPattern: UInt64.max >> UInt64(k))
            }
            return x.lowerBound >= 0 ? 0...x.upperBound : full
        case .ashr:
            guard let k = constant, (0..<64).contains(k) else { return full }
            return (x.lowerBound >> k)...(x.upperBound >> k)
        case .udiv:
            guard let c = constant, c > 0 else { return x.lowerBound >= 0 ? 0...x.upperBound : full }
            if c == 1 { return x }
            return x.lowerBound >= 0 ? (x.lowerBound / c)...(x.upperBound / c) : 0...Int64(bitPattern: UInt64.max / UInt64(c))
        case .umod:
            if y.lowerBound > 0 { return 0...(y.upperBound - 1) }
            return x.lowerBound >= 0 && y.lowerBound >= 0 ? 0...x.upperBound : full
        case .sdiv:
            // Floored division by a positive constant is monotonic.
            guard let c = constant, c > 0 else { return full }
            return BinaryOp.sdiv.fold(x.lowerBound, c)...BinaryOp.sdiv.fold(x.upperBound, c)
        case .smod:
            return y.lowerBound > 0 ? 0...(y.upperBound - 1) : full
        case .bswap:
            guard let w = constant else { return full }
            switch BinaryOp.byteSwapWidth(w) {
            case 16: return 0...0xffff
            case 32: return 0...0xffff_ffff
            default: return full
            }
        }
    }
}

/// Ruby's `/` and `%` floor; BPF's unsigned ones truncate. Where the
/// dividend is known not negative and the divisor positive they agree, and
/// the unsigned instruction replaces the sign fix-ups.
func narrowDivisions(_ f: inout IRFunction) {
    // The analysis costs a whole function's sweeps: not run where there is
    // nothing to narrow.
    let signed = f.containsInstruction { insn in
        if case .binary(let op, _, _, _) = insn { return op == .sdiv || op == .smod }
        return false
    }
    guard signed else { return }
    let ranges = Ranges(f)
    for b in f.blocks.indices {
        guard var s = ranges.entry[b] else { continue }
        f.blocks[b].instructions = f.blocks[b].instructions.map { (insn, loc) in
            var out = insn
            if case .binary(let op, let d, let x, let y) = insn, op == .sdiv || op == .smod,
               Ranges.value(x, s).lowerBound >= 0, Ranges.value(y, s).lowerBound > 0 {
                out = .binary(op == .sdiv ? .udiv : .umod, d, x, y)
            }
            Ranges.transfer(insn, &s)
            return (out, loc)
        }
    }
}

/// A test the value ranges decide (fold-range-branches): `len < 0` on a
/// u32 just loaded, `x > 100` where `x = y & 63`, `i >= 5` after a loop
/// that counts `i` from 0 while `i < 4`. The lowering writes such tests
/// where the Ruby meaning needs them in general (`lhist`'s bucket 0 for
/// negatives and its overflow bucket); where the range rules an arm out,
/// the branch becomes a jump to the other. Besides the test, the verifier
/// is spared a comparison that marks the register precise: a loop counter
/// tested after the loop keeps each exit's state apart (one walk of the
/// rest of the program per trip count) where it would otherwise prune.
func foldRangeBranches(_ f: inout IRFunction) {
    // Run only in bodies of at most 128 blocks (a probe has tens; 900 blocks
    // took 0.8 s in a debug build when Ranges kept whole states; the bound
    // stays, so that bodies above it compile as they did), where an ordering
    // test compares a register with a constant, and where that register is
    // a narrow unsigned load or a mask, or the body has a loop (what bounds
    // a counter is the loop's test; a loop left rolled is rare, most are
    // unrolled by then, with constants that constant propagation folds).
    guard f.blocks.count <= 128 else { return }
    let tested = f.blocks.indices.compactMap { b -> VReg? in
        if case .branch(let c, .reg(let r), .imm, _, _) = f.terminator(of: b), c != .eq, c != .ne { return r }
        return nil
    }
    guard !tested.isEmpty else { return }
    var narrow = Set<VReg>()
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            switch i {
            case .load(let d, _, _, let size, false) where size < 8: narrow.insert(d)
            case .loadFrame(let d, _, let size, false) where size < 8: narrow.insert(d)
            case .binary(.and, let d, _, .imm(let k)) where k >= 0: narrow.insert(d)
            default: break
            }
        }
    }
    guard tested.contains(where: narrow.contains) || f.hasRetreatingEdge(order: f.order()) else { return }
    let ranges = Ranges(f)
    for b in f.blocks.indices {
        guard var s = ranges.entry[b], case .branch(let c, let x, let y, let t, let e) = f.terminator(of: b), t != e else { continue }
        for (insn, _) in f.blocks[b].instructions { Ranges.transfer(insn, &s) }
        if let taken = decide(c, Ranges.value(x, s), Ranges.value(y, s)) {
            f.blocks[b].terminator = .jump(taken ? t : e)
        }
    }
}

/// Whether `a c b` holds for every `a` in `x` and `b` in `y` (true), for
/// none (false), or depends (nil). Unsigned tests only on ranges that are
/// not negative, where they order as the signed ones.
private func decide(_ c: Condition, _ x: Ranges.Interval, _ y: Ranges.Interval) -> Bool? {
    var c = c
    switch c {
    case .ult, .ule, .ugt, .uge:
        guard x.lowerBound >= 0, y.lowerBound >= 0 else { return nil }
        c = [.ult: .slt, .ule: .sle, .ugt: .sgt, .uge: .sge][c]!
    default: break
    }
    switch c {
    case .slt: return x.upperBound < y.lowerBound ? true : x.lowerBound >= y.upperBound ? false : nil
    case .sle: return x.upperBound <= y.lowerBound ? true : x.lowerBound > y.upperBound ? false : nil
    case .sgt: return x.lowerBound > y.upperBound ? true : x.upperBound <= y.lowerBound ? false : nil
    case .sge: return x.lowerBound >= y.upperBound ? true : x.upperBound < y.lowerBound ? false : nil
    case .eq: return x.lowerBound == x.upperBound && y.lowerBound == y.upperBound && x.lowerBound == y.lowerBound ? true
        : (x.upperBound < y.lowerBound || y.upperBound < x.lowerBound) ? false : nil
    case .ne: return decide(.eq, x, y).map { !$0 }
    default: return nil
    }
}

/// `max(v)` / `min(v)` without the "set" test where the value's sign makes
/// it redundant (flagless-extremes). A per-CPU slot keeps the extreme and a
/// flag saying this CPU set it, because a slot another CPU's insertion
/// zeroed holds 0, which is not a maximum of negative values. The lowering
/// writes (for max; min mirrors it with `<`):
///
///     set = load [p + 8]; if set == 0 goto write
///     t = load.s64 [p + 0]; if v > t goto write else done
///     write: [p + 0] = v; [p + 8] = 1
///
/// When the ranges put `v` at 0 or above for max (at 0 or below for min),
/// an unset slot's 0 is already beaten or matched by `v`, so `v >= t` (`<=`)
/// alone decides: it writes where the flag test would have, and otherwise
/// only where the slot already holds `v` (a store of the same value).
func dropExtremeFlags(_ f: inout IRFunction) {
    /// The shape above at block `b`: the slot pointer, the compare and write blocks.
    func shape(_ b: Int) -> (p: VReg, compare: Int, write: Int)? {
        guard case .branch(.eq, .reg(let set), .imm(0), let write, let compare) = f.terminator(of: b), write != compare,
              case (.load(set, let p, 8, 8, false), _)? = f.instructions(of: b).last,
              f.instructions(of: compare).count == 1,
              case (.load(_, p, 0, 8, true), _) = f.blocks[compare].instructions[0],
              case .branch(let c, .reg, .reg, write, _) = f.terminator(of: compare), c == .sgt || c == .slt,
              f.instructions(of: write).count >= 2,
              case (.store(p, 0, _, 8), _) = f.blocks[write].instructions[0],
              case (.store(p, 8, .imm(1), 8), _) = f.blocks[write].instructions[1] else { return nil }
        return (p, compare, write)
    }
    let candidates = f.blocks.indices.filter { shape($0) != nil }
    guard !candidates.isEmpty else { return }
    let preds = f.predecessors
    let ranges = Ranges(f)
    for b in candidates {
        guard let (p, compare, write) = shape(b), preds[compare].count == 1,
              case (.load(let t, p, 0, 8, true), let loadLocation) = f.blocks[compare].instructions[0],
              case .branch(let c, .reg(let v), .reg(t), write, let done) = f.terminator(of: compare),
              case (.store(p, 0, .reg(v), 8), _) = f.blocks[write].instructions[0],
              var s = ranges.entry[compare] else { continue }
        for (insn, _) in f.blocks[compare].instructions { Ranges.transfer(insn, &s) }
        let range = Ranges.value(.reg(v), s)
        guard c == .sgt ? range.lowerBound >= 0 : range.upperBound <= 0 else { continue }
        // The flag's load stays for dead-code elimination to drop.
        f.blocks[b].instructions.append((.load(t, base: p, offset: 0, size: 8, signed: true), loadLocation))
        f.blocks[b].terminator = .branch(c == .sgt ? .sge : .sle, .reg(v), .reg(t), then: write, else: done)
        f.blocks[b].terminatorLocation = f.blocks[compare].terminatorLocation
        f.blocks[compare] = IRBlock()
        f.blocks[compare].terminator = .jump(done)
    }
}
