import BPF

/// Checks after optimisation for what the verifier would reject and the
/// compiler can already see, so the user gets `file:line:col` instead of a
/// verifier log.
enum Checks {
    /// Return values the kernel accepts, per program type (the verifier's
    /// check_return_code); types not listed accept any value.
    static let returnRanges: [String: ClosedRange<Int64>] = ["cgroup_device": 0...1, "fentry": 0...0, "fexit": 0...0]

    /// `lsm` hooks: what the verifier accepts by the hook's return type
    /// (bpf_lsm_get_retval_range): 0 or a negative errno for an `int` hook,
    /// 0 or 1 for a `bool` one; a `void` hook takes any value (nil).
    static func lsmReturnRange(returnTypeSize: Int?) -> ClosedRange<Int64>? {
        guard let size = returnTypeSize else { return nil }
        return size == 1 ? 0...1 : -4095...0
    }

    static func run(_ f: IRFunction, kind: ProgramKind, path: String, lines: [String], lsmRange: ClosedRange<Int64>? = nil) throws {
        try checkStackSize(f, path: path)
        // An exit test that never changes first: it is the cause where an
        // enclosing loop no path leaves is the consequence (`while j < i`
        // with `i` unchanged inside `while i < 4`: once the inner loop is
        // entered it never ends, and the ranges fold the outer test).
        try checkLoopsProgress(f, path: path)
        try checkLoopsTerminate(f, path: path)
        if let range = returnRanges[kind.declaration] { try checkReturns(f, range: range, kind: kind, path: path) }
        if kind.declaration == "lsm", let range = lsmRange { try checkLSMReturns(f, range: range, path: path) }
    }

