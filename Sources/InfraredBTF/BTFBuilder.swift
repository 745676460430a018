import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// Builds a BTF blob (the contents of a `.BTF` section) type by type.
///
/// A thin, throwing wrapper over libbpf's `btf__new_empty` / `btf__add_*`
/// API: libbpf owns the wire format (header, type section, deduplicated
/// string section); this class turns its negative-errno returns into
/// `BTFError`s naming the step. Type ids are assigned in call order, so the
/// same calls always give the same bytes.
public final class BTFBuilder {
    let btf: OpaquePointer

    /// Types copied from a `KernelBTF` into this builder, so each is copied
    /// once (see `KernelBTF.copyType`). The sources are kept alive so their
    /// `ObjectIdentifier`s stay unique for the builder's lifetime.
    var copiedTypes: [CopyKey: BTFTypeID] = [:]
    var copySources: [ObjectIdentifier: KernelBTF] = [:]
    enum CopyKey: Hashable {
        case type(source: ObjectIdentifier, id: UInt32)
        case forward(name: String, kind: BTFForwardKind)
    }

    public init() throws {
        guard let b = btf__new_empty() else { throw BTFError(step: "btf__new_empty", errno: errno) }
        btf = b
    }

    deinit { btf__free(btf) }

    /// Number of types added so far (type ids run 1…typeCount).
    public var typeCount: Int { Int(btf__type_cnt(btf)) - 1 }

    /// Adds `string` to the string section (deduplicated) and returns its
    /// offset, e.g. for `.BTF.ext` section names and line_info text.
    @discardableResult
    public func addString(_ string: String) throws -> Int32 {
        try check("btf__add_str(\(string.prefix(40)))", btf__add_str(btf, string))
    }

    /// `BTF_KIND_INT` of `size` bytes (`nr_bits` = size × 8, offset 0).
    public func addInt(name: String, size: Int, encoding: BTFIntEncoding = []) throws -> BTFTypeID {
        try check("btf__add_int(\(name))", btf__add_int(btf, name, size, Int32(encoding.rawValue)))
    }

    /// `BTF_KIND_FLOAT`
    public func addFloat(name: String, size: Int) throws -> BTFTypeID {
        try check("btf__add_float(\(name))", btf__add_float(btf, name, size))
    }

    /// `BTF_KIND_PTR` to `type` (0 for `void *`).
    public func addPointer(to type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_ptr(\(type))", btf__add_ptr(btf, type))
    }

    /// `BTF_KIND_ARRAY` of `count` elements, indexed by the int type `index`.
    public func addArray(element: BTFTypeID, index: BTFTypeID, count: Int) throws -> BTFTypeID {
        guard let n = UInt32(exactly: count) else { throw BTFError(step: "btf__add_array: bad element count \(count)") }
        return try check("btf__add_array(\(element)[\(count)])", btf__add_array(btf, index, element, n))
    }

    /// `BTF_KIND_STRUCT` of `size` bytes with its members (added with
    /// `btf__add_field` right after, as libbpf requires).
    public func addStruct(name: String?, size: Int, members: [BTFMember]) throws -> BTFTypeID {
        try addComposite(.structure, name: name, size: size, members: members)
    }

    /// `BTF_KIND_UNION` of `size` bytes with its members.
    public func addUnion(name: String?, size: Int, members: [BTFMember]) throws -> BTFTypeID {
        try addComposite(.union, name: name, size: size, members: members)
    }

    private func addComposite(_ kind: BTFKind, name: String?, size: Int, members: [BTFMember]) throws -> BTFTypeID {
        let label = "\(kind == .union ? "union" : "struct") \(name ?? "(anon)")"
        guard let sz = UInt32(exactly: size) else { throw BTFError(step: "\(label): bad size \(size)") }
        let id = try withOptionalCString(name) { n in
            try check("btf__add_\(kind == .union ? "union" : "struct")(\(name ?? "(anon)"))",
                      kind == .union ? btf__add_union(btf, n, sz) : btf__add_struct(btf, n, sz))
        }
        for m in members {
            guard let off = UInt32(exactly: m.bitOffset), let bits = UInt32(exactly: m.bitfieldSize) else {
                throw BTFError(step: "\(label).\(m.name ?? "(anon)"): bad bit offset \(m.bitOffset)/size \(m.bitfieldSize)")
            }
            _ = try withOptionalCString(m.name) { n in
                try check("btf__add_field(\(label).\(m.name ?? "(anon)"))", btf__add_field(btf, n, m.type, off, bits))
            }
        }
        return id
    }

