/// `[BTFType]` → raw BTF (marshal), little-endian.
///
/// The layout is the one libbpf gives a BTF built with `btf__new_empty` and
/// `btf__add_*` (`btf__raw_data`): a 24-byte header, the types in id order,
/// then the strings, deduplicated, in the order they are first used (a
/// type's name, then its members', values' or parameters' names), after
/// the empty string at offset 0. So a spec with the same types as a libbpf
/// BTF encodes to the same bytes.
enum BTFEncoder {
    static func encode(_ types: [BTFType]) -> [UInt8] {
        var strings = StringTable()
        var body: [UInt8] = []
        body.reserveCapacity(types.count * 24)
        for t in types.dropFirst() { write(t, into: &body, strings: &strings) }
        var out: [UInt8] = []
        out.reserveCapacity(24 + body.count + strings.bytes.count)
        out.u16(BTFDecoder.magic); out.append(1); out.append(0)
        out.u32(24)
        out.u32(0); out.u32(UInt32(body.count))
        out.u32(UInt32(body.count)); out.u32(UInt32(strings.bytes.count))
        out += body
        out += strings.bytes
        return out
    }

    struct StringTable {
        var bytes: [UInt8] = [0]
        var offsets: [String: UInt32] = ["": 0]
        mutating func add(_ s: String) -> UInt32 {
            if let o = offsets[s] { return o }
            let o = UInt32(bytes.count)
            bytes += Array(s.utf8); bytes.append(0)
            offsets[s] = o
            return o
        }
    }

    private static func head(_ out: inout [UInt8], _ name: UInt32, kind: BTFKind, vlen: Int = 0, kflag: Bool = false, _ sizeOrType: UInt32) {
        out.u32(name)
        out.u32(UInt32(vlen & 0xffff) | kind.rawValue << 24 | (kflag ? 1 << 31 : 0))
        out.u32(sizeOrType)
    }

    private static func write(_ t: BTFType, into out: inout [UInt8], strings: inout StringTable) {
        switch t {
        case .void:
            head(&out, 0, kind: .void, 0)
        case .int(let i):
            head(&out, strings.add(i.name), kind: .int, i.size)
            out.u32(UInt32(i.encoding.rawValue) << 24 | UInt32(i.bitOffset) << 16 | UInt32(i.bits))
        case .pointer(let target):
            head(&out, 0, kind: .pointer, target)
        case .array(let a):
            head(&out, 0, kind: .array, 0)
            out.u32(a.element); out.u32(a.index); out.u32(a.count)
        case .structure(let c), .union(let c):
            head(&out, strings.add(c.name), kind: t.kind, vlen: c.members.count, kflag: c.hasBitfieldEncoding, c.size)
            for m in c.members {
                out.u32(strings.add(m.name)); out.u32(m.type)
                out.u32(c.hasBitfieldEncoding ? UInt32(m.bitfieldSize) << 24 | (m.bitOffset & 0x00ff_ffff) : m.bitOffset)
            }
        case .enumeration(let e), .enumeration64(let e):
            let is64 = t.kind == .enumeration64
            head(&out, strings.add(e.name), kind: t.kind, vlen: e.values.count, kflag: e.isSigned, e.size)
            for v in e.values {
                out.u32(strings.add(v.name))
                out.u32(UInt32(truncatingIfNeeded: v.rawValue))
                if is64 { out.u32(UInt32(truncatingIfNeeded: v.rawValue >> 32)) }
            }
        case .forward(let name, let isUnion):
            head(&out, strings.add(name), kind: .forward, kflag: isUnion, 0)
        case .typedef(let name, let target):
            head(&out, strings.add(name), kind: .typedef, target)
        case .volatile(let target):
            head(&out, 0, kind: .volatile, target)
        case .const(let target):
            head(&out, 0, kind: .const, target)
        case .restrict(let target):
            head(&out, 0, kind: .restrict, target)
        case .function(let f):
            head(&out, strings.add(f.name), kind: .function, vlen: Int(f.linkage), f.proto)
        case .functionProto(let p):
            head(&out, 0, kind: .functionProto, vlen: p.parameters.count, p.returnType)
            for param in p.parameters { out.u32(strings.add(param.name)); out.u32(param.type) }
        case .variable(let v):
            head(&out, strings.add(v.name), kind: .variable, v.type)
            out.u32(v.linkage)
        case .dataSection(let d):
            head(&out, strings.add(d.name), kind: .dataSection, vlen: d.entries.count, d.size)
            for e in d.entries { out.u32(e.type); out.u32(e.offset); out.u32(e.size) }
        case .float(let name, let size):
            head(&out, strings.add(name), kind: .float, size)
        case .declTag(let name, let target, let component):
            head(&out, strings.add(name), kind: .declTag, target)
            out.u32(UInt32(bitPattern: component))
        case .typeTag(let name, let target):
            head(&out, strings.add(name), kind: .typeTag, target)
        }
    }
}

extension Array where Element == UInt8 {
    /// Appends `v` little-endian.
    mutating func u16(_ v: UInt16) { append(UInt8(v & 0xff)); append(UInt8(v >> 8)) }
    /// Appends `v` little-endian.
    mutating func u32(_ v: UInt32) {
        append(UInt8(v & 0xff)); append(UInt8((v >> 8) & 0xff)); append(UInt8((v >> 16) & 0xff)); append(UInt8(v >> 24))
    }
}
