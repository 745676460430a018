/// One decoded mruby instruction. Operands are widened to Int; `EXT1/2/3`
/// prefixes are folded into the instruction they extend. We decode ourselves
/// because `mrb_decode_insn` truncates 24-bit operands.
struct MInstruction {
    /// Byte offset of the instruction (of its EXT prefix, if any).
    var pc: Int
    /// Byte offset of the next instruction; jump offsets are relative to it.
    var next: Int
    var op: MRubyOpcode
    var a = 0, b = 0, c = 0

    /// Absolute target of a relative jump (JMP: operand a; JMPIF/JMPNOT/JMPNIL: operand b).
    var jumpTarget: Int? {
        switch op {
        case .jmp, .jmpuw: return next + Int(Int16(truncatingIfNeeded: a))
        case .jmpif, .jmpnot, .jmpnil: return next + Int(Int16(truncatingIfNeeded: b))
        default: return nil
        }
    }
    /// The Integer a `LOADI`-family instruction loads (`LOADI`, `LOADINEG`,
    /// `LOADI__1`, `LOADI_0`…`LOADI_7`, `LOADI16`, `LOADI32`); nil for any other.
    var integerLiteral: Int64? {
        switch op {
        case .loadi: return Int64(b)
        case .loadineg: return -Int64(b)
        case .loadi__1: return -1
        case .loadi16: return Int64(Int16(truncatingIfNeeded: b))
        case .loadi32: return Int64(Int32(truncatingIfNeeded: (b << 16) | c))
        case .loadi_0, .loadi_1, .loadi_2, .loadi_3, .loadi_4, .loadi_5, .loadi_6, .loadi_7:
            return Int64(op.rawValue - MRubyOpcode.loadi_0.rawValue)
        default: return nil
        }
    }
    var isTerminator: Bool {
        switch op {
        case .jmp, .jmpuw, .jmpif, .jmpnot, .jmpnil, .return, .return_blk, .break, .stop, .err: return true
        default: return false
        }
    }
    var fallsThrough: Bool {
        switch op {
        case .jmp, .jmpuw, .return, .return_blk, .break, .stop, .err: return false
        default: return true
        }
    }
}

/// The operand layouts of <mruby/ops.h> (its header comment lists them):
/// B an 8-bit operand, S a 16-bit one, W a 24-bit one, Z none.
enum MRubyOperandFormat { case z, b, bb, bbb, bs, bss, s, w }

enum BytecodeError: Error { case truncated(pc: Int), unknownOpcode(pc: Int, op: UInt8) }

/// Decodes an irep's iseq by the operand formats of <mruby/ops.h>.
func decode(_ code: UnsafeBufferPointer<UInt8>) throws -> [MInstruction] {
    var out: [MInstruction] = []
    var pc = 0
    while pc < code.count {
        let start = pc
        var ext = 0
        var byte0 = code[pc]; pc += 1
        while let prefix = MRubyOpcode(rawValue: byte0), let width = prefix.extension {
            ext = width
            guard pc < code.count else { throw BytecodeError.truncated(pc: start) }
            byte0 = code[pc]; pc += 1
        }
        guard let op = MRubyOpcode(rawValue: byte0) else { throw BytecodeError.unknownOpcode(pc: start, op: byte0) }
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
        var insn = MInstruction(pc: start, next: 0, op: op)
        switch op.format {
        case .z: break
        case .b: insn.a = try opB(0)
        case .bb: insn.a = try opB(0); insn.b = try opB(1)
        case .bbb: insn.a = try opB(0); insn.b = try opB(1); insn.c = try byte()
        case .bs: insn.a = try opB(0); insn.b = try short()
        case .bss: insn.a = try opB(0); insn.b = try short(); insn.c = try short()
        case .s: insn.a = try short()
        case .w: insn.a = (try byte() << 16) | (try byte() << 8) | (try byte())
        }
        insn.next = pc
        out.append(insn)
    }
    return out
}

extension MRubyOpcode {
    /// The name in <mruby/ops.h> (`OP_` dropped), as error messages spell it.
    var name: String { Self.table[Int(rawValue)].name }
    var format: MRubyOperandFormat { Self.table[Int(rawValue)].format }
    /// For `EXT1`/`EXT2`/`EXT3`, the prefix's number (which operands it widens).
    var `extension`: Int? {
        switch self {
        case .ext1: return 1
        case .ext2: return 2
        case .ext3: return 3
        default: return nil
        }
    }
}
