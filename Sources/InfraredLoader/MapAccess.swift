import BPF
#if canImport(Glibc)
import Glibc
#endif
import InfraredObject
import InfraredProfile
import InfraredRuntime
import InfraredSupport

/// Typed access to a loaded object's maps and globals, through the
/// manifest: what hooks, the exit report and the metrics endpoint read.
/// Safe to use from several threads (LoadedObject serialises its calls).
final class MapAccess: @unchecked Sendable {
    let object: LoadedObject
    let manifest: LoaderManifest
    let codec: TypeCodec
    /// Names `kstack`/`ustack` keys of implicit maps (ImplicitMaps.swift).
    var symbolizer: Symbolizer?

    init(object: LoadedObject, manifest: LoaderManifest) {
        self.object = object
        self.manifest = manifest
        self.codec = TypeCodec(manifest: manifest)
    }

    enum Failure: Error, CustomStringConvertible {
        case noSuchMap(String)
        case noSuchGlobal(String)
        var description: String {
            switch self {
            case .noSuchMap(let n): return "no map named \(n)"
            case .noSuchGlobal(let n): return "no global named \(n)"
            }
        }
    }

    func map(_ name: String) throws -> LoaderManifest.Map {
        guard let m = manifest.mapNamed(name) else { throw Failure.noSuchMap(name) }
        return m
    }

    var isArrayLike: (LoaderManifest.Map) -> Bool = { [MapKind.array, .percpuArray, .hist].contains($0.kind) }
    static func isPerCPU(_ m: LoaderManifest.Map) -> Bool { m.kind.isPerCPU }

    /// Decodes a value as stored: per-CPU values summed (integers, and the
    /// integer fields of structs; other fields from the first CPU).
    func decodeValue(_ bytes: [UInt8], map m: LoaderManifest.Map) -> Value {
        guard Self.isPerCPU(m) else { return codec.decode(bytes, type: m.value, size: m.valueSize) }
        let stride = (m.valueSize + 7) & ~7
        guard stride > 0 else { return .bytes(bytes) }
        var total: Value? = nil
        var offset = 0
        while offset + m.valueSize <= bytes.count {
            let v = codec.decode(Array(bytes[offset..<offset + m.valueSize]), type: m.value, size: m.valueSize)
            total = total.map { Self.sum($0, v) } ?? v
            offset += stride
        }
        return total ?? .bytes([])
    }

