/// One 8-byte BPF instruction slot, as in `struct bpf_insn` (<linux/bpf.h>).
///
/// `ld_imm64` occupies two slots: the second has opcode 0 and carries the
/// upper 32 bits of the immediate in `imm`. Keeping the wire form here means
/// encoding, relocation offsets and disassembly all count slots the same way.
public struct Instruction: Hashable, Sendable, CustomStringConvertible {
    public var opcode: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var imm: Int32

    public init(opcode: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
        self.opcode = opcode; self.dst = dst; self.src = src; self.offset = offset; self.imm = imm
    }

    /// Size of one slot in bytes.
    public static let size = 8

    public var instructionClass: InstructionClass { InstructionClass(rawValue: opcode & 0x07)! }

    /// Little-endian wire form (the byte order of every BPF target we build for).
    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.size) { buffer, count in
            write(to: buffer.baseAddress!)
            count = Self.size
        }
    }

    /// Writes the wire form's `size` bytes at `p`.
    @inline(__always)
    func write(to p: UnsafeMutablePointer<UInt8>) {
        let o = UInt16(bitPattern: offset), i = UInt32(bitPattern: imm)
        p[0] = opcode; p[1] = (src << 4) | (dst & 0x0f); p[2] = UInt8(o & 0xff); p[3] = UInt8(o >> 8)
        p[4] = UInt8(i & 0xff); p[5] = UInt8((i >> 8) & 0xff); p[6] = UInt8((i >> 16) & 0xff); p[7] = UInt8(i >> 24)
    }

    public init(bytes b: some Collection<UInt8>) {
        let a = Array(b)
        precondition(a.count == 8)
        opcode = a[0]; dst = a[1] & 0x0f; src = a[1] >> 4
        offset = Int16(bitPattern: UInt16(a[2]) | UInt16(a[3]) << 8)
        imm = Int32(bitPattern: UInt32(a[4]) | UInt32(a[5]) << 8 | UInt32(a[6]) << 16 | UInt32(a[7]) << 24)
    }

    public var isLoadImm64: Bool { opcode == InstructionClass.ld.rawValue | SizeModifier.dw.rawValue | ModeModifier.imm.rawValue }

    public var description: String {
        "{code=0x\(String(opcode, radix: 16)) dst=r\(dst) src=r\(src) off=\(offset) imm=\(imm)}"
    }
}

/// BPF registers. R0 return value, R1–R5 arguments (clobbered by calls),
/// R6–R9 callee-saved, R10 read-only frame pointer.
public enum Register: UInt8, CaseIterable, Sendable, Comparable {
    case r0 = 0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10
    public static func < (a: Register, b: Register) -> Bool { a.rawValue < b.rawValue }
    public static let arguments: [Register] = [.r1, .r2, .r3, .r4, .r5]
    public static let calleeSaved: [Register] = [.r6, .r7, .r8, .r9]
    public static let callerSaved: [Register] = [.r0, .r1, .r2, .r3, .r4, .r5]
    public static let frame: Register = .r10
}

