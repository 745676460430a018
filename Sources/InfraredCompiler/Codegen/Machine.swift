import BPF
import InfraredObject

/// Machine IR: BPF instructions over virtual and physical registers, before
/// register allocation. Selection produces it, the allocator rewrites its
/// virtual registers, emission lays it out and resolves jumps.

enum MReg: Hashable, CustomStringConvertible {
    case v(Int)
    case p(Register)
    var description: String {
        switch self { case .v(let i): return "v\(i)"; case .p(let r): return "r\(r.rawValue)" }
    }
}

enum MSource: Hashable {
    case reg(MReg)
    case imm(Int32)
    var register: MReg? { if case .reg(let r) = self { return r }; return nil }
}

/// What an `ld_imm64` is relocated against, by interned name (a machine
/// instruction stays a plain value); emission turns it into the object's
/// `Relocation.Target`.
enum MRelocation: Hashable {
    case stringLiteral(offset: Int)
    case map(SymbolName)
    case variable(SymbolName)
    var target: Relocation.Target {
        switch self {
        case .stringLiteral(let o): return .stringLiteral(offset: o)
        case .map(let n): return .map(name: n.string)
        case .variable(let n): return .variable(name: n.string)
        }
    }
}

enum MOp: Hashable {
    /// dst op= src (64-bit).
    case alu(ALUOp, MReg, MSource)
    /// wdst = wsrc: a 32-bit move, which clears the upper half (`& 0xffffffff`).
    case mov32(MReg, MReg)
    /// dst += imm, the imm patched by libbpf at load (CO-RE record `relocation`).
    case addCore(MReg, Int32, relocation: Int)
    case mov(MReg, MSource)
    case neg(MReg)
    /// dst = the low `bits` (16, 32 or 64) of dst byte-swapped, zero-extended
    /// (`be16`/`be32`/`be64`: BPF_END to big-endian on a little-endian CPU).
    case byteSwap(MReg, bits: Int32)
    /// dst = 64-bit constant, or an address libbpf fills in (`relocation`).
    case loadImm64(MReg, Int64, relocation: MRelocation?)
    /// dst = imm, patched by libbpf at load (CO-RE record `relocation`).
    case movCore(MReg, Int32, relocation: Int)
    /// *(size *)(base + offset) = src.
    case store(SizeModifier, base: MReg, offset: Int16, MSource)
    /// lock *(size *)(base + offset) += src.
    case atomicAdd(SizeModifier, base: MReg, offset: Int16, MReg)
    case load(SizeModifier, MReg, base: MReg, offset: Int16)
    /// dst = *(size *)(base + offset), the offset patched by libbpf at load
    /// (CO-RE record `relocation`), as clang compiles `p->field` on a BTF pointer.
    case loadCore(SizeModifier, MReg, base: MReg, offset: Int16, relocation: Int)
    /// Spill slot traffic: `*(u64 *)(r10 - 8*(slot+1))`.
    case spillStore(slot: Int, MReg)
    case spillLoad(MReg, slot: Int)
    /// dst = (a cc b) ? 1 : 0, expanded at emission.
    case setcc(JumpOp, MReg, MReg, MSource)
    /// Calls helper `id` with `argc` arguments already in R1…; result in R0.
    case call(Int32, argc: Int)
    case exit
    /// Conditional jump to block `target`, else fall through.
    case branch(JumpOp, MReg, MSource, target: Int)
    case jump(target: Int)

