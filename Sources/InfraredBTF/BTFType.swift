// The BTF model: one case per BTF kind, each documented with the kernel
// constant it stands for (<linux/btf.h>; the format is described in the
// kernel's Documentation/bpf/btf.rst, "2. BTF Type and String Encoding").
//
// This is the value-type side of the module: `BTFSpec` holds an array of
// these (index = type id), `BTFDecoder` builds it from the wire format and
// `BTFEncoder` writes it back. Everything here is pure data: no libbpf, no
// pointers into C memory, so a spec can be built, compared and sent across
// threads freely. (`RawBTFType`/`KernelBTF` remain the zero-copy view over a
// libbpf `struct btf` used by the compiler's context-layout look-ups.)

/// A type id in a `BTFSpec`: 0 is `void`, types run 1…`BTFSpec.typeCount`.
///
/// Unsigned, like the `__u32` ids of the wire format; `BTFTypeID` (Int32)
/// is the builder's, which follows libbpf's "id or negative errno" returns.
public typealias BTFID = UInt32

/// One BTF type (`struct btf_type` and the records that follow it).
public enum BTFType: Hashable, Sendable {
    /// `BTF_KIND_UNKN` (0): only type id 0, `void`.
    case void
    /// `BTF_KIND_INT` (1): an integer, `char` or `_Bool`.
    case int(BTFInt)
    /// `BTF_KIND_PTR` (2): a pointer to `target` (0 for `void *`).
    case pointer(target: BTFID)
    /// `BTF_KIND_ARRAY` (3)
    case array(BTFArray)
    /// `BTF_KIND_STRUCT` (4)
    case structure(BTFComposite)
    /// `BTF_KIND_UNION` (5)
    case union(BTFComposite)
    /// `BTF_KIND_ENUM` (6): enumerators of up to 32 bits.
    case enumeration(BTFEnum)
    /// `BTF_KIND_FWD` (7): a forward declaration of a struct (or, with
    /// `isUnion`, a union: the type's kflag).
    case forward(name: String, isUnion: Bool)
    /// `BTF_KIND_TYPEDEF` (8)
    case typedef(name: String, target: BTFID)
    /// `BTF_KIND_VOLATILE` (9)
    case volatile(target: BTFID)
    /// `BTF_KIND_CONST` (10)
    case const(target: BTFID)
    /// `BTF_KIND_RESTRICT` (11)
    case restrict(target: BTFID)
    /// `BTF_KIND_FUNC` (12): a function; `proto` is its `FUNC_PROTO`.
    case function(BTFFunction)
    /// `BTF_KIND_FUNC_PROTO` (13)
    case functionProto(BTFFunctionProto)
    /// `BTF_KIND_VAR` (14)
    case variable(BTFVariable)
    /// `BTF_KIND_DATASEC` (15)
    case dataSection(BTFDataSection)
    /// `BTF_KIND_FLOAT` (16)
    case float(name: String, size: UInt32)
    /// `BTF_KIND_DECL_TAG` (17): `__attribute__((btf_decl_tag(name)))` on
    /// `target`, or on its member/parameter `componentIndex` (-1: the type itself).
    case declTag(name: String, target: BTFID, componentIndex: Int32)
    /// `BTF_KIND_TYPE_TAG` (18): `__attribute__((btf_type_tag(name)))`, e.g. `__user`.
    case typeTag(name: String, target: BTFID)
    /// `BTF_KIND_ENUM64` (19): enumerators of up to 64 bits.
    case enumeration64(BTFEnum)

    /// The kind (`BTF_KIND_*`).
    public var kind: BTFKind {
        switch self {
        case .void: return .void
        case .int: return .int
        case .pointer: return .pointer
        case .array: return .array
        case .structure: return .structure
        case .union: return .union
        case .enumeration: return .enumeration
        case .forward: return .forward
        case .typedef: return .typedef
        case .volatile: return .volatile
        case .const: return .const
        case .restrict: return .restrict
        case .function: return .function
        case .functionProto: return .functionProto
        case .variable: return .variable
        case .dataSection: return .dataSection
        case .float: return .float
        case .declTag: return .declTag
        case .typeTag: return .typeTag
        case .enumeration64: return .enumeration64
        }
    }

    /// The type's name; "" for anonymous types and kinds that have none.
    public var name: String {
        switch self {
        case .void, .pointer, .array, .volatile, .const, .restrict, .functionProto: return ""
        case .int(let t): return t.name
        case .structure(let t), .union(let t): return t.name
        case .enumeration(let t), .enumeration64(let t): return t.name
        case .forward(let n, _), .typedef(let n, _), .float(let n, _), .declTag(let n, _, _), .typeTag(let n, _): return n
        case .function(let f): return f.name
        case .variable(let v): return v.name
        case .dataSection(let d): return d.name
        }
    }

