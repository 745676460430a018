// Member paths (`task_struct.real_parent.tgid`, `task_struct.comm[3]`,
// `sk_buff.cb.0`) resolved against a BTFSpec into what a CO-RE field
// relocation needs: byte/bit offset, size, signedness and the access string
// (`bpf_core_relo.access_str_off`, "0:1:2"), the way clang writes them for
// `__builtin_preserve_access_index` and libbpf parses them
// (`bpf_core_parse_spec` in libbpf's relo_core.c).

/// One step of a member path.
public enum BTFPathComponent: Hashable, Sendable, CustomStringConvertible {
    /// A member, found by name (also inside anonymous structs/unions).
    case member(String)
    /// An array element, or (right after a pointer) an element of the
    /// pointed-to array: `p[3]` is the access string's leading 3.
    case index(Int)

    public var description: String {
        switch self {
        case .member(let n): return n
        case .index(let i): return "[\(i)]"
        }
    }
}

/// A parsed member path: a root type name and the steps from it.
///
/// Syntax: `ROOT(.MEMBER|.INDEX|[INDEX])*`, e.g. `task_struct.real_parent.tgid`,
/// `task_struct.comm[3]`, `x.arr.0`, `x.matrix[1][2]`.
public struct BTFMemberPath: Hashable, Sendable, CustomStringConvertible {
    /// A struct, union or typedef name (`task_struct`, `__sk_buff`).
    public var root: String
    public var components: [BTFPathComponent]

    public init(root: String, components: [BTFPathComponent]) { self.root = root; self.components = components }

    /// Parses `text`; throws `BTFPathError` on bad syntax.
    public init(parsing text: String) throws {
        var parts: [BTFPathComponent] = []
        var root: String?
        func fail(_ m: String) -> BTFPathError { BTFPathError(path: text, message: m) }
        for piece in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !piece.isEmpty else { throw fail("empty component") }
            // NAME[1][2] or a bare number.
            var name = Substring(piece), indices: [Int] = []
            while name.hasSuffix("]") {
                guard let open = name.lastIndex(of: "["), let i = Int(name[name.index(after: open)..<name.index(before: name.endIndex)]), i >= 0 else {
                    throw fail("bad index in '\(piece)'")
                }
                indices.insert(i, at: 0)
                name = name[..<open]
            }
            if let i = Int(name), i >= 0 {
                guard root != nil else { throw fail("a path starts with a type name, not an index") }
                parts.append(.index(i))
            } else if name.isEmpty {
                guard root != nil, !indices.isEmpty else { throw fail("empty component") }
            } else {
                guard name.allSatisfy({ $0 == "_" || $0.isLetter || $0.isNumber }), !name.first!.isNumber else {
                    throw fail("'\(name)' is not a C identifier")
                }
                if root == nil { root = String(name) } else { parts.append(.member(String(name))) }
            }
            parts += indices.map { .index($0) }
        }
        guard let root else { throw fail("empty path") }
        self.root = root
        components = parts
    }

    public var description: String {
        components.reduce(root) { s, c in
            if case .index(let i) = c { return s + "[\(i)]" }
            return s + "." + c.description
        }
    }
}

/// A member path that does not fit the types.
public struct BTFPathError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var message: String
    public init(path: String, message: String) { self.path = path; self.message = message }
    public var description: String { "member path '\(path)': \(message)" }
}

/// One field access relative to one base pointer: exactly what one CO-RE
/// field relocation (`struct bpf_core_relo` with a `BPF_CORE_FIELD_*` kind)
/// describes.
public struct BTFFieldAccess: Hashable, Sendable {
    /// The root struct/union the access starts from (`bpf_core_relo.type_id`).
    public var rootType: BTFID
    /// The access string as numbers: first the element index into the base
    /// pointer (0 for `p->x`), then, per step, the member's index in its
    /// struct/union (counting anonymous members, with a step for each
    /// anonymous struct/union passed through) or the array index.
    public var accessIndices: [Int]
    /// Offset of the field from the base pointer, in bits.
    public var bitOffset: Int
    /// Width of a bitfield in bits; 0 for an ordinary field.
    public var bitfieldSize: Int
    /// Size in bytes of the field's type (for a bitfield: of its integer type).
    public var size: Int
    /// The field's type with typedefs and qualifiers skipped.
    public var type: BTFID
    /// Kind of `type`.
    public var kind: BTFKind
    /// Signed int (`BTF_INT_SIGNED`) or signed enum (kflag): libbpf's
    /// `BPF_CORE_FIELD_SIGNED`.
    public var isSigned: Bool

