// CO-RE relocations matched against a target BTF: which target types and
// members a relocation would use, and what value it would produce.
//
// Pure Swift and a pure function of (object BTF, relocation, target BTF).
// It mirrors libbpf v1.1's relo_core.c — bpf_core_parse_spec,
// bpf_core_spec_match, bpf_core_match_member, bpf_core_fields_are_compat,
// __bpf_core_types_are_compat, bpf_core_calc_relo — and libbpf.c's
// bpf_core_add_cands / bpf_core_essential_name_len, so that what it decides
// is what libbpf will decide when it loads the object.

import BPF

/// One CO-RE relocation of an object (`struct bpf_core_relo`), with its
/// access string already looked up in the object's `.BTF` strings.
public struct BTFCoreRelocation: Hashable, Sendable {
    /// `insn_off`, in bytes from the start of the program's section.
    public var instructionOffset: UInt32
    /// `type_id`: the root type in the object's BTF.
    public var localType: BTFID
    /// The access string ("0:1:2", or "0" for type-based relocations).
    public var accessString: String
    public var kind: CoreRelocationKind
    public init(instructionOffset: UInt32, localType: BTFID, accessString: String, kind: CoreRelocationKind) {
        self.instructionOffset = instructionOffset; self.localType = localType
        self.accessString = accessString; self.kind = kind
    }
}

/// A CO-RE relocation that cannot be processed (libbpf would refuse it too).
public struct BTFCoreRelocationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "CO-RE relocation: \(message)" }
}

/// `struct bpf_core_spec`: an access string resolved in one BTF.
struct CoreSpec {
    /// `struct bpf_core_accessor`: a named member, or an array index (name nil).
    struct Accessor { var type: BTFID; var index: Int; var name: String? }
    var rootType: BTFID
    var kind: CoreRelocationKind
    /// High-level accessors (named members and indices).
    var accessors: [Accessor] = []
    /// Low-level spec: every index, anonymous members included.
    var raw: [Int] = []
    var bitOffset = 0
    static let maxLength = 64  // BPF_CORE_SPEC_MAX_LEN
}

/// libbpf's `bpf_core_essential_name_len`: `name` without a `___flavor` suffix.
func coreEssentialName(_ name: String) -> Substring {
    guard name.utf8.count >= 5 else { return Substring(name) }
    let u = Array(name.utf8)
    var i = u.count - 5
    while i >= 0 {
        if u[i] != 95, u[i + 1] == 95, u[i + 2] == 95, u[i + 3] == 95, u[i + 4] != 95 {
            return Substring(String(decoding: u[...i], as: UTF8.self))
        }
        i -= 1
    }
    return Substring(name)
}

/// `btf_kind_core_compat`: same kind, or both (64-bit or not) enums.
func coreKindsCompatible(_ a: BTFType, _ b: BTFType) -> Bool {
    a.kind == b.kind || (a.kind.isAnyEnum && b.kind.isAnyEnum)
}

extension BTFKind {
    var isAnyEnum: Bool { self == .enumeration || self == .enumeration64 }
}

/// The value a relocation resolves to (`struct bpf_core_relo_res`, reduced
/// to what decides ambiguity): the new value, or poisoning.
struct CoreRelocationValue: Equatable { var value: UInt64; var poison: Bool }

