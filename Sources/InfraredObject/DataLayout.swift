import CLibBPF
import InfraredBTF
#if canImport(Glibc)
import Glibc
#endif

/// Where maps and global variables live in their ELF sections.
///
/// Computed once, while their BTF is built, and used for both the DATASECs
/// (`.BTF`) and the ELF sections and symbols: libbpf matches a map's VAR to
/// its symbol by name and the relocation's symbol to the map by offset
/// (`bpf_program__record_reloc`), so the two must agree.
struct DataLayout {
    /// One map or variable: its symbol's `st_value` and `st_size`.
    struct Placement: Hashable {
        var name: String
        var offset: Int
        var size: Int
    }

    /// One data section (`.rodata`, `.data`, `.maps`, `.bss`).
    struct Section {
        var name: String
        var flags: UInt64
        /// The largest alignment of what it holds (clang's `sh_addralign`).
        var alignment: Int
        /// End of the last placement (no tail padding, like clang).
        var size: Int
        var placements: [Placement]
        /// File contents; empty for `.bss` (SHT_NOBITS).
        var bytes: [UInt8]
        var isNoBits: Bool
    }

    /// What to place: a map definition or a variable.
    struct Item {
        var name: String
        var size: Int
        var alignment: Int
        /// Initial contents (`size` bytes); empty for zeros.
        var bytes: [UInt8]
    }

    /// Non-empty sections, in clang's order: `.rodata`, `.data`, `.maps`, `.bss`.
    var sections: [Section] = []

    /// Every placement by name, with its section.
    var placements: [String: DataPlacement] {
        var out: [String: DataPlacement] = [:]
        for s in sections { for p in s.placements { out[p.name] = DataPlacement(section: s.name, offset: p.offset) } }
        return out
    }

    /// Lays out `items` one after the other, each at the next multiple of
    /// its alignment, as clang places globals of one section.
    static func pack(_ name: String, flags: UInt64, noBits: Bool, _ items: [Item]) -> Section? {
        guard !items.isEmpty else { return nil }
        var at = 0, alignment = 1, placements: [Placement] = [], bytes: [UInt8] = []
        for item in items {
            let a = max(item.alignment, 1)
            at = (at + a - 1) / a * a
            alignment = max(alignment, a)
            placements.append(Placement(name: item.name, offset: at, size: item.size))
            if !noBits {
                bytes += [UInt8](repeating: 0, count: at - bytes.count)
                bytes += item.bytes.isEmpty ? [UInt8](repeating: 0, count: item.size) : item.bytes
            }
            at += item.size
        }
        return Section(name: name, flags: flags, alignment: alignment, size: at, placements: placements,
                       bytes: bytes, isNoBits: noBits)
    }
}

/// Where the object writer placed a map or variable: its data section
/// (`.rodata`, `.data`, `.bss`, `.maps`) and byte offset in it (its
/// symbol's `st_value`, its DATASEC entry's offset).
public struct DataPlacement: Sendable, Hashable {
    public var section: String
    public var offset: Int
    public init(section: String, offset: Int) { self.section = section; self.offset = offset }
}

/// An object's bytes and where the writer placed its maps and variables.
public struct WrittenObject: Sendable {
    public var bytes: [UInt8]
    /// By map or variable name.
    public var placements: [String: DataPlacement]
}

/// A read-only copy of BTF being built, to ask libbpf for sizes and
/// alignments (`btf__resolve_size`, `btf__align_of`): the same answers
/// libbpf gives when it opens the object, for every kind of type
/// (including structs copied from kernel BTF).
final class BTFSnapshot {
    private let btf: OpaquePointer

    init(_ raw: [UInt8]) throws {
        errno = 0
        let b = raw.withUnsafeBytes { btf__new($0.baseAddress, UInt32($0.count)) }
        guard let b else {
            throw ObjectError("re-reading the program BTF to measure types failed (errno \(errno))")
        }
        btf = b
    }

    deinit { btf__free(btf) }

    /// Size in bytes of type `id`, or nil when it has none (void, a forward declaration, …).
    func size(of id: BTFTypeID) -> Int? {
        let s = btf__resolve_size(btf, UInt32(id))
        return s > 0 ? Int(s) : nil
    }

    /// Natural alignment of type `id` as libbpf computes it (1 for a packed struct).
    func alignment(of id: BTFTypeID) -> Int? {
        let a = btf__align_of(btf, UInt32(id))
        return a > 0 ? Int(a) : nil
    }
}
