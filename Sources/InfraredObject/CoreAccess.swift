import BPF

/// Turns a `CoreRelocation` (root type by name, path by member names) into
/// what a `bpf_core_relo` record holds: the root local type and the access
/// string, computed against the local types the writer emits.
///
/// The access string rules are libbpf's `bpf_core_parse_spec`
/// (src/relo_core.c) and what clang writes for `__builtin_preserve_*_info`:
///
/// - field relocations (kinds 0–5): `0` (the access through the root
///   pointer, `&p[0]`), then for each step the member's index in its
///   struct — an anonymous struct member in between gets its own index, as
///   `s->a` inside `struct { int x; struct { int y; int a; }; }` is `0:1:1` —
///   or, on an array, the element index (`comm[2]` is `…:2`);
/// - type relocations (kinds 6–9, 12): exactly `0`;
/// - enum value relocations (kinds 10, 11): the enumerator's index in the
///   enum (not its value: `BPF_MAP_TYPE_RINGBUF` is 29 in the kernel's
///   `enum bpf_map_type`, whose value is 27).
struct CoreAccess: Hashable {
    /// `enum bpf_core_relo_kind`, by family.
    enum Family { case field, type, enumValue }

    /// The local type's name (`bpf_core_relo.type_id` is its id in `.BTF`).
    var rootType: String
    var accessString: String

    /// Mirrors libbpf's core_relo_is_field_based / _type_based / _enumval_based.
    static func family(of kind: CoreRelocationKind) -> Family? {
        if kind.isFieldBased { return .field }
        if kind.isTypeBased { return .type }
        if kind.isEnumValueBased { return .enumValue }
        return nil
    }

    /// libbpf's BPF_CORE_SPEC_MAX_LEN: the longest access string it parses.
    static let maxSpecLength = 64

    /// Resolves `relocation` against the local types (by name). Throws an
    /// `ObjectError` naming the root type and the step that does not fit.
    init(_ relocation: CoreRelocation, localTypes: [String: ProgramBTFSpec.CType]) throws {
        let what = "CO-RE relocation (kind \(relocation.kind.rawValue)) on \(relocation.rootType)"
        guard let family = Self.family(of: relocation.kind) else {
            throw ObjectError("\(what): unknown relocation kind \(relocation.kind.rawValue) (enum bpf_core_relo_kind has 0…12)")
        }
        guard let root = localTypes[relocation.rootType] else {
            throw ObjectError("\(what): no local type named \(relocation.rootType) in btf.localTypes")
        }
        rootType = relocation.rootType
        switch family {
        case .type:
            guard relocation.path.isEmpty else {
                throw ObjectError("\(what): a type relocation takes no path, got \(relocation.path.joined(separator: "."))")
            }
            accessString = "0"
        case .enumValue:
            guard case let .enumeration(_, _, values) = root else {
                throw ObjectError("\(what): an enum value relocation needs an enum root, \(relocation.rootType) is not one")
            }
            guard relocation.path.count == 1 else {
                throw ObjectError("\(what): an enum value relocation's path is one enumerator name, got \(relocation.path)")
            }
            guard let index = values.firstIndex(where: { $0.name == relocation.path[0] }) else {
                throw ObjectError("\(what): enum \(relocation.rootType) has no enumerator \(relocation.path[0])")
            }
            accessString = String(index)
        case .field:
            guard case .structure = root else {
                throw ObjectError("\(what): a field relocation needs a struct root written as .structure, \(relocation.rootType) is \(Self.describe(root))")
            }
            guard !relocation.path.isEmpty else { throw ObjectError("\(what): a field relocation needs a path") }
            var indices = [0], current = root, walked = relocation.rootType
            for step in relocation.path {
                switch current {
                case let .structure(name, _, members):
                    guard let chain = Self.memberChain(step, in: members) else {
                        throw ObjectError("\(what): \(walked) (local struct \(name.isEmpty ? "(anon)" : name)) has no member \(step)")
                    }
                    indices += chain.indices
                    current = chain.type
                    walked += ".\(step)"
                case let .array(element, count):
                    // A flexible array (count 0) may be indexed past its end, as libbpf's is_flex_arr allows.
                    guard let index = Int(step), index >= 0, count == 0 || index < count else {
                        throw ObjectError("\(what): \(walked) is an array of \(count); \(step) is not an index into it")
                    }
                    indices.append(index)
                    current = element
                    walked += "[\(step)]"
                default:
                    throw ObjectError("\(what): \(walked) is \(Self.describe(current)), not a local struct or array, so it has no \(step) (a relocation cannot follow a pointer)")
                }
            }
            guard indices.count <= Self.maxSpecLength else {
                throw ObjectError("\(what): access path longer than libbpf's \(Self.maxSpecLength) steps")
            }
            accessString = indices.map(String.init).joined(separator: ":")
        }
    }

    /// The member called `name`: its index, or the indices through the
    /// anonymous structs that hold it (a direct member wins).
    private static func memberChain(_ name: String, in members: [ProgramBTFSpec.Member])
        -> (indices: [Int], type: ProgramBTFSpec.CType)? {
        if let i = members.firstIndex(where: { $0.name == name }) { return ([i], members[i].type) }
        for (i, m) in members.enumerated() where m.name.isEmpty {
            if case let .structure(_, _, inner) = m.type, let chain = memberChain(name, in: inner) {
                return ([i] + chain.indices, chain.type)
            }
        }
        return nil
    }

    static func describe(_ t: ProgramBTFSpec.CType) -> String {
        switch t {
        case .void: return "void"
        case let .int(name, _, _): return "int type \(name)"
        case .pointer: return "a pointer"
        case let .structure(name, _, _): return "struct \(name.isEmpty ? "(anon)" : name)"
        case let .forwardStruct(name): return "a forward-declared struct \(name)"
        case let .array(_, count): return "an array of \(count)"
        case let .kernelStruct(name): return "a copied kernel struct \(name) (.kernelStruct)"
        case let .enumeration(name, _, _): return "enum \(name)"
        }
    }
}
