/// Deep-copies types from a `KernelBTF` into a `BTFBuilder` (see
/// `KernelBTF.copyType`). Types are added bottom-up — everything a type
/// refers to exists before it — because libbpf appends struct members and
/// function parameters to the type added last.
struct TypeCopier {
    let source: KernelBTF
    let builder: BTFBuilder
    /// Ids being copied, to report a by-value cycle instead of recursing forever
    /// (C has none; pointers, which can form cycles, become FWDs).
    private var inProgress: Set<UInt32> = []

    init(source: KernelBTF, builder: BTFBuilder) {
        self.source = source; self.builder = builder
        builder.copySources[ObjectIdentifier(source)] = source
    }

    mutating func copy(_ id: UInt32) throws -> BTFTypeID {
        if id == 0 { return 0 }
        let key = BTFBuilder.CopyKey.type(source: ObjectIdentifier(source), id: id)
        if let done = builder.copiedTypes[key] { return done }
        guard inProgress.insert(id).inserted else {
            throw BTFError(step: "copy type id \(id) from \(source.path): type refers to itself by value")
        }
        defer { inProgress.remove(id) }

        let t = try source.raw(id)
        let name = source.name(t.nameOffset)
        let b = builder
        let new: BTFTypeID
        switch t.kind {
        case .int:
            // Pre-kflag bitfield ints (BTF_INT_OFFSET/BITS) do not occur in
            // kernel BTF; the copy is the plain integer of that size.
            new = try b.addInt(name: name, size: Int(t.size), encoding: t.intEncoding)
        case .float:
            new = try b.addFloat(name: name, size: Int(t.size))
        case .pointer:
            new = try b.addPointer(to: try pointee(t.type))
        case .array:
            let a = t.array
            let element = try copy(a.element), index = try copy(a.index)
            new = try b.addArray(element: element, index: index, count: Int(a.count))
        case .structure, .union:
            var members: [BTFMember] = []
            for i in 0..<t.vlen {
                let m = t.member(i)
                members.append(BTFMember(name: source.name(m.nameOffset), type: try copy(m.type),
                                         bitOffset: m.bitOffset, bitfieldSize: m.bitfieldSize))
            }
            new = t.kind == .union
                ? try b.addUnion(name: name, size: Int(t.size), members: members)
                : try b.addStruct(name: name, size: Int(t.size), members: members)
        case .enumeration:
            let values = (0..<t.vlen).map { i -> (name: String, value: Int64) in
                let v = t.enumValue(i)
                return (source.name(v.nameOffset), v.value)
            }
            new = try b.addEnum(name: name, size: Int(t.size), values: values)
        case .enumeration64:
            let values = (0..<t.vlen).map { i -> (name: String, value: UInt64) in
                let v = t.enum64Value(i)
                return (source.name(v.nameOffset), v.value)
            }
            new = try b.addEnum64(name: name, size: Int(t.size), signed: t.kflag, values: values)
        case .forward:
            new = try forward(name, t.kflag ? .union : .structure)
        case .typedef:
            new = try b.addTypedef(name: name, type: try copy(t.type))
        case .const:
            new = try b.addConst(try copy(t.type))
        case .volatile:
            new = try b.addVolatile(try copy(t.type))
        case .restrict:
            new = try b.addRestrict(try copy(t.type))
        case .typeTag:
            // Type tags (`__user`, `__rcu`, …) only matter to the verifier
            // for kernel pointers; the copy keeps the tagged type.
            new = try copy(t.type)
        case .functionProto:
            let ret = try copy(t.type)
            var params: [(name: String?, type: BTFTypeID)] = []
            for i in 0..<t.vlen {
                let p = t.parameter(i)
                params.append((source.name(p.nameOffset), try copy(p.type)))
            }
            new = try b.addFunctionProto(returnType: ret, parameters: params)
        default:
            throw BTFError(step: "copy type id \(id) (\(t.kind) \(name)) from \(source.path): kind not copyable")
        }
        builder.copiedTypes[key] = new
        return new
    }

    /// What a copied pointer points to: a FWD for a named struct/union (even
    /// behind typedefs and qualifiers), `void` for an anonymous one, else a
    /// full copy (`char *`, `__u8 *`, function pointers, …).
    private mutating func pointee(_ id: UInt32) throws -> BTFTypeID {
        let (_, target) = try source.skipModifiers(id)
        switch target.kind {
        case .structure, .union, .forward:
            let name = source.name(target.nameOffset)
            if name.isEmpty { return 0 }
            let isUnion = target.kind == .union || (target.kind == .forward && target.kflag)
            return try forward(name, isUnion ? .union : .structure)
        default:
            return try copy(id)
        }
    }

    /// One FWD per name and kind in the builder.
    private func forward(_ name: String, _ kind: BTFForwardKind) throws -> BTFTypeID {
        let key = BTFBuilder.CopyKey.forward(name: name, kind: kind)
        if let done = builder.copiedTypes[key] { return done }
        let id = try builder.addForward(name: name, kind: kind)
        builder.copiedTypes[key] = id
        return id
    }
}
