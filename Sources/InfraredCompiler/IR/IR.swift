import InfraredObject
import Synchronization

/// The compiler's intermediate representation: a control-flow graph of basic
/// blocks over unlimited 64-bit virtual registers. Not SSA: an mruby register
/// (a Ruby local) stays one virtual register, which keeps lowering direct and
/// lets the register allocator work on live ranges.

/// A virtual register.
struct VReg: Hashable, Comparable, CustomStringConvertible {
    var id: Int
    static func < (a: VReg, b: VReg) -> Bool { a.id < b.id }
    var description: String { "%\(id)" }
}

/// An instruction operand: a register or a 64-bit constant.
enum Operand: Hashable, CustomStringConvertible {
    case reg(VReg)
    case imm(Int64)
    var description: String {
        switch self { case .reg(let r): return r.description; case .imm(let i): return String(i) }
    }
    var register: VReg? { if case .reg(let r) = self { return r }; return nil }
    var constant: Int64? { if case .imm(let i) = self { return i }; return nil }
}

/// Two-operand arithmetic. Division and modulo come in the unsigned form
/// BPF has and Ruby's floored signed form (expanded during selection).
enum BinaryOp: String, CaseIterable {
    case add, sub, mul, udiv, umod, sdiv, smod, and, or, xor, shl, lshr, ashr
    /// `bswap x, w`: the low `w` (16, 32, else 64) bits of x with their
    /// bytes reversed, zero-extended: network and host order on a
    /// little-endian CPU (`ntohs`), BPF's `be16`/`be32`/`be64`.
    case bswap

    /// `a op b == b op a`.
    var isCommutative: Bool {
        switch self {
        case .add, .mul, .and, .or, .xor: return true
        default: return false
        }
    }

    /// Folds two constants with 64-bit wrapping and Ruby's semantics
    /// (floored division). Division by zero has BPF's meaning, as the
    /// generated code computes it: unsigned x/0 = 0 and x%0 = x; signed
    /// x/0 = (x < 0 ? -1 : 0) and x%0 = x.
    func fold(_ a: Int64, _ b: Int64) -> Int64 {
        let ua = UInt64(bitPattern: a), ub = UInt64(bitPattern: b)
        switch self {
        case .add: return a &+ b
        case .sub: return a &- b
        case .mul: return a &* b
        case .udiv: return ub == 0 ? 0 : Int64(bitPattern: ua / ub)
        case .umod: return ub == 0 ? a : Int64(bitPattern: ua % ub)
        case .sdiv:
            if b == 0 { return a < 0 ? -1 : 0 }
            if a == .min && b == -1 { return .min }
            var q = a / b
            if (a % b != 0) && ((a < 0) != (b < 0)) { q -= 1 }
            return q
        case .smod:
            if b == 0 { return a }
            if a == .min && b == -1 { return 0 }
            var r = a % b
            if r != 0 && ((r < 0) != (b < 0)) { r += b }
            return r
        case .and: return a & b
        case .or: return a | b
        case .xor: return a ^ b
        case .shl: return ub >= 64 ? 0 : Int64(bitPattern: ua << ub)
        case .lshr: return ub >= 64 ? 0 : Int64(bitPattern: ua >> ub)
        case .ashr: return ub >= 64 ? (a < 0 ? -1 : 0) : a >> b
        case .bswap:
            switch Self.byteSwapWidth(b) {
            case 16: return Int64(UInt16(truncatingIfNeeded: ua).byteSwapped)
            case 32: return Int64(UInt32(truncatingIfNeeded: ua).byteSwapped)
            default: return Int64(bitPattern: ua.byteSwapped)
            }
        }
    }

    /// The bits `bswap x, w` swaps: 16 or 32 as asked, else 64.
    static func byteSwapWidth(_ w: Int64) -> Int32 { w == 16 || w == 32 ? Int32(w) : 64 }
}

/// A comparison, as both a branch condition and a 0/1 value.
enum Condition: String, CaseIterable {
    case eq, ne, ult, ule, ugt, uge, slt, sle, sgt, sge

