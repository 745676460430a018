import BPF

/// Checks after optimisation for what the verifier would reject and the
/// compiler can already see, so the user gets `file:line:col` instead of a
/// verifier log.
enum Checks {
    /// Return values the kernel accepts, per program type (the verifier's
    /// check_return_code); types not listed accept any value.
    static let returnRanges: [String: ClosedRange<Int64>] = ["cgroup_device": 0...1, "fentry": 0...0, "fexit": 0...0]

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

    /// Values a register may hold at a `ret`, as an interval (`Ranges`).
    static func checkReturns(_ f: IRFunction, range: ClosedRange<Int64>, kind: ProgramKind, path: String) throws {
        let full = Ranges.full
        let ranges = Ranges(f)
        for b in f.reversePostOrder {
            guard case .ret(let v) = f.blocks[b].terminator, var s = ranges.entry[b] else { continue }
            for (insn, _) in f.blocks[b].instructions { Ranges.transfer(insn, &s) }
            let r = Ranges.value(v, s)
            if !(range.contains(r.lowerBound) && range.contains(r.upperBound)) {
                let loc = f.blocks[b].terminatorLocation
                let shown = r == full ? "any Integer" : (r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "values in \(r.lowerBound)…\(r.upperBound)")
                if range.lowerBound == range.upperBound {
                    // fentry/fexit: the kernel ignores the value but requires 0.
                    throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                                     message: "\(kind.declaration) programs must return \(range.lowerBound); this returns \(shown)",
                                     hint: "the kernel rejects other values; end the body with \(range.lowerBound)")
                }
                throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                                 message: "\(kind.declaration) programs must return \(range.lowerBound) or \(range.upperBound); this returns \(shown)",
                                 hint: "the kernel rejects other values; return \(range.lowerBound) to deny, \(range.upperBound) to allow (e.g. `cond ? 1 : 0`)")
            }
        }
    }
}
