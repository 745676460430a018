import BPF
import InfraredObject

// Output from program bodies: `puts "pid #{pid}"`, `printf("%-6d %s\n", pid,
// comm)` and `exit`. Each call writes one record to the object's implicit
// ring buffer (`PrintOutput.mapName`): the u64 id of its format, then its
// values in fixed slots (PrintFormat.swift has the layout). The formats go
// to the manifest; loaders print the lines.
//
// Interpolation (`STRCAT`) builds a `.text` kind: the literal pieces and the
// values, each captured in a register of its own when interpolated.

/// One piece of an interpolated string: literal text, or a value (an
/// Integer, `comm`, a C string's address) captured when it was interpolated.
enum TextPiece: Equatable {
    case literal(String)
    case value(VReg, Kind)
}

/// What a file's bodies print, for the manifest: one format per `puts` or
/// `printf`, by id; whether a body calls `exit`.
struct OutputFormats {
    var formats: [PrintFormat] = []
    var exits = false
    /// A body calls `bpf_trace_printk`: the loader shows the trace pipe's lines.
    var printk = false
    var used: Bool { !formats.isEmpty || exits }
}

extension Lowering {
    // MARK: Interpolation

    /// `STRCAT R[a] R[a+1]`: the next piece of `"… #{x} …"`.
    func lowerInterpolation(_ insn: MInstruction, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let a = insn.a, b = insn.a + 1, R = frame.regs, irep = frame.irep
        var pieces: [TextPiece]
        switch kinds[a] {
        case .string(let s): pieces = [.literal(s)]
        case .text(let p): pieces = p
        default:
            kinds[a] = try unsettled(.text([]), error(irep, insn, "string interpolation needs a String on its left, not \(kinds[a].rubyName)", hint: nil))
            return
        }
        let value = kinds[b]
        switch value {
        case .string(let s): pieces.append(.literal(s))
        case .text(let p): pieces += p
        case .nil: break                                    // "#{nil}" is ""
        case .comm: pieces.append(.value(R[b], .comm))      // nothing to hold: read when the record is written
        case .int, .bool, .cString, .charArray:
            let t = newVReg()
            emit(.move(t, .reg(R[b])), loc)
            pieces.append(.value(t, value))
        default:
            let k = pieces.filter { if case .value = $0 { return true }; return false }.count
            let at = SourceLocation(line: loc.line, column: interpolationColumn(line: loc.line, index: k) ?? loc.column)
            kinds[a] = try unsettled(.text(pieces), Diagnostic(file: path, line: at.line, column: at.column,
                                                              message: "`#{…}` of \(value.rubyName) cannot be printed from a BPF program",
                                                              hint: Self.printableHint))
            return
        }
        kinds[a] = .text(pieces)
    }

    static let printableHint = "puts and printf print Integers, comm, the context's string fields (ctx.filename), user_string(p) and kernel_string(p)"

    // MARK: puts, printf, exit