    var negated: Condition {
        switch self {
        case .eq: return .ne; case .ne: return .eq
        case .ult: return .uge; case .uge: return .ult; case .ule: return .ugt; case .ugt: return .ule
        case .slt: return .sge; case .sge: return .slt; case .sle: return .sgt; case .sgt: return .sle
        }
    }
    /// The condition with operands swapped (`a < b` ⇔ `b > a`).
    var swapped: Condition {
        switch self {
        case .eq, .ne: return self
        case .ult: return .ugt; case .ugt: return .ult; case .ule: return .uge; case .uge: return .ule
        case .slt: return .sgt; case .sgt: return .slt; case .sle: return .sge; case .sge: return .sle
        }
    }
    func evaluate(_ a: Int64, _ b: Int64) -> Bool {
        let ua = UInt64(bitPattern: a), ub = UInt64(bitPattern: b)
        switch self {
        case .eq: return a == b; case .ne: return a != b
        case .ult: return ua < ub; case .ule: return ua <= ub; case .ugt: return ua > ub; case .uge: return ua >= ub
        case .slt: return a < b; case .sle: return a <= b; case .sgt: return a > b; case .sge: return a >= b
        }
    }
}

/// A Ruby source position.
struct SourceLocation: Hashable {
    var line: Int
    var column: Int
    static let none = SourceLocation(line: 0, column: 0)
}

/// The registers among the operands, in order.
private func registers(_ a: Operand) -> [VReg] {
    if case .reg(let r) = a { return [r] }
    return []
}
private func registers(_ a: Operand, _ b: Operand) -> [VReg] {
    switch (a, b) {
    case (.reg(let x), .reg(let y)): return [x, y]
    case (.reg(let x), .imm): return [x]
    case (.imm, .reg(let y)): return [y]
    case (.imm, .imm): return []
    }
}

/// A map's or global variable's name in the IR: its number in one table of
/// the process's names. Every IR instruction is then a plain value (no
/// reference counting): blocks of them are copied and freed as bytes, which
/// every pass does to every block (a copy of an instruction that held a
/// `String` or an array retained it).
struct SymbolName: Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    private let id: UInt32
    init(_ name: String) { id = Self.table.withLock { $0.intern(name) } }
    init(stringLiteral name: String) { self.init(name) }
    var string: String { Self.table.withLock { $0.names[Int(id)] } }
    var description: String { string }
    static func ~= (pattern: String, name: SymbolName) -> Bool { name == SymbolName(pattern) }

    private struct Table {
        var names: [String] = []
        var ids: [String: UInt32] = [:]
        mutating func intern(_ name: String) -> UInt32 {
            if let id = ids[name] { return id }
            let id = UInt32(names.count)
            names.append(name); ids[name] = id
            return id
        }
    }
    private static let table = Mutex(Table())
}

/// A helper call's arguments (BPF passes at most five, in R1–R5), kept in
/// the instruction itself as a plain value: the constants or register
/// numbers, and which of them are registers.
struct CallArguments: RandomAccessCollection, ExpressibleByArrayLiteral, Hashable {
    private var values: (Int64, Int64, Int64, Int64, Int64) = (0, 0, 0, 0, 0)
    private var registerMask: UInt8 = 0
    private(set) var count: Int = 0
    static let capacity = 5

    init<S: Sequence>(_ operands: S) where S.Element == Operand {
        for o in operands {
            precondition(count < Self.capacity, "a helper call takes at most \(Self.capacity) arguments")
            let value: Int64
            switch o {
            case .reg(let r): value = Int64(r.id); registerMask |= 1 << UInt8(count)
            case .imm(let i): value = i
            }
            withUnsafeMutableBytes(of: &values) { $0.storeBytes(of: value, toByteOffset: count * 8, as: Int64.self) }
            count += 1
        }
    }
    init(arrayLiteral operands: Operand...) { self.init(operands) }

    var startIndex: Int { 0 }
    var endIndex: Int { count }
    subscript(i: Int) -> Operand {
        precondition(i >= 0 && i < count, "call argument \(i) of \(count)")
        let value = withUnsafeBytes(of: values) { $0.load(fromByteOffset: i * 8, as: Int64.self) }
        return registerMask & (1 << UInt8(i)) != 0 ? .reg(VReg(id: Int(value))) : .imm(value)
    }
    static func == (a: CallArguments, b: CallArguments) -> Bool {
        a.count == b.count && a.registerMask == b.registerMask && a.elementsEqual(b)
    }
    func hash(into h: inout Hasher) {
        h.combine(count)
        h.combine(registerMask)
        for o in self { h.combine(o) }
    }
}

