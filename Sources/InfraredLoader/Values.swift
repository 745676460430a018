import BPF
import InfraredObject

/// A value of the probe language's types, decoded from kernel bytes: what a
/// record field, a map key or a map value holds in user space.
public indirect enum Value: Equatable, Sendable {
    case unsigned(UInt64)
    case signed(Int64)
    case bool(Bool)
    /// A `char[N]` up to its first NUL.
    case string(String)
    /// A struct: fields in declaration order.
    case record(String, [(String, Value)])
    /// Bytes of a type the manifest does not describe.
    case bytes([UInt8])

    public static func == (a: Value, b: Value) -> Bool {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)): return x == y
        case (.signed(let x), .signed(let y)): return x == y
        case (.bool(let x), .bool(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.bytes(let x), .bytes(let y)): return x == y
        case (.record(let n, let f), .record(let m, let g)):
            return n == m && f.count == g.count && zip(f, g).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value as a signed integer, for sorting and sums (strings: 0).
    public var integer: Int64 {
        switch self {
        case .unsigned(let v): return Int64(bitPattern: v)
        case .signed(let v): return v
        case .bool(let b): return b ? 1 : 0
        default: return 0
        }
    }

    public var isZero: Bool {
        switch self {
        case .unsigned(let v): return v == 0
        case .signed(let v): return v == 0
        case .bool(let b): return !b
        case .string(let s): return s.isEmpty
        case .record(_, let f): return f.allSatisfy { $0.1.isZero }
        case .bytes(let b): return b.allSatisfy { $0 == 0 }
        }
    }

    // MARK: text

    /// `field=value …` for records, the bare value otherwise; strings that
    /// need it are quoted (logfmt), so a line splits back into its fields.
    public var text: String {
        switch self {
        case .unsigned(let v): return String(v)
        case .signed(let v): return String(v)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return Value.logfmtQuoted(s)
        case .bytes(let b): return b.hexString
        case .record(_, let fields): return fields.map { "\($0.0)=\($0.1.nestedText)" }.joined(separator: " ")
        }
    }

    /// Inside a record: nested records in braces.
    var nestedText: String {
        if case .record = self { return "{" + text + "}" }
        return text
    }

    static func logfmtQuoted(_ s: String) -> String {
        let needsQuotes = s.isEmpty || s.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } == true }
        return needsQuotes ? JSON.quoted(s) : s
    }

    // MARK: JSON

    /// The value as JSON text (records as objects, fields in order).
    public var json: String {
        switch self {
        case .unsigned(let v): return String(v)
        case .signed(let v): return String(v)
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return JSON.quoted(s)
        case .bytes(let b): return JSON.quoted(b.hexString)
        case .record(_, let fields): return "{" + fields.map { JSON.quoted($0.0) + ":" + $0.1.json }.joined(separator: ",") + "}"
        }
    }
}

enum JSON {
    /// A JSON string literal (RFC 8259 escapes).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7f:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}

/// Decodes and encodes the manifest's types.
public struct TypeCodec: Sendable {
    public let manifest: LoaderManifest

    public init(manifest: LoaderManifest) { self.manifest = manifest }

    /// Reads a `size`-byte little-endian integer at `offset`.
    static func integer(_ b: UnsafeRawBufferPointer, _ offset: Int, _ size: Int, signed: Bool) -> Value {
        var v: UInt64 = 0
        for i in 0..<size where offset + i < b.count { v |= UInt64(b[offset + i]) << (8 * UInt64(i)) }
        if signed {
            let shift = UInt64(64 - 8 * size)
            return .signed(Int64(bitPattern: v << shift) >> Int64(shift))
        }
        return .unsigned(v)
    }

    static func string(_ b: UnsafeRawBufferPointer, _ offset: Int, _ count: Int) -> String {
        let end = min(offset + count, b.count)
        guard offset < end else { return "" }
        var stop = offset
        while stop < end && b[stop] != 0 { stop += 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: b[offset..<stop]), as: UTF8.self)
    }

    /// Decodes a value of type `type` (`u32`, `chars`, a struct…) of `size` bytes.
    public func decode(_ bytes: [UInt8], type: LoaderManifest.DataType?, size: Int? = nil) -> Value {
        bytes.withUnsafeBytes { decode($0, at: 0, type: type, size: size ?? bytes.count, count: nil) }
    }

