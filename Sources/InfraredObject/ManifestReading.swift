import BPF
import InfraredSupport

// The manifest as a loader reads it: member by member with InfraredSupport's
// `JSONReader`, not through `Codable` (JSON.swift says why: a tenth of the
// time). The JSON is what the synthesized `Encodable` conformances write
// (Foundation's `JSONEncoder` in `infrared gen loader`), so each type below
// reads its stored properties under their own names, optionals missing or
// null as nil, unknown members skipped. ManifestJSONTests decodes every
// example's manifest with this and with `JSONDecoder` and wants them equal,
// and wants every optional member of every type present in one of them.
//
// A new stored property is read here too: the memberwise initializers below
// take every property, so a new one without a default does not compile
// until it is.

extension Manifest {
    /// Reads a manifest written by `JSONEncoder`, as `JSONDecoder` would.
    public init(json: [UInt8]) throws {
        self = try JSONReader.read(json) { try Manifest(reading: &$0) }
    }

    init(reading r: inout JSONReader) throws {
        var license: String?, programs: [Program]?, structs: [Struct]?, maps: [Map]?, params: [Variable]?, globals: [Variable]?
        var options: [Option]?, hooks: [String]?, output: PrintOutput?, printk: Bool?, faults: [Fault]?
        try r.members { r, member in
            switch member {
            case "license": license = try r.string()
            case "programs": programs = try r.array { try Program(reading: &$0) }
            case "structs": structs = try r.array { try Struct(reading: &$0) }
            case "maps": maps = try r.array { try Map(reading: &$0) }
            case "params": params = try r.array { try Variable(reading: &$0) }
            case "globals": globals = try r.array { try Variable(reading: &$0) }
            case "options": options = try r.optional { try $0.array { try Option(reading: &$0) } }
            case "hooks": hooks = try r.optional { try $0.array { try $0.string() } }
            case "output": output = try r.optional { try PrintOutput(reading: &$0) }
            case "printk": printk = try r.optional { try $0.bool() }
            case "faults": faults = try r.optional { try $0.array { try Fault(reading: &$0) } }
            default: try r.skipValue()
            }
        }
        let what = "the manifest"
        self.init(license: try r.required(license, "license", in: what), programs: try r.required(programs, "programs", in: what),
                  structs: try r.required(structs, "structs", in: what), maps: try r.required(maps, "maps", in: what),
                  params: try r.required(params, "params", in: what), globals: try r.required(globals, "globals", in: what))
        // Absent stays nil (the initializer's defaults are for the compiler).
        self.options = options
        self.hooks = hooks
        self.output = output
        self.printk = printk
        self.faults = faults
    }
}

extension Manifest.Program {
    init(reading r: inout JSONReader) throws {
        // The kind is looked up once the object is read: a ProgramKind is a
        // large row, and the closure's captures were copied at every member.
        var name: String?, declaration: (offset: Int, text: String)?, section: String?, arguments: [String]?, options: [String: String]?, line: Int?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "kind": declaration = (offset: r.offset, text: try r.string())
            case "section": section = try r.string()
            case "arguments": arguments = try r.array { try $0.string() }
            case "options": options = try r.stringDictionary()
            case "line": line = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "a program"
        let d = try r.required(declaration, "kind", in: what)
        guard let kind = ProgramKind.declared(d.text) else { throw JSONError(offset: d.offset, message: "unknown program kind \(d.text)") }
        self.init(name: try r.required(name, "name", in: what), kind: kind,
                  section: try r.required(section, "section", in: what), arguments: try r.required(arguments, "arguments", in: what),
                  options: try r.required(options, "options", in: what), line: try r.required(line, "line", in: what))
    }
}

extension Manifest.DataType {
    init(reading r: inout JSONReader) throws { self.init(try r.string()) }
}

