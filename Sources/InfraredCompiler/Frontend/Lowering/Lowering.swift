import BPF
import InfraredBTF

/// `.rodata.str1.1`: NUL-terminated string literals, deduplicated, shared by
/// every program of the object.
struct StringPool {
    private(set) var bytes: [UInt8] = []
    private var offsets: [String: Int] = [:]
    mutating func offset(of s: String) -> Int {
        if let o = offsets[s] { return o }
        let o = bytes.count
        bytes += Array(s.utf8) + [0]
        offsets[s] = o
        return o
    }
}

/// What a value held in an mruby register is, as far as code generation cares.
enum Kind: Equatable {
    /// Not assigned on any path seen yet (reads as nil).
    case unset
    /// A 64-bit integer. `unsigned64`: a u64 that compares unsigned;
    /// `nonNegative`: known ≥ 0 (unsigned division and modulo are exact).
    case int(unsigned64: Bool, nonNegative: Bool)
    /// true/false, held as 1/0.
    case bool
    case `nil`
    /// The program's context pointer.
    case context
    /// A string literal (only usable where a helper takes `const char *`).
    case string(String)
    case symbol(String)
    /// `self` of the body (receiver of helper calls).
    case selfObject
    /// A block literal (`BLOCK` instruction), child irep index.
    case block(Int)
    /// `size` in `bpf_trace_printk(fmt, size, …)`: the format's length.
    case formatSize
    /// Different kinds on different paths.
    case mixed
    /// A declared map (`counts`), usable as a receiver.
    case map(String)
    /// A declared struct's name (`Event`), for `Event.new` and `reserve(Event)`.
    case structType(String)
    /// A pointer (in the register) to memory of a known layout: a map value,
    /// a ring buffer record. `nullable` until checked; `id` identifies the
    /// value across copies so a check refines every copy.
    case pointer(ValueType, nullable: Bool, id: Int)
    /// A struct on the BPF stack at R10+offset (`Event.new`).
    case frameObject(ValueType, offset: Int)
    /// A typed kernel pointer (`current_task`, `cast(:sock, x)`), read with CO-RE.
    case kernel(String)
    /// A member path inside a kernel struct not yet read (embedded structs):
    /// the register holds the pointer to the root struct.
    case kernelPath(root: String, path: [String], type: String)
    /// `comm`: the task's name, written into a char array.
    case comm
    /// A C string (`char *`) in kernel or user memory, held in the register.
    case cString(user: Bool)
    /// A ring buffer record after `submit`/`discard`.
    case released

    static let signedInt = Kind.int(unsigned64: false, nonNegative: false)

    func merged(with o: Kind) -> Kind {
        if self == o { return self }
        switch (self, o) {
        case (.unset, _): return o
        case (_, .unset): return self
        case (.int(let u1, let n1), .int(let u2, let n2)): return .int(unsigned64: u1 && u2, nonNegative: n1 && n2)
        case (.bool, .nil), (.nil, .bool): return .bool
        default: return .mixed
        }
    }

    var rubyName: String {
        switch self {
        case .unset, .nil: return "nil"
        case .int: return "Integer"
        case .bool: return "true/false"
        case .context: return "the context"
        case .string: return "String"
        case .symbol: return "Symbol"
        case .selfObject: return "self"
        case .block: return "a block"
        case .formatSize: return "`size`"
        case .mixed: return "a value of different types on different paths"
        case .map(let n): return "map `\(n)`"
        case .structType(let n): return "struct \(n)"
        case .pointer(let t, let n, _): return "\(n ? "a possibly-nil " : "a ")pointer to \(t)"
        case .frameObject(let t, _): return "a \(t) on the stack"
        case .kernel(let n): return "a struct \(n) pointer"
        case .kernelPath(let r, let p, _): return "\(r).\(p.joined(separator: "."))"
        case .comm: return "`comm`"
        case .cString: return "a C string"
        case .released: return "a record already submitted or discarded"
        }
    }
}

/// Turns one program body (an mruby irep) into an IRFunction.
///
/// Each mruby register becomes one virtual register. A forward analysis first
/// finds what kind of value each register holds at each block entry; the
/// second pass emits IR with those kinds known. `N.times do |i| … end` blocks
/// are inlined as counted loops.
final class Lowering {
    let session: MRubySession
    let path: String
    let sourceLines: [String]
    let declaration: ProgramDeclaration
    let context: ContextLayout?
    var strings: StringPool
    var function: IRFunction
    /// Current IR block receiving instructions.
    var current = 0
    /// Set while only computing kinds: emitted IR is thrown away.
    var analysing = false

    let language: Language
    /// Top-level `def`s bodies may call; inlined at each call.
    var functions: Set<String> = []
    /// The `def`s being inlined right now (recursion is an error).
    var inlining: [String] = []
    let core: CoreTypes
    /// Record structs per ringbuf/perf map, for the manifest.
    var records = RecordTypes()
    let kernelBTF: () throws -> KernelBTF
    /// Source of ids for possibly-nil pointers.
    var nextPointerID = 1
    /// Pointers the program must hand back (ring buffer records, looked-up
    /// sockets), by id, with the line that acquired them.
    var acquired: [Int: (line: Int, what: String)] = [:]

    init(session: MRubySession, path: String, sourceLines: [String], declaration: ProgramDeclaration,
         context: ContextLayout?, strings: StringPool, language: Language = Language(), core: CoreTypes = CoreTypes(),
         kernelBTF: @escaping () throws -> KernelBTF = { throw CompileFailure.internalError("no kernel BTF") }) {
        self.session = session; self.path = path; self.sourceLines = sourceLines
        self.declaration = declaration; self.context = context; self.strings = strings
        self.language = language; self.core = core; self.kernelBTF = kernelBTF
        function = IRFunction(name: declaration.name, context: VReg(id: 0), vregCount: 1)
        function.blocks = [IRBlock()]
    }

    // MARK: Frames

    /// An irep being lowered: the program body, or a block inlined into it.
    final class Frame {
        let irep: Irep
        let insns: [MInstruction]
        let index: [Int: Int]          // pc → instruction index
        var regs: [VReg]
        let parent: Frame?
        /// For an inlined `times` block: where `next` (RETURN) and `break` go.
        var nextBlock: Int? = nil
        var breakBlock: Int? = nil
        /// `m[k] += n` sequences, by the pcs of their `[]` and `[]=`.
        let atomic: [Int: AtomicIncrement]
        /// For an inlined `def`: where `return` goes and the register receiving the value.
        var returnTo: (block: Int, value: VReg)? = nil
        var returnKind: Kind = .unset
        /// Local registers standing for globals (written back) and params (read-only).
        var globalLocals: [Int: String] = [:]
        var paramLocals: [Int: String] = [:]
        init(irep: Irep, insns: [MInstruction], regs: [VReg], parent: Frame?) {
            self.irep = irep; self.insns = insns; self.regs = regs; self.parent = parent
            index = Dictionary(uniqueKeysWithValues: insns.enumerated().map { ($1.pc, $0) })
            atomic = findAtomicIncrements(insns, symbol: { irep.symbol($0) })
        }
    }

