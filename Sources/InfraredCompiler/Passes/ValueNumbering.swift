/// Local value numbering and linear-expression folding: two block-local
/// passes over the non-SSA IR. A register's value is named by the register
/// and how many times it has been written so far in the block (its
/// version), so a fact about `%5` stops holding once `%5` is written again.

/// A value inside one block: a register at one of its versions.
private struct Value: Hashable {
    var register: VReg
    var version: Int
}

/// Per-block register versions, in arrays by register number made once
/// per pass: a register's count holds only when stamped with the current
/// block, so starting a block clears every count at once. (An array over
/// every register made for every block was blocks × registers, quadratic
/// in a long body; a dictionary per block hashed every operand.)
private struct Versions {
    private var count: [Int], stamp: [Int]
    private var block = 0
    init(registers: Int) {
        count = [Int](filled: 0, count: registers)
        stamp = [Int](filled: 0, count: registers)
    }
    /// Every register back to version 0.
    mutating func startBlock() { block += 1 }
    subscript(_ r: VReg) -> Int { r.id < stamp.count && stamp[r.id] == block ? count[r.id] : 0 }
    mutating func write(_ r: VReg) {
        if r.id >= stamp.count {
            count += [Int](filled: 0, count: r.id + 1 - stamp.count)
            stamp += [Int](filled: 0, count: r.id + 1 - stamp.count)
        }
        if stamp[r.id] != block { stamp[r.id] = block; count[r.id] = 0 }
        count[r.id] += 1
    }
    func value(_ r: VReg) -> Value { Value(register: r, version: self[r]) }
    func holds(_ v: Value) -> Bool { self[v.register] == v.version }
}

// MARK: Value numbering

/// An instruction that computes the same value as an earlier one in the
/// block, from the same operand values and with no store or call between
/// them for memory reads, becomes a copy of the earlier result: a context
/// field or a tracepoint field read twice is read once, `a * b` computed
/// twice is computed once.
func numberValues(_ f: inout IRFunction) {
    enum Key: Hashable {
        case binary(BinaryOp, Operand2, Operand2)
        case neg(Operand2)
        case setcc(Condition, Operand2, Operand2)
        case load(Value, Int, Int, Bool, memory: Int)
        case loadFrame(Int, Int, Bool, memory: Int)

        /// The key folded into one word for the hasher: the synthesized hash
        /// combined every field apart, and the operation and condition by
        /// their names (a string hashed for each key).
        func hash(into hasher: inout Hasher) {
            func word(_ o: Operand2) -> UInt64 {
                switch o {
                case .value(let v): return UInt64(truncatingIfNeeded: v.register.id) << 24 ^ UInt64(truncatingIfNeeded: v.version)
                case .imm(let i): return ~UInt64(bitPattern: i)
                }
            }
            func mix(_ w: UInt64, _ x: UInt64) -> UInt64 { (w ^ x) &* 0x9E37_79B9_7F4A_7C15 }
            func small(_ x: Int) -> UInt64 { UInt64(truncatingIfNeeded: x) }
            let w: UInt64
            switch self {
            case .binary(let op, let a, let b): w = mix(mix(mix(1, withUnsafeBytes(of: op) { UInt64($0[0]) }), word(a)), word(b))
            case .neg(let a): w = mix(2, word(a))
            case .setcc(let c, let a, let b): w = mix(mix(mix(3, withUnsafeBytes(of: c) { UInt64($0[0]) }), word(a)), word(b))
            case .load(let v, let off, let size, let signed, let memory):
                w = mix(mix(mix(4, word(.value(v))), small(off) << 8 ^ small(size) << 1 ^ (signed ? 1 : 0)), small(memory))
            case .loadFrame(let off, let size, let signed, let memory):
                w = mix(mix(5, small(off) << 8 ^ small(size) << 1 ^ (signed ? 1 : 0)), small(memory))
            }
            hasher.combine(w)
        }
    }
    enum Operand2: Hashable {
        case value(Value), imm(Int64)
        /// A fixed order, to list a commutative operation's operands one way.
        func sortsBefore(_ o: Operand2) -> Bool {
            switch (self, o) {
            case (.imm(let a), .imm(let b)): return a < b
            case (.imm, .value): return true
            case (.value, .imm): return false
            case (.value(let a), .value(let b)): return (a.register.id, a.version) < (b.register.id, b.version)
            }
        }
    }

    var versions = Versions(registers: f.vregCount)
    // One table for every block, emptied between them: a new one per
    // block grew (and rehashed) from nothing each time.
    var available: [Key: Value] = [:]
    for b in f.blocks.indices {
        versions.startBlock()
        var memory = 0
        available.removeAll(keepingCapacity: true)
        func operand(_ o: Operand) -> Operand2 {
            switch o { case .reg(let r): return .value(versions.value(r)); case .imm(let i): return .imm(i) }
        }
        f.rewriteInstructions(ofBlock: b) { insn, _ in
            var key: Key?
            switch insn {
            case .binary(let op, _, let x, let y):
                // Commutative operations in one order.
                var (a, c) = (operand(x), operand(y))
                if op.isCommutative, c.sortsBefore(a) { swap(&a, &c) }
                key = .binary(op, a, c)
            case .neg(_, let x): key = .neg(operand(x))
            case .setcc(let c, _, let x, let y): key = .setcc(c, operand(x), operand(y))
            case .load(_, let base, let off, let size, let s): key = .load(versions.value(base), off, size, s, memory: memory)
            case .loadFrame(_, let off, let size, let s): key = .loadFrame(off, size, s, memory: memory)
            default: break   // addresses are rematerialised, not kept in registers
            }
            var emitted: IRInstruction?   // nil: the instruction stays
            if let key, let d = insn.definition, let earlier = available[key], versions.holds(earlier) {
                emitted = .move(d, .reg(earlier.register))
            }
            if insn.hasSideEffects { memory += 1 }
            if let d = insn.definition {
                versions.write(d)
                if let key { available[key] = versions.value(d) }
            }
            return emitted
        }
    }
}

