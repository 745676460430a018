// Source locations of instructions, and the lowering's errors.

/// Where a construct is in the source, and the errors the lowering reports.
extension Lowering {
    func location(_ irep: Irep, _ insn: MInstruction, symbol: String? = nil) -> SourceLocation {
        let line = max(irep.line(at: insn.pc), 1)
        return SourceLocation(line: line, column: column(line: line, symbol: symbol ?? sendSymbol(irep, insn)))
    }

    func sendSymbol(_ irep: Irep, _ insn: MInstruction) -> String? {
        [.send, .ssend, .sendb, .ssendb, .getconst, .getgv, .setgv].contains(insn.op) && insn.b < irep.symbolCount ? irep.symbol(insn.b) : nil
    }

    /// mruby keeps lines but not columns: the column is where the construct's
    /// name appears on the line, else the line's first non-blank character.
    func column(line: Int, symbol: String?) -> Int {
        guard line >= 1, line <= sourceLines.count else { return 1 }
        let text = sourceLines[line - 1]
        // Every instruction's location asks: bytes are characters on an ASCII
        // line (CR excepted: "\r\n" is one character). The line's bytes are
        // kept from the first ask (in a body of 1,000 lines, these searches
        // were a tenth of the build). A non-ASCII symbol is searched as
        // characters below.
        if let t = asciiLines.bytes(line, of: sourceLines), case let s = Array((symbol ?? "").utf8), s.allSatisfy({ $0 < 0x80 }) {
            if !s.isEmpty, s.count <= t.count,
               let at = (0...(t.count - s.count)).first(where: { i in t[i] == s[0] && t[i..<(i + s.count)].elementsEqual(s) }) {
                return at + 1
            }
            return (t.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) ?? 0) + 1
        }
        if let symbol, !symbol.isEmpty, let r = text.firstRange(of: symbol) {
            return text.distance(from: text.startIndex, to: r.lowerBound) + 1
        }
        return (text.firstIndex(where: { $0 != " " && $0 != "\t" }).map { text.distance(from: text.startIndex, to: $0) } ?? 0) + 1
    }

    func error(_ irep: Irep, _ insn: MInstruction, _ message: String, hint: String?, symbol: String? = nil) -> Diagnostic {
        let loc = location(irep, insn, symbol: symbol)
        return Diagnostic(file: path, line: loc.line, column: loc.column, message: message, hint: hint)
    }

    func error(_ irep: Irep, pc: Int, _ message: String, hint: String?) -> Diagnostic {
        let line = max(irep.line(at: pc), 1)
        return Diagnostic(file: path, line: line, column: column(line: line, symbol: nil), message: message, hint: hint)
    }

    /// An error that depends on register kinds: thrown once they are
    /// settled. While `analyseKinds` iterates toward the fixed point the
    /// kinds may still be partial, so the construct is taken to give
    /// `fallback` and the analysis goes on.
    func unsettled<T>(_ fallback: T, _ diagnostic: @autoclosure () -> Diagnostic) throws -> T {
        guard kindsSettled else { return fallback }
        throw diagnostic()
    }

    func describe(_ op: MRubyOpcode) -> String {
        switch op {
        case .getidx, .setidx: return "[] / []="
        case .array, .array2, .arycat, .arypush, .arydup, .aref, .aset, .apost: return "Array"
        case .hash, .hashadd, .hashcat: return "Hash"
        case .strcat: return "string interpolation"
        case .range_inc, .range_exc: return "Range"
        case .getgv, .setgv: return "$global variable"
        case .getiv, .setiv: return "@instance variable"
        case .getcv, .setcv: return "@@class variable"
        case .class, .module, .sclass, .oclass, .tclass, .exec: return "class/module definition"
        case .method, .def: return "def inside a body"
        case .super, .argary: return "super"
        case .intern, .symbol: return "dynamic Symbol"
        default: return op.name.lowercased()
        }
    }
}

/// Failures that are the compiler's own fault, never the user's.
enum CompileFailure: Error, CustomStringConvertible {
    case internalError(String)
    var description: String {
        switch self { case .internalError(let m): return "internal compiler error: \(m)" }
    }
}

/// Source lines' bytes for `Lowering.column`, each computed once: nil for a
/// line that is not ASCII or holds a CR (searched as characters instead).
/// Only the lines a program's body asks about: a table of every line of the
/// file in each program's lowering made 1,000 programs quadratic.
struct AsciiLines {
    private var lines: [Int: [UInt8]?] = [:]
    mutating func bytes(_ line: Int, of source: [String]) -> [UInt8]? {
        if let known = lines[line] { return known }
        let text = source[line - 1]
        let bytes = text.utf8.allSatisfy({ $0 < 0x80 && $0 != 0x0D }) ? Array(text.utf8) : nil
        lines[line] = .some(bytes)
        return bytes
    }
}
