import Glibc
import BPF
import CLibBPF

/// BPF disassembly in the exact text of LLVM 14's `llvm-objdump -d -r`,
/// plus the source line (from `.BTF.ext` line_info) above the instructions
/// it produced.
///
/// Spellings are LLVM's BPF assembly (`llvm/lib/Target/BPF/BPFInstrInfo.td`,
/// printed by `BPFInstPrinter.cpp`); which encodings decode and which are
/// `<unknown>` follows LLVM 14's decoder tables (`BPFDisassembler.cpp`), as
/// measured against `llvm-objdump-14` (see `Tests/ObjectTests/DisasmTests.swift`):
/// register fields above 11 do not decode, fields an instruction does not use
/// are ignored, `exit` needs imm 0, `ld_imm64` needs offset 0.
///
/// Where LLVM 14 prints `<unknown>` for an instruction the kernel accepts,
/// this prints the spelling later LLVM releases use, so our own output is
/// never `<unknown>` (these are the only differences from `llvm-objdump-14`):
///
/// - `BPF_ST | BPF_MEM` stores of an immediate: `*(u32 *)(r10 - 4) = 7`
/// - `BPF_MOD`: `r1 %= r2`, `w1 %= 10`
/// - `BPF_JSET`: `if r1 & r2 goto +3`, `if w1 & 8 goto +3`
/// - 32-bit atomics other than add without `alu32` (LLVM 14 only decodes them
///   with `--mattr=+alu32`): `w2 = atomic_fetch_or((u32 *)(r1 + 0), w2)`.
public enum Disassembler {
    /// What a listing shows and how 32-bit memory operations are decoded.
    public struct Options: Sendable, Hashable {
        /// Decode 32-bit (and narrower) loads, stores and atomics with `w`
        /// registers, as `llvm-objdump --mattr=+alu32` does (code built with
        /// `-mcpu=v3`). Off, like `llvm-objdump -d`.
        public var alu32: Bool
        /// Print each instruction's bytes (llvm-objdump's default; `--no-show-raw-insn` turns it off).
        public var showRawBytes: Bool
        /// Print relocations under the instruction they patch (`llvm-objdump -r`).
        public var showRelocations: Bool
        /// Print the source line (from `.BTF.ext` line_info) above the instructions it produced.
        public var showSourceLines: Bool
        /// Start with llvm-objdump's `NAME:\tfile format elf64-bpf` line.
        public var showFileHeader: Bool

        public init(alu32: Bool = false, showRawBytes: Bool = true, showRelocations: Bool = true,
                    showSourceLines: Bool = true, showFileHeader: Bool = true) {
            self.alu32 = alu32; self.showRawBytes = showRawBytes; self.showRelocations = showRelocations
            self.showSourceLines = showSourceLines; self.showFileHeader = showFileHeader
        }
    }

    /// One instruction as `llvm-objdump -d` prints it, without the address,
    /// the raw bytes and the `<symbol>` of a branch target: `r1 = 7`,
    /// `if r1 != 9 goto +3`, `r1 = 0 ll`, or `<unknown>`.
    ///
    /// `next` is the following slot, which completes an `ld_imm64` (without
    /// it an `ld_imm64` is `<unknown>`, as at the end of a section). `index`
    /// is the instruction's slot index.
    public static func format(_ insn: Instruction, next: Instruction?, at index: Int) -> String {
        format(insn, next: next, at: index, options: Options())
    }

    /// `format(_:next:at:)` with options; `label`, given the byte offset a
    /// branch jumps to, returns the symbol text llvm-objdump prints after it
    /// (`LBB0_3`, `prog+0x10`), appended as ` <LBB0_3>`.
    public static func format(_ insn: Instruction, next: Instruction?, at index: Int, options: Options,
                              label: ((UInt64) -> String?)? = nil) -> String {
        let d = decode(insn, next: next, alu32: options.alu32)
        guard let text = d.text else { return "<unknown>" }
        if let off = d.branchOffset, let label,
           let name = label(branchTarget(address: UInt64(truncatingIfNeeded: index) &* 8, offset: off)) {
            return text + " <\(name)>"
        }
        return text
    }