    /// `puts`, `printf` and `exit` on self; nil for other names.
    func output(_ name: String, args: [(VReg, Kind)], dst: VReg, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws -> Kind? {
        switch name {
        case "puts":
            var format = "", values: [(VReg, Kind)] = []
            if args.isEmpty { format = "\n" }
            for (i, a) in args.enumerated() {
                let pieces: [TextPiece]
                switch a.1 {
                case .string(let s): pieces = [.literal(s)]
                case .text(let p): pieces = p
                case .int, .bool, .comm, .cString, .charArray: pieces = [.value(a.0, a.1)]
                case .nil: pieces = []
                default:
                    return try unsettled(.nil, argumentError(irep, insn, call: name, index: i,
                                                             "`puts` cannot print \(a.1.rubyName) from a BPF program", hint: Self.printableHint))
                }
                var line = ""
                for p in pieces {
                    switch p {
                    case .literal(let s): line += PrintFormat.escaped(s)
                    case .value(let r, let k): line += Self.conversion(for: k); values.append((r, k))
                    }
                }
                // Ruby's puts: a newline unless the line ends with one.
                format += line.hasSuffix("\n") ? line : line + "\n"
            }
            try writeRecord(format: format, values: values, loc)
        case "printf":
            let (format, values) = try printfFormat(args, irep, insn)
            try writeRecord(format: format, values: values, loc)
        case "exit":
            guard args.isEmpty else {
                throw argumentError(irep, insn, call: name, index: 0, "`exit` in a BPF program body takes no arguments",
                                    hint: "`exit` ends the tool after the current event; the exit status is 0")
            }
            if kindsSettled { records.output.exits = true }
            let p = reserveRecord(size: 8, loc)
            emit(.store(base: p.record, offset: 0, value: .imm(Int64(PrintOutput.exitID)), size: 8), loc)
            submitRecord(p, loc)
        default:
            return nil
        }
        emit(.move(dst, .imm(0)), loc)
        return .nil
    }

    /// The conversion `puts` prints a value with.
    static func conversion(for k: Kind) -> String {
        switch k {
        case .comm, .cString, .charArray, .bool: return "%s"
        case .int(unsigned64: true, _): return "%u"
        default: return "%d"
        }
    }

    /// `printf(FORMAT, values…)`: the format checked against the values,
    /// literal string values folded into it.
    func printfFormat(_ args: [(VReg, Kind)], _ irep: Irep, _ insn: MInstruction) throws -> (String, [(VReg, Kind)]) {
        let name = "printf", usage = "printf(\"%-6d %s\\n\", pid, comm)"
        guard let first = args.first, case .string(let fmt) = first.1 else {
            throw argumentError(irep, insn, call: name, index: 0, "`printf` needs a format string literal first", hint: usage)
        }
        let pieces: [PrintFormat.Piece]
        do { pieces = try PrintFormat.parse(fmt) } catch {
            throw argumentError(irep, insn, call: name, index: 0, "printf format: \(error.message)", hint: usage)
        }
        let conversions = pieces.filter { if case .conversion = $0 { return true }; return false }.count
        let given = args.count - 1
        if given > conversions {
            throw argumentError(irep, insn, call: name, index: conversions + 1,
                                "`printf`'s format takes \(conversions) value\(conversions == 1 ? "" : "s"), given \(given)", hint: "remove this value or add a conversion for it")
        }
        if given < conversions {
            throw argumentError(irep, insn, call: name, index: 0,
                                "`printf`'s format takes \(conversions) value\(conversions == 1 ? "" : "s"), given \(given)", hint: "give a value for each conversion")
        }
        var format = "", values: [(VReg, Kind)] = [], i = 0
        for piece in pieces {
            switch piece {
            case .text(let s): format += PrintFormat.escaped(s)
            case .conversion(let c):
                i += 1
                let (r, k) = args[i]
                switch (c.takesString, k) {
                case (true, .comm), (true, .cString), (true, .charArray), (false, .int):
                    format += c.spelled; values.append((r, k))
                case (false, .bool):
                    format += c.spelled; values.append((r, .signedInt))   // 1/0, as C prints it
                case (true, .string(let s)):
                    format += PrintFormat.escaped(c.render(s))
                case (true, .text(let p)) where c.width == 0:
                    for piece in p {
                        switch piece {
                        case .literal(let s): format += PrintFormat.escaped(s)
                        case .value(let r, let k): format += Self.conversion(for: k); values.append((r, k))
                        }
                    }
                default:
                    let wants = c.takesString ? "a string (comm, ctx.filename, user_string(p))" : "an Integer"
                    throw argumentError(irep, insn, call: name, index: i, "`\(c.spelled)` takes \(wants), not \(k.rubyName)",
                                        hint: c.takesString ? "print Integers with %d, %u or %x" : "print strings with %s")
                }
            }
        }
        return (format, values)
    }

    // MARK: Records

    /// Registers the format (once the kinds are settled) and writes its record.
    func writeRecord(format: String, values: [(VReg, Kind)], _ loc: SourceLocation) throws {
        var arguments: [PrintFormat.Argument] = [], offset = 8
        for (_, k) in values {
            let a: PrintFormat.Argument
            switch k {
            case .comm: a = .init(type: .string, offset: offset, size: PrintOutput.commSlot)
            // A kernel char[N] (`ctx.prev.comm`): N bytes, rounded up to keep later slots aligned.
            case .cString(_, let capacity?): a = .init(type: .string, offset: offset, size: min((capacity + 7) & ~7, PrintOutput.stringSlot))
            case .cString: a = .init(type: .string, offset: offset, size: PrintOutput.stringSlot)
            // A char[N] field (stack struct, map value, record): its N bytes, NUL-bounded.
            case .charArray(let n): a = .init(type: .string, offset: offset, size: n)
            case .bool: a = .init(type: .boolean, offset: offset, size: 8)
            default: a = .init(type: .integer, offset: offset, size: 8)
            }
            arguments.append(a)
            offset += a.size
        }
        let id = records.output.formats.count
        if kindsSettled { records.output.formats.append(PrintFormat(format: format, arguments: arguments, size: offset, line: loc.line)) }
        let p = reserveRecord(size: offset, loc)
        emit(.store(base: p.record, offset: 0, value: .imm(Int64(id)), size: 8), loc)
        for ((r, k), a) in zip(values, arguments) {
            switch k {
            case .comm, .cString, .charArray:
                let at = newVReg()
                emit(.move(at, .reg(p.record)), loc); emit(.binary(.add, at, .reg(at), .imm(Int64(a.offset))), loc)
                if case .cString(let user, let capacity) = k {
                    // At most the array's own bytes: the string and its NUL end within them.
                    let n = min(capacity ?? a.size, a.size)
                    emit(.call(nil, helper: helperID(user ? "probe_read_user_str" : "probe_read_kernel_str"), args: [.reg(at), .imm(Int64(n)), .reg(r)]), loc)
                } else if case .charArray = k {
                    // BPF memory (stack, map value, record) read by address, like a kernel string.
                    emit(.call(nil, helper: helperID("probe_read_kernel_str"), args: [.reg(at), .imm(Int64(a.size)), .reg(r)]), loc)
                } else {
                    emit(.call(nil, helper: helperID("get_current_comm"), args: [.reg(at), .imm(Int64(a.size))]), loc)
                }
            default:
                emit(.store(base: p.record, offset: a.offset, value: .reg(r), size: 8), loc)
            }
        }
        submitRecord(p, loc)
    }

    /// `bpf_ringbuf_reserve` on the implicit map; the code after runs only
    /// when it gave a record (a full buffer drops the line).
    func reserveRecord(size: Int, _ loc: SourceLocation) -> (record: VReg, join: Int) {
        let map = newVReg(), p = newVReg()
        emit(.mapAddress(map, name: SymbolName(PrintOutput.mapName)), loc)
        emit(.call(p, helper: helperID("ringbuf_reserve"), args: [.reg(map), .imm(Int64(size)), .imm(0)]), loc)
        let fill = newBlock(), full = newBlock(), join = newBlock()
        terminate(.branch(.eq, .reg(p), .imm(0), then: full, else: fill), loc)
        ir.current = full
        incrementFault(map: PrintOutput.mapName, .lostRecords, loc)
        terminate(.jump(join), loc)
        ir.current = fill
        return (p, join)
    }

    func submitRecord(_ p: (record: VReg, join: Int), _ loc: SourceLocation) {
        emit(.call(nil, helper: helperID("ringbuf_submit"), args: [.reg(p.record), .imm(0)]), loc)
        terminate(.jump(p.join), loc)
        ir.current = p.join
    }

    // MARK: Where arguments are

    /// An error at argument `index` of the call `call(…)` on the
    /// instruction's line (the call's name when it cannot be found).
    func argumentError(_ irep: Irep, _ insn: MInstruction, call: String, index: Int, _ message: String, hint: String?) -> Diagnostic {
        let loc = location(irep, insn, symbol: call)
        let column = argumentColumn(line: loc.line, call: call, index: index) ?? loc.column
        return Diagnostic(file: path, line: loc.line, column: column, message: message, hint: hint)
    }

    /// The column of argument `index` of `call(a, b, …)` or `call a, b` on
    /// the line: commas outside brackets and string literals separate them.
    func argumentColumn(line: Int, call: String, index: Int) -> Int? {
        guard line >= 1, line <= sourceLines.count else { return nil }
        let text = Array(sourceLines[line - 1])
        let name = Array(call)
        guard let start = (0...max(text.count - name.count, 0)).first(where: { i in
            i + name.count <= text.count && Array(text[i..<i + name.count]) == name
                && (i + name.count == text.count || !(text[i + name.count].isLetter || text[i + name.count].isNumber || text[i + name.count] == "_"))
        }) else { return nil }
        var i = start + name.count
        while i < text.count, text[i] == " " || text[i] == "(" { i += 1 }
        var n = 0, depth = 0, quote: Character? = nil
        if index == 0 { return i < text.count ? i + 1 : nil }
        while i < text.count {
            let c = text[i]
            if let q = quote {
                if c == "\\" { i += 1 } else if c == q { quote = nil }
            } else if c == "\"" || c == "'" {
                quote = c
            } else if "([{".contains(c) {
                depth += 1
            } else if ")]}".contains(c) {
                if depth == 0 { return nil }
                depth -= 1
            } else if c == ",", depth == 0 {
                n += 1
                var j = i + 1
                while j < text.count, text[j] == " " { j += 1 }
                if n == index { return j < text.count ? j + 1 : nil }
            }
            i += 1
        }
        return nil
    }

    /// The column of the expression in the `index`-th `#{…}` on the line.
    func interpolationColumn(line: Int, index: Int) -> Int? {
        guard line >= 1, line <= sourceLines.count else { return nil }
        let text = Array(sourceLines[line - 1])
        var n = 0
        for i in 0..<max(text.count - 1, 0) where text[i] == "#" && text[i + 1] == "{" {
            if n == index { return i + 3 }
            n += 1
        }
        return nil
    }
}
