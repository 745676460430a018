import BPF
import InfraredObject

// Maps: `m[k]`, `m[k] = v`, `m[k] += n` (one atomic add), lookup/update/delete,
// hist buckets, ring and perf buffers, stack traces. Implicit maps (`@name`:
// mruby's GETIV/SETIV) are lowered in ImplicitMaps.swift.

/// Which struct each ring buffer / perf buffer map carries, as the bodies
/// show it (`reserve(Event)`, `output(e)`): loaders decode records with it.
final class RecordTypes {
    var byMap: [String: String] = [:]
    /// The formats of `puts`/`printf`, and whether a body calls `exit` (Print.swift).
    var output = OutputFormats()
    /// The fault counters the bodies increment (`countFault`), by slot.
    var faults: [Fault] = []

    /// The slot counting `kind` for `map`, made on first use.
    func faultSlot(_ map: String, _ kind: Fault.Kind) -> Int {
        if let f = faults.first(where: { $0.map == map && $0.kind == kind }) { return f.slot }
        faults.append(Fault(map: map, kind: kind, slot: faults.count))
        return faults.count - 1
    }
}

/// One call of a map's method: the map, the method, its arguments, and
/// the register receiving the result.
struct MapCall {
    let map: MapDecl
    let name: String
    let argRegs: [Int]
    let args: [(VReg, Kind)]
    let dst: VReg
    let irep: Irep
    let insn: MInstruction
    let loc: SourceLocation
}

extension Lowering {
    // MARK: Dispatch

    /// `m[k]` (`GETIDX`) and `m[k] = v` (`SETIDX`).
    func mapIndex(_ frame: Frame, _ insn: MInstruction, receiver: Int, args: [Int], set: Bool, kinds: inout [Kind], loc: SourceLocation) throws -> Kind {
        guard case .map(let m) = kinds[receiver] else {
            return try unsettled(.signedInt, error(frame.irep, insn, "`[]` is only available on maps in a BPF program body", hint: nil))
        }
        return try mapMethod(frame, insn, map: language.maps[m]!, name: set ? "[]=" : "[]", args: args, kinds: &kinds, loc: loc,
                             dst: frame.regs[receiver])
    }

    /// A method of a declared map, by name and map type.
    func mapMethod(_ frame: Frame, _ insn: MInstruction, map: MapDecl, name: String, args argRegs: [Int], kinds: inout [Kind],
                   loc: SourceLocation, dst explicitDst: VReg? = nil) throws -> Kind {
        let R = frame.regs
        let c = MapCall(map: map, name: name, argRegs: argRegs, args: argRegs.map { (R[$0], kinds[$0]) }, dst: explicitDst ?? R[insn.a],
                        irep: frame.irep, insn: insn, loc: loc)
        let keyed = !map.isRecordStream && map.kind != .stackTrace
        switch (name, map.kind) {
        case ("[]", _) where keyed && map.kind != .hist: return try mapGet(c, frame)
        case ("[]=", _) where keyed && map.kind != .hist: return try mapSet(c, frame)
        case ("lookup", _) where keyed: return try mapLookup(c)
        case ("update", _) where keyed: return try mapUpdate(c)
        case ("delete", _) where keyed: return try mapDelete(c)
        case ("add", .hist): return try histAdd(c)
        case ("reserve", .ringbuf): return try ringbufReserve(c)
        case ("submit", .ringbuf), ("discard", .ringbuf): return try ringbufRelease(c, frame, kinds: &kinds)
        case ("output", .ringbuf), ("output", .perfEventArray): return try mapOutput(c)
        case ("get_stackid", .stackTrace): return try getStackID(c)
        default:
            return try unsettled(.signedInt, error(c.irep, insn, "maps of type :\(map.kind) have no method `\(name)` in bodies",
                                                   hint: Self.mapMethods[map.kind.name] ?? "", symbol: name))
        }
    }

    static let mapMethods: [String: String] = [
        "ringbuf": "ringbuf maps: reserve, submit, discard, output",
        "perf_event_array": "perf_event_array maps: output(ctx, value)",
        "stack_trace": "stack_trace maps: get_stackid(ctx, flags)",
        "hist": "hist maps: add(value)",
    ]

