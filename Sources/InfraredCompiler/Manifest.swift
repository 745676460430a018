import BPF

/// What a loader or skeleton needs to know about a compiled file besides
/// the object: each program's attach point, the params (CLI flags), the
/// maps and the layouts of the records and values they hold.
public struct Manifest: Sendable, Codable, Equatable {
    public struct Program: Sendable, Codable, Equatable {
        public var name: String
        /// The language's declaration (`tracepoint`, `usdt`, `perf_event`, `cgroup_device`, …).
        public var kind: String
        public var section: String
        /// Positional arguments of the declaration (`"sched/sched_process_exec"`, `:cpu_clock`).
        public var arguments: [String]
        /// Keyword options (`frequency: 99` → ["frequency": "99"]).
        public var options: [String: String]
        public var line: Int
    }
    /// A scalar or a fixed array or a struct, as laid out in memory.
    public struct Field: Sendable, Codable, Equatable {
        public var name: String
        /// `u8…u64`, `s8…s64`, `char`, `bool`, `char[N]` as "chars", or a struct name.
        public var type: String
        public var offset: Int
        public var size: Int
        public var signed: Bool
        /// For `chars`: the array length.
        public var count: Int?
    }
    public struct Struct: Sendable, Codable, Equatable {
        public var name: String
        public var size: Int
        public var fields: [Field]
    }
    public struct Map: Sendable, Codable, Equatable {
        public var name: String
        /// The language's map type (`hash`, `ringbuf`, `hist`, …).
        public var kind: String
        public var key: String?
        public var value: String?
        public var keySize: Int
        public var valueSize: Int
        public var maxEntries: Int?
        /// Internal maps (libbpf's USDT support) that tools should not print.
        public var isInternal: Bool
        /// For ringbuf and perf_event_array maps: the struct of their records
        /// (from `reserve(Event)` / `output(e)` in the bodies), if one.
        public var record: String? = nil
    }
    public struct Variable: Sendable, Codable, Equatable {
        public var name: String
        public var type: String
        public var size: Int
        public var signed: Bool
        /// Byte offset within its section (`.rodata` for params, `.data`/`.bss` for globals).
        public var offset: Int
        public var section: String
        public var defaultValue: Int64
    }
    public var license: String
    public var programs: [Program]
    public var structs: [Struct]
    public var maps: [Map]
    public var params: [Variable]
    public var globals: [Variable]
}

extension Manifest {
    init(declarations: Declarations, language: Language, records: [String: String] = [:]) {
        license = declarations.license
        programs = declarations.programs.map {
            Program(name: $0.name, kind: $0.kind.declaration, section: $0.section, arguments: $0.arguments, options: $0.options, line: $0.line)
        }
        func typeName(_ t: ValueType) -> String {
            switch t { case .scalar(let s): return s.name; case .chars: return "chars"; case .structure(let n): return n }
        }
        func signed(_ t: ValueType) -> Bool { if case .scalar(let s) = t { return s.signed }; return false }
        func count(_ t: ValueType) -> Int? { if case .chars(let n) = t { return n }; return nil }
        structs = language.structs.keys.sorted().map { n in
            let d = language.structs[n]!
            return Struct(name: n, size: d.size, fields: d.fields.map {
                Field(name: $0.name, type: typeName($0.type), offset: $0.offset, size: language.size(of: $0.type), signed: signed($0.type), count: count($0.type))
            })
        }
        maps = language.mapOrder.map { n in
            let m = language.maps[n]!
            return Map(name: n, kind: m.kind, key: m.key.map(typeName), value: m.value.map(typeName),
                       keySize: m.key.map { language.size(of: $0) } ?? (m.kind == "perf_event_array" ? 4 : 0),
                       valueSize: m.value.map { language.size(of: $0) } ?? (m.kind == "perf_event_array" ? 4 : 0),
                       maxEntries: m.maxEntries, isInternal: n.hasPrefix("__bpf_usdt"), record: records[n])
        }
        // Offsets as the object writer lays variables out: in order, naturally aligned, per section.
        var offsets: [String: Int] = [:]
        func place(_ section: String, _ size: Int) -> Int {
            let o = ((offsets[section] ?? 0) + size - 1) / size * size
            offsets[section] = o + size
            return o
        }
        params = language.paramOrder.map { n in
            let p = language.params[n]!
            return Variable(name: n, type: p.type.name, size: p.type.size, signed: p.type.signed, offset: place(".rodata", p.type.size),
                            section: ".rodata", defaultValue: p.defaultValue)
        }
        globals = language.globalOrder.map { n in
            let g = language.globals[n]!
            let section = (g.initialValue ?? 0) != 0 ? ".data" : ".bss"
            return Variable(name: n, type: g.type.name, size: g.type.size, signed: g.type.signed, offset: place(section, g.type.size),
                            section: section, defaultValue: g.initialValue ?? 0)
        }
    }
}
