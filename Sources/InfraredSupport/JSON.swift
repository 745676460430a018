/// JSON without Foundation: a parser to `JSONValue` and a `Decoder` over it,
/// so the loader runner decodes its manifest (`Codable`, written by
/// Foundation's `JSONEncoder` in `infrared gen loader`) without linking
/// Foundation (3.6 MB of the runner, Benchmarks/footprint.sh).
///
/// Follows RFC 8259; decodes as Foundation's `JSONDecoder` with its default
/// strategies does for the types a manifest holds (integers, strings, bools,
/// optionals, arrays, string-keyed dictionaries, enums with associated
/// values): a number decodes to an integer type only when it is one exactly.

/// A parsed JSON document.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number's text as written (decoded to the type asked for).
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order.
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The value `member` of an object (the last one of that name), nil for a missing member or a non-object.
    public subscript(member: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == member }?.1
    }

    /// Parses one JSON document (surrounding whitespace allowed).
    public init(parsing bytes: [UInt8]) throws {
        var parser = JSONParser(bytes: bytes)
        parser.skipSpace()
        self = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.at == bytes.count else { throw parser.error("unexpected text after the document") }
    }
}

/// Why a document does not parse: the message and the byte offset.
public struct JSONSyntaxError: Error, CustomStringConvertible, Sendable {
    public var offset: Int
    public var message: String
    public var description: String { "JSON: \(message) at byte \(offset)" }
}

private struct JSONParser {
    let bytes: [UInt8]
    var at = 0

    func error(_ message: String) -> JSONSyntaxError { JSONSyntaxError(offset: at, message: message) }

    mutating func skipSpace() {
        while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0a || bytes[at] == 0x0d || bytes[at] == 0x09 { at += 1 }
    }

