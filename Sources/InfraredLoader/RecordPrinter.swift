/// Prints records of one struct type straight from the ring buffer's bytes
/// into the output buffer, as `Value.text`/`Value.json` would, without
/// building values or strings: the path every record takes when no hook
/// wants it, so its cost bounds the records a loader keeps up with.
final class RecordPrinter {
    enum Kind {
        case unsigned(Int)
        case signed(Int)
        case bool
        case chars(Int)
        /// Anything else (nested structs): through `TypeCodec`.
        case value(type: String, size: Int, count: Int?)
    }
    struct Field {
        var prefix: [UInt8]
        var offset: Int
        var kind: Kind
    }
    /// `{` (JSON), plus the map's name when several maps stream records.
    let head: [UInt8]
    let fields: [Field]
    let json: Bool
    let codec: TypeCodec
    let size: Int

    init(structure: LoaderManifest.Struct, codec: TypeCodec, json: Bool, mapField: String?) {
        self.json = json
        self.codec = codec
        self.size = structure.size
        var out: [Field] = []
        var head = json ? "{" : ""
        if let mapField { head += json ? "\"map\":\(JSON.quoted(mapField))" : "map=\(Value.logfmtQuoted(mapField))" }
        self.head = Array(head.utf8)
        for (i, f) in structure.fields.enumerated() {
            let first = i == 0 && mapField == nil
            let prefix = json ? (first ? "" : ",") + JSON.quoted(f.name) + ":" : (first ? "" : " ") + f.name + "="
            let kind: Kind
            if f.type == "chars" { kind = .chars(f.count ?? f.size) }
            else if f.type == "bool" { kind = .bool }
            else if let s = TypeCodec.scalars[f.type] { kind = s.signed ? .signed(s.size) : .unsigned(s.size) }
            else { kind = .value(type: f.type, size: f.size, count: f.count) }
            out.append(Field(prefix: Array(prefix.utf8), offset: f.offset, kind: kind))
        }
        fields = out
    }

    func write(_ p: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.append(contentsOf: head)
        fields.withUnsafeBufferPointer { fields in
        for i in fields.indices {
            let f = fields[i]
            out.append(contentsOf: f.prefix)
            switch f.kind {
            case .unsigned(let n): Self.decimal(Self.load(p, f.offset, n), negative: false, into: &out)
            case .signed(let n):
                let raw = Self.load(p, f.offset, n)
                let shift = UInt64(64 - 8 * n)
                let v = Int64(bitPattern: raw << shift) >> Int64(shift)
                Self.decimal(v < 0 ? UInt64(bitPattern: 0 &- v) : UInt64(v), negative: v < 0, into: &out)
            case .bool:
                out.append(contentsOf: (f.offset < p.count && p[f.offset] != 0) ? Self.trueBytes : Self.falseBytes)
            case .chars(let count):
                let start = min(f.offset, p.count), end = min(f.offset + count, p.count)
                var stop = start
                var plain = true
                while stop < end && p[stop] != 0 {
                    let c = p[stop]
                    if c < 0x20 || c == 0x7f || c == 0x22 || c == 0x5c || c >= 0x80 || (!json && (c == 0x20 || c == 0x3d)) { plain = false }
                    stop += 1
                }
                let bytes = UnsafeRawBufferPointer(rebasing: p[start..<stop])
                if plain && (json || stop > start) {
                    if json { out.append(0x22) }
                    out.append(contentsOf: bytes)
                    if json { out.append(0x22) }
                } else {
                    let s = String(decoding: bytes, as: UTF8.self)
                    out.append(contentsOf: (json ? JSON.quoted(s) : Value.logfmtQuoted(s)).utf8)
                }
            case .value(let type, let size, let count):
                let v = codec.decode(p, at: f.offset, type: type, size: size, count: count)
                out.append(contentsOf: (json ? v.json : v.nestedText).utf8)
            }
        }
        }
        if json { out.append(0x7d) }
        out.append(0x0a)
    }

    static let trueBytes = Array("true".utf8), falseBytes = Array("false".utf8)

    @inline(__always) static func load(_ p: UnsafeRawBufferPointer, _ offset: Int, _ n: Int) -> UInt64 {
        guard offset + n <= p.count else { return 0 }
        switch n {
        case 1: return UInt64(p[offset])
        case 2: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self).littleEndian)
        case 4: return UInt64(p.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
        default: return p.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian
        }
    }

    @inline(__always) static func decimal(_ v: UInt64, negative: Bool, into out: inout [UInt8]) {
        if negative { out.append(0x2d) }
        if v < 10 { out.append(0x30 + UInt8(v)); return }
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)   // 20 digits fit in 32 bytes
        var n = 0
        var x = v
        withUnsafeMutableBytes(of: &digits) { buf in
            while x > 0 { buf[n] = 0x30 + UInt8(x % 10); x /= 10; n += 1 }
            for i in stride(from: n - 1, through: 0, by: -1) { out.append(buf[i]) }
        }
    }
}
