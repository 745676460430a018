/// Pointer and array look-ups the compiler's CO-RE reads need: what a
/// member's pointer points at, and what an array holds.
extension KernelBTF {
    /// What a type is once typedefs and qualifiers are skipped.
    public struct ResolvedType: Sendable, Hashable {
        public var kind: BTFKind
        /// The struct/union/enum name ("" when anonymous).
        public var name: String
        public var size: Int
        public var isSigned: Bool
        /// For pointers: the pointee, resolved; for arrays: the element.
        public var targetKind: BTFKind?
        public var targetName: String?
        public var targetSize: Int?
        public var arrayCount: Int?
    }

    /// Type `id` with typedefs and qualifiers skipped, and for a pointer or
    /// array, its target resolved the same way.
    public func resolve(_ id: UInt32) throws -> ResolvedType {
        let (rid, t) = try skipModifiers(id)
        var r = ResolvedType(kind: t.kind, name: name(t.nameOffset), size: Int(max(0, btf__resolve_size(btf, rid))),
                             isSigned: t.kind == .int && t.intEncoding.contains(.signed))
        if t.kind == .pointer || t.kind == .array {
            let target = t.kind == .pointer ? t.type : t.array.element
            if target != 0 {
                let (tid, tt) = try skipModifiers(target)
                r.targetKind = tt.kind
                r.targetName = name(tt.nameOffset)
                r.targetSize = Int(max(0, btf__resolve_size(btf, tid)))
            } else {
                r.targetKind = .void
            }
            if t.kind == .array { r.arrayCount = Int(t.array.count) }
        }
        return r
    }
}
import CLibBPF

extension KernelBTF {
    /// The enumerators of the enum called `name` (BTF_KIND_ENUM or ENUM64), or nil.
    public func enumerators(named name: String) throws -> (size: Int, values: [(name: String, value: Int64)])? {
        guard let id = typeID(named: name, kind: .enumeration) ?? typeID(named: name, kind: .enumeration64) else { return nil }
        let t = try raw(id)
        var out: [(String, Int64)] = []
        for i in 0..<t.vlen {
            if t.kind == .enumeration64 {
                let v = t.enum64Value(i); out.append((self.name(v.nameOffset), Int64(bitPattern: v.value)))
            } else {
                let v = t.enumValue(i); out.append((self.name(v.nameOffset), v.value))
            }
        }
        return (Int(t.size), out)
    }
}
