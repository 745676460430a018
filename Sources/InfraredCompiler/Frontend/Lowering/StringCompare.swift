import BPF

// String compares (`==`, `!=`, `start_with?`) and strings as map keys.
//
// A string value (`comm`, a char array, a C string, a literal) is copied
// into a zeroed stack buffer by the helper its origin needs, then compared a
// u64 word at a time. No `bpf_strncmp` (5.17+) and no loop: the verifier of
// 6.1 accepts it, and the compare is as long as the literal. The buffer is
// zeroed (or padded by the helper), so bytes after a string's NUL are 0 and
// whole-word compares are exact.
//
// The copy must not cut the value where the literal ends: a helper copying
// `size` bytes writes at most size - 1 characters and a NUL, so `== "bash"`
// copies 6 bytes or more (the value's 5th byte must be its own, not the
// helper's NUL), unless the copy holds the whole value (`comm`: 16 bytes).

/// A string value as a compare or a key reads it.
struct StringOperand {
    enum Source {
        /// The task's name: `bpf_get_current_comm`, padded with zeros.
        case comm
        /// A `char[N]` at the address in the register.
        case chars(VReg, Int)
        /// A C string at the address in the register, user or kernel memory.
        case pointer(VReg, user: Bool)
        case literal(String)
    }
    let source: Source

    /// The most characters the value holds before its NUL; nil when unknown.
    var capacity: Int? {
        switch source {
        case .comm: return 15
        case .chars(_, let n): return n - 1
        case .pointer: return nil
        case .literal(let s): return s.utf8.count
        }
    }

    /// What the value is, in messages.
    var described: String {
        switch source {
        case .comm: return "`comm` (char[16], at most 15 characters)"
        case .chars(_, let n): return "a char[\(n)] (at most \(n - 1) characters)"
        case .pointer: return "a C string"
        case .literal(let s): return "\"\(s)\""
        }
    }

    var isLiteral: Bool { if case .literal = source { return true }; return false }
}

/// The stack a string compare copies its operands to: dead once the
/// compare's result is computed, so every compare of a program reuses it
/// (the BPF stack is 512 bytes; a program may compare many times).
struct StringScratch {
    var offset = 0
    var size = 0
}

/// Two string values of unknown length compare at most this many
/// characters (bpftrace's default string size is 64 bytes too).
let stringCompareLimit = 63

extension Lowering {
    /// The string value a register of kind `k` holds, if it holds one.
    func stringOperand(_ r: VReg, _ k: Kind) -> StringOperand? {
        switch k {
        case .comm: return StringOperand(source: .comm)
        case .charArray(let n): return StringOperand(source: .chars(r, n))
        case .cString(let user, _): return StringOperand(source: .pointer(r, user: user))
        case .string(let s): return StringOperand(source: .literal(s))
        default: return nil
        }
    }

    /// `a == b`, `a != b`, `a.start_with?(b)` where a side is a string; nil
    /// when neither is (an Integer compare).
    func stringCompare(_ op: String, dst: VReg, lhs: (VReg, Kind), rhs: (Operand, Kind), _ irep: Irep, _ insn: MInstruction,
                       _ loc: SourceLocation) throws -> Kind? {
        guard ["==", "!=", "start_with?"].contains(op) else { return nil }
        let a = stringOperand(lhs.0, lhs.1)
        let b = rhs.0.register.flatMap { stringOperand($0, rhs.1) }
        guard var a, var b else {
            // `start_with?` on a string takes a string; `==` of a string and a non-string is left to the Integer compare's error.
            if op == "start_with?", a != nil {
                return try unsettled(.bool, error(irep, insn, "`start_with?` takes a string, not \(rhs.1.rubyName)",
                                                  hint: "ctx.filename.start_with?(\"/tmp/\")", symbol: op))
            }
            return nil
        }
        let prefix = op == "start_with?"
        if prefix, a.isLiteral {
            return try unsettled(.bool, error(irep, insn, "`start_with?` on a string literal is not compiled to BPF",
                                              hint: "put the value first: comm.start_with?(\"ba\")", symbol: op))
        }
        if !prefix, a.isLiteral { swap(&a, &b) }      // `"bash" == comm`
        if case .literal(let x) = a.source, case .literal(let y) = b.source {
            emit(.move(dst, .imm((x == y) == (op == "==") ? 1 : 0)), loc)
            return .bool
        }
        let equal: (VReg, Operand)
        if case .literal(let s) = b.source {
            let n = s.utf8.count
            if let c = a.capacity, n > c {
                return try unsettled(.bool, error(irep, insn, "\"\(s)\" has \(n) characters: longer than \(a.described), so `\(op)` is always \(op == "!=")",
                                                  hint: prefix ? "shorten the prefix to at most \(c) characters" : "compare with a literal of at most \(c) characters (`comm` is cut at 15: compare a prefix with start_with?)",
                                                  symbol: op))
            }
            equal = try compareWithLiteral(a, Array(s.utf8), prefix: prefix, irep, insn, loc)
        } else {
            equal = try compareValues(a, b, prefix: prefix, irep, insn, loc)
        }
        emit(.setcc(op == "!=" ? .ne : .eq, dst, .reg(equal.0), equal.1), loc)
        return .bool
    }

