import BPF

/// Direct packet access (load-packet), in XDP and tc programs.
///
/// `cast(:ethhdr, ctx.data).h_proto` reads packet bytes; the lowering
/// copies them with `probe_read_kernel` like any other pointer's. Where a
/// bounds check dominates the read,
///
///     return XDP_PASS if data + 34 > data_end
///
/// the read is a plain load from `data + offset`, as clang compiles
/// `eth->h_proto` after the same check: no helper call, and the verifier
/// proves it in bounds the same way (it gives `data` a range of 34 on the
/// branch where `data + 34 <= data_end`).
///
/// What the pass relies on, all checked here:
/// - `data` and `data_end` are the context's 4-byte fields (`packetFields`),
///   each loaded once from a context register nothing else writes;
/// - the address read is `data` plus constants (a CO-RE field offset counts
///   as its local value: a packet header is a wire format, its layout is
///   the same in every kernel, so the load carries no relocation);
/// - the block is dominated by the edge on which `data + n <= data_end`
///   holds (an edge into a block with no other predecessor), and the bytes
///   read lie in [data, data + n).
///
/// The check's comparison is made unsigned (`if r2 > r1`), the form the
/// verifier learns a range from: the lowering compares the two u32 fields
/// signed, which gives the same answer for addresses of one packet.
/// A read the pass cannot prove in bounds stays a probe read, so a missing
/// or too short check costs speed, never a verifier rejection.
func loadPacketDirectly(_ f: inout IRFunction) {
    guard let packet = f.packetFields else { return }
    // A helper that moves or resizes the packet makes the verifier forget
    // every packet range: programs calling one keep their probe reads.
    for b in f.blocks.indices {
        for (i, _) in f.instructions(of: b) {
            if case .call(_, let h, _) = i, packetChangingHelpers.contains(h) { return }
            if case .store(f.context, _, _, _) = i { return }
        }
    }
    guard Definitions(f).count(f.context) == 0 else { return }
    // Neither sharing the reads nor the loads change the blocks' edges.
    let dominators = Dominators(f)
    shareBoundLoads(&f, packet, dominators)
    let definitions = Definitions(f, instructions: true)
    let context = f.context
    func single(_ r: VReg) -> IRInstruction? { definitions.single(r) }
    /// Whether `o` holds `data_end` (a read of it, or a copy: a second
    /// `ctx.data_end` became a copy of the first in shareBoundLoads).
    func isEnd(_ o: Operand, depth: Int = 0) -> Bool {
        guard depth < 16, case .reg(let r) = o else { return false }
        switch single(r) {
        case .load(_, context, packet.end, 4, _)?: return true
        case .move(_, let x)?: return isEnd(x, depth: depth + 1)
        default: return false
        }
    }
    func constant(_ o: Operand) -> Int64? {
        switch o {
        case .imm(let k): return k
        case .reg(let r):
            switch single(r) {
            case .move(_, .imm(let k))?: return k
            case .coreConstant(_, let v, _)?: return v
            default: return nil
            }
        }
    }
    /// `(data register, offset)` when `o` holds data plus constants.
    func pointer(_ o: Operand, depth: Int = 0) -> (base: VReg, offset: Int64)? {
        guard depth < 16, case .reg(let r) = o else { return nil }
        switch single(r) {
        case .load(_, context, packet.data, 4, _)?: return (r, 0)
        case .move(_, let x)?: return pointer(x, depth: depth + 1)
        case .binary(.add, _, let x, let y)?:
            if let k = constant(y), let p = pointer(x, depth: depth + 1) { return (p.base, p.offset &+ k) }
            if let k = constant(x), let p = pointer(y, depth: depth + 1) { return (p.base, p.offset &+ k) }
            return nil
        case .binary(.sub, _, let x, let y)?:
            if let k = constant(y), let p = pointer(x, depth: depth + 1) { return (p.base, p.offset &- k) }
            return nil
        default: return nil
        }
    }
    let maxOffset: Int64 = 0xffff   // the verifier's MAX_PACKET_OFF

    // Checks: the edge on which `data + n <= data_end` holds, and n.
    let preds = f.predecessors
    var facts: [(block: Int, base: VReg, range: Int64)] = []
    var checks: [(block: Int, unsigned: Terminator)] = []
    for b in f.blocks.indices {
        guard case .branch(var c, var l, var r, let t, let e) = f.terminator(of: b), t != e else { continue }
        if isEnd(l) { swap(&l, &r); c = c.swapped }
        guard isEnd(r), let p = pointer(l), (0...maxOffset).contains(p.offset) else { continue }
        let unsigned: Condition
        let holds: Int, range: Int64
        switch c {
        case .sle, .ule: unsigned = .ule; holds = t; range = p.offset
        case .slt, .ult: unsigned = .ult; holds = t; range = p.offset - 1
        case .sgt, .ugt: unsigned = .ugt; holds = e; range = p.offset
        case .sge, .uge: unsigned = .uge; holds = e; range = p.offset - 1
        case .eq, .ne: continue
        }
        checks.append((b, .branch(unsigned, l, r, then: t, else: e)))
        if preds[holds].isOnly(b), range > 0 { facts.append((holds, p.base, range)) }
    }
    guard !facts.isEmpty else { return }

    /// `data + offset` when a check covers `size` bytes there in block `b`.
    func covered(_ b: Int, _ addr: Operand, _ size: Int) -> (base: VReg, offset: Int)? {
        guard let p = pointer(addr), p.offset >= 0 else { return nil }
        let known = facts.filter { $0.base == p.base && dominators.dominates($0.block, b) }.map(\.range).max() ?? 0
        guard p.offset + Int64(size) <= known else { return nil }
        return (p.base, Int(p.offset))
    }
    var loads = readBitfieldsDirectly(&f, single: single, covered: covered)
    loadInsteadOfProbeReads(&f) { b, addr, size in
        guard let r = covered(b, addr, size) else { return nil }
        loads += 1
        return r
    }
    // The checks turn unsigned only where a load relies on them.
    if loads > 0 { for c in checks { f.blocks[c.block].terminator = c.unsigned } }
}