    func lower() throws -> (IRFunction, StringPool) {
        let body = declaration.body
        let insns = try decodeChecked(body)
        let regs = (0..<max(body.nregs, 2)).map { _ in function.newVReg() }
        let frame = Frame(irep: body, insns: insns, regs: regs, parent: nil)
        var entry = Array(repeating: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        // The context arrives in R1; the body's first parameter is R1 too.
        emit(.move(regs[1], .reg(function.context)), .none)
        entry[1] = .context
        // A local named like a global or param (`drops += 1` makes `drops` a
        // Ruby local) stands for it: read at entry, written back on assignment.
        for reg in 2..<max(body.nlocals, 2) {
            guard let name = body.localName(reg) else { continue }
            let type: ScalarType
            if let g = language.globals[name] { type = g.type; frame.globalLocals[reg] = name }
            else if let p = language.params[name] { type = p.type; frame.paramLocals[reg] = name }
            else { continue }
            entry[reg] = try loadVariable(name, type, regs[reg], .none)
        }
        try lowerFrame(frame, entryKinds: entry)
        return (function, strings)
    }

    func decodeChecked(_ irep: Irep) throws -> [MInstruction] {
        if irep.catchHandlerCount > 0 {
            throw error(irep, pc: 0, "`begin/rescue/ensure` is not available in a BPF program body",
                        hint: "BPF programs cannot raise or catch exceptions; check values with `if` instead")
        }
        do { return try decode(irep.code) } catch {
            throw CompileFailure.internalError("cannot decode mruby bytecode: \(error)")
        }
    }

    /// Lowers a frame: finds its basic blocks, computes register kinds to a
    /// fixed point, then emits each block. Returns the kinds at its exits.
    func lowerFrame(_ frame: Frame, entryKinds: [Kind]) throws {
        let insns = frame.insns
        guard !insns.isEmpty else { return }
        // Leaders: first instruction, jump targets, instructions after terminators.
        var leaders = Set([0])
        for (i, insn) in insns.enumerated() {
            if let t = insn.jumpTarget {
                guard let ti = frame.index[t] else { throw CompileFailure.internalError("jump into the middle of an instruction") }
                leaders.insert(ti)
            }
            if insn.isTerminator && i + 1 < insns.count { leaders.insert(i + 1) }
        }
        let starts = leaders.sorted()
        var blockOf: [Int: Int] = [:]
        for (b, s) in starts.enumerated() { blockOf[s] = b }
        func range(_ b: Int) -> Range<Int> { starts[b]..<(b + 1 < starts.count ? starts[b + 1] : insns.count) }

        // Pass 1: kinds to a fixed point (IR discarded).
        var entries = Array(repeating: [Kind]?.none, count: starts.count)
        entries[0] = entryKinds
        var work = [0]
        let savedFunction = function, savedCurrent = current, savedStrings = strings
        let wasAnalysing = analysing
        analysing = true
        var iterations = 0
        while let b = work.popLast() {
            iterations += 1
            if iterations > 10_000 { throw CompileFailure.internalError("kind analysis does not converge") }
            var kinds = entries[b]!
            let succ = (try? lowerBlock(frame, range(b), kinds: &kinds, blockOf: blockOf, irBlocks: nil)) ?? []
            for (s, edgeKinds) in succ {
                let merged = entries[s].map { zip($0, edgeKinds).map { $0.merged(with: $1) } } ?? edgeKinds
                if entries[s] != merged { entries[s] = merged; work.append(s) }
            }
        }
        analysing = wasAnalysing
        function = savedFunction; current = savedCurrent; strings = savedStrings

        // Pass 2: emit. Block 0 continues the current IR block.
        var irBlocks = [current]
        for _ in 1..<starts.count { irBlocks.append(newBlock()) }
        for b in 0..<starts.count {
            guard var kinds = entries[b] else { continue }   // unreachable in Ruby terms
            current = irBlocks[b]
            _ = try lowerBlock(frame, range(b), kinds: &kinds, blockOf: blockOf, irBlocks: irBlocks)
        }
        // Unreached mruby blocks leave empty IR blocks; give them a terminator.
        for b in irBlocks where function.blocks[b].terminator == .unreachable {
            function.blocks[b].terminator = .ret(.imm(0))
        }
    }

    func newBlock() -> Int {
        function.blocks.append(IRBlock())
        return function.blocks.count - 1
    }

    func emit(_ i: IRInstruction, _ loc: SourceLocation) {
        function.blocks[current].instructions.append((i, loc))
    }

    func terminate(_ t: Terminator, _ loc: SourceLocation) {
        if function.blocks[current].terminator == .unreachable {
            function.blocks[current].terminator = t
            function.blocks[current].terminatorLocation = loc
        }
    }

    // MARK: Instructions

    /// Lowers one mruby basic block; returns successor mruby block indices
    /// with the register kinds on each edge (a nil test refines pointers).
    func lowerBlock(_ frame: Frame, _ r: Range<Int>, kinds: inout [Kind], blockOf: [Int: Int], irBlocks: [Int]?) throws -> [(Int, [Kind])] {
        let insns = frame.insns
        let irep = frame.irep
        func target(_ pc: Int) -> Int { blockOf[frame.index[pc]!]! }
        func ir(_ mb: Int) -> Int { irBlocks?[mb] ?? 0 }
        for i in r {
            let insn = insns[i]
            let loc = location(irep, insn)
            let R = frame.regs
            func set(_ reg: Int, _ k: Kind) throws {
                guard reg < kinds.count else { throw CompileFailure.internalError("register out of range") }
                kinds[reg] = k
            }
            switch insn.op {
            case .nop, .enter, .debug:
                break
            case .move:
                emit(.move(R[insn.a], .reg(R[insn.b])), loc); try set(insn.a, kinds[insn.b])
            case .loadi, .loadineg, .loadi__1, .loadi_0, .loadi_1, .loadi_2, .loadi_3, .loadi_4, .loadi_5, .loadi_6, .loadi_7, .loadi16, .loadi32:
                let v: Int64
                switch insn.op {
                case .loadi: v = Int64(insn.b)
                case .loadineg: v = -Int64(insn.b)
                case .loadi__1: v = -1
                case .loadi16: v = Int64(Int16(truncatingIfNeeded: insn.b))
                case .loadi32: v = Int64(Int32(truncatingIfNeeded: (insn.b << 16) | insn.c))
                default: v = Int64(insn.op.rawValue - MRubyOpcode.loadi_0.rawValue)
                }
                try loadConstant(R[insn.a], v, loc); try set(insn.a, .int(unsigned64: false, nonNegative: v >= 0))
            case .loadl:
                switch irep.pool(insn.b) {
                case .int(let v): try loadConstant(R[insn.a], v, loc); try set(insn.a, .int(unsigned64: false, nonNegative: v >= 0))
                case .float:
                    throw error(irep, insn, "Float values are not available in a BPF program body",
                                hint: "BPF has no floating point; use integers (e.g. scale by 1000)")
                default: throw error(irep, insn, "unsupported literal", hint: nil)
                }
            case .loadnil: emit(.move(R[insn.a], .imm(0)), loc); try set(insn.a, .nil)
            case .loadt: emit(.move(R[insn.a], .imm(1)), loc); try set(insn.a, .bool)
            case .loadf: emit(.move(R[insn.a], .imm(0)), loc); try set(insn.a, .bool)
            case .loadself: try set(insn.a, .selfObject)
            case .loadsym: try set(insn.a, .symbol(irep.symbol(insn.b)))
            case .string:
                guard case .string(let s) = irep.pool(insn.b) else { throw error(irep, insn, "unsupported literal", hint: nil) }
                try set(insn.a, .string(s))
            case .getconst:
                let name = irep.symbol(insn.b)
                guard let value = session.constant(name) else {
                    throw error(irep, insn, "uninitialized constant \(name)", hint: "define it at the top level, e.g. \(name) = 64")
                }
                if case .symbol(let sym) = value, sym.hasPrefix("__infrared_struct_") {
                    try set(insn.a, .structType(String(sym.dropFirst("__infrared_struct_".count))))
                } else {
                    try loadValue(value, into: R[insn.a], kind: &kinds[insn.a], irep: irep, insn: insn, what: "constant \(name)")
                }
            case .getupvar:
                var f: Frame? = frame, level = insn.c
                while level > 0, let p = f?.parent { f = p; level -= 1 }
                if let p = f?.parent, level == 0 {
                    // An enclosing frame we are inlined into: its register.
                    emit(.move(R[insn.a], .reg(p.regs[insn.b])), loc)
                    try set(insn.a, upvarKind(p, insn.b) ?? .signedInt)
                } else {
                    // The top level (captured at build time): a constant.
                    guard let proc = declaration.procHandle,
                          let value = session.upvar(of: proc, up: level, index: insn.b) else {
                        throw error(irep, insn, "this variable is not available in the program body", hint: "use a constant or a param")
                    }
                    try loadValue(value, into: R[insn.a], kind: &kinds[insn.a], irep: irep, insn: insn, what: "top-level variable")
                }
            case .setupvar:
                var f: Frame? = frame, level = insn.c
                while level > 0, let p = f?.parent { f = p; level -= 1 }
                guard let p = f?.parent, level == 0 else {
                    throw error(irep, insn, "a program body cannot assign top-level variables",
                                hint: "top-level variables are build-time constants; use a `global` for state shared between runs")
                }
                try checkUpvarStore(p, insn.b, kinds[insn.a], irep, insn)
                emit(.move(p.regs[insn.b], .reg(R[insn.a])), loc)
            case .jmp:
                terminate(.jump(ir(target(insn.jumpTarget!))), loc)
                return [(target(insn.jumpTarget!), kinds)]
            case .jmpif, .jmpnot, .jmpnil:
                let t = target(insn.jumpTarget!), f = blockOf[i + 1]!
                let k = kinds[insn.a]
                if case .pointer(_, true, let id) = k {
                    // A nil test of a possibly-nil pointer: each edge knows the answer.
                    let nonNil = refine(kinds, id: id, nonNil: true), isNil = refine(kinds, id: id, nonNil: false)
                    let jumpWhenNonNil = insn.op == .jmpif
                    terminate(.branch(jumpWhenNonNil ? .ne : .eq, .reg(R[insn.a]), .imm(0), then: ir(t), else: ir(f)), loc)
                    return [(t, jumpWhenNonNil ? nonNil : isNil), (f, jumpWhenNonNil ? isNil : nonNil)]
                }
                if insn.op == .jmpnil {
                    // Only nil is nil here: every other kind we hold is never nil.
                    if k == .nil || k == .unset { terminate(.jump(ir(t)), loc); return [(t, kinds)] }
                    terminate(.jump(ir(f)), loc); return [(f, kinds)]
                }
                let truthy = try truthiness(k, irep, insn)
                let jumpWhenTrue = insn.op == .jmpif
                switch truthy {
                case .always(let v):
                    let taken = v == jumpWhenTrue
                    terminate(.jump(ir(taken ? t : f)), loc); return [(taken ? t : f, kinds)]
                case .test:
                    terminate(.branch(jumpWhenTrue ? .ne : .eq, .reg(R[insn.a]), .imm(0), then: ir(t), else: ir(f)), loc)
                    return [(t, kinds), (f, kinds)]
                }
            case .return, .return_blk:
                if insn.op == .return, let (join, value) = frame.returnTo {
                    // Return from an inlined `def`: its value goes to the caller's register.
                    emit(.move(value, try returnOperand(R[insn.a], kinds[insn.a], irep, insn)), loc)
                    frame.returnKind = frame.returnKind.merged(with: kinds[insn.a] == .unset ? .nil : kinds[insn.a])
                    terminate(.jump(join), loc)
                } else if insn.op == .return, let next = frame.nextBlock {
                    terminate(.jump(next), loc)    // `next` / end of a `times` block
                } else {
                    if !analysing {
                        for k in kinds {
                            if case .pointer(_, _, let id) = k, let a = acquired[id] {
                                throw error(irep, insn, "the \(a.what) from line \(a.line) is still held when the program returns here",
                                            hint: a.what.contains("record") ? "submit or discard it on every path" : "release it (sk_release) on every path")
                            }
                        }
                    }
                    terminate(.ret(try returnOperand(R[insn.a], kinds[insn.a], irep, insn)), loc)
                }
                return []
            case .break:
                guard let b = frame.breakBlock else { throw error(irep, insn, "`break` outside a loop", hint: nil) }
                terminate(.jump(b), loc); return []
            case .stop:
                terminate(.ret(.imm(0)), loc); return []
            case .add, .sub, .mul, .div, .eq, .lt, .le, .gt, .ge:
                let symbols: [MRubyOpcode: String] = [.add: "+", .sub: "-", .mul: "*", .div: "/", .eq: "==", .lt: "<", .le: "<=", .gt: ">", .ge: ">="]
                let sym = symbols[insn.op]!
                kinds[insn.a] = try binary(sym, dst: R[insn.a], lhs: (R[insn.a], kinds[insn.a]), rhs: (.reg(R[insn.a + 1]), kinds[insn.a + 1]), irep, insn, loc)
            case .addi, .subi:
                let sym = insn.op == .addi ? "+" : "-"
                kinds[insn.a] = try binary(sym, dst: R[insn.a], lhs: (R[insn.a], kinds[insn.a]), rhs: (.imm(Int64(insn.b)), .int(unsigned64: false, nonNegative: true)), irep, insn, loc)
            case .send, .ssend, .sendb, .ssendb:
                let (succ, k) = try send(frame, insn, kinds: &kinds, loc: loc)
                kinds[insn.a] = k
                if let succ { _ = succ }
            case .getidx:
                kinds[insn.a] = try mapIndex(frame, insn, receiver: insn.a, args: [insn.a + 1], set: false, kinds: &kinds, loc: loc)
            case .setidx:
                _ = try mapIndex(frame, insn, receiver: insn.a, args: [insn.a + 1, insn.a + 2], set: true, kinds: &kinds, loc: loc)
            case .block, .lambda:
                try set(insn.a, .block(insn.b))
            default:
                throw error(irep, insn, "`\(describe(insn.op))` is not available in a BPF program body",
                            hint: "program bodies use integers, locals, conditionals, loops, helpers and the context")
            }
            if ![.jmp, .jmpif, .jmpnot, .jmpnil, .return, .return_blk, .break, .setidx, .setupvar, .enter, .nop, .stop, .debug].contains(insn.op) {
                if let g = frame.globalLocals[insn.a] {
                    let v = try integerOperand((R[insn.a], kinds[insn.a]), irep, insn, what: "the value of global `\(g)`")
                    let a = function.newVReg()
                    emit(.variableAddress(a, name: g), loc)
                    emit(.store(base: a, offset: 0, value: v, size: language.globals[g]!.type.size), loc)
                } else if let p = frame.paramLocals[insn.a], !analysing {
                    throw error(irep, insn, "param `\(p)` is read-only in programs",
                                hint: "params are set before load (--\(p.replacing("_", with: "-"))); use a `global` for state", symbol: p)
                }
            }
            if i == r.upperBound - 1, insn.fallsThrough, i + 1 < insns.count {
                let n = blockOf[i + 1]!
                terminate(.jump(ir(n)), loc)
                return [(n, kinds)]
            }
        }
        return []
    }

    func upvarKind(_ frame: Frame, _ reg: Int) -> Kind? { upvarKinds[ObjectIdentifier(frame)]?[reg] }
    /// Kinds of enclosing frames' registers while a block is inlined into them.
    var upvarKinds: [ObjectIdentifier: [Kind]] = [:]

    func checkUpvarStore(_ frame: Frame, _ reg: Int, _ k: Kind, _ irep: Irep, _ insn: MInstruction) throws {
        guard let old = upvarKind(frame, reg) else { return }
        let merged = old.merged(with: k)
        if merged == .mixed && !analysing {
            throw error(irep, insn, "this block assigns \(k.rubyName) to a variable that holds \(old.rubyName)",
                        hint: "keep each variable one type inside loops")
        }
    }

    enum Truthiness { case always(Bool), test }

    func truthiness(_ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> Truthiness {
        switch k {
        case .bool: return .test
        case .nil, .unset: return .always(false)
        case .context, .string, .symbol, .selfObject, .block, .map, .structType, .frameObject, .kernel, .kernelPath, .comm,
             .cString, .pointer(_, false, _): return .always(true)
        case .pointer(_, true, _): return .test
        case .released:
            if analysing { return .test }
            throw error(irep, insn, "this record was already submitted or discarded", hint: "use a record before `submit`/`discard`")
        case .int:
            if analysing { return .test }
            throw error(irep, insn, "an Integer used as a condition is always true in Ruby",
                        hint: "compare it explicitly, e.g. `x != 0`")
        case .formatSize, .mixed:
            if analysing { return .test }
            throw error(irep, insn, "this condition mixes true/false with other values on different paths",
                        hint: "make both sides of `&&`/`||`/`?:` comparisons, or compare integers explicitly (`x != 0`)")
        }
    }

    func returnOperand(_ r: VReg, _ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> Operand {
        switch k {
        case .int, .bool: return .reg(r)
        case .nil, .unset: return .imm(0)
        default:
            if analysing { return .imm(0) }
            throw error(irep, insn, "a program must return an Integer, true/false or nil, not \(k.rubyName)",
                        hint: "the value of the body's last expression is the program's return value")
        }
    }

    func loadConstant(_ dst: VReg, _ v: Int64, _ loc: SourceLocation) throws {
        emit(.move(dst, .imm(v)), loc)
    }

    /// A build-time value (constant, top-level local) used in a body.
    func loadValue(_ value: RubyValue, into dst: VReg, kind: inout Kind, irep: Irep, insn: MInstruction, what: String) throws {
        let loc = location(irep, insn)
        switch value {
        case .int(let v): emit(.move(dst, .imm(v)), loc); kind = .int(unsigned64: false, nonNegative: v >= 0)
        case .true: emit(.move(dst, .imm(1)), loc); kind = .bool
        case .false: emit(.move(dst, .imm(0)), loc); kind = .bool
        case .nil: emit(.move(dst, .imm(0)), loc); kind = .nil
        case .string(let s): kind = .string(s)
        case .symbol(let s): kind = .symbol(s)
        default:
            throw error(irep, insn, "\(what) holds \(value), which a BPF program cannot use",
                        hint: "constants used in bodies must be Integers, true/false, nil or Strings")
        }
    }

    // MARK: Operators

    /// Lowers `lhs <op> rhs` into `dst`; returns the result's kind.
    func binary(_ op: String, dst: VReg, lhs: (VReg, Kind), rhs: (Operand, Kind), _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        let (l, lk) = lhs, (r, rk) = rhs
        if case .bool = lk, case .bool = rk, ["==", "!=", "&", "|", "^"].contains(op) {
            switch op {
            case "==": emit(.setcc(.eq, dst, .reg(l), r), loc)
            case "!=": emit(.setcc(.ne, dst, .reg(l), r), loc)
            case "&": emit(.binary(.and, dst, .reg(l), r), loc)
            case "|": emit(.binary(.or, dst, .reg(l), r), loc)
            default: emit(.binary(.xor, dst, .reg(l), r), loc)
            }
            return .bool
        }
        guard case .int(let lu, let ln) = lk, case .int(let ru, let rn) = rk else {
            if analysing { return .signedInt }
            let which = { () -> Kind in if case .int = lk { return rk }; return lk }()
            throw error(irep, insn, "`\(op)` needs Integer operands, not \(which.rubyName)",
                        hint: which == .bool ? "true/false are not numbers; use a conditional (`c ? 1 : 0`)" : nil)
        }
        // Comparisons are unsigned when a u64 meets a u64 or a non-negative value.
        let unsignedCompare = (lu && (ru || rn)) || (ru && (lu || ln))
        func cmp(_ s: Condition, _ u: Condition) -> Kind {
            emit(.setcc(unsignedCompare ? u : s, dst, .reg(l), r), loc); return .bool
        }
        let nonNegative = ln && rn
        let bothUnsigned = (lu || ln) && (ru || rn)
        switch op {
        case "+": emit(.binary(.add, dst, .reg(l), r), loc); return .signedInt
        case "-": emit(.binary(.sub, dst, .reg(l), r), loc); return .signedInt
        case "*": emit(.binary(.mul, dst, .reg(l), r), loc); return .signedInt
        case "/": emit(.binary(bothUnsigned ? .udiv : .sdiv, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && bothUnsigned, nonNegative: nonNegative)
        case "%": emit(.binary(bothUnsigned ? .umod : .smod, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && bothUnsigned, nonNegative: nonNegative || (bothUnsigned && !lu))
        case "&": emit(.binary(.and, dst, .reg(l), r), loc)
            return .int(unsigned64: lu && ru, nonNegative: ln || rn)
        case "|": emit(.binary(.or, dst, .reg(l), r), loc); return .int(unsigned64: lu && ru, nonNegative: nonNegative)
        case "^": emit(.binary(.xor, dst, .reg(l), r), loc); return .int(unsigned64: lu && ru, nonNegative: nonNegative)
        case "<<": try shift(.shl, dst, l, r, loc); return .signedInt
        case ">>": try shift(lu || ln ? .lshr : .ashr, dst, l, r, loc); return .int(unsigned64: lu, nonNegative: ln || lu)
        case "==", "===": return cmp(.eq, .eq)
        case "!=": return cmp(.ne, .ne)
        case "<": return cmp(.slt, .ult)
        case "<=": return cmp(.sle, .ule)
        case ">": return cmp(.sgt, .ugt)
        case ">=": return cmp(.sge, .uge)
        default:
            throw error(irep, insn, "Integer#\(op) is not available in a BPF program body",
                        hint: "available: + - * / % & | ^ << >> == != < <= > >=")
        }
    }

    /// Shifts with Ruby's meaning for counts ≥ 64 (all bits shifted out) and
    /// negative constant counts (the other direction).
    func shift(_ op: BinaryOp, _ dst: VReg, _ l: VReg, _ r: Operand, _ loc: SourceLocation) throws {
        if case .imm(let n) = r {
            if n < 0 {
                let back: BinaryOp = op == .shl ? .ashr : .shl
                emit(.binary(back, dst, .reg(l), .imm(n == .min ? 64 : -n)), loc)
            } else {
                emit(.binary(op, dst, .reg(l), .imm(n)), loc)
            }
            return
        }
        if case .reg(let c) = r, countBelow64(c) {
            emit(.binary(op, dst, .reg(l), r), loc)
            return
        }
        // Variable count: BPF masks it to 0…63; Ruby shifts everything out.
        // Clamp (unsigned) counts ≥ 64: shl/lshr give 0, ashr gives the sign.
        let big = function.newVReg(), t = function.newVReg()
        emit(.binary(op, t, .reg(l), r), loc)
        emit(.setcc(.ugt, big, r, .imm(63)), loc)
        if op == .ashr {
            let sign = function.newVReg(), mask = function.newVReg(), keep = function.newVReg(), fill = function.newVReg()
            emit(.binary(.ashr, sign, .reg(l), .imm(63)), loc)
            emit(.neg(mask, .reg(big)), loc)                       // -1 when count ≥ 64
            emit(.binary(.and, fill, .reg(sign), .reg(mask)), loc)
            emit(.binary(.xor, keep, .reg(mask), .imm(-1)), loc)
            emit(.binary(.and, t, .reg(t), .reg(keep)), loc)
            emit(.binary(.or, dst, .reg(t), .reg(fill)), loc)
        } else {
            let keep = function.newVReg()
            emit(.binary(.sub, keep, .reg(big), .imm(1)), loc)     // 0 when count ≥ 64, else -1
            emit(.binary(.and, dst, .reg(t), .reg(keep)), loc)
        }
    }

    /// Whether a shift count is known to be 0…63: it was just masked with a
    /// constant below 64 (`x >> (i & 7)`), in this block.
    func countBelow64(_ r: VReg) -> Bool {
        var target = r
        for (i, _) in function.blocks[current].instructions.reversed() where i.definition == target {
            switch i {
            case .binary(.and, _, _, .imm(let k)), .binary(.and, _, .imm(let k), _): return k >= 0 && k < 64
            case .binary(.and, _, .reg(let a), .reg(let b)):
                if let k = constantOf(b) ?? constantOf(a) { return k >= 0 && k < 64 }
                return false
            case .binary(.umod, _, _, .imm(let k)): return k > 0 && k <= 64
            case .move(_, .reg(let s)): target = s
            case .move(_, .imm(let k)): return k >= 0 && k < 64
            default: return false
            }
        }
        return false
    }

    // MARK: Calls

    /// Method calls: operators, context fields, helpers, `N.times`.
    func send(_ frame: Frame, _ insn: MInstruction, kinds: inout [Kind], loc: SourceLocation) throws -> (Int?, Kind) {
        let irep = frame.irep, R = frame.regs
        let name = irep.symbol(insn.b)
        let argc = insn.c & 0x0f, kwargc = (insn.c >> 4) & 0x0f
        let hasBlock = insn.op == .sendb || insn.op == .ssendb
        if argc == 15 || kwargc != 0 {
            throw error(irep, insn, "splat and keyword arguments are not available in a BPF program body", hint: nil, symbol: name)
        }
        let selfCall = insn.op == .ssend || insn.op == .ssendb
        let receiver: Kind = selfCall ? .selfObject : kinds[insn.a]
        let args = (0..<argc).map { (R[insn.a + 1 + $0], kinds[insn.a + 1 + $0]) }

        if receiver == .selfObject, functions.contains(name), !hasBlock {
            return (nil, try inlineFunction(name, frame: frame, insn: insn, argRegs: (0..<argc).map { insn.a + 1 + $0 }, kinds: kinds, loc: loc))
        }
        if let k = try sendLanguage(frame, insn, name: name, receiver: receiver, argRegs: (0..<argc).map { insn.a + 1 + $0 },
                                    hasBlock: hasBlock, kinds: &kinds, loc: loc) {
            return (nil, k)
        }
        if receiver == .selfObject {
            if hasBlock {
                throw error(irep, insn, "`\(name)` does not take a block in a BPF program body", hint: nil, symbol: name)
            }
            // Helpers take pointers that are not nil: check possibly-nil ones first.
            var checked = args
            for (i, a) in args.enumerated() {
                if case .pointer(_, true, _) = a.1 {
                    checked[i].1 = ensureNonNil(a.0, &kinds, a.1, loc)
                }
            }
            let result = try selfCallLowering(name, args: checked, dst: R[insn.a], irep: irep, insn: insn, loc: loc)
            // Helpers that hand a reference back: every copy of it is gone.
            if let proto = HelperPrototype.named(name), ["bpf_ringbuf_submit", "bpf_ringbuf_discard", "bpf_sk_release"].contains(proto.name),
               let first = checked.first, case .pointer(_, _, let id) = first.1 {
                kinds = kinds.map { if case .pointer(_, _, let i) = $0, i == id { return .released }; return $0 }
            }
            return (nil, result)
        }
        if case .context = receiver {
            guard argc == 0, !hasBlock else {
                throw error(irep, insn, "context field `\(name)` takes no arguments", hint: nil, symbol: name)
            }
            return (nil, try contextField(name, base: R[insn.a], dst: R[insn.a], irep: irep, insn: insn, loc: loc))
        }
        if case .int = receiver, name == "times", hasBlock, argc == 0 {
            guard case .block(let child) = kinds[insn.a + 1] else {
                throw error(irep, insn, "`times` needs a literal block", hint: "N.times do |i| … end", symbol: name)
            }
            try timesLoop(frame, count: R[insn.a], child: irep.child(child), kinds: kinds, loc: loc)
            return (nil, receiver)
        }
        if hasBlock {
            throw error(irep, insn, "a block passed to `\(name)` cannot be compiled to BPF",
                        hint: "the only block-taking method in bodies is Integer#times", symbol: name)
        }
        if argc == 1 {
            return (nil, try binary(name, dst: R[insn.a], lhs: (R[insn.a], receiver), rhs: (.reg(args[0].0), args[0].1), irep, insn, loc))
        }
        if argc == 0 {
            switch (name, receiver) {
            case ("-@", .int):
                emit(.neg(R[insn.a], .reg(R[insn.a])), loc); return (nil, .signedInt)
            case ("+@", .int): return (nil, receiver)
            case ("~", .int(let u, _)):
                emit(.binary(.xor, R[insn.a], .reg(R[insn.a]), .imm(-1)), loc); return (nil, .int(unsigned64: u, nonNegative: false))
            case ("!", .bool):
                emit(.binary(.xor, R[insn.a], .reg(R[insn.a]), .imm(1)), loc); return (nil, .bool)
            case ("!", .nil), ("!", .unset):
                emit(.move(R[insn.a], .imm(1)), loc); return (nil, .bool)
            case ("!", .int):
                if analysing { return (nil, .bool) }
                throw error(irep, insn, "`!` of an Integer is always false in Ruby", hint: "compare explicitly, e.g. `x == 0`", symbol: name)
            case ("zero?", .int):
                emit(.setcc(.eq, R[insn.a], .reg(R[insn.a]), .imm(0)), loc); return (nil, .bool)
            default: break
            }
        }
        if analysing { return (nil, .signedInt) }
        let what: String
        switch receiver {
        case .string: what = "String methods are not available in a BPF program body"
        default: what = "`\(name)` is not available on \(receiver.rubyName) in a BPF program body"
        }
        throw error(irep, insn, what, hint: "bodies compile integers, comparisons, the context's fields and BPF helpers", symbol: name)
    }

    /// Calls on `self`: BPF helpers and the language's conveniences.
    func selfCallLowering(_ name: String, args: [(VReg, Kind)], dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        func helperID(_ n: String) -> Int32 { HelperPrototype.named(n)!.id }
        func noArgs() throws {
            if !args.isEmpty { throw error(irep, insn, "`\(name)` takes no arguments", hint: nil, symbol: name) }
        }
        switch name {
        case "size":
            try noArgs(); return .formatSize
        case "pid", "tid":
            try noArgs()
            emit(.call(dst, helper: helperID("get_current_pid_tgid"), args: []), loc)
            if name == "pid" { emit(.binary(.lshr, dst, .reg(dst), .imm(32)), loc) } else { emit(.binary(.and, dst, .reg(dst), .imm(0xffff_ffff)), loc) }
            return .int(unsigned64: false, nonNegative: true)
        case "uid", "gid":
            try noArgs()
            emit(.call(dst, helper: helperID("get_current_uid_gid"), args: []), loc)
            if name == "gid" { emit(.binary(.lshr, dst, .reg(dst), .imm(32)), loc) } else { emit(.binary(.and, dst, .reg(dst), .imm(0xffff_ffff)), loc) }
            return .int(unsigned64: false, nonNegative: true)
        case "cpu":
            try noArgs(); emit(.call(dst, helper: helperID("get_smp_processor_id"), args: []), loc)
            return .int(unsigned64: false, nonNegative: true)
        case "ktime_ns":
            try noArgs(); emit(.call(dst, helper: helperID("ktime_get_ns"), args: []), loc)
            return .int(unsigned64: true, nonNegative: true)
        case "printk":
            guard let first = args.first, case .string(let fmt) = first.1 else {
                throw error(irep, insn, "`printk` needs a format string literal first", hint: "printk(\"pid %d\\n\", pid)", symbol: name)
            }
            guard args.count <= 4 else {
                throw error(irep, insn, "`printk` takes at most 3 values after the format", hint: "bpf_trace_printk prints at most 3 arguments", symbol: name)
            }
            var full: [(Operand, Kind)] = [(.reg(first.0), first.1), (.imm(Int64(fmt.utf8.count + 1)), .int(unsigned64: false, nonNegative: true))]
            full += args.dropFirst().map { (.reg($0.0), $0.1) }
            return try helperCall(HelperPrototype.named("trace_printk")!, args: full, dst: dst, irep: irep, insn: insn, loc: loc, spelled: name)
        default:
            guard let proto = HelperPrototype.named(name) else {
                if analysing { return .signedInt }
                throw error(irep, insn, "undefined method `\(name)` in a BPF program body",
                            hint: "helpers are called by their name with or without `bpf_` (e.g. ktime_get_ns); conveniences: pid tid uid gid cpu ktime_ns printk",
                            symbol: name)
            }
            return try helperCall(proto, args: args.map { (.reg($0.0), $0.1) }, dst: dst, irep: irep, insn: insn, loc: loc, spelled: name)
        }
    }

    /// A helper call, arguments checked against its prototype.
    func helperCall(_ proto: HelperPrototype, args: [(Operand, Kind)], dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation, spelled: String) throws -> Kind {
        let sig = "\(proto.name)(" + proto.parameters.map { "\($0.cType) \($0.name)" }.joined(separator: ", ") + ")"
        let variadicPrintk = proto.name == "bpf_trace_printk"
        if variadicPrintk ? (args.count < 2 || args.count > 5) : args.count != proto.parameters.count {
            if analysing { return .signedInt }
            throw error(irep, insn, "`\(spelled)` takes \(variadicPrintk ? "a format, its size and up to 3 values" : "\(proto.parameters.count) argument\(proto.parameters.count == 1 ? "" : "s")"), given \(args.count)",
                        hint: sig, symbol: spelled)
        }
        var lastString: String? = nil
        var operands: [Operand] = []
        for (i, (op, k)) in args.enumerated() {
            let param = i < proto.parameters.count ? proto.parameters[i] : HelperPrototype.Parameter(name: "arg\(i)", cType: "u64", kind: .scalar)
            switch (param.kind, k) {
            case (.pointer, .string(let s)) where param.cType.contains("char"):
                let t = function.newVReg()
                emit(.stringAddress(t, offset: strings.offset(of: s)), loc)
                operands.append(.reg(t)); lastString = s
            case (.pointer, .context), (.pointer, .kernel), (.pointer, .cString), (.pointer, .pointer(_, false, _)):
                operands.append(op)
            case (.pointer, .nil):
                operands.append(.imm(0))
            case (.pointer, .map(let name)):
                let t = function.newVReg()
                emit(.mapAddress(t, name: name), loc)
                operands.append(.reg(t))
            case (.pointer, .frameObject(_, let off)):
                let t = function.newVReg()
                emit(.frameAddress(t, offset: off), loc)
                operands.append(.reg(t))
            case (.pointer, .int) where ["unsafe_ptr", "user_ptr", "unsafe_addr"].contains(param.name):
                // The kernel takes any address here (ARG_ANYTHING): probe reads of raw addresses.
                operands.append(op)
            case (.scalar, .pointer(_, false, _)), (.scalar, .kernel), (.scalar, .cString):
                // An address passed where the prototype says integer (e.g. unsafe_ptr as u64).
                operands.append(op)
            case (.scalar, .formatSize):
                guard let s = lastString else { fallthrough }
                operands.append(.imm(Int64(s.utf8.count + 1)))
            case (.scalar, .int), (.scalar, .bool):
                operands.append(op)
            case (.scalar, .nil):
                operands.append(.imm(0))
            default:
                if analysing { operands.append(.imm(0)); continue }
                throw error(irep, insn, "argument \(i + 1) of `\(spelled)` (\(param.cType) \(param.name)) cannot be \(k.rubyName)",
                            hint: sig, symbol: spelled)
            }
        }
        // A stack struct passed with a constant size larger than it: the verifier
        // would reject the out-of-bounds write; say it here.
        for (i, (_, k)) in args.enumerated() where i + 1 < args.count && i + 1 < proto.parameters.count {
            guard case .frameObject(let t, _) = k, proto.parameters[i + 1].kind == .scalar,
                  ["size", "len", "size_of_buf", "buf_size", "sz"].contains(proto.parameters[i + 1].name),
                  let n = { () -> Int64? in
                      switch operands[i + 1] { case .imm(let v): return v; case .reg(let r): return constantOf(r) }
                  }() else { continue }
            let size = language.size(of: t)
            if n > Int64(size), !analysing {
                throw error(irep, insn, "`\(spelled)` would write \(n) bytes into a \(size)-byte \(t)",
                            hint: "pass a size of at most \(size), or declare a larger struct", symbol: spelled)
            }
        }
        emit(.call(proto.returnKind == .void ? nil : dst, helper: proto.id, args: operands), loc)
        switch proto.returnKind {
        case .void: emit(.move(dst, .imm(0)), loc); return .nil
        case .pointer:
            // An opaque pointer (a socket, a task…): passed on to other helpers,
            // checked for nil before use like a map lookup's.
            defer { nextPointerID += 1 }
            if proto.name.hasPrefix("bpf_sk_lookup") || proto.name.hasPrefix("bpf_skc_lookup") || proto.name == "bpf_ringbuf_reserve" {
                acquired[nextPointerID] = (loc.line, proto.name == "bpf_ringbuf_reserve" ? "ring buffer record" : "socket reference")
            }
            return .pointer(.chars(0), nullable: true, id: nextPointerID)
        case .scalar:
            let t = proto.returnCType
            if t.contains("u64") { return .int(unsigned64: true, nonNegative: true) }
            return .int(unsigned64: false, nonNegative: t.hasPrefix("__u") || t.contains("unsigned"))
        }
    }

    /// `ctx.field`: a load of the field's exact size at its constant offset
    /// (the verifier requires both for context accesses).
    func contextField(_ name: String, base: VReg, dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        guard let layout = context else {
            throw error(irep, insn, "this program's context has no fields known to the compiler", hint: nil, symbol: name)
        }
        guard let f = layout.fields.first(where: { $0.name == name }) else {
            throw error(irep, insn, "struct \(layout.structName) has no field `\(name)`",
                        hint: "fields: " + layout.fields.map(\.name).joined(separator: ", "), symbol: name)
        }
        guard [1, 2, 4, 8].contains(f.size) else {
            throw error(irep, insn, "field `\(name)` of struct \(layout.structName) is not an integer", hint: nil, symbol: name)
        }
        switch f.use {
        case .integer:
            emit(.load(dst, base: base, offset: f.offset, size: f.size, signed: f.signed), loc)
            return .int(unsigned64: f.size == 8 && !f.signed, nonNegative: !f.signed || f.size == 8 && !f.signed)
        case .dataLocString:
            // The record's offset of the string is the low 16 bits of the u32.
            let loc32 = function.newVReg()
            emit(.load(loc32, base: base, offset: f.offset, size: 4, signed: false), loc)
            emit(.binary(.and, loc32, .reg(loc32), .imm(0xffff)), loc)
            emit(.binary(.add, dst, .reg(base), .reg(loc32)), loc)
            return .cString(user: false)
        case .stringPointer(let user):
            emit(.load(dst, base: base, offset: f.offset, size: 8, signed: false), loc)
            return .cString(user: user)
        case .kernelPointer(let s):
            emit(.load(dst, base: base, offset: f.offset, size: 8, signed: false), loc)
            return .kernel(s)
        }
    }

    /// A call of a top-level `def`, inlined: its arguments become its first
    /// registers, each `return` (or the last value) lands in the caller's register.
    func inlineFunction(_ name: String, frame: Frame, insn: MInstruction, argRegs: [Int], kinds: [Kind], loc: SourceLocation) throws -> Kind {
        let irep = frame.irep
        guard !inlining.contains(name) else {
            throw error(irep, insn, "`\(name)` calls itself (through \(inlining.joined(separator: " → "))); BPF programs cannot recurse",
                        hint: "write the recursion as a bounded loop", symbol: name)
        }
        guard let body = session.methodIrep(name) else { throw CompileFailure.internalError("no irep for def \(name)") }
        let insns = try decodeChecked(body)
        if let enter = insns.first, enter.op == .enter {
            let required = (enter.a >> 18) & 0x1f, optional = (enter.a >> 13) & 0x1f, rest = (enter.a >> 12) & 1
            guard optional == 0, rest == 0, required == argRegs.count else {
                throw error(irep, insn, "`\(name)` takes \(required) argument\(required == 1 ? "" : "s"), given \(argRegs.count)",
                            hint: optional != 0 || rest != 0 ? "functions called from programs take plain positional arguments" : nil, symbol: name)
            }
        }
        let regs = (0..<max(body.nregs, argRegs.count + 2)).map { _ in function.newVReg() }
        let sub = Frame(irep: body, insns: insns, regs: regs, parent: nil)
        var entry = Array(repeating: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        for (i, r) in argRegs.enumerated() {
            emit(.move(regs[i + 1], .reg(frame.regs[r])), loc)
            entry[i + 1] = kinds[r]
        }
        let join = newBlock()
        sub.returnTo = (join, frame.regs[insn.a])
        inlining.append(name)
        defer { inlining.removeLast() }
        try lowerFrame(sub, entryKinds: entry)
        current = join
        switch sub.returnKind {
        case .unset: return .nil
        case .mixed:
            if analysing { return .signedInt }
            throw error(irep, insn, "`\(name)` returns values of different types", hint: "return Integers (or true/false) on every path", symbol: name)
        default: return sub.returnKind
        }
    }

    /// `count.times do |i| … end`, the block's irep inlined as a counted loop.
    func timesLoop(_ frame: Frame, count: VReg, child: Irep, kinds: [Kind], loc: SourceLocation) throws {
        let insns = try decodeChecked(child)
        let i = function.newVReg()
        let regs = (0..<max(child.nregs, 2)).map { _ in function.newVReg() }
        let sub = Frame(irep: child, insns: insns, regs: regs, parent: frame)
        emit(.move(i, .imm(0)), loc)
        let header = newBlock(), body = newBlock(), latch = newBlock(), exit = newBlock()
        terminate(.jump(header), loc)
        current = header
        terminate(.branch(.slt, .reg(i), .reg(count), then: body, else: exit), loc)
        current = body
        sub.nextBlock = latch; sub.breakBlock = exit
        emit(.move(regs[1], .reg(i)), loc)
        var entry = Array(repeating: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        entry[1] = .int(unsigned64: false, nonNegative: true)
        let key = ObjectIdentifier(frame)
        let saved = upvarKinds[key]
        upvarKinds[key] = kinds
        defer { upvarKinds[key] = saved }
        try lowerFrame(sub, entryKinds: entry)
        current = latch
        emit(.binary(.add, i, .reg(i), .imm(1)), loc)
        terminate(.jump(header), loc)
        current = exit
    }

    // MARK: Diagnostics

    func location(_ irep: Irep, _ insn: MInstruction, symbol: String? = nil) -> SourceLocation {
        let line = max(irep.line(at: insn.pc), 1)
        return SourceLocation(line: line, column: column(line: line, symbol: symbol ?? sendSymbol(irep, insn)))
    }

    func sendSymbol(_ irep: Irep, _ insn: MInstruction) -> String? {
        [.send, .ssend, .sendb, .ssendb, .getconst].contains(insn.op) && insn.b < irep.symbolCount ? irep.symbol(insn.b) : nil
    }

    /// mruby keeps lines but not columns: the column is where the construct's
    /// name appears on the line, else the line's first non-blank character.
    func column(line: Int, symbol: String?) -> Int {
        guard line >= 1, line <= sourceLines.count else { return 1 }
        let text = sourceLines[line - 1]
        if let symbol, !symbol.isEmpty, let r = text.firstRange(of: symbol) {
            return text.distance(from: text.startIndex, to: r.lowerBound) + 1
        }
        return (text.firstIndex(where: { $0 != " " && $0 != "\t" }).map { text.distance(from: text.startIndex, to: $0) } ?? 0) + 1
    }

    func error(_ irep: Irep, _ insn: MInstruction, _ message: String, hint: String?, symbol: String? = nil) -> Diagnostic {
        let loc = location(irep, insn, symbol: symbol)
        return Diagnostic(file: path, line: loc.line, column: loc.column, message: message, hint: hint)
    }

    func error(_ irep: Irep, pc: Int, _ message: String, hint: String?) -> Diagnostic {
        let line = max(irep.line(at: pc), 1)
        return Diagnostic(file: path, line: line, column: column(line: line, symbol: nil), message: message, hint: hint)
    }

    func describe(_ op: MRubyOpcode) -> String {
        switch op {
        case .getidx, .setidx: return "[] / []="
        case .array, .array2, .arycat, .arypush, .arydup, .aref, .aset, .apost: return "Array"
        case .hash, .hashadd, .hashcat: return "Hash"
        case .strcat: return "string interpolation"
        case .range_inc, .range_exc: return "Range"
        case .getgv, .setgv: return "$global variable"
        case .getiv, .setiv: return "@instance variable"
        case .getcv, .setcv: return "@@class variable"
        case .class, .module, .sclass, .oclass, .tclass, .exec: return "class/module definition"
        case .method, .def: return "def inside a body"
        case .super, .argary: return "super"
        case .intern, .symbol: return "dynamic Symbol"
        default: return op.name.lowercased()
        }
    }
}

/// Failures that are the compiler's own fault, never the user's.
enum CompileFailure: Error, CustomStringConvertible {
    case internalError(String)
    var description: String {
        switch self { case .internalError(let m): return "internal compiler error: \(m)" }
    }
}
