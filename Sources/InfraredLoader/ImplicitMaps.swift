import BPF
import InfraredObject
import InfraredProfile

/// Implicit maps (`@name` in bodies) read, merged across CPUs and printed
/// as bpftrace 0.17 prints its maps at exit (src/output.cpp, TextOutput
/// and JsonOutput `map`, `map_hist`, `map_stats`): maps by name; entries
/// `@name[k1, k2]: value` by value ascending; histograms per key by their
/// total count ascending, a blank line after each; avg and stats maps a
/// blank line after the map. `--format json`: bpftrace's `-f json` objects,
/// one line a map.
extension MapAccess {
    /// One entry, merged over the CPUs: its key's parts (none for `@total`),
    /// its histogram bucket, and the value's two words (sum or value and 0;
    /// min/max value and "set"; avg/stats total and count; hist/lhist the
    /// bucket's count and the sum of its values, 0 from an object older than the sum).
    struct ImplicitEntry {
        var key: [Value]
        var bucket: Int
        var a: Int64
        var b: Int64
        /// The frames of the key parts that are stacks (`kstack`, `ustack`), by part index.
        var frames: [Int: [String]] = [:]
    }

    /// The implicit maps, by name (bpftrace's order).
    var implicitMaps: [(LoaderManifest.Map, Manifest.Implicit)] {
        manifest.maps.compactMap { m in m.implicit.map { (m, $0) } }.sorted { $0.0.name < $1.0.name }
    }

    /// Every entry of an implicit map, its per-CPU slots merged.
    func implicitEntries(_ m: LoaderManifest.Map, _ im: Manifest.Implicit) throws -> [ImplicitEntry] {
        var out: [ImplicitEntry] = []
        let histogram: Bool
        switch im.aggregation { case .hist, .lhist: histogram = true; default: histogram = false }
        try object.forEachEntry(map: m.name) { key, value in
            let k = Array(key)
            guard let (a, b) = Self.merged(Array(value), m, im) else { return }
            // An array's bucket no CPU counted in (a key-less histogram): as absent.
            if histogram && isArrayLike(m) && a == 0 { return }
            var parts: [Value]
            switch codec.decode(k, type: m.key, size: m.keySize) {
            case .record(_, let fields): parts = fields.map(\.1)
            case let v: parts = [v]
            }
            var bucket = 0
            if histogram { bucket = Int(parts.removeLast().integer) }
            if im.keys == 0 { parts = [] }
            var frames: [Int: [String]] = [:]
            for (i, stack) in (im.stacks ?? []).enumerated() where i < parts.count {
                guard let stack else { continue }
                let f = stackFrames(parts[i].integer, stack)
                frames[i] = f
                parts[i] = .string(f.isEmpty ? "" : "\n" + f.map { "    " + $0 + "\n" }.joined())
            }
            out.append(ImplicitEntry(key: parts, bucket: bucket, a: a, b: b, frames: frames))
        }
        return out
    }

    /// The frames of a `kstack`/`ustack` key part, leaf first, as bpftrace
    /// prints them (`name+offset`); no frame for get_stackid's -EFAULT
    /// (there was no stack: a kstack of a sample taken in user mode, which
    /// bpftrace prints as `@[]`), `[unavailable: -N]` for another negative
    /// id (-EEXIST, -ENOMEM…: a stack not recorded).
    func stackFrames(_ part: Int64, _ stack: Manifest.Implicit.Stack) -> [String] {
        let id = stack == .user ? Int64(Int32(truncatingIfNeeded: part)) : part
        let pid = stack == .user ? Int32(truncatingIfNeeded: UInt64(bitPattern: part) >> 32) : nil
        if id == -14 { return [] }   // -EFAULT
        guard id >= 0, id <= Int64(UInt32.max) else { return ["[unavailable: \(id)]"] }
        let map = stack == .user ? Manifest.Implicit.userStackMap : Manifest.Implicit.kernelStackMap
        let key = withUnsafeBytes(of: UInt32(id).littleEndian, Array.init)
        guard let m = try? self.map(map), let value = try? object.lookup(map: map, key: key) else { return ["[unavailable: \(id)]"] }
        let ips = LoaderSession.addresses(value, valueSize: m.valueSize)
        let symbolizer = self.symbolizer ?? Symbolizer()
        return symbolizer.symbolsWithOffsets(ips, pid: pid)
    }

