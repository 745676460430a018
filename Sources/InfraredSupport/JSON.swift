/// JSON without Foundation: a pull reader, so the loader runner reads its
/// manifest (written by Foundation's `JSONEncoder` in `infrared gen loader`)
/// without linking Foundation (3.6 MB of the runner, Benchmarks/footprint.sh)
/// and without `Codable`'s dispatch.
///
/// Why not a `Decoder`: the runner had one, over a parsed tree. A manifest of
/// 100 programs and 100 maps (34 KB) took 2.5 ms to decode, three quarters
/// of it in `Codable`'s machinery (keyed-container boxes, existential
/// decoders, generic metadata looked up per call), where reading the same
/// document member by member takes a tenth of that. The types a loader reads
/// say how, member by member (InfraredObject/ManifestReading.swift), and a
/// test holds them to what `JSONDecoder` makes of the same document.
///
/// Follows RFC 8259 and reads values as Foundation's `JSONDecoder` with its
/// default strategies does: a number reads as an integer only when it is one
/// exactly (`1e2`, `1.0`), a member named twice is the last one, unknown
/// members are skipped (still checked to be JSON).

/// Why a document does not read: the message and the byte offset.
public struct JSONError: Error, CustomStringConvertible, Sendable {
    public var offset: Int
    public var message: String
    public var description: String { "JSON: \(message) at byte \(offset)" }
    public init(offset: Int, message: String) { self.offset = offset; self.message = message }
}

@usableFromInline struct JSONParser {
    /// The document, valid for the read (`JSONReader.read` holds the array).
    @usableFromInline let bytes: UnsafeBufferPointer<UInt8>
    @usableFromInline var at = 0

    @usableFromInline init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    @usableFromInline func error(_ message: String) -> JSONError { JSONError(offset: at, message: message) }

    @usableFromInline mutating func skipSpace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0a || bytes[at] == 0x0d || bytes[at] == 0x09 { at += 1 }
    }

    /// `bytes[start..<end]`, known to be UTF-8 (ASCII, or validated), as a
    /// String: from a buffer, not a slice (the slice takes a generic path).
    func text(_ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    /// An integer written as plain digits (`-?[1-9][0-9]*` or `0`, at most
    /// 18 digits: what `JSONEncoder` writes), read in place; nil, having
    /// read nothing, for any other number (`number()` then reads it).
    @usableFromInline mutating func plainInteger() -> Int64? {
        var i = at
        let negative = i < bytes.count && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let first = i
        var value: Int64 = 0
        while i < bytes.count, i - first < 18, case let d = bytes[i] &- UInt8(ascii: "0"), d < 10 {
            value = value * 10 + Int64(d)
            i += 1
        }
        guard i > first, i - first == 1 || bytes[first] != UInt8(ascii: "0") else { return nil }
        if i < bytes.count {
            let b = bytes[i]
            guard !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b), b != UInt8(ascii: "."), b != UInt8(ascii: "e"), b != UInt8(ascii: "E") else { return nil }
        }
        at = i
        return negative ? -value : value
    }

    @usableFromInline mutating func expect(_ byte: UInt8) throws {
        guard at < bytes.count, bytes[at] == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
        at += 1
    }

    @usableFromInline mutating func expect(_ word: String) throws {
        for b in word.utf8 {
            guard at < bytes.count, bytes[at] == b else { throw error("expected '\(word)'") }
            at += 1
        }
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    @usableFromInline mutating func number() throws -> String {
        let start = at
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.at
            while p.at < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.at]) { p.at += 1 }
            return p.at - s
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
        let first = at
        guard digits(&self) > 0 else { throw error("unexpected character") }
        guard bytes[first] != UInt8(ascii: "0") || at - first == 1 else { throw error("a number with a leading zero") }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard digits(&self) > 0 else { throw error("expected digits after '.'") }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard digits(&self) > 0 else { throw error("expected digits in the exponent") }
        }
        return text(start, at)
    }

    mutating func hex4() throws -> UInt32 {
        guard at + 4 <= bytes.count else { throw error("unexpected end of a \\u escape") }
        var v: UInt32 = 0
        for b in bytes[at..<at + 4] {
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw error("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
        }
        at += 4
        return v
    }

    /// A member name (at its opening quote): its bytes in the document when
    /// it is ASCII without escapes, else decoded.
    @usableFromInline mutating func key() throws -> JSONKey {
        let start = at + 1
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                at = i + 1
                return JSONKey(raw: UnsafeBufferPointer(rebasing: bytes[start..<i]), decoded: nil)
            }
            if b == UInt8(ascii: "\\") || b < 0x20 || b >= 0x80 { break }
            i += 1
        }
        return JSONKey(raw: UnsafeBufferPointer(start: nil, count: 0), decoded: try string())
    }

    @usableFromInline mutating func string() throws -> String {
        at += 1   // the opening quote
        let start = at
        // Most strings hold no escape: one scan to the closing quote, one copy.
        // An ASCII one needs no validation (and the generic validating
        // initializer had been a tenth of a manifest's decoding).
        var bits: UInt8 = 0
        while at < bytes.count {
            let b = bytes[at]
            if b == UInt8(ascii: "\"") {
                at += 1
                if bits < 0x80 { return text(start, at - 1) }
                guard let s = String(validating: Array(bytes[start..<at - 1]), as: UTF8.self) else { throw error("a string is not UTF-8") }
                return s
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            bits |= b
            at += 1
        }
        var out = Array(bytes[start..<at])
        while true {
            guard at < bytes.count else { throw error("unterminated string") }
            let b = bytes[at]
            at += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let s = String(validating: out, as: UTF8.self) else { throw error("a string is not UTF-8") }
                return s
            case UInt8(ascii: "\\"):
                guard at < bytes.count else { throw error("unterminated string") }
                let e = bytes[at]
                at += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xd800..<0xdc00).contains(scalar) {
                        guard at + 2 <= bytes.count, bytes[at] == UInt8(ascii: "\\"), bytes[at + 1] == UInt8(ascii: "u") else {
                            throw error("an unpaired surrogate")
                        }
                        at += 2
                        let low = try hex4()
                        guard (0xdc00..<0xe000).contains(low) else { throw error("an unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw error("an unpaired surrogate") }
                    out.append(contentsOf: String(Character(u)).utf8)
                default: throw error("bad escape")
                }
            case 0..<0x20: throw error("a control character in a string")
            default: out.append(b)
            }
        }
    }
}