    func expect(_ c: MapCall, _ n: Int, _ usage: String) throws {
        if c.args.count != n { throw error(c.irep, c.insn, "`\(c.map.name).\(c.name)` takes \(n) argument\(n == 1 ? "" : "s")", hint: usage, symbol: c.name) }
    }

    /// The map's address (`ld_imm64` of the map, relocated at load).
    func mapRef(_ c: MapCall) -> VReg { let r = newVReg(); emit(.mapAddress(r, name: SymbolName(c.map.name)), c.loc); return r }

    /// The first argument as the map's key, in memory.
    func keyAddress(_ c: MapCall) throws -> VReg {
        try materialize(c.args[0], as: c.map.key!, c.irep, c.insn, what: "the key of map `\(c.map.name)`", c.loc)
    }

    // MARK: Keyed maps

    /// `m[k]`: the value, or 0 when the key is absent.
    func mapGet(_ c: MapCall, _ frame: Frame) throws -> Kind {
        let map = c.map, loc = c.loc, dst = c.dst
        try expect(c, 1, "\(map.name)[key]")
        guard case .scalar(let vt) = map.value! else {
            throw error(c.irep, c.insn, "`\(map.name)[k]` needs Integer values; this map holds \(map.value!)", hint: "use \(map.name).lookup(k), which gives a pointer or nil", symbol: map.name)
        }
        if frame.atomic[c.insn.pc] != nil { return .int(unsigned64: false, nonNegative: false) }   // folded into the `[]=` below
        let k = try keyAddress(c)
        let p = newVReg()
        emit(.call(p, helper: helperID("map_lookup_elem"), args: [.reg(mapRef(c)), .reg(k)]), loc)
        let hit = newBlock(), miss = newBlock(), join = newBlock()
        terminate(.branch(.eq, .reg(p), .imm(0), then: miss, else: hit), loc)
        ir.current = hit; emit(.load(dst, base: p, offset: 0, size: vt.size, signed: vt.signed), loc); terminate(.jump(join), loc)
        ir.current = miss; emit(.move(dst, .imm(0)), loc); terminate(.jump(join), loc)
        ir.current = join
        return intKind(vt)
    }

    /// `m[k] = v`, or an atomic add for a `m[k] += n` sequence.
    func mapSet(_ c: MapCall, _ frame: Frame) throws -> Kind {
        let map = c.map, loc = c.loc, args = c.args
        try expect(c, 2, "\(map.name)[key] = value")
        if let inc = frame.atomic[c.insn.pc] {
            let increment: Operand
            switch inc { case .immediate(let v): increment = .imm(v); case .register(let r): increment = .reg(frame.regs[r]) }
            try atomicAdd(map: map, key: try keyAddress(c), increment: increment, c.irep, c.insn, loc)
            return args[1].1
        }
        let k = try keyAddress(c)
        let v = try materialize(args[1], as: map.value!, c.irep, c.insn, what: "the value of map `\(map.name)`", loc)
        let rc = newVReg()
        emit(.call(rc, helper: helperID("map_update_elem"), args: [.reg(mapRef(c)), .reg(k), .reg(v), .imm(0)]), loc)
        countFault(if: .slt, .reg(rc), .imm(0), map: map.name, .failedUpdates, loc)
        return args[1].1
    }

    /// `m.lookup(k)`: a pointer to the value, or nil.
    func mapLookup(_ c: MapCall) throws -> Kind {
        let map = c.map
        try expect(c, 1, "\(map.name).lookup(key)")
        let k = try keyAddress(c)
        emit(.call(c.dst, helper: helperID("map_lookup_elem"), args: [.reg(mapRef(c)), .reg(k)]), c.loc)
        return .pointer(map.value!, nullable: map.kind != .array && map.kind != .percpuArray ? true : true, id: pointers.id(at: c.dst, c.loc))
    }

    /// `m.update(k, v[, flags])`: the helper's result.
    func mapUpdate(_ c: MapCall) throws -> Kind {
        let map = c.map, args = c.args
        guard args.count == 2 || args.count == 3 else { try expect(c, 3, "\(map.name).update(key, value, flags)"); return .nil }
        let k = try keyAddress(c)
        let v = try materialize(args[1], as: map.value!, c.irep, c.insn, what: "the value of map `\(map.name)`", c.loc)
        let flags = args.count == 3 ? try integerOperand(args[2], c.irep, c.insn, what: "the flags") : .imm(0)
        emit(.call(c.dst, helper: helperID("map_update_elem"), args: [.reg(mapRef(c)), .reg(k), .reg(v), flags]), c.loc)
        return .int(unsigned64: false, nonNegative: false)
    }

