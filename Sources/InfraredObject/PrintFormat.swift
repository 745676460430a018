import BPF

/// Output from program bodies (`puts`, `printf`, `exit`): the records the
/// programs write to the object's implicit ring buffer, and the formats
/// that turn them into lines. The compiler checks a format against its
/// arguments and lays out the record; loaders print each record with it.
///
/// A record is a u64 format id (an index into `formats`, or `exitID`),
/// then each argument in its slot at the offset the format's `arguments`
/// give: an integer in 8 bytes, a string NUL-terminated in a fixed slot
/// (`comm`: 16 bytes, C strings: `stringSlot`). The formats live here, not in
/// the object's code.
public struct PrintOutput: Sendable, Codable, Equatable {
    /// The implicit ring buffer map.
    public var map: String
    public var formats: [PrintFormat]
    public init(map: String, formats: [PrintFormat]) { self.map = map; self.formats = formats }

    /// The map's name in every object that prints.
    public static let mapName = "__infrared_print"
    /// The id of the record `exit` writes: the loader stops as at Ctrl-C.
    public static let exitID: UInt64 = 0x7fff_ffff
    /// Bytes of a C string's slot (`ctx.filename`, `user_string(p)`), NUL included.
    public static let stringSlot = 64
    /// Bytes of `comm`'s slot (TASK_COMM_LEN).
    public static let commSlot = 16
}

/// One `puts` or `printf` of a body: a printf-style format and where its
/// arguments are in the record.
public struct PrintFormat: Sendable, Codable, Equatable {
    /// printf-style: `%d %i %u %x %X %s %c %%`, flags `-` and `0`, a width,
    /// a precision (`%.3s`: at most 3 bytes; `%.5d`: at least 5 digits),
    /// length modifiers (`l`, `ll`, `h`, `z`, `j`) accepted and ignored.
    public var format: String
    public var arguments: [Argument]
    /// The record's size in bytes.
    public var size: Int
    /// The source line of the call.
    public var line: Int

    public enum ArgumentType: String, Sendable, Codable {
        /// An integer, 8 bytes, as the BPF program computed it (two's complement).
        case integer
        /// A NUL-terminated string in a slot of `size` bytes.
        case string
        /// true/false, 8 bytes (1/0), printed as Ruby prints it (`%s`).
        case boolean
    }
    public struct Argument: Sendable, Codable, Equatable {
        public var type: ArgumentType
        public var offset: Int
        public var size: Int
        public init(type: ArgumentType, offset: Int, size: Int) { self.type = type; self.offset = offset; self.size = size }
    }
    public init(format: String, arguments: [Argument], size: Int, line: Int) {
        self.format = format; self.arguments = arguments; self.size = size; self.line = line
    }

    /// A format's text and conversions, in order.
    public enum Piece: Sendable, Equatable {
        case text(String)
        case conversion(Conversion)
    }

    /// One `%…` conversion.
    public struct Conversion: Sendable, Equatable {
        public var leftAlign = false
        public var zeroPad = false
        public var width = 0
        /// `%.N…`: a string's most bytes, an integer's fewest digits (nil: none given).
        public var precision: Int? = nil
        /// `d i u x X s c`.
        public var letter: Character
        /// As written (`%-6ld`), for messages.
        public var spelled: String
        /// Whether it takes a string (`%s`); the others take integers.
        public var takesString: Bool { letter == "s" }

        /// An integer argument as the conversion prints it (C's printf, with
        /// every integer 64 bits wide).
        public func render(_ v: Int64) -> String {
            var body: String
            switch letter {
            case "d", "i": body = String(v.magnitude)
            case "u": body = String(UInt64(bitPattern: v))
            case "x": body = String(UInt64(bitPattern: v), radix: 16)
            case "X": body = String(UInt64(bitPattern: v), radix: 16, uppercase: true)
            default: return pad(String(UnicodeScalar(UInt8(truncatingIfNeeded: v))), numeric: false)
            }
            if let p = precision {
                // C: at least p digits; `%.0d` of 0 prints no digit.
                if p == 0 && v == 0 { body = "" }
                else if body.count < p { body = String(repeating: "0", count: p - body.count) + body }
            }
            if "di".contains(letter) && v < 0 { body = "-" + body }
            return pad(body, numeric: true)
        }

