import BPF

/// Checks after optimisation for what the verifier would reject and the
/// compiler can already see, so the user gets `file:line:col` instead of a
/// verifier log.
enum Checks {
    /// Return values the kernel accepts, per program type (the verifier's
    /// check_return_code); types not listed accept any value.
    static let returnRanges: [String: ClosedRange<Int64>] = ["cgroup_device": 0...1]

    static func run(_ f: IRFunction, kind: ProgramKind, path: String, lines: [String]) throws {
        try checkLoopsTerminate(f, path: path)
        if let range = returnRanges[kind.declaration] { try checkReturns(f, range: range, kind: kind, path: path) }
    }

    /// A cycle no edge leaves never ends: the verifier rejects it as an infinite loop.
    static func checkLoopsTerminate(_ f: IRFunction, path: String) throws {
        // Blocks that can reach a `ret`.
        var canExit = Set<Int>()
        var changed = true
        while changed {
            changed = false
            for (i, b) in f.blocks.enumerated() where !canExit.contains(i) {
                if case .ret = b.terminator { canExit.insert(i); changed = true; continue }
                if b.terminator.successors.contains(where: canExit.contains) { canExit.insert(i); changed = true }
            }
        }
        let order = f.reversePostOrder
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        let preds = f.predecessors
        // Report the loop's header: a block entered by a back edge.
        for b in order where !canExit.contains(b) && preds[b].contains(where: { (position[$0] ?? -1) >= position[b]! }) {
            let loc = f.blocks[b].instructions.first?.1 ?? f.blocks[b].terminatorLocation
            throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                             message: "this loop never ends: no path leaves it",
                             hint: "BPF programs must finish; bound the loop (`while i < N`) or `break` out of it")
        }
    }

    /// Values a register may hold at a `ret`, as an interval, from a forward
    /// analysis over constants, comparisons, masks and narrow loads.
    static func checkReturns(_ f: IRFunction, range: ClosedRange<Int64>, kind: ProgramKind, path: String) throws {
        typealias Interval = ClosedRange<Int64>
        let full: Interval = Int64.min...Int64.max
        func join(_ a: Interval?, _ b: Interval?) -> Interval? {
            guard let a else { return b }; guard let b else { return a }
            return min(a.lowerBound, b.lowerBound)...max(a.upperBound, b.upperBound)
        }
        let preds = f.predecessors
        var outs = Array(repeating: [VReg: Interval]?.none, count: f.blocks.count)
        func value(_ o: Operand, _ s: [VReg: Interval]) -> Interval {
            switch o { case .imm(let i): return i...i; case .reg(let r): return s[r] ?? full }
        }
        func transfer(_ b: Int, _ input: [VReg: Interval]) -> [VReg: Interval] {
            var s = input
            for (insn, _) in f.blocks[b].instructions {
                guard let d = insn.definition else { continue }
                switch insn {
                case .move(_, let a): s[d] = value(a, s)
                case .setcc: s[d] = 0...1
                case .load(_, _, _, let size, let signed), .loadFrame(_, _, let size, let signed):
                    s[d] = size < 8 && !signed ? 0...((1 << Int64(size * 8)) - 1) : full
                case .binary(.and, _, let a, let b):
                    let x = value(a, s), y = value(b, s)
                    if y.lowerBound == y.upperBound, y.lowerBound >= 0 { s[d] = 0...y.lowerBound }
                    else if x.lowerBound == x.upperBound, x.lowerBound >= 0 { s[d] = 0...x.lowerBound }
                    else if x.lowerBound >= 0 && y.lowerBound >= 0 { s[d] = 0...min(x.upperBound, y.upperBound) }
                    else { s[d] = full }
                default: s[d] = full
                }
            }
            return s
        }
        var changed = true, rounds = 0
        while changed && rounds < 50 {
            changed = false; rounds += 1
            for b in f.reversePostOrder {
                var input: [VReg: Interval] = [:]
                if b != 0 {
                    let ps = preds[b].compactMap { outs[$0] }
                    for p in ps { for (k, v) in p { input[k] = join(input[k], v) } }
                    // A register not set on some path keeps the full range.
                    for k in input.keys where ps.contains(where: { $0[k] == nil }) { input[k] = full }
                }
                let out = transfer(b, input)
                if outs[b] == nil || outs[b]! != out { outs[b] = out; changed = true }
            }
        }
        for b in f.reversePostOrder {
            guard case .ret(let v) = f.blocks[b].terminator, let s = outs[b] else { continue }
            let r = value(v, s)
            if !(range.contains(r.lowerBound) && range.contains(r.upperBound)) {
                let loc = f.blocks[b].terminatorLocation
                let shown = r == full ? "any Integer" : (r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "values in \(r.lowerBound)…\(r.upperBound)")
                throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                                 message: "\(kind.declaration) programs must return \(range.lowerBound) or \(range.upperBound); this returns \(shown)",
                                 hint: "the kernel rejects other values; return \(range.lowerBound) to deny, \(range.upperBound) to allow (e.g. `cond ? 1 : 0`)")
            }
        }
    }
}