/// A non-terminating IR instruction.
enum IRInstruction: Hashable {
    case move(VReg, Operand)
    case binary(BinaryOp, VReg, Operand, Operand)
    case neg(VReg, Operand)
    /// dst = (lhs cond rhs) ? 1 : 0
    case setcc(Condition, VReg, Operand, Operand)
    /// dst = *(size *)(base + offset), zero- or sign-extended.
    case load(VReg, base: VReg, offset: Int, size: Int, signed: Bool)
    /// dst = address of the string literal at this offset of `.rodata.str1.1`.
    case stringAddress(VReg, offset: Int)
    /// dst = helper(args…); clobbers R0–R5.
    case call(VReg?, helper: Int32, args: CallArguments)
    /// dst = address of a map (`ld_imm64` relocated against it).
    case mapAddress(VReg, name: SymbolName)
    /// dst = address of a global variable (`ld_imm64` relocated against it).
    case variableAddress(VReg, name: SymbolName)
    /// dst = R10 + offset (a stack object's address).
    case frameAddress(VReg, offset: Int)
    /// dst = *(size *)(R10 + offset).
    case loadFrame(VReg, offset: Int, size: Int, signed: Bool)
    /// *(size *)(R10 + offset) = value.
    case storeFrame(offset: Int, value: Operand, size: Int)
    /// *(size *)(base + offset) = value.
    case store(base: VReg, offset: Int, value: Operand, size: Int)
    /// lock *(size *)(base + offset) += value.
    case atomicAdd(base: VReg, offset: Int, value: VReg, size: Int)
    /// dst = a constant that libbpf patches at load time (CO-RE): `value` is
    /// the local answer, `relocation` indexes the function's CO-RE records.
    case coreConstant(VReg, value: Int64, relocation: Int)

    var definition: VReg? {
        switch self {
        case .move(let d, _), .binary(_, let d, _, _), .neg(let d, _), .setcc(_, let d, _, _),
             .load(let d, _, _, _, _), .stringAddress(let d, _): return d
        case .call(let d, _, _): return d
        case .mapAddress(let d, _), .variableAddress(let d, _), .frameAddress(let d, _), .loadFrame(let d, _, _, _),
             .coreConstant(let d, _, _): return d
        case .storeFrame, .store, .atomicAdd: return nil
        }
    }
    var uses: [VReg] {
        // Built directly: an empty array costs no allocation, and these
        // are read in every pass's inner loop.
        switch self {
        case .move(_, let a), .neg(_, let a), .storeFrame(_, let a, _): return registers(a)
        case .binary(_, _, let a, let b), .setcc(_, _, let a, let b): return registers(a, b)
        case .load(_, let base, _, _, _): return [base]
        case .stringAddress: return []
        case .call(_, _, let args): return args.compactMap(\.register)
        case .mapAddress, .variableAddress, .frameAddress, .loadFrame, .coreConstant: return []
        case .store(let b, _, let v, _): if case .reg(let r) = v { return [b, r] }; return [b]
        case .atomicAdd(let b, _, let v, _): return [b, v]
        }
    }
    /// Calls `body` with each register `uses` lists, in the same order,
    /// without building the array (the liveness of every pass reads these).
    @inline(__always)
    func forEachUse(_ body: (VReg) -> Void) {
        func each(_ o: Operand) { if case .reg(let r) = o { body(r) } }
        switch self {
        case .move(_, let a), .neg(_, let a), .storeFrame(_, let a, _): each(a)
        case .binary(_, _, let a, let b), .setcc(_, _, let a, let b): each(a); each(b)
        case .load(_, let base, _, _, _): body(base)
        case .stringAddress: break
        case .call(_, _, let args): for a in args { each(a) }
        case .mapAddress, .variableAddress, .frameAddress, .loadFrame, .coreConstant: break
        case .store(let b, _, let v, _): body(b); each(v)
        case .atomicAdd(let b, _, let v, _): body(b); body(v)
        }
    }
    var hasSideEffects: Bool {
        switch self {
        case .call, .storeFrame, .store, .atomicAdd: return true
        default: return false
        }
    }
    /// Reads memory that a store or call may change (so it is not moved or merged across them).
    var readsMemory: Bool {
        switch self { case .load, .loadFrame: return true; default: return false }
    }