    static func sum(_ a: Value, _ b: Value) -> Value {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)): return .unsigned(x &+ y)
        case (.signed(let x), .signed(let y)): return .signed(x &+ y)
        case (.record(let n, let f), .record(_, let g)) where f.count == g.count:
            return .record(n, zip(f, g).map { ($0.0, sum($0.1, $1.1)) })
        default: return a
        }
    }

    func keyBytes(_ key: HostValue, map m: LoaderManifest.Map) throws -> [UInt8] {
        try codec.encode(key, type: m.key ?? .scalar(.u32), size: m.keySize)
    }

    /// The value under `key`, or nil when absent.
    func get(_ name: String, key: HostValue) throws -> Value? {
        let m = try map(name)
        if let im = m.implicit, !im.aggregation.isHistogram {
            return try implicitHostValue(m, im, key: key)
        }
        let k = try keyBytes(key, map: m)
        return try object.lookup(map: name, key: k).map { hostValue($0, map: m) }
    }

    func set(_ name: String, key: HostValue, value: HostValue) throws {
        let m = try map(name)
        let k = try keyBytes(key, map: m)
        var v = try codec.encode(value, type: m.value, size: m.valueSize)
        if Self.isPerCPU(m) {
            // One slot per possible CPU: the value goes to the first, zeros to the rest.
            let stride = (m.valueSize + 7) & ~7
            let slots = Self.possibleCPUs()
            var all = [UInt8](repeating: 0, count: stride * max(slots, 1))
            all.replaceSubrange(0..<v.count, with: v)
            v = all
        }
        try object.update(map: name, key: k, value: v)
    }

    /// What libbpf_num_possible_cpus counts: the CPUs in /sys/devices/system/cpu/possible ("0-3,5").
    static func possibleCPUs() -> Int {
        guard let f = fopen("/sys/devices/system/cpu/possible", "r") else { return 1 }
        defer { fclose(f) }
        var buf = [CChar](repeating: 0, count: 1024)
        guard fgets(&buf, 1024, f) != nil else { return 1 }
        var n = 0
        for part in String(cString: buf).split(whereSeparator: { $0 == "," || $0 == "\n" }) {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            n += ends.count == 2 ? ends[1] - ends[0] + 1 : 1
        }
        return max(n, 1)
    }

    /// Removes `key` (array maps: sets it to zero, as they cannot delete).
    func delete(_ name: String, key: HostValue) throws {
        let m = try map(name)
        let k = try keyBytes(key, map: m)
        if isArrayLike(m) {
            guard let old = try object.lookup(map: name, key: k) else { return }
            try object.update(map: name, key: k, value: [UInt8](repeating: 0, count: old.count))
        } else {
            do { try object.delete(map: name, key: k) } catch let e as RuntimeError where "\(e)".contains(text: "ENOENT") {}
        }
    }

    /// Every entry: all keys of hash maps; the non-zero slots of array maps.
    func entries(_ name: String) throws -> [(key: Value, value: Value)] {
        let m = try map(name)
        if let im = m.implicit, let merged = try implicitHostEntries(m, im) { return merged }
        var out: [(key: Value, value: Value)] = []
        try object.forEachEntry(map: name) { k, raw in
            // A hist map's sum slot is not a bucket (histogramSum reads it).
            if m.kind == .hist, k.count == 4, k.loadUnaligned(as: UInt32.self) >= UInt32(Histogram.buckets) { return }
            let value = hostValue(Array(raw), map: m)
            if isArrayLike(m) && value.isZero { return }
            out.append((codec.decode(Array(k), type: m.key, size: m.keySize), value))
        }
        return out
    }

    /// Empties the map (array maps: every slot set to zero).
    func clear(_ name: String) throws {
        let m = try map(name)
        for k in try object.keys(map: name) {
            if isArrayLike(m) {
                guard let old = try object.lookup(map: name, key: k), old.contains(where: { $0 != 0 }) else { continue }
                try object.update(map: name, key: k, value: [UInt8](repeating: 0, count: old.count))
            } else {
                try? object.delete(map: name, key: k)
            }
        }
    }

    /// The 65 bucket counts of a hist map.
    func histogram(_ name: String) throws -> [UInt64] {
        var counts = [UInt64](repeating: 0, count: Histogram.buckets)
        for k in 0..<Histogram.buckets {
            let key = withUnsafeBytes(of: UInt32(k).littleEndian, Array.init)
            if let v = try object.lookup(map: name, key: key), v.count >= 8 {
                counts[k] = v.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            }
        }
        return counts
    }

    /// The sum of the values a hist map counted: the slot after its buckets
    /// (0 when the map has no such slot, as in objects made before it).
    func histogramSum(_ name: String) throws -> Int64 {
        let key = withUnsafeBytes(of: UInt32(Histogram.buckets).littleEndian, Array.init)
        guard let v = try object.lookup(map: name, key: key), v.count >= 8 else { return 0 }
        return v.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
    }

    /// A value as hooks see it: an implicit histogram's bucket (count and
    /// sum) as its count, as before the sum was kept.
    private func hostValue(_ raw: [UInt8], map m: LoaderManifest.Map) -> Value {
        let v = decodeValue(raw, map: m)
        if m.implicit?.aggregation.isHistogram == true, case .record(_, let fields) = v, let count = fields.first { return count.1 }
        return v
    }

    // MARK: globals

    /// The libbpf map holding `section` (`.bss`, `.data`): named `<object prefix>.bss`.
    func sectionMap(_ section: DataVariable.Section) -> String? {
        object.maps.first { $0.name.hasSuffix(section.rawValue) }?.name
    }

    func global(_ name: String) throws -> Value {
        guard let g = manifest.globals.first(where: { $0.name == name }), let mapName = sectionMap(g.section) else { throw Failure.noSuchGlobal(name) }
        guard let bytes = try object.lookup(map: mapName, key: [0, 0, 0, 0]), bytes.count >= g.offset + g.size else { return .unsigned(0) }
        return codec.decode(Array(bytes[g.offset..<g.offset + g.size]), type: .scalar(g.type), size: g.size)
    }

    func setGlobal(_ name: String, _ value: HostValue) throws {
        guard let g = manifest.globals.first(where: { $0.name == name }), let mapName = sectionMap(g.section) else { throw Failure.noSuchGlobal(name) }
        guard var bytes = try object.lookup(map: mapName, key: [0, 0, 0, 0]) else { throw Failure.noSuchGlobal(name) }
        let v = try codec.encode(value, type: .scalar(g.type), size: g.size)
        bytes.replaceSubrange(g.offset..<g.offset + g.size, with: v)
        try object.update(map: mapName, key: [0, 0, 0, 0], value: bytes)
    }

    // MARK: printing

    /// Maps that the exit report and metrics show: not record streams, stack
    /// traces (raw addresses) or libbpf's internal maps.
    var reportedMaps: [LoaderManifest.Map] {
        manifest.maps.filter { !$0.isInternal && ![MapKind.ringbuf, .perfEventArray, .stackTrace].contains($0.kind) }
    }

    /// `name[key]: value` lines sorted by value (bpftrace's `print(@map)`), or a
    /// histogram; with `top`, the `top` largest entries only (bpftrace's `print(@map, top)`).
    func formatText(_ name: String, top: Int? = nil) throws -> String {
        let m = try map(name)
        if m.implicit != nil { return try implicitText(only: name, top: top) }
        if m.kind == .hist {
            let h = Histogram.format(try histogram(name))
            return h.isEmpty ? "" : "\(name):\n" + h
        }
        if m.kind == .stackTrace || m.kind == .ringbuf || m.kind == .perfEventArray { return "" }
        let all = try entries(name).sorted { Self.order($0.value, $1.value) }
        let sorted = top.map { Array(all.suffix(max($0, 0))) } ?? all
        return sorted.map { "\(name)[\(Self.keyText($0.key))]: \($0.value.text)\n" }.joined()
    }

    static func keyText(_ key: Value) -> String {
        if case .record(_, let fields) = key { return fields.map { "\($0.0)=\($0.1.nestedText)" }.joined(separator: ", ") }
        return key.text
    }

    static func order(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.unsigned(let x), .unsigned(let y)): return x < y
        default: return a.integer < b.integer
        }
    }

    /// The map as one JSON object: `{"map":…,"entries":[{"key":…,"value":…}]}`
    /// or, for hist maps, `{"map":…,"hist":[{"bucket":"[2, 4)","min":2,"max":3,"count":…}]}`.
    func formatJSON(_ name: String) throws -> String? {
        let m = try map(name)
        if m.implicit != nil { return try implicitJSON(only: name).first }
        if m.kind == .hist {
            let counts = try histogram(name)
            guard counts.contains(where: { $0 > 0 }) else { return nil }
            let buckets = counts.indices.filter { counts[$0] > 0 }.map { k -> String in
                let (low, high) = Histogram.bounds(k)
                return "{\"bucket\":\(JSON.quoted(Histogram.bucketLabel(k))),\"min\":\(low.map(String.init) ?? "null"),\"max\":\(high),\"count\":\(counts[k])}"
            }
            return "{\"map\":\(JSON.quoted(name)),\"hist\":[\(buckets.joined(separator: ","))]}"
        }
        let list = try entries(name).sorted { Self.order($0.value, $1.value) }
        guard !list.isEmpty else { return nil }
        return "{\"map\":\(JSON.quoted(name)),\"entries\":[" + list.map { "{\"key\":\($0.key.json),\"value\":\($0.value.json)}" }.joined(separator: ",") + "]}"
    }
}
