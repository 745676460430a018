import BPF
import InfraredObject

// Implicit maps (`@name`, bpftrace's `@maps`): an instance variable in a
// program body is a map declared by its use. mruby compiles `@x` to GETIV
// and `@x = v` to SETIV; `@x[k]`, `@x[k] = v` and `@x[k] += n` to GETIDX,
// SETIDX and the `[]`/`[]=` SEND pair `findAtomicIncrements` finds;
// `@x[k].hist(v)` to GETIDX then a SEND on its result.
//
// The types come from the uses, while the bodies are lowered: the key
// types from the kinds of the key registers at the first use (integers
// u64, `comm` char[16], a C string char[64], several keys an anonymous
// struct `infrared_key_NAME`), the value from how the map is written. The
// object refers to a map by name only (`ld_imm64` relocated at load), so
// the maps are declared after every program is lowered (`declare`).
// Every later use must agree with the first, or it is a compile error
// naming both lines.
//
// Storage: a map whose writes are all aggregations (`+=`, `count`, `sum`,
// `min`, `max`, `avg`, `hist`, `lhist`) is a BPF_MAP_TYPE_PERCPU_HASH,
// updated without atomics (each CPU its own slot) and merged by the
// loader; a map stored with `=` is a BPF_MAP_TYPE_HASH. Both hold
// `ImplicitMaps.maxEntries` entries, bpftrace's default.

/// How an implicit map is written: decides its value layout, its storage
/// and how loaders merge and print it.
typealias ImplicitWrite = Manifest.Aggregation

/// The implicit maps of a file, filled as its programs are lowered (one
/// object shared by the lowerings, like `RecordTypes`).
final class ImplicitMaps {
    /// bpftrace's default map size (its `BPFTRACE_MAP_KEYS_MAX`, 4096 in
    /// older versions, 10240 in 0.17's `max_map_keys` default).
    static let maxEntries = 10240
    /// A C string key (`ctx.filename`): bpftrace's default string size.
    static let stringKeySize = 64

    struct Entry {
        var name: String
        /// The key expressions' types (empty: `@total`), and the line that fixed them.
        var keyParts: [ValueType]? = nil
        var keyLine = 0
        /// Which key parts are stacks (`Manifest.Implicit.stacks`).
        var stacks: [Manifest.Implicit.Stack?]? = nil
        var write: ImplicitWrite? = nil
        var writeLine = 0
        /// The first plain read (`@x[k]`, `@x`) and `delete`, checked against the writes at the end.
        var readAt: SourceLocation? = nil
        var deleteAt: SourceLocation? = nil
    }
    var entries: [String: Entry] = [:]
    var order: [String] = []
    /// The implied stack maps `kstack`/`ustack` record into.
    var stackMaps: Set<Manifest.Implicit.Stack> = []
    /// The buckets a histogram's bucket index ranges over (`signedLog2Bucket`:
    /// 0…65; `linearBucket`: 0 below min, 1 + (max - min) / step from max on).
    static func bucketCount(_ write: ImplicitWrite?) -> Int? {
        switch write {
        case .hist: return 66
        case .lhist(let lo, let hi, let step): return Int(2 + (hi - lo + step - 1) / step)
        default: return nil
        }
    }

    /// An implied stack map's size (a declared stack_trace map's default).
    static let stackEntries = 1024

    func entry(_ name: String) -> Entry {
        if let e = entries[name] { return e }
        order.append(name)
        entries[name] = Entry(name: name)
        return entries[name]!
    }

    /// The key's layout for the given parts, with a trailing u64 bucket for histograms.
    static func keyLayout(_ name: String, parts: [ValueType], bucket: Bool, _ language: Language) -> (type: ValueType, offsets: [Int], size: Int, decl: StructDecl?) {
        let all = parts + (bucket ? [ValueType.scalar(.u64)] : [])
        if all.isEmpty { return (.scalar(.u64), [], 8, nil) }
        if all.count == 1 { return (all[0], [0], language.size(of: all[0]), nil) }
        var offsets: [Int] = [], fields: [FieldDecl] = [], offset = 0, align = 1
        for (i, t) in all.enumerated() {
            let al = language.alignment(of: t)
            offset = (offset + al - 1) / al * al
            offsets.append(offset)
            fields.append(FieldDecl(name: bucket && i == all.count - 1 ? "bucket" : "k\(i)", type: t, offset: offset))
            offset += language.size(of: t); align = max(align, al)
        }
        let size = (offset + align - 1) / align * align
        let sname = "infrared_key_\(name)"
        return (.structure(sname), offsets, size, StructDecl(name: sname, fields: fields, size: size, alignment: align))
    }

    /// The value layout of a map written as `write`.
    static func valueType(_ write: ImplicitWrite?) -> (type: ValueType, decl: StructDecl?) {
        func pair(_ n: String, _ a: String, _ b: String) -> StructDecl {
            StructDecl(name: n, fields: [FieldDecl(name: a, type: .scalar(.s64), offset: 0), FieldDecl(name: b, type: .scalar(.u64), offset: 8)],
                       size: 16, alignment: 8)
        }
        switch write {
        case .min, .max: return (.structure("infrared_minmax"), pair("infrared_minmax", "value", "set"))
        case .avg, .stats: return (.structure("infrared_avg"), pair("infrared_avg", "total", "count"))
        case .hist, .lhist:
            // A bucket's count and the sum of the values it counted: Prometheus's `_sum` is their total.
            return (.structure("infrared_hist"), StructDecl(name: "infrared_hist", fields: [FieldDecl(name: "count", type: .scalar(.u64), offset: 0),
                                                                                          FieldDecl(name: "sum", type: .scalar(.s64), offset: 8)], size: 16, alignment: 8))
        default: return (.scalar(.u64), nil)
        }
    }