// MARK: Linear expressions

/// One term `c·a` of a form.
private struct Term: Equatable {
    var value: Value
    var coefficient: Int64
    func precedes(_ o: Term) -> Bool { (value.register.id, value.version) < (o.value.register.id, o.value.version) }
}

/// `c₁·a₁ + … + cₙ·aₙ + k`, wrapping. The terms are sorted by value, one
/// for each value, none with a zero coefficient: equal forms have equal
/// arrays. (A dictionary per form hashed every term of every step: a
/// tenth of a body of unrolled loops' build.)
private struct Form: Equatable {
    let terms: [Term]
    let constant: Int64
    static func constant(_ k: Int64) -> Form { Form(terms: [], constant: k) }
    static func atom(_ v: Value) -> Form { Form(terms: [Term(value: v, coefficient: 1)], constant: 0) }
    func scaled(_ k: Int64) -> Form {
        Form(terms: terms.compactMap { t in
            let c = t.coefficient &* k
            return c == 0 ? nil : Term(value: t.value, coefficient: c)
        }, constant: constant &* k)
    }
    func plus(_ b: Form) -> Form {
        if b.terms.isEmpty { return Form(terms: terms, constant: constant &+ b.constant) }
        var t: [Term] = []
        t.reserveCapacity(terms.count + b.terms.count)
        var i = 0, j = 0
        while i < terms.count || j < b.terms.count {
            if j == b.terms.count || (i < terms.count && terms[i].precedes(b.terms[j])) { t.append(terms[i]); i += 1; continue }
            if i == terms.count || b.terms[j].precedes(terms[i]) { t.append(b.terms[j]); j += 1; continue }
            let c = terms[i].coefficient &+ b.terms[j].coefficient
            if c != 0 { t.append(Term(value: terms[i].value, coefficient: c)) }
            i += 1; j += 1
        }
        return Form(terms: t, constant: constant &+ b.constant)
    }
    var isConstant: Bool { terms.isEmpty }
}


