import BPF
import InfraredObject

extension Manifest {
    /// The manifest of a compiled file, from its declarations, the record
    /// structs the bodies put in each map, and where the object writer
    /// placed its params and globals.
    init(declarations: Declarations, language: Language, records: [String: String] = [:], output: PrintOutput? = nil, implicit: [String: Implicit] = [:], placements: [String: DataPlacement]) throws {
        let programs = declarations.programs.map {
            Program(name: $0.name, kind: $0.kind, section: $0.section, arguments: $0.arguments, options: $0.options, line: $0.line)
        }
        func dataType(_ t: ValueType) -> DataType {
            switch t { case .scalar(let s): return .scalar(s); case .chars: return .chars; case .structure(let n): return .structure(n) }
        }
        func count(_ t: ValueType) -> Int? { if case .chars(let n) = t { return n }; return nil }
        let structs = language.structs.keys.sorted().map { n -> Struct in
            let d = language.structs[n]!
            return Struct(name: n, size: d.size, fields: d.fields.map {
                Field(name: $0.name, type: dataType($0.type), offset: $0.offset, size: language.size(of: $0.type), count: count($0.type))
            })
        }
        let maps = language.mapOrder.map { n -> Map in
            let m = language.maps[n]!
            return Map(name: n, kind: m.kind, key: m.key.map(dataType), value: m.value.map(dataType),
                       keySize: language.keySize(of: m), valueSize: language.valueSize(of: m),
                       maxEntries: m.maxEntries, isInternal: n.hasPrefix("__bpf_usdt") || n == output?.map, record: records[n], implicit: implicit[n])
        }
        func placement(_ name: String) throws -> (offset: Int, section: DataVariable.Section) {
            guard let p = placements[name], let section = DataVariable.Section(rawValue: p.section) else {
                throw CompileFailure.internalError("the object writer did not place variable \(name) in a data section")
            }
            return (p.offset, section)
        }
        let params = try language.paramOrder.map { n -> Variable in
            let p = language.params[n]!, at = try placement(n)
            return Variable(name: n, type: p.type, offset: at.offset, section: at.section, defaultValue: p.defaultValue)
        }
        let globals = try language.globalOrder.map { n -> Variable in
            let g = language.globals[n]!, at = try placement(n)
            return Variable(name: n, type: g.type, offset: at.offset, section: at.section, defaultValue: g.initialValue ?? 0)
        }
        self.init(license: declarations.license, programs: programs, structs: structs, maps: maps, params: params, globals: globals,
                  options: declarations.options, hooks: declarations.hooks, output: output)
    }
}
