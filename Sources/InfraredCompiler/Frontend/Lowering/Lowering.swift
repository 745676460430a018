import BPF
import InfraredBTF

/// Turns one program body (an mruby irep) into an IRFunction.
///
/// Each mruby register becomes one virtual register. For each frame (the
/// body, an inlined `def`, an inlined `N.times do |i| … end` block) the
/// register kinds at each block entry come first, from `analyseKinds`
/// (KindAnalysis.swift); then each block is emitted with them known, one
/// instruction at a time through `lowerInstruction`'s dispatch.
///
/// The concerns live in the files beside this one: Frames (frames, inlined
/// `def`s and `times` loops, stack slots), Values (literals, constants,
/// params and globals), Operators (arithmetic, comparisons), Branches (jumps,
/// returns), Calls (method calls, helpers, conveniences), Structs, Maps,
/// KernelPointers (CO-RE), ContextFields, Strings, Diagnostics, ImplicitMaps
/// (`@name`).
final class Lowering {
    // The inputs, read-only.
    let session: MRubySession
    let path: String
    let sourceLines: [String]
    let declaration: ProgramDeclaration
    let context: ContextLayout?
    let language: Language
    let kernelBTF: () throws -> KernelBTF
    /// Top-level `def`s bodies may call; inlined at each call.
    let functions: Set<String>

    // What the file's programs build together (shared objects, filled by each).
    let core: CoreTypes
    /// Record structs per ringbuf/perf map, for the manifest.
    let records: RecordTypes
    /// The implicit maps (`@name`) the bodies use.
    let implicitMaps: ImplicitMaps

    /// False in the scratch copy `analyseKinds` runs: the kinds are still
    /// growing toward their fixed point, so an error that depends on them is
    /// not reported yet (see `unsettled`).
    let kindsSettled: Bool
    /// `CompileOptions.analyseEveryFrame`.
    let analyseEveryFrame: Bool

    // The state, one struct per concern.
    /// The IR being built.
    var ir: IRBuilder
    /// Ids of possibly-nil pointers, and the references the program must hand back.
    var pointers = PointerIdentities()
    /// The `def`s and blocks being inlined.
    var scope = InlineScope()
    /// Stack the string compares share (StringCompare.swift).
    var stringScratch = StringScratch()
    /// Ids of the `Struct.new` sites (frame path and pc), shared with the
    /// analysis's scratch copies so a kind names the same site in both.
    let structSites: StructSites
    /// The stack offset of each struct site this lowering allocated.
    var structOffsets: [Int: Int] = [:]
    /// Helper ids by the name asked for (`helperID`): each map operation
    /// asks for two or three, and the prototype table's lookup builds the
    /// `bpf_` spelling and copies a prototype every time.
    var helperIDs: [String: Int32] = [:]
    /// The stack word scalar `user_read`s copy through (UserMemory.swift).
    var userReadSlot: Int?
    /// Each source line's bytes when it is ASCII without CR (`column`
    /// searches them), filled as lines are asked for.
    var asciiLines = AsciiLines()

    init(session: MRubySession, path: String, sourceLines: [String], declaration: ProgramDeclaration,
         context: ContextLayout?, strings: StringPool, language: Language = Language(), functions: Set<String> = [],
         core: CoreTypes = CoreTypes(), records: RecordTypes = RecordTypes(), implicitMaps: ImplicitMaps = ImplicitMaps(),
         kernelBTF: @escaping () throws -> KernelBTF = { throw CompileFailure.internalError("no kernel BTF") },
         analyseEveryFrame: Bool = false) {
        self.session = session; self.path = path; self.sourceLines = sourceLines
        self.declaration = declaration; self.context = context
        self.language = language; self.functions = functions; self.core = core; self.records = records; self.implicitMaps = implicitMaps; self.kernelBTF = kernelBTF
        structSites = StructSites()
        kindsSettled = true
        self.analyseEveryFrame = analyseEveryFrame
        var function = IRFunction(name: declaration.name, context: VReg(id: 0), vregCount: 1)
        function.blocks = [IRBlock()]
        // Tracing contexts (a tracepoint's record, pt_regs, perf_event data,
        // BTF arguments) stay as they are while the program runs; a packet's
        // may not (helpers resize or rewrite it).
        function.contextReadOnly = [.tracepoint, .rawTracepoint, .kprobe, .perfEvent, .tracing, .lsm].contains(declaration.kind.programType)
        // fentry/fexit/tp_btf/lsm arguments that point to kernel structs are
        // BTF pointers the verifier lets a program load through directly
        // (`__nullable` ones need a nil test first: left to probe reads).
        if [.tracing, .lsm].contains(declaration.kind.programType), let context {
            function.btfPointerArguments = Set(context.fields.filter {
                if case .kernelPointer = $0.use { return $0.size == 8 && !$0.name.contains("nullable") }
                return false
            }.map(\.offset))
        }
        // XDP and tc programs may load packet bytes a bounds check against
        // `data_end` covers (cgroup_skb too, read-only, but it needs
        // CAP_PERFMON-style checks the verifier applies per kernel: left out).
        if [.xdp, .schedCls, .schedAct].contains(declaration.kind.programType), let context,
           let data = context.fields.first(where: { $0.name == "data" && $0.size == 4 }),
           let end = context.fields.first(where: { $0.name == "data_end" && $0.size == 4 }) {
            function.packetFields = PacketFields(data: data.offset, end: end.offset)
        }
        ir = IRBuilder(function: function, strings: strings)
    }