    /// Number of 8-byte slots the instruction occupies: 2 for an `ld_imm64`, else 1.
    public static func slotCount(of insn: Instruction) -> Int { insn.isLoadImm64 ? 2 : 1 }

    // MARK: - Decoding

    /// The result of decoding one instruction.
    struct Decoded {
        /// The text, or nil when LLVM 14 cannot decode it (`<unknown>`).
        var text: String?
        /// Bytes consumed: 8, 16 for `ld_imm64`, 0 when an `ld_imm64` lacks its second slot.
        var length: Int
        /// A branch's offset in slots (for the `<symbol>` of its target).
        var branchOffset: Int16?
        /// Decoded although LLVM 14 prints `<unknown>` (see the type's documentation).
        var isExtension: Bool = false

        static let unknown = Decoded(text: nil, length: Instruction.size, branchOffset: nil)
    }

    /// Operators of ALU instructions (`BPFInstrInfo.td`, `ALU_RR` / `ALU_RI` asm strings).
    private static let aluOperators: [ALUOp: String] = [
        .add: "+=", .sub: "-=", .mul: "*=", .div: "/=", .or: "|=", .and: "&=", .lsh: "<<=", .rsh: ">>=",
        .mod: "%=", .xor: "^=", .mov: "=", .arsh: "s>>=",
    ]
    /// Conditions of conditional jumps (`BPFInstrInfo.td`, `JMP_RR` / `JMP_RI`).
    private static let jumpConditions: [JumpOp: String] = [
        .jeq: "==", .jgt: ">", .jge: ">=", .jset: "&", .jne: "!=", .jsgt: "s>", .jsge: "s>=",
        .jlt: "<", .jle: "<=", .jslt: "s<", .jsle: "s<=",
    ]
    /// Atomic read-modify-write operations (imm bits 7–4): the `lock` operator
    /// and the name of the `BPF_FETCH` form.
    private static let atomicOperators: [ALUOp: (lock: String, fetch: String)] = [
        .add: ("+=", "atomic_fetch_add"), .or: ("|=", "atomic_fetch_or"),
        .and: ("&=", "atomic_fetch_and"), .xor: ("^=", "atomic_fetch_xor"),
    ]
    /// `BPF_XCHG` and `BPF_CMPXCHG` (imm, both with `BPF_FETCH`).
    private static let atomicExchange: Int32 = 0xe1, atomicCompareExchange: Int32 = 0xf1
    /// The C type of each access size.
    private static let sizeNames: [SizeModifier: String] = [.b: "u8", .h: "u16", .w: "u32", .dw: "u64"]

    /// LLVM decodes r0–r11; higher register fields fail to decode.
    private static func register(_ n: UInt8, wide32: Bool) -> String? {
        n <= 11 ? (wide32 ? "w\(n)" : "r\(n)") : nil
    }

    /// `BPFInstPrinter::printMemOperand`: `r1 + 8`, `r10 - 4`, `r1 + 0`.
    private static func memory(_ base: String, _ off: Int16) -> String {
        off >= 0 ? "\(base) + \(off)" : "\(base) - \(-Int(off))"
    }

    /// `BPFInstPrinter::printBrTargetOperand`: `+3`, `-5`, `+0`.
    private static func branch(_ off: Int16) -> String { off >= 0 ? "+\(off)" : "\(off)" }

    /// Where a branch at `address` goes, with llvm-objdump's unsigned
    /// wrap-around (`Addr + Size + Imm * Size`).
    static func branchTarget(address: UInt64, offset: Int16) -> UInt64 {
        address &+ 8 &+ UInt64(bitPattern: Int64(offset) &* 8)
    }

