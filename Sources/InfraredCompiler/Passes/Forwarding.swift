import BPF

/// The helpers that copy memory into a buffer (forward-probe-reads).
private let probeReadHelpers = Set(["probe_read_kernel", "probe_read_user", "probe_read"].compactMap { HelperPrototype.named($0)?.id })

/// A value probe-read into a scratch slot and only copied to another stack
/// slot (`counts[task.real_parent.tgid] += 1` reads the tgid, then stores it
/// as the map key) is read straight into that slot, as clang does with
/// `u32 ppid = BPF_CORE_READ(…)`:
///
///     %p = fp-16; call probe_read_kernel(%p, 4, %src); %v = load.u32 [fp-16]; store.32 [fp-24] = %v
///  →  %p = fp-24; call probe_read_kernel(%p, 4, %src)
///
/// Stack objects are disjoint (the lowering allocates each once), so the
/// scratch slot is known unread elsewhere when no other instruction names it.
/// On a failed read the helper zeroes its destination, so the key gets the
/// same zero it got through the copy.
func forwardProbeReads(_ f: inout IRFunction) {
    guard f.containsInstruction(where: { if case .call(_, let h, _) = $0 { return probeReadHelpers.contains(h) }; return false }) else { return }
    var uses: [VReg: Int] = [:], defs: [VReg: [IRInstruction]] = [:]
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            for u in insn.uses { uses[u, default: 0] += 1 }
            if let d = insn.definition { defs[d, default: []].append(insn) }
        }
        for u in f.terminator(of: b).uses { uses[u, default: 0] += 1 }
    }
    func overlaps(_ a: Int, _ n: Int, _ b: Int, _ m: Int) -> Bool { a < b + m && b < a + n }
    /// Instructions other than `except` (block, index pairs) that name the stack bytes [offset, offset+n).
    func touched(_ offset: Int, _ n: Int, except: Set<[Int]>) -> Bool {
        for bi in f.blocks.indices {
            for (ii, (insn, _)) in f.instructions(of: bi).enumerated() where !except.contains([bi, ii]) {
                switch insn {
                case .frameAddress(_, let o): if overlaps(o, 1, offset, n) { return true }
                case .loadFrame(_, let o, let s, _): if overlaps(o, s, offset, n) { return true }
                case .storeFrame(let o, _, let s): if overlaps(o, s, offset, n) { return true }
                default: break
                }
            }
        }
        return false
    }
    for bi in f.blocks.indices {
        var i = 0
        while i + 2 < f.instructions(of: bi).count {
            let insns = f.blocks[bi].instructions
            defer { i += 1 }
            guard case .call(_, let h, let args) = insns[i].0, probeReadHelpers.contains(h), args.count == 3,
                  case .reg(let p) = args[0], case .imm(let n64) = args[1], uses[p] == 1,
                  let pDefs = defs[p], case .frameAddress(_, let scratch) = pDefs[0],
                  pDefs.allSatisfy({ $0 == .frameAddress(p, offset: scratch) }) else { continue }
            let n = Int(n64)
            // The load right after the call, and the store right after the load.
            guard case .loadFrame(let v, scratch, n, _) = insns[i + 1].0, defs[v]?.count == 1, uses[v] == 1,
                  case .storeFrame(let target, .reg(v), n) = insns[i + 2].0,
                  !overlaps(target, n, scratch, 8) else { continue }
            // Nothing else may read the scratch bytes, nor see the target's
            // bytes change at the call instead of at the store (they are adjacent).
            let pDef = f.blocks.indices.flatMap { b in f.blocks[b].instructions.indices.filter { f.blocks[b].instructions[$0].0 == .frameAddress(p, offset: scratch) }.map { [b, $0] } }
            guard !touched(scratch, n, except: Set(pDef + [[bi, i + 1]])) else { continue }
            for at in pDef { f.blocks[at[0]].instructions[at[1]].0 = .frameAddress(p, offset: target) }
            f.blocks[bi].instructions.removeSubrange(i + 1...i + 2)
        }
    }
}

/// `probe_read_kernel`'s number, looked up once.
let probeReadKernel = HelperPrototype.named("probe_read_kernel")!.id

/// Helpers whose result cannot change while one program runs: the current
/// task and its ids, its cgroup, the CPU.
private let invariantHelpers = Set(["get_current_pid_tgid", "get_current_uid_gid", "get_current_task", "get_current_task_btf",
                                     "get_current_cgroup_id", "get_smp_processor_id", "get_numa_node_id"].compactMap { HelperPrototype.named($0)?.id })

