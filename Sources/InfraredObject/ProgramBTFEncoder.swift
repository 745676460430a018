import InfraredBTF

/// Turns the compiler's `ProgramBTFSpec` (and the object's maps and global
/// variables) into `.BTF` types with a `BTFBuilder`, the way clang lays out
/// a program's BTF: each function as a `FUNC_PROTO` followed by its global
/// `FUNC`; the named local types; per map an anonymous STRUCT and a VAR,
/// then the `.maps` DATASEC; per global variable a VAR, then a DATASEC per
/// data section; last the `license` DATASEC.
struct ProgramBTFEncoder {
    typealias CType = ProgramBTFSpec.CType

    let builder: BTFBuilder
    let spec: ProgramBTFSpec
    private var types: [CType: BTFTypeID] = [:]
    private var kernel: KernelBTF?
    private var arrayIndexType: BTFTypeID?
    private var charType: BTFTypeID?
    /// `const volatile T` per T, for `.rodata` variables.
    private var constVolatile: [BTFTypeID: BTFTypeID] = [:]

    /// The kernel's limit on arguments of a BPF function (`MAX_BPF_FUNC_ARGS`).
    static let maxParameters = 5

    /// `kernel`: the BTF at `spec.kernelBTFPath`, when the caller has it open already.
    init(builder: BTFBuilder, spec: ProgramBTFSpec, kernel: KernelBTF? = nil) {
        self.builder = builder; self.spec = spec; self.kernel = kernel
    }

    /// Adds `FUNC_PROTO` + `FUNC` (global linkage) for `function`; returns the FUNC's id.
    mutating func addFunction(_ function: ProgramBTFSpec.Function) throws -> BTFTypeID {
        let what = "BTF of function \(function.name)"
        guard function.parameters.count <= Self.maxParameters else {
            throw ObjectError("\(what): \(function.parameters.count) parameters, the kernel allows at most \(Self.maxParameters)")
        }
        return try Self.context(what) {
            let ret = try type(function.returnType)
            var params: [(name: String?, type: BTFTypeID)] = []
            for p in function.parameters { params.append((p.name, try type(p.type))) }
            let proto = try builder.addFunctionProto(returnType: ret, parameters: params)
            return try builder.addFunction(name: function.name, linkage: .global, proto: proto)
        }
    }

    /// Adds `char[size]`, the VAR `_license` and the DATASEC `license`
    /// holding it, as clang does for `char _license[] SEC("license")`.
    mutating func addLicense(size: Int) throws {
        try Self.context("BTF of the license section") {
            let array = try builder.addArray(element: try char(), index: try indexType(), count: size)
            let variable = try builder.addVariable(name: ObjectWriter.licenseSymbol, linkage: .globalAllocated, type: array)
            _ = try builder.addDataSection(name: ObjectWriter.licenseSection, size: size,
                                           variables: [BTFDataSectionVariable(variable: variable, offset: 0, size: size)])
        }
    }

    /// Adds the named local types (CO-RE roots, declared structs) in
    /// order; returns each one's id by name.
    mutating func addLocalTypes() throws -> [String: BTFTypeID] {
        var ids: [String: BTFTypeID] = [:]
        for t in spec.localTypes {
            guard let name = Self.tagName(t) else {
                throw ObjectError("btf.localTypes: \(CoreAccess.describe(t)) is not a named struct or enum")
            }
            let id = try Self.context("BTF of local type \(name)") { try type(t) }
            ids[name] = id
        }
        return ids
    }

    /// The tag name of a named struct/enum (nil for anything else or anonymous).
    static func tagName(_ t: CType) -> String? {
        switch t {
        case let .structure(name, _, _), let .forwardStruct(name), let .kernelStruct(name), let .enumeration(name, _, _):
            return name.isEmpty ? nil : name
        default:
            return nil
        }
    }

    /// Adds `types` and measures them with libbpf: size and alignment by
    /// type. A type without a size (void, a forward declaration) is left out.
    mutating func measure(_ types: [CType]) throws -> [CType: (size: Int, alignment: Int)] {
        var ids: [(CType, BTFTypeID)] = []
        for t in types where !ids.contains(where: { $0.0 == t }) {
            ids.append((t, try Self.context("BTF of \(CoreAccess.describe(t))") { try type(t) }))
        }
        let snapshot = try BTFSnapshot(try builder.rawData())
        var out: [CType: (size: Int, alignment: Int)] = [:]
        for (t, id) in ids {
            if let size = snapshot.size(of: id), let alignment = snapshot.alignment(of: id) { out[t] = (size, alignment) }
        }
        return out
    }