    func decode(_ b: UnsafeRawBufferPointer, at offset: Int, type: LoaderManifest.DataType?, size: Int, count: Int?) -> Value {
        switch type {
        case nil: return .bytes(Array(b))
        case .scalar(.bool)?: return .bool(offset < b.count && b[offset] != 0)
        case .chars?: return .string(Self.string(b, offset, count ?? size))
        case .scalar(let s)?: return Self.integer(b, offset, s.size, signed: s.signed)
        case .structure(let name)?: if let st = manifest.structNamed(name) { return decode(b, at: offset, structure: st) }
        }
        return .bytes(Array(UnsafeRawBufferPointer(rebasing: b[min(offset, b.count)..<min(offset + size, b.count)])))
    }

    public func decode(_ bytes: [UInt8], structure: LoaderManifest.Struct) -> Value {
        bytes.withUnsafeBytes { decode($0, at: 0, structure: structure) }
    }

    func decode(_ b: UnsafeRawBufferPointer, at offset: Int, structure: LoaderManifest.Struct) -> Value {
        .record(structure.name, structure.fields.map { f in
            (f.name, decode(b, at: offset + f.offset, type: f.type, size: f.size, count: f.count))
        })
    }

    /// The size of a type, when known.
    public func size(of type: LoaderManifest.DataType?) -> Int? {
        switch type {
        case .scalar(let s)?: return s.size
        case .structure(let name)?: return manifest.structNamed(name)?.size
        case .chars?, nil: return nil
        }
    }

    /// Encodes `value` as `size` bytes of `type`; throws when it does not fit.
    public func encode(_ value: HostValue, type: LoaderManifest.DataType?, size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        try encode(value, type: type, into: &out, at: 0, size: size, count: nil)
        return out
    }

    func encode(_ value: HostValue, type: LoaderManifest.DataType?, into out: inout [UInt8], at offset: Int, size: Int, count: Int?) throws {
        func put(_ v: UInt64, _ n: Int) { for i in 0..<n where offset + i < out.count { out[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
        guard let type else { throw ValueError("cannot write values of type bytes") }
        if type == .chars || (type == .scalar(.char) && value.stringValue != nil && count != nil) {
            guard let s = value.stringValue else { throw ValueError("expected a String for a char[\(count ?? size)]") }
            let bytes = Array(s.utf8.prefix((count ?? size)))
            for (i, b) in bytes.enumerated() { out[offset + i] = b }
            return
        }
        if case .scalar(let s) = type {
            let v: Int64
            switch value {
            case .int(let i): v = i
            case .bool(let b): v = b ? 1 : 0
            case .nil: v = 0
            case .string(let str) where s == .char && str.utf8.count == 1: v = Int64(str.utf8.first!)
            default: throw ValueError("expected an Integer for \(type), got \(value)")
            }
            guard Self.fits(v, size: s.size, signed: s.signed) else { throw ValueError("\(v) is out of range for \(type)") }
            put(UInt64(bitPattern: v), s.size)
            return
        }
        if case .structure(let name) = type, let st = manifest.structNamed(name) {
            switch value {
            case .array(let items):
                guard items.count == st.fields.count else { throw ValueError("struct \(st.name) has \(st.fields.count) fields, got \(items.count) values") }
                for (f, item) in zip(st.fields, items) { try encode(item, type: f.type, into: &out, at: offset + f.offset, size: f.size, count: f.count) }
            case .hash(let pairs):
                for (k, v) in pairs {
                    guard let name = k.stringValue, let f = st.fields.first(where: { $0.name == name }) else {
                        throw ValueError("struct \(st.name) has no field \(k)")
                    }
                    try encode(v, type: f.type, into: &out, at: offset + f.offset, size: f.size, count: f.count)
                }
            default: throw ValueError("expected a \(st.name) (or an Array or Hash of its fields), got \(value)")
            }
            return
        }
        throw ValueError("cannot write values of type \(type)")
    }

    /// Whether `v` is representable in `size` bytes (unsigned types accept
    /// 0…2^n-1; a u64 takes any Int64 bit pattern ≥ 0).
    static func fits(_ v: Int64, size: Int, signed: Bool) -> Bool {
        if size == 8 { return signed || v >= 0 }
        let bits = Int64(size * 8)
        return signed ? (v >= -(1 << (bits - 1)) && v < (1 << (bits - 1))) : (v >= 0 && v < (1 << bits))
    }
}

/// A Ruby value as the host sees it (from the hooks' VM).
public indirect enum HostValue: CustomStringConvertible {
    case `nil`
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case array([HostValue])
    case hash([(HostValue, HostValue)])
    case other

    var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var description: String {
        switch self {
        case .nil: return "nil"
        case .bool(let b): return String(b)
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .string(let s): return JSON.quoted(s)
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .hash(let h): return "{" + h.map { "\($0.0) => \($0.1)" }.joined(separator: ", ") + "}"
        case .other: return "(object)"
        }
    }
}

struct ValueError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