    /// The entries hooks see (`@m.to_h`, `each`): merged as printed, a key
    /// of several parts as a record of them (k0, k1, …), avg as the
    /// average, stats as {count, average, total}; no key: key 0. nil for histograms, whose
    /// entries stay one per bucket.
    func implicitHostEntries(_ m: LoaderManifest.Map, _ im: Manifest.Implicit) throws -> [(key: Value, value: Value)]? {
        switch im.aggregation { case .hist, .lhist: return nil; default: break }
        // Integer key parts as bpftrace prints them, signed: a kernel address
        // reaches the hooks as an exact (negative) Integer, not a Float.
        func part(_ v: Value) -> Value { if case .unsigned(let u) = v { return .signed(Int64(bitPattern: u)) }; return v }
        return try implicitEntries(m, im).map { e in
            let key: Value = e.key.isEmpty ? .unsigned(0) : e.key.count == 1 ? part(e.key[0])
                : .record("", e.key.enumerated().map { ("k\($0.offset)", part($0.element)) })
            let v = Self.implicitValue(e, im.aggregation)
            let value: Value = im.aggregation == .stats
                ? .record("", [("count", .signed(e.b)), ("average", .signed(v)), ("total", .signed(e.a))]) : .signed(v)
            return (key, value)
        }
    }

