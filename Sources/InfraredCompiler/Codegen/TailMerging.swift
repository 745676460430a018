import BPF

/// Tail merging over allocated machine code: two blocks that end in the
/// same instructions up to `exit` (`r0 = 0; exit` after every early return,
/// `lock … += r7; r0 = 0; exit`) keep one copy; the other jumps to it. Runs
/// after register allocation, when equal code means equal registers.
enum TailMerging {
    static func merge(_ input: MFunction) -> MFunction {
        var f = input
        var changed = true
        while changed {
            changed = false
            // The copy kept is the last one laid out: the body falls through
            // into it and early returns jump forward to it, as clang lays
            // out one return at the end (kept first, the body's end would
            // jump back to an early return's copy: a taken jump on the hot path).
            let exits = Array(f.blocks.indices.filter { endsInExit(f.blocks[$0]) }.reversed())
            search: for a in exits {
                for b in exits where b != a {
                    let k = commonSuffix(f.blocks[a], f.blocks[b])
                    // The copy kept is `a`'s; `b` trades its tail for one jump.
                    guard f.blocks[b].instructions.suffix(k).reduce(0, { $0 + $1.op.slots }) >= 2 else { continue }
                    var tail = a
                    if k < f.blocks[a].instructions.count {
                        f = split(f, a, keeping: f.blocks[a].instructions.count - k)
                        tail = a + 1
                    }
                    let bb = b > a && tail == a + 1 ? b + 1 : b
                    let loc = f.blocks[bb].instructions[f.blocks[bb].instructions.count - k].location
                    f.blocks[bb].instructions.removeLast(k)
                    f.blocks[bb].instructions.append(MInstruction2(op: .jump(target: tail), location: loc))
                    changed = true
                    break search
                }
            }
            if changed { f = threadJumps(f) }
        }
        // Also where nothing merged: selection leaves `if c goto next; goto X`
        // where an early return jumps to the one return block.
        return threadJumps(f)
    }

    private static func endsInExit(_ b: MBlock) -> Bool {
        if case .exit = b.instructions.last?.op { return true }
        return false
    }

    /// Instructions (from the end) that two blocks share.
    private static func commonSuffix(_ x: MBlock, _ y: MBlock) -> Int {
        var k = 0
        let a = x.instructions, b = y.instructions
        while k < a.count, k < b.count, a[a.count - 1 - k].op == b[b.count - 1 - k].op { k += 1 }
        return k
    }

    /// Splits block `b` after `count` instructions; the second half becomes
    /// block `b + 1` (the first falls through to it) and later blocks move up.
    private static func split(_ f: MFunction, _ b: Int, keeping count: Int) -> MFunction {
        var g = f
        let head = Array(f.blocks[b].instructions.prefix(count)), tail = Array(f.blocks[b].instructions.dropFirst(count))
        g.blocks = g.blocks.map { renumbered($0) { $0 > b ? $0 + 1 : $0 } }
        g.blocks[b] = MBlock(instructions: head)
        g.blocks.insert(MBlock(instructions: tail), at: b + 1)
        return g
    }

    /// The block with each jump's and branch's target mapped; a block whose
    /// targets all stay keeps its storage (renumbering copied every block
    /// after each merge).
    private static func renumbered(_ block: MBlock, _ map: (Int) -> Int) -> MBlock {
        var block = block
        for k in block.instructions.indices {
            switch block.instructions[k].op {
            case .jump(let t):
                let n = map(t)
                if n != t { block.instructions[k].op = .jump(target: n) }
            case .branch(let c, let a, let s, let t):
                let n = map(t)
                if n != t { block.instructions[k].op = .branch(c, a, s, target: n) }
            default: break
            }
        }
        return block
    }

    /// Jumps and branches to a block that only jumps go to its target; blocks
    /// nothing reaches (no jump, no fall-through) are dropped.
    private static func threadJumps(_ input: MFunction) -> MFunction {
        var f = input
        func forward(_ t: Int) -> Int {
            var t = t, seen = Set<Int>()
            while f.blocks[t].instructions.count == 1, case .jump(let n) = f.blocks[t].instructions[0].op, seen.insert(t).inserted { t = n }
            return t
        }
        f.blocks = f.blocks.map { renumbered($0, forward) }
        invertBranchesOverJumps(&f)
        var reached = [Bool](filled: false, count: f.blocks.count), work = [0]
        while let b = work.popLast() {
            guard b < f.blocks.count, !reached[b] else { continue }
            reached[b] = true
            for insn in f.blocks[b].instructions {
                if case .jump(let t) = insn.op { work.append(t) }
                if case .branch(_, _, _, let t) = insn.op { work.append(t) }
            }
            switch f.blocks[b].instructions.last?.op {
            case .jump?, .exit?: break
            default: work.append(b + 1)
            }
        }
        let kept = f.blocks.indices.filter { reached[$0] }
        guard kept.count < f.blocks.count else { return f }
        var map = [Int](filled: -1, count: f.blocks.count)
        for (n, o) in kept.enumerated() { map[o] = n }
        f.blocks = kept.map { renumbered(f.blocks[$0]) { precondition(map[$0] >= 0, "a jump to a dropped block"); return map[$0] } }
        return f
    }

    /// `if c goto L; goto X; L:` becomes `if !c goto X; L:` (tail merging
    /// turns an early return into a jump, leaving the branch to hop over it),
    /// when the hopped-over jump is a block nothing else reaches.
    private static func invertBranchesOverJumps(_ f: inout MFunction) {
        // By block number (a hashed set cost a hash per jump).
        var targeted = [Bool](filled: false, count: f.blocks.count)
        for b in f.blocks {
            for i in b.instructions {
                if case .jump(let t) = i.op { targeted[t] = true }
                if case .branch(_, _, _, let t) = i.op { targeted[t] = true }
            }
        }
        for b in f.blocks.indices where b + 1 < f.blocks.count {
            // In one block: `if c goto next; goto X`.
            let insns = f.blocks[b].instructions
            guard insns.count >= 2, case .branch(let c, let x, let y, b + 1) = insns[insns.count - 2].op,
                  case .jump(let target) = insns[insns.count - 1].op, let inverse = inverted(c) else { continue }
            f.blocks[b].instructions.removeLast()
            f.blocks[b].instructions[insns.count - 2].op = .branch(inverse, x, y, target: target)
            targeted[target] = true
        }
        for b in f.blocks.indices where b + 2 < f.blocks.count {
            guard let last = f.blocks[b].instructions.last, case .branch(let c, let x, let y, b + 2) = last.op,
                  let inverse = inverted(c), !targeted[b + 1],
                  f.blocks[b + 1].instructions.count == 1, case .jump(let target) = f.blocks[b + 1].instructions[0].op else { continue }
            f.blocks[b].instructions[f.blocks[b].instructions.count - 1].op = .branch(inverse, x, y, target: target)
            f.blocks[b + 1].instructions = []
            targeted[target] = true
        }
    }

    private static func inverted(_ op: JumpOp) -> JumpOp? {
        switch op {
        case .jeq: return .jne; case .jne: return .jeq
        case .jgt: return .jle; case .jle: return .jgt; case .jge: return .jlt; case .jlt: return .jge
        case .jsgt: return .jsle; case .jsle: return .jsgt; case .jsge: return .jslt; case .jslt: return .jsge
        default: return nil
        }
    }
}