    /// Two operands equal when the value's bytes match the literal's
    /// (`prefix`: its first n bytes; else its n bytes and the NUL).
    func compareWithLiteral(_ a: StringOperand, _ lit: [UInt8], prefix: Bool, _ irep: Irep, _ insn: MInstruction,
                            _ loc: SourceLocation) throws -> (VReg, Operand) {
        let n = lit.count
        // Bytes compared, and bytes copied so the copy is not cut within them.
        let compared = prefix ? n : n + 1
        // One byte more than compared, or the whole value when that is less.
        var copied = compared + 1
        if let c = a.capacity, c + 1 < copied { copied = c + 1 }
        let buf = try scratch(roundUp8(copied), irep, insn)
        try fillString(a, at: buf, size: roundUp8(copied), loc)
        var words: [(VReg, Operand)] = []
        for i in stride(from: 0, to: compared, by: 8) {
            let take = min(8, compared - i)
            let word = newVReg()
            emit(.loadFrame(word, offset: buf + i, size: 8, signed: false), loc)
            var litWord: UInt64 = 0
            for j in 0..<take where i + j < n { litWord |= UInt64(lit[i + j]) << (8 * UInt64(j)) }
            // Bytes past `compared` in the last word: masked off for a prefix;
            // for `==` they are the zeros after both NULs, part of the match.
            if prefix && take < 8 {
                emit(.binary(.and, word, .reg(word), .imm(Int64(bitPattern: (1 << (8 * UInt64(take))) - 1))), loc)
            }
            words.append((word, .imm(Int64(bitPattern: litWord))))
        }
        return combine(words, loc)
    }

    /// Two operands equal when two string values are equal (`prefix`: when
    /// `a` starts with `b`).
    func compareValues(_ a: StringOperand, _ b: StringOperand, prefix: Bool, _ irep: Irep, _ insn: MInstruction,
                       _ loc: SourceLocation) throws -> (VReg, Operand) {
        // Compare the characters the larger one can hold (at most the limit),
        // copying one more so neither copy is cut within them.
        let chars = min(max(a.capacity ?? stringCompareLimit, b.capacity ?? stringCompareLimit), stringCompareLimit)
        let size = roundUp8(chars + 2)
        let ba = try scratch(2 * size, irep, insn), bb = ba + size
        try fillString(a, at: ba, size: size, loc)
        try fillString(b, at: bb, size: size, loc)
        if !prefix {
            var words: [(VReg, Operand)] = []
            for i in stride(from: 0, to: roundUp8(chars + 1), by: 8) {
                let x = newVReg(), y = newVReg()
                emit(.loadFrame(x, offset: ba + i, size: 8, signed: false), loc)
                emit(.loadFrame(y, offset: bb + i, size: 8, signed: false), loc)
                words.append((x, .reg(y)))
            }
            return combine(words, loc)
        }
        // A prefix of unknown length: byte by byte until b's NUL (unrolled, bounded).
        let result = newVReg()
        let yes = newBlock(), no = newBlock(), join = newBlock()
        for i in 0...chars {
            let x = newVReg(), y = newVReg()
            emit(.loadFrame(y, offset: bb + i, size: 1, signed: false), loc)
            let same = newBlock(), nextByte = newBlock()
            terminate(.branch(.eq, .reg(y), .imm(0), then: yes, else: same), loc)
            ir.current = same
            emit(.loadFrame(x, offset: ba + i, size: 1, signed: false), loc)
            terminate(.branch(.ne, .reg(x), .reg(y), then: no, else: nextByte), loc)
            ir.current = nextByte
        }
        terminate(.jump(yes), loc)
        ir.current = yes; emit(.move(result, .imm(0)), loc); terminate(.jump(join), loc)
        ir.current = no; emit(.move(result, .imm(1)), loc); terminate(.jump(join), loc)
        ir.current = join
        return (result, .imm(0))
    }

    /// Pairs of words as one pair, equal when every pair is: a single word
    /// as it is, several as (x1 ^ y1) | (x2 ^ y2) | … against 0.
    func combine(_ words: [(VReg, Operand)], _ loc: SourceLocation) -> (VReg, Operand) {
        if words.count == 1 { return words[0] }
        var acc: VReg? = nil
        for (x, y) in words {
            let d = newVReg()
            emit(.binary(.xor, d, .reg(x), y), loc)
            if let acc { emit(.binary(.or, d, .reg(d), .reg(acc)), loc) }
            acc = d
        }
        guard let acc else { let z = newVReg(); emit(.move(z, .imm(0)), loc); return (z, .imm(0)) }   // start_with?("")
        return (acc, .imm(0))
    }