    static func decode(_ i: Instruction, next: Instruction?, alu32: Bool) -> Decoded {
        func ok(_ text: String, length: Int = Instruction.size, branch: Int16? = nil, ext: Bool = false) -> Decoded {
            Decoded(text: text, length: length, branchOffset: branch, isExtension: ext)
        }
        let cls = i.instructionClass
        let useX = i.opcode & SourceOperand.x.rawValue != 0
        switch cls {
        case .alu, .alu64:
            let w = cls == .alu
            guard let op = ALUOp(rawValue: i.opcode & 0xf0) else { return .unknown }
            switch op {
            case .neg:
                guard !useX, let d = register(i.dst, wide32: w) else { return .unknown }
                return ok("\(d) = -\(d)")
            case .end:
                // Only the ALU class (LLVM 14 has no ALU64 bswap); the register prints as rN.
                guard w, [16, 32, 64].contains(i.imm), let d = register(i.dst, wide32: false) else { return .unknown }
                return ok("\(d) = \(useX ? "be" : "le")\(i.imm) \(d)")
            default:
                guard let operatorText = aluOperators[op], let d = register(i.dst, wide32: w) else { return .unknown }
                let rhs = useX ? register(i.src, wide32: w) : "\(i.imm)"
                guard let rhs else { return .unknown }
                return ok("\(d) \(operatorText) \(rhs)", ext: op == .mod)
            }

        case .jmp, .jmp32:
            let w = cls == .jmp32
            guard let op = JumpOp(rawValue: i.opcode & 0xf0) else { return .unknown }
            switch op {
            case .ja:
                guard !w, !useX else { return .unknown }
                return ok("goto \(branch(i.offset))", branch: i.offset)
            case .call:
                guard !w else { return .unknown }
                if !useX { return ok("call \(i.imm)") }
                // LLVM 14 reads callx's register from imm.
                guard (0...11).contains(i.imm) else { return .unknown }
                return ok("callx r\(i.imm)")
            case .exit:
                guard !w, !useX, i.imm == 0 else { return .unknown }
                return ok("exit")
            default:
                guard let condition = jumpConditions[op], let d = register(i.dst, wide32: w) else { return .unknown }
                let rhs = useX ? register(i.src, wide32: w) : "\(i.imm)"
                guard let rhs else { return .unknown }
                return ok("if \(d) \(condition) \(rhs) goto \(branch(i.offset))", branch: i.offset, ext: op == .jset)
            }

        case .ld:
            let size = SizeModifier(rawValue: i.opcode & 0x18)!
            switch ModeModifier(rawValue: i.opcode & 0xe0) {
            case .imm where size == .dw:
                guard i.offset == 0, let d = register(i.dst, wide32: false) else { return .unknown }
                guard let next else { return Decoded(text: nil, length: 0, branchOffset: nil) }
                let lo = UInt64(UInt32(bitPattern: i.imm)), hi = UInt64(UInt32(bitPattern: next.imm))
                if i.src == 0 { return ok("\(d) = \(Int64(bitPattern: hi << 32 | lo)) ll", length: 16) }
                // LLVM 14 prints pseudo loads raw: source register, then the low imm unsigned.
                return ok("ld_pseudo\t\(d), \(i.src), \(lo)", length: 16)
            case .abs where size != .dw:
                return ok("r0 = *(\(sizeNames[size]!) *)skb[\(i.imm)]")
            case .ind where size != .dw:
                guard let s = register(i.src, wide32: false) else { return .unknown }
                return ok("r0 = *(\(sizeNames[size]!) *)skb[\(s)]")
            default:
                return .unknown
            }

        case .ldx, .st, .stx:
            let size = SizeModifier(rawValue: i.opcode & 0x18)!
            let sizeName = sizeNames[size]!
            let narrow = alu32 && size != .dw
            let mode = ModeModifier(rawValue: i.opcode & 0xe0)
            guard let base = register(cls == .ldx ? i.src : i.dst, wide32: false) else { return .unknown }
            let address = memory(base, i.offset)
            switch (cls, mode) {
            case (.ldx, .mem):
                guard let d = register(i.dst, wide32: narrow) else { return .unknown }
                return ok("\(d) = *(\(sizeName) *)(\(address))")
            case (.st, .mem):
                return ok("*(\(sizeName) *)(\(address)) = \(i.imm)", ext: true)
            case (.stx, .mem):
                guard let s = register(i.src, wide32: narrow) else { return .unknown }
                return ok("*(\(sizeName) *)(\(address)) = \(s)")
            case (.stx, .atomic):
                return atomic(i, size: size, address: address, alu32: alu32)
            default:
                return .unknown
            }
        }
    }