    /// Declares the maps (and their key and value structs) in `language`,
    /// after every program was lowered; uses that cannot go together are
    /// an error here.
    func declare(in language: inout Language, path: String) throws -> [String: Manifest.Implicit] {
        var out: [String: Manifest.Implicit] = [:]
        for (stack, map) in [(Manifest.Implicit.Stack.kernel, Manifest.Implicit.kernelStackMap), (.user, Manifest.Implicit.userStackMap)]
        where stackMaps.contains(stack) {
            guard language.maps[map] == nil else {
                throw Diagnostic(file: path, line: language.maps[map]!.line, column: 1, message: "map :\(map) is declared and also implied by `\(stack == .kernel ? "kstack" : "ustack")`",
                                 hint: "rename the map")
            }
            language.maps[map] = MapDecl(name: map, kind: .stackTrace, key: .scalar(.u32), value: .chars(127 * 8),
                                         maxEntries: Self.stackEntries, flags: nil, line: 1)
            language.mapOrder.append(map)
        }
        for n in order {
            let e = entries[n]!
            let histogram: Bool
            switch e.write { case .hist, .lhist: histogram = true; default: histogram = false }
            if let w = e.write, w != .store, let r = e.readAt {
                throw Diagnostic(file: path, line: r.line, column: r.column,
                                 message: "`@\(n)` is read here but aggregated (\(w.methodName)) at line \(e.writeLine): a body sees only one CPU's share",
                                 hint: "store it with `@\(n)[k] = v` to read it back in bodies; aggregated maps are printed at exit")
            }
            if histogram, let d = e.deleteAt {
                throw Diagnostic(file: path, line: d.line, column: d.column, message: "`@\(n).delete` on a histogram (\(e.write!.methodName) at line \(e.writeLine))",
                                 hint: "a histogram's buckets are printed at exit; keep it")
            }
            let key = Self.keyLayout(n, parts: e.keyParts ?? [], bucket: histogram, language)
            let value = Self.valueType(e.write)
            for s in [key.decl, value.decl].compactMap({ $0 }) {
                if let have = language.structs[s.name], have != s {
                    throw Diagnostic(file: path, line: e.keyLine, column: 1, message: "struct \(s.name) is declared and also implied by `@\(n)`",
                                     hint: "rename the struct")
                }
                language.structs[s.name] = s
            }
            let aggregated = e.write.map { $0 != .store } ?? false
            if histogram, (e.keyParts ?? []).isEmpty, let buckets = Self.bucketCount(e.write) {
                // A histogram without a key: a per-CPU array of its buckets, the
                // key a u32 bucket (the lowering's u64 key slot, little-endian,
                // holds it in its first 4 bytes), no insert on first use.
                language.maps[n] = MapDecl(name: n, kind: .percpuArray, key: .scalar(.u32), value: value.type,
                                           maxEntries: buckets, flags: nil, line: e.keyLine)
            } else {
                language.maps[n] = MapDecl(name: n, kind: aggregated ? .percpuHash : .hash, key: key.type, value: value.type,
                                           maxEntries: Self.maxEntries, flags: nil, line: e.keyLine)
            }
            language.mapOrder.append(n)
            out[n] = Manifest.Implicit(aggregation: e.write ?? .store, keys: e.keyParts?.count ?? 0, stacks: e.stacks)
        }
        return out
    }
}

extension Manifest.Aggregation {
    /// The method (or operator) that writes it, for diagnostics.
    var methodName: String {
        switch self {
        case .store: return "`=`"
        case .sum: return "`+=`/count/sum"
        default: return functionName
        }
    }
}

extension Lowering {
    // MARK: Bytecode shapes

    /// The first instruction after index `i` that reads or writes register
    /// `r` as its operand a, or copies it (`MOVE x r`).
    func nextUse(_ frame: Frame, after i: Int, _ r: Int) -> (Int, MInstruction)? {
        var j = i + 1
        while j < frame.insns.count {
            let n = frame.insns[j]
            if n.a == r || (n.op == .move && n.b == r) { return (j, n) }
            if n.isTerminator { return nil }
            j += 1
        }
        return nil
    }

    /// Whether the GETIV at `i` yields the map as a receiver (`@x[k]`,
    /// `@x.count`), not its no-key value (`@x + 1`).
    func ivarIsHandle(_ frame: Frame, at i: Int, _ r: Int) -> Bool {
        guard let (j, n) = nextUse(frame, after: i, r) else { return false }
        if n.op == .move && n.b == r {
            // `@x[k] op= n` copies the receiver first: MOVE x r; …; SEND x :[]
            guard let (_, m) = nextUse(frame, after: j, n.a), m.a == n.a else { return false }
            return (m.op == .send && ["[]", "[]="].contains(frame.irep.symbol(m.b))) || m.op == .getidx
        }
        return [.send, .sendb, .getidx, .setidx].contains(n.op)
    }

    /// The aggregation a GETIDX's result receives (`@x[k].hist(v)`), if one.
    func entryMethod(_ frame: Frame, at i: Int, _ r: Int) -> String? {
        guard let (_, n) = nextUse(frame, after: i, r), n.op == .send, n.a == r else { return nil }
        let name = frame.irep.symbol(n.b)
        return Self.aggregations[name] != nil ? name : nil
    }