    /// The scratch copy `analyseKinds` lowers blocks with: the same inputs
    /// and state; its IR is thrown away with it.
    init(scratchOf l: Lowering) {
        session = l.session; path = l.path; sourceLines = l.sourceLines; declaration = l.declaration; context = l.context
        language = l.language; kernelBTF = l.kernelBTF; functions = l.functions
        core = l.core; records = l.records; implicitMaps = l.implicitMaps
        kindsSettled = false
        analyseEveryFrame = l.analyseEveryFrame
        ir = IRBuilder(scratchOf: l.ir); pointers = l.pointers; scope = l.scope; stringScratch = l.stringScratch
        structSites = l.structSites; structOffsets = l.structOffsets; userReadSlot = l.userReadSlot
    }

    func lower() throws -> (IRFunction, StringPool) {
        let body = declaration.body
        let insns = try decodeChecked(body)
        let regs = (0..<max(body.nregs, 2)).map { _ in newVReg() }
        let locals = Frame.Locals(body, language)
        let frame = Frame(irep: body, insns: insns, regs: regs, parent: nil, locals: locals)
        var entry = Array(filled: Kind.unset, count: regs.count)
        entry[0] = .selfObject
        // The context arrives in R1; the body's first parameter is R1 too.
        emit(.move(regs[1], .reg(ir.function.context)), .none)
        entry[1] = .context
        // A local named like a global or param (`drops += 1` makes `drops` a
        // Ruby local) stands for it: read at entry, written back on assignment.
        for reg in 2..<max(body.nlocals, 2) {
            guard let name = locals.globals[reg] ?? locals.params[reg] else { continue }
            let type = language.globals[name]?.type ?? language.params[name]!.type
            entry[reg] = try loadVariable(name, type, regs[reg], .none)
        }
        try lowerFrame(frame, entryKinds: entry)
        return (ir.function, ir.strings)
    }

    /// Lowers a frame: its basic blocks, the register kinds at their entries
    /// (`analyseKinds`), then each block emitted.
    ///
    /// A frame whose jumps all go forward (no loop: most bodies) needs no
    /// analysis first: in block order every block's predecessors come before
    /// it, so the merge of the kinds they hand it is its entry when its turn
    /// comes, which is the analysis's fixed point. Each block is then lowered
    /// once (the analysis lowered it in a scratch copy first only to find its
    /// entry: a third of the lowering of a straight body of 1,000 map updates).
    func lowerFrame(_ frame: Frame, entryKinds: [Kind]) throws {
        guard !frame.insns.isEmpty else { return }
        let graph = try BlockGraph(frame)
        let forwardOnly = !analyseEveryFrame && graph.jumpsOnlyForward
        var entries: [[Kind]?]
        if forwardOnly {
            entries = Array(filled: nil, count: graph.count)
            entries[0] = entryKinds
        } else {
            let kinds = try analyseKinds(frame, graph, entry: entryKinds)
            entries = kinds.entry
            pointers = kinds.pointers
        }
        // Block 0 continues the current IR block.
        var irBlocks = [ir.current]
        for _ in 1..<graph.count { irBlocks.append(newBlock()) }
        let edges = BlockEdges(frame: frame, graph: graph, irBlocks: irBlocks)
        for b in 0..<graph.count {
            guard var k = entries[b] else { continue }   // unreachable in Ruby terms
            ir.current = irBlocks[b]
            for (s, edgeKinds) in try lowerBlock(frame, graph.range(b), kinds: &k, edges: edges) {
                if forwardOnly {
                    // s > b: the merge is complete before s is lowered. An
                    // edge back would mean kinds merged too late: say so.
                    guard s > b else {
                        throw CompileFailure.internalError("program `\(declaration.name)`: block \(b) of a frame without backward jumps goes back to block \(s)")
                    }
                    entries[s] = Kind.entry(entries[s], merging: edgeKinds)
                } else if entries[s] == nil {
                    // A successor the analysis never reached would be left as `return 0`
                    // below: a program that stops halfway. Say so instead.
                    throw CompileFailure.internalError("program `\(declaration.name)`: the register-kind analysis did not reach block \(s) of a frame that block \(b) jumps to")
                }
            }
        }
        // Unreached mruby blocks leave empty IR blocks; give them a terminator.
        for b in irBlocks { ir.terminateIfOpen(b, .ret(.imm(0))) }
    }