/// A header's bitfield (`ip.ihl`) is read as any kernel struct's is (the
/// lowering cannot tell a packet pointer from a kernel one): an 8-byte slot
/// zeroed, `probe_read_kernel` of the field's bytes (size and offset
/// relocated) into it, the slot loaded, then shifted left and right by
/// relocated amounts. Where a check covers those bytes the read becomes a
/// load of them (zero-extended, as the zeroed slot made it) and, when no
/// probe read of the same field is left, the shifts take their local
/// amounts (no relocation: a header's layout is the same in every kernel)
/// and become clang's `(x >> p) & mask`. Returns how many reads became loads.
private func readBitfieldsDirectly(_ f: inout IRFunction, single: (VReg) -> IRInstruction?,
                                   covered: (_ block: Int, _ address: Operand, _ size: Int) -> (base: VReg, offset: Int)?) -> Int {
    func field(_ relocation: Int) -> [String] {
        let r = f.coreRelocations[relocation]
        return [r.rootType] + r.path
    }
    /// Whether the slot's 8 bytes were zeroed before instruction `i`, with
    /// nothing between that may write memory.
    func zeroed(_ slot: Int, before i: Int, in insns: [(IRInstruction, SourceLocation)]) -> Bool {
        for j in stride(from: i - 1, through: 0, by: -1) {
            switch insns[j].0 {
            case .storeFrame(slot, .imm(0), 8): return true
            case .storeFrame, .store, .atomicAdd, .call: return false
            default: continue
            }
        }
        return false
    }
    // The fields read by a load now, those still read by a probe read, and
    // each loaded value's width.
    var direct: Set<[String]> = [], probed: Set<[String]> = []
    var width: [VReg: Int] = [:]
    for b in f.blocks.indices {
        var insns = f.blocks[b].instructions
        var edited = false
        for i in insns.indices {
            guard case .call(nil, probeReadKernel, let args) = insns[i].0, args.count == 3,
                  case .reg(let buf) = args[0], case .reg(let sizeRegister) = args[1],
                  case .coreConstant(_, let n, let relocation)? = single(sizeRegister), relocation < f.coreRelocations.count,
                  f.coreRelocations[relocation].kind == .fieldByteSize else { continue }
            guard [1, 2, 4, 8].contains(n), case .frameAddress(_, let slot)? = single(buf),
                  i + 1 < insns.count, case .loadFrame(let value, slot, 8, false) = insns[i + 1].0,
                  zeroed(slot, before: i, in: insns), let (base, offset) = covered(b, args[2], Int(n)) else {
                probed.insert(field(relocation))
                continue
            }
            let t = f.newVReg()
            insns[i].0 = .load(t, base: base, offset: offset, size: Int(n), signed: false)
            insns[i + 1].0 = .move(value, .reg(t))
            width[value] = Int(n)
            direct.insert(field(relocation))
            edited = true
        }
        if edited { f.blocks[b].instructions = insns }
    }
    guard !width.isEmpty else { return 0 }

    // The shift amounts of the fields no probe read is left for: local values.
    let local = direct.subtracting(probed)
    var amount: [VReg: Int64] = [:]
    for b in f.blocks.indices {
        for (insn, _) in f.instructions(of: b) {
            guard case .coreConstant(let d, let v, let r) = insn, r < f.coreRelocations.count, single(d) != nil,
                  local.contains(field(r)) else { continue }
            let kind = f.coreRelocations[r].kind
            if kind == .fieldLShiftU64 || kind == .fieldRShiftU64 { amount[d] = v }
        }
    }
    guard !amount.isEmpty else { return width.count }
    var uses: [VReg: Int] = [:]
    for b in f.blocks.indices {
        var insns = f.blocks[b].instructions
        for i in insns.indices {
            if case .coreConstant(let d, let v, _) = insns[i].0, amount[d] != nil {
                insns[i].0 = .move(d, .imm(v))
            } else {
                insns[i].0 = insns[i].0.mapUses { o in
                    if case .reg(let r) = o, let v = amount[r] { return .imm(v) }
                    return o
                }
            }
            insns[i].0.forEachUse { uses[$0, default: 0] += 1 }
        }
        f.blocks[b].instructions = insns
        f.terminator(of: b).forEachUse { uses[$0, default: 0] += 1 }
    }
    // `(x << l) >> r` of a zero-extended n-byte x is `(x >> (r - l))`
    // masked to its 64 - r low bits, the mask needless where x has no bit
    // above them; a mask wider than 31 bits (no 32-bit immediate) keeps
    // the shifts.
    for b in f.blocks.indices {
        var insns = f.blocks[b].instructions
        var edited = false
        for i in insns.indices {
            guard case .binary(.shl, let a, .reg(let x), .imm(let l)) = insns[i].0, let n = width[x], uses[a] == 1,
                  let k = insns.indices[(i + 1)...].first(where: { insns[$0].0.uses.contains(a) }),
                  case .binary(.lshr, let d, .reg(a), .imm(let r)) = insns[k].0, l >= 0, r >= l, r < 64 else { continue }
            let p = r - l, w = 64 - r
            let needsMask = p + w < 8 * Int64(n)
            guard !needsMask || w <= 31 else { continue }
            insns[i].0 = p > 0 ? .binary(.lshr, a, .reg(x), .imm(p)) : .move(a, .reg(x))
            insns[k].0 = needsMask ? .binary(.and, d, .reg(a), .imm((1 << w) - 1)) : .move(d, .reg(a))
            edited = true
        }
        if edited { f.blocks[b].instructions = insns }
    }
    return width.count
}

