import BPF
import InfraredObject

/// The type of a map key/value, a struct field, a param or a global.
indirect enum ValueType: Hashable, CustomStringConvertible {
    case scalar(ScalarType)
    /// `char name[count]`
    case chars(Int)
    /// A declared struct, by name.
    case structure(String)

    var description: String {
        switch self {
        case .scalar(let s): return s.name
        case .chars(let n): return "char[\(n)]"
        case .structure(let n): return "struct \(n)"
        }
    }
}

/// A field of a declared struct, laid out as C would.
struct FieldDecl: Hashable {
    var name: String
    var type: ValueType
    var offset: Int
}

struct StructDecl: Hashable {
    var name: String
    var fields: [FieldDecl]
    var size: Int
    var alignment: Int
    func field(_ n: String) -> FieldDecl? { fields.first { $0.name == n } }
}

/// How a declared map behaves in bodies and what the object declares.
struct MapDecl {
    var name: String
    var kind: MapKind
    var key: ValueType?
    var value: ValueType?
    var maxEntries: Int?
    var flags: UInt32?
    var line: Int

    /// log2 histogram buckets: ≤0, then [2^k, 2^(k+1)) for k = 0…63.
    static let histBuckets = 65
    /// The slot after the buckets: the running sum of the values added
    /// (Prometheus's `_sum`, which the log2 buckets cannot give).
    static let histSumSlot = histBuckets

    var isRecordStream: Bool { kind.isRecordStream }
}

struct ParamDecl { var name: String; var type: ScalarType; var defaultValue: Int64 }
struct GlobalDecl { var name: String; var type: ScalarType; var initialValue: Int64? }

/// Everything a body can refer to by name.
struct Language {
    var structs: [String: StructDecl] = [:]
    var maps: [String: MapDecl] = [:]
    var params: [String: ParamDecl] = [:]
    var globals: [String: GlobalDecl] = [:]
    var mapOrder: [String] = []
    var paramOrder: [String] = []
    var globalOrder: [String] = []

    func size(of t: ValueType) -> Int {
        switch t {
        case .scalar(let s): return s.size
        case .chars(let n): return n
        case .structure(let n): return structs[n]?.size ?? 0
        }
    }
    /// Bytes of a map's key: its type's, or a perf event array's u32 CPU index (0 for a ring buffer).
    func keySize(of m: MapDecl) -> Int { m.key.map { size(of: $0) } ?? (m.kind == .perfEventArray ? 4 : 0) }
    /// Bytes of a map's value: its type's, or a perf event array's u32 fd (0 for a ring buffer).
    func valueSize(of m: MapDecl) -> Int { m.value.map { size(of: $0) } ?? (m.kind == .perfEventArray ? 4 : 0) }

    func alignment(of t: ValueType) -> Int {
        switch t {
        case .scalar(let s): return s.size
        case .chars: return 1
        case .structure(let n): return structs[n]?.alignment ?? 1
        }
    }

    /// The C type of `t` for BTF.
    func cType(_ t: ValueType) -> ProgramBTFSpec.CType {
        switch t {
        case .scalar(let s): return .int(name: s.cName, size: s.size, signed: s.signed)
        case .chars(let n): return .array(.int(name: "char", size: 1, signed: true), count: n)
        case .structure(let n):
            let d = structs[n]!
            return .structure(name: n, size: d.size, members: d.fields.map { .init(name: $0.name, type: cType($0.type), offset: $0.offset) })
        }
    }
}

