import CMRuby

/// A value the probe file's top level recorded, converted from mruby.
indirect enum RubyValue: CustomStringConvertible {
    case `nil`, `false`, `true`
    case int(Int64)
    case float(Double)
    case string(String)
    case symbol(String)
    case array([RubyValue])
    case hash([(RubyValue, RubyValue)])
    /// A Proc (program body); `handle` keeps it reachable for upvalue reads.
    case proc(Irep, handle: ir_value)
    case other(className: String)

    var description: String {
        switch self {
        case .nil: return "nil"
        case .false: return "false"
        case .true: return "true"
        case .int(let i): return String(i)
        case .float(let f): return String(f)
        case .string(let s): return String(reflecting: s)
        case .symbol(let s): return ":" + s
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .hash(let h): return "{" + h.map { "\($0.0) => \($0.1)" }.joined(separator: ", ") + "}"
        case .proc: return "#<Proc>"
        case .other(let c): return "#<\(c)>"
        }
    }

    subscript(key: String) -> RubyValue? {
        guard case .hash(let pairs) = self else { return nil }
        for (k, v) in pairs {
            if case .symbol(let s) = k, s == key { return v }
            if case .string(let s) = k, s == key { return v }
        }
        return nil
    }
    var arrayValue: [RubyValue] { if case .array(let a) = self { return a }; return [] }
    var stringValue: String? {
        switch self { case .string(let s), .symbol(let s): return s; default: return nil }
    }
    var intValue: Int64? { if case .int(let i) = self { return i }; return nil }
}

/// One mruby interpreter: compiles and runs the probe file's top level, then
/// answers questions about what it declared. Owns the mrb_state.
final class MRubySession {
    let raw: OpaquePointer

    init() throws {
        guard let s = ir_open() else { throw CompileFailure.internalError("cannot open an mruby state") }
        raw = s
    }
    deinit { ir_close(raw) }

    /// True when `loadPrelude` ran mrbc's bytecode rather than parsing the text.
    private(set) var preludeFromBytecode = false

    /// Runs the prelude: the bytecode compiled into the binary when it was
    /// compiled from this very text (its hash matches) and this libmruby
    /// loads it, else the text (parsing it is the larger part of opening a
    /// session).
    ///
    /// Only a debug build compares the hashes: building the text and hashing
    /// it was 0.27 M instructions, 4 % of a one-program build, and
    /// `PreludeTests` holds the committed bytecode to the text (it fails,
    /// "run `make tables`", when they differ), so a release build from a
    /// tested tree has the bytecode of its text.
    func loadPrelude() throws {
        var size = 0, hash: UInt64 = 0
        let bytecode = ir_prelude_bytecode(&size, &hash)
        #if DEBUG
        let current = hash == Prelude.sourceHash
        #else
        let current = true
        #endif
        if current, size > 0 {
            var err = ir_error()
            if ir_load_irep(raw, bytecode, size, Prelude.path, &err) == 0 {
                preludeFromBytecode = true
                return
            }
            // Another mruby's bytecode (or a failure part-way): the text
            // defines everything again.
        }
        try load(Prelude.text, path: Prelude.path)
    }

    /// Compiles and runs `source` (the prelude, then the file). Throws a
    /// Diagnostic for syntax errors and for exceptions raised while it runs.
    func load(_ source: String, path: String) throws {
        var err = ir_error()
        let rc = source.withCString { src in
            ir_load(raw, src, source.utf8.count, path, &err)
        }
        try check(rc, err, path: path, source: source)
    }