    /// The instruction with its definition renamed to `x`, uses untouched
    /// (nil for stores, which define nothing; a call without a result stays one).
    func renamingDefinition(to x: VReg) -> IRInstruction? {
        switch self {
        case .move(_, let a): return .move(x, a)
        case .binary(let op, _, let a, let b): return .binary(op, x, a, b)
        case .neg(_, let a): return .neg(x, a)
        case .setcc(let c, _, let a, let b): return .setcc(c, x, a, b)
        case .load(_, let base, let off, let size, let s): return .load(x, base: base, offset: off, size: size, signed: s)
        case .stringAddress(_, let off): return .stringAddress(x, offset: off)
        case .call(let d, let h, let args): return d == nil ? self : .call(x, helper: h, args: args)
        case .mapAddress(_, let n): return .mapAddress(x, name: n)
        case .variableAddress(_, let n): return .variableAddress(x, name: n)
        case .frameAddress(_, let o): return .frameAddress(x, offset: o)
        case .loadFrame(_, let o, let size, let s): return .loadFrame(x, offset: o, size: size, signed: s)
        case .coreConstant(_, let v, let r): return .coreConstant(x, value: v, relocation: r)
        case .storeFrame, .store, .atomicAdd: return nil
        }
    }

    /// The instruction with every use rewritten by `f` (definitions untouched).
    func mapUses(_ f: (Operand) -> Operand) -> IRInstruction {
        switch self {
        case .move(let d, let a): return .move(d, f(a))
        case .binary(let op, let d, let a, let b): return .binary(op, d, f(a), f(b))
        case .neg(let d, let a): return .neg(d, f(a))
        case .setcc(let c, let d, let a, let b): return .setcc(c, d, f(a), f(b))
        case .load(let d, let base, let off, let size, let s):
            if case .reg(let nb) = f(.reg(base)) { return .load(d, base: nb, offset: off, size: size, signed: s) }
            return self
        case .stringAddress: return self
        case .call(let d, let h, let args): return .call(d, helper: h, args: CallArguments(args.lazy.map(f)))
        case .mapAddress, .variableAddress, .frameAddress, .loadFrame, .coreConstant: return self
        case .storeFrame(let o, let v, let s): return .storeFrame(offset: o, value: f(v), size: s)
        case .store(let b, let o, let v, let s):
            if case .reg(let nb) = f(.reg(b)) { return .store(base: nb, offset: o, value: f(v), size: s) }
            return .store(base: b, offset: o, value: f(v), size: s)
        case .atomicAdd(let b, let o, let v, let s):
            guard case .reg(let nb) = f(.reg(b)), case .reg(let nv) = f(.reg(v)) else { return self }
            return .atomicAdd(base: nb, offset: o, value: nv, size: s)
        }
    }
}

/// How a block ends.
enum Terminator: Hashable {
    case jump(Int)
    case branch(Condition, Operand, Operand, then: Int, else: Int)
    case ret(Operand)
    /// Placeholder while a block is being built.
    case unreachable

    /// The blocks it may continue at: the target of a jump, a branch's
    /// `then` and `else` (the same block twice if both are), none after a
    /// return. A collection held in the value (an array allocated on every
    /// ask, in every dataflow sweep).
    var successors: Successors {
        switch self {
        case .jump(let t): return Successors(count: 1, one: t, other: 0)
        case .branch(_, _, _, let t, let e): return Successors(count: 2, one: t, other: e)
        case .ret, .unreachable: return Successors(count: 0, one: 0, other: 0)
        }
    }
    var uses: [VReg] {
        switch self {
        case .branch(_, let a, let b, _, _): return registers(a, b)
        case .ret(let a): return registers(a)
        default: return []
        }
    }
    /// Calls `body` with each block `successors` holds, in the same order.
    @inline(__always)
    func forEachSuccessor(_ body: (Int) -> Void) {
        switch self {
        case .jump(let t): body(t)
        case .branch(_, _, _, let t, let e): body(t); body(e)
        case .ret, .unreachable: break
        }
    }
    /// Calls `body` with each register `uses` lists, without the array.
    @inline(__always)
    func forEachUse(_ body: (VReg) -> Void) {
        switch self {
        case .branch(_, let a, let b, _, _):
            if case .reg(let r) = a { body(r) }
            if case .reg(let r) = b { body(r) }
        case .ret(.reg(let r)): body(r)
        default: break
        }
    }
    func mapUses(_ f: (Operand) -> Operand) -> Terminator {
        switch self {
        case .branch(let c, let a, let b, let t, let e): return .branch(c, f(a), f(b), then: t, else: e)
        case .ret(let a): return .ret(f(a))
        default: return self
        }
    }
    func mapTargets(_ f: (Int) -> Int) -> Terminator {
        switch self {
        case .jump(let t): return .jump(f(t))
        case .branch(let c, let a, let b, let t, let e): return .branch(c, a, b, then: f(t), else: f(e))
        default: return self
        }
    }
}

struct IRBlock {
    var instructions: [(IRInstruction, SourceLocation)] = []
    var terminator: Terminator = .unreachable
    var terminatorLocation: SourceLocation = .none
}

