/// Prints records of one struct type straight from the ring buffer's bytes
/// into the output buffer, byte for byte as `Value.text`/`Value.json` print
/// the decoded record: the path every record takes when no hook wants it,
/// so its cost bounds the records a loader keeps up with.
///
/// The struct is compiled once (from the manifest) into a flat list of
/// steps — a literal (field names, separators, braces of nested structs)
/// and one scalar to format — kept in raw memory, so printing a record
/// walks plain data: no values, strings, arrays or reference counting per
/// record, integers formatted two digits at a time, ASCII strings escaped
/// in place. Only a string with non-ASCII bytes takes `String` (its
/// quoting depends on Unicode), and only that field.
final class RecordPrinter {
    /// What a step prints after its literal.
    enum Kind: UInt8 { case none, unsigned, signed, bool, chars }

    /// A literal (`literalCount` bytes of `literals` from `literalStart`),
    /// then the value of `kind` at `offset` (`width`: an integer's bytes, a
    /// char array's length).
    struct Step {
        var literalStart: Int32
        var literalCount: Int32
        var offset: Int32
        var width: Int32
        var kind: Kind
    }

    /// The struct's size: the record size this printer was chosen for.
    let size: Int
    /// The fewest bytes a record needs for every field to be read in bounds.
    let needed: Int
    /// An upper bound of the bytes `write` touches for one line (newline included).
    let maxLength: Int
    let json: Bool
    private let steps: UnsafeMutableBufferPointer<Step>
    private let literals: UnsafeMutablePointer<UInt8>
    /// "00" "01" … "99".
    private let digitPairs: UnsafeMutablePointer<UInt8>
    /// Per byte: 0 prints as is; 1 is escaped (`"`, `\`, controls, DEL); 2
    /// needs quotes in text (space, `=`); 3 is not ASCII.
    private let classes: UnsafeMutablePointer<UInt8>

    /// The printer of `structure`'s records, with a leading `map` field when
    /// several maps stream records; nil when a field has a type the manifest
    /// does not describe (those records print through `Value`).
    init?(structure: LoaderManifest.Struct, codec: TypeCodec, json: Bool, mapField: String?) {
        self.json = json
        self.size = structure.size
        var literals: [UInt8] = []
        var steps: [Step] = []
        var pending: [UInt8] = []
        var bound = 0
        var extent = structure.size

        func step(_ kind: Kind, offset: Int, width: Int) {
            steps.append(Step(literalStart: Int32(literals.count), literalCount: Int32(pending.count),
                              offset: Int32(offset), width: Int32(width), kind: kind))
            literals += pending
            bound += pending.count
            pending.removeAll()
            switch kind {
            case .none: break
            case .unsigned, .signed: bound += 20
            case .bool: bound += 5
            case .chars: bound += 6 * width + 2      // every byte escaped as \u00XX (or U+FFFD: 3 bytes)
            }
            extent = max(extent, offset + width)
        }
        // Mirrors TypeCodec.decode(_:at:type:size:count:) and Value.text/json.
        func fields(_ st: LoaderManifest.Struct, base: Int, separatorFirst: Bool, depth: Int) -> Bool {
            guard depth < 16 else { return false }
            for (i, f) in st.fields.enumerated() {
                if i > 0 || separatorFirst { pending.append(json ? 0x2c : 0x20) }
                pending += Array((json ? JSON.quoted(f.name) + ":" : f.name + "=").utf8)
                let at = base + f.offset
                guard at >= 0, at <= Int(Int32.max) / 2 else { return false }
                switch f.type {
                case .scalar(.bool):
                    step(.bool, offset: at, width: 1)
                case .chars:
                    let n = f.count ?? f.size
                    guard n >= 0, n <= 1 << 20 else { return false }
                    step(.chars, offset: at, width: n)
                case .scalar(let s):
                    step(s.signed ? .signed : .unsigned, offset: at, width: s.size)
                case .structure(let name):
                    guard let inner = codec.manifest.structNamed(name) else { return false }
                    pending.append(0x7b)
                    guard fields(inner, base: at, separatorFirst: false, depth: depth + 1) else { return false }
                    pending.append(0x7d)
                }
            }
            return true
        }

        if json {
            pending.append(0x7b)
            if let mapField { pending += Array(("\"map\":" + JSON.quoted(mapField)).utf8) }
        } else if let mapField {
            pending += Array("map=\(mapField) ".utf8)
        }
        guard fields(structure, base: 0, separatorFirst: json && mapField != nil, depth: 0) else { return nil }
        if json { pending.append(0x7d) }
        pending.append(0x0a)
        step(.none, offset: 0, width: 0)

        self.needed = extent
        self.maxLength = bound + 8
        self.steps = .allocate(capacity: steps.count)
        _ = self.steps.initialize(from: steps)
        literals += [UInt8](repeating: 0, count: 8)
        self.literals = .allocate(capacity: literals.count)
        self.literals.initialize(from: literals, count: literals.count)
        digitPairs = .allocate(capacity: 200)
        for i in 0..<100 {
            digitPairs[2 * i] = 0x30 + UInt8(i / 10)
            digitPairs[2 * i + 1] = 0x30 + UInt8(i % 10)
        }
        classes = .allocate(capacity: 256)
        for c in 0..<256 {
            let k: UInt8
            switch c {
            case 0x22, 0x5c, 0x7f, 0..<0x20: k = 1
            case 0x20, 0x3d: k = 2
            case 0x80...: k = 3
            default: k = 0
            }
            classes[c] = k
        }
    }

