import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's BTF (or any BTF: raw, or an ELF with a `.BTF` section),
/// opened read-only with libbpf's `btf__parse`.
///
/// Answers the compiler's two questions about kernel types: where is a
/// member of a context struct (`structLayout(named:)`), and what is its full
/// definition to put into the program's own BTF (`copyType(named:kind:into:)`).
/// Reading is pure: the same file gives the same answers on any machine.
public final class KernelBTF {
    /// Where the running kernel exposes its BTF.
    public static let defaultPath = "/sys/kernel/btf/vmlinux"

    public let path: String
    let btf: OpaquePointer

    public init(path: String = KernelBTF.defaultPath) throws {
        self.path = path
        if let b = KernelBTF.mapped(path) { btf = b; return }
        errno = 0
        guard let b = btf__parse(path, nil) else {
            throw BTFError(step: "btf__parse(\(path))", errno: errno == 0 ? EINVAL : errno)
        }
        btf = b
    }

    /// Raw BTF handed to `btf__new` from a private read-only mapping: the
    /// kernel (6.16+) maps /sys/kernel/btf/vmlinux, which saves copying 5 MB
    /// through read(2), the larger part of opening it. Nil (and `btf__parse`
    /// reads the file) when the file cannot be mapped or is not raw BTF.
    private static func mapped(_ path: String) -> OpaquePointer? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size >= 24, st.st_size < Int(UInt32.max) else { return nil }
        let size = Int(st.st_size)
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else { return nil }
        defer { munmap(p, size) }
        guard p.load(as: UInt16.self) == 0xeb9f else { return nil }
        return btf__new(p, UInt32(size))
    }

    deinit { btf__free(btf) }

    /// Number of types (ids run 1…typeCount).
    public var typeCount: Int { Int(btf__type_cnt(btf)) - 1 }

    /// The id of the type called `name` of kind `kind`, if there is one.
    public func typeID(named name: String, kind: BTFKind) -> UInt32? {
        let id = btf__find_by_name_kind(btf, name, kind.rawValue)
        return id > 0 ? UInt32(id) : nil
    }

    /// The kind of type `id`.
    public func kind(of id: UInt32) throws -> BTFKind { try raw(id).kind }

    /// The name of type `id` ("" when anonymous).
    public func name(of id: UInt32) throws -> String { name(try raw(id).nameOffset) }

    /// The layout of the struct (or, failing that, the union) called `name`,
    /// or nil when the BTF has neither.
    public func structLayout(named name: String) throws -> StructLayout? {
        guard let id = typeID(named: name, kind: .structure) ?? typeID(named: name, kind: .union) else { return nil }
        let t = try raw(id)
        var members: [FieldLayout] = []
        try flatten(t, label: name, baseBits: 0, into: &members)
        return StructLayout(name: name, kind: t.kind, size: Int(t.size), members: members)
    }

    /// Appends the named members of composite `t`, descending into anonymous
    /// structs/unions with their offset added.
    private func flatten(_ t: RawBTFType, label: String, baseBits: Int, into out: inout [FieldLayout]) throws {
        for i in 0..<t.vlen {
            let m = t.member(i)
            let memberName = name(m.nameOffset)
            let (resolvedID, resolved) = try skipModifiers(m.type)
            var bitOffset = baseBits + m.bitOffset, bitfieldSize = m.bitfieldSize
            if memberName.isEmpty {
                // Anonymous struct/union: its members belong to the parent.
                // Anything else unnamed is padding (`int :3;`).
                if resolved.kind.isComposite {
                    try flatten(resolved, label: label, baseBits: bitOffset, into: &out)
                }
                continue
            }
            // Without kflag a bitfield is spelled in the INT itself
            // (BTF_INT_OFFSET / BTF_INT_BITS), the pre-kflag encoding.
            if !t.kflag, resolved.kind == .int, resolved.intBits != Int(resolved.size) * 8 || resolved.intOffset != 0 {
                bitOffset += resolved.intOffset
                bitfieldSize = resolved.intBits
            }
            let size = btf__resolve_size(btf, resolvedID)
            guard size >= 0 else {
                throw BTFError(step: "btf__resolve_size(\(label).\(memberName))", errno: Int32(-size))
            }
            let signed: Bool
            switch resolved.kind {
            case .int: signed = resolved.intEncoding.contains(.signed)
            case .enumeration, .enumeration64: signed = resolved.kflag
            default: signed = false
            }
            out.append(FieldLayout(name: memberName, bitOffset: bitOffset, bitfieldSize: bitfieldSize, size: Int(size),
                                   isSigned: signed, kind: resolved.kind,
                                   arrayCount: resolved.kind == .array ? Int(resolved.array.count) : nil,
                                   typeID: resolvedID))
        }
    }

    /// Copies the struct or union called `name` into `builder`, with every
    /// type it uses (ints, typedefs, enums, arrays, nested anonymous
    /// structs/unions, function prototypes), and returns its id there.
    ///
    /// A pointer to a struct or union becomes a pointer to a `BTF_KIND_FWD`
    /// of that name, so copying `__sk_buff` does not pull in half the
    /// kernel; this is what clang emits for a context struct in a program's
    /// BTF. Each type is copied once per builder (memoised).
    public func copyType(named name: String, kind: BTFKind = .structure, into builder: BTFBuilder) throws -> BTFTypeID {
        guard let id = typeID(named: name, kind: kind) else {
            throw BTFError(step: "copy \(kind) \(name): not found in \(path)")
        }
        var copier = TypeCopier(source: self, builder: builder)
        return try copier.copy(id)
    }

    // MARK: - Internals shared with TypeCopier

    func raw(_ id: UInt32) throws -> RawBTFType {
        guard let p = btf__type_by_id(btf, id) else { throw BTFError(step: "type id \(id) out of range in \(path)", errno: EINVAL) }
        return RawBTFType(base: UnsafeRawPointer(p))
    }

    func name(_ offset: UInt32) -> String {
        guard let p = btf__name_by_offset(btf, offset) else { return "" }
        return String(cString: p)
    }

    /// Follows typedef/const/volatile/restrict/type-tag links to the type that
    /// gives a member its shape.
    func skipModifiers(_ id: UInt32) throws -> (UInt32, RawBTFType) {
        var id = id, t = try raw(id), hops = 0
        while t.kind.isModifier {
            id = t.type; t = try raw(id); hops += 1
            if hops > 64 { throw BTFError(step: "type id \(id): modifier loop in \(path)", errno: ELOOP) }
        }
        return (id, t)
    }
}
