import BPF

// Method calls: dispatch by receiver, calls on self (helpers, conveniences),
// helper arguments checked against their prototypes.

extension Lowering {
    // MARK: Dispatch

    /// `SEND`/`SSEND`/`SENDB`/`SSENDB`: a method call, by what receives it —
    /// an inlined `def`, the language's declarations (`sendLanguage`), a
    /// helper or convenience on self, a context field, `N.times`, or an
    /// operator on an Integer.
    func send(_ frame: Frame, _ insn: MInstruction, kinds: inout [Kind], loc: SourceLocation) throws -> Kind {
        let irep = frame.irep, R = frame.regs
        let name = irep.symbol(insn.b)
        let argc = insn.c & 0x0f, kwargc = (insn.c >> 4) & 0x0f
        let hasBlock = insn.op == .sendb || insn.op == .ssendb
        if argc == 15 || kwargc != 0 {
            throw error(irep, insn, "splat and keyword arguments are not available in a BPF program body", hint: nil, symbol: name)
        }
        let selfCall = insn.op == .ssend || insn.op == .ssendb
        let receiver: Kind = selfCall ? .selfObject : kinds[insn.a]
        let argRegs = (0..<argc).map { insn.a + 1 + $0 }
        let args = argRegs.map { (R[$0], kinds[$0]) }

        if receiver == .selfObject, functions.contains(name), !hasBlock {
            return try inlineFunction(name, frame: frame, insn: insn, argRegs: argRegs, kinds: kinds, loc: loc)
        }
        if let k = try sendLanguage(frame, insn, name: name, receiver: receiver, argRegs: argRegs, hasBlock: hasBlock, kinds: &kinds, loc: loc) {
            return k
        }
        if receiver == .selfObject {
            return try selfSend(name, args: args, hasBlock: hasBlock, frame, insn, kinds: &kinds, loc)
        }
        if case .context = receiver {
            guard argc == 0, !hasBlock else {
                if name.hasSuffix("="), argc == 1 {
                    throw error(irep, insn, "the context is read-only: `ctx.\(name.dropLast()) = …` cannot be compiled",
                                hint: "programs read context fields; writing them (`skb->mark` in C) is not supported yet", symbol: name)
                }
                throw error(irep, insn, "context field `\(name)` takes no arguments", hint: nil, symbol: name)
            }
            return try contextField(name, base: R[insn.a], dst: R[insn.a], irep: irep, insn: insn, loc: loc)
        }
        if case .int = receiver, name == "times", hasBlock, argc == 0 {
            guard case .block(let child) = kinds[insn.a + 1] else {
                throw error(irep, insn, "`times` needs a literal block", hint: "N.times do |i| … end", symbol: name)
            }
            kinds = try timesLoop(frame, callPC: insn.pc, count: R[insn.a], child: irep.child(child), kinds: kinds, loc: loc)
            return receiver
        }
        if hasBlock {
            throw error(irep, insn, "a block passed to `\(name)` cannot be compiled to BPF",
                        hint: "the only block-taking method in bodies is Integer#times", symbol: name)
        }
        if argc == 1 {
            return try binary(name, dst: R[insn.a], lhs: (R[insn.a], receiver), rhs: (.reg(args[0].0), args[0].1), irep, insn, loc)
        }
        if argc == 0, let k = try unary(name, receiver, R[insn.a], irep, insn, loc) {
            return k
        }
        let what: String
        switch receiver {
        case .string: what = "String methods are not available in a BPF program body"
        default: what = "`\(name)` is not available on \(receiver.rubyName) in a BPF program body"
        }
        return try unsettled(.signedInt, error(irep, insn, what, hint: "bodies compile integers, comparisons, the context's fields and BPF helpers", symbol: name))
    }