/// The first index of sorted `a` where `above` holds (`above` false then
/// true along `a`), or `a.count`: a bisection.
func firstIndex<T>(in a: [T], where above: (T) -> Bool) -> Int {
    var lo = 0, hi = a.count
    while lo < hi { let mid = (lo + hi) / 2; if above(a[mid]) { hi = mid } else { lo = mid + 1 } }
    return lo
}

/// How many instructions write each register, and which one when only one
/// does (the context register's entry value is not counted). The IR is not
/// SSA: a pass that reasons about a register's value trusts it where its one
/// definition dominates every use, as the lowering and `webs` leave them.
struct Definitions {
    // Indexed by register number.
    private var counts: [Int32]
    /// Each register's defining instruction, only when asked for
    /// (`single`): a copy of the instruction per register, most of the
    /// memory a large function's count would otherwise touch.
    private var by: [IRInstruction?] = []

    /// How many instructions write each register; with `instructions`,
    /// also which one (for `single`).
    init(_ f: borrowing IRFunction, instructions: Bool = false) {
        counts = Array(filled: 0, count: f.vregCount)
        if instructions { by = Array(filled: nil, count: f.vregCount) }
        for b in f.blocks.indices {
            for (i, _) in f.instructions(of: b) {
                guard let d = i.definition else { continue }
                counts[d.id] += 1
                if instructions { by[d.id] = i }
            }
        }
    }

    /// Instructions that write `r`.
    func count(_ r: VReg) -> Int { r.id < counts.count ? Int(counts[r.id]) : 0 }
    /// The instruction that writes `r`, when it is the only one (made with
    /// `instructions: true`).
    func single(_ r: VReg) -> IRInstruction? {
        precondition(!by.isEmpty || counts.isEmpty, "Definitions made without instructions")
        return count(r) == 1 ? by[r.id] : nil
    }
}

/// Where a packet program's context keeps the packet's bounds (`xdp_md`:
/// 0 and 4; `__sk_buff`: 76 and 80), each a 4-byte field the verifier
/// turns into a packet pointer.
struct PacketFields: Hashable {
    var data: Int
    var end: Int
}

/// One BPF program in IR form.
struct IRFunction {
    var name: String
    var blocks: [IRBlock] = [] { didSet { blocksVersion &+= 1 } }
    /// Bumped by every write to `blocks` (the observer reads no old value,
    /// so writes stay in place).
    var blocksVersion = 0
    /// Block 0 is the entry. The context pointer arrives in `context` (R1).
    var context: VReg
    var vregCount: Int
    /// Bytes of stack used by stack objects (keys, values, structs, probe-read
    /// buffers) below R10; spill slots go below them.
    var stackSize = 0
    /// The stack objects the lowering reserved, in order: `packStackObjects`
    /// lays them out again so that objects never live together share bytes.
    var stackObjects: [StackObject] = []
    struct StackObject: Hashable {
        /// Bytes [offset, offset + size) below R10 (offset < 0).
        var offset: Int
        var size: Int
        var alignment: Int
    }
    /// CO-RE relocations referenced by `coreConstant`.
    var coreRelocations: [CoreRelocation] = []
    /// Global variables no program writes (params in `.rodata`).
    var readOnlyVariables: Set<String> = []
    /// Whether memory at `context` is the same for the whole run (tracing
    /// contexts), so a field read twice may be read once.
    var contextReadOnly = false
    /// Context offsets holding BTF pointers to kernel structs (fentry,
    /// fexit, tp_btf and lsm arguments): reads through them may be loads.
    var btfPointerArguments: Set<Int> = []
    /// The context offsets of `data` and `data_end` in programs that may
    /// read their packet directly (XDP, tc): probe reads of packet bytes
    /// a bounds check has proven in range may be loads.
    var packetFields: PacketFields?

    /// The liveness `liveness()` last computed and the version of the
    /// blocks it was computed for.
    var livenessCache: (version: Int, liveness: IRLiveness)?
    /// The reverse post-order `order()` last computed, likewise.
    var orderCache: (version: Int, order: [Int])?

    mutating func newVReg() -> VReg { defer { vregCount += 1 }; return VReg(id: vregCount) }

    /// The liveness of the blocks as they are: computed again only after a
    /// write to the blocks.
    mutating func liveness() -> IRLiveness {
        if let cache = livenessCache, cache.version == blocksVersion { return cache.liveness }
        livenessCache = nil
        // The order first: a mutating call among the arguments made a copy
        // of the function to pass.
        let order = order()
        let computed = IRLiveness(self, order: order)
        livenessCache = (blocksVersion, computed)
        return computed
    }

