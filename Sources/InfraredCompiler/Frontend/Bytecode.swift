/// One decoded mruby instruction. Operands are widened to Int; `EXT1/2/3`
/// prefixes are folded into the instruction they extend. We decode ourselves
/// because `mrb_decode_insn` truncates 24-bit operands.
struct MInstruction {
    /// Byte offset of the instruction (of its EXT prefix, if any).
    var pc: Int
    /// Byte offset of the next instruction; jump offsets are relative to it.
    var next: Int
    var op: String
    var a = 0, b = 0, c = 0

    /// Absolute target of a relative jump (JMP: operand a; JMPIF/JMPNOT/JMPNIL: operand b).
    var jumpTarget: Int? {
        switch op {
        case "JMP", "JMPUW": return next + Int(Int16(truncatingIfNeeded: a))
        case "JMPIF", "JMPNOT", "JMPNIL": return next + Int(Int16(truncatingIfNeeded: b))
        default: return nil
        }
    }
    var isTerminator: Bool {
        ["JMP", "JMPUW", "JMPIF", "JMPNOT", "JMPNIL", "RETURN", "RETURN_BLK", "BREAK", "STOP", "ERR"].contains(op)
    }
    var fallsThrough: Bool { !["JMP", "JMPUW", "RETURN", "RETURN_BLK", "BREAK", "STOP", "ERR"].contains(op) }
}

enum BytecodeError: Error { case truncated(pc: Int), unknownOpcode(pc: Int, op: UInt8) }

/// Decodes an irep's iseq by the operand formats of <mruby/ops.h>.
func decode(_ code: UnsafeBufferPointer<UInt8>) throws -> [MInstruction] {
    var out: [MInstruction] = []
    var pc = 0
    let names = MRubyOpcodes.names, formats = MRubyOpcodes.formats
    while pc < code.count {
        let start = pc
        var ext = 0
        var op = Int(code[pc]); pc += 1
        while op < names.count, names[op].hasPrefix("EXT") {
            ext = Int(names[op].dropFirst(3))!
            guard pc < code.count else { throw BytecodeError.truncated(pc: start) }
            op = Int(code[pc]); pc += 1
        }
        guard op < names.count else { throw BytecodeError.unknownOpcode(pc: start, op: UInt8(op)) }
        func byte() throws -> Int {
            guard pc < code.count else { throw BytecodeError.truncated(pc: start) }
            defer { pc += 1 }; return Int(code[pc])
        }
        func short() throws -> Int { let hi = try byte(); return (hi << 8) | (try byte()) }
        // EXT1 widens a, EXT2 widens b, EXT3 widens both (to 16 bits).
        func opB(_ which: Int) throws -> Int {
            let wide = (which == 0 && (ext == 1 || ext == 3)) || (which == 1 && (ext == 2 || ext == 3))
            return wide ? try short() : try byte()
        }
        var insn = MInstruction(pc: start, next: 0, op: names[op])
        switch formats[op] {
        case "Z": break
        case "B": insn.a = try opB(0)
        case "BB": insn.a = try opB(0); insn.b = try opB(1)
        case "BBB": insn.a = try opB(0); insn.b = try opB(1); insn.c = try byte()
        case "BS": insn.a = try opB(0); insn.b = try short()
        case "BSS": insn.a = try opB(0); insn.b = try short(); insn.c = try short()
        case "S": insn.a = try short()
        case "W": insn.a = (try byte() << 16) | (try byte() << 8) | (try byte())
        default: throw BytecodeError.unknownOpcode(pc: start, op: UInt8(op))
        }
        insn.next = pc
        out.append(insn)
    }
    return out
}