    /// The one type this type refers to, for the kinds that refer to exactly
    /// one (`PTR`, `TYPEDEF`, qualifiers, tags, `FUNC`, `VAR`, `ARRAY` element).
    public var target: BTFID? {
        switch self {
        case .pointer(let t), .typedef(_, let t), .volatile(let t), .const(let t), .restrict(let t),
             .typeTag(_, let t), .declTag(_, let t, _):
            return t
        case .function(let f): return f.proto
        case .variable(let v): return v.type
        case .array(let a): return a.element
        default: return nil
        }
    }

    /// Members of a struct or union (empty for other kinds).
    public var members: [BTFComposite.Member] {
        switch self {
        case .structure(let c), .union(let c): return c.members
        default: return []
        }
    }

    /// Every type id this type refers to, in wire order (as libbpf's
    /// `btf_type_visit_type_ids` visits them).
    public var referencedTypes: [BTFID] {
        switch self {
        case .void, .int, .forward, .float, .enumeration, .enumeration64: return []
        case .pointer(let t), .typedef(_, let t), .volatile(let t), .const(let t), .restrict(let t),
             .typeTag(_, let t), .declTag(_, let t, _):
            return [t]
        case .array(let a): return [a.element, a.index]
        case .structure(let c), .union(let c): return c.members.map(\.type)
        case .function(let f): return [f.proto]
        case .functionProto(let p): return [p.returnType] + p.parameters.map(\.type)
        case .variable(let v): return [v.type]
        case .dataSection(let d): return d.entries.map(\.type)
        }
    }

    /// The same type with every referenced id passed through `map`.
    public func remappingTypes(_ map: (BTFID) -> BTFID) -> BTFType {
        switch self {
        case .void, .int, .forward, .float, .enumeration, .enumeration64: return self
        case .pointer(let t): return .pointer(target: map(t))
        case .typedef(let n, let t): return .typedef(name: n, target: map(t))
        case .volatile(let t): return .volatile(target: map(t))
        case .const(let t): return .const(target: map(t))
        case .restrict(let t): return .restrict(target: map(t))
        case .typeTag(let n, let t): return .typeTag(name: n, target: map(t))
        case .declTag(let n, let t, let i): return .declTag(name: n, target: map(t), componentIndex: i)
        case .array(var a): a.element = map(a.element); a.index = map(a.index); return .array(a)
        case .structure(var c):
            for i in c.members.indices { c.members[i].type = map(c.members[i].type) }
            return .structure(c)
        case .union(var c):
            for i in c.members.indices { c.members[i].type = map(c.members[i].type) }
            return .union(c)
        case .function(var f): f.proto = map(f.proto); return .function(f)
        case .functionProto(var p):
            p.returnType = map(p.returnType)
            for i in p.parameters.indices { p.parameters[i].type = map(p.parameters[i].type) }
            return .functionProto(p)
        case .variable(var v): v.type = map(v.type); return .variable(v)
        case .dataSection(var d):
            for i in d.entries.indices { d.entries[i].type = map(d.entries[i].type) }
            return .dataSection(d)
        }
    }
}

/// `BTF_KIND_INT`: the `btf_type` plus the u32 that follows it
/// (`BTF_INT_ENCODING`, `BTF_INT_OFFSET`, `BTF_INT_BITS`).
public struct BTFInt: Hashable, Sendable {
    public var name: String
    /// `btf_type.size` in bytes (1, 2, 4, 8 or 16).
    public var size: UInt32
    public var encoding: BTFIntEncoding
    /// `BTF_INT_OFFSET`: non-zero only in pre-kflag bitfield encodings.
    public var bitOffset: UInt8
    /// `BTF_INT_BITS`: usually `size * 8`.
    public var bits: UInt8
    public init(name: String, size: UInt32, encoding: BTFIntEncoding = [], bitOffset: UInt8 = 0, bits: UInt8? = nil) {
        self.name = name; self.size = size; self.encoding = encoding; self.bitOffset = bitOffset
        self.bits = bits ?? UInt8(truncatingIfNeeded: size * 8)
    }
    /// `BTF_INT_SIGNED` is set.
    public var isSigned: Bool { encoding.contains(.signed) }
}

/// `BTF_KIND_ARRAY` (`struct btf_array`).
public struct BTFArray: Hashable, Sendable {
    /// `type`: the element type.
    public var element: BTFID
    /// `index_type`: an integer type (clang's `__ARRAY_SIZE_TYPE__`).
    public var index: BTFID
    /// `nelems` (0 for a flexible array member).
    public var count: UInt32
    public init(element: BTFID, index: BTFID, count: UInt32) { self.element = element; self.index = index; self.count = count }
}

