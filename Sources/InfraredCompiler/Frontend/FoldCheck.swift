import CMRuby

/// mruby 3.1's compiler folds `+ - * /` on two Integer literals, and reads a
/// negative operand loaded by OP_LOADI32 (−2³¹ … −32769) without its sign:
/// `(-70000) + 1` becomes 4294897297 and `-70000 / 7` 613556756 — in the
/// top level as in bodies. Infrared compiles what mruby's bytecode says, so
/// such a fold would be a wrong constant in the program; the file is refused
/// with an error naming the place instead (MemoryDifferentialTests found
/// the wrong values).
///
/// The compiler itself compiles the file without mruby's peephole
/// optimisations, where nothing is folded (`ir_load`), but the loader's
/// user-space hooks run optimised bytecode. So the check reads that
/// unoptimised bytecode and follows the literals as mruby's folding would:
/// a `+ - * /` of two known Integers with one of them in the range mruby
/// misreads is the fold that goes wrong (its result may feed the next fold,
/// as in `5 - 70000 + 1`).
enum MRubyFoldCheck {
    static let misread: ClosedRange<Int64> = -2_147_483_648 ... -32_769

    static func check(session: MRubySession, path: String, sourceLines: [String]) throws {
        guard let raw = ir_top_irep(session.raw) else { return }   // nothing compiled: `load` reported why
        try check(Irep(raw: raw, session: session), path: path, sourceLines: sourceLines)
    }

    private static func check(_ irep: Irep, path: String, sourceLines: [String]) throws {
        let insns: [MInstruction]
        do { insns = try decode(irep.code) } catch { return }   // the lowering reports undecodable bytecode
        let targets = Set(insns.compactMap(\.jumpTarget))
        var known: [Int: Int64] = [:]   // register → the Integer literal (or fold) it holds
        for n in insns {
            if targets.contains(n.pc) { known = [:] }   // mruby does not fold across a label
            if let v = n.integerLiteral { known[n.a] = v; continue }
            switch n.op {
            case .loadl:
                if case .int(let v) = irep.pool(n.b) { known[n.a] = v } else { known[n.a] = nil }
            case .add, .sub, .mul, .div, .addi, .subi:
                let x = known[n.a]
                let y: Int64? = n.op == .addi || n.op == .subi ? Int64(n.b) : known[n.a + 1]
                guard let x, let y else { known = [:]; continue }
                if misread.contains(x) || misread.contains(y) {
                    let line = irep.line(at: n.pc)
                    let bad = misread.contains(x) ? x : y
                    throw Diagnostic(file: path, line: line, column: column(of: bad, in: line, sourceLines), message:
                        "mruby 3.1 computes this constant wrongly: it folds arithmetic on \(bad) (a negative Integer below -32768) without its sign",
                        hint: "put the value in a local first (`x = \(bad)`, then use `x`), or write the result as one literal")
                }
                let r: (Int64, Bool)
                switch n.op {
                case .add, .addi: r = x.addingReportingOverflow(y)
                case .sub, .subi: r = x.subtractingReportingOverflow(y)
                case .mul: r = x.multipliedReportingOverflow(by: y)
                default:
                    guard y != 0, !(x == .min && y == -1) else { known = [:]; continue }
                    r = (BinaryOp.sdiv.fold(x, y), false)
                }
                known = r.1 ? [:] : [n.a: r.0]   // mruby does not fold what overflows
            default:
                known = [:]
            }
        }
        for i in 0..<irep.childCount { try check(irep.child(i), path: path, sourceLines: sourceLines) }
    }

    /// The column of the literal on its line (1 when it is not written there).
    private static func column(of value: Int64, in line: Int, _ lines: [String]) -> Int {
        guard line >= 1, line <= lines.count else { return 1 }
        let text = lines[line - 1], digits = String(value.magnitude)
        guard var start = text.indices.first(where: { text[$0...].hasPrefix(digits) }) else { return 1 }
        if start > text.startIndex, text[text.index(before: start)] == "-" { start = text.index(before: start) }
        return text.distance(from: text.startIndex, to: start) + 1
    }
}