    /// Method calls that involve the language's declarations: maps, structs,
    /// params, globals, records, kernel pointers, the context's arguments.
    /// Returns nil when the call is not one of these.
    func sendLanguage(_ frame: Frame, _ insn: MInstruction, name: String, receiver: Kind, argRegs: [Int], hasBlock: Bool,
                      kinds: inout [Kind], loc: SourceLocation) throws -> Kind? {
        let irep = frame.irep, R = frame.regs
        let dst = R[insn.a]
        let args = argRegs.map { (R[$0], kinds[$0]) }
        func noBlock() throws {
            if hasBlock { throw error(irep, insn, "`\(name)` does not take a block", hint: nil, symbol: name) }
        }
        switch receiver {
        case .selfObject:
            if language.maps[name] != nil, args.isEmpty { try noBlock(); return .map(name) }
            if let k = try variableCall(name, args: args, dst: dst, irep, insn, loc) { return k }
            if let k = try stringCall(name, args: args, dst: dst, irep, insn, loc) { return k }
            if let k = try userRead(name, args: args, frame: frame, dst: dst, insn, loc) { return k }
            return try kernelCall(name, args: args, dst: dst, irep, insn, loc)
        case .structType(let s):
            guard name == "new", args.isEmpty else { return nil }
            try noBlock()
            return try newStruct(s, frame, irep, insn, loc)
        case .map(let m):
            try noBlock()
            return try mapMethod(frame, insn, map: language.maps[m]!, name: name, args: argRegs, kinds: &kinds, loc: loc)
        case .implicitMap, .implicitEntry:
            try noBlock()
            return try implicitMethod(frame, insn, receiver: receiver, name: name, args: argRegs, kinds: &kinds, loc: loc)
        case .pointer, .frameObject:
            try noBlock()
            return try memberAccess(frame, insn, name: name, receiverReg: insn.a, args: args, kinds: &kinds, loc: loc)
        case .kernel, .kernelPath:
            guard args.isEmpty else { return nil }
            try noBlock()
            return try kernelRead(name, base: dst, receiver: receiver, dst: dst, irep: irep, insn: insn, loc: loc)
        case .context where context?.fields.contains(where: { $0.name == name }) != true:
            return try contextCall(name, args: args, dst: dst, irep, insn, loc)
        default:
            return nil
        }
    }

    // MARK: Calls on self

    /// A call on self that is no declaration: a helper or a convenience.
    /// Helpers take pointers that are not nil: possibly-nil ones are checked first.
    func selfSend(_ name: String, args: [(VReg, Kind)], hasBlock: Bool, _ frame: Frame, _ insn: MInstruction,
                  kinds: inout [Kind], _ loc: SourceLocation) throws -> Kind {
        let irep = frame.irep
        if hasBlock {
            throw error(irep, insn, "`\(name)` does not take a block in a BPF program body", hint: nil, symbol: name)
        }
        var checked = args
        for (i, a) in args.enumerated() {
            if case .pointer(_, true, _) = a.1 {
                checked[i].1 = ensureNonNil(a.0, &kinds, a.1, loc)
            }
        }
        let result = try selfCallLowering(name, args: checked, dst: frame.regs[insn.a], irep: irep, insn: insn, loc: loc)
        // Helpers that hand a reference back: every copy of it is gone.
        if let proto = HelperPrototype.named(name), ["bpf_ringbuf_submit", "bpf_ringbuf_discard", "bpf_sk_release"].contains(proto.name),
           let first = checked.first, case .pointer(_, _, let id) = first.1 {
            kinds = released(kinds, id: id)
        }
        return result
    }