        /// A string argument as `%s` prints it (`%.Ns`: its first N bytes).
        public func render(_ s: String) -> String {
            guard let p = precision, s.utf8.count > p else { return pad(s, numeric: false) }
            return pad(String(decoding: s.utf8.prefix(p), as: UTF8.self), numeric: false)
        }

        private func pad(_ s: String, numeric: Bool) -> String {
            let n = s.count
            guard n < width else { return s }
            let fill = String(repeating: " ", count: width - n)
            if leftAlign { return s + fill }
            // C ignores `0` when an integer has a precision.
            if zeroPad && numeric && precision == nil {
                let zeros = String(repeating: "0", count: width - n)
                return s.hasPrefix("-") ? "-" + zeros + s.dropFirst() : zeros + s
            }
            return fill + s
        }
    }

    /// What is wrong with a format, for the compiler's message.
    public struct ParseError: Error, Sendable, Equatable {
        public var message: String
    }

    /// The pieces of a printf-style format.
    public static func parse(_ format: String) throws(ParseError) -> [Piece] {
        var pieces: [Piece] = []
        var text = ""
        let chars = Array(format)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            guard c == "%" else { text.append(c); i += 1; continue }
            let start = i
            i += 1
            guard i < chars.count else { throw ParseError(message: "the format ends in a lone `%`") }
            if chars[i] == "%" { text.append("%"); i += 1; continue }
            var conv = Conversion(letter: "d", spelled: "")
            while i < chars.count, chars[i] == "-" || chars[i] == "0" {
                if chars[i] == "-" { conv.leftAlign = true } else { conv.zeroPad = true }
                i += 1
            }
            while i < chars.count, let d = chars[i].wholeNumberValue, chars[i].isASCII {
                conv.width = conv.width * 10 + d
                guard conv.width <= 1024 else { throw ParseError(message: "the width of `\(String(chars[start...i]))…` is over 1024") }
                i += 1
            }
            if i < chars.count, chars[i] == "." {
                i += 1
                var p = 0
                while i < chars.count, let d = chars[i].wholeNumberValue, chars[i].isASCII {
                    p = p * 10 + d
                    guard p <= 1024 else { throw ParseError(message: "the precision of `\(String(chars[start...i]))…` is over 1024") }
                    i += 1
                }
                conv.precision = p
            }
            while i < chars.count, "lhzj".contains(chars[i]) { i += 1 }
            guard i < chars.count else { throw ParseError(message: "the format ends inside `\(String(chars[start...]))`") }
            let letter = chars[i]
            conv.spelled = String(chars[start...i])
            guard "diuxXsc".contains(letter) else {
                throw ParseError(message: "`\(conv.spelled)` is not a conversion puts/printf know (they know %d %i %u %x %X %s %c %%, with `-`, `0`, a width and a `.precision`)")
            }
            conv.letter = letter
            i += 1
            if !text.isEmpty { pieces.append(.text(text)); text = "" }
            pieces.append(.conversion(conv))
        }
        if !text.isEmpty { pieces.append(.text(text)) }
        return pieces
    }

    /// `%` written as `%%`: literal text inside a format.
    public static func escaped(_ s: String) -> String { s.split(separator: "%", omittingEmptySubsequences: false).joined(separator: "%%") }
}


/// Where a program counts what it could not do: a record dropped because
/// its ring buffer was full, an update refused because its map was full.
/// One zeroed global (`variableName`, a `u64` array in `.bss`) holds a
/// counter per fault site kind and map, at `slot`; the compiled code adds 1
/// atomically, the loader reads it at `offset` and reports non-zero counts.
public struct Fault: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// `reserve`/`output`/`puts`/`printf` found the ring or perf buffer full.
        case lostRecords = "lost_records"
        /// `m[k] = v`, `m[k] += n` or an implicit map's write found the map full.
        case failedUpdates = "failed_updates"
    }
    /// The map the fault is about (user-facing name; `@name` for implicit maps).
    public var map: String
    public var kind: Kind
    /// The index in `variableName`'s array.
    public var slot: Int
    /// The counter's byte offset in `.bss` (where the object writer placed
    /// `variableName`, plus 8 × `slot`); 0 until the object is written.
    public var offset: Int
    public init(map: String, kind: Kind, slot: Int, offset: Int = 0) { self.map = map; self.kind = kind; self.slot = slot; self.offset = offset }

    /// The counters' `.bss` array in every object that has a fault site.
    public static let variableName = "__infrared_faults"
}