/// Values built from `+ - * << neg` with constants are kept as linear forms
/// `c₁·a₁ + … + cₙ·aₙ + k` over the block's other values (wrapping, like
/// the machine). A value whose form has one term, computed through other
/// linear values, is recomputed from that term directly (`s += i * x`
/// unrolled sixteen times is `x * 120`), so the chain becomes dead; and
/// `form & mask` is a constant when every coefficient has more trailing
/// zero bits than the mask has bits.
func foldLinearExpressions(_ f: inout IRFunction) {
    let maximumTerms = 4

    // The liveness of `f` as it came, computed when a chain is first
    // asked about (most functions have none): the rewritten blocks are
    // written back at the end, so `f` is the function it describes.
    var live: IRLiveness?
    var marks: LiveMarks?
    var rewrittenBlocks: [(block: Int, instructions: [(IRInstruction, SourceLocation)])] = []
    var versions = Versions(registers: f.vregCount)
    var forms = CurrentForms(registers: f.vregCount)
    for b in f.blocks.indices {
        versions.startBlock()
        forms.startBlock()
        let instructions = f.instructions(of: b)
        // Which of each instruction's operands are read after it, to know
        // which chains die: a bit for each use, in `forEachUse`'s order
        // (a whole register set per instruction was quadratic in time and
        // memory: 1.2 GB for a 10,000-line body; a list per instruction,
        // an allocation each). Found when first asked: most blocks have no
        // chain to shorten.
        var readAfterFound: [UInt8]?
        func readAfter(_ index: Int) -> UInt8 {
            if let found = readAfterFound { return found[index] }
            if live == nil { live = f.liveness() }
            if marks == nil { marks = LiveMarks(registers: f.vregCount) }
            marks!.start(live!.liveOut[b])
            f.terminator(of: b).forEachUse { marks!.insert($0) }
            var found = [UInt8](filled: 0, count: instructions.count)
            for i in instructions.indices.reversed() {
                let insn = instructions[i].0
                var mask: UInt8 = 0, k: UInt8 = 0
                insn.forEachUse { if marks!.contains($0) { mask |= 1 << k }; k += 1 }
                found[i] = mask
                if let d = insn.definition { marks!.remove(d) }
                insn.forEachUse { marks!.insert($0) }
            }
            readAfterFound = found
            return found[index]
        }
        func form(_ o: Operand) -> Form {
            switch o {
            case .imm(let k): return .constant(k)
            case .reg(let r): return forms[r, versions[r]] ?? .atom(versions.value(r))
            }
        }
        /// Whether the operand is a register computed by a linear operation in this block.
        func derived(_ o: Operand) -> Bool {
            guard case .reg(let r) = o, let fm = forms[r, versions[r]] else { return false }
            return fm != .atom(versions.value(r))
        }
        var out: [(IRInstruction, SourceLocation)] = []
        out.reserveCapacity(instructions.count)
        var rewritten = false
        for (index, (insn, loc)) in instructions.enumerated() {
            var result: Form?
            switch insn {
            case .move(_, let a): result = form(a)
            case .binary(.add, _, let x, let y): result = form(x).plus(form(y))
            case .binary(.sub, _, let x, let y): result = form(x).plus(form(y).scaled(-1))
            case .binary(.mul, _, let x, let y):
                let (p, q) = (form(x), form(y))
                if q.isConstant { result = p.scaled(q.constant) } else if p.isConstant { result = q.scaled(p.constant) }
            case .binary(.shl, _, let x, .imm(let k)) where (0..<64).contains(k): result = form(x).scaled(Int64(bitPattern: 1 << UInt64(k)))
            case .neg(_, let x): result = form(x).scaled(-1)
            case .binary(.and, _, let x, .imm(let m)) where m >= 0:
                let p = form(x)
                let bits = 64 - UInt64(m).leadingZeroBitCount
                if p.terms.allSatisfy({ UInt64(bitPattern: $0.coefficient).trailingZeroBitCount >= bits }) {
                    result = .constant(p.constant & m)
                }
            default: break
            }
            var emitted: [IRInstruction]?   // nil: the instruction as it is
            if let d = insn.definition, let r = result, r.terms.count <= maximumTerms {
                let simple: Bool = {
                    switch insn {
                    case .move: return true
                    case .binary(_, _, let x, let y), .setcc(_, _, let x, let y): return !derived(x) && !derived(y)
                    case .neg(_, let x): return !derived(x)
                    default: return true
                    }
                }()
                if r.isConstant {
                    if insn != .move(d, .imm(r.constant)) { emitted = [.move(d, .imm(r.constant))] }
                } else if !simple, r.terms.count == 1, let (v, c) = r.terms.first.map({ ($0.value, $0.coefficient) }), versions.holds(v) {
                    var seq: [IRInstruction] = []
                    if c == 1 { seq.append(.move(d, .reg(v.register))) }
                    else if c > 0 && c & (c - 1) == 0 { seq.append(.binary(.shl, d, .reg(v.register), .imm(Int64(c.trailingZeroBitCount)))) }
                    else { seq.append(.binary(.mul, d, .reg(v.register), .imm(c))) }
                    if r.constant != 0 { seq.append(.binary(.add, d, .reg(d), .imm(r.constant))) }
                    if seq.count == 1, case .move(d, .reg(d)) = seq[0] { seq = [] }
                    // Two instructions for one pay only when the chain it read dies.
                    func chainDies() -> Bool {
                        var dies = true, k: UInt8 = 0
                        insn.forEachUse { u in
                            if u != d && derived(.reg(u)) && readAfter(index) & (1 << k) != 0 { dies = false }
                            k += 1
                        }
                        return dies
                    }
                    if seq.count <= 1 || chainDies() { emitted = seq }
                }
                versions.write(d)
                forms.set(d, version: versions[d], r)
            } else if let d = insn.definition {
                versions.write(d)
            }
            if let emitted, emitted != [insn] {
                out += emitted.map { ($0, loc) }
                rewritten = true
            } else {
                out.append((insn, loc))
            }
        }
        if rewritten { rewrittenBlocks.append((b, out)) }
    }
    for (b, instructions) in rewrittenBlocks { f.blocks[b].instructions = instructions }
}