extension Manifest.Field {
    init(reading r: inout JSONReader) throws {
        var name: String?, type: Manifest.DataType?, offset: Int?, size: Int?, count: Int?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "type": type = try Manifest.DataType(reading: &r)
            case "offset": offset = try r.integer()
            case "size": size = try r.integer()
            case "count": count = try r.optional { try $0.integer() }
            default: try r.skipValue()
            }
        }
        let what = "a field"
        self.init(name: try r.required(name, "name", in: what), type: try r.required(type, "type", in: what),
                  offset: try r.required(offset, "offset", in: what), size: try r.required(size, "size", in: what), count: count)
    }
}

extension Manifest.Struct {
    init(reading r: inout JSONReader) throws {
        var name: String?, size: Int?, fields: [Manifest.Field]?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "size": size = try r.integer()
            case "fields": fields = try r.array { try Manifest.Field(reading: &$0) }
            default: try r.skipValue()
            }
        }
        let what = "a struct"
        self.init(name: try r.required(name, "name", in: what), size: try r.required(size, "size", in: what),
                  fields: try r.required(fields, "fields", in: what))
    }
}

extension Manifest.Map {
    init(reading r: inout JSONReader) throws {
        var name: String?, kind: MapKind?, key: Manifest.DataType?, value: Manifest.DataType?, keySize: Int?, valueSize: Int?
        var maxEntries: Int?, isInternal: Bool?, record: String?, implicit: Manifest.Implicit?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "kind": kind = try r.rawValue(MapKind.self)
            case "key": key = try r.optional { try Manifest.DataType(reading: &$0) }
            case "value": value = try r.optional { try Manifest.DataType(reading: &$0) }
            case "keySize": keySize = try r.integer()
            case "valueSize": valueSize = try r.integer()
            case "maxEntries": maxEntries = try r.optional { try $0.integer() }
            case "isInternal": isInternal = try r.bool()
            case "record": record = try r.optional { try $0.string() }
            case "implicit": implicit = try r.optional { try Manifest.Implicit(reading: &$0) }
            default: try r.skipValue()
            }
        }
        let what = "a map"
        self.init(name: try r.required(name, "name", in: what), kind: try r.required(kind, "kind", in: what), key: key, value: value,
                  keySize: try r.required(keySize, "keySize", in: what), valueSize: try r.required(valueSize, "valueSize", in: what),
                  maxEntries: maxEntries, isInternal: try r.required(isInternal, "isInternal", in: what), record: record, implicit: implicit)
    }
}

extension Manifest.Implicit {
    init(reading r: inout JSONReader) throws {
        var aggregation: Manifest.Aggregation?, keys: Int?, stacks: [Stack?]?
        try r.members { r, member in
            switch member {
            case "aggregation": aggregation = try Manifest.Aggregation(reading: &r)
            case "keys": keys = try r.integer()
            case "stacks": stacks = try r.optional { try $0.array { try $0.optional { try $0.rawValue(Stack.self) } } }
            default: try r.skipValue()
            }
        }
        let what = "an implicit map"
        self.init(aggregation: try r.required(aggregation, "aggregation", in: what), keys: try r.required(keys, "keys", in: what), stacks: stacks)
    }
}

extension Manifest.Aggregation {
    /// As Swift synthesizes it for an enum with associated values: an object
    /// of one member named for the case, whose value is an object of the
    /// case's labelled values (`{"lhist":{"min":0,"max":100,"step":10}}`,
    /// `{"sum":{}}`).
    init(reading r: inout JSONReader) throws {
        let at = r.offset
        var cases: [Manifest.Aggregation] = []
        try r.members { r, member in
            switch member {
            case "store", "sum", "min", "max", "avg", "stats", "hist":
                try r.members { r, _ in try r.skipValue() }
                switch member {
                case "store": cases.append(.store)
                case "sum": cases.append(.sum)
                case "min": cases.append(.min)
                case "max": cases.append(.max)
                case "avg": cases.append(.avg)
                case "stats": cases.append(.stats)
                default: cases.append(.hist)
                }
            case "lhist":
                var min: Int64?, max: Int64?, step: Int64?
                try r.members { r, label in
                    switch label {
                    case "min": min = try r.integer()
                    case "max": max = try r.integer()
                    case "step": step = try r.integer()
                    default: try r.skipValue()
                    }
                }
                let what = "an lhist aggregation"
                cases.append(.lhist(min: try r.required(min, "min", in: what), max: try r.required(max, "max", in: what),
                                    step: try r.required(step, "step", in: what)))
            default: try r.skipValue()   // as JSONDecoder: a member that names no case is not one of its keys
            }
        }
        guard cases.count == 1 else { throw JSONError(offset: at, message: "an aggregation names one case, not \(cases.count)") }
        self = cases[0]
    }
}