    /// `@x += n` with no key: `GETIV r @x; …; ADD/ADDI/SUB/SUBI r; SETIV @x r`.
    /// Returns the SETIV's index when the GETIV at `i` starts one.
    func noKeyIncrement(_ frame: Frame, getiv i: Int) -> Int? {
        let g = frame.insns[i]
        guard let (j, n) = nextUse(frame, after: i, g.a), [.add, .addi, .sub, .subi].contains(n.op), j + 1 < frame.insns.count else { return nil }
        let s = frame.insns[j + 1]
        guard s.op == .setiv, s.a == g.a, frame.irep.symbol(s.b) == frame.irep.symbol(g.b) else { return nil }
        return j + 1
    }

    /// Whether the SETIV at `i` ends a `@x += n` (see `noKeyIncrement`).
    func endsNoKeyIncrement(_ frame: Frame, setiv i: Int) -> Bool {
        let s = frame.insns[i]
        var j = i - 1
        while j >= 0 {
            let n = frame.insns[j]
            if n.op == .getiv, n.a == s.a { return noKeyIncrement(frame, getiv: j) == i }
            if n.a == s.a && ![.add, .addi, .sub, .subi].contains(n.op) { return false }
            if n.isTerminator { return false }
            j -= 1
        }
        return false
    }

    /// `@x[k…] op= n` with any number of keys: `MOVE x m; MOVE x+1 m+1; …;
    /// SEND x :[] n; …; ADD/ADDI/SUB/SUBI x; SEND m :[]= n+1` with x = m+n+1
    /// (`findAtomicIncrements` finds the one-key case for declared maps).
    /// The increment, for either SEND's index.
    func implicitIncrement(_ frame: Frame, at i: Int) -> AtomicIncrement? {
        let insns = frame.insns, insn = insns[i]
        guard insn.op == .send else { return nil }
        let name = frame.irep.symbol(insn.b), argc = insn.c & 0x0f
        if name == "[]=" {
            // Find the `[]` this `[]=` ends.
            let x = insn.a + argc
            var j = i - 1
            while j >= 0, !insns[j].isTerminator {
                if insns[j].op == .send, insns[j].a == x, frame.irep.symbol(insns[j].b) == "[]" {
                    return forwardIncrement(frame, get: j)?.set == i ? forwardIncrement(frame, get: j)?.inc : nil
                }
                j -= 1
            }
            return nil
        }
        guard name == "[]" else { return nil }
        return forwardIncrement(frame, get: i)?.inc
    }

    private func forwardIncrement(_ frame: Frame, get i: Int) -> (inc: AtomicIncrement, set: Int)? {
        let insns = frame.insns, get = insns[i], n = get.c & 0x0f, x = get.a
        guard i >= n + 1 else { return nil }
        let m = x - n - 1
        for j in 0...n {
            let mv = insns[i - n - 1 + j]
            guard mv.op == .move, mv.a == x + j, mv.b == m + j else { return nil }
        }
        var j = i + 1
        while j < insns.count {
            let o = insns[j]
            if [.add, .addi, .sub, .subi].contains(o.op), o.a == x { break }
            if o.isTerminator || o.a == x || (o.a >= m && o.a < x) { return nil }
            j += 1
        }
        guard j + 1 < insns.count else { return nil }
        // When the `+=`'s value is used (a body's last statement), mruby saves
        // it first: `MOVE r x` with r below the window (`isIncrementValueCopy`).
        var s = j + 1
        if insns[s].op == .move, insns[s].b == x, insns[s].a < m, s + 1 < insns.count { s += 1 }
        let set = insns[s]
        guard set.op == .send, set.a == m, (set.c & 0x0f) == n + 1, frame.irep.symbol(set.b) == "[]=" else { return nil }
        return atomicIncrement(insns, get: i, at: j).map { ($0, s) }
    }

    /// Whether the MOVE at `i` saves the value of an implicit map's
    /// `@x[k] += n` (`ADDI x n; MOVE r x; SEND m :[]= …`): that value is nil,
    /// as the `[]=` gives (a per-CPU total is not known in the body).
    func isIncrementValueCopy(_ frame: Frame, at i: Int, kinds: [Kind]) -> Bool {
        let insns = frame.insns, mv = insns[i]
        guard mv.op == .move, i >= 1, i + 1 < insns.count, [.add, .addi, .sub, .subi].contains(insns[i - 1].op), insns[i - 1].a == mv.b else { return false }
        let set = insns[i + 1]
        guard set.op == .send, frame.irep.symbol(set.b) == "[]=", set.a < kinds.count, case .implicitMap = kinds[set.a] else { return false }
        return implicitIncrement(frame, at: i + 1) != nil
    }

    /// The aggregation methods and their argument counts.
    static let aggregations: [String: Int] = ["count": 0, "sum": 1, "min": 1, "max": 1, "avg": 1, "stats": 1, "hist": 1, "lhist": 4]

    // MARK: Registry

    /// The map's name without `@`, checked against the file's declarations.
    func implicitName(_ frame: Frame, _ insn: MInstruction) throws -> String {
        let name = String(frame.irep.symbol(insn.b).dropFirst())
        if kindsSettled, language.maps[name] != nil || language.params[name] != nil || language.globals[name] != nil {
            let line = language.maps[name]?.line
            throw error(frame.irep, insn, "`@\(name)` names an implicit map, but `\(name)` is declared\(line.map { " at line \($0)" } ?? "")",
                        hint: "use the declared map as `\(name)`, or rename one of them")
        }
        return name
    }