    mutating func expect(_ word: String) throws {
        for b in word.utf8 {
            guard at < bytes.count, bytes[at] == b else { throw error("expected '\(word)'") }
            at += 1
        }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw error("nested too deeply") }
        guard at < bytes.count else { throw error("unexpected end of the document") }
        switch bytes[at] {
        case UInt8(ascii: "{"):
            at += 1
            var members: [(String, JSONValue)] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(members) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\"") else { throw error("expected a member name") }
                let name = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                members.append((name, try value(depth: depth + 1)))
                skipSpace()
                guard at < bytes.count else { throw error("unexpected end of the document") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                guard bytes[at] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
                at += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            at += 1
            var elements: [JSONValue] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(elements) }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard at < bytes.count else { throw error("unexpected end of the document") }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                guard bytes[at] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
                at += 1
                return .array(elements)
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        default: return .number(try number())
        }
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    mutating func number() throws -> String {
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
        return String(decoding: bytes[start..<at], as: UTF8.self)
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

    mutating func string() throws -> String {
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
                if bits < 0x80 { return String(decoding: bytes[start..<at - 1], as: UTF8.self) }
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

/// Decodes `type` from a JSON document, as Foundation's `JSONDecoder()` does.
public func decodeJSON<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
    try T(from: JSONValueDecoder(value: JSONValue(parsing: bytes), path: CodingPathNode.root))
}

/// A coding path as a list from the leaf up, built into `[CodingKey]` only
/// when something asks for it (an error, a type reading `codingPath`): a
/// manifest decodes thousands of values and names none of their paths.
final class CodingPathNode: @unchecked Sendable {
    let parent: CodingPathNode?
    let key: CodingKey?
    init(parent: CodingPathNode?, key: CodingKey?) { self.parent = parent; self.key = key }
    static let root = CodingPathNode(parent: nil, key: nil)

    func appending(_ key: CodingKey) -> CodingPathNode { CodingPathNode(parent: self, key: key) }

    var keys: [CodingKey] {
        var out: [CodingKey] = []
        var node: CodingPathNode? = self
        while let n = node { if let k = n.key { out.append(k) }; node = n.parent }
        return out.reversed()
    }
}

/// A `Decoder` over a parsed value.
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    let path: CodingPathNode
    var codingPath: [CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, path.keys) }
        return KeyedDecodingContainer(JSONKeyedContainer<Key>(members: members, path: path))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw mismatch([Any].self, value, path.keys) }
        return JSONUnkeyedContainer(elements: elements, path: path)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { JSONSingleValue(value: value, path: path) }
}

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [CodingKey]) -> DecodingError {
    let found: String
    switch value {
    case .null: found = "null"
    case .bool: found = "a boolean"
    case .number: found = "a number"
    case .string: found = "a string"
    case .array: found = "an array"
    case .object: found = "an object"
    }
    return .typeMismatch(type, .init(codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
}

/// The scalars, each a function the compiler specializes: the containers'
/// concrete overloads (`decode(String.self, forKey:)`, which synthesized
/// `Codable` calls for every `String`, `Int` and `Bool` field) come straight
/// here without a generic dispatch. `path` is built only for an error.
private func scalarString(_ value: JSONValue, _ path: () -> [CodingKey]) throws -> String {
    guard case .string(let s) = value else { throw mismatch(String.self, value, path()) }
    return s
}
private func scalarBool(_ value: JSONValue, _ path: () -> [CodingKey]) throws -> Bool {
    guard case .bool(let b) = value else { throw mismatch(Bool.self, value, path()) }
    return b
}
private func scalarInteger<I: FixedWidthInteger>(_: I.Type, _ value: JSONValue, _ path: () -> [CodingKey]) throws -> I {
    guard case .number(let text) = value else { throw mismatch(I.self, value, path()) }
    if let i = I(text) { return i }
    // 1e3, 2.0: integers when exact, as JSONDecoder takes them.
    if let d = Double(text), d.rounded() == d, let i = I(exactly: d) { return i }
    throw DecodingError.dataCorrupted(.init(codingPath: path(), debugDescription: "Number \(text) is not representable in Swift."))
}
private func scalarDouble<F: Decodable>(_ type: F.Type, _ value: JSONValue, _ path: () -> [CodingKey]) throws -> Double {
    guard case .number(let text) = value, let d = Double(text) else { throw mismatch(type, value, path()) }
    return d
}

/// The scalar decodes every container shares. `parent` and `key` name the
/// value's place; the path is built only for an error or a nested decoder.
/// Types are told apart by metatype identity (a pointer comparison) and the
/// result handed back with `unsafeBitCast` once `T` is known to be that very
/// type: dynamic casts had been a third of a manifest's decoding.
private func decodeScalar<T: Decodable>(_ type: T.Type, _ value: JSONValue, _ parent: CodingPathNode, _ key: CodingKey?) throws -> T {
    func node() -> CodingPathNode { key.map { parent.appending($0) } ?? parent }
    func path() -> [CodingKey] { node().keys }
    func integer<I: FixedWidthInteger>(_: I.Type) throws -> T { unsafeBitCast(try scalarInteger(I.self, value, path), to: T.self) }
    if T.self == String.self { return unsafeBitCast(try scalarString(value, path), to: T.self) }
    if T.self == Bool.self { return unsafeBitCast(try scalarBool(value, path), to: T.self) }
    if T.self == Int.self { return try integer(Int.self) }
    if T.self == UInt32.self { return try integer(UInt32.self) }
    if T.self == UInt64.self { return try integer(UInt64.self) }
    if T.self == Int64.self { return try integer(Int64.self) }
    if T.self == Int32.self { return try integer(Int32.self) }
    if T.self == UInt8.self { return try integer(UInt8.self) }
    if T.self == UInt16.self { return try integer(UInt16.self) }
    if T.self == UInt.self { return try integer(UInt.self) }
    if T.self == Int8.self { return try integer(Int8.self) }
    if T.self == Int16.self { return try integer(Int16.self) }
    if T.self == Double.self { return unsafeBitCast(try scalarDouble(type, value, path), to: T.self) }
    if T.self == Float.self { return unsafeBitCast(Float(try scalarDouble(type, value, path)), to: T.self) }
    return try T(from: JSONValueDecoder(value: value, path: node()))
}

/// `null` where a value is required: an error unless `T` is an optional.
private func checkNotNull<T>(_ type: T.Type, _ value: JSONValue, _ path: @autoclosure () -> [CodingKey], _ what: String) throws {
    guard case .null = value, !(type is any ExpressibleByNilLiteral.Type) else { return }
    throw DecodingError.valueNotFound(type, .init(codingPath: path(), debugDescription: "Expected \(type) \(what)"))
}

private struct JSONKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [(String, JSONValue)]
    /// Member name → the last member of that name, for objects too large to search.
    let index: [String: Int]?
    let path: CodingPathNode
    var codingPath: [CodingKey] { path.keys }

    init(members: [(String, JSONValue)], path: CodingPathNode) {
        self.members = members
        self.path = path
        if members.count > 16 {
            var index: [String: Int] = [:]
            for (i, m) in members.enumerated() { index[m.0] = i }
            self.index = index
        } else {
            self.index = nil
        }
    }

    /// Each member name once, in document order.
    var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(members.count)
        var seen = Set<String>()   // used for large objects only; small ones search what came before
        for (i, m) in members.enumerated() {
            let first = index != nil ? seen.insert(m.0).inserted : !members[..<i].contains { $0.0 == m.0 }
            if first, let k = Key(stringValue: m.0) { keys.append(k) }
        }
        return keys
    }

    /// The last member named `name` (as a dictionary built from the members keeps it).
    func lookup(_ name: String) -> JSONValue? {
        if let index { return index[name].map { members[$0].1 } }
        var i = members.count
        while i > 0 {
            i -= 1
            if members[i].0 == name { return members[i].1 }
        }
        return nil
    }

    func contains(_ key: Key) -> Bool { lookup(key.stringValue) != nil }

    func member(_ key: Key) throws -> JSONValue {
        guard let v = lookup(key.stringValue) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: path.keys,
                                                       debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try member(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try decodeScalar(type, required(type, key), path, key) }

    /// A member that must be there and not null.
    private func required<T>(_ type: T.Type, _ key: Key) throws -> JSONValue {
        let v = try member(key)
        try checkNotNull(type, v, path.appending(key).keys, "value but found null instead.")
        return v
    }
    /// A member that may be missing or null (nil then).
    private func present(_ key: Key) -> JSONValue? {
        guard let v = lookup(key.stringValue) else { return nil }
        if case .null = v { return nil }
        return v
    }
    private func at(_ key: Key) -> () -> [CodingKey] { { path.appending(key).keys } }

    func decode(_ type: String.Type, forKey key: Key) throws -> String { try scalarString(required(type, key), at(key)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try scalarBool(required(type, key), at(key)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try scalarInteger(type, required(type, key), at(key)) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try scalarInteger(type, required(type, key), at(key)) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try scalarInteger(type, required(type, key), at(key)) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try scalarInteger(type, required(type, key), at(key)) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try scalarInteger(type, required(type, key), at(key)) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try scalarInteger(type, required(type, key), at(key)) }

    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try present(key).map { try scalarString($0, at(key)) } }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try present(key).map { try scalarBool($0, at(key)) } }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try present(key).map { try scalarInteger(type, $0, at(key)) } }
    func decodeIfPresent(_ type: UInt32.Type, forKey key: Key) throws -> UInt32? { try present(key).map { try scalarInteger(type, $0, at(key)) } }
    func decodeIfPresent(_ type: UInt64.Type, forKey key: Key) throws -> UInt64? { try present(key).map { try scalarInteger(type, $0, at(key)) } }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        try present(key).map { try decodeScalar(type, $0, path, key) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONValueDecoder(value: member(key), path: path.appending(key)).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try JSONValueDecoder(value: member(key), path: path.appending(key)).unkeyedContainer()
    }
    func superDecoder() throws -> Decoder {
        JSONValueDecoder(value: lookup("super") ?? .null, path: path)
    }
    func superDecoder(forKey key: Key) throws -> Decoder {
        JSONValueDecoder(value: lookup(key.stringValue) ?? .null, path: path.appending(key))
    }
}