    /// Stack objects that do not fit in the verifier's 512 bytes once the
    /// ones never live together share bytes: the error names the first
    /// access to the deepest object.
    static func checkStackSize(_ f: IRFunction, path: String) throws {
        guard f.stackSize > Lowering.stackLimit else { return }
        let deepest = -f.stackSize
        var loc = SourceLocation.none
        search: for b in f.reversePostOrder {
            for (insn, l) in f.blocks[b].instructions {
                switch insn {
                case .frameAddress(_, let o), .loadFrame(_, let o, _, _), .storeFrame(let o, _, _):
                    if o < deepest + 8 { loc = l; break search }
                default: break
                }
            }
        }
        throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                         message: "this program needs \(f.stackSize) bytes of stack for its keys, values and records at once; \(Lowering.stackLimit) is the most",
                         hint: "BPF programs have a 512-byte stack; use a ring buffer record or a per-CPU array as scratch space")
    }

    /// An `lsm` program's return values: an error only where every value it
    /// may return is outside what the hook allows (a constant `1` from an
    /// `int` hook, say); a value the compiler cannot bound is the kernel's to check.
    static func checkLSMReturns(_ f: IRFunction, range: ClosedRange<Int64>, path: String) throws {
        let ranges = Ranges(f)
        for b in f.reversePostOrder {
            guard case .ret(let v) = f.terminator(of: b), var s = ranges.entry[b] else { continue }
            for (insn, _) in f.blocks[b].instructions { Ranges.transfer(insn, &s) }
            let r = Ranges.value(v, s)
            guard r.upperBound < range.lowerBound || r.lowerBound > range.upperBound else { continue }
            let loc = f.blocks[b].terminatorLocation
            let shown = r.lowerBound == r.upperBound ? "\(r.lowerBound)" : "values in \(r.lowerBound)…\(r.upperBound)"
            if range == 0...1 {
                throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                                 message: "this LSM hook returns bool: its programs return 0 or 1; this returns \(shown)",
                                 hint: "the kernel rejects other values")
            }
            throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                             message: "lsm programs return 0 to allow or a negative errno (-4095…-1) to deny; this returns \(shown)",
                             hint: "recent kernels' verifiers reject other values (a positive one is no errno); return 0 to allow, -1 (-EPERM) to deny")
        }
    }

    /// A cycle no edge leaves never ends: the verifier rejects it as an infinite loop.
    static func checkLoopsTerminate(_ f: IRFunction, path: String) throws {
        // Blocks that can reach a `ret`: backwards from the returns (one
        // walk; sweeping the blocks until nothing changed was quadratic in a
        // long body).
        let preds = f.predecessors
        var canExit = [Bool](filled: false, count: f.blocks.count)
        var work: [Int] = []
        for i in f.blocks.indices { if case .ret = f.terminator(of: i) { canExit[i] = true; work.append(i) } }
        while let b = work.popLast() {
            for p in preds[b] where !canExit[p] { canExit[p] = true; work.append(p) }
        }
        let order = f.reversePostOrder
        let position = f.positions(in: order)
        // Report the loop's header: a block entered by a back edge.
        for b in order where !canExit[b] && preds[b].contains(where: { position[$0] >= position[b] }) {
            let loc = f.instructions(of: b).first?.1 ?? f.blocks[b].terminatorLocation
            throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                             message: "this loop never ends: no path leaves it",
                             hint: "BPF programs must finish; bound the loop (`while i < N`) or `break` out of it")
        }
    }

    /// A loop whose every exit test reads only what no iteration changes
    /// (`while x < 10` with a body that never assigns `x`, a map value polled
    /// in a `while`) looks the same to the verifier at each turn: it walks it
    /// until "the sequence of 8193 jumps is too complex" or "infinite loop
    /// detected". An exit test makes progress when what it reads depends, inside
    /// the loop, on its own previous value (a register or stack slot the loop
    /// updates from itself, `i += 1`, `p = p.next`); memory behind pointers and
    /// helper calls count as changed whenever the loop writes memory or calls
    /// a helper that may, so the check errs towards accepting.
    static func checkLoopsProgress(_ f: IRFunction, path: String) throws {
        for loop in Loop.natural(in: f) {
            let exits = loop.blocks.sorted().filter { b in f.terminator(of: b).successors.contains { !loop.blocks.contains($0) } }
            guard !exits.isEmpty else { continue }   // checkLoopsTerminate's case
            let graph = LoopDependencies(f, loop)
            if exits.contains(where: { graph.progresses(from: f.terminator(of: $0).uses) }) { continue }
            let at = exits.contains(loop.header) ? loop.header : exits[0]
            let loc = f.blocks[at].terminatorLocation.line > 0 ? f.blocks[at].terminatorLocation
                : (f.instructions(of: loop.header).first?.1 ?? f.blocks[loop.header].terminatorLocation)
            throw Diagnostic(file: path, line: max(loc.line, 1), column: max(loc.column, 1),
                             message: "this loop may never end: its exit condition reads nothing the loop changes from one iteration to the next",
                             hint: "the verifier must see every loop end; count iterations (`while i < N … i += 1`) and `break` when the condition holds, or change what the condition reads in the body")
        }
    }

    /// Values a register may hold at a `ret`, as an interval (`Ranges`).
    static func checkReturns(_ f: IRFunction, range: ClosedRange<Int64>, kind: ProgramKind, path: String) throws {
        let full = Ranges.full
        let ranges = Ranges(f)
        for b in f.reversePostOrder {
            guard case .ret(let v) = f.terminator(of: b), var s = ranges.entry[b] else { continue }
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

/// What each value computed in a loop reads inside that loop: registers,
/// stack slots (by offset) and other memory, as a graph for `checkLoopsProgress`.
private struct LoopDependencies {
    enum Node: Hashable { case reg(VReg), slot(Int), memory }
    static let mapLookup = HelperPrototype.named("map_lookup_elem")!.id
    var edges: [Node: Set<Node>] = [:]

    init(_ f: borrowing IRFunction, _ loop: Loop) {
        var frameAddresses = Set<VReg>()
        for b in f.blocks.indices { for (insn, _) in f.instructions(of: b) { if case .frameAddress(let d, _) = insn { frameAddresses.insert(d) } } }
        var slotStores: [(offset: Int, size: Int, from: Set<Node>)] = []
        var memoryWrites = Set<Node>()
        var callWritesFrame = Set<Node>()
        var writesFrameAnywhere = false
        for b in loop.blocks {
            for (insn, _) in f.blocks[b].instructions {
                let uses = Set(insn.uses.map(Node.reg))
                switch insn {
                case .storeFrame(let o, _, let size): slotStores.append((o, size, uses))
                case .store, .atomicAdd: memoryWrites.formUnion(uses)
                case .call(_, let helper, let args):
                    // A helper may write through any pointer it is given;
                    // a map lookup only reads its key.
                    guard helper != Self.mapLookup, args.contains(where: { $0.register != nil }) else { continue }
                    memoryWrites.formUnion(uses)
                    if args.contains(where: { $0.register.map(frameAddresses.contains) ?? false }) {
                        callWritesFrame.formUnion(uses); callWritesFrame.insert(.memory); writesFrameAnywhere = true
                    }
                default: break
                }
            }
        }
        edges[.memory] = memoryWrites.isEmpty ? [] : memoryWrites.union([.memory])
        for b in loop.blocks {
            for (insn, _) in f.blocks[b].instructions {
                guard let d = insn.definition else { continue }
                var from = Set(insn.uses.map(Node.reg))
                switch insn {
                case .loadFrame(_, let o, let size, _):
                    for s in slotStores where s.offset < o + size && o < s.offset + s.size { from.insert(.slot(s.offset)) }
                    if writesFrameAnywhere { from.formUnion(callWritesFrame) }
                case .load: from.insert(.memory)
                case .call:
                    // Helpers read memory (a map key on the stack, say).
                    from.insert(.memory)
                    for s in slotStores { from.insert(.slot(s.offset)) }
                default: break
                }
                edges[.reg(d), default: []].formUnion(from)
            }
        }
        for s in slotStores { edges[.slot(s.offset), default: []].formUnion(s.from) }
    }

    /// Whether what `uses` read reaches a value that depends on itself around the loop.
    func progresses(from uses: [VReg]) -> Bool {
        var seen = Set<Node>(), work = uses.map(Node.reg)
        while let n = work.popLast() {
            guard seen.insert(n).inserted else { continue }
            work += edges[n] ?? []
        }
        return seen.contains { n in reaches(from: edges[n] ?? [], to: n) }
    }

    private func reaches(from start: Set<Node>, to target: Node) -> Bool {
        var seen = Set<Node>(), work = Array(start)
        while let n = work.popLast() {
            if n == target { return true }
            guard seen.insert(n).inserted else { continue }
            work += edges[n] ?? []
        }
        return false
    }
}