    /// `m.delete(k)`: the helper's result.
    func mapDelete(_ c: MapCall) throws -> Kind {
        try expect(c, 1, "\(c.map.name).delete(key)")
        let k = try keyAddress(c)
        emit(.call(c.dst, helper: helperID("map_delete_elem"), args: [.reg(mapRef(c)), .reg(k)]), c.loc)
        return .int(unsigned64: false, nonNegative: false)
    }

    /// `h.add(v)` on a hist map: one more in v's log2 bucket, and v added
    /// to the sum slot after the buckets (`MapDecl.histSumSlot`). The map is
    /// a shared array: two atomic adds, and two lookups the verifier inlines
    /// (array_map_gen_lookup).
    func histAdd(_ c: MapCall) throws -> Kind {
        let map = c.map
        try expect(c, 1, "\(map.name).add(value)")
        let v = try integerOperand(c.args[0], c.irep, c.insn, what: "the value added to hist `\(map.name)`")
        let bucket = log2Bucket(v, c.loc)
        let k = try materialize((bucket, .int(unsigned64: false, nonNegative: true)), as: map.key!, c.irep, c.insn, what: "the bucket", c.loc)
        try atomicAdd(map: map, key: k, increment: .imm(1), c.irep, c.insn, c.loc)
        let slot = try allocateStack(size: 4, alignment: 8, c.irep, c.insn)
        emit(.storeFrame(offset: slot, value: .imm(Int64(MapDecl.histSumSlot)), size: 4), c.loc)
        // The sum slot is always in range: its lookup cannot miss, so no
        // fault count (the null test is the verifier's).
        let sumKey = newVReg(), m = newVReg(), p = newVReg(), inc = newVReg()
        emit(.move(inc, v), c.loc)
        emit(.frameAddress(sumKey, offset: slot), c.loc)
        emit(.mapAddress(m, name: SymbolName(map.name)), c.loc)
        emit(.call(p, helper: helperID("map_lookup_elem"), args: [.reg(m), .reg(sumKey)]), c.loc)
        let add = newBlock(), join = newBlock()
        terminate(.branch(.ne, .reg(p), .imm(0), then: add, else: join), c.loc)
        ir.current = add
        emit(.atomicAdd(base: p, offset: 0, value: inc, size: 8), c.loc)
        terminate(.jump(join), c.loc)
        ir.current = join
        return .nil
    }

    // MARK: Ring buffers, perf buffers, stack traces

    /// `rb.reserve(Event)`: a possibly-nil record the program must submit or discard.
    func ringbufReserve(_ c: MapCall) throws -> Kind {
        let map = c.map
        try expect(c, 1, "e = \(map.name).reserve(Event)")
        guard case .structType(let s) = c.args[0].1 else {
            throw error(c.irep, c.insn, "`reserve` takes a struct declared with `struct`", hint: "e = \(map.name).reserve(Event)", symbol: c.name)
        }
        let size = language.structs[s]!.size
        records.byMap[map.name] = s
        emit(.call(c.dst, helper: helperID("ringbuf_reserve"), args: [.reg(mapRef(c)), .imm(Int64(size)), .imm(0)]), c.loc)
        let id = pointers.id(at: c.dst, c.loc)
        pointers.acquired[id] = (c.loc.line, "ring buffer record")
        // Counted where the body tests the record for nil (Branches.swift), not
        // here: a second test of the same pointer would make verifiers before
        // 6.8 or so walk the impossible `non-nil == 0` edge to an exit holding
        // the record ("Unreleased reference"; seen on 6.1 in the kernel matrix).
        pointers.ringRecords[id] = map.name
        return .pointer(.structure(s), nullable: true, id: id)
    }