/// An array element's place in `codingPath` (as `JSONDecoder` names it: "Index N").
private struct IndexKey: CodingKey {
    var intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ i: Int) { intValue = i }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct JSONUnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    let path: CodingPathNode
    var codingPath: [CodingKey] { path.keys }
    var currentIndex = 0
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(elements: [JSONValue], path: CodingPathNode) { self.elements = elements; self.path = path }

    mutating func next(_ type: Any.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path.appending(IndexKey(currentIndex)).keys, debugDescription: "Unkeyed container is at end."))
        }
        defer { currentIndex += 1 }
        return elements[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }
    /// The next element, which must not be null, and its index.
    mutating func nextRequired<T>(_ type: T.Type) throws -> (JSONValue, IndexKey) {
        let index = IndexKey(currentIndex)
        let v = try next(type)
        try checkNotNull(type, v, path.appending(index).keys, "but found null instead.")
        return (v, index)
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (v, index) = try nextRequired(type)
        return try decodeScalar(type, v, path, index)
    }
    mutating func decode(_ type: String.Type) throws -> String {
        let (v, index) = try nextRequired(type)
        return try scalarString(v) { path.appending(index).keys }
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let index = currentIndex
        let v = try next(type)
        return try JSONValueDecoder(value: v, path: path.appending(IndexKey(index))).container(keyedBy: type)
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let index = currentIndex
        let v = try next([Any].self)
        return try JSONValueDecoder(value: v, path: path.appending(IndexKey(index))).unkeyedContainer()
    }
    mutating func superDecoder() throws -> Decoder {
        let index = currentIndex
        let v = try next(Any.self)
        return JSONValueDecoder(value: v, path: path.appending(IndexKey(index)))
    }
}

private struct JSONSingleValue: SingleValueDecodingContainer {
    let value: JSONValue
    let path: CodingPathNode
    var codingPath: [CodingKey] { path.keys }
    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try checkNotNull(type, value, path.keys, "but found null value instead.")
        return try decodeScalar(type, value, path, nil)
    }
}