    /// Calls `body` with each register the instruction reads, in operand
    /// order, without building an array (the allocator's intervals read
    /// these for every instruction, twice).
    @inline(__always)
    func forEachUse(_ body: (MReg) -> Void) {
        func each(_ x: MSource) { if case .reg(let r) = x { body(r) } }
        switch self {
        case .alu(_, let d, let s): body(d); each(s)
        case .mov32(_, let s): body(s)
        case .addCore(let d, _, _): body(d)
        case .mov(_, let s): each(s)
        case .neg(let d), .byteSwap(let d, _): body(d)
        case .loadImm64, .movCore: break
        case .load(_, _, let base, _), .loadCore(_, _, let base, _, _): body(base)
        case .store(_, let base, _, let src): body(base); each(src)
        case .atomicAdd(_, let base, _, let src): body(base); body(src)
        case .spillStore(_, let r): body(r)
        case .spillLoad: break
        case .setcc(_, _, let a, let b): body(a); each(b)
        case .call(_, let argc): for r in Register.arguments.prefix(argc) { body(.p(r)) }
        case .exit: body(.p(.r0))
        case .branch(_, let a, let b, _): body(a); each(b)
        case .jump: break
        }
    }
    /// The registers the instruction reads, in operand order.
    var uses: [MReg] {
        var registers: [MReg] = []
        forEachUse { registers.append($0) }
        return registers
    }
    /// The register the instruction writes, if any (at most one).
    var definition: MReg? {
        switch self {
        case .alu(_, let d, _), .mov(let d, _), .neg(let d), .byteSwap(let d, _), .loadImm64(let d, _, _), .load(_, let d, _, _), .loadCore(_, let d, _, _, _),
             .spillLoad(let d, _), .setcc(_, let d, _, _), .movCore(let d, _, _), .mov32(let d, _), .addCore(let d, _, _): return d
        case .call: return .p(.r0)
        default: return nil
        }
    }
    /// `definition` as a list.
    var defs: [MReg] { definition.map { [$0] } ?? [] }
    /// BPF instruction slots this emits: `ld_imm64` is two, `setcc` three
    /// (mov, jump, mov), a move to itself none.
    var slots: Int {
        switch self {
        case .mov(let d, .reg(let s)) where d == s: return 0
        case .loadImm64: return 2
        case .setcc: return 3
        default: return 1
        }
    }
    /// Calls `body` with each register the instruction destroys: a call's
    /// caller-saved registers (no array for the instructions that clobber none).
    @inline(__always)
    func forEachClobber(_ body: (Register) -> Void) { if case .call = self { Register.callerSaved.forEach(body) } }

    func mapRegs(_ f: (MReg) -> MReg) -> MOp {
        func s(_ x: MSource) -> MSource { if case .reg(let r) = x { return .reg(f(r)) }; return x }
        switch self {
        case .alu(let op, let d, let src): return .alu(op, f(d), s(src))
        case .mov(let d, let src): return .mov(f(d), s(src))
        case .neg(let d): return .neg(f(d))
        case .byteSwap(let d, let bits): return .byteSwap(f(d), bits: bits)
        case .loadImm64(let d, let v, let r): return .loadImm64(f(d), v, relocation: r)
        case .movCore(let d, let v, let r): return .movCore(f(d), v, relocation: r)
        case .mov32(let d, let src): return .mov32(f(d), f(src))
        case .addCore(let d, let v, let r): return .addCore(f(d), v, relocation: r)
        case .store(let sz, let b, let o, let src): return .store(sz, base: f(b), offset: o, s(src))
        case .atomicAdd(let sz, let b, let o, let src): return .atomicAdd(sz, base: f(b), offset: o, f(src))
        case .load(let sz, let d, let b, let o): return .load(sz, f(d), base: f(b), offset: o)
        case .loadCore(let sz, let d, let b, let o, let r): return .loadCore(sz, f(d), base: f(b), offset: o, relocation: r)
        case .spillStore(let slot, let r): return .spillStore(slot: slot, f(r))
        case .spillLoad(let d, let slot): return .spillLoad(f(d), slot: slot)
        case .setcc(let c, let d, let a, let b): return .setcc(c, f(d), f(a), s(b))
        case .branch(let c, let a, let b, let t): return .branch(c, f(a), s(b), target: t)
        default: return self
        }
    }
}

struct MInstruction2 {
    var op: MOp
    var location: SourceLocation
}

struct MBlock {
    var instructions: [MInstruction2] = []
}

struct MFunction {
    var name: String
    var blocks: [MBlock]
    var vregCount: Int
    /// Stack slots used by spills (8 bytes each, below `stackSize`).
    var slots = 0
    /// Bytes of stack objects the IR allocated (below R10).
    var stackSize = 0
}
