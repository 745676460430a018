#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import InfraredCompression
import InfraredELF
import InfraredSupport

/// A whole BTF blob as values: every type by id, with the look-ups that
/// CO-RE needs (by name and kind, through modifiers, member paths).
///
/// Build one from bytes (`init(bytes:source:)`: raw BTF, or an ELF file with
/// a `.BTF` section), from a file (`init(path:)`), or from a list of types;
/// write it back with `encoded()`. Decoding is pure and never trusts the
/// input (see `BTFDecoder`): the same bytes give the same spec on any
/// machine, and bad bytes give a `BTFFormatError`, never a trap.
public struct BTFSpec: Sendable {
    /// All types; `types[0]` is `.void`, so `types[id]` is type `id`.
    public private(set) var types: [BTFType]
    /// Size of a pointer in bytes: from the ELF class when read from an ELF,
    /// else guessed from the `long` types as libbpf's `determine_ptr_size`
    /// does, else 8.
    public var pointerSize: Int
    /// Where the spec came from (a path, or "BTF"), for messages.
    public var source: String
    private let index: NameIndex

    /// A spec of `types` (type 1 first; `void` is added in front).
    public init(types: [BTFType], pointerSize: Int? = nil, source: String = "BTF") {
        self.init(allTypes: [.void] + types, pointerSize: pointerSize, source: source)
    }

    /// `types[0]` must be `.void`.
    init(allTypes: [BTFType], pointerSize: Int?, source: String) {
        types = allTypes
        self.source = source
        index = NameIndex()
        self.pointerSize = 8
        self.pointerSize = pointerSize ?? guessPointerSize() ?? 8
    }

    /// Decodes raw BTF bytes, or the `.BTF` section of ELF bytes, either of
    /// them possibly compressed (xz, zstd, gzip, lz4: the fixtures in BTF/
    /// are `.btf.xz`). `source` names the input in errors.
    public init(bytes: [UInt8], source: String = "BTF") throws {
        if let format = Compression.detect(bytes[...]) {
            try self.init(bytes: try format.decompress(bytes[...], source: source), source: source)
            return
        }
        if bytes.starts(with: ELFFile.magic) {
            let elf = try ELFFile(bytes: bytes, source: source)
            guard let section = elf.section(named: ".BTF") else {
                throw BTFFormatError(source, "ELF file has no .BTF section")
            }
            guard section.hasContents else {
                throw BTFFormatError(source, "the ELF file's .BTF section (\(section.index)) has no contents (section type \(section.type))")
            }
            try self.init(bytes: elf.contents(of: section), source: source)
            pointerSize = elf.is64Bit ? 8 : 4
            return
        }
        self.init(allTypes: try BTFDecoder.decode(bytes, source: source), pointerSize: nil, source: source)
        try BTFDecoder.checkShapes(self)
    }

    /// Reads raw BTF or an ELF file with `.BTF` (the running kernel's BTF by default).
    public init(path: String = KernelBTF.defaultPath) throws {
        try self.init(bytes: try readFile(path), source: path)
    }

    /// Number of types, not counting `void` (ids run 1…typeCount).
    public var typeCount: Int { types.count - 1 }

    /// Type `id`; `.void` for 0. Traps on an id past the end, like an array;
    /// every id inside a decoded spec is in range (the decoder checks).
    public subscript(id: BTFID) -> BTFType { types[Int(id)] }

    /// The type `id`, or nil when `id` is out of range.
    public func type(_ id: BTFID) -> BTFType? { Int(id) < types.count ? types[Int(id)] : nil }

    /// Appends a type and returns its id.
    @discardableResult
    public mutating func append(_ type: BTFType) -> BTFID {
        types.append(type)
        index.invalidate()
        return BTFID(types.count - 1)
    }

    /// The raw BTF (header, types, strings), laid out as libbpf's
    /// `btf__raw_data` lays out a BTF built with `btf__add_*` calls in this
    /// order, so the bytes are the same as libbpf's for the same types.
    public func encoded() -> [UInt8] { BTFEncoder.encode(types) }