    private func check(_ rc: Int32, _ errIn: ir_error, path: String, source: String? = nil) throws {
        var err = errIn
        guard rc == 0 else {
            let message = withUnsafeBytes(of: &err.message) { buf in
                String(decoding: buf.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let line = max(Int(err.line), 1)
            if err.is_syntax != 0 {
                let column = max(Int(err.column), 1)
                let text = source.flatMap { s in sourceLines(s).dropFirst(line - 1).first }
                throw Diagnostic(file: path, line: line, column: column, message: message,
                                 hint: text.flatMap { BpftraceSpellings.syntaxHint(Substring($0), column: column) } ?? "the file must be valid Ruby (mruby 3.1 syntax)")
            }
            // mruby's code generator prints why on stderr (`FILE:LINE: too
            // big jump offset`) and raises a bare ScriptError.
            if message.hasPrefix("codegen error") {
                throw Diagnostic(file: path, line: 1, column: 1,
                                 message: "mruby's code generator failed on this file (its reason is printed above it; `too big jump offset`: one body's bytecode is longer than mruby's 16-bit jumps reach)",
                                 hint: "split a body of thousands of lines into `def`s (each is inlined into the program) or into several programs")
            }
            // The column of the undefined name on its line, where there is one.
            let text = source.flatMap { s in sourceLines(s).dropFirst(line - 1).first }
            let column = BpftraceSpellings.undefinedName(message).flatMap { name in
                text?.firstRange(of: name).map { text!.distance(from: text!.startIndex, to: $0.lowerBound) + 1 }
            } ?? 1
            throw Diagnostic(file: path, line: line, column: column, message: "the top level raised: \(message)",
                             hint: BpftraceSpellings.topLevelHint(message) ?? "the top level runs at build time in mruby; only declarations and plain Ruby are available there")
        }
    }

    func global(_ name: String) -> RubyValue { convert(ir_global(raw, name)) }

    func constant(_ name: String) -> RubyValue? {
        var v = ir_value()
        guard ir_const(raw, name, &v) != 0 else { return nil }
        return convert(v)
    }

    func methodIrep(_ name: String) -> Irep? {
        guard let r = ir_method_irep(raw, name) else { return nil }
        return Irep(raw: r, session: self)
    }

    func upvar(of proc: ir_value, up: Int, index: Int) -> RubyValue? {
        var v = ir_value()
        guard ir_proc_upvar(raw, proc, Int32(up), Int32(index), &v) != 0 else { return nil }
        return convert(v)
    }

    func convert(_ v: ir_value) -> RubyValue {
        switch Int(ir_type(v)) {
        case Int(IR_NIL.rawValue): return .nil
        case Int(IR_FALSE.rawValue): return .false
        case Int(IR_TRUE.rawValue): return .true
        case Int(IR_INT.rawValue): return .int(ir_int(v))
        case Int(IR_FLOAT.rawValue): return .float(ir_float(v))
        case Int(IR_STRING.rawValue): return .string(string(v))
        case Int(IR_SYMBOL.rawValue): return .symbol(string(v))
        case Int(IR_ARRAY.rawValue):
            return .array((0..<ir_array_len(v)).map { convert(ir_array_at(raw, v, $0)) })
        case Int(IR_HASH.rawValue):
            let keys = ir_hash_keys(raw, v)
            return .hash((0..<ir_array_len(keys)).map { i in
                let k = ir_array_at(raw, keys, i)
                return (convert(k), convert(ir_hash_get(raw, v, k)))
            })
        case Int(IR_PROC.rawValue):
            guard let r = ir_proc_irep(v) else { return .other(className: "Proc") }
            return .proc(Irep(raw: r, session: self), handle: v)
        default:
            return .other(className: String(cString: ir_classname(raw, v)))
        }
    }

    /// Each irep's line of every pc, decoded once: asking libmruby pc by pc
    /// (`ir_irep_line`) decodes its packed line map from the start each time,
    /// which made a line for every instruction of a 10,000-line body cost
    /// seconds (Benchmarks/scaling.sh).
    private var lineTables: [UnsafeRawPointer: [Int32]] = [:]

    func lines(of irep: Irep) -> [Int32] {
        if let known = lineTables[irep.raw] { return known }
        let count = Int(ir_irep_ilen(irep.raw))
        let table = [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { ir_irep_lines(raw, irep.raw, buffer.baseAddress!) }
            initialized = count
        }
        lineTables[irep.raw] = table
        return table
    }

    private func string(_ v: ir_value) -> String {
        var len = 0
        let p = ir_str(raw, v, &len)!
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }
}

/// A read-only view of an mruby irep (compiled method or block body).
struct Irep {
    let raw: UnsafeRawPointer
    unowned let session: MRubySession

    var nlocals: Int { Int(ir_irep_nlocals(raw)) }
    var nregs: Int { Int(ir_irep_nregs(raw)) }
    var code: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: ir_irep_iseq(raw), count: Int(ir_irep_ilen(raw))) }
    var catchHandlerCount: Int { Int(ir_irep_clen(raw)) }

    enum PoolEntry { case string(String), int(Int64), float(Double), other }
    func pool(_ i: Int) -> PoolEntry {
        var s: UnsafePointer<CChar>?
        var len = 0, iv: Int64 = 0, fv: Double = 0
        switch ir_irep_pool(raw, UInt16(i), &s, &len, &iv, &fv) {
        case 0: return .string(String(decoding: UnsafeRawBufferPointer(start: s, count: len), as: UTF8.self))
        case 1: return .int(iv)
        case 2: return .float(fv)
        default: return .other
        }
    }
    var poolCount: Int { Int(ir_irep_plen(raw)) }
    func symbol(_ i: Int) -> String { String(cString: ir_irep_sym(session.raw, raw, UInt16(i))) }
    var symbolCount: Int { Int(ir_irep_slen(raw)) }
    func child(_ i: Int) -> Irep { Irep(raw: ir_irep_rep(raw, UInt16(i)), session: session) }
    var childCount: Int { Int(ir_irep_rlen(raw)) }
    func localName(_ reg: Int) -> String? {
        guard reg > 0, reg < 65536, let p = ir_irep_lv(session.raw, raw, UInt16(reg)) else { return nil }
        return String(cString: p)
    }
    /// The source line of the instruction at `pc` (-1: none), from the
    /// session's table of this irep's lines.
    func line(at pc: Int) -> Int {
        let lines = session.lines(of: self)
        return pc >= 0 && pc < lines.count ? Int(lines[pc]) : -1
    }
}
