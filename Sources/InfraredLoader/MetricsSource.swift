import InfraredObject
import InfraredRuntime
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// What `/metrics` shows, rendered on each scrape (Prometheus text
/// exposition format 0.0.4): maps as gauges labelled by key, hist maps as
/// histograms (`_bucket{le=…}` cumulative, `_sum` from the slot after the
/// buckets, `_count`), globals as gauges, and per-map record counters.
struct MetricsSource: @unchecked Sendable {
    let access: MapAccess
    let stats: RecordStats
    let prefix: String
    /// `metric_labels` tables (MetricLabels.swift): a labelled map's series
    /// carry its decoded labels; keys that decode alike are added together.
    var decoded: MetricLabels? = nil

    static func metricName(_ s: String) -> String {
        String(s.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" ? $0 : "_" })
    }

    static func labelValue(_ s: String) -> String {
        s.replacing(text: "\\", with: "\\\\").replacing(text: "\"", with: "\\\"").replacing(text: "\n", with: "\\n")
    }

    static func labels(for key: Value) -> String {
        switch key {
        case .record(_, let fields):
            return fields.map { "\(metricName($0.0))=\"\(labelValue(plain($0.1)))\"" }.joined(separator: ",")
        default:
            return "key=\"\(labelValue(plain(key)))\""
        }
    }

    static func plain(_ v: Value) -> String {
        if case .string(let s) = v { return s }
        return v.text
    }

    /// Integer samples of a value: the value itself, or each integer field of a struct.
    static func samples(_ v: Value) -> [(suffix: String, value: String)] {
        switch v {
        case .unsigned(let u): return [("", String(u))]
        case .signed(let i): return [("", String(i))]
        case .bool(let b): return [("", b ? "1" : "0")]
        case .record(_, let fields):
            return fields.flatMap { f in samples(f.1).map { ("_" + metricName(f.0) + $0.suffix, $0.value) } }
        default: return []
        }
    }

    func render() -> String {
        var out = ""
        let manifest = access.manifest
        for g in manifest.globals {
            let name = "\(prefix)_\(Self.metricName(g.name))"
            guard let v = try? access.global(g.name) else { continue }
            out += "# HELP \(name) global \(g.name) (\(g.type))\n# TYPE \(name) gauge\n"
            for s in Self.samples(v) { out += "\(name)\(s.suffix) \(s.value)\n" }
        }
        out += implicitMetrics()   // ImplicitMapMetrics.swift
        for m in access.reportedMaps where m.implicit == nil {
            let name = "\(prefix)_\(Self.metricName(m.name))"
            if m.kind == .hist {
                guard let counts = try? access.histogram(m.name) else { continue }
                out += "# HELP \(name) log2 histogram \(m.name)\n# TYPE \(name) histogram\n"
                let last = counts.lastIndex { $0 > 0 } ?? 0
                var cumulative: UInt64 = 0
                for k in 0...last {
                    cumulative += counts[k]
                    out += "\(name)_bucket{le=\"\(Histogram.bounds(k).high)\"} \(cumulative)\n"
                }
                let total = counts.reduce(0, +)
                let sum = (try? access.histogramSum(m.name)) ?? 0
                out += "\(name)_bucket{le=\"+Inf\"} \(total)\n\(name)_sum \(sum)\n\(name)_count \(total)\n"
                continue
            }
            guard let entries = try? access.entries(m.name) else { continue }
            // One metric family per integer part of the value (a struct value gives one per field).
            var families: [String] = []
            var lines: [String: [String]] = [:]
            var values: [String: String] = [:]
            let table = decoded?.table(m.name)
            for e in entries {
                let raw = Self.labels(for: e.key)
                guard let l = table == nil ? raw : table![raw] else { continue }
                for s in Self.samples(e.value) {
                    if lines[s.suffix] == nil { families.append(s.suffix); lines[s.suffix] = [] }
                    Self.add(&lines[s.suffix]!, &values, "\(name)\(s.suffix){\(l)}", s.value, sum: true)
                }
            }
            if families.isEmpty, m.value?.scalar != nil { families = [""]; lines[""] = [] }
            for f in families {
                out += "# HELP \(name)\(f) map \(m.name) (\(m.kind))\n# TYPE \(name)\(f) gauge\n"
                out += Self.text(lines[f]!, values)
            }
        }
        // Records lost: perf buffers' lost samples (libbpf counts them) and the
        // programs' own count of records a full ring buffer refused.
        let faults = access.faultCounts()
        let (records, lost) = stats.snapshot()
        if !manifest.recordMaps.isEmpty {
            let name = "\(prefix)_records_total"
            out += "# HELP \(name) records read from ring and perf buffers\n# TYPE \(name) counter\n"
            for m in manifest.recordMaps { out += "\(name){map=\"\(Self.labelValue(m.name))\"} \(records[m.name] ?? 0)\n" }
        }
        var lostLines = manifest.recordMaps.filter { $0.kind == .perfEventArray }.map { (map: $0.name, count: lost[$0.name] ?? 0) }
        lostLines += faults.filter { $0.fault.kind == .lostRecords }.map { (map: $0.fault.map, count: $0.count) }
        if !lostLines.isEmpty {
            let name = "\(prefix)_lost_records_total"
            out += "# HELP \(name) records lost: a perf buffer's lost samples, or records a full ring buffer refused\n# TYPE \(name) counter\n"
            for l in lostLines { out += "\(name){map=\"\(Self.labelValue(l.map))\"} \(l.count)\n" }
        }
        let failed = faults.filter { $0.fault.kind == .failedUpdates }
        if !failed.isEmpty {
            let name = "\(prefix)_failed_map_updates_total"
            out += "# HELP \(name) map updates refused: the map was full\n# TYPE \(name) counter\n"
            for f in failed { out += "\(name){map=\"\(Self.labelValue(f.fault.map))\"} \(f.count)\n" }
        }
        return out
    }

    /// A series of a gauge, in first-seen order; a repeat (two keys whose
    /// labels decode alike) adds to it (`sum`) or is left out.
    static func add(_ order: inout [String], _ values: inout [String: String], _ series: String, _ value: String, sum: Bool) {
        guard let old = values[series] else { order.append(series); values[series] = value; return }
        if sum { values[series] = String(integer(old) &+ integer(value)) }
    }

    /// A sample's decimal integer (what `samples` and the implicit values
    /// print); read by hand: `Int64(String)` costs the runner a page.
    static func integer(_ s: String) -> Int64 {
        var n: Int64 = 0
        for c in s.utf8 where c != 45 { n = n &* 10 &+ Int64(c &- 48) }
        return s.utf8.first == 45 ? 0 &- n : n
    }

    static func text(_ order: [String], _ values: [String: String]) -> String {
        var out = ""
        for l in order { out += l + " " + values[l]! + "\n" }
        return out
    }
}