    /// `BTF_KIND_FWD` declaring a struct or union by name.
    public func addForward(name: String, kind: BTFForwardKind) throws -> BTFTypeID {
        try check("btf__add_fwd(\(name))", btf__add_fwd(btf, name, kind == .union ? BTF_FWD_UNION : BTF_FWD_STRUCT))
    }

    /// `BTF_KIND_TYPEDEF`
    public func addTypedef(name: String, type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_typedef(\(name))", btf__add_typedef(btf, name, type))
    }

    /// `BTF_KIND_ENUM` of `size` bytes; values must fit in 32 bits (a
    /// negative value makes libbpf mark the enum signed via `kflag`).
    public func addEnum(name: String?, size: Int, values: [(name: String, value: Int64)]) throws -> BTFTypeID {
        let id = try withOptionalCString(name) { n in
            try check("btf__add_enum(\(name ?? "(anon)"))", btf__add_enum(btf, n, UInt32(size)))
        }
        for v in values {
            _ = try check("btf__add_enum_value(\(v.name))", btf__add_enum_value(btf, v.name, v.value))
        }
        return id
    }

    /// `BTF_KIND_ENUM64` of `size` bytes; `signed` is the type's `kflag`.
    public func addEnum64(name: String?, size: Int, signed: Bool, values: [(name: String, value: UInt64)]) throws -> BTFTypeID {
        let id = try withOptionalCString(name) { n in
            try check("btf__add_enum64(\(name ?? "(anon)"))", btf__add_enum64(btf, n, UInt32(size), signed))
        }
        for v in values {
            _ = try check("btf__add_enum64_value(\(v.name))", btf__add_enum64_value(btf, v.name, v.value))
        }
        return id
    }

    /// `BTF_KIND_CONST`
    public func addConst(_ type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_const(\(type))", btf__add_const(btf, type))
    }

    /// `BTF_KIND_VOLATILE`
    public func addVolatile(_ type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_volatile(\(type))", btf__add_volatile(btf, type))
    }

    /// `BTF_KIND_RESTRICT`
    public func addRestrict(_ type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_restrict(\(type))", btf__add_restrict(btf, type))
    }

    /// `BTF_KIND_FUNC_PROTO` with its parameters (`struct btf_param`). A
    /// parameter with type 0 and no name is C's `...`.
    public func addFunctionProto(returnType: BTFTypeID, parameters: [(name: String?, type: BTFTypeID)]) throws -> BTFTypeID {
        let id = try check("btf__add_func_proto", btf__add_func_proto(btf, returnType))
        for p in parameters {
            _ = try withOptionalCString(p.name) { n in
                try check("btf__add_func_param(\(p.name ?? "(anon)"))", btf__add_func_param(btf, n, p.type))
            }
        }
        return id
    }

    /// `BTF_KIND_FUNC`: a named function of prototype `proto`.
    public func addFunction(name: String, linkage: BTFFunctionLinkage = .global, proto: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_func(\(name))", btf__add_func(btf, name, btf_func_linkage(rawValue: UInt32(linkage.rawValue)), proto))
    }

    /// `BTF_KIND_VAR`
    public func addVariable(name: String, linkage: BTFVariableLinkage = .globalAllocated, type: BTFTypeID) throws -> BTFTypeID {
        try check("btf__add_var(\(name))", btf__add_var(btf, name, linkage.rawValue, type))
    }

    /// `BTF_KIND_DATASEC` named after an ELF section, with its variables.
    public func addDataSection(name: String, size: Int, variables: [BTFDataSectionVariable]) throws -> BTFTypeID {
        let id = try check("btf__add_datasec(\(name))", btf__add_datasec(btf, name, UInt32(size)))
        for v in variables {
            _ = try check("btf__add_datasec_var_info(\(name), \(v.variable))",
                          btf__add_datasec_var_info(btf, v.variable, UInt32(v.offset), UInt32(v.size)))
        }
        return id
    }

    /// The BTF blob (header, types, strings) as libbpf serialises it
    /// (`btf__raw_data`). Add every string first: this is a snapshot.
    public func rawData() throws -> [UInt8] {
        var size: UInt32 = 0
        guard let p = btf__raw_data(btf, &size) else { throw BTFError(step: "btf__raw_data", errno: errno) }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(size)))
    }

    /// libbpf returns a type id / string offset, or a negative errno.
    @discardableResult
    func check(_ step: @autoclosure () -> String, _ result: Int32) throws -> Int32 {
        if result < 0 { throw BTFError(step: step(), errno: -result) }
        return result
    }
}

/// Calls `body` with `NULL` for a nil or empty name (libbpf's "anonymous").
func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) throws -> R) rethrows -> R {
    guard let s, !s.isEmpty else { return try body(nil) }
    return try s.withCString { try body($0) }
}
