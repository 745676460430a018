import BPF
import InfraredObject

extension Manifest {
    /// The manifest of a compiled file, from its declarations and the record
    /// structs the bodies put in each map.
    init(declarations: Declarations, language: Language, records: [String: String] = [:]) {
        let programs = declarations.programs.map {
            Program(name: $0.name, kind: $0.kind.declaration, section: $0.section, arguments: $0.arguments, options: $0.options, line: $0.line)
        }
        func typeName(_ t: ValueType) -> String {
            switch t { case .scalar(let s): return s.name; case .chars: return "chars"; case .structure(let n): return n }
        }
        func signed(_ t: ValueType) -> Bool { if case .scalar(let s) = t { return s.signed }; return false }
        func count(_ t: ValueType) -> Int? { if case .chars(let n) = t { return n }; return nil }
        let structs = language.structs.keys.sorted().map { n -> Struct in
            let d = language.structs[n]!
            return Struct(name: n, size: d.size, fields: d.fields.map {
                Field(name: $0.name, type: typeName($0.type), offset: $0.offset, size: language.size(of: $0.type), signed: signed($0.type), count: count($0.type))
            })
        }
        let maps = language.mapOrder.map { n -> Map in
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
        let params = language.paramOrder.map { n -> Variable in
            let p = language.params[n]!
            return Variable(name: n, type: p.type.name, size: p.type.size, signed: p.type.signed, offset: place(".rodata", p.type.size),
                            section: ".rodata", defaultValue: p.defaultValue)
        }
        let globals = language.globalOrder.map { n -> Variable in
            let g = language.globals[n]!
            let section = (g.initialValue ?? 0) != 0 ? ".data" : ".bss"
            return Variable(name: n, type: g.type.name, size: g.type.size, signed: g.type.signed, offset: place(section, g.type.size),
                            section: section, defaultValue: g.initialValue ?? 0)
        }
        self.init(license: declarations.license, programs: programs, structs: structs, maps: maps, params: params, globals: globals,
                  options: declarations.options, hooks: declarations.hooks)
    }
}