    /// `rb.submit(e)` / `rb.discard(e)`: every copy of the record is gone after.
    func ringbufRelease(_ c: MapCall, _ frame: Frame, kinds: inout [Kind]) throws -> Kind {
        let name = c.name, R = frame.regs
        try expect(c, 1, "\(c.map.name).\(name)(e)")
        let r = c.argRegs[0]
        var k = kinds[r]
        k = ensureNonNil(R[r], &kinds, k, c.loc)
        guard case .pointer(_, false, let id) = k else {
            return try unsettled(.nil, error(c.irep, c.insn, "`\(name)` takes a record from `\(c.map.name).reserve`, not \(k.rubyName)", hint: nil, symbol: name))
        }
        emit(.call(nil, helper: helperID(name == "submit" ? "ringbuf_submit" : "ringbuf_discard"), args: [.reg(R[r]), .imm(0)]), c.loc)
        kinds = released(kinds, id: id)
        return .nil
    }

    /// `rb.output(e)` / `perf.output(ctx, e)`: a struct or an Integer copied out.
    func mapOutput(_ c: MapCall) throws -> Kind {
        let map = c.map, name = c.name, args = c.args, irep = c.irep, insn = c.insn, loc = c.loc
        let perf = map.kind == .perfEventArray
        try expect(c, perf ? 2 : 1, perf ? "\(map.name).output(ctx, event)" : "\(map.name).output(event)")
        if perf, args[0].1 != .context { throw error(irep, insn, "`output` on a perf_event_array takes the context first", hint: "\(map.name).output(ctx, event)", symbol: name) }
        let value = args[perf ? 1 : 0]
        let (addr, size): (VReg, Int)
        switch value.1 {
        case .frameObject(.structure(let s), _), .pointer(.structure(let s), false, _):
            (addr, size) = (address(of: value.0, value.1, loc)!, language.structs[s]!.size)
            records.byMap[map.name] = s
        case .int, .bool:
            (addr, size) = (try materialize(value, as: .scalar(.u64), irep, insn, what: "the event", loc), 8)
        default:
            return try unsettled(.nil, error(irep, insn, "`output` takes a struct (Event.new) or an Integer, not \(value.1.rubyName)", hint: nil, symbol: name))
        }
        if perf {
            emit(.call(c.dst, helper: helperID("perf_event_output"), args: [.reg(args[0].0), .reg(mapRef(c)), .imm(0xffff_ffff), .reg(addr), .imm(Int64(size))]), loc)
        } else {
            emit(.call(c.dst, helper: helperID("ringbuf_output"), args: [.reg(mapRef(c)), .reg(addr), .imm(Int64(size)), .imm(0)]), loc)
        }
        countFault(if: .slt, .reg(c.dst), .imm(0), map: map.name, .lostRecords, loc)
        return .int(unsigned64: false, nonNegative: false)
    }

    /// `st.get_stackid(ctx, flags)`.
    func getStackID(_ c: MapCall) throws -> Kind {
        let map = c.map, args = c.args
        try expect(c, 2, "\(map.name).get_stackid(ctx, flags)")
        guard args[0].1 == .context else { throw error(c.irep, c.insn, "`get_stackid` takes the context first", hint: "\(map.name).get_stackid(ctx, 0)", symbol: c.name) }
        let flags = try integerOperand(args[1], c.irep, c.insn, what: "the flags")
        emit(.call(c.dst, helper: helperID("get_stackid"), args: [.reg(args[0].0), .reg(mapRef(c)), flags]), c.loc)
        return .int(unsigned64: false, nonNegative: false)
    }

    // MARK: Atomic adds and histograms