extension Language {
    /// Reads the declarations the prelude recorded in `$__ir`.
    init(ir: RubyValue, path: String, line: (RubyValue) -> Int) throws {
        func fail(_ message: String, hint: String? = nil, at l: Int = 1) -> Diagnostic {
            Diagnostic(file: path, line: l, column: 1, message: message, hint: hint)
        }
        func typeNamed(_ v: RubyValue?, count: RubyValue? = nil, what: String, at l: Int) throws -> ValueType {
            // A map's key or value spelled [:char, N].
            if case .array(let a)? = v, count == nil {
                guard a.count == 2, a[0].stringValue == "char", a[1].intValue != nil else {
                    throw fail("\(what) must be a type name or [:char, N]", hint: "key: [:char, 16]", at: l)
                }
                return try typeNamed(a[0], count: a[1], what: what, at: l)
            }
            guard let name = v?.stringValue else { throw fail("\(what) needs a type", hint: "e.g. :u32, :u64, or a struct declared with `struct`", at: l) }
            if name == "char", let n = count?.intValue {
                guard n >= 1 && n <= 65535 else { throw fail("the length of char array \(what) must be 1…65535, not \(n)", at: l) }
                return .chars(Int(n))
            }
            if let s = ScalarType(rawValue: name) { return .scalar(s) }
            if structs[name] != nil { return .structure(name) }
            throw fail("unknown type :\(name) for \(what)", hint: "scalar types: " + ScalarType.names.map { ":" + $0 }.joined(separator: " ") + ", or a struct declared before", at: l)
        }
        for s in ir["structs"]?.arrayValue ?? [] {
            let a = s.arrayValue
            guard a.count == 3, let name = a[0].stringValue else { continue }
            let l = Int(a[2].intValue ?? 1)
            var fields: [FieldDecl] = [], offset = 0, align = 1
            for f in a[1].arrayValue {
                let fa = f.arrayValue
                guard fa.count >= 3, let fname = fa[0].stringValue else { continue }
                // The field's own line (a struct's fields are lines of its block).
                let fl = fa.count > 3 ? Int(fa[3].intValue ?? Int64(l)) : l
                let t = try typeNamed(fa[1], count: fa[2], what: "field :\(fname) of struct \(name)", at: fl > 0 ? fl : l)
                if case .scalar(let st) = t, let n = fa[2].intValue {
                    guard st.name == "char" || st.size == 1 else { throw fail("arrays of \(st.name) are not supported yet", at: fl > 0 ? fl : l) }
                    _ = n
                }
                let al = alignment(of: t), sz = size(of: t)
                offset = (offset + al - 1) / al * al
                if fields.contains(where: { $0.name == fname }) { throw fail("struct \(name) declares :\(fname) twice", at: fl > 0 ? fl : l) }
                fields.append(FieldDecl(name: fname, type: t, offset: offset))
                offset += sz; align = max(align, al)
            }
            guard structs[name] == nil else { throw fail("struct \(name) is declared twice", at: l) }
            structs[name] = StructDecl(name: name, fields: fields, size: max((offset + align - 1) / align * align, 1), alignment: align)
        }
        for m in ir["maps"]?.arrayValue ?? [] {
            guard let name = m["name"]?.stringValue, let kindName = m["type"]?.stringValue else { continue }
            let l = Int(m["line"]?.intValue ?? 1)
            guard let kind = MapKind(rawValue: kindName) else {
                throw fail("unknown map type :\(kindName) for map :\(name)", hint: "map types: " + MapKind.names.map { ":" + $0 }.joined(separator: " "), at: l)
            }
            if let n = m["max_entries"]?.intValue, n < 1 || n > Int64(UInt32.max) {
                throw fail("max_entries of map :\(name) must be 1…\(UInt32.max), not \(n)", at: l)
            }
            if let f = m["flags"]?.intValue, f < 0 || f > Int64(UInt32.max) {
                throw fail("flags of map :\(name) must fit in 32 bits, not \(f)", at: l)
            }
            var d = MapDecl(name: name, kind: kind, key: nil, value: nil, maxEntries: m["max_entries"]?.intValue.map(Int.init),
                            flags: m["flags"]?.intValue.map { UInt32(truncatingIfNeeded: $0) }, line: l)
            switch kind {
            case .ringbuf:
                let n = d.maxEntries ?? 256 * 1024
                guard n > 0, n & (n - 1) == 0, n % 4096 == 0 else {
                    throw fail("ringbuf :\(name) needs max_entries a power of two multiple of 4096 (the page size), not \(n)", at: l)
                }
                d.maxEntries = n
            case .perfEventArray: break
            case .hist:
                d.key = .scalar(.u32); d.value = .scalar(.u64); d.maxEntries = MapDecl.histBuckets + 1
            case .stackTrace:
                d.key = .scalar(.u32); d.value = .chars(127 * 8); d.maxEntries = d.maxEntries ?? 1024
            case .array, .percpuArray:
                d.key = .scalar(.u32)
                d.value = try typeNamed(m["value"], what: "the value of map :\(name)", at: l)
                d.maxEntries = d.maxEntries ?? 1
            case .hash, .lruHash, .percpuHash:
                d.key = try typeNamed(m["key"], what: "the key of map :\(name)", at: l)
                d.value = try typeNamed(m["value"], what: "the value of map :\(name)", at: l)
                d.maxEntries = d.maxEntries ?? 10240
            }
            guard maps[name] == nil else { throw fail("map :\(name) is declared twice", at: l) }
            maps[name] = d; mapOrder.append(name)
        }
        for p in ir["params"]?.arrayValue ?? [] {
            let a = p.arrayValue
            guard a.count == 4, let name = a[0].stringValue else { continue }
            let l = Int(a[3].intValue ?? 1)
            guard case .scalar(let t) = try typeNamed(a[1], what: "param :\(name)", at: l) else { throw fail("param :\(name) must be a scalar", at: l) }
            var dv: Int64 = 0
            switch a[2] { case .int(let v): dv = v; case .true: dv = 1; case .false, .nil: dv = 0
            default: throw fail("the default of param :\(name) must be an Integer or true/false", at: l) }
            guard params[name] == nil else { throw fail("param :\(name) is declared twice", at: l) }
            params[name] = ParamDecl(name: name, type: t, defaultValue: dv); paramOrder.append(name)
        }
        for g in ir["globals"]?.arrayValue ?? [] {
            let a = g.arrayValue
            guard a.count == 4, let name = a[0].stringValue else { continue }
            let l = Int(a[3].intValue ?? 1)
            guard case .scalar(let t) = try typeNamed(a[1], what: "global :\(name)", at: l) else { throw fail("global :\(name) must be a scalar", at: l) }
            guard globals[name] == nil else { throw fail("global :\(name) is declared twice", at: l) }
            globals[name] = GlobalDecl(name: name, type: t, initialValue: a[2].intValue); globalOrder.append(name)
        }
        let all = Array(maps.keys) + Array(params.keys) + Array(globals.keys)
        if Set(all).count != all.count { throw fail("a map, param and global share a name", hint: "give each a distinct name") }
    }