    deinit {
        steps.deallocate()
        literals.deallocate()
        digitPairs.deallocate()
        classes.deallocate()
    }

    /// Prints the record at `record` (at least `needed` bytes) as one line
    /// at `out` (room for `maxLength` bytes); returns the bytes written.
    func write(_ record: UnsafeRawPointer, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var w = 0
        let steps = self.steps.baseAddress!
        for i in 0..<self.steps.count {
            let s = steps[i]
            // Eight bytes at a time: `literals` and `maxLength` have 8 bytes
            // of slack, and what is written past the literal is overwritten next.
            let from = UnsafeRawPointer(literals + Int(s.literalStart)), to = UnsafeMutableRawPointer(out + w)
            var k = 0
            while k < Int(s.literalCount) {
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: k, as: UInt64.self), toByteOffset: k, as: UInt64.self)
                k &+= 8
            }
            w &+= Int(s.literalCount)
            let at = Int(s.offset)
            switch s.kind {
            case .none:
                break
            case .unsigned:
                w &+= decimal(Self.load(record, at, Int(s.width)), to: out + w)
            case .signed:
                let shift = UInt64(64 &- 8 &* Int(s.width))
                let v = Int64(bitPattern: Self.load(record, at, Int(s.width)) &<< shift) &>> Int64(shift)
                if v < 0 {
                    out[w] = 0x2d
                    w &+= 1 &+ decimal(0 &- UInt64(bitPattern: v), to: out + (w &+ 1))
                } else {
                    w &+= decimal(UInt64(v), to: out + w)
                }
            case .bool:
                if record.load(fromByteOffset: at, as: UInt8.self) != 0 {
                    (out + w).initialize(from: Self.trueBytes, count: 4); w &+= 4
                } else {
                    (out + w).initialize(from: Self.falseBytes, count: 5); w &+= 5
                }
            case .chars:
                let src = (record + at).assumingMemoryBound(to: UInt8.self)
                w &+= json ? jsonString(src, Int(s.width), to: out + w) : textString(src, Int(s.width), to: out + w)
            }
        }
        return w
    }

    /// The line for one record (tests; the loader writes into its output buffer).
    func line(_ record: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(record.count >= needed)
        return [UInt8](unsafeUninitializedCapacity: maxLength) { buf, n in
            n = write(record.baseAddress!, to: buf.baseAddress!)
        }
    }

    private static let trueBytes: [UInt8] = Array("true".utf8), falseBytes: [UInt8] = Array("false".utf8)

    @inline(__always) static func load(_ p: UnsafeRawPointer, _ offset: Int, _ n: Int) -> UInt64 {
        switch n {
        case 1: return UInt64(p.load(fromByteOffset: offset, as: UInt8.self))
        case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        default: return UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
    }

    /// `v` in decimal at `out`; returns the digits written (1…20).
    @inline(__always) private func decimal(_ v: UInt64, to out: UnsafeMutablePointer<UInt8>) -> Int {
        if v < 10 { out.pointee = 0x30 &+ UInt8(truncatingIfNeeded: v); return 1 }
        var n = 1
        var t = v
        while t >= 10_000 { t /= 10_000; n &+= 4 }
        if t >= 1000 { n &+= 3 } else if t >= 100 { n &+= 2 } else if t >= 10 { n &+= 1 }
        var x = v
        var e = n
        while x >= 100 {
            let q = x / 100
            let r = Int(truncatingIfNeeded: x &- q &* 100) &* 2
            e &-= 2
            out[e] = digitPairs[r]
            out[e &+ 1] = digitPairs[r &+ 1]
            x = q
        }
        if x >= 10 {
            let r = Int(truncatingIfNeeded: x) &* 2
            out[0] = digitPairs[r]
            out[1] = digitPairs[r &+ 1]
        } else {
            out[0] = 0x30 &+ UInt8(truncatingIfNeeded: x)
        }
        return n
    }

    /// A `char[count]` up to its first NUL as `Value.logfmtQuoted` prints it:
    /// bare unless empty or it holds a space, `=`, a quote, a backslash or a
    /// control character, then a JSON string literal.
    @inline(__always) private func textString(_ src: UnsafePointer<UInt8>, _ count: Int, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var i = 0
        while i < count {
            let c = src[i]
            if c == 0 || classes[Int(c)] != 0 { break }
            out[i] = c
            i &+= 1
        }
        if i == count || src[i] == 0 {
            if i > 0 { return i }
            out[0] = 0x22; out[1] = 0x22
            return 2
        }
        var end = i
        while end < count && src[end] != 0 {
            if src[end] >= 0x80 { return unicodeString(src, count, to: out) }
            end &+= 1
        }
        // ASCII that needs quoting: the bare prefix moves one byte right, after the quote.
        var k = i
        while k > 0 { out[k] = out[k &- 1]; k &-= 1 }
        out[0] = 0x22
        var w = i &+ 1
        for j in i..<end { w &+= escaped(src[j], to: out + w) }
        out[w] = 0x22
        return w &+ 1
    }

    /// A `char[count]` up to its first NUL as `JSON.quoted` prints it.
    @inline(__always) private func jsonString(_ src: UnsafePointer<UInt8>, _ count: Int, to out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = 0x22
        var w = 1
        var i = 0
        while i < count {
            let c = src[i]
            if c == 0 { break }
            let k = classes[Int(c)]
            if k & 1 == 0 {
                out[w] = c; w &+= 1
            } else if k == 1 {
                w &+= escaped(c, to: out + w)
            } else {
                return unicodeString(src, count, to: out)
            }
            i &+= 1
        }
        out[w] = 0x22
        return w &+ 1
    }

    /// An ASCII byte as `JSON.quoted` writes it.
    @inline(__always) private func escaped(_ c: UInt8, to out: UnsafeMutablePointer<UInt8>) -> Int {
        guard classes[Int(c)] == 1 else { out[0] = c; return 1 }
        out[0] = 0x5c
        switch c {
        case 0x22, 0x5c: out[1] = c; return 2
        case 0x0a: out[1] = 0x6e; return 2
        case 0x0d: out[1] = 0x72; return 2
        case 0x09: out[1] = 0x74; return 2
        default:
            let hex: StaticString = "0123456789abcdef"
            out[1] = 0x75; out[2] = 0x30; out[3] = 0x30
            out[4] = hex.utf8Start[Int(c >> 4)]
            out[5] = hex.utf8Start[Int(c & 15)]
            return 6
        }
    }

    /// A string with non-ASCII bytes: decoded (invalid UTF-8 repaired) and
    /// quoted by the same functions as `Value`, since its quoting depends
    /// on Unicode characters.
    private func unicodeString(_ src: UnsafePointer<UInt8>, _ count: Int, to out: UnsafeMutablePointer<UInt8>) -> Int {
        var end = 0
        while end < count && src[end] != 0 { end += 1 }
        let s = String(decoding: UnsafeBufferPointer(start: src, count: end), as: UTF8.self)
        let quoted = json ? JSON.quoted(s) : Value.logfmtQuoted(s)
        var w = 0
        for b in quoted.utf8.prefix(6 * count + 2) { out[w] = b; w += 1 }
        return w
    }
}

extension LoaderManifest {
    /// The struct of a `size`-byte record from `map`: the one the manifest
    /// names for the map (what `reserve(Event)` / `output(e)` put there)
    /// when the record is its size (a perf record may carry up to 7 bytes of
    /// the kernel's padding); otherwise, and for manifests written before
    /// maps named their record, the declared struct of that size.
    func recordStruct(for map: Map, size: Int) -> Struct? {
        let perf = map.kind == .perfEventArray
        if let name = map.record, let st = structNamed(name), size == st.size || (perf && size > st.size && size - st.size < 8) {
            return st
        }
        return recordStruct(size: size, perf: perf)
    }
}