    func roundUp8(_ n: Int) -> Int { (n + 7) / 8 * 8 }

    /// `size` bytes of the compares' shared stack (8-aligned): its frame
    /// offset. A larger need grows the area when it is the stack's last
    /// allocation (the stack grows down: the new bytes go below it), else
    /// takes a new one.
    func scratch(_ size: Int, _ irep: Irep, _ insn: MInstruction) throws -> Int {
        guard size > stringScratch.size else { return stringScratch.offset }
        let onTop = stringScratch.size > 0 && ir.function.stackSize == -stringScratch.offset
        let extra = onTop ? size - stringScratch.size : size
        let old = stringScratch
        stringScratch = StringScratch(offset: try allocateStack(size: extra, alignment: 8, irep, insn), size: size)
        // Grown in place: one object (its compares read it whole).
        let objects = ir.function.stackObjects
        if onTop, objects.count >= 2, objects[objects.count - 2].offset == old.offset {
            ir.function.stackObjects.removeLast(2)
            ir.function.stackObjects.append(.init(offset: stringScratch.offset, size: size, alignment: 8))
        }
        return stringScratch.offset
    }

    /// Writes the string into `size` zeroed bytes at R10+off (8-aligned, a
    /// multiple of 8), at most `limit` bytes of it with its NUL.
    func fillString(_ s: StringOperand, at off: Int, size: Int, limit: Int? = nil, _ loc: SourceLocation) throws {
        let limit = min(limit ?? size, size)
        func zero(from start: Int) {
            var o = start
            while o < size {
                let sz = size - o >= 8 && o % 8 == 0 ? 8 : (size - o >= 4 && o % 4 == 0 ? 4 : (size - o >= 2 && o % 2 == 0 ? 2 : 1))
                emit(.storeFrame(offset: off + o, value: .imm(0), size: sz), loc); o += sz
            }
        }
        func address() -> VReg { let a = newVReg(); emit(.frameAddress(a, offset: off), loc); return a }
        switch s.source {
        case .comm:
            // get_current_comm pads with zeros (strscpy_pad): only the bytes past 16 need zeroing.
            let fill = min(limit, 16)
            zero(from: fill)
            emit(.call(nil, helper: helperID("get_current_comm"), args: [.reg(address()), .imm(Int64(fill))]), loc)
        case .chars(let p, let n):
            zero(from: 0)
            emit(.call(nil, helper: helperID("probe_read_kernel_str"), args: [.reg(address()), .imm(Int64(min(limit, n))), .reg(p)]), loc)
        case .pointer(let p, let user):
            zero(from: 0)
            emit(.call(nil, helper: helperID(user ? "probe_read_user_str" : "probe_read_kernel_str"), args: [.reg(address()), .imm(Int64(limit)), .reg(p)]), loc)
        case .literal(let text):
            let bytes = Array(text.utf8.prefix(limit - 1))
            for o in stride(from: 0, to: size, by: 8) {
                var w: UInt64 = 0
                for j in 0..<8 where o + j < bytes.count { w |= UInt64(bytes[o + j]) << (8 * UInt64(j)) }
                emit(.storeFrame(offset: off + o, value: .imm(Int64(bitPattern: w)), size: 8), loc)
            }
        }
    }

    /// A string value as a map key or value of a char array type (or a
    /// struct whose only field is one, e.g. `struct :Name do char :s, 16 end`):
    /// its address on the stack, the bytes past the NUL zero (hash keys
    /// compare every byte). Nil when `v` is no string or `t` no char array.
    func stringKey(_ v: (VReg, Kind), as t: ValueType, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> VReg? {
        guard let s = stringOperand(v.0, v.1) else { return nil }
        let n: Int
        switch t {
        case .chars(let c): n = c
        case .structure(let name):
            guard let d = language.structs[name], d.fields.count == 1, case .chars(let c) = d.fields[0].type else { return nil }
            n = c
        default: return nil
        }
        if case .literal(let text) = s.source, text.utf8.count > n - 1 {
            return try unsettled(v.0, error(irep, insn, "\"\(text)\" has \(text.utf8.count) characters: a \(t) key holds at most \(n - 1)",
                                            hint: "use a shorter literal or a larger char array", symbol: nil))
        }
        let size = roundUp8(n)
        let off = try allocateStack(size: size, alignment: 8, irep, insn)
        try fillString(s, at: off, size: size, limit: n, loc)
        let a = newVReg(); emit(.frameAddress(a, offset: off), loc)
        return a
    }
}