    /// `lock value += increment` for the key, creating the entry when absent
    /// (like `__sync_fetch_and_add` on a looked-up value in C).
    func atomicAdd(map: MapDecl, key: VReg, increment: Operand, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation, faultName: String? = nil) throws {
        guard case .scalar(let vt) = map.value!, vt.size == 8 || vt.size == 4 else {
            throw error(irep, insn, "`+=` on map `\(map.name)` needs 4- or 8-byte Integer values", hint: nil)
        }
        func mapRef() -> VReg { let r = newVReg(); emit(.mapAddress(r, name: SymbolName(map.name)), loc); return r }
        let lookup = helperID("map_lookup_elem"), update = helperID("map_update_elem")
        let inc = newVReg()
        emit(.move(inc, increment), loc)
        let p = newVReg()
        emit(.call(p, helper: lookup, args: [.reg(mapRef()), .reg(key)]), loc)
        let hit = newBlock(), miss = newBlock(), join = newBlock()
        terminate(.branch(.ne, .reg(p), .imm(0), then: hit, else: miss), loc)
        ir.current = hit
        emit(.atomicAdd(base: p, offset: 0, value: inc, size: vt.size), loc)
        terminate(.jump(join), loc)
        ir.current = miss
        if [MapKind.array, .percpuArray, .hist].contains(map.kind) {
            // An array has every in-range key: a miss is a key out of range,
            // which no insert can fix (the hash map's insert race needs none).
            incrementFault(map: faultName ?? map.name, .failedUpdates, loc)
            terminate(.jump(join), loc)
            ir.current = join
            return
        }
        let slot = try allocateStack(size: 8, irep, insn)
        emit(.storeFrame(offset: slot, value: .reg(inc), size: vt.size), loc)
        let v = newVReg(); emit(.frameAddress(v, offset: slot), loc)
        // BPF_NOEXIST: if another CPU created the entry meanwhile, add to it.
        let rc = newVReg()
        emit(.call(rc, helper: update, args: [.reg(mapRef()), .reg(key), .reg(v), .imm(1)]), loc)
        let retry = newBlock()
        terminate(.branch(.eq, .reg(rc), .imm(0), then: join, else: retry), loc)
        ir.current = retry
        let p2 = newVReg()
        emit(.call(p2, helper: lookup, args: [.reg(mapRef()), .reg(key)]), loc)
        let hit2 = newBlock(), full = newBlock()
        terminate(.branch(.ne, .reg(p2), .imm(0), then: hit2, else: full), loc)
        ir.current = hit2
        emit(.atomicAdd(base: p2, offset: 0, value: inc, size: vt.size), loc)
        terminate(.jump(join), loc)
        // Neither inserted nor found: the map is full.
        ir.current = full
        incrementFault(map: faultName ?? map.name, .failedUpdates, loc)
        terminate(.jump(join), loc)
        ir.current = join
    }

    /// Counts a fault when `lhs cond rhs`: the program goes on either way.
    func countFault(if cond: Condition, _ lhs: Operand, _ rhs: Operand, map: String, _ kind: Fault.Kind, _ loc: SourceLocation) {
        let fault = newBlock(), join = newBlock()
        terminate(.branch(cond, lhs, rhs, then: fault, else: join), loc)
        ir.current = fault
        incrementFault(map: map, kind, loc)
        terminate(.jump(join), loc)
        ir.current = join
    }

    /// `faults[slot] += 1`, atomically (`Fault.variableName`, a `.bss`
    /// array: its address is one `ld_imm64`, no lookup and no branch). Only
    /// on a failure path, so its cost is paid only when something was lost.
    func incrementFault(map: String, _ kind: Fault.Kind, _ loc: SourceLocation) {
        let slot = records.faultSlot(map, kind)
        let counters = newVReg(), one = newVReg()
        emit(.variableAddress(counters, name: SymbolName(Fault.variableName)), loc)
        emit(.move(one, .imm(1)), loc)
        emit(.atomicAdd(base: counters, offset: 8 * slot, value: one, size: 8), loc)
    }