/// The helpers after which the verifier forgets packet ranges, because they
/// may move or resize the packet (the kernel's `bpf_helper_changes_pkt_data`).
private let packetChangingHelpers = Set([
    "skb_vlan_push", "skb_vlan_pop", "skb_store_bytes", "skb_change_proto", "skb_change_head", "skb_change_tail",
    "skb_adjust_room", "skb_pull_data", "clone_redirect", "l3_csum_replace", "l4_csum_replace",
    "xdp_adjust_head", "xdp_adjust_meta", "xdp_adjust_tail", "msg_pull_data", "msg_push_data", "msg_pop_data",
    "lwt_push_encap", "lwt_seg6_store_bytes", "lwt_seg6_adjust_srh", "lwt_seg6_action",
].compactMap { HelperPrototype.named($0)?.id })

/// `ctx.data` read again where an earlier read dominates it is that read's
/// value (nothing in the program moves the packet: the caller checked), so
/// it becomes a copy of it; the same for `ctx.data_end`. A bounds check on
/// one read then covers the bytes read through the other, as it does when
/// the program keeps `data` in a local.
private func shareBoundLoads(_ f: inout IRFunction, _ packet: PacketFields, _ dominators: Dominators) {
    let definitions = Definitions(f)
    var first: [Int: (block: Int, reg: VReg)] = [:]   // field offset → the read that dominates the others
    for b in f.reversePostOrder {
        for i in f.blocks[b].instructions.indices {
            guard case .load(let d, f.context, let off, 4, false) = f.blocks[b].instructions[i].0,
                  off == packet.data || off == packet.end, definitions.count(d) == 1 else { continue }
            if let earlier = first[off], earlier.block == b || dominators.dominates(earlier.block, b) {
                f.blocks[b].instructions[i].0 = .move(d, .reg(earlier.reg))
            } else if first[off] == nil {
                first[off] = (b, d)
            }
        }
    }
}