/// A call of an invariant helper dominated by an earlier call of the same
/// helper reuses that result, as C code keeps `tid` in a
/// variable: `start.delete(tid)` after `start.lookup(tid)` calls
/// `bpf_get_current_pid_tgid` once.
func reuseInvariantCalls(_ f: inout IRFunction) {
    var calls = 0
    var definitions = [Int](filled: 0, count: f.vregCount)
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            if let d = insn.definition { definitions[d.id] += 1 }
            if case .call(_?, let h, let args) = insn, args.isEmpty, invariantHelpers.contains(h) { calls += 1 }
        }
    }
    guard calls > 1 else { return }
    let dominators = Dominators(f)
    // Earlier calls whose result register is written nowhere else, so it holds
    // that result wherever the call dominates.
    var earlier: [(block: Int, index: Int, helper: Int32, result: VReg)] = []
    for b in f.reversePostOrder {
        for i in f.blocks[b].instructions.indices {
            guard case .call(let d?, let h, let args) = f.blocks[b].instructions[i].0, args.isEmpty, invariantHelpers.contains(h) else { continue }
            if let first = earlier.first(where: { $0.helper == h && ($0.block == b ? $0.index < i : dominators.dominates($0.block, b)) }) {
                f.blocks[b].instructions[i].0 = .move(d, .reg(first.result))
            } else if definitions[d.id] == 1 {
                earlier.append((b, i, h, d))
            }
        }
    }
}

/// `call probe_read_kernel(buf, n, addr)` of 1, 2, 4 or 8 bytes becomes a
/// load from `addr` where `source` names it a register plus offset the
/// verifier lets the program load through (load-btf-arguments,
/// load-packet) for reads of `size` bytes.
/// The value is stored into `buf`; when the next instruction only reads
/// it back (`%v = load.u16 [fp-8]`) and nothing else names those stack
/// bytes, the load defines `%v` itself and the stack copy goes.
func loadInsteadOfProbeReads(_ f: inout IRFunction,
                             source: (_ block: Int, _ address: Operand, _ size: Int) -> (base: VReg, offset: Int)?) {
    let definitions = Definitions(f)
    var uses: [VReg: Int] = [:], frameDefinitions: [VReg: [Int]] = [:]
    /// How many instructions name each stack byte.
    var named: [Int: Int] = [:]
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            for u in insn.uses { uses[u, default: 0] += 1 }
            switch insn {
            case .frameAddress(let d, let o): frameDefinitions[d, default: []].append(o); named[o, default: 0] += 1
            case .loadFrame(_, let o, let n, _), .storeFrame(let o, _, let n): for x in o..<o + n { named[x, default: 0] += 1 }
            default: break
            }
        }
        for u in f.terminator(of: b).uses { uses[u, default: 0] += 1 }
    }
    for b in f.blocks.indices {
        var out: [(IRInstruction, SourceLocation)] = []
        let insns = f.blocks[b].instructions
        var i = 0
        while i < insns.count {
            let (insn, loc) = insns[i]
            i += 1
            guard case .call(nil, probeReadKernel, let args) = insn, args.count == 3,
                  case .reg(let buf) = args[0], case .imm(let n) = args[1], [1, 2, 4, 8].contains(n),
                  let (base, offset) = source(b, args[2], Int(n)) else {
                out.append((insn, loc)); continue
            }
            // Read straight into the register the next instruction loads it into.
            if i < insns.count, case .loadFrame(let v, let slot, Int(n), let signed) = insns[i].0,
               uses[buf] == 1, definitions.count(buf) == frameDefinitions[buf]?.count, frameDefinitions[buf]?.allSatisfy({ $0 == slot }) == true,
               named[slot] == (frameDefinitions[buf]?.count ?? 0) + 1, (slot + 1..<slot + Int(n)).allSatisfy({ named[$0] == 1 }) {
                out.append((.load(v, base: base, offset: offset, size: Int(n), signed: signed), loc))
                i += 1
                continue
            }
            let v = f.newVReg()
            out.append((.load(v, base: base, offset: offset, size: Int(n), signed: false), loc))
            out.append((.store(base: buf, offset: 0, value: .reg(v), size: Int(n)), loc))
        }
        f.blocks[b].instructions = out
    }
}