enum CoreMatcher {
    /// `bpf_core_parse_spec`: the relocation's access string on the object's BTF.
    static func parseLocal(_ r: BTFCoreRelocation, in btf: BTFSpec) throws -> CoreSpec {
        func fail(_ m: String) -> BTFCoreRelocationError {
            BTFCoreRelocationError("[\(r.localType)] \(r.kind) '\(r.accessString)' at insn #\(r.instructionOffset / 8): \(m)")
        }
        guard btf.type(r.localType) != nil else { throw fail("type id out of range") }
        guard let first = r.accessString.first, first != ":" else { throw fail("bad access string") }
        var spec = CoreSpec(rootType: r.localType, kind: r.kind)
        if r.kind.isTypeBased {
            guard r.accessString == "0" else { throw fail("type-based relocation with access string other than 0") }
            return spec
        }
        for part in r.accessString.split(separator: ":", omittingEmptySubsequences: false) {
            guard let i = Int32(part.drop(while: { $0 == " " })) else { throw fail("bad access string") }
            guard spec.raw.count < CoreSpec.maxLength else { throw fail("access string too long") }
            spec.raw.append(Int(i))
        }
        var id = btf.skippingModifiers(r.localType)
        let root = btf[id]
        spec.accessors = [.init(type: id, index: spec.raw[0], name: nil)]
        if r.kind.isEnumValueBased {
            guard let e = root.enumPayload, spec.raw.count == 1, spec.raw[0] >= 0, spec.raw[0] < e.values.count else { throw fail("not an enumerator") }
            spec.accessors[0].name = e.values[spec.raw[0]].name
            return spec
        }
        guard r.kind.isFieldBased else { throw fail("unknown relocation kind") }
        guard let size = btf.size(of: id) else { throw fail("root type has no size") }
        spec.bitOffset = spec.raw[0] * size * 8
        for i in 1..<spec.raw.count {
            id = btf.skippingModifiers(id)
            let t = btf[id], index = spec.raw[i]
            if t.kind.isComposite {
                let members = t.members
                guard index >= 0, index < members.count else { throw fail("member index \(index) out of range") }
                let m = members[index]
                spec.bitOffset += Int(m.bitOffset)
                if !m.name.isEmpty { spec.accessors.append(.init(type: id, index: index, name: m.name)) }
                id = m.type
            } else if case .array(let a) = t {
                let element = btf.skippingModifiers(a.element)
                let flex = isFlexibleArray(btf, spec.accessors.last!, a)
                guard index >= 0, flex || index < Int(a.count) else { throw fail("array index \(index) out of range") }
                spec.accessors.append(.init(type: element, index: index, name: nil))
                guard let size = btf.size(of: element) else { throw fail("array element has no size") }
                spec.bitOffset += index * size * 8
                id = element
            } else {
                throw fail("step \(i) reaches a \(t.kind)")
            }
        }
        return spec
    }

    /// `is_flex_arr`: a zero-length array that is the last member of its struct.
    static func isFlexibleArray(_ btf: BTFSpec, _ holder: CoreSpec.Accessor, _ a: BTFArray) -> Bool {
        guard holder.name != nil, a.count == 0 else { return false }
        return holder.index == btf[holder.type].members.count - 1
    }

    /// `bpf_core_spec_match`: the target spec if `local` matches type `targetID`.
    static func match(_ local: CoreSpec, localBTF: BTFSpec, target: BTFSpec, _ targetID: BTFID) throws -> CoreSpec? {
        var spec = CoreSpec(rootType: targetID, kind: local.kind)
        if local.kind.isTypeBased {
            if local.kind == .typeMatches {
                throw BTFCoreRelocationError("type_matches relocations (bpf_core_type_matches) are not supported")
            }
            return try typesAreCompatible(localBTF, local.rootType, target, targetID, level: 32) ? spec : nil
        }
        if local.kind.isEnumValueBased {
            let id = target.skippingModifiers(targetID)
            guard let e = target[id].enumPayload else { return nil }
            let want = coreEssentialName(local.accessors[0].name!)
            for (i, v) in e.values.enumerated() where coreEssentialName(v.name) == want {
                spec.accessors = [.init(type: id, index: i, name: v.name)]
                spec.raw = [i]
                return spec
            }
            return nil
        }
        var targetID = targetID
        for (i, acc) in local.accessors.enumerated() {
            targetID = target.skippingModifiers(targetID)
            if acc.name != nil {
                var next: BTFID = 0
                guard try matchMember(localBTF, acc, target, targetID, &spec, &next) else { return nil }
                targetID = next
            } else {
                if i > 0 {
                    guard case .array(let a) = target[targetID] else { return nil }
                    let flex = isFlexibleArray(target, spec.accessors.last!, a)
                    if !flex && acc.index >= Int(a.count) { return nil }
                    targetID = target.skippingModifiers(a.element)
                }
                guard spec.raw.count < CoreSpec.maxLength else { throw BTFCoreRelocationError("access too deep") }
                spec.accessors.append(.init(type: targetID, index: acc.index, name: nil))
                spec.raw.append(acc.index)
                guard let size = target.size(of: targetID) else { throw BTFCoreRelocationError("target type [\(targetID)] has no size") }
                spec.bitOffset += acc.index * size * 8
            }
        }
        return spec
    }