    // MARK: - Look-ups

    /// Ids of the types called `name`, in id order.
    public func typeIDs(named name: String) -> [BTFID] { index.ids(named: name, in: types) }

    /// The first type called `name` of kind `kind` (what libbpf's
    /// `btf__find_by_name_kind` returns).
    public func typeID(named name: String, kind: BTFKind) -> BTFID? {
        typeIDs(named: name).first { types[Int($0)].kind == kind }
    }

    /// The id reached from `id` by following typedef, const, volatile,
    /// restrict and type tags (libbpf's `skip_mods_and_typedefs`). Stops at a
    /// loop or a bad id instead of hanging (decoded specs have neither).
    public func skippingModifiers(_ id: BTFID) -> BTFID {
        var id = id, hops = 0
        while Int(id) < types.count, types[Int(id)].kind.isModifier, let next = types[Int(id)].target, hops < 64 {
            id = next; hops += 1
        }
        return id
    }

    /// Size in bytes of type `id`, through typedefs, modifiers, VARs and
    /// arrays; mirrors libbpf's `btf__resolve_size` (including its errors:
    /// nil for `void`, functions, prototypes and forward declarations).
    public func size(of id: BTFID) -> Int? {
        var id = id, count: UInt64 = 1
        for _ in 0..<32 {
            guard id != 0, let t = type(id) else { return nil }
            switch t {
            case .int(let i): return scaled(UInt64(i.size), count)
            case .structure(let c), .union(let c): return scaled(UInt64(c.size), count)
            case .enumeration(let e), .enumeration64(let e): return scaled(UInt64(e.size), count)
            case .dataSection(let d): return scaled(UInt64(d.size), count)
            case .float(_, let s): return scaled(UInt64(s), count)
            case .pointer: return scaled(UInt64(pointerSize), count)
            case .typedef, .volatile, .const, .restrict, .variable, .declTag, .typeTag:
                id = t.target!
            case .array(let a):
                if count != 0, UInt64(a.count) > UInt64(UInt32.max) / count { return nil }
                count *= UInt64(a.count)
                id = a.element
            default: return nil
            }
        }
        return nil
    }

    private func scaled(_ size: UInt64, _ count: UInt64) -> Int? {
        if count != 0, size > UInt64(UInt32.max) / count { return nil }
        return Int(size * count)
    }

    /// libbpf's `determine_ptr_size`: the size of the first `long` it finds.
    private func guessPointerSize() -> Int? {
        let longs: Set<String> = ["long", "long int", "int long", "unsigned long", "long unsigned", "unsigned long int",
                                  "unsigned int long", "long unsigned int", "long int unsigned", "int unsigned long",
                                  "int long unsigned"]
        for t in types.dropFirst() {
            if case .int(let i) = t, longs.contains(i.name), i.size == 4 || i.size == 8 { return Int(i.size) }
        }
        return nil
    }

    /// Names to ids, built on first use and shared by copies of the spec.
    private final class NameIndex: Sendable {
        private let byName = Mutex<[String: [BTFID]]?>(nil)
        func invalidate() { byName.withLock { $0 = nil } }
        func ids(named name: String, in types: [BTFType]) -> [BTFID] {
            byName.withLock { index in
                if index == nil {
                    var map: [String: [BTFID]] = [:]
                    map.reserveCapacity(types.count)
                    for (i, t) in types.enumerated() {
                        let n = t.name
                        if !n.isEmpty { map[n, default: []].append(BTFID(i)) }
                    }
                    index = map
                }
                return index![name] ?? []
            }
        }
    }
}

/// Bad BTF, ELF or kernel-image bytes: what is wrong and where
/// (`InfraredSupport.FormatError`, which the ELF reader, the decompressors
/// and `readFile` throw too).
public typealias BTFFormatError = FormatError
