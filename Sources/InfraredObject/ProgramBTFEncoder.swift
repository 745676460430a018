import InfraredBTF

/// Turns the compiler's `ProgramBTFSpec` into `.BTF` types with a
/// `BTFBuilder`, the way clang lays out a program's BTF: each function as a
/// `FUNC_PROTO` followed by its global `FUNC`, then the `license` DATASEC.
struct ProgramBTFEncoder {
    typealias CType = ProgramBTFSpec.CType

    let builder: BTFBuilder
    let spec: ProgramBTFSpec
    private var types: [CType: BTFTypeID] = [:]
    private var kernel: KernelBTF?
    private var arrayIndexType: BTFTypeID?
    private var charType: BTFTypeID?

    /// The kernel's limit on arguments of a BPF function (`MAX_BPF_FUNC_ARGS`).
    static let maxParameters = 5

    init(builder: BTFBuilder, spec: ProgramBTFSpec) {
        self.builder = builder; self.spec = spec
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
            for m in members { ms.append(BTFMember(name: m.name, type: try type(m.type), bitOffset: m.offset * 8)) }
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