    /// The BTF of a BTF-defined map, as clang emits
    /// `struct { __uint(type, …); __type(key, …); … } name SEC(".maps")`: an
    /// anonymous STRUCT whose `__uint` members are pointers to `int[value]`
    /// and whose `__type` members are pointers to the type, then a global
    /// VAR. Returns the VAR's id and the struct's size (8 bytes a member).
    mutating func addMap(_ map: MapDefinition) throws -> (variable: BTFTypeID, size: Int) {
        try Self.context("BTF of map \(map.name)") {
            let int = CType.int(name: "int", size: 4, signed: true)
            var members: [BTFMember] = []
            func add(_ name: String, _ t: CType) throws {
                members.append(BTFMember(name: name, type: try type(t), bitOffset: members.count * 64))
            }
            // __uint(name, value) is `int (*name)[value]`.
            func uint(_ name: String, _ value: Int) throws { try add(name, .pointer(.array(int, count: value))) }
            try uint("type", Int(map.type))
            if let n = map.maxEntries { try uint("max_entries", n) }
            if let f = map.flags { try uint("map_flags", Int(f)) }
            if let n = map.keySize { try uint("key_size", n) }
            if let n = map.valueSize { try uint("value_size", n) }
            if let k = map.key { try add("key", .pointer(k)) }
            if let v = map.value { try add("value", .pointer(v)) }
            let size = members.count * 8
            let definition = try builder.addStruct(name: nil, size: size, members: members)
            return (try builder.addVariable(name: map.name, linkage: .globalAllocated, type: definition), size)
        }
    }

    /// The BTF type of a global variable: `const volatile T` in `.rodata`
    /// (for an array, an array of `const volatile` elements, as C and clang
    /// qualify arrays), `T` elsewhere; then its global VAR.
    mutating func addVariable(_ variable: DataVariable) throws -> BTFTypeID {
        try Self.context("BTF of variable \(variable.name)") {
            let t = variable.section == .rodata ? try qualified(variable.type) : try type(variable.type)
            return try builder.addVariable(name: variable.name, linkage: .globalAllocated, type: t)
        }
    }

    private mutating func qualified(_ t: CType) throws -> BTFTypeID {
        if case let .array(element, count) = t {
            return try builder.addArray(element: try qualified(element), index: try indexType(), count: count)
        }
        let id = try type(t)
        if let done = constVolatile[id] { return done }
        let cv = try builder.addConst(try builder.addVolatile(id))
        constVolatile[id] = cv
        return cv
    }

    /// A DATASEC for an ELF section, with its VARs at their places.
    func addDataSection(_ section: DataLayout.Section, variables: [BTFTypeID]) throws {
        try Self.context("BTF of section \(section.name)") {
            let infos = zip(section.placements, variables).map {
                BTFDataSectionVariable(variable: $1, offset: $0.offset, size: $0.size)
            }
            _ = try builder.addDataSection(name: section.name, size: section.size, variables: infos)
        }
    }

    /// The id of `t`, adding it (and what it refers to) on first use.
    mutating func type(_ t: CType) throws -> BTFTypeID {
        if case .void = t { return 0 }
        if let id = types[t] { return id }
        let id: BTFTypeID
        switch t {
        case .void:
            return 0
        case let .int(name, size, signed):
            id = try builder.addInt(name: name, size: size, encoding: signed ? .signed : [])
        case let .pointer(target):
            id = try builder.addPointer(to: try type(target))
        case let .structure(name, size, members):
            var ms: [BTFMember] = []
            for m in members { ms.append(BTFMember(name: m.name, type: try type(m.type), bitOffset: m.bitOffset ?? m.offset * 8, bitfieldSize: m.bitfieldSize)) }
            id = try builder.addStruct(name: name, size: size, members: ms)
        case let .forwardStruct(name):
            id = try builder.addForward(name: name, kind: .structure)
        case let .array(element, count):
            id = try builder.addArray(element: try type(element), index: try indexType(), count: count)
        case let .kernelStruct(name):
            let k = try kernelBTF(for: name)
            let kind: BTFKind = k.typeID(named: name, kind: .structure) == nil && k.typeID(named: name, kind: .union) != nil
                ? .union : .structure
            id = try k.copyType(named: name, kind: kind, into: builder)
        case let .enumeration(name, size, values):
            id = try builder.addEnum(name: name, size: size, values: values.map { ($0.name, $0.value) })
        }
        types[t] = id
        return id
    }

    /// The int clang indexes arrays with (`__ARRAY_SIZE_TYPE__`, 4 bytes, unsigned).
    private mutating func indexType() throws -> BTFTypeID {
        if let id = arrayIndexType { return id }
        let id = try builder.addInt(name: "__ARRAY_SIZE_TYPE__", size: 4)
        arrayIndexType = id
        return id
    }

    private mutating func char() throws -> BTFTypeID {
        if let id = charType { return id }
        let id = try type(.int(name: "char", size: 1, signed: true))
        charType = id
        return id
    }

    private mutating func kernelBTF(for name: String) throws -> KernelBTF {
        if let kernel { return kernel }
        guard let path = spec.kernelBTFPath else {
            throw ObjectError("struct \(name) comes from kernel BTF, but ProgramBTFSpec.kernelBTFPath is not set")
        }
        let k = try KernelBTF(path: path)
        kernel = k
        return k
    }

    /// Runs `body`, prefixing any error with `what`.
    private static func context<R>(_ what: String, _ body: () throws -> R) throws -> R {
        do { return try body() } catch let e as ObjectError {
            throw e.message.hasPrefix(what) ? e : ObjectError("\(what): \(e.message)")
        } catch {
            throw ObjectError("\(what): \(error)")
        }
    }
}