/// Constructors named after what they do, so code generation reads like assembly.
public extension Instruction {
    static func alu64(_ op: ALUOp, _ dst: Register, _ src: Register) -> Instruction {
        Instruction(opcode: InstructionClass.alu64.rawValue | op.rawValue | SourceOperand.x.rawValue, dst: dst.rawValue, src: src.rawValue)
    }
    static func alu64(_ op: ALUOp, _ dst: Register, imm: Int32) -> Instruction {
        Instruction(opcode: InstructionClass.alu64.rawValue | op.rawValue | SourceOperand.k.rawValue, dst: dst.rawValue, imm: imm)
    }
    static func alu32(_ op: ALUOp, _ dst: Register, _ src: Register) -> Instruction {
        Instruction(opcode: InstructionClass.alu.rawValue | op.rawValue | SourceOperand.x.rawValue, dst: dst.rawValue, src: src.rawValue)
    }
    static func alu32(_ op: ALUOp, _ dst: Register, imm: Int32) -> Instruction {
        Instruction(opcode: InstructionClass.alu.rawValue | op.rawValue | SourceOperand.k.rawValue, dst: dst.rawValue, imm: imm)
    }
    static func mov64(_ dst: Register, _ src: Register) -> Instruction { alu64(.mov, dst, src) }
    static func mov64(_ dst: Register, imm: Int32) -> Instruction { alu64(.mov, dst, imm: imm) }
    /// `dst = be16/be32/be64 dst`: BPF_END to big-endian, which on a
    /// little-endian CPU swaps the low `bits` bytes and clears the rest.
    static func toBigEndian(_ dst: Register, bits: Int32) -> Instruction {
        Instruction(opcode: InstructionClass.alu.rawValue | ALUOp.end.rawValue | SourceOperand.x.rawValue, dst: dst.rawValue, imm: bits)
    }
    static func neg64(_ dst: Register) -> Instruction {
        Instruction(opcode: InstructionClass.alu64.rawValue | ALUOp.neg.rawValue, dst: dst.rawValue)
    }
    /// `ld_imm64`: two slots.
    static func loadImm64(_ dst: Register, _ value: Int64, src: UInt8 = 0) -> [Instruction] {
        let u = UInt64(bitPattern: value)
        return [Instruction(opcode: InstructionClass.ld.rawValue | SizeModifier.dw.rawValue | ModeModifier.imm.rawValue,
                            dst: dst.rawValue, src: src, imm: Int32(bitPattern: UInt32(u & 0xffff_ffff))),
                Instruction(opcode: 0, imm: Int32(bitPattern: UInt32(u >> 32)))]
    }
    static func load(_ size: SizeModifier, _ dst: Register, _ base: Register, _ off: Int16) -> Instruction {
        Instruction(opcode: InstructionClass.ldx.rawValue | size.rawValue | ModeModifier.mem.rawValue, dst: dst.rawValue, src: base.rawValue, offset: off)
    }
    static func store(_ size: SizeModifier, _ base: Register, _ off: Int16, _ src: Register) -> Instruction {
        Instruction(opcode: InstructionClass.stx.rawValue | size.rawValue | ModeModifier.mem.rawValue, dst: base.rawValue, src: src.rawValue, offset: off)
    }
    static func store(_ size: SizeModifier, _ base: Register, _ off: Int16, imm: Int32) -> Instruction {
        Instruction(opcode: InstructionClass.st.rawValue | size.rawValue | ModeModifier.mem.rawValue, dst: base.rawValue, offset: off, imm: imm)
    }
    /// Atomic add (`lock *(u64 *)(dst + off) += src`).
    static func atomicAdd(_ size: SizeModifier, _ base: Register, _ off: Int16, _ src: Register) -> Instruction {
        Instruction(opcode: InstructionClass.stx.rawValue | size.rawValue | ModeModifier.atomic.rawValue, dst: base.rawValue, src: src.rawValue, offset: off, imm: Int32(ALUOp.add.rawValue))
    }
    static func jump(_ op: JumpOp, _ dst: Register, _ src: Register, _ off: Int16) -> Instruction {
        Instruction(opcode: InstructionClass.jmp.rawValue | op.rawValue | SourceOperand.x.rawValue, dst: dst.rawValue, src: src.rawValue, offset: off)
    }
    static func jump(_ op: JumpOp, _ dst: Register, imm: Int32, _ off: Int16) -> Instruction {
        Instruction(opcode: InstructionClass.jmp.rawValue | op.rawValue | SourceOperand.k.rawValue, dst: dst.rawValue, offset: off, imm: imm)
    }
    static func ja(_ off: Int16) -> Instruction { Instruction(opcode: InstructionClass.jmp.rawValue | JumpOp.ja.rawValue, offset: off) }
    static func call(helper id: Int32) -> Instruction { Instruction(opcode: InstructionClass.jmp.rawValue | JumpOp.call.rawValue, imm: id) }
    static var exit: Instruction { Instruction(opcode: InstructionClass.jmp.rawValue | JumpOp.exit.rawValue) }
}

public extension Array where Element == Instruction {
    /// The program's bytes, as written to an ELF section or passed to the
    /// kernel: written in place into one array (an array per instruction
    /// was an allocation per instruction, 2.5 % of a long body's build).
    var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count * Instruction.size) { buffer, written in
            for (k, x) in enumerated() { x.write(to: buffer.baseAddress! + k * Instruction.size) }
            written = count * Instruction.size
        }
    }
}

extension SizeModifier {
    /// The modifier of an access `bytes` wide (1, 2, 4 or 8); nil for another width.
    public init?(bytes: Int) {
        switch bytes {
        case 1: self = .b
        case 2: self = .h
        case 4: self = .w
        case 8: self = .dw
        default: return nil
        }
    }
}