    /// bpftrace's hist() bucket: 0 for v ≤ 0, else 1 + floor(log2(v)),
    /// by binary search: five steps `sh = (x > 2^s - 1) ? s : 0; x >>= sh;
    /// r |= sh` (a conditional move the verifier prunes at the join) and a
    /// last `r |= x >> 1`. Values ≤ 0 skip it all. With `zeroApart`
    /// (bpftrace 0.17's implicit hist) negatives are bucket 0, 0 is bucket 1
    /// and every bucket above moves up by one: two tests up front, not a
    /// sign test after the search.
    func log2Bucket(_ v: Operand, zeroApart: Bool = false, _ loc: SourceLocation) -> VReg {
        let x = newVReg(), r = newVReg(), out = newVReg()
        let positive = newBlock(), join = newBlock()
        emit(.move(out, .imm(0)), loc)
        if zeroApart {
            let nonNegative = newBlock()
            terminate(.branch(.slt, v, .imm(0), then: join, else: nonNegative), loc)
            ir.current = nonNegative
            emit(.move(out, .imm(1)), loc)
        }
        terminate(.branch(.slt, v, .imm(1), then: join, else: positive), loc)
        ir.current = positive
        emit(.move(x, v), loc)
        emit(.move(r, .imm(0)), loc)
        for s in [32, 16, 8, 4, 2] {
            let sh = newVReg()
            emit(.setcc(.ugt, sh, .reg(x), .imm((1 << Int64(s)) - 1)), loc)
            emit(.binary(.shl, sh, .reg(sh), .imm(Int64(s.trailingZeroBitCount))), loc)
            emit(.binary(.lshr, x, .reg(x), .reg(sh)), loc)
            emit(.binary(.or, r, .reg(r), .reg(sh)), loc)
        }
        let last = newVReg()
        emit(.binary(.lshr, last, .reg(x), .imm(1)), loc)
        emit(.binary(.or, r, .reg(r), .reg(last)), loc)
        emit(.binary(.add, out, .reg(r), .imm(zeroApart ? 2 : 1)), loc)
        terminate(.jump(join), loc)
        ir.current = join
        return out
    }
}

/// The increment of a `m[k] += n` found in the bytecode (mruby compiles it
/// to `m[k]`, an add and `m[k]=`; the compiler turns the triple into one
/// atomic add).
enum AtomicIncrement { case immediate(Int64), register(Int) }

/// Finds `m[k] op= n` sequences: `MOVE x m; MOVE x+1 k; SEND x :[] 1;
/// …; ADD x / ADDI x n / SUB x / SUBI x n; SEND m :[]= 2` with m+1 = k and
/// m+2 = x. Keys: pcs of both the `[]` and the `[]=`.
func findAtomicIncrements(_ insns: [MInstruction], symbol: (Int) -> String) -> [Int: AtomicIncrement] {
    var out: [Int: AtomicIncrement] = [:]
    for (i, get) in insns.enumerated() where get.op == .send && (get.c & 0x0f) == 1 && symbol(get.b) == "[]" && i >= 2 {
        let x = get.a
        guard insns[i - 2].op == .move, insns[i - 2].a == x, insns[i - 1].op == .move, insns[i - 1].a == x + 1 else { continue }
        let m = insns[i - 2].b, k = insns[i - 1].b
        guard k == m + 1, x == m + 2 else { continue }
        // Skip the increment's computation: it may use x+1… but not x, m, k.
        var j = i + 1
        while j < insns.count {
            let n = insns[j]
            if [.add, .addi, .sub, .subi].contains(n.op), n.a == x { break }
            if n.isTerminator || n.a == x || n.a == m || n.a == k { j = insns.count; break }
            j += 1
        }
        guard j + 1 < insns.count else { continue }
        let set = insns[j + 1]
        guard set.op == .send, set.a == m, (set.c & 0x0f) == 2, symbol(set.b) == "[]=",
              let inc = atomicIncrement(insns, get: i, at: j) else { continue }
        out[get.pc] = inc
        out[set.pc] = inc
    }
    return out
}

/// What the `ADDI`/`SUBI`/`ADD`/`SUB` at `j` of a `m[k] op= n` (whose `[]`
/// is at `get`, the operation on its register `x`) adds atomically: the
/// immediate, or register `x+1`; nil for a `SUB` by a register (left a
/// read-modify-write). A literal loaded right before the operation is an
/// immediate too: mruby's unoptimised `LOADI x+1 c; ADD x x+1` is its
/// optimised `ADDI x c`. The callers accept no jump between the `[]` and the
/// operation, so none lands on it and the load is the operand's only value.
func atomicIncrement(_ insns: [MInstruction], get: Int, at j: Int) -> AtomicIncrement? {
    let op = insns[j]
    let literal = j - 1 > get && insns[j - 1].a == op.a + 1 ? insns[j - 1].integerLiteral : nil
    switch op.op {
    case .addi: return .immediate(Int64(op.b))
    case .subi: return .immediate(-Int64(op.b))
    case .add: return literal.map { .immediate($0) } ?? .register(op.a + 1)
    case .sub: return literal.map { .immediate(-$0) }
    default: return nil
    }
}