/// A member's name as `JSONReader.members` hands it over, valid inside the
/// closure only: the document's bytes when the name is ASCII without
/// escapes (what `JSONEncoder` writes for Swift property names), else the
/// decoded text. `switch name { case "kind": … }` matches it against a
/// literal byte by byte, without making a String.
public struct JSONKey {
    @usableFromInline let raw: UnsafeBufferPointer<UInt8>
    @usableFromInline let decoded: String?

    @usableFromInline init(raw: UnsafeBufferPointer<UInt8>, decoded: String?) { self.raw = raw; self.decoded = decoded }

    /// The name as a String.
    public var string: String { decoded ?? String(decoding: raw, as: UTF8.self) }

    @inlinable public static func ~= (pattern: StaticString, key: JSONKey) -> Bool {
        if let decoded = key.decoded { return pattern.withUTF8Buffer { String(decoding: $0, as: UTF8.self) } == decoded }
        guard pattern.utf8CodeUnitCount == key.raw.count else { return false }
        return pattern.withUTF8Buffer { $0.elementsEqual(key.raw) }
    }
}

/// Reads one JSON document value by value. Each read consumes one value (and
/// the whitespace after it); `members` and `elements` hand each member or
/// element to a closure that must read (or `skipValue`) exactly one.
public struct JSONReader {
    @usableFromInline var parser: JSONParser
    /// Objects and arrays open around the current value.
    @usableFromInline var depth = 0

    @usableFromInline init(parser: JSONParser) { self.parser = parser }

    /// Reads a whole document with `body`; only whitespace may follow what it reads.
    @inlinable public static func read<T>(_ bytes: [UInt8], _ body: (inout JSONReader) throws -> T) throws -> T {
        try bytes.withUnsafeBufferPointer { buffer in
            var reader = JSONReader(parser: JSONParser(bytes: buffer))
            reader.parser.skipSpace()
            let value = try body(&reader)
            guard reader.parser.at == buffer.count else { throw reader.parser.error("unexpected text after the document") }
            return value
        }
    }

    /// The byte offset of the next value (for messages).
    public var offset: Int { parser.at }

    /// An error at the next value.
    public func error(_ message: String) -> JSONError { parser.error(message) }

    @usableFromInline var next: UInt8? { parser.at < parser.bytes.count ? parser.bytes[parser.at] : nil }

    /// What the next value is, for a message that expected something else.
    @usableFromInline var found: String {
        switch next {
        case nil: return "the end of the document"
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        default: return "a number"
        }
    }

