/// Reads the listing `IRFunction.description` prints (`--dump-after`) back
/// into a function, so pass tests are written as text, IR in and IR out, the
/// way LLVM's and QBE's are. Printing what this reads gives the same text
/// (PassTests' round-trip test holds it to every dump of the examples).
///
///     function NAME(ctx: %0):
///     readonly: NAME, …           (optional: `readOnlyVariables`)
///     context: read-only          (optional: `contextReadOnly`)
///     btf pointers: OFFSET, …     (optional: `btfPointerArguments`)
///     packet: data OFFSET, end OFFSET   (optional: `packetFields`)
///     b0:
///         INSTRUCTION    ; line N (optional: the Ruby line)
///         TERMINATOR
///     b1:
///         …
///
/// Blocks are numbered in order from `b0`; each ends with its terminator.
/// Blank lines and lines starting with `;` (`; after PASS`) are skipped.
/// The listing shows no source column, terminator location or CO-RE
/// record: those read back as zero, `.none` or empty; the stack size is the
/// deepest stack object's. The function's
/// `vregCount` is one past the highest register named.
extension IRFunction {
    init(parsing text: String) throws {
        var name: String?, context: VReg?, readOnly: Set<String> = [], stack: [StackObject] = [], contextReadOnly = false, btfPointers: Set<Int> = [], packet: PacketFields?
        var blocks: [IRBlock] = [], terminatorLines: [Int] = []
        var open = false   // the last block has no terminator yet
        var highest = -1
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            // The location comment, if any, then the statement.
            var statement = Substring(raw), line = 0
            if let semicolon = raw.firstIndex(of: ";") {
                statement = raw[..<semicolon]
                var comment = IRLineScanner(raw[raw.index(after: semicolon)...], line: number)
                if comment.eat("line") { line = Int(try comment.integer()) }
            }
            var s = IRLineScanner(statement, line: number)
            if s.atEnd { continue }
            if name == nil {
                try s.expect("function")
                name = s.text(upTo: "(")
                try s.expect("("); try s.expect("ctx"); try s.expect(":")
                context = try s.register(); try s.expect(")"); try s.expect(":")
                try s.end()
                highest = max(highest, context!.id)
                continue
            }
            if blocks.isEmpty, s.eat("stack") {
                // `stack: fp-16 size 8 align 8, …`: the stack objects, as reserved.
                try s.expect(":")
                repeat {
                    try s.expect("fp"); let o = Int(try s.integer())
                    try s.expect("size"); let size = Int(try s.integer())
                    try s.expect("align"); let a = Int(try s.integer())
                    stack.append(.init(offset: o, size: size, alignment: a))
                } while s.eat(",")
                try s.end()
                continue
            }
            if blocks.isEmpty, s.eat("btf") {
                try s.expect("pointers"); try s.expect(":")
                repeat { btfPointers.insert(Int(try s.integer())) } while s.eat(",")
                try s.end()
                continue
            }
            if blocks.isEmpty, s.eat("packet") {
                try s.expect(":"); try s.expect("data"); let d = Int(try s.integer())
                try s.expect(","); try s.expect("end"); let e = Int(try s.integer())
                try s.end()
                packet = PacketFields(data: d, end: e)
                continue
            }
            if blocks.isEmpty, s.eat("context") {
                try s.expect(":"); try s.expect("read-only"); try s.end()
                contextReadOnly = true
                continue
            }
            if blocks.isEmpty, s.eat("readonly") {
                try s.expect(":")
                repeat { readOnly.insert(try s.word()) } while s.eat(",")
                try s.end()
                continue
            }
            if !raw.hasPrefix(" "), !raw.hasPrefix("\t") {
                // A block label.
                try s.expect("b")
                let label = try s.integer()
                try s.expect(":"); try s.end()
                guard !open || blocks.isEmpty else { throw s.error("block b\(blocks.count - 1) has no terminator") }
                guard label == Int64(blocks.count) else { throw s.error("expected block b\(blocks.count), found b\(label)") }
                blocks.append(IRBlock())
                open = true
                continue
            }
            guard open, !blocks.isEmpty else { throw s.error(blocks.isEmpty ? "an instruction before the first block" : "an instruction after block b\(blocks.count - 1)'s terminator") }
            let location = SourceLocation(line: line, column: 0)
            switch try s.statement() {
            case .instruction(let i): blocks[blocks.count - 1].instructions.append((i, location))
            case .terminator(let t): blocks[blocks.count - 1].terminator = t; terminatorLines.append(number); open = false
            }
            highest = max(highest, s.highestRegister)
        }
        guard let name, let context else { throw IRParseError(line: 1, message: "expected `function NAME(ctx: %N):`") }
        guard !open else { throw IRParseError(line: text.split(separator: "\n").count, message: "block b\(blocks.count - 1) has no terminator") }
        for (i, b) in blocks.enumerated() {
            for t in b.terminator.successors where t >= blocks.count {
                throw IRParseError(line: terminatorLines[i], message: "block b\(i) branches to b\(t), which does not exist")
            }
        }
        self.init(name: name, blocks: blocks, context: context, vregCount: highest + 1)
        readOnlyVariables = readOnly
        self.contextReadOnly = contextReadOnly
        btfPointerArguments = btfPointers
        packetFields = packet
        stackObjects = stack
        stackSize = stack.map { -$0.offset }.max() ?? 0
    }
}