    /// `BPF_STX | BPF_ATOMIC`. LLVM 14 looks at imm bits 7–0 only: bits 7–4
    /// pick the operation, bits 3–0 must be `BPF_FETCH` (1) for the fetch
    /// forms and are ignored otherwise. Without alu32, the only 32-bit atomic
    /// it decodes is `lock … += rN` (whatever bits 3–0 hold).
    private static func atomic(_ i: Instruction, size: SizeModifier, address: String, alu32: Bool) -> Decoded {
        guard size == .w || size == .dw else { return .unknown }
        let is64 = size == .dw
        let op = ALUOp(rawValue: UInt8((i.imm >> 4) & 0xf) << 4)
        let fetch = i.imm & 0xf == 1
        if !is64 && !alu32 && op == .add {
            guard let s = register(i.src, wide32: false) else { return .unknown }
            return Decoded(text: "lock *(u32 *)(\(address)) += \(s)", length: 8, branchOffset: nil)
        }
        let ext = !is64 && !alu32
        guard let s = register(i.src, wide32: !is64) else { return .unknown }
        let sizeName = is64 ? "u64" : "u32"
        func ok(_ text: String) -> Decoded { Decoded(text: text, length: 8, branchOffset: nil, isExtension: ext) }
        if let op, let spelled = atomicOperators[op] {
            return fetch ? ok("\(s) = \(spelled.fetch)((\(sizeName) *)(\(address)), \(s))")
                         : ok("lock *(\(sizeName) *)(\(address)) \(spelled.lock) \(s)")
        }
        switch i.imm & 0xff {
        case atomicExchange:
            return ok("\(s) = \(is64 ? "xchg_64" : "xchg32_32")(\(address), \(s))")
        case atomicCompareExchange:
            let r0 = is64 ? "r0" : "w0"
            return ok("\(r0) = \(is64 ? "cmpxchg_64" : "cmpxchg32_32")(\(address), \(r0), \(s))")
        default:
            return .unknown
        }
    }
}

// MARK: - Listing

extension Disassembler {
    /// The object's executable sections as `llvm-objdump -d -r` (LLVM 14)
    /// prints them, with source lines added.
    ///
    /// ```
    ///
    /// probe.bpf.o:	file format elf64-bpf
    ///
    /// Disassembly of section tracepoint/syscalls/sys_enter_execve:
    ///
    /// 0000000000000000 <on_exec>:
    /// ; probe.rb:4: pid = current.pid
    ///        0:	85 00 00 00 0e 00 00 00	call 14
    ///        1:	77 00 00 00 20 00 00 00	r0 >>= 32
    /// ; probe.rb:5: printf("exec %d\n", pid)
    ///        2:	18 01 00 00 00 00 00 00 00 00 00 00 00 00 00 00	r1 = 0 ll
    /// 		0000000000000010:  R_BPF_64_64	.rodata.str1.1
    /// ```
    ///
    /// Everything but the `;` lines is llvm-objdump's text, byte for byte:
    /// per section `Disassembly of section NAME:`; per symbol (functions and
    /// `LBB` labels, a dummy named after the section when none starts it)
    /// `ADDRESS <NAME>:`; per instruction its slot index, bytes and text, a
    /// branch followed by its target's symbol; relocation lines
    /// (`\t\tOFFSET:  TYPE\tSYMBOL`) after the instruction they patch; runs
    /// of 8+ zero bytes as `\t\t...`; data symbols as hex and ASCII.
    ///
    /// Source lines: `; FILE:LINE: TEXT` (FILE the last path component of the
    /// line_info file name, TEXT the line as the compiler stored it, trailing
    /// white space removed) above the first instruction of each line_info
    /// record whose file and line differ from the previous one printed since
    /// the last symbol header. If `.BTF`/`.BTF.ext` cannot be read, a single
    /// `; warning: …` line under the file header says so and the listing
    /// goes on without source lines.
    public static func listing(_ object: ObjectReader, options: Options = Options()) -> String {
        var out = ""
        if options.showFileHeader { out += "\n\(object.name):\tfile format elf64-bpf\n" }
        var sourceLines: [String: [SourceLine]] = [:]
        if options.showSourceLines {
            do { sourceLines = try Self.sourceLines(of: object) } catch let error as ObjectError {
                out += "; warning: \(error.message); source lines left out\n"
            } catch { out += "; warning: \(error); source lines left out\n" }
        }
        // llvm-objdump skips empty and NOBITS sections.
        for section in object.sections where section.isExecutable && !section.isNoBits && section.size > 0 {
            out += "\nDisassembly of section \(section.name):\n"
            SectionPrinter(object: object, section: section, options: options,
                           lines: sourceLines[section.name] ?? []).print(into: &out)
        }
        return out
    }