    /// Runs `rewrite`, which changes no register an instruction reads or
    /// writes and no edge (only offsets, say), keeping the liveness and the
    /// block order computed before it: they are the same after it.
    mutating func keepingLivenessAndOrder(_ rewrite: (inout IRFunction) -> Void) {
        let live = livenessCache?.version == blocksVersion ? livenessCache : nil
        let order = orderCache?.version == blocksVersion ? orderCache : nil
        rewrite(&self)
        if let live { livenessCache = (blocksVersion, live.liveness) }
        if let order { orderCache = (blocksVersion, order.order) }
    }

    /// `reversePostOrder` of the blocks as they are: computed again only
    /// after a write to the blocks (a pass that asks for it and for the
    /// liveness, which sweeps in this order, computed it twice).
    mutating func order() -> [Int] {
        if let cache = orderCache, cache.version == blocksVersion { return cache.order }
        let computed = reversePostOrder
        orderCache = (blocksVersion, computed)
        return computed
    }

    /// Calls `rewrite` with each instruction of block `b` in order; what it
    /// returns replaces the instruction (nil: the instruction stays, and is
    /// not compared). The block is written, and a new array made, only from
    /// the first replacement: a write to the blocks is what makes
    /// `liveness()` compute again.
    mutating func rewriteInstructions(ofBlock b: Int, _ rewrite: (IRInstruction, SourceLocation) -> IRInstruction?) {
        let instructions = blocks[b].instructions
        var rewritten: [(IRInstruction, SourceLocation)]?
        for k in instructions.indices {
            let (insn, loc) = instructions[k]
            if let out = rewrite(insn, loc) {
                if rewritten == nil {
                    rewritten = Array(instructions[..<k])
                    rewritten!.reserveCapacity(instructions.count)
                }
                rewritten!.append((out, loc))
            } else if rewritten != nil {
                rewritten!.append((insn, loc))
            }
        }
        if let rewritten { blocks[b].instructions = rewritten }
    }

    /// Block `b`'s terminator and instructions, read in place through a
    /// pointer to the field: `blocks[b].terminator` or a loop over `blocks`
    /// copies the whole block out of the array first (a retain and a release
    /// of its instructions; 320,000 copies in a build of 1,000 map updates).
    func terminator(of b: Int) -> Terminator {
        precondition(blocks.indices.contains(b))
        return blocks.withUnsafeBufferPointer { ($0.baseAddress! + b).pointer(to: \.terminator)!.pointee }
    }
    func instructions(of b: Int) -> [(IRInstruction, SourceLocation)] {
        precondition(blocks.indices.contains(b))
        return blocks.withUnsafeBufferPointer { ($0.baseAddress! + b).pointer(to: \.instructions)!.pointee }
    }

    /// Whether some instruction satisfies `predicate`, each block read in
    /// place (`blocks.contains(where:)` copies every block it looks at).
    func containsInstruction(where predicate: (IRInstruction) -> Bool) -> Bool {
        blocks.indices.contains { b in instructions(of: b).contains { predicate($0.0) } }
    }

    /// The number of instructions in all blocks, each block read in place.
    var instructionCount: Int { blocks.indices.reduce(0) { $0 + instructions(of: $1).count } }

    /// Sets block `b`'s terminator, writing the blocks only when it changes.
    mutating func setTerminator(_ t: Terminator, ofBlock b: Int) {
        if blocks[b].terminator != t { blocks[b].terminator = t }
    }

    /// How many edges enter each block (a branch with both arms to one
    /// block counts twice, as in `predecessors`), without a list per block.
    var predecessorCounts: [Int] {
        var counts = [Int](filled: 0, count: blocks.count)
        for i in blocks.indices { blocks[i].terminator.forEachSuccessor { counts[$0] += 1 } }
        return counts
    }

    /// Each block's predecessors, one entry an edge, in block order: all
    /// lists in one array (a list per block was an allocation per block in
    /// each of the dozen or so passes that ask).
    var predecessors: PredecessorTable { PredecessorTable(self) }

    /// The same as lists a pass can change as it changes the blocks.
    var predecessorLists: [[Int]] { predecessors.lists }