    /// An entry's value merged over its per-CPU slots; nil when no CPU set it.
    static func merged(_ raw: [UInt8], _ m: LoaderManifest.Map, _ im: Manifest.Implicit) -> (Int64, Int64)? {
        let width = isPerCPU(m) ? (m.valueSize + 7) & ~7 : raw.count
        guard width >= 8 else { return nil }
        func word(_ at: Int) -> Int64 { raw.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: Int64.self) } }
        var a: Int64 = 0, b: Int64 = 0, any = false
        for slot in stride(from: 0, to: raw.count - width + 1, by: width) {
            let x = word(slot), y = m.valueSize >= 16 ? word(slot + 8) : 0
            switch im.aggregation {
            case .store: if !any { a = x }; any = true
            case .sum: a &+= x; any = true
            case .hist, .lhist: a &+= x; b &+= y; any = true
            case .avg, .stats: a &+= x; b &+= y; any = true
            case .min, .max:
                guard y != 0 else { continue }
                a = !any ? x : (im.aggregation == .min ? Swift.min(a, x) : Swift.max(a, x)); b = 1; any = true
            }
        }
        return any ? (a, b) : nil
    }

    /// `@m[k]` in a hook: the value as `to_h` gives it (no key: k is 0), or nil.
    func implicitHostValue(_ m: LoaderManifest.Map, _ im: Manifest.Implicit, key: HostValue) throws -> Value? {
        let k = im.keys == 0 ? [UInt8](repeating: 0, count: 8) : try keyBytes(key, map: m)
        guard let raw = try object.lookup(map: m.name, key: k), let (a, b) = Self.merged(raw, m, im) else { return nil }
        let e = ImplicitEntry(key: [], bucket: 0, a: a, b: b), v = Self.implicitValue(e, im.aggregation)
        return im.aggregation == .stats ? .record("", [("count", .signed(b)), ("average", .signed(v)), ("total", .signed(a))]) : .signed(v)
    }

    /// A key part as bpftrace prints it: strings bare, integers signed.
    static func implicitKeyPart(_ v: Value) -> String {
        switch v {
        case .string(let s): return s
        case .unsigned(let u): return String(Int64(bitPattern: u))
        default: return v.text
        }
    }

    static func implicitKeyText(_ key: [Value]) -> String {
        key.isEmpty ? "" : "[" + key.map(implicitKeyPart).joined(separator: ", ") + "]"
    }

    /// The value bpftrace prints for an entry (and sorts by).
    static func implicitValue(_ e: ImplicitEntry, _ agg: Manifest.Aggregation) -> Int64 {
        switch agg {
        case .avg, .stats: return e.b == 0 ? 0 : e.a / e.b
        default: return e.a
        }
    }

    /// The buckets of one histogram: (label, JSON bounds, count), from the
    /// first non-empty bucket to the last.
    static func implicitBuckets(_ counts: [Int: Int64], _ agg: Manifest.Aggregation) -> [(label: String, min: Int64?, max: Int64?, count: Int64)] {
        guard let first = counts.filter({ $0.value > 0 }).keys.min(), let last = counts.filter({ $0.value > 0 }).keys.max() else { return [] }
        func label(_ v: Int64) -> String { v < 0 ? "-" + Histogram.label(UInt64(-v)) : Histogram.label(UInt64(v)) }
        return (first...last).map { i in
            let c = counts[i] ?? 0
            switch agg {
            case .lhist(let lo, let hi, let step):
                let n = 1 + (hi - lo) / step
                if i == 0 { return ("(..., \(label(lo)))", nil, lo - 1, c) }
                if i >= n { return ("[\(label(hi)), ...)", hi, nil, c) }
                let low = lo + Int64(i - 1) * step
                return ("[\(label(low)), \(label(low + step)))", low, low + step - 1, c)
            default:
                if i == 0 { return ("(..., 0)", nil, -1, c) }
                if i == 1 { return ("[0]", 0, 0, c) }
                if i == 2 { return ("[1]", 1, 1, c) }
                let low = Int64(1) << Int64(i - 2)
                if i - 1 >= 63 { return ("[\(label(low)), ...)", low, nil, c) }
                return ("[\(label(low)), \(label(low << 1)))", low, (low << 1) - 1, c)
            }
        }
    }

    /// The histograms of a map: per key, the bucket counts and the sum of
    /// the values counted, by total count ascending.
    func implicitHistograms(_ entries: [ImplicitEntry]) -> [(key: [Value], counts: [Int: Int64], sum: Int64)] {
        var byKey: [String: (key: [Value], counts: [Int: Int64], sum: Int64)] = [:]
        for e in entries {
            let t = Self.implicitKeyText(e.key)
            byKey[t, default: (e.key, [:], 0)].counts[e.bucket, default: 0] += e.a
            byKey[t]!.sum &+= e.b
        }
        return byKey.sorted {
            let (x, y) = ($0.value.counts.values.reduce(0, +), $1.value.counts.values.reduce(0, +))
            return x != y ? x < y : $0.key < $1.key
        }.map(\.value)
    }

    /// The exit report of every non-empty implicit map (or the one named
    /// `only`; its `top` largest entries or histograms), in bpftrace's text layout.
    func implicitText(only: String? = nil, top: Int? = nil) throws -> String {
        var out = ""
        for (m, im) in implicitMaps where only == nil || m.name == only {
            let entries = try implicitEntries(m, im)
            guard !entries.isEmpty else { continue }
            let name = "@" + m.name
            switch im.aggregation {
            case .hist, .lhist:
                let histograms = implicitHistograms(entries)
                for h in top.map({ Array(histograms.suffix(max($0, 0))) }) ?? histograms {
                    out += "\(name)\(Self.implicitKeyText(h.key)): \n"
                    let buckets = Self.implicitBuckets(h.counts, im.aggregation)
                    let top = buckets.map(\.count).max() ?? 1
                    for b in buckets {
                        let count = String(b.count)
                        let bars = top == 0 ? 0 : Int(b.count * 52 / top)
                        out += LoaderCLI.pad(b.label, 16) + String(repeating: " ", count: max(0, 8 - count.count)) + count
                            + " |" + String(repeating: "@", count: bars) + String(repeating: " ", count: 52 - bars) + "|\n"
                    }
                    out += "\n"
                }
            default:
                let sorted = entries.sorted {
                    let (x, y) = (Self.implicitValue($0, im.aggregation), Self.implicitValue($1, im.aggregation))
                    return x != y ? x < y : Self.implicitKeyText($0.key) < Self.implicitKeyText($1.key)
                }
                for e in top.map({ Array(sorted.suffix(max($0, 0))) }) ?? sorted {
                    let v = Self.implicitValue(e, im.aggregation)
                    let text = im.aggregation == .stats ? "count \(e.b), average \(v), total \(e.a)" : String(v)
                    out += "\(name)\(Self.implicitKeyText(e.key)): \(text)\n"
                }
                if im.aggregation == .avg || im.aggregation == .stats { out += "\n" }
            }
        }
        return out
    }

    /// The implicit maps as bpftrace's `-f json` lines, one per non-empty map.
    func implicitJSON(only: String? = nil) throws -> [String] {
        var lines: [String] = []
        for (m, im) in implicitMaps where only == nil || m.name == only {
            let entries = try implicitEntries(m, im)
            guard !entries.isEmpty else { continue }
            let name = JSON.quoted("@" + m.name)
            func jsonKey(_ key: [Value]) -> String { JSON.quoted(key.map(Self.implicitKeyPart).joined(separator: ",")) }
            func keyed(_ items: [(key: [Value], json: String)]) -> String {
                im.keys == 0 ? (items.first?.json ?? "null") : "{" + items.map { "\(jsonKey($0.key)): \($0.json)" }.joined(separator: ", ") + "}"
            }
            switch im.aggregation {
            case .hist, .lhist:
                let items = implicitHistograms(entries).map { h -> (key: [Value], json: String) in
                    let buckets = Self.implicitBuckets(h.counts, im.aggregation).map { b -> String in
                        var f: [String] = []
                        if let lo = b.min { f.append("\"min\": \(lo)") }
                        if let hi = b.max { f.append("\"max\": \(hi)") }
                        f.append("\"count\": \(b.count)")
                        return "{" + f.joined(separator: ", ") + "}"
                    }
                    return (h.key, "[" + buckets.joined(separator: ", ") + "]")
                }
                lines.append("{\"type\": \"hist\", \"data\": {\(name): \(keyed(items))}}")
            default:
                let sorted = entries.sorted { Self.implicitValue($0, im.aggregation) < Self.implicitValue($1, im.aggregation) }
                let items = sorted.map { e -> (key: [Value], json: String) in
                    let v = Self.implicitValue(e, im.aggregation)
                    return (e.key, im.aggregation == .stats ? "{\"count\": \(e.b), \"average\": \(v), \"total\": \(e.a)}" : String(v))
                }
                let type = im.aggregation == .avg || im.aggregation == .stats ? "stats" : "map"
                if im.stacks != nil {
                    // A stack key part is its frames, an array: the entries as [{"key": [parts], "value": v}].
                    let rows = zip(sorted, items).map { e, item -> String in
                        let parts = e.key.enumerated().map { i, p in
                            e.frames[i].map { "[" + $0.map(JSON.quoted).joined(separator: ", ") + "]" } ?? JSON.quoted(Self.implicitKeyPart(p))
                        }
                        return "{\"key\": [" + parts.joined(separator: ", ") + "], \"value\": \(item.json)}"
                    }
                    lines.append("{\"type\": \"\(type)\", \"data\": {\(name): [\(rows.joined(separator: ", "))]}}")
                    continue
                }
                lines.append("{\"type\": \"\(type)\", \"data\": {\(name): \(keyed(items))}}")
            }
        }
        return lines
    }
}

extension Manifest.Aggregation {
    /// hist and lhist: one entry per key and bucket.
    var isHistogram: Bool {
        switch self { case .hist, .lhist: return true; default: return false }
    }
}