    /// Object-file declarations: maps and variables.
    func objectMaps() -> [MapDefinition] {
        mapOrder.map { n in
            let d = maps[n]!
            let type = d.kind.mapType.rawValue
            switch d.kind {
            case .ringbuf: return MapDefinition(name: n, type: type, maxEntries: d.maxEntries)
            case .perfEventArray: return MapDefinition(name: n, type: type, keySize: keySize(of: d), valueSize: valueSize(of: d), maxEntries: d.maxEntries)
            case .stackTrace:
                return MapDefinition(name: n, type: type, key: cType(d.key!), valueSize: valueSize(of: d), maxEntries: d.maxEntries)
            default:
                return MapDefinition(name: n, type: type, key: cType(d.key!), value: cType(d.value!), maxEntries: d.maxEntries, flags: d.flags)
            }
        }
    }

    func objectVariables() -> [DataVariable] {
        func bytes(_ v: Int64, _ size: Int) -> [UInt8] { (0..<size).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * UInt64($0))) } }
        var out: [DataVariable] = []
        for n in paramOrder {
            let p = params[n]!
            out.append(DataVariable(name: n, type: cType(.scalar(p.type)), section: .rodata, initialValue: bytes(p.defaultValue, p.type.size)))
        }
        for n in globalOrder {
            let g = globals[n]!
            out.append(DataVariable(name: n, type: cType(.scalar(g.type)), section: g.initialValue.map { $0 != 0 } == true ? .data : .bss,
                                    initialValue: bytes(g.initialValue ?? 0, g.type.size)))
        }
        return out
    }
}