    // MARK: Instructions

    /// Lowers one mruby basic block (instructions `r` of the frame); returns
    /// the successor blocks with the register kinds on each edge (a nil test
    /// refines pointers).
    func lowerBlock(_ frame: Frame, _ r: Range<Int>, kinds: inout [Kind], edges: BlockEdges) throws -> [(Int, [Kind])] {
        for i in r {
            let insn = frame.insns[i]
            let loc = location(frame.irep, insn)
            if let exits = try lowerInstruction(insn, at: i, frame, kinds: &kinds, edges: edges, loc) { return exits }
            if !Self.leavesOperandA.contains(insn.op) { try writeBackLocal(insn, frame, kinds, loc) }
            if i == r.upperBound - 1, insn.fallsThrough, i + 1 < frame.insns.count {
                let n = edges.graph.blockOf[i + 1]!
                terminate(.jump(edges.ir(n)), loc)
                return [(n, kinds)]
            }
        }
        return []
    }

    /// One instruction, by opcode. Returns nil when the block goes on, or
    /// the block's exits when the instruction ends it.
    func lowerInstruction(_ insn: MInstruction, at i: Int, _ frame: Frame, kinds: inout [Kind], edges: BlockEdges,
                          _ loc: SourceLocation) throws -> [(Int, [Kind])]? {
        switch insn.op {
        case .nop, .enter, .debug:
            break
        case .move:
            if isIncrementValueCopy(frame, at: i, kinds: kinds) {
                emit(.move(frame.regs[insn.a], .imm(0)), loc)
                try assign(insn.a, .nil, &kinds)
            } else {
                emit(.move(frame.regs[insn.a], .reg(frame.regs[insn.b])), loc)
                try assign(insn.a, kinds[insn.b], &kinds)
            }
        case .loadi, .loadineg, .loadi__1, .loadi_0, .loadi_1, .loadi_2, .loadi_3, .loadi_4, .loadi_5, .loadi_6, .loadi_7, .loadi16, .loadi32:
            try lowerIntegerLiteral(insn, frame, kinds: &kinds, loc)
        case .loadl:
            try lowerPoolLiteral(insn, frame, kinds: &kinds, loc)
        case .loadnil, .loadt, .loadf, .loadself, .loadsym, .string:
            try lowerLiteral(insn, frame, kinds: &kinds, loc)
        case .getconst:
            try lowerConstant(insn, frame, kinds: &kinds)
        case .getupvar:
            try lowerGetUpvar(insn, frame, kinds: &kinds, loc)
        case .setupvar:
            try lowerSetUpvar(insn, frame, kinds: kinds, loc)
        case .jmp, .jmpuw, .jmpif, .jmpnot, .jmpnil:
            return try lowerJump(insn, at: i, frame, kinds: kinds, edges: edges, loc)
        case .return, .return_blk, .break, .stop:
            try lowerExit(insn, frame, kinds: kinds, loc)
            return []
        case .add, .sub, .mul, .div, .eq, .lt, .le, .gt, .ge, .addi, .subi:
            try lowerArithmetic(insn, frame, kinds: &kinds, loc)
        case .send, .ssend, .sendb, .ssendb:
            let k = try send(frame, insn, kinds: &kinds, loc: loc)
            kinds[insn.a] = k
        case .getidx:
            if case .implicitMap(let m) = kinds[insn.a] {
                kinds[insn.a] = try implicitIndex(frame, insn, at: i, name: m, args: [insn.a + 1], set: false, kinds: &kinds, loc: loc)
                break
            }
            kinds[insn.a] = try mapIndex(frame, insn, receiver: insn.a, args: [insn.a + 1], set: false, kinds: &kinds, loc: loc)
        case .setidx:
            if case .implicitMap(let m) = kinds[insn.a] {
                _ = try implicitIndex(frame, insn, at: i, name: m, args: [insn.a + 1, insn.a + 2], set: true, kinds: &kinds, loc: loc)
                break
            }
            _ = try mapIndex(frame, insn, receiver: insn.a, args: [insn.a + 1, insn.a + 2], set: true, kinds: &kinds, loc: loc)
        case .getiv:
            try lowerGetIV(insn, at: i, frame, kinds: &kinds, loc)
        case .setiv:
            try lowerSetIV(insn, at: i, frame, kinds: &kinds, loc)
        case .block, .lambda:
            try assign(insn.a, .block(insn.b), &kinds)
        case .strcat:
            try lowerInterpolation(insn, frame, kinds: &kinds, loc)
        default:
            if [.getgv, .setgv].contains(insn.op), let name = sendSymbol(frame.irep, insn) {
                throw error(frame.irep, insn, "global variable `\(name)` is not available in a BPF program body",
                            hint: "bpftrace's $variables are Ruby locals here: `\(name.dropFirst()) = …`")
            }
            throw error(frame.irep, insn, "`\(describe(insn.op))` is not available in a BPF program body",
                        hint: "program bodies use integers, locals, conditionals, loops, helpers and the context")
        }
        return nil
    }

