// The BTF vocabulary shared by the builder, the kernel-BTF reader and the
// object writer. Each constant names the kernel constant it stands for
// (<linux/btf.h>); the format itself is described in the kernel's
// Documentation/bpf/btf.rst, "2. BTF Type and String Encoding".
#if canImport(Glibc)
import Glibc
#endif

/// A type id as libbpf's btf API hands it out: `BTFBuilder` and the
/// libbpf-backed readers (`KernelBTF`, `TypeCopier`) use it, because
/// `btf__add_*` return the new id or a negative errno (which `BTFBuilder`
/// turns into a thrown `BTFError`). 0 is `void`.
///
/// The id itself is `BTFID` (UInt32), the wire format's `__u32` and what the
/// pure model (`BTFSpec`, `BTFType`, CO-RE relocations) holds; convert at the
/// libbpf seam with `BTFID(id)` / `BTFTypeID(id)`.
public typealias BTFTypeID = Int32

/// The kind of a BTF type (`BTF_KIND_*`, bits 24–28 of `btf_type.info`).
///
/// A `RawRepresentable` struct rather than an enum so that kinds newer than
/// this table (read from a newer kernel's BTF) still fit.
public struct BTFKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `BTF_KIND_UNKN` (type id 0 is `void`).
    public static let void = BTFKind(rawValue: 0)
    /// `BTF_KIND_INT`
    public static let int = BTFKind(rawValue: 1)
    /// `BTF_KIND_PTR`
    public static let pointer = BTFKind(rawValue: 2)
    /// `BTF_KIND_ARRAY`
    public static let array = BTFKind(rawValue: 3)
    /// `BTF_KIND_STRUCT`
    public static let structure = BTFKind(rawValue: 4)
    /// `BTF_KIND_UNION`
    public static let union = BTFKind(rawValue: 5)
    /// `BTF_KIND_ENUM` (values up to 32 bits)
    public static let enumeration = BTFKind(rawValue: 6)
    /// `BTF_KIND_FWD`
    public static let forward = BTFKind(rawValue: 7)
    /// `BTF_KIND_TYPEDEF`
    public static let typedef = BTFKind(rawValue: 8)
    /// `BTF_KIND_VOLATILE`
    public static let volatile = BTFKind(rawValue: 9)
    /// `BTF_KIND_CONST`
    public static let const = BTFKind(rawValue: 10)
    /// `BTF_KIND_RESTRICT`
    public static let restrict = BTFKind(rawValue: 11)
    /// `BTF_KIND_FUNC`
    public static let function = BTFKind(rawValue: 12)
    /// `BTF_KIND_FUNC_PROTO`
    public static let functionProto = BTFKind(rawValue: 13)
    /// `BTF_KIND_VAR`
    public static let variable = BTFKind(rawValue: 14)
    /// `BTF_KIND_DATASEC`
    public static let dataSection = BTFKind(rawValue: 15)
    /// `BTF_KIND_FLOAT`
    public static let float = BTFKind(rawValue: 16)
    /// `BTF_KIND_DECL_TAG`
    public static let declTag = BTFKind(rawValue: 17)
    /// `BTF_KIND_TYPE_TAG`
    public static let typeTag = BTFKind(rawValue: 18)
    /// `BTF_KIND_ENUM64` (values up to 64 bits)
    public static let enumeration64 = BTFKind(rawValue: 19)

    private static let names: [UInt32: String] = [
        0: "VOID", 1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD",
        8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC", 13: "FUNC_PROTO",
        14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG", 19: "ENUM64",
    ]
    /// The kernel's spelling (`STRUCT`, `FUNC_PROTO`, …), as bpftool prints it.
    public var description: String { Self.names[rawValue] ?? "KIND_\(rawValue)" }

    /// Kinds that only qualify another type (`typedef`, `const`, `volatile`,
    /// `restrict`, type tags): skipped when resolving what a member really is.
    public var isModifier: Bool { [.typedef, .volatile, .const, .restrict, .typeTag].contains(self) }
    /// `BTF_KIND_STRUCT` or `BTF_KIND_UNION`.
    public var isComposite: Bool { self == .structure || self == .union }
}

/// The encoding bits of a `BTF_KIND_INT` (`BTF_INT_ENCODING`).
public struct BTFIntEncoding: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// `BTF_INT_SIGNED`
    public static let signed = BTFIntEncoding(rawValue: 1 << 0)
    /// `BTF_INT_CHAR`
    public static let char = BTFIntEncoding(rawValue: 1 << 1)
    /// `BTF_INT_BOOL`
    public static let bool = BTFIntEncoding(rawValue: 1 << 2)
}

/// Linkage of a `BTF_KIND_FUNC` (`enum btf_func_linkage`).
public enum BTFFunctionLinkage: Int32, Sendable {
    /// `BTF_FUNC_STATIC`
    case `static` = 0
    /// `BTF_FUNC_GLOBAL` (what clang emits for a BPF program)
    case global = 1
    /// `BTF_FUNC_EXTERN`
    case external = 2
}

/// Linkage of a `BTF_KIND_VAR` (`enum btf_var_linkage` / `BTF_VAR_*`).
public enum BTFVariableLinkage: Int32, Sendable {
    /// `BTF_VAR_STATIC`
    case `static` = 0
    /// `BTF_VAR_GLOBAL_ALLOCATED` (e.g. `_license`)
    case globalAllocated = 1
    /// `BTF_VAR_GLOBAL_EXTERN`
    case globalExtern = 2
}

/// What a `BTF_KIND_FWD` declares (the `kflag` of the FWD: 0 struct, 1 union).
public enum BTFForwardKind: Sendable, Hashable {
    case structure, union
}

/// One member of a struct or union being built.
public struct BTFMember: Sendable, Hashable {
    /// `nil` (or empty) for an anonymous member.
    public var name: String?
    public var type: BTFTypeID
    /// Offset from the start of the struct, in bits.
    public var bitOffset: Int
    /// Width of a bitfield in bits; 0 for an ordinary member. A non-zero
    /// width makes libbpf set the struct's `kflag` (bitfield-size encoding).
    public var bitfieldSize: Int
    public init(name: String?, type: BTFTypeID, bitOffset: Int, bitfieldSize: Int = 0) {
        self.name = name; self.type = type; self.bitOffset = bitOffset; self.bitfieldSize = bitfieldSize
    }
}

/// One `struct btf_var_secinfo` of a DATASEC: a VAR and where it lives.
public struct BTFDataSectionVariable: Sendable, Hashable {
    public var variable: BTFTypeID
    public var offset: Int
    public var size: Int
    public init(variable: BTFTypeID, offset: Int, size: Int) { self.variable = variable; self.offset = offset; self.size = size }
}

/// A failed BTF step, with the step named and libbpf's errno when there is one.
public struct BTFError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being done (`btf__add_struct(bpf_sock)`, `parse /sys/kernel/btf/vmlinux`, …).
    public var step: String
    /// A positive errno from libbpf, or 0 when the error is ours.
    public var errno: Int32
    public init(step: String, errno: Int32 = 0) { self.step = step; self.errno = errno }
    public var description: String {
        errno == 0 ? "BTF: \(step)" : "BTF: \(step): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