    /// The access string, as in `.BTF` strings ("0:1:2").
    public var accessString: String { accessIndices.map(String.init).joined(separator: ":") }
    /// The byte holding the field's first bit (`BPF_CORE_FIELD_BYTE_OFFSET`
    /// for a non-bitfield).
    public var byteOffset: Int { bitOffset / 8 }
    public var isBitfield: Bool { bitfieldSize != 0 }

    /// For a bitfield, the load that reads it and the shifts that extract it
    /// (`BPF_CORE_FIELD_BYTE_OFFSET`/`_BYTE_SIZE`/`_LSHIFT_U64`/`_RSHIFT_U64`):
    /// mirrors libbpf's `bpf_core_calc_field_relo` on a little-endian host.
    /// nil when no load of at most 8 bytes covers it.
    public var bitfieldLoad: (byteOffset: Int, byteSize: Int, leftShift: Int, rightShift: Int)? {
        let bits = isBitfield ? bitfieldSize : size * 8
        var byteSize = size
        guard byteSize > 0 else { return nil }
        var byteOffset = bitOffset / 8 / byteSize * byteSize
        if isBitfield {
            while bitOffset + bits - byteOffset * 8 > byteSize * 8 {
                if byteSize >= 8 { return nil }
                byteSize *= 2
                byteOffset = bitOffset / 8 / byteSize * byteSize
            }
        } else {
            byteOffset = bitOffset / 8
        }
        return (byteOffset, byteSize, 64 - (bitOffset + bits - byteOffset * 8), 64 - bits)
    }
}

/// A member path resolved: one `BTFFieldAccess` per base pointer. The first
/// is relative to a pointer to the root type; each next one to the pointer
/// the previous access reads (`a.b.c` with `b` a pointer: read `a->b`, then
/// `b->c`, as `BPF_CORE_READ(a, b, c)` does, with one relocation each).
public struct BTFResolvedPath: Hashable, Sendable {
    public var accesses: [BTFFieldAccess]
    /// The access that reaches the last component.
    public var field: BTFFieldAccess { accesses[accesses.count - 1] }
}

extension BTFSpec {
    /// Resolves a member path such as `task_struct.real_parent.tgid` or
    /// `task_struct.comm[3]` (see `BTFMemberPath` for the syntax).
    public func resolve(path: String) throws -> BTFResolvedPath {
        try resolve(path: BTFMemberPath(parsing: path))
    }

    /// Resolves a parsed member path; its root names a struct, a union, or a
    /// typedef of one.
    public func resolve(path: BTFMemberPath) throws -> BTFResolvedPath {
        let ids = typeIDs(named: path.root)
        let root = ids.first { self[$0].kind == .structure } ?? ids.first { self[$0].kind == .union }
            ?? ids.first { self[$0].kind == .typedef && self[skippingModifiers($0)].kind.isComposite }
        guard let root else {
            throw BTFPathError(path: path.description, message: "no struct, union or typedef '\(path.root)' in \(source)")
        }
        return try resolve(path: path.components, from: root, label: path.description)
    }