    /// Whether the next value starts as a number does (a minus sign or a digit).
    @usableFromInline var atNumber: Bool {
        guard let b = next else { return false }
        return b == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b)
    }

    @usableFromInline func mismatch(_ expected: String) -> JSONError { error("expected \(expected), found \(found)") }

    /// True, having consumed it, when the next value is `null`.
    @inlinable public mutating func null() throws -> Bool {
        guard next == UInt8(ascii: "n") else { return false }
        try parser.expect("null")
        parser.skipSpace()
        return true
    }

    /// Nil for `null`, else what `read` reads: an optional member or element.
    @inlinable public mutating func optional<T>(_ read: (inout JSONReader) throws -> T) throws -> T? {
        try null() ? nil : read(&self)
    }

    public mutating func string() throws -> String {
        guard next == UInt8(ascii: "\"") else { throw mismatch("a string") }
        let s = try parser.string()
        parser.skipSpace()
        return s
    }

    public mutating func bool() throws -> Bool {
        switch next {
        case UInt8(ascii: "t"): try parser.expect("true"); parser.skipSpace(); return true
        case UInt8(ascii: "f"): try parser.expect("false"); parser.skipSpace(); return false
        default: throw mismatch("a boolean")
        }
    }

    /// An integer of type `I`, written as one or as a number equal to one (`1e2`, `2.0`).
    @inlinable public mutating func integer<I: FixedWidthInteger>(_: I.Type = I.self) throws -> I {
        guard atNumber else { throw mismatch("a number") }
        if let plain = parser.plainInteger(), let i = I(exactly: plain) {
            parser.skipSpace()
            return i
        }
        let start = parser.at
        let text = try parser.number()
        parser.skipSpace()
        if let i = I(text) { return i }
        if let d = Double(text), d.rounded() == d, let i = I(exactly: d) { return i }
        throw JSONError(offset: start, message: "the number \(text) is not a \(I.self)")
    }

    public mutating func double() throws -> Double {
        guard atNumber else { throw mismatch("a number") }
        let start = parser.at
        let text = try parser.number()
        parser.skipSpace()
        guard let d = Double(text) else { throw JSONError(offset: start, message: "the number \(text) is not a Double") }
        return d
    }

    /// A string naming one of `T`'s cases by its raw value.
    @inlinable public mutating func rawValue<T: RawRepresentable>(_: T.Type) throws -> T where T.RawValue == String {
        let start = parser.at
        let name = try string()
        guard let value = T(rawValue: name) else { throw JSONError(offset: start, message: "\"\(name)\" is not a \(T.self)") }
        return value
    }

    @usableFromInline mutating func open(_ bracket: UInt8, _ what: String) throws {
        guard next == bracket else { throw mismatch(what) }
        guard depth < 512 else { throw error("nested too deeply") }
        depth += 1
        parser.at += 1
        parser.skipSpace()
    }

    /// After a member or element: true at the closing bracket (consumed), false after a comma.
    @usableFromInline mutating func close(_ bracket: UInt8) throws -> Bool {
        switch next {
        case UInt8(ascii: ","):
            parser.at += 1
            parser.skipSpace()
            return false
        case bracket:
            parser.at += 1
            parser.skipSpace()
            depth -= 1
            return true
        case nil: throw error("unexpected end of the document")
        default: throw error(bracket == UInt8(ascii: "}") ? "expected ',' or '}'" : "expected ',' or ']'")
        }
    }

    /// An object: `body` reads each member's value, given its name, in
    /// document order. The name is valid inside `body` only.
    @inlinable public mutating func members(_ body: (inout JSONReader, JSONKey) throws -> Void) throws {
        try open(UInt8(ascii: "{"), "an object")
        if next == UInt8(ascii: "}") { _ = try close(UInt8(ascii: "}")); return }
        repeat {
            guard next == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let name = try parser.key()
            parser.skipSpace()
            try parser.expect(UInt8(ascii: ":"))
            parser.skipSpace()
            try body(&self, name)
        } while try !close(UInt8(ascii: "}"))
    }

    /// An array: `body` reads each element in order.
    @inlinable public mutating func elements(_ body: (inout JSONReader) throws -> Void) throws {
        try open(UInt8(ascii: "["), "an array")
        if next == UInt8(ascii: "]") { _ = try close(UInt8(ascii: "]")); return }
        repeat { try body(&self) } while try !close(UInt8(ascii: "]"))
    }

    /// An array whose elements `element` reads.
    @inlinable public mutating func array<T>(_ element: (inout JSONReader) throws -> T) throws -> [T] {
        var out: [T] = []
        try elements { out.append(try element(&$0)) }
        return out
    }

    /// An object of string members, as a dictionary (a name given twice: the last).
    public mutating func stringDictionary() throws -> [String: String] {
        var out: [String: String] = [:]
        try members { r, name in out[name.string] = try r.string() }
        return out
    }

    /// Reads past one value of any kind (checking that it is JSON).
    public mutating func skipValue() throws {
        switch next {
        case UInt8(ascii: "{"): try members { r, _ in try r.skipValue() }
        case UInt8(ascii: "["): try elements { try $0.skipValue() }
        case UInt8(ascii: "\""): _ = try string()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): _ = try null()
        case nil: throw error("unexpected end of the document")
        default: _ = try parser.number(); parser.skipSpace()
        }
    }

    /// `value`, which the object ending here had to have.
    @inlinable public func required<T>(_ value: T?, _ member: String, in what: String) throws -> T {
        guard let value else { throw JSONError(offset: parser.at, message: "\(what) has no member \"\(member)\"") }
        return value
    }
}
