import BPF
import InfraredSupport

/// The minimal BTF a set of objects' CO-RE relocations need from a target
/// kernel's BTF — what `bpftool gen min_core_btf` ("BTFGen") computes, so
/// a loader can ship a few kilobytes per kernel instead of the whole BTF.
///
/// Same algorithm and output as bpftool v7.1's `btfgen_*` functions in
/// gen.c: each relocation is matched against the target like libbpf would
/// (`CoreMatcher`), and the first matching candidate's types are marked:
///
/// - field relocations: the root type, each struct/union passed through with
///   only the members on the path, and each member's type (pointers kept,
///   but not what they point to);
/// - type relocations (`type_exists`, `type_size`, `target_type_id`): the
///   type and everything it refers to, through pointers, stopping at
///   structs/unions, which are kept without members;
/// - enum value relocations: the enum with all its values.
///
/// The output holds the marked types in target id order, with references
/// to unmarked types turned into `void`; the encoder lays it out as libbpf
/// does, so the file is byte-for-byte bpftool's.
public struct BTFCoreMinimizer {
    public let target: BTFSpec
    private var marked: [Bool]
    private var markedMembers: [BTFID: Set<Int>] = [:]
    /// Target type ids by essential name, for candidate search.
    private let candidatesByName: [Substring: [BTFID]]

    public init(target: BTFSpec) {
        self.target = target
        marked = [Bool](repeating: false, count: target.types.count)
        var byName: [Substring: [BTFID]] = [:]
        for (i, t) in target.types.enumerated() where i > 0 {
            let n = t.name
            if !n.isEmpty { byName[coreEssentialName(n), default: []].append(BTFID(i)) }
        }
        candidatesByName = byName
    }

    /// Records what one object's relocations need. `local` is the object's
    /// `.BTF`. Throws when a relocation is malformed or ambiguous, as
    /// bpftool and libbpf would refuse it.
    public mutating func record(_ relocations: [BTFCoreRelocation], local: BTFSpec) throws {
        // Candidates per local type, narrowed to the ones that matched, as
        // libbpf's and bpftool's candidate caches are (per object).
        var cache: [BTFID: [BTFID]] = [:]
        for r in relocations {
            guard let targetSpec = try resolve(r, local: local, cache: &cache) else { continue }
            try mark(targetSpec)
        }
    }

    /// `bpf_core_calc_relo_insn`: the target spec of the first matching
    /// candidate, nil when none matches (or the relocation needs no target).
    private func resolve(_ r: BTFCoreRelocation, local: BTFSpec, cache: inout [BTFID: [BTFID]]) throws -> CoreSpec? {
        let localSpec = try CoreMatcher.parseLocal(r, in: local)
        if r.kind == .typeIDLocal { return nil }
        let localType = local[r.localType]
        guard !localType.name.isEmpty else {
            throw BTFCoreRelocationError("\(r.kind) relocation of an anonymous type [\(r.localType)] (libbpf does not support it)")
        }
        var candidates = cache[r.localType] ?? (candidatesByName[coreEssentialName(localType.name)] ?? []).filter {
            coreKindsCompatible(target[$0], localType)
        }
        var first: (spec: CoreSpec, value: CoreRelocationValue)?
        var matched: [BTFID] = []
        for c in candidates {
            guard let spec = try CoreMatcher.match(localSpec, localBTF: local, target: target, c) else { continue }
            _ = try CoreMatcher.value(r, localSpec, in: local)
            let value = try CoreMatcher.value(r, spec, in: target)
            if let first {
                if spec.bitOffset != first.spec.bitOffset {
                    throw BTFCoreRelocationError("\(r.kind) [\(r.localType)] '\(r.accessString)': field offset ambiguity: \(spec.bitOffset) != \(first.spec.bitOffset)")
                }
                if value != first.value {
                    throw BTFCoreRelocationError("\(r.kind) [\(r.localType)] '\(r.accessString)': relocation decision ambiguity")
                }
            } else {
                first = (spec, value)
            }
            matched.append(c)
        }
        if !matched.isEmpty { candidates = matched }
        cache[r.localType] = candidates
        if first == nil {
            // libbpf still computes the no-candidate result; it can fail.
            _ = try CoreMatcher.value(r, localSpec, in: local)
            _ = try CoreMatcher.value(r, nil, in: target)
        }
        return first?.spec
    }