    /// Each block's place in `order` (distinct blocks, such as the reverse
    /// post-order); -1 for a block not in it (with the reverse post-order:
    /// not reachable).
    func positions(in order: [Int]) -> [Int] {
        var position = [Int](filled: -1, count: blocks.count)
        for (i, b) in order.enumerated() { position[b] = i }
        return position
    }

    /// The blocks an edge against `order` (the reverse post-order) enters:
    /// every cycle has such an edge, and every loop's header is one of these.
    func loopHeaders(order: [Int]) -> [Bool] {
        let position = positions(in: order)
        var header = [Bool](filled: false, count: blocks.count)
        for b in order { terminator(of: b).forEachSuccessor { t in if position[t] <= position[b] { header[t] = true } } }
        return header
    }

    /// Whether the function has a loop (an edge against `order`).
    func hasRetreatingEdge(order: [Int]) -> Bool { loopHeaders(order: order).contains(true) }

    /// Blocks reachable from the entry, in reverse post-order.
    var reversePostOrder: [Int] {
        guard !blocks.isEmpty else { return [] }
        // Depth-first, successors in order (an explicit stack: no recursion).
        var seen = [Bool](filled: false, count: blocks.count), order: [Int] = []
        order.reserveCapacity(blocks.count)
        // Each block is pushed at most once: room for all at once (growing
        // from one element cost three allocations a call, and the pipeline
        // asks for this order about forty times a function).
        var stack: [(block: Int, next: Int)] = []
        stack.reserveCapacity(blocks.count)
        stack.append((0, 0))
        seen[0] = true
        while let (b, next) = stack.last {
            // The next successor, without building the successor list.
            let successor: Int?
            switch terminator(of: b) {   // in place: `blocks[b]` copied the block
            case .jump(let t): successor = next == 0 ? t : nil
            case .branch(_, _, _, let t, let e): successor = next == 0 ? t : next == 1 ? e : nil
            case .ret, .unreachable: successor = nil
            }
            if let s = successor {
                stack[stack.count - 1].next = next + 1
                if !seen[s] { seen[s] = true; stack.append((s, 0)) }
            } else {
                order.append(b)
                stack.removeLast()
            }
        }
        order.reverse()   // in place: no second array
        return order
    }
}

extension IRFunction: CustomStringConvertible {
    /// A readable listing (`--dump-after`).
    var description: String {
        var s = "function \(name)(ctx: \(context)):\n"
        if !stackObjects.isEmpty { s += "stack: " + stackObjects.map { "fp\($0.offset) size \($0.size) align \($0.alignment)" }.joined(separator: ", ") + "\n" }
        if !readOnlyVariables.isEmpty { s += "readonly: \(readOnlyVariables.sorted().joined(separator: ", "))\n" }
        if contextReadOnly { s += "context: read-only\n" }
        if !btfPointerArguments.isEmpty { s += "btf pointers: " + btfPointerArguments.sorted().map(String.init).joined(separator: ", ") + "\n" }
        if let p = packetFields { s += "packet: data \(p.data), end \(p.end)\n" }
        for (i, b) in blocks.enumerated() {
            s += "b\(i):\n"
            for (insn, loc) in b.instructions { s += "    \(format(insn))\(loc.line > 0 ? "    ; line \(loc.line)" : "")\n" }
            s += "    \(format(b.terminator))\n"
        }
        return s
    }
    private func format(_ i: IRInstruction) -> String {
        switch i {
        case .move(let d, let a): return "\(d) = \(a)"
        case .binary(let op, let d, let a, let b): return "\(d) = \(op.rawValue) \(a), \(b)"
        case .neg(let d, let a): return "\(d) = neg \(a)"
        case .setcc(let c, let d, let a, let b): return "\(d) = set.\(c.rawValue) \(a), \(b)"
        case .load(let d, let base, let off, let size, let s): return "\(d) = load.\(s ? "s" : "u")\(size * 8) [\(base) + \(off)]"
        case .stringAddress(let d, let off): return "\(d) = &str[\(off)]"
        case .call(let d, let h, let args): return "\(d.map { "\($0) = " } ?? "")call \(h)(\(args.map(\.description).joined(separator: ", ")))"
        case .mapAddress(let d, let n): return "\(d) = &map \(n)"
        case .variableAddress(let d, let n): return "\(d) = &var \(n)"
        case .frameAddress(let d, let o): return "\(d) = fp\(o)"
        case .loadFrame(let d, let o, let size, let s): return "\(d) = load.\(s ? "s" : "u")\(size * 8) [fp\(o)]"
        case .storeFrame(let o, let v, let size): return "store.\(size * 8) [fp\(o)] = \(v)"
        case .store(let b, let o, let v, let size): return "store.\(size * 8) [\(b) + \(o)] = \(v)"
        case .atomicAdd(let b, let o, let v, let size): return "atomic.add.\(size * 8) [\(b) + \(o)] += \(v)"
        case .coreConstant(let d, let v, let r): return "\(d) = core(\(v), reloc \(r))"
        }
    }
    private func format(_ t: Terminator) -> String {
        switch t {
        case .jump(let b): return "jump b\(b)"
        case .branch(let c, let a, let b, let x, let y): return "br.\(c.rawValue) \(a), \(b) ? b\(x) : b\(y)"
        case .ret(let a): return "ret \(a)"
        case .unreachable: return "unreachable"
        }
    }
}