    /// `bpf_core_match_member`: finds the member named as `local`'s in
    /// composite `targetID`, searching anonymous members depth-first, and
    /// extends `spec` with the path to it.
    static func matchMember(_ localBTF: BTFSpec, _ local: CoreSpec.Accessor, _ target: BTFSpec, _ targetID: BTFID,
                            _ spec: inout CoreSpec, _ next: inout BTFID) throws -> Bool {
        let id = target.skippingModifiers(targetID)
        guard target[id].kind.isComposite else { return false }
        let localMember = localBTF[local.type].members[local.index]
        for (i, m) in target[id].members.enumerated() {
            guard spec.raw.count < CoreSpec.maxLength else { throw BTFCoreRelocationError("access too deep") }
            spec.bitOffset += Int(m.bitOffset)
            spec.raw.append(i)
            if m.name.isEmpty {
                if try matchMember(localBTF, local, target, m.type, &spec, &next) { return true }
            } else if m.name == localMember.name {
                spec.accessors.append(.init(type: id, index: i, name: m.name))
                next = m.type
                let compatible = try fieldsAreCompatible(localBTF, localMember.type, target, m.type)
                if !compatible { spec.accessors.removeLast() }
                return compatible
            }
            spec.bitOffset -= Int(m.bitOffset)
            spec.raw.removeLast()
        }
        return false
    }

    /// `bpf_core_fields_are_compat`
    static func fieldsAreCompatible(_ lb: BTFSpec, _ l: BTFID, _ tb: BTFSpec, _ t: BTFID) throws -> Bool {
        var l = l, t = t
        for _ in 0..<64 {
            l = lb.skippingModifiers(l); t = tb.skippingModifiers(t)
            let lt = lb[l], tt = tb[t]
            if lt.kind.isComposite && tt.kind.isComposite { return true }
            if !coreKindsCompatible(lt, tt) { return false }
            switch lt {
            case .pointer, .float: return true
            case .forward, .enumeration, .enumeration64:
                let ln = coreEssentialName(lt.name), tn = coreEssentialName(tt.name)
                return ln.isEmpty || tn.isEmpty || ln == tn
            case .int(let li):
                guard case .int(let ti) = tt else { return false }
                return li.bitOffset == 0 && ti.bitOffset == 0
            case .array(let la):
                guard case .array(let ta) = tt else { return false }
                l = la.element; t = ta.element
            default: return false
            }
        }
        throw BTFCoreRelocationError("type nesting too deep")
    }

    /// `__bpf_core_types_are_compat`
    static func typesAreCompatible(_ lb: BTFSpec, _ l: BTFID, _ tb: BTFSpec, _ t: BTFID, level: Int) throws -> Bool {
        var l = l, t = t
        if !coreKindsCompatible(lb[l], tb[t]) { return false }
        var depth = 32
        while true {
            depth -= 1
            if depth < 0 { throw BTFCoreRelocationError("type nesting too deep") }
            l = lb.skippingModifiers(l); t = tb.skippingModifiers(t)
            let lt = lb[l], tt = tb[t]
            if !coreKindsCompatible(lt, tt) { return false }
            switch lt {
            case .void, .structure, .union, .enumeration, .forward, .enumeration64: return true
            case .int(let li):
                guard case .int(let ti) = tt else { return false }
                return li.bitOffset == 0 && ti.bitOffset == 0
            case .pointer(let lp):
                guard case .pointer(let tp) = tt else { return false }
                l = lp; t = tp
            case .array(let la):
                guard case .array(let ta) = tt else { return false }
                l = la.element; t = ta.element
            case .functionProto(let lp):
                guard case .functionProto(let tp) = tt, lp.parameters.count == tp.parameters.count else { return false }
                for (a, b) in zip(lp.parameters, tp.parameters) {
                    if level <= 0 { throw BTFCoreRelocationError("type nesting too deep") }
                    if !(try typesAreCompatible(lb, lb.skippingModifiers(a.type), tb, tb.skippingModifiers(b.type), level: level - 1)) {
                        return false
                    }
                }
                l = lb.skippingModifiers(lp.returnType); t = tb.skippingModifiers(tp.returnType)
            default: return false
            }
        }
    }