    /// One line_info record resolved to strings.
    struct SourceLine {
        var offset: UInt64
        var file: String
        var line: UInt32
        var text: String
    }

    /// line_info of every section, by section name, sorted by offset.
    static func sourceLines(of object: ObjectReader) throws -> [String: [SourceLine]] {
        guard let extBytes = object.btfExt, !extBytes.isEmpty else { return [:] }
        guard let btfBytes = object.btf else { throw ObjectError(".BTF.ext without .BTF") }
        let strings = try BTFStrings(btf: btfBytes)
        let ext = try BTFExt.decode(bytes: extBytes)
        var result: [String: [SourceLine]] = [:]
        for section in ext.lineInfo {
            guard let name = strings.string(at: section.nameOffset) else {
                throw ObjectError(".BTF.ext line_info: section name offset \(section.nameOffset) is outside the .BTF strings")
            }
            var rows = result[name] ?? []
            for r in section.records {
                guard let file = strings.string(at: r.fileNameOffset), let text = strings.string(at: r.lineOffset) else {
                    throw ObjectError(".BTF.ext line_info of \(name): string offset outside the .BTF strings")
                }
                rows.append(SourceLine(offset: UInt64(r.instructionOffset), file: file, line: r.line, text: text))
            }
            result[name] = rows
        }
        for (k, v) in result {
            result[k] = v.enumerated().sorted { ($0.element.offset, $0.offset) < ($1.element.offset, $1.offset) }.map(\.element)
        }
        return result
    }

    /// A symbol as llvm-objdump's disassembler sees it.
    private struct ListedSymbol {
        var address: UInt64
        var name: String
        var type: UInt8
    }

    /// Prints one section, mirroring the loop of `disassembleObject` in
    /// LLVM 14's `llvm/tools/llvm-objdump/llvm-objdump.cpp`.
    private struct SectionPrinter {
        let object: ObjectReader
        let section: ObjectReader.Section
        let options: Options
        let lines: [SourceLine]
        let bytes: [UInt8]
        let symbols: [ListedSymbol]
        let relocations: [ObjectReader.RelocationEntry]

        init(object: ObjectReader, section: ObjectReader.Section, options: Options, lines: [SourceLine]) {
            self.object = object; self.section = section; self.options = options; self.lines = lines
            bytes = section.bytes
            // Named symbols of this section except section symbols, sorted
            // by (address, name, type) like SymbolInfoTy; a dummy named after
            // the section when none starts at 0.
            var syms = object.symbols
                .filter { $0.sectionIndex == section.index && !$0.name.isEmpty && $0.type != UInt8(STT_SECTION) }
                .map { ListedSymbol(address: $0.value, name: $0.name, type: $0.type) }
                .sorted { ($0.address, $0.name, $0.type) < ($1.address, $1.name, $1.type) }
            if syms.first?.address != 0 {
                syms.insert(ListedSymbol(address: 0, name: section.name, type: UInt8(STT_FUNC)), at: 0)
            }
            symbols = syms
            relocations = options.showRelocations ? object.relocations(forSection: section.index) : []
        }