    /// Calls on `self`: the language's conveniences, `printk`, BPF helpers.
    func selfCallLowering(_ name: String, args: [(VReg, Kind)], dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation) throws -> Kind {
        if let k = try convenience(name, args: args, dst: dst, irep, insn, loc) { return k }
        if name == "printk" { return try printk(args: args, dst: dst, irep, insn, loc) }
        if let k = try output(name, args: args, dst: dst, irep, insn, loc) { return k }
        guard let proto = HelperPrototype.named(name) else {
            return try unsettled(.signedInt, error(irep, insn, "undefined method `\(name)` in a BPF program body",
                                                   hint: BpftraceSpellings.bodyHint(name) ?? "helpers are called by their name with or without `bpf_` (e.g. ktime_get_ns); conveniences: pid tid uid gid cpu ktime_ns printk ntohs htons ntohl htonl",
                                                   symbol: name))
        }
        return try helperCall(proto, args: args.map { (.reg($0.0), $0.1) }, dst: dst, irep: irep, insn: insn, loc: loc, spelled: name)
    }

    /// `pid`, `tid`, `uid`, `gid`, `cpu`, `ktime_ns`, `size` (the
    /// format's size in `trace_printk(fmt, size, …)`), and the byte-order
    /// conversions `ntohs`, `htons`, `ntohl`, `htonl`; nil for other names.
    func convenience(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
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
        case "ntohs", "htons", "ntohl", "htonl":
            // Network order is big-endian, BPF's targets little-endian: the
            // low 16 or 32 bits byte-swapped, the rest cleared (`be16`, `be32`).
            guard args.count == 1, case .int = args[0].1 else {
                throw error(irep, insn, "`\(name)` takes one Integer", hint: "e.g. `\(name)(cast(:udphdr, data + 34).dest)`", symbol: name)
            }
            emit(.binary(.bswap, dst, .reg(args[0].0), .imm(name.hasSuffix("s") ? 16 : 32)), loc)
            return .int(unsigned64: false, nonNegative: true)
        default:
            return nil
        }
    }

    // MARK: Helpers

    /// A helper's id (`enum bpf_func_id`) by its name, with or without `bpf_`.
    func helperID(_ name: String) -> Int32 {
        if let id = helperIDs[name] { return id }
        let id = HelperPrototype.named(name)!.id
        helperIDs[name] = id
        return id
    }

    /// A helper call, arguments checked against its prototype.
    func helperCall(_ proto: HelperPrototype, args: [(Operand, Kind)], dst: VReg, irep: Irep, insn: MInstruction, loc: SourceLocation, spelled: String) throws -> Kind {
        let sig = "\(proto.name)(" + proto.parameters.map { "\($0.cType) \($0.name)" }.joined(separator: ", ") + ")"
        let variadicPrintk = proto.name == "bpf_trace_printk"
        if variadicPrintk ? (args.count < 2 || args.count > 5) : args.count != proto.parameters.count {
            return try unsettled(.signedInt, error(irep, insn, "`\(spelled)` takes \(variadicPrintk ? "a format, its size and up to 3 values" : "\(proto.parameters.count) argument\(proto.parameters.count == 1 ? "" : "s")"), given \(args.count)",
                                                   hint: sig, symbol: spelled))
        }
        var lastString: String? = nil
        var operands: [Operand] = []
        for (i, (op, k)) in args.enumerated() {
            let param = i < proto.parameters.count ? proto.parameters[i] : HelperPrototype.Parameter(name: "arg\(i)", cType: "u64", kind: .scalar)
            operands.append(try helperOperand(op, k, param: param, index: i, lastString: &lastString, irep, insn, loc, spelled: spelled, sig: sig))
        }
        try checkStackWrites(proto, args: args, operands: operands, irep, insn, spelled: spelled)
        emit(.call(proto.returnKind == .void ? nil : dst, helper: proto.id, args: CallArguments(operands)), loc)
        return helperResult(proto, dst: dst, loc)
    }

    /// Argument `index` of a helper call as its parameter takes it: string
    /// literals, maps and stack structs by address.
    func helperOperand(_ op: Operand, _ k: Kind, param: HelperPrototype.Parameter, index i: Int, lastString: inout String?,
                       _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation, spelled: String, sig: String) throws -> Operand {
        switch (param.kind, k) {
        case (.pointer, .string(let s)) where param.cType.contains("char"):
            let t = newVReg()
            emit(.stringAddress(t, offset: ir.strings.offset(of: s)), loc)
            lastString = s
            return .reg(t)
        case (.pointer, .context), (.pointer, .kernel), (.pointer, .cString), (.pointer, .charArray), (.pointer, .pointer(_, false, _)):
            return op
        case (.pointer, .nil):
            return .imm(0)
        case (.pointer, .map(let name)):
            let t = newVReg()
            emit(.mapAddress(t, name: SymbolName(name)), loc)
            return .reg(t)
        case (.pointer, .frameObject(let ft, let site)):
            let t = newVReg()
            emit(.frameAddress(t, offset: try frameOffset(site: site, type: ft, irep, insn)), loc)
            return .reg(t)
        case (.pointer, .int) where ["unsafe_ptr", "user_ptr", "unsafe_addr"].contains(param.name):
            // The kernel takes any address here (ARG_ANYTHING): probe reads of raw addresses.
            return op
        case (.scalar, .pointer(_, false, _)), (.scalar, .kernel), (.scalar, .cString), (.scalar, .charArray):
            // An address passed where the prototype says integer (e.g. unsafe_ptr as u64).
            return op
        case (.scalar, .formatSize):
            guard let s = lastString else { fallthrough }
            return .imm(Int64(s.utf8.count + 1))
        case (.scalar, .int), (.scalar, .bool):
            return op
        case (.scalar, .nil):
            return .imm(0)
        default:
            return try unsettled(.imm(0), error(irep, insn, "argument \(i + 1) of `\(spelled)` (\(param.cType) \(param.name)) cannot be \(k.rubyName)",
                                                hint: sig, symbol: spelled))
        }
    }

    /// A stack struct passed with a constant size larger than it: the verifier
    /// would reject the out-of-bounds write; say it here.
    func checkStackWrites(_ proto: HelperPrototype, args: [(Operand, Kind)], operands: [Operand], _ irep: Irep, _ insn: MInstruction, spelled: String) throws {
        for (i, (_, k)) in args.enumerated() where i + 1 < args.count && i + 1 < proto.parameters.count {
            guard case .frameObject(let t, _) = k, proto.parameters[i + 1].kind == .scalar,
                  ["size", "len", "size_of_buf", "buf_size", "sz"].contains(proto.parameters[i + 1].name),
                  let n = { () -> Int64? in
                      switch operands[i + 1] { case .imm(let v): return v; case .reg(let r): return constantOf(r) }
                  }() else { continue }
            let size = language.size(of: t)
            if n > Int64(size), kindsSettled {
                throw error(irep, insn, "`\(spelled)` would write \(n) bytes into a \(size)-byte \(t)",
                            hint: "pass a size of at most \(size), or declare a larger struct", symbol: spelled)
            }
        }
    }

    /// What a helper gives back, by its prototype's return type.
    func helperResult(_ proto: HelperPrototype, dst: VReg, _ loc: SourceLocation) -> Kind {
        switch proto.returnKind {
        case .void: emit(.move(dst, .imm(0)), loc); return .nil
        case .pointer:
            // An opaque pointer (a socket, a task…): passed on to other helpers,
            // checked for nil before use like a map lookup's.
            let id = pointers.id(at: dst, loc)
            if proto.name.hasPrefix("bpf_sk_lookup") || proto.name.hasPrefix("bpf_skc_lookup") || proto.name == "bpf_ringbuf_reserve" {
                pointers.acquired[id] = (loc.line, proto.name == "bpf_ringbuf_reserve" ? "ring buffer record" : "socket reference")
            }
            return .pointer(.chars(0), nullable: true, id: id)
        case .scalar:
            let t = proto.returnCType
            if t.contains("u64") { return .int(unsigned64: true, nonNegative: true) }
            return .int(unsigned64: false, nonNegative: t.hasPrefix("__u") || t.contains("unsigned"))
        }
    }
}
