/// The kind of a helper's argument or return value, from its C prototype.
public enum ValueKind: Sendable, Hashable { case scalar, pointer, void }

/// A BPF helper as libbpf's `bpf_helper_defs.h` declares it.
public struct HelperPrototype: Sendable, Hashable {
    public struct Parameter: Sendable, Hashable {
        public var name: String
        public var cType: String
        public var kind: ValueKind
        public init(name: String, cType: String, kind: ValueKind) { self.name = name; self.cType = cType; self.kind = kind }
    }
    /// `enum bpf_func_id` value.
    public var id: Int32
    /// Full name with the `bpf_` prefix.
    public var name: String
    public var returnCType: String
    public var returnKind: ValueKind
    public var parameters: [Parameter]

    /// Looks a helper up by name, with or without the `bpf_` prefix.
    public static func named(_ name: String) -> HelperPrototype? {
        byName[name] ?? byName["bpf_" + name]
    }
    /// The first helper of each name. (Filled in place, last to first so
    /// that the first of a name is the one left, hashing each name once:
    /// `Dictionary(_:uniquingKeysWith:)` over an array of pairs cost more,
    /// on every build's first lookup.)
    private static let byName: [String: HelperPrototype] = {
        var d = [String: HelperPrototype](minimumCapacity: helperTable.count)
        for h in helperTable.reversed() { d[h.name] = h }
        return d
    }()
}