        /// ` <name>` / ` <name+0x10>` of the last symbol at or before `target`.
        func label(for target: UInt64) -> String? {
            var lo = 0, hi = symbols.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if symbols[mid].address <= target { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0 else { return nil }
            let s = symbols[lo - 1]
            let displacement = target &- s.address
            return displacement == 0 ? s.name : "\(s.name)+0x\(String(displacement, radix: 16))"
        }

        func print(into out: inout String) {
            let sectionSize = UInt64(bytes.count)
            var relocationCursor = 0
            var lineCursor = 0
            for (k, symbol) in symbols.enumerated() {
                let start = symbol.address
                var end = sectionSize
                if k + 1 < symbols.count { end = Swift.min(end, symbols[k + 1].address) }
                if start >= end { continue }
                out += "\n\(hex16(start)) <\(symbol.name)>:\n"
                if symbol.type == UInt8(STT_OBJECT) || symbol.type == UInt8(STT_COMMON) {
                    dumpData(from: start, to: end, into: &out)
                    continue
                }
                var lastLine: (file: String, line: UInt32)? = nil
                var index = start
                while index < end {
                    // Runs of zero bytes (at least 8, in multiples of 4), up to the next relocation.
                    var maxOffset = end - index
                    if relocationCursor < relocations.count {
                        maxOffset = Swift.min(relocations[relocationCursor].offset &- index, maxOffset)
                    }
                    let zeros = skippableZeroBytes(from: Int(index), count: Int(maxOffset))
                    if zeros > 0 {
                        out += "\t\t...\n"
                        index += UInt64(zeros)
                        continue
                    }
                    let (text, branchOffset, length) = decode(at: Int(index))
                    // Source lines of the records that start inside this instruction (or were skipped).
                    if options.showSourceLines {
                        while lineCursor < lines.count, lines[lineCursor].offset < index + UInt64(length) {
                            let row = lines[lineCursor]
                            lineCursor += 1
                            if row.line == 0 { continue }
                            if let last = lastLine, last.file == row.file, last.line == row.line { continue }
                            lastLine = (row.file, row.line)
                            out += sourceComment(row)
                        }
                    }
                    var line = String(repeating: " ", count: Swift.max(0, 8 - String(index / 8).count)) + "\(index / 8):"
                    if options.showRawBytes {
                        line += "\t" + bytes[Int(index)..<Int(index) + length].map(hex2).joined(separator: " ")
                    }
                    line += "\t" + text
                    if let off = branchOffset, let name = label(for: Disassembler.branchTarget(address: index, offset: off)) {
                        line += " <\(name)>"
                    }
                    out += line + "\n"
                    while relocationCursor < relocations.count, relocations[relocationCursor].offset < index + UInt64(length) {
                        let r = relocations[relocationCursor]
                        relocationCursor += 1
                        out += "\t\t\(hex16(r.offset)):  \(r.typeName)\t\(r.symbolName)\(addendText(r.addend))\n"
                    }
                    index += UInt64(length)
                }
            }
        }

        /// Decodes at a byte offset of the section (llvm-objdump hands the
        /// decoder everything up to the section's end, so an `ld_imm64` may
        /// take its second slot from the next symbol). Fewer bytes than an
        /// instruction needs print as one `<unknown>` byte, as LLVM does.
        func decode(at offset: Int) -> (String, Int16?, Int) {
            let remaining = bytes.count - offset
            guard remaining >= Instruction.size else { return ("<unknown>", nil, 1) }
            let insn = Instruction(bytes: bytes[offset..<offset + Instruction.size])
            let next = remaining >= 2 * Instruction.size
                ? Instruction(bytes: bytes[(offset + Instruction.size)..<(offset + 2 * Instruction.size)]) : nil
            let d = Disassembler.decode(insn, next: next, alu32: options.alu32)
            if d.length == 0 { return ("<unknown>", nil, 1) }
            return (d.text ?? "<unknown>", d.text == nil ? nil : d.branchOffset, d.length)
        }

        /// `countSkippableZeroBytes`: leading zero bytes, if at least 8, rounded down to a multiple of 4.
        func skippableZeroBytes(from offset: Int, count: Int) -> Int {
            var n = 0
            while n < count, offset + n < bytes.count, bytes[offset + n] == 0 { n += 1 }
            return n < 8 ? 0 : n & ~3
        }

        /// `dumpELFData`: a data symbol in a text section, 8 bytes a line in hex and ASCII.
        func dumpData(from start: UInt64, to end: UInt64, into out: inout String) {
            var offset = start
            while offset < end {
                let chunk = bytes[Int(offset)..<Int(Swift.min(end, offset + 8))]
                let address = String(offset, radix: 16)
                var line = String(repeating: " ", count: Swift.max(0, 8 - address.count)) + address + ":"
                for b in chunk { line += " " + hex2(b) }
                line += String(repeating: " ", count: 3 * (8 - chunk.count)) + "         "
                line += String(decoding: chunk.map { (0x20...0x7e).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
                out += line + "\n"
                offset += UInt64(chunk.count)
            }
        }

        func sourceComment(_ row: SourceLine) -> String {
            let file = row.file.split(separator: "/").last.map(String.init) ?? row.file
            var text = row.text
            while let last = text.last, last.isWhitespace { text.removeLast() }
            return text.isEmpty ? "; \(file):\(row.line)\n" : "; \(file):\(row.line): \(text)\n"
        }

        func addendText(_ addend: Int64?) -> String {
            guard let a = addend, a != 0 else { return "" }
            return a < 0 ? "-0x\(String(a.magnitude, radix: 16))" : "+0x\(String(a, radix: 16))"
        }
    }
}

private func hex2(_ b: UInt8) -> String { b < 16 ? "0" + String(b, radix: 16) : String(b, radix: 16) }
private func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: Swift.max(0, 16 - s.count)) + s
}

/// The string section of raw `.BTF` (kernel Documentation/bpf/btf.rst, "2.
/// BTF Type and String Encoding"): header u16 magic 0xeB9F, u8 version,
/// u8 flags, u32 hdr_len, u32 type_off, type_len, str_off, str_len, the
/// offsets counted from the end of the header.
private struct BTFStrings {
    let bytes: [UInt8]
    let start: Int, end: Int

