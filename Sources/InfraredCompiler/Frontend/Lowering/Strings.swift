import BPF
import InfraredObject

// Strings: the object's string pool, `printk`, `comm` and C strings copied into
// char arrays. String compares and `puts`/`printf` through an implicit ring
// buffer would be lowered here (from `selfCallLowering` and `binary`).

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

extension Lowering {
    /// `printk(fmt, a, b, c)`: `bpf_trace_printk` with the format's size
    /// filled in.
    func printk(args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind {
        let name = "printk"
        guard let first = args.first, case .string(let fmt) = first.1 else {
            throw error(irep, insn, "`printk` needs a format string literal first", hint: "printk(\"pid %d\\n\", pid)", symbol: name)
        }
        guard args.count <= 4 else {
            throw error(irep, insn, "`printk` takes at most 3 values after the format", hint: "bpf_trace_printk prints at most 3 arguments", symbol: name)
        }
        var full: [(Operand, Kind)] = [(.reg(first.0), first.1), (.imm(Int64(fmt.utf8.count + 1)), .int(unsigned64: false, nonNegative: true))]
        full += args.dropFirst().map { (.reg($0.0), $0.1) }
        return try helperCall(HelperPrototype.named("trace_printk")!, args: full, dst: dst, irep: irep, insn: insn, loc: loc, spelled: name)
    }

    /// `comm` (the task's name, for a char array field) and
    /// `user_string(addr)` / `kernel_string(addr)` (a C string at an
    /// address, to copy into one); nil for other names.
    func stringCall(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        switch (name, args.count) {
        case ("comm", 0): return .comm
        case ("probe", 0): return .string(declaration.probe)   // a literal: puts/printf fold it, keys store its bytes
        case ("kstack", 0), ("ustack", 0): return stackID(user: name == "ustack", dst: dst, loc)
        case ("user_string", 1), ("kernel_string", 1):
            // An address (e.g. a USDT or uprobe argument), or a `char *` read from a
            // kernel struct, as a C string to copy into a char array.
            switch args[0].1 {
            case .int, .cString: break
            default: throw error(irep, insn, "`\(name)` takes an address (an Integer) or a `char *`", hint: "e.name = user_string(ctx.arg(1))", symbol: name)
            }
            emit(.move(dst, .reg(args[0].0)), loc)
            return .cString(user: name == "user_string", capacity: nil)
        default: return nil
        }
    }

    /// `comm` or a C string copied into the `n`-byte char array at
    /// base+offset (the task's name: at most 16 bytes).
    func copyString(_ value: (VReg, Kind), into base: VReg, offset off: Int, size n: Int, _ loc: SourceLocation) {
        let a = newVReg()
        emit(.move(a, .reg(base)), loc); emit(.binary(.add, a, .reg(a), .imm(Int64(off))), loc)
        if case .cString(let user, let capacity) = value.1 {
            // A kernel `char[N]` (`ctx.prev.comm`): at most its own N bytes,
            // as a char array (one without a NUL would read on past it).
            let helper = user ? "probe_read_user_str" : "probe_read_kernel_str"
            emit(.call(nil, helper: helperID(helper), args: [.reg(a), .imm(Int64(min(n, capacity ?? n))), .reg(value.0)]), loc)
        } else if case .charArray(let have) = value.1 {
            // Another char array: at most its own bytes (it may lack a NUL).
            emit(.call(nil, helper: helperID("probe_read_kernel_str"), args: [.reg(a), .imm(Int64(min(n, have))), .reg(value.0)]), loc)
        } else {
            emit(.call(nil, helper: helperID("get_current_comm"), args: [.reg(a), .imm(Int64(min(n, 16)))]), loc)
        }
    }
}

extension Lowering {
    /// `kstack` / `ustack` (bpftrace's): `bpf_get_stackid(ctx, map, flags)`
    /// into the implied stack map (flags 0, or BPF_F_USER_STACK); a ustack
    /// keeps the tgid in the high 32 bits for the loader's symbolizer
    /// (`Manifest.Implicit.stacks`). A negative id stays as it is.
    func stackID(user: Bool, dst: VReg, _ loc: SourceLocation) -> Kind {
        if kindsSettled { implicitMaps.stackMaps.insert(user ? .user : .kernel) }
        let map = newVReg()
        emit(.mapAddress(map, name: SymbolName(user ? Manifest.Implicit.userStackMap : Manifest.Implicit.kernelStackMap)), loc)
        emit(.call(dst, helper: helperID("get_stackid"), args: [.reg(ir.function.context), .reg(map), .imm(user ? 256 : 0)]), loc)
        if user {
            let tgid = newVReg()
            emit(.call(tgid, helper: helperID("get_current_pid_tgid"), args: []), loc)
            emit(.binary(.lshr, tgid, .reg(tgid), .imm(32)), loc)
            emit(.binary(.shl, tgid, .reg(tgid), .imm(32)), loc)
            emit(.binary(.and, dst, .reg(dst), .imm(0xffff_ffff)), loc)
            emit(.binary(.or, dst, .reg(dst), .reg(tgid)), loc)
        }
        return .stack(user: user)
    }
}
