/// The layout of a kernel struct or union as a program sees it: every
/// member reachable by name, with members of anonymous structs and unions
/// lifted into the parent (as C lets you write `skb->flow_keys`).
public struct StructLayout: Sendable, Hashable {
    public var name: String
    /// `.structure` or `.union`.
    public var kind: BTFKind
    /// Size in bytes.
    public var size: Int
    /// In declaration order; anonymous members are flattened in place.
    public var members: [FieldLayout]

    public init(name: String, kind: BTFKind, size: Int, members: [FieldLayout]) {
        self.name = name; self.kind = kind; self.size = size; self.members = members
    }

    /// The first member called `name`.
    public func member(named name: String) -> FieldLayout? { members.first { $0.name == name } }
}

/// One named member of a `StructLayout`.
public struct FieldLayout: Sendable, Hashable {
    public var name: String
    /// Offset of the member from the start of the outermost struct, in bits.
    public var bitOffset: Int
    /// `bitOffset / 8`: the byte holding the member's first bit.
    public var byteOffset: Int { bitOffset / 8 }
    /// Width in bits of a bitfield; 0 for an ordinary member.
    public var bitfieldSize: Int
    /// Size in bytes of the member's type once typedefs, `const`,
    /// `volatile`, `restrict` and type tags are looked through (an enum's
    /// size is its underlying integer's; an array's is the whole array).
    public var size: Int
    /// True for a signed int (`BTF_INT_SIGNED`) or a signed enum (kflag).
    public var isSigned: Bool
    /// The kind after resolving modifiers (`.int`, `.pointer`, `.array`, `.structure`, …).
    public var kind: BTFKind
    /// Element count when `kind` is `.array`.
    public var arrayCount: Int?
    /// The member's type id in the source BTF, after resolving modifiers.
    public var typeID: UInt32

    public init(name: String, bitOffset: Int, bitfieldSize: Int, size: Int, isSigned: Bool, kind: BTFKind,
                arrayCount: Int? = nil, typeID: UInt32) {
        self.name = name; self.bitOffset = bitOffset; self.bitfieldSize = bitfieldSize; self.size = size
        self.isSigned = isSigned; self.kind = kind; self.arrayCount = arrayCount; self.typeID = typeID
    }

    /// Whether the member is a bitfield (it needs shifts and masks, not a plain load).
    public var isBitfield: Bool { bitfieldSize != 0 }
}