/// The linear form of each register's current version in the block, in
/// arrays by register number (stamped with the block and the version it
/// holds for), as `Versions` keeps versions: a dictionary by value hashed
/// every operand.
private struct CurrentForms {
    private var form: [Form?], block: [Int], version: [Int]
    private var current = 0
    init(registers: Int) {
        form = [Form?](filled: nil, count: registers)
        block = [Int](filled: 0, count: registers)
        version = [Int](filled: 0, count: registers)
    }
    /// Every form forgotten.
    mutating func startBlock() { current += 1 }
    /// The form of `r` at `v`, its current version; nil when it has none.
    subscript(_ r: VReg, _ v: Int) -> Form? {
        r.id < block.count && block[r.id] == current && version[r.id] == v ? form[r.id] : nil
    }
    mutating func set(_ r: VReg, version v: Int, _ f: Form) {
        if r.id >= block.count {
            let grow = r.id + 1 - block.count
            form += [Form?](filled: nil, count: grow)
            block += [Int](filled: 0, count: grow)
            version += [Int](filled: 0, count: grow)
        }
        form[r.id] = f; block[r.id] = current; version[r.id] = v
    }
}

// MARK: Narrow stores

/// A store of n bytes keeps only the low 8n bits of its value, so
/// `t = x & 0xffffffff; store.32 [..] = t` stores `x` (and the mask usually
/// dies): `tid` and `pid` stored into u32 keys.
func narrowStoredValues(_ f: inout IRFunction) {
    var versions = Versions(registers: f.vregCount)
    var masked: [Value: (source: Value, mask: Int64)] = [:]   // emptied for each block, as in numberValues
    for b in f.blocks.indices {
        versions.startBlock()
        masked.removeAll(keepingCapacity: true)
        func narrowed(_ o: Operand, size: Int) -> Operand {
            guard case .reg(let r) = o, let (x, m) = masked[versions.value(r)], versions.holds(x), size < 8 else { return o }
            let low = Int64(bitPattern: (UInt64(1) << UInt64(size * 8)) - 1)
            return m & low == low ? .reg(x.register) : o
        }
        f.rewriteInstructions(ofBlock: b) { insn, _ in
            var out: IRInstruction?   // nil: the instruction stays
            switch insn {
            case .storeFrame(let off, let v, let size):
                let n = narrowed(v, size: size)
                if n != v { out = .storeFrame(offset: off, value: n, size: size) }
            case .store(let base, let off, let v, let size):
                let n = narrowed(v, size: size)
                if n != v { out = .store(base: base, offset: off, value: n, size: size) }
            default: break
            }
            if let d = insn.definition {
                if case .binary(.and, _, .reg(let x), .imm(let m)) = insn, x != d {
                    let source = versions.value(x)
                    versions.write(d)
                    masked[versions.value(d)] = (source, m)
                } else {
                    versions.write(d)
                }
            }
            return out
        }
    }
}