extension Array {
    /// `count` copies of `value`, as `Array(repeating:count:)` gives them but
    /// allocated through `reserveCapacity`, which is specialised for the
    /// element type where it is called. `Array(repeating:count:)` reaches
    /// the standard library's unspecialised allocation, which looks the
    /// storage's type up in the runtime's metadata cache on every call:
    /// about 650 instructions an array, and a pass allocates a few per
    /// function (`callgrind`, Benchmarks/build-instructions.sh).
    @inline(__always)
    init(filled value: Element, count: Int) {
        self.init()
        reserveCapacity(count)
        append(contentsOf: repeatElement(value, count: count))
    }
}

/// Every block's predecessors (one entry an edge, in block order) in one
/// flat array, block after block: `table[b]` is block `b`'s list.
struct PredecessorTable {
    private let start: [Int]   // block b's list is flat[start[b]..<start[b + 1]]
    private let flat: [Int]

    init(_ f: borrowing IRFunction) {
        let n = f.blocks.count
        var start = [Int](filled: 0, count: n + 1)
        for i in 0..<n { f.terminator(of: i).forEachSuccessor { start[$0 + 1] += 1 } }
        for b in 0..<n { start[b + 1] += start[b] }
        var next = start, flat = [Int](filled: 0, count: start[n])
        for i in 0..<n { f.terminator(of: i).forEachSuccessor { flat[next[$0]] = i; next[$0] += 1 } }
        self.start = start
        self.flat = flat
    }

    subscript(b: Int) -> Predecessors { Predecessors(flat: flat, lower: start[b], upper: start[b + 1]) }

    /// The lists as arrays, for a pass that changes them as it changes the blocks.
    var lists: [[Int]] { (0..<count).map { Array(flat[start[$0]..<start[$0 + 1]]) } }

    /// The number of blocks.
    var count: Int { start.count - 1 }
}

/// Predecessor lists a pass changes as it changes the edges: the table as
/// it was, and the lists of the blocks changed or added since (an array a
/// block, made up front, cost an allocation a block where most passes
/// change a few).
struct EditedPredecessors {
    private let table: PredecessorTable
    private var changed: [Int: [Int]] = [:]
    init(_ f: borrowing IRFunction) { table = PredecessorTable(f) }

    /// Block `b`'s predecessors, one entry an edge.
    subscript(b: Int) -> [Int] {
        get { changed[b] ?? (b < table.count ? Array(table[b]) : []) }
        set { changed[b] = newValue }
    }
    /// Whether the only predecessor is `h` (one edge from it): `self[b] == [h]`.
    func isOnly(_ b: Int, _ h: Int) -> Bool {
        if let list = changed[b] { return list == [h] }
        return b < table.count && table[b].isOnly(h)
    }
}

/// One block's predecessors: a view of `PredecessorTable`'s array, indexed
/// from 0.
struct Predecessors: RandomAccessCollection {
    fileprivate let flat: [Int]
    fileprivate let lower: Int, upper: Int

    var startIndex: Int { 0 }
    var endIndex: Int { upper - lower }
    subscript(i: Int) -> Int {
        precondition(i >= 0 && i < upper - lower, "predecessor index out of range")
        return flat[lower + i]
    }
    /// Whether the only predecessor is `b` (one edge from it).
    func isOnly(_ b: Int) -> Bool { upper - lower == 1 && flat[lower] == b }
}

/// A terminator's successors (`Terminator.successors`): none, one or two.
struct Successors: RandomAccessCollection {
    let count: Int
    fileprivate let one: Int, other: Int

    var startIndex: Int { 0 }
    var endIndex: Int { count }
    subscript(i: Int) -> Int {
        precondition(i >= 0 && i < count, "successor index out of range")
        return i == 0 ? one : other
    }
}