    init(btf: [UInt8]) throws {
        func u32(_ o: Int) -> UInt64 {
            UInt64(btf[o]) | UInt64(btf[o + 1]) << 8 | UInt64(btf[o + 2]) << 16 | UInt64(btf[o + 3]) << 24
        }
        guard btf.count >= 24 else { throw ObjectError(".BTF: \(btf.count) bytes, too short for a header") }
        let magic = UInt16(btf[0]) | UInt16(btf[1]) << 8
        guard magic == 0xeB9F else { throw ObjectError(".BTF: bad magic 0x\(String(magic, radix: 16))") }
        let headerLength = u32(4), stringOffset = u32(16), stringLength = u32(20)
        guard headerLength >= 24, headerLength <= UInt64(btf.count),
              headerLength + stringOffset + stringLength <= UInt64(btf.count) else {
            throw ObjectError(".BTF: string section (hdr_len \(headerLength), str_off \(stringOffset), str_len \(stringLength)) lies outside \(btf.count) bytes")
        }
        bytes = btf
        start = Int(headerLength + stringOffset)
        end = start + Int(stringLength)
    }

    /// The NUL-terminated string at `offset`, or nil if it is outside the section.
    func string(at offset: UInt32) -> String? {
        guard UInt64(offset) < UInt64(end - start) else { return nil }
        let from = start + Int(offset)
        guard let nul = bytes[from..<end].firstIndex(of: 0) else { return nil }
        return String(decoding: bytes[from..<nul], as: UTF8.self)
    }
}