    /// Resolves `components` starting from a pointer to type `root` (any
    /// id; typedefs and qualifiers are looked through, but `rootType` of the
    /// first access is `root` itself, as clang records the type it was given).
    public func resolve(path components: [BTFPathComponent], from root: BTFID, label: String? = nil) throws -> BTFResolvedPath {
        let label = label ?? components.map(\.description).joined(separator: ".")
        func fail(_ m: String) -> BTFPathError { BTFPathError(path: label, message: m) }
        guard type(root) != nil else { throw fail("type id \(root) is out of range") }

        var accesses: [BTFFieldAccess] = []
        var rest = components[...]
        var base = root
        while true {
            // A new base pointer: its leading index is the access string's first.
            var indices = [0]
            if case .index(let i)? = rest.first { indices[0] = i; rest = rest.dropFirst() }
            guard let baseSize = size(of: base) else { throw fail("type [\(base)] \(self[skippingModifiers(base)].kind) '\(self[skippingModifiers(base)].name)' has no size") }
            var bitOffset = indices[0] * baseSize * 8
            var current = base
            var bitfieldSize = 0
            // The member that holds `current`, for libbpf's flexible-array rule.
            var holder: (composite: BTFID, index: Int)?
            var crossedPointer = false
            while let step = rest.first {
                let id = skippingModifiers(current)
                let t = self[id]
                if case .pointer(let target) = t {
                    // Next access starts at the pointee.
                    guard target != 0 else { throw fail("cannot go through 'void *' to \(step)") }
                    crossedPointer = true
                    break
                }
                rest = rest.dropFirst()
                switch step {
                case .member(let name):
                    guard t.kind.isComposite else { throw fail("'\(name)': \(describe(id)) has no members") }
                    guard let hops = findMember(name, in: id) else {
                        throw fail("no member '\(name)' in \(describe(id))")
                    }
                    var composite = id
                    for (n, hop) in hops.enumerated() {
                        let c = self[composite].members
                        let m = c[hop]
                        indices.append(hop)
                        bitOffset += Int(m.bitOffset)
                        if n == hops.count - 1 {
                            bitfieldSize = Int(m.bitfieldSize)
                            current = m.type
                            holder = (composite, hop)
                        } else {
                            composite = skippingModifiers(m.type)
                        }
                    }
                case .index(let i):
                    guard case .array(let a) = t else { throw fail("[\(i)]: \(describe(id)) is not an array") }
                    let isFlexible: Bool = {
                        guard a.count == 0, let holder else { return false }
                        return holder.index == self[holder.composite].members.count - 1
                    }()
                    guard i < Int(a.count) || isFlexible else {
                        throw fail("index \(i) is out of bounds of \(describe(id)) (\(a.count) elements)")
                    }
                    guard let elementSize = size(of: a.element) else { throw fail("array element type [\(a.element)] has no size") }
                    indices.append(i)
                    bitOffset += i * elementSize * 8
                    bitfieldSize = 0
                    current = a.element
                    holder = nil
                }
            }
            let fieldType = skippingModifiers(current)
            let ft = self[fieldType]
            let signed: Bool
            switch ft {
            case .int(let i): signed = i.isSigned
            case .enumeration(let e), .enumeration64(let e): signed = e.isSigned
            default: signed = false
            }
            accesses.append(BTFFieldAccess(rootType: base, accessIndices: indices, bitOffset: bitOffset,
                                           bitfieldSize: bitfieldSize, size: size(of: fieldType) ?? 0,
                                           type: fieldType, kind: ft.kind, isSigned: signed))
            guard crossedPointer, case .pointer(let target) = ft else { break }
            // clang records the pointee as written, minus qualifiers.
            base = skippingQualifiers(target)
        }
        return BTFResolvedPath(accesses: accesses)
    }

    /// The member indices leading to the member called `name` of composite
    /// `id`: one index if it is a direct member, more if it sits in anonymous
    /// structs/unions (searched depth-first in declaration order, as libbpf's
    /// `bpf_core_match_member` does).
    public func findMember(_ name: String, in id: BTFID) -> [Int]? {
        let members = self[skippingModifiers(id)].members
        for (i, m) in members.enumerated() {
            if m.name == name { return [i] }
            if m.name.isEmpty, self[skippingModifiers(m.type)].kind.isComposite,
               let rest = findMember(name, in: m.type) {
                return [i] + rest
            }
        }
        return nil
    }

    /// `id` with const/volatile/restrict/type tags skipped (not typedefs).
    func skippingQualifiers(_ id: BTFID) -> BTFID {
        var id = id, hops = 0
        while let t = type(id), [.const, .volatile, .restrict, .typeTag].contains(t.kind), let next = t.target, hops < 64 {
            id = next; hops += 1
        }
        return id
    }

    /// "struct task_struct" / "array" / "int", for messages.
    func describe(_ id: BTFID) -> String {
        let t = self[id]
        switch t.kind {
        case .structure: return "struct \(t.name.isEmpty ? "(anon)" : t.name)"
        case .union: return "union \(t.name.isEmpty ? "(anon)" : t.name)"
        default: return t.name.isEmpty ? t.kind.description.lowercased() : "\(t.kind.description.lowercased()) \(t.name)"
        }
    }
}