    /// Records the key types of a use; a different key than before is an error.
    func noteKey(_ name: String, _ parts: [ValueType], stacks: [Manifest.Implicit.Stack?]? = nil, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws {
        guard kindsSettled else { return }
        var e = implicitMaps.entry(name)
        if let have = e.keyParts {
            guard have == parts, e.stacks == stacks else {
                func show(_ p: [ValueType], _ stacks: [Manifest.Implicit.Stack?]?) -> String {
                    let names = p.enumerated().map { i, t in
                        let stack: Manifest.Implicit.Stack? = stacks.flatMap { i < $0.count ? $0[i] : nil }
                        switch stack { case .kernel?: return "kstack"; case .user?: return "ustack"; case nil: return t.description }
                    }
                    return p.isEmpty ? "no key" : "key (" + names.joined(separator: ", ") + ")"
                }
                // Only string sizes differ: say where a string key's size comes from.
                let stringsOnly = have.count == parts.count && e.stacks == stacks && zip(have, parts).allSatisfy { a, b in
                    if a == b { return true }
                    if case .chars = a, case .chars = b { return true }
                    return false
                }
                throw error(irep, insn, "`@\(name)` is used with \(show(parts, stacks)) here and with \(show(have, e.stacks)) at line \(e.keyLine)",
                            hint: stringsOnly
                                ? "a string key has the size of its value: `comm` and a char[N] array (ctx.prev.comm, a tracepoint's prev_comm) N bytes, a `char *` (ctx.filename, user_string) or a literal 64; key every use with the same kind of string"
                                : "every use of an implicit map takes keys of the same types")
            }
            return
        }
        e.keyParts = parts; e.keyLine = loc.line; e.stacks = stacks
        implicitMaps.entries[name] = e
    }

    /// Records how a use writes the map; a different write than before is an error.
    func noteWrite(_ name: String, _ w: ImplicitWrite, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws {
        guard kindsSettled else { return }
        var e = implicitMaps.entry(name)
        if let have = e.write {
            guard have == w else {
                throw error(irep, insn, "`@\(name)` is written with \(w.methodName) here and with \(have.methodName) at line \(e.writeLine)",
                            hint: "an implicit map is either stored (`=`) or aggregated one way (`+=`/count/sum, min, max, avg, hist, lhist with the same bounds)")
            }
            return
        }
        e.write = w; e.writeLine = loc.line
        implicitMaps.entries[name] = e
    }

    func noteRead(_ name: String, delete: Bool, _ loc: SourceLocation) {
        guard kindsSettled else { return }
        var e = implicitMaps.entry(name)
        if delete { e.deleteAt = e.deleteAt ?? loc } else { e.readAt = e.readAt ?? loc }
        implicitMaps.entries[name] = e
    }

    // MARK: Keys

    /// The key type a key expression gives.
    func keyPart(_ k: Kind, _ irep: Irep, _ insn: MInstruction) throws -> ValueType {
        switch k {
        case .int, .bool, .nil: return .scalar(.u64)
        case .comm: return .chars(16)
        case .stack: return .scalar(.u64)
        // A char[N] (`ctx.prev.comm`, a tracepoint's `prev_comm`) keys as
        // char[N], as bpftrace's string[N]; a `char *`, as bpftrace's string.
        case .cString(_, let capacity): return .chars(capacity.map { min($0, ImplicitMaps.stringKeySize) } ?? ImplicitMaps.stringKeySize)
        case .charArray(let n): return .chars(n)
        case .string(let s):
            // A literal (or `probe`): stored in a char[64] like other string keys.
            guard s.utf8.count < ImplicitMaps.stringKeySize, !s.utf8.contains(0) else {
                return try unsettled(.chars(ImplicitMaps.stringKeySize), error(irep, insn, "the key \"\(s)\" has \(s.utf8.count) bytes: an implicit map's string key holds at most \(ImplicitMaps.stringKeySize - 1) (and no NUL)",
                                                                            hint: "use a shorter name"))
            }
            return .chars(ImplicitMaps.stringKeySize)
        default:
            return try unsettled(.scalar(.u64), error(irep, insn, "an implicit map's key must be an Integer, `comm` or a C string, not \(k.rubyName)",
                                                   hint: "keys: integers (pid, ctx.fd), comm, strings the program points at (ctx.filename), string literals and `probe`"))
        }
    }

    /// Builds the key of `@name[parts…]` on the stack (zeroed, so string
    /// tails and padding compare equal); returns its frame offset and the
    /// offset of the histogram bucket when `bucket`.
    func implicitKey(_ name: String, _ parts: [(VReg, Kind)], bucket: Bool, _ irep: Irep, _ insn: MInstruction,
                     _ loc: SourceLocation) throws -> (offset: Int, bucketOffset: Int) {
        let types = try parts.map { try keyPart($0.1, irep, insn) }
        let stacks = parts.map { p -> Manifest.Implicit.Stack? in if case .stack(let user) = p.1 { return user ? .user : .kernel } else { return nil } }
        try noteKey(name, types, stacks: stacks.contains { $0 != nil } ? stacks : nil, irep, insn, loc)
        let layout = ImplicitMaps.keyLayout(name, parts: types, bucket: bucket, language)
        let off = try allocateStack(size: layout.size, alignment: 8, irep, insn)
        // Zero the bytes no scalar part and no bucket (stored by the
        // caller) will cover: string tails and padding.
        var covered = [Bool](filled: false, count: layout.size)
        for (i, t) in types.enumerated() where { if case .scalar = t { return true }; return false }() {
            for b in layout.offsets[i]..<layout.offsets[i] + 8 { covered[b] = true }
        }
        if bucket, let b = layout.offsets.last { for x in b..<b + 8 { covered[x] = true } }
        var o = 0
        while o < layout.size {
            if covered[o] { o += 1; continue }
            var sz = 8
            while sz > 1 && (o % sz != 0 || o + sz > layout.size || covered[o..<o + sz].contains(true)) { sz /= 2 }
            emit(.storeFrame(offset: off + o, value: .imm(0), size: sz), loc); o += sz
        }
        for (i, p) in parts.enumerated() {
            switch types[i] {
            case .scalar:
                emit(.storeFrame(offset: off + layout.offsets[i], value: p.1 == .nil ? .imm(0) : .reg(p.0), size: 8), loc)
            case .chars(let n):
                if case .string(let s) = p.1 {
                    // A literal: its bytes as immediates (the key is zeroed, so the NUL is there).
                    let bytes = Array(s.utf8)
                    var o = 0
                    while o < bytes.count {
                        let sz = bytes.count - o >= 8 ? 8 : (bytes.count - o >= 4 ? 4 : (bytes.count - o >= 2 ? 2 : 1))
                        var v: UInt64 = 0
                        for j in 0..<sz { v |= UInt64(bytes[o + j]) << (8 * UInt64(j)) }
                        emit(.storeFrame(offset: off + layout.offsets[i] + o, value: .imm(Int64(bitPattern: v)), size: sz), loc); o += sz
                    }
                    continue
                }
                let base = newVReg(); emit(.frameAddress(base, offset: off), loc)
                copyString(p, into: base, offset: layout.offsets[i], size: n, loc)
            default: break
            }
        }
        return (off, bucket ? off + (layout.offsets.last ?? 0) : 0)
    }

    func frameAddress(_ offset: Int, _ loc: SourceLocation) -> VReg {
        let a = newVReg(); emit(.frameAddress(a, offset: offset), loc); return a
    }

    func implicitMapRef(_ name: String, _ loc: SourceLocation) -> VReg {
        let r = newVReg(); emit(.mapAddress(r, name: SymbolName(name)), loc); return r
    }

    // MARK: Instructions

    /// `GETIV r @x`: the map as a receiver, or (no key) its value, 0 when absent.
    func lowerGetIV(_ insn: MInstruction, at i: Int, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let name = try implicitName(frame, insn)
        if ivarIsHandle(frame, at: i, insn.a) {
            try assign(insn.a, .implicitMap(name), &kinds)
            return
        }
        let dst = frame.regs[insn.a]
        if noKeyIncrement(frame, getiv: i) != nil {
            // `@x += n`: the register counts from 0, the SETIV adds what it holds.
            emit(.move(dst, .imm(0)), loc)
            try assign(insn.a, .signedInt, &kinds)
            return
        }
        noteRead(name, delete: false, loc)
        let key = try implicitKey(name, [], bucket: false, frame.irep, insn, loc)
        try assign(insn.a, readValue(name, key: key.offset, dst: dst, loc), &kinds)
    }

    /// `SETIV @x r`: `@x = v`, or the end of `@x += n`.
    /// The value of `@x += n` is nil: a per-CPU map's total is not known in
    /// the body (so `@x += 1 if cond` ends a body as bpftrace one-liners do).
    func lowerSetIV(_ insn: MInstruction, at i: Int, _ frame: Frame, kinds: inout [Kind], _ loc: SourceLocation) throws {
        let name = try implicitName(frame, insn)
        let value = (frame.regs[insn.a], kinds[insn.a])
        let key = try implicitKey(name, [], bucket: false, frame.irep, insn, loc)
        if endsNoKeyIncrement(frame, setiv: i) {
            try noteWrite(name, .sum, frame.irep, insn, loc)
            let inc = try integerOperand(value, frame.irep, insn, what: "the increment of `@\(name)`")
            try aggregate(name, key: key.offset, sum: inc, loc, frame.irep, insn)
            try assign(insn.a, .nil, &kinds)
        } else {
            try noteWrite(name, .store, frame.irep, insn, loc)
            try storeValue(name, key: key.offset, value: value, frame.irep, insn, loc)
        }
    }

    /// `@x[k…]` (GETIDX, or `[]` as a SEND), `@x[k…] = v` (SETIDX, `[]=`):
    /// `set` says which; the last argument of a set is the value.
    func implicitIndex(_ frame: Frame, _ insn: MInstruction, at i: Int, name: String, args argRegs: [Int], set: Bool,
                       kinds: inout [Kind], loc: SourceLocation) throws -> Kind {
        let irep = frame.irep, R = frame.regs
        if set && argRegs.isEmpty { throw error(irep, insn, "`@\(name)[k] = v` needs a value", hint: nil) }
        let keyRegs = set ? Array(argRegs.dropLast()) : argRegs
        let parts = keyRegs.map { (R[$0], kinds[$0]) }
        let dst = R[insn.a]
        if let inc = implicitIncrement(frame, at: i) {
            // `@x[k] += n`: the `[]` gives nothing, the `[]=` adds.
            guard set else { return .signedInt }
            try noteWrite(name, .sum, irep, insn, loc)
            let key = try implicitKey(name, parts, bucket: false, irep, insn, loc)
            let amount: Operand
            switch inc { case .immediate(let v): amount = .imm(v); case .register(let r): amount = .reg(R[r]) }
            try aggregate(name, key: key.offset, sum: amount, loc, irep, insn)
            return .nil   // the per-CPU total is not known here (see lowerSetIV)
        }
        if set {
            try noteWrite(name, .store, irep, insn, loc)
            let key = try implicitKey(name, parts, bucket: false, irep, insn, loc)
            let value = (R[argRegs.last!], kinds[argRegs.last!])
            try storeValue(name, key: key.offset, value: value, irep, insn, loc)
            return value.1
        }
        if let method = entryMethod(frame, at: i, insn.a) {
            // `@x[k].hist(v)`: the key now (its registers are reused for the arguments).
            let key = try implicitKey(name, parts, bucket: method == "hist" || method == "lhist", irep, insn, loc)
            return .implicitEntry(name, keyOffset: key.offset, bucketOffset: key.bucketOffset)
        }
        noteRead(name, delete: false, loc)
        let key = try implicitKey(name, parts, bucket: false, irep, insn, loc)
        return readValue(name, key: key.offset, dst: dst, loc)
    }

    /// A method on `@x` or `@x[k]`: `delete(k)`, `count`, `sum(v)`, …
    func implicitMethod(_ frame: Frame, _ insn: MInstruction, receiver: Kind, name method: String, args argRegs: [Int],
                        kinds: inout [Kind], loc: SourceLocation) throws -> Kind {
        let irep = frame.irep, R = frame.regs
        let args = argRegs.map { (R[$0], kinds[$0]) }
        func noMethod(_ map: String) -> Diagnostic {
            error(irep, insn, "implicit map `@\(map)` has no method `\(method)`",
                  hint: "@m[k] += n, @m[k] = v, @m[k], @m.lookup(k), @m.delete(k), and count, sum(v), min(v), max(v), avg(v), hist(v), lhist(v, min, max, step)",
                  symbol: method)
        }
        let map: String, key: (offset: Int, bucketOffset: Int)
        var keyless = false   // `@x.hist(v)`: a histogram without a key (a per-CPU array of buckets)
        switch receiver {
        case .implicitMap(let n):
            map = n; keyless = true
            if method == "[]" || method == "[]=" {
                return try implicitIndex(frame, insn, at: frame.index[insn.pc]!, name: n, args: argRegs, set: method == "[]=", kinds: &kinds, loc: loc)
            }
            if method == "lookup" {
                // A pointer to the value, or nil (`p.value` reads it).
                noteRead(n, delete: false, loc)
                let k = try implicitKey(n, args, bucket: false, irep, insn, loc)
                emit(.call(R[insn.a], helper: helperID("map_lookup_elem"), args: [.reg(implicitMapRef(n, loc)), .reg(frameAddress(k.offset, loc))]), loc)
                return .pointer(.scalar(.u64), nullable: true, id: pointers.id(at: R[insn.a], loc))
            }
            if method == "delete" {
                noteRead(n, delete: true, loc)
                let k = try implicitKey(n, args, bucket: false, irep, insn, loc)
                emit(.call(R[insn.a], helper: helperID("map_delete_elem"), args: [.reg(implicitMapRef(n, loc)), .reg(frameAddress(k.offset, loc))]), loc)
                // nil, as `+=`: a body may end in `if … @m.delete(k) end` (bpftrace's habit).
                return .nil
            }
            guard Self.aggregations[method] != nil else { throw noMethod(n) }
            key = try implicitKey(n, [], bucket: method == "hist" || method == "lhist", irep, insn, loc)
        case .implicitEntry(let n, let off, let b):
            map = n; key = (off, b)
        default:
            return .signedInt
        }
        guard let argc = Self.aggregations[method] else { throw noMethod(map) }
        guard args.count == argc else {
            throw error(irep, insn, "`\(method)` on `@\(map)` takes \(argc) argument\(argc == 1 ? "" : "s")", hint: nil, symbol: method)
        }
        let v = argc > 0 ? try integerOperand(args[0], irep, insn, what: "the value of `@\(map).\(method)`") : .imm(1)
        switch method {
        case "count", "sum":
            try noteWrite(map, .sum, irep, insn, loc)
            try aggregate(map, key: key.offset, sum: v, loc, irep, insn)
        case "min", "max":
            try noteWrite(map, method == "min" ? .min : .max, irep, insn, loc)
            try aggregateExtreme(map, key: key.offset, value: v, below: method == "min", loc, irep, insn)
        case "avg", "stats":
            try noteWrite(map, method == "avg" ? .avg : .stats, irep, insn, loc)
            try aggregateAverage(map, key: key.offset, value: v, loc, irep, insn)
        case "hist":
            try noteWrite(map, .hist, irep, insn, loc)
            emit(.storeFrame(offset: key.bucketOffset, value: .reg(signedLog2Bucket(v, loc)), size: 8), loc)
            try aggregateHistogram(map, key: key.offset, value: v, keyless: keyless, loc, irep, insn)
        default:   // lhist
            let bounds = try argRegs.dropFirst().map { r -> Int64 in
                guard let c = literalInteger(frame, before: frame.index[insn.pc]!, r) else {
                    throw error(irep, insn, "lhist's min, max and step must be Integer literals or constants",
                                hint: "@m.lhist(v, 0, 1000, 100) or @m.lhist(v, 0, MAX_US, STEP) with MAX_US = 1000 at the top level", symbol: method)
                }
                return c
            }
            let (lo, hi, step) = (bounds[0], bounds[1], bounds[2])
            guard step > 0, hi > lo, (hi - lo) / step <= 1000 else {
                throw error(irep, insn, "lhist needs step > 0, max > min and at most 1000 buckets, not (\(lo), \(hi), \(step))",
                            hint: "@m.lhist(v, 0, 1000, 100)", symbol: method)
            }
            try noteWrite(map, .lhist(min: lo, max: hi, step: step), irep, insn, loc)
            emit(.storeFrame(offset: key.bucketOffset, value: .reg(linearBucket(v, lo, hi, step, loc)), size: 8), loc)
            try aggregateHistogram(map, key: key.offset, value: v, keyless: keyless, loc, irep, insn)
        }
        return .nil
    }

    /// The Integer the instruction that wrote `r` last before index `i` put
    /// there: a literal (LOADI-family, or a large one from the pool) or a
    /// top-level constant's build-time value (GETCONST).
    func literalInteger(_ frame: Frame, before i: Int, _ r: Int) -> Int64? {
        var j = i - 1
        while j >= 0 {
            let n = frame.insns[j]
            if n.a == r {
                switch n.op {
                case .getconst:
                    if case .int(let v)? = session.constant(frame.irep.symbol(n.b)) { return v }
                    return nil
                case .loadl:
                    if case .int(let v) = frame.irep.pool(n.b) { return v }
                    return nil
                default:
                    return n.integerLiteral
                }
            }
            j -= 1
        }
        return nil
    }

    // MARK: Emission

    /// The u64 value for the key at frame `key`, or 0 when absent.
    func readValue(_ name: String, key: Int, dst: VReg, _ loc: SourceLocation) -> Kind {
        let p = newVReg()
        emit(.call(p, helper: helperID("map_lookup_elem"), args: [.reg(implicitMapRef(name, loc)), .reg(frameAddress(key, loc))]), loc)
        let hit = newBlock(), miss = newBlock(), join = newBlock()
        terminate(.branch(.eq, .reg(p), .imm(0), then: miss, else: hit), loc)
        ir.current = hit; emit(.load(dst, base: p, offset: 0, size: 8, signed: false), loc); terminate(.jump(join), loc)
        ir.current = miss; emit(.move(dst, .imm(0)), loc); terminate(.jump(join), loc)
        ir.current = join
        return intKind(.u64)
    }

    /// `map_update_elem(key, &v, BPF_ANY)`.
    func storeValue(_ name: String, key: Int, value: (VReg, Kind), _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation) throws {
        let v = try materialize(value, as: .scalar(.u64), irep, insn, what: "the value of `@\(name)`", loc)
        let rc = newVReg()
        emit(.call(rc, helper: helperID("map_update_elem"), args: [.reg(implicitMapRef(name, loc)), .reg(frameAddress(key, loc)), .reg(v), .imm(0)]), loc)
        countFault(if: .slt, .reg(rc), .imm(0), map: "@\(name)", .failedUpdates, loc)
    }

    /// A per-CPU read-modify-write: `hit(p)` changes the value at p when
    /// the entry exists (this CPU's slot: no other CPU writes it, so no
    /// atomic), else `initial` fills a zeroed value of `size` bytes at the
    /// given frame offset, inserted with BPF_ANY (if another CPU inserted the
    /// key meanwhile, only this CPU's slot, still 0, is set).
    func perCPUUpdate(_ name: String, key: Int, size: Int, array: Bool = false, _ irep: Irep, _ insn: MInstruction, _ loc: SourceLocation,
                      hit: (VReg) -> Void, initial: (Int) -> Void) throws {
        let p = newVReg()
        emit(.call(p, helper: helperID("map_lookup_elem"), args: [.reg(implicitMapRef(name, loc)), .reg(frameAddress(key, loc))]), loc)
        let hitBlock = newBlock(), miss = newBlock(), join = newBlock()
        terminate(.branch(.eq, .reg(p), .imm(0), then: miss, else: hitBlock), loc)
        ir.current = hitBlock
        hit(p)
        terminate(.jump(join), loc)
        ir.current = miss
        if array {
            // Every bucket exists: a miss is a bucket out of range (none is), counted.
            incrementFault(map: "@\(name)", .failedUpdates, loc)
            terminate(.jump(join), loc)
            ir.current = join
            return
        }
        let slot = try allocateStack(size: size, alignment: 8, irep, insn)
        for o in stride(from: 0, to: size, by: 8) { emit(.storeFrame(offset: slot + o, value: .imm(0), size: 8), loc) }
        initial(slot)
        let rc = newVReg()
        emit(.call(rc, helper: helperID("map_update_elem"), args: [.reg(implicitMapRef(name, loc)), .reg(frameAddress(key, loc)), .reg(frameAddress(slot, loc)), .imm(0)]), loc)
        countFault(if: .slt, .reg(rc), .imm(0), map: "@\(name)", .failedUpdates, loc)
        terminate(.jump(join), loc)
        ir.current = join
    }

    /// `+= n`, `count`, `sum(v)`, a histogram's bucket count.
    func aggregate(_ name: String, key: Int, sum amount: Operand, _ loc: SourceLocation, _ irep: Irep, _ insn: MInstruction) throws {
        let inc = newVReg()
        emit(.move(inc, amount), loc)
        try perCPUUpdate(name, key: key, size: 8, irep, insn, loc, hit: { p in
            let t = newVReg()
            emit(.load(t, base: p, offset: 0, size: 8, signed: false), loc)
            emit(.binary(.add, t, .reg(t), .reg(inc)), loc)
            emit(.store(base: p, offset: 0, value: .reg(t), size: 8), loc)
        }, initial: { slot in emit(.storeFrame(offset: slot, value: .reg(inc), size: 8), loc) })
    }

    /// `hist(v)` / `lhist(v, …)` after the bucket is in the key: the
    /// bucket's count and the sum of its values (`infrared_hist`), this
    /// CPU's slot, no atomics: one load, add and store more than a count.
    func aggregateHistogram(_ name: String, key: Int, value: Operand, keyless: Bool, _ loc: SourceLocation, _ irep: Irep, _ insn: MInstruction) throws {
        let v = newVReg()
        emit(.move(v, value), loc)
        try perCPUUpdate(name, key: key, size: 16, array: keyless, irep, insn, loc, hit: { p in
            let c = newVReg(), t = newVReg()
            emit(.load(c, base: p, offset: 0, size: 8, signed: false), loc)
            emit(.binary(.add, c, .reg(c), .imm(1)), loc)
            emit(.store(base: p, offset: 0, value: .reg(c), size: 8), loc)
            emit(.load(t, base: p, offset: 8, size: 8, signed: false), loc)
            emit(.binary(.add, t, .reg(t), .reg(v)), loc)
            emit(.store(base: p, offset: 8, value: .reg(t), size: 8), loc)
        }, initial: { slot in
            emit(.storeFrame(offset: slot, value: .imm(1), size: 8), loc)
            emit(.storeFrame(offset: slot + 8, value: .reg(v), size: 8), loc)
        })
    }

    /// `min(v)` / `max(v)`: the value and a flag saying this CPU set it
    /// (a slot another CPU's insertion zeroed is not a minimum of 0).
    func aggregateExtreme(_ name: String, key: Int, value: Operand, below: Bool, _ loc: SourceLocation, _ irep: Irep, _ insn: MInstruction) throws {
        let v = newVReg()
        emit(.move(v, value), loc)
        try perCPUUpdate(name, key: key, size: 16, irep, insn, loc, hit: { p in
            let set = newVReg(), t = newVReg()
            let compare = newBlock(), write = newBlock(), done = newBlock()
            emit(.load(set, base: p, offset: 8, size: 8, signed: false), loc)
            terminate(.branch(.eq, .reg(set), .imm(0), then: write, else: compare), loc)
            ir.current = compare
            emit(.load(t, base: p, offset: 0, size: 8, signed: true), loc)
            terminate(.branch(below ? .slt : .sgt, .reg(v), .reg(t), then: write, else: done), loc)
            ir.current = write
            emit(.store(base: p, offset: 0, value: .reg(v), size: 8), loc)
            emit(.store(base: p, offset: 8, value: .imm(1), size: 8), loc)
            terminate(.jump(done), loc)
            ir.current = done
        }, initial: { slot in
            emit(.storeFrame(offset: slot, value: .reg(v), size: 8), loc)
            emit(.storeFrame(offset: slot + 8, value: .imm(1), size: 8), loc)
        })
    }

    /// `avg(v)`: the total and the count; the loader divides.
    func aggregateAverage(_ name: String, key: Int, value: Operand, _ loc: SourceLocation, _ irep: Irep, _ insn: MInstruction) throws {
        let v = newVReg()
        emit(.move(v, value), loc)
        try perCPUUpdate(name, key: key, size: 16, irep, insn, loc, hit: { p in
            let t = newVReg(), c = newVReg()
            emit(.load(t, base: p, offset: 0, size: 8, signed: false), loc)
            emit(.binary(.add, t, .reg(t), .reg(v)), loc)
            emit(.store(base: p, offset: 0, value: .reg(t), size: 8), loc)
            emit(.load(c, base: p, offset: 8, size: 8, signed: false), loc)
            emit(.binary(.add, c, .reg(c), .imm(1)), loc)
            emit(.store(base: p, offset: 8, value: .reg(c), size: 8), loc)
        }, initial: { slot in
            emit(.storeFrame(offset: slot, value: .reg(v), size: 8), loc)
            emit(.storeFrame(offset: slot + 8, value: .imm(1), size: 8), loc)
        })
    }

    /// bpftrace 0.17's hist() bucket: 0 for v < 0, 1 for 0, 2 + ⌊log2 v⌋
    /// above.
    func signedLog2Bucket(_ value: Operand, _ loc: SourceLocation) -> VReg {
        log2Bucket(value, zeroApart: true, loc)
    }

    /// bpftrace's lhist() bucket: 0 below `lo`, 1 + (v - lo) / step inside,
    /// 1 + (hi - lo) / step from `hi` on.
    func linearBucket(_ value: Operand, _ lo: Int64, _ hi: Int64, _ step: Int64, _ loc: SourceLocation) -> VReg {
        let out = newVReg()
        let below = newBlock(), notBelow = newBlock(), above = newBlock(), inside = newBlock(), join = newBlock()
        terminate(.branch(.slt, value, .imm(lo), then: below, else: notBelow), loc)
        ir.current = below; emit(.move(out, .imm(0)), loc); terminate(.jump(join), loc)
        ir.current = notBelow
        terminate(.branch(.sge, value, .imm(hi), then: above, else: inside), loc)
        ir.current = above; emit(.move(out, .imm(1 + (hi - lo) / step)), loc); terminate(.jump(join), loc)
        ir.current = inside
        emit(.move(out, value), loc)
        emit(.binary(.sub, out, .reg(out), .imm(lo)), loc)
        emit(.binary(.udiv, out, .reg(out), .imm(step)), loc)
        emit(.binary(.add, out, .reg(out), .imm(1)), loc)
        terminate(.jump(join), loc)
        ir.current = join
        return out
    }
}