/// A line of an IR listing that does not read.
struct IRParseError: Error, CustomStringConvertible {
    var line: Int
    var message: String
    var description: String { "line \(line): \(message)" }
}

/// One line's tokens: registers `%N`, integers, words (`load.u32`, `fp`,
/// names) and punctuation, spaces between them ignored.
private struct IRLineScanner {
    private let text: [UInt8]
    private var at = 0
    let line: Int
    private(set) var highestRegister = -1

    init(_ s: Substring, line: Int) { text = Array(s.utf8); self.line = line }

    enum Statement { case instruction(IRInstruction), terminator(Terminator) }

    func error(_ message: String) -> IRParseError { IRParseError(line: line, message: message) }

    private mutating func skipSpaces() { while at < text.count, text[at] == 0x20 || text[at] == 0x09 { at += 1 } }
    var atEnd: Bool { mutating get { skipSpaces(); return at == text.count } }
    private var next: UInt8? { at < text.count ? text[at] : nil }

    /// Consumes `s` if the line continues with it.
    mutating func eat(_ s: String) -> Bool {
        skipSpaces()
        let u = Array(s.utf8)
        guard text.count - at >= u.count, Array(text[at..<at + u.count]) == u else { return false }
        // A word does not end inside a longer word (`b` in `bar`).
        if let last = u.last, Self.isWord(last), at + u.count < text.count, Self.isWord(text[at + u.count]), !u.allSatisfy(Self.isLetter) || !Self.isDigit(text[at + u.count]) {
            return false
        }
        at += u.count
        return true
    }
    mutating func expect(_ s: String) throws { guard eat(s) else { throw error("expected `\(s)` at `\(rest)`") } }
    mutating func end() throws { guard atEnd else { throw error("unexpected `\(rest)`") } }
    private var rest: String { String(decoding: text[min(at, text.count)...], as: UTF8.self) }

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a }
    private static func isWord(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == 0x5f || c == 0x2e }

    /// Everything up to `c` (not consumed), spaces around it dropped.
    mutating func text(upTo c: Character) -> String {
        skipSpaces()
        let start = at
        let byte = c.asciiValue!
        while let n = next, n != byte { at += 1 }
        var end = at
        while end > start, text[end - 1] == 0x20 { end -= 1 }
        return String(decoding: text[start..<end], as: UTF8.self)
    }
    mutating func integer() throws -> Int64 {
        skipSpaces()
        let start = at
        if next == 0x2d { at += 1 }   // -
        while let c = next, Self.isDigit(c) { at += 1 }
        guard let v = Int64(String(decoding: text[start..<at], as: UTF8.self)) else { at = start; throw error("expected an integer at `\(rest)`") }
        return v
    }
    /// Letters, digits, `_` and `.`: an opcode (`load.u32`) or a name.
    mutating func word() throws -> String {
        skipSpaces()
        let start = at
        while let c = next, Self.isWord(c) { at += 1 }
        guard at > start else { throw error("expected a name at `\(rest)`") }
        return String(decoding: text[start..<at], as: UTF8.self)
    }
    mutating func register() throws -> VReg {
        try expect("%")
        let id = try integer()
        guard id >= 0, id < 1 << 31 else { throw error("bad register %\(id)") }
        highestRegister = max(highestRegister, Int(id))
        return VReg(id: Int(id))
    }
    mutating func operand() throws -> Operand {
        skipSpaces()
        return next == 0x25 ? .reg(try register()) : .imm(try integer())
    }
    mutating func block() throws -> Int {
        try expect("b")
        let b = try integer()
        guard b >= 0 else { throw error("bad block b\(b)") }
        return Int(b)
    }
    /// `8`, `16`, `32` or `64` bits, as bytes.
    private mutating func size(_ bits: Substring) throws -> Int {
        guard let n = Int(bits), [8, 16, 32, 64].contains(n) else { throw error("bad access width `\(bits)`") }
        return n / 8
    }
    /// `[fp-8]` (nil base) or `[%r + 8]`.
    private mutating func address() throws -> (base: VReg?, offset: Int) {
        try expect("[")
        if eat("fp") { let o = try integer(); try expect("]"); return (nil, Int(o)) }
        let base = try register()
        try expect("+")
        let o = try integer()
        try expect("]")
        return (base, Int(o))
    }
    private mutating func arguments() throws -> [Operand] {
        try expect("(")
        var args: [Operand] = []
        if !eat(")") {
            repeat { args.append(try operand()) } while eat(",")
            try expect(")")
        }
        return args
    }
    private mutating func helper() throws -> Int32 {
        let h = try integer()
        guard let id = Int32(exactly: h) else { throw error("bad helper id \(h)") }
        return id
    }

    /// The rest of the line as one instruction or terminator.
    mutating func statement() throws -> Statement {
        let result: Statement
        skipSpaces()
        if next == 0x25 {
            let d = try register()
            try expect("=")
            result = .instruction(try definition(d))
        } else {
            let op = try word()
            let parts = op.split(separator: ".", omittingEmptySubsequences: false)
            switch parts[0] {
            case "store" where parts.count == 2:
                let size = try size(parts[1])
                let (base, offset) = try address()
                try expect("=")
                let v = try operand()
                result = .instruction(base.map { .store(base: $0, offset: offset, value: v, size: size) } ?? .storeFrame(offset: offset, value: v, size: size))
            case "atomic" where parts.count == 3 && parts[1] == "add":
                let size = try size(parts[2])
                let (base, offset) = try address()
                guard let base else { throw error("an atomic add needs a base register") }
                try expect("+="); let v = try register()
                result = .instruction(.atomicAdd(base: base, offset: offset, value: v, size: size))
            case "call" where parts.count == 1:
                let h = try helper()
                result = .instruction(.call(nil, helper: h, args: CallArguments(try arguments())))
            case "jump" where parts.count == 1:
                result = .terminator(.jump(try block()))
            case "br" where parts.count == 2:
                guard let c = Condition(rawValue: String(parts[1])) else { throw error("unknown condition `\(parts[1])`") }
                let a = try operand(); try expect(","); let b = try operand()
                try expect("?"); let t = try block(); try expect(":"); let e = try block()
                result = .terminator(.branch(c, a, b, then: t, else: e))
            case "ret" where parts.count == 1:
                result = .terminator(.ret(try operand()))
            case "unreachable" where parts.count == 1:
                result = .terminator(.unreachable)
            default:
                throw error("unknown instruction `\(op)`")
            }
        }
        try end()
        return result
    }

    /// What follows `%d =`.
    private mutating func definition(_ d: VReg) throws -> IRInstruction {
        skipSpaces()
        if next == 0x25 || next == 0x2d || next.map(Self.isDigit) == true { return .move(d, try operand()) }
        if eat("&") {
            if eat("str") { try expect("["); let o = try integer(); try expect("]"); return .stringAddress(d, offset: Int(o)) }
            if eat("map") { return .mapAddress(d, name: SymbolName(try word())) }
            if eat("var") { return .variableAddress(d, name: SymbolName(try word())) }
            throw error("expected `&str[N]`, `&map NAME` or `&var NAME`")
        }
        let op = try word()
        let parts = op.split(separator: ".", omittingEmptySubsequences: false)
        switch parts[0] {
        case "fp" where parts.count == 1:
            return .frameAddress(d, offset: Int(try integer()))
        case let w where w.hasPrefix("fp") && parts.count == 1 && Int(w.dropFirst(2)) != nil:
            return .frameAddress(d, offset: Int(w.dropFirst(2))!)   // fp8: an offset above R10
        case "neg" where parts.count == 1:
            return .neg(d, try operand())
        case "set" where parts.count == 2:
            guard let c = Condition(rawValue: String(parts[1])) else { throw error("unknown condition `\(parts[1])`") }
            let a = try operand(); try expect(","); let b = try operand()
            return .setcc(c, d, a, b)
        case "load" where parts.count == 2 && (parts[1].hasPrefix("s") || parts[1].hasPrefix("u")):
            let signed = parts[1].hasPrefix("s")
            let size = try size(parts[1].dropFirst())
            let (base, offset) = try address()
            return base.map { .load(d, base: $0, offset: offset, size: size, signed: signed) } ?? .loadFrame(d, offset: offset, size: size, signed: signed)
        case "call" where parts.count == 1:
            let h = try helper()
            return .call(d, helper: h, args: CallArguments(try arguments()))
        case "core" where parts.count == 1:
            try expect("("); let v = try integer(); try expect(","); try expect("reloc"); let r = try integer(); try expect(")")
            return .coreConstant(d, value: v, relocation: Int(r))
        default:
            guard parts.count == 1, let op = BinaryOp(rawValue: String(parts[0])) else { throw error("unknown operation `\(op)`") }
            let a = try operand(); try expect(","); let b = try operand()
            return .binary(op, d, a, b)
        }
    }
}
