import BPF
import InfraredObject

/// Lays out allocated machine code as BPF instructions: drops moves that
/// became `rX = rX` and jumps to the next block, expands `setcc`, resolves
/// jump offsets (in slots; `ld_imm64` is two), records string relocations
/// and one line_info entry wherever the Ruby line changes.
enum Emission {
    struct Output {
        var instructions: [Instruction]
        var relocations: [Relocation]
        var lines: [LineInfo]
        /// (instruction index, CO-RE record index)
        var core: [(Int, Int)] = []
    }

    static func emit(_ f: MFunction, firstLine: Int) -> Output {
        // Pass 1: sizes → block start offsets.
        func size(_ op: MOp, block: Int) -> Int {
            if case .jump(let t) = op, t == block + 1 { return 0 }   // falls through
            return op.slots
        }
        var starts: [Int] = []
        var pc = 0
        for (b, block) in f.blocks.enumerated() {
            starts.append(pc)
            for i in block.instructions { pc += size(i.op, block: b) }
        }
        starts.append(pc)

        var out = Output(instructions: [], relocations: [], lines: [])
        var lastLine = SourceLocation.none
        func phys(_ r: MReg) -> Register { if case .p(let p) = r { return p }; fatalError("unallocated \(r)") }
        for (b, block) in f.blocks.enumerated() {
            for i in block.instructions {
                let n = size(i.op, block: b)
                guard n > 0 else { continue }
                let at = out.instructions.count
                var loc = i.location
                if loc.line == 0 { loc = lastLine.line == 0 ? SourceLocation(line: firstLine, column: 1) : lastLine }
                if loc != lastLine || at == 0 {
                    out.lines.append(LineInfo(instruction: at, line: loc.line, column: loc.column))
                    lastLine = loc
                }
                func offset(to target: Int) -> Int16 { Int16(starts[target] - (at + 1)) }
                switch i.op {
                case .alu(let op, let d, .reg(let s)): out.instructions.append(.alu64(op, phys(d), phys(s)))
                case .alu(let op, let d, .imm(let k)): out.instructions.append(.alu64(op, phys(d), imm: k))
                case .mov(let d, .reg(let s)): out.instructions.append(.mov64(phys(d), phys(s)))
                case .mov(let d, .imm(let k)): out.instructions.append(.mov64(phys(d), imm: k))
                case .neg(let d): out.instructions.append(.neg64(phys(d)))
                case .byteSwap(let d, let bits): out.instructions.append(.toBigEndian(phys(d), bits: bits))
                case .loadImm64(let d, let v, let relocation):
                    out.instructions += Instruction.loadImm64(phys(d), v)
                    if let relocation { out.relocations.append(Relocation(instruction: at, target: relocation.target)) }
                case .movCore(let d, let v, let r):
                    out.instructions.append(.mov64(phys(d), imm: v))
                    out.core.append((at, r))
                case .addCore(let d, let v, let r):
                    out.instructions.append(.alu64(.add, phys(d), imm: v))
                    out.core.append((at, r))
                case .mov32(let d, let s):
                    out.instructions.append(.alu32(.mov, phys(d), phys(s)))
                case .store(let sz, let base, let off, .reg(let r)): out.instructions.append(.store(sz, phys(base), off, phys(r)))
                case .store(let sz, let base, let off, .imm(let k)): out.instructions.append(.store(sz, phys(base), off, imm: k))
                case .atomicAdd(let sz, let base, let off, let r): out.instructions.append(.atomicAdd(sz, phys(base), off, phys(r)))
                case .load(let sz, let d, let base, let off): out.instructions.append(.load(sz, phys(d), phys(base), off))
                case .loadCore(let sz, let d, let base, let off, let r):
                    out.instructions.append(.load(sz, phys(d), phys(base), off))
                    out.core.append((at, r))
                case .spillStore(let slot, let r): out.instructions.append(.store(.dw, .r10, Int16(-8 * (slot + 1)), phys(r)))
                case .spillLoad(let d, let slot): out.instructions.append(.load(.dw, phys(d), .r10, Int16(-8 * (slot + 1))))
                case .setcc(let c, let d, let a, let s):
                    out.instructions.append(.mov64(phys(d), imm: 1))
                    switch s {
                    case .reg(let r): out.instructions.append(.jump(c, phys(a), phys(r), 1))
                    case .imm(let k): out.instructions.append(.jump(c, phys(a), imm: k, 1))
                    }
                    out.instructions.append(.mov64(phys(d), imm: 0))
                case .call(let id, _): out.instructions.append(.call(helper: id))
                case .exit: out.instructions.append(.exit)
                case .branch(let c, let a, .reg(let r), let t): out.instructions.append(.jump(c, phys(a), phys(r), offset(to: t)))
                case .branch(let c, let a, .imm(let k), let t): out.instructions.append(.jump(c, phys(a), imm: k, offset(to: t)))
                case .jump(let t): out.instructions.append(.ja(offset(to: t)))
                }
            }
        }
        return out
    }
}