    /// Instructions whose operand a is no register they assign: no global
    /// standing for it is written back after them.
    static let leavesOperandA: Set<MRubyOpcode> = [.jmp, .jmpuw, .jmpif, .jmpnot, .jmpnil, .return, .return_blk, .break, .setidx, .setupvar, .setiv,
                                                   .enter, .nop, .stop, .debug]

    /// Register `reg` now holds a `k`.
    func assign(_ reg: Int, _ k: Kind, _ kinds: inout [Kind]) throws {
        guard reg < kinds.count else { throw CompileFailure.internalError("register out of range") }
        kinds[reg] = k
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

    // MARK: Building IR

    func newBlock() -> Int { ir.newBlock() }
    func newVReg() -> VReg { ir.function.newVReg() }
    func emit(_ i: IRInstruction, _ loc: SourceLocation) { ir.emit(i, loc) }
    func terminate(_ t: Terminator, _ loc: SourceLocation) { ir.terminate(t, loc) }
}

/// The IR a lowering builds: the function, the block receiving
/// instructions, and the object's string pool (shared by its programs).
struct IRBuilder {
    var function: IRFunction
    /// Current IR block receiving instructions.
    var current = 0
    var strings: StringPool
    /// Where block `b` is in `function.blocks`: `b - base`, except the
    /// `carried` block, at 0. A lowering's own builder holds every block
    /// (base 0, nothing carried); a scratch copy (`init(scratchOf:)`) holds
    /// only the block that was current and the blocks it makes, so making
    /// one costs the same however much IR the lowering has built.
    private var base = 0
    private var carried = -1

    init(function: IRFunction, strings: StringPool) {
        self.function = function; self.strings = strings
    }

    /// A builder for a scratch lowering: the same numbering of registers and
    /// blocks, the current block's instructions (the lowering looks back at
    /// them), none of the others.
    init(scratchOf b: IRBuilder) {
        self = b
        let next = b.function.blocks.count + b.base
        function.blocks = [b.function.blocks[b.slot(b.current)]]
        carried = b.current
        base = next - 1
    }

    private func slot(_ b: Int) -> Int { b == carried ? 0 : b - base }

    /// The instructions of the current block so far.
    var currentInstructions: [(IRInstruction, SourceLocation)] { function.blocks[slot(current)].instructions }

    mutating func newBlock() -> Int {
        // Room for a statement's worth of instructions: appends from empty
        // grew most blocks' arrays two or three times.
        var block = IRBlock()
        block.instructions.reserveCapacity(8)
        function.blocks.append(block)
        return function.blocks.count - 1 + base
    }

    mutating func emit(_ i: IRInstruction, _ loc: SourceLocation) {
        function.blocks[slot(current)].instructions.append((i, loc))
    }

    /// Ends the current block, unless it already ended.
    mutating func terminate(_ t: Terminator, _ loc: SourceLocation) {
        let s = slot(current)
        if function.blocks[s].terminator == .unreachable {
            function.blocks[s].terminator = t
            function.blocks[s].terminatorLocation = loc
        }
    }

    /// Gives block `b` a terminator if it has none.
    mutating func terminateIfOpen(_ b: Int, _ t: Terminator) {
        let s = slot(b)
        if function.blocks[s].terminator == .unreachable { function.blocks[s].terminator = t }
    }
}