/// `BTF_KIND_STRUCT` / `BTF_KIND_UNION` and their `struct btf_member`s.
public struct BTFComposite: Hashable, Sendable {
    /// One `struct btf_member`.
    public struct Member: Hashable, Sendable {
        /// "" for an anonymous member (an embedded struct/union, or padding).
        public var name: String
        public var type: BTFID
        /// Offset from the start of the enclosing type, in bits.
        public var bitOffset: UInt32
        /// Width of a bitfield; 0 for an ordinary member. Only representable
        /// when the composite has `hasBitfieldEncoding` (kflag) set.
        public var bitfieldSize: UInt8
        public init(name: String, type: BTFID, bitOffset: UInt32, bitfieldSize: UInt8 = 0) {
            self.name = name; self.type = type; self.bitOffset = bitOffset; self.bitfieldSize = bitfieldSize
        }
    }
    public var name: String
    /// Size in bytes.
    public var size: UInt32
    /// The type's kflag: member offsets carry a bitfield size in their top
    /// 8 bits (`BTF_MEMBER_BIT_OFFSET` / `BTF_MEMBER_BITFIELD_SIZE`).
    public var hasBitfieldEncoding: Bool
    public var members: [Member]
    public init(name: String, size: UInt32, members: [Member], hasBitfieldEncoding: Bool? = nil) {
        self.name = name; self.size = size; self.members = members
        self.hasBitfieldEncoding = hasBitfieldEncoding ?? members.contains { $0.bitfieldSize != 0 }
    }
}

/// `BTF_KIND_ENUM` (`struct btf_enum`) and `BTF_KIND_ENUM64` (`struct btf_enum64`).
public struct BTFEnum: Hashable, Sendable {
    /// One enumerator. `rawValue` is the value's bits as stored (32 bits for
    /// ENUM, 64 for ENUM64); `value` reads them with the enum's signedness.
    public struct Value: Hashable, Sendable {
        public var name: String
        public var rawValue: UInt64
        public init(name: String, rawValue: UInt64) { self.name = name; self.rawValue = rawValue }
    }
    public var name: String
    /// Size in bytes of the underlying integer.
    public var size: UInt32
    /// The type's kflag: values are signed.
    public var isSigned: Bool
    public var values: [Value]
    public init(name: String, size: UInt32, isSigned: Bool, values: [Value]) {
        self.name = name; self.size = size; self.isSigned = isSigned; self.values = values
    }
    /// The value of enumerator `i`, sign-extended when the enum is signed
    /// (for ENUM the 32 stored bits, for ENUM64 all 64).
    public func value(at i: Int, is64 kind64: Bool) -> Int64 {
        let raw = values[i].rawValue
        if kind64 { return Int64(bitPattern: raw) }
        return isSigned ? Int64(Int32(truncatingIfNeeded: raw)) : Int64(UInt32(truncatingIfNeeded: raw))
    }
}

/// `BTF_KIND_FUNC`.
public struct BTFFunction: Hashable, Sendable {
    public var name: String
    /// The `FUNC_PROTO` (`btf_type.type`).
    public var proto: BTFID
    /// `vlen`: `BTF_FUNC_STATIC` 0, `BTF_FUNC_GLOBAL` 1, `BTF_FUNC_EXTERN` 2.
    /// Raw, so values newer than `BTFFunctionLinkage` survive a round trip.
    public var linkage: UInt16
    public init(name: String, proto: BTFID, linkage: UInt16) { self.name = name; self.proto = proto; self.linkage = linkage }
}

/// `BTF_KIND_FUNC_PROTO` and its `struct btf_param`s.
public struct BTFFunctionProto: Hashable, Sendable {
    /// One `struct btf_param`; a last parameter with type 0 and no name is C's `...`.
    public struct Parameter: Hashable, Sendable {
        public var name: String
        public var type: BTFID
        public init(name: String, type: BTFID) { self.name = name; self.type = type }
    }
    /// `btf_type.type` (0 for `void`).
    public var returnType: BTFID
    public var parameters: [Parameter]
    public init(returnType: BTFID, parameters: [Parameter]) { self.returnType = returnType; self.parameters = parameters }
    /// Whether the prototype ends in `...`.
    public var isVariadic: Bool { parameters.last.map { $0.type == 0 && $0.name.isEmpty } ?? false }
}

/// `BTF_KIND_VAR` (`struct btf_var`).
public struct BTFVariable: Hashable, Sendable {
    public var name: String
    public var type: BTFID
    /// `BTF_VAR_STATIC` 0, `BTF_VAR_GLOBAL_ALLOCATED` 1, `BTF_VAR_GLOBAL_EXTERN` 2 (raw).
    public var linkage: UInt32
    public init(name: String, type: BTFID, linkage: UInt32) { self.name = name; self.type = type; self.linkage = linkage }
}

/// `BTF_KIND_DATASEC` and its `struct btf_var_secinfo`s.
public struct BTFDataSection: Hashable, Sendable {
    /// One `struct btf_var_secinfo`.
    public struct Entry: Hashable, Sendable {
        /// A `VAR` (or, for externs, a `FUNC`).
        public var type: BTFID
        public var offset: UInt32
        public var size: UInt32
        public init(type: BTFID, offset: UInt32, size: UInt32) { self.type = type; self.offset = offset; self.size = size }
    }
    /// The ELF section's name (`.data`, `.bss`, `.maps`, …).
    public var name: String
    public var size: UInt32
    public var entries: [Entry]
    public init(name: String, size: UInt32, entries: [Entry]) { self.name = name; self.size = size; self.entries = entries }
}