    /// `btfgen_record_reloc`
    private mutating func mark(_ spec: CoreSpec) throws {
        if spec.kind.isFieldBased {
            try markType(spec.rootType, followPointers: false)
            var id = spec.rootType
            for i in spec.raw.indices.dropFirst() {
                id = target.skippingModifiers(id)
                switch target[id] {
                case .structure(let c), .union(let c):
                    let index = spec.raw[i]
                    markedMembers[id, default: []].insert(index)
                    id = c.members[index].type
                    try markType(id, followPointers: false)
                case .array(let a):
                    id = a.element
                default:
                    throw BTFCoreRelocationError("unsupported kind \(target[id].kind) [\(id)] in a field access")
                }
            }
        } else if spec.kind == .typeIDTarget || spec.kind == .typeExists || spec.kind == .typeSize {
            try markType(spec.rootType, followPointers: true)
        } else if spec.kind.isEnumValueBased {
            try markType(spec.rootType, followPointers: false)
        }
    }

    /// `btfgen_mark_type`
    private mutating func markType(_ id: BTFID, followPointers: Bool, depth: Int = 0) throws {
        if id == 0 { return }
        guard depth < 512 else { throw BTFCoreRelocationError("type [\(id)]: references nest too deep") }
        marked[Int(id)] = true
        let t = target[id]
        switch t {
        case .void, .int, .float, .enumeration, .enumeration64, .structure, .union: break
        case .pointer(let p):
            if followPointers { try markType(p, followPointers: true, depth: depth + 1) }
        case .const(let x), .restrict(let x), .volatile(let x), .typedef(_, let x):
            try markType(x, followPointers: followPointers, depth: depth + 1)
        case .array(let a):
            try markType(a.element, followPointers: followPointers, depth: depth + 1)
            try markType(a.index, followPointers: followPointers, depth: depth + 1)
        case .functionProto(let p):
            try markType(p.returnType, followPointers: followPointers, depth: depth + 1)
            for param in p.parameters { try markType(param.type, followPointers: followPointers, depth: depth + 1) }
        default:
            throw BTFCoreRelocationError("unsupported kind: \(t.kind) (\(id))")
        }
    }

    /// `btfgen_get_btf`: the marked types, in target id order.
    public func minimalBTF() -> BTFSpec {
        var newID = [BTFID](repeating: 0, count: target.types.count)
        var kept: [BTFType] = []
        var next: BTFID = 1
        for id in 1..<target.types.count where marked[id] {
            newID[id] = next; next += 1
        }
        for id in 1..<target.types.count where marked[id] {
            var t = target.types[id]
            switch t {
            case .structure(let c), .union(let c):
                let keep = markedMembers[BTFID(id)] ?? []
                let members = c.members.enumerated().filter { keep.contains($0.offset) }.map(\.element)
                // btf__add_field sets kflag for a bitfield or an unaligned offset.
                let kflag = members.contains { $0.bitfieldSize != 0 || $0.bitOffset % 8 != 0 }
                let copy = BTFComposite(name: c.name, size: c.size, members: members, hasBitfieldEncoding: kflag)
                t = t.kind == .union ? .union(copy) : .structure(copy)
            default: break
            }
            kept.append(t.remappingTypes { newID[Int($0)] })
        }
        return BTFSpec(types: kept, pointerSize: target.pointerSize, source: "minimal BTF of \(target.source)")
    }
}

/// The `.BTF` string section of raw BTF bytes, for looking up strings by
/// offset (the access strings of `.BTF.ext` CO-RE relocations).
public struct BTFStringTable: Sendable {
    private let strings: [UInt8]

    /// Reads the header of `btf` (raw BTF) to find its string section.
    public init(btf: [UInt8], source: String = "BTF") throws {
        guard btf.count >= 24, btf.le16(0) == 0xeB9F else { throw BTFFormatError(source, "not BTF (bad magic)") }
        let hdr = Int(btf.le32(4)), off = Int(btf.le32(16)), len = Int(btf.le32(20))
        guard hdr >= 24, hdr + off + len <= btf.count, len > 0 else { throw BTFFormatError(source, "corrupt BTF header") }
        strings = Array(btf[(hdr + off)..<(hdr + off + len)])
    }

    /// The NUL-terminated string at `offset`.
    public func string(at offset: UInt32) throws -> String {
        guard Int(offset) < strings.count else {
            throw BTFFormatError("BTF", "string offset \(offset) is past the string section (\(strings.count) bytes)")
        }
        let start = Int(offset)
        let end = strings[start...].firstIndex(of: 0) ?? strings.count
        return String(decoding: strings[start..<end], as: UTF8.self)
    }
}