/// A signed narrow load (`pid_t` fields) costs two shifts to sign-extend.
/// When every read of its result sees only its low bytes, the upper bits
/// are never seen and the load is done unsigned. Such reads are a store no
/// wider than the load, and an equality test (`==`, `!=`, a branch or a
/// `setcc`) against a constant the load's signed range holds (`pid != 0`:
/// equal sign-extended exactly when equal zero-extended, to the constant's
/// low bytes) or against another such load of the same size (both then
/// turn unsigned, or neither).
func unsignLoadsOnlyStored(_ f: inout IRFunction) {
    enum Reads: UInt8 { case none, low, other }
    // By register number: how many instructions define it, the size of the
    // signed load defining it (0: none; an 8-byte one is marked unsigned
    // too, which changes nothing it emits), and what its reads see.
    let count = f.vregCount
    var defs = [Int](filled: 0, count: count), size = defs
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            guard let d = insn.definition else { continue }
            defs[d.id] += 1
            switch insn {
            case .load(_, _, _, let s, true), .loadFrame(_, _, let s, true): size[d.id] = s
            default: break
            }
        }
    }
    var reads = [Reads](repeating: .none, count: count)
    var pairs: [(VReg, VReg)] = []
    func low(_ r: VReg) { if reads[r.id] == .none { reads[r.id] = .low } }
    func other(_ r: VReg) { reads[r.id] = .other }
    func stored(_ v: VReg, size s: Int) { if size[v.id] > 0 && s <= size[v.id] { low(v) } else { other(v) } }
    func fits(_ c: Int64, _ s: Int) -> Bool {
        guard s < 8 else { return true }
        let half = Int64(1) << (8 * s - 1)
        return c >= -half && c < half
    }
    func compared(_ a: Operand, _ b: Operand) {
        switch (a, b) {
        case (.reg(let x), .imm(let c)), (.imm(let c), .reg(let x)):
            if size[x.id] > 0 && fits(c, size[x.id]) { low(x) } else { other(x) }
        case (.reg(let x), .reg(let y)):
            if x != y && size[x.id] > 0 && size[x.id] == size[y.id] { low(x); low(y); pairs.append((x, y)) } else { other(x); other(y) }
        case (.imm, .imm): break
        }
    }
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            switch insn {
            case .storeFrame(_, .reg(let v), let s): stored(v, size: s)
            case .store(let base, _, let value, let s):
                other(base)
                if case .reg(let v) = value { stored(v, size: s) }
            case .setcc(let c, _, let x, let y) where c == .eq || c == .ne: compared(x, y)
            default: insn.forEachUse(other)
            }
        }
        switch f.terminator(of: b) {
        case .branch(let c, let x, let y, _, _) where c == .eq || c == .ne: compared(x, y)
        case let t: t.forEachUse(other)
        }
    }
    for r in 0..<count where size[r] > 0 && defs[r] != 1 { reads[r] = .other }
    // Two loads compared stay signed together.
    var changed = !pairs.isEmpty
    while changed {
        changed = false
        for (x, y) in pairs where (reads[x.id] == .other) != (reads[y.id] == .other) { other(x); other(y); changed = true }
    }
    func unsigned(_ r: VReg) -> Bool { size[r.id] > 0 && reads[r.id] == .low }
    func zeroExtended(_ a: Operand, _ b: Operand) -> (Operand, Operand) {
        func low(_ c: Int64, of r: VReg) -> Operand {
            let s = size[r.id]
            return s < 8 ? .imm(c & ((Int64(1) << (8 * s)) - 1)) : .imm(c)
        }
        switch (a, b) {
        case (.reg(let r), .imm(let c)) where unsigned(r): return (a, low(c, of: r))
        case (.imm(let c), .reg(let r)) where unsigned(r): return (low(c, of: r), b)
        default: return (a, b)
        }
    }
    for b in f.blocks.indices {
        f.rewriteInstructions(ofBlock: b) { insn, _ in
            switch insn {
            case .load(let d, let base, let off, let s, true) where unsigned(d):
                return .load(d, base: base, offset: off, size: s, signed: false)
            case .loadFrame(let d, let off, let s, true) where unsigned(d):
                return .loadFrame(d, offset: off, size: s, signed: false)
            case .setcc(let c, let d, let x, let y) where c == .eq || c == .ne:
                let (x2, y2) = zeroExtended(x, y)
                return x2 == x && y2 == y ? nil : .setcc(c, d, x2, y2)
            default: return nil
            }
        }
        if case .branch(let c, let x, let y, let t, let e) = f.terminator(of: b), c == .eq || c == .ne {
            let (x2, y2) = zeroExtended(x, y)
            f.setTerminator(.branch(c, x2, y2, then: t, else: e), ofBlock: b)
        }
    }
}
