// The register-kind analysis: a forward dataflow to a fixed point per frame.

/// What each mruby register of a frame holds at the entry of each of its
/// basic blocks: the result of `Lowering.analyseKinds`.
struct RegisterKinds {
    /// Per block: the kinds at its entry; nil for a block no path reaches.
    var entry: [[Kind]?]
    /// The pointer identities after the analysis. Its kinds name pointers
    /// by these ids, so the emission goes on from them (never reusing one).
    var pointers: PointerIdentities
}

extension Lowering {
    /// The register kinds at each block's entry of `frame`, to a fixed point.
    ///
    /// The transfer function is the lowering of a block itself, run on a
    /// scratch copy of this lowering (`init(scratchOf:)`) whose IR is thrown
    /// away, so the kind each construct gives is stated once, where it is
    /// lowered. In the copy the kinds are not settled: an error that depends
    /// on them gives a fallback instead (`unsettled`), and a block whose
    /// lowering fails has no successors — the emission, with the kinds
    /// settled, reports it. This lowering is left as it was; the shared
    /// `core` and `records` see the kernel types and record structs the
    /// analysis meets, first, in its order (which is the order of the
    /// object's local BTF types).
    func analyseKinds(_ frame: Frame, _ graph: BlockGraph, entry: [Kind]) throws -> RegisterKinds {
        let scratch = Lowering(scratchOf: self)
        let edges = BlockEdges(frame: frame, graph: graph, irBlocks: nil)
        // Each block is lowered on the stack as it was at the frame's entry:
        // the fixed point lowers a block once per change of its entry kinds,
        // and slots allocated by earlier visits would otherwise pile up until
        // a visit failed "stack exhausted" — leaving its successors unreached,
        // which the emission then compiled to `return 0` (a program that
        // stopped halfway without a word: MemoryDifferentialTests found it).
        let stackAtEntry = scratch.ir.function.stackSize
        let entries = try Self.fixedPoint(blocks: graph.count, entry: entry) { b, kinds in
            var k = kinds
            scratch.ir.function.stackSize = stackAtEntry
            do { return try scratch.lowerBlock(frame, graph.range(b), kinds: &k, edges: edges) } catch { return [] }
        }
        return RegisterKinds(entry: entries, pointers: scratch.pointers)
    }

    /// The forward dataflow: from `entry` at block 0, each block's
    /// `transfer` gives its successors with the kinds on each edge; a
    /// block's entry is the merge (`Kind.merged`) over its incoming edges.
    static func fixedPoint(blocks: Int, entry: [Kind], transfer: (Int, [Kind]) -> [(Int, [Kind])]) throws -> [[Kind]?] {
        var entries = Array(filled: [Kind]?.none, count: blocks)
        entries[0] = entry
        var work = [0]
        var iterations = 0
        while let b = work.popLast() {
            iterations += 1
            if iterations > 10_000 { throw CompileFailure.internalError("kind analysis does not converge") }
            for (s, edgeKinds) in transfer(b, entries[b]!) {
                let merged = Kind.entry(entries[s], merging: edgeKinds)
                if entries[s] != merged { entries[s] = merged; work.append(s) }
            }
        }
        return entries
    }
}