    /// `bpf_core_calc_relo` for one side: the value `spec` gives (nil spec:
    /// no candidate matched).
    static func value(_ r: BTFCoreRelocation, _ spec: CoreSpec?, in btf: BTFSpec) throws -> CoreRelocationValue {
        func fail(_ m: String) -> BTFCoreRelocationError { BTFCoreRelocationError("\(r.kind) at insn #\(r.instructionOffset / 8): \(m)") }
        let poison = CoreRelocationValue(value: 0, poison: true)
        if r.kind.isFieldBased {
            if r.kind == .fieldExists { return .init(value: spec == nil ? 0 : 1, poison: false) }
            guard let spec else { return poison }
            let acc = spec.accessors[spec.accessors.count - 1]
            if acc.name == nil {
                switch r.kind {
                case .fieldByteOffset:
                    guard btf.size(of: acc.type) != nil else { throw fail("element has no size") }
                    return .init(value: UInt64(spec.bitOffset / 8), poison: false)
                case .fieldByteSize:
                    guard let s = btf.size(of: acc.type) else { throw fail("element has no size") }
                    return .init(value: UInt64(s), poison: false)
                default: throw fail("can't be applied to array access")
                }
            }
            let composite = btf[acc.type]
            let m = composite.members[acc.index]
            let fieldID = btf.skippingModifiers(m.type)
            let mt = btf[fieldID]
            let bitOffset = spec.bitOffset
            var bitSize = Int(m.bitfieldSize)
            var byteOffset: Int, byteSize: Int
            if bitSize > 0 {
                byteSize = Int(mt.rawSize)
                guard byteSize > 0 else { throw fail("bitfield of a sizeless type") }
                byteOffset = bitOffset / 8 / byteSize * byteSize
                while bitOffset + bitSize - byteOffset * 8 > byteSize * 8 {
                    if byteSize >= 8 { throw fail("bitfield can't be read with a 64-bit load") }
                    byteSize *= 2
                    byteOffset = bitOffset / 8 / byteSize * byteSize
                }
            } else {
                guard let s = btf.size(of: fieldID) else { throw fail("field has no size") }
                byteSize = s; byteOffset = bitOffset / 8; bitSize = s * 8
            }
            let v: Int
            switch r.kind {
            case .fieldByteOffset: v = byteOffset
            case .fieldByteSize: v = byteSize
            case .fieldSigned:
                switch mt {
                case .int(let i): v = i.isSigned ? 1 : 0
                case .enumeration(let e), .enumeration64(let e): v = e.isSigned ? 1 : 0
                default: v = 0
                }
            case .fieldLShiftU64: v = 64 - (bitOffset + bitSize - byteOffset * 8)
            default: v = 64 - bitSize
            }
            return .init(value: UInt64(bitPattern: Int64(v)), poison: false)
        }
        if r.kind.isTypeBased {
            guard let spec else { return .init(value: 0, poison: false) }
            switch r.kind {
            case .typeIDTarget: return .init(value: UInt64(spec.rootType), poison: false)
            case .typeExists, .typeMatches: return .init(value: 1, poison: false)
            case .typeSize:
                guard let s = btf.size(of: spec.rootType) else { throw fail("type has no size") }
                return .init(value: UInt64(s), poison: false)
            default: throw fail("unsupported")
            }
        }
        if r.kind.isEnumValueBased {
            if r.kind == .enumValueExists { return .init(value: spec == nil ? 0 : 1, poison: false) }
            guard let spec else { return poison }
            let t = btf[spec.accessors[0].type]
            let e = t.enumPayload!
            let raw = e.values[spec.accessors[0].index].rawValue
            // An ENUM's __s32 value is sign-extended into the u64 result.
            let v = t.kind == .enumeration ? UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: raw))) : raw
            return .init(value: v, poison: false)
        }
        throw fail("unrecognized relocation kind")
    }
}

extension BTFType {
    /// The payload of an ENUM or ENUM64.
    var enumPayload: BTFEnum? {
        switch self {
        case .enumeration(let e), .enumeration64(let e): return e
        default: return nil
        }
    }

    /// `btf_type.size` for the kinds that have one (0 otherwise).
    var rawSize: UInt32 {
        switch self {
        case .int(let i): return i.size
        case .structure(let c), .union(let c): return c.size
        case .enumeration(let e), .enumeration64(let e): return e.size
        case .dataSection(let d): return d.size
        case .float(_, let s): return s
        default: return 0
        }
    }
}