extension Manifest.Variable {
    init(reading r: inout JSONReader) throws {
        var name: String?, type: ScalarType?, offset: Int?, section: DataVariable.Section?, defaultValue: Int64?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "type": type = try r.rawValue(ScalarType.self)
            case "offset": offset = try r.integer()
            case "section": section = try r.rawValue(DataVariable.Section.self)
            case "defaultValue": defaultValue = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "a variable"
        self.init(name: try r.required(name, "name", in: what), type: try r.required(type, "type", in: what),
                  offset: try r.required(offset, "offset", in: what), section: try r.required(section, "section", in: what),
                  defaultValue: try r.required(defaultValue, "defaultValue", in: what))
    }
}

extension Manifest.Option {
    init(reading r: inout JSONReader) throws {
        var name: String?, type: Manifest.OptionType?, help: String?, argument: String?, defaultValue: String?, line: Int?
        try r.members { r, member in
            switch member {
            case "name": name = try r.string()
            case "type": type = try r.rawValue(Manifest.OptionType.self)
            case "help": help = try r.optional { try $0.string() }
            case "argument": argument = try r.optional { try $0.string() }
            case "defaultValue": defaultValue = try r.optional { try $0.string() }
            case "line": line = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "an option"
        self.init(name: try r.required(name, "name", in: what), type: try r.required(type, "type", in: what), help: help,
                  argument: argument, defaultValue: defaultValue, line: try r.required(line, "line", in: what))
    }
}

extension PrintOutput {
    init(reading r: inout JSONReader) throws {
        var map: String?, formats: [PrintFormat]?
        try r.members { r, member in
            switch member {
            case "map": map = try r.string()
            case "formats": formats = try r.array { try PrintFormat(reading: &$0) }
            default: try r.skipValue()
            }
        }
        self.init(map: try r.required(map, "map", in: "the output"), formats: try r.required(formats, "formats", in: "the output"))
    }
}

extension PrintFormat {
    init(reading r: inout JSONReader) throws {
        var format: String?, arguments: [Argument]?, size: Int?, line: Int?
        try r.members { r, member in
            switch member {
            case "format": format = try r.string()
            case "arguments": arguments = try r.array { try Argument(reading: &$0) }
            case "size": size = try r.integer()
            case "line": line = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "a print format"
        self.init(format: try r.required(format, "format", in: what), arguments: try r.required(arguments, "arguments", in: what),
                  size: try r.required(size, "size", in: what), line: try r.required(line, "line", in: what))
    }
}

extension PrintFormat.Argument {
    init(reading r: inout JSONReader) throws {
        var type: PrintFormat.ArgumentType?, offset: Int?, size: Int?
        try r.members { r, member in
            switch member {
            case "type": type = try r.rawValue(PrintFormat.ArgumentType.self)
            case "offset": offset = try r.integer()
            case "size": size = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "a print argument"
        self.init(type: try r.required(type, "type", in: what), offset: try r.required(offset, "offset", in: what),
                  size: try r.required(size, "size", in: what))
    }
}

extension Fault {
    init(reading r: inout JSONReader) throws {
        var map: String?, kind: Kind?, slot: Int?, offset: Int?
        try r.members { r, member in
            switch member {
            case "map": map = try r.string()
            case "kind": kind = try r.rawValue(Kind.self)
            case "slot": slot = try r.integer()
            case "offset": offset = try r.integer()
            default: try r.skipValue()
            }
        }
        let what = "a fault"
        self.init(map: try r.required(map, "map", in: what), kind: try r.required(kind, "kind", in: what),
                  slot: try r.required(slot, "slot", in: what), offset: try r.required(offset, "offset", in: what))
    }
}
