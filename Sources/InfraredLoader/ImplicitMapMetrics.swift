import InfraredObject

/// Implicit maps (`@name`) on `/metrics`: gauges labelled by key (`key`, or
/// `key1`, `key2`… for several keys), avg as a gauge of the average, stats
/// as `_count` and `_sum` gauges, hist and lhist as Prometheus histograms
/// per key (`_bucket{le=…}` cumulative with each bucket's largest value,
/// `+Inf`, `_sum` of the values counted, which the programs keep beside
/// each bucket's count, and `_count`).
extension MetricsSource {
    static func implicitLabels(_ key: [Value]) -> [String] {
        if key.count == 1 { return ["key=\"\(labelValue(MapAccess.implicitKeyPart(key[0])))\""] }
        return key.enumerated().map { "key\($0.offset + 1)=\"\(labelValue(MapAccess.implicitKeyPart($0.element)))\"" }
    }

    func implicitMetrics() -> String {
        var out = ""
        for (m, im) in access.implicitMaps {
            guard let entries = try? access.implicitEntries(m, im) else { continue }
            let name = "\(prefix)_\(Self.metricName(m.name))"
            func series(_ suffix: String, _ labels: String) -> String {
                name + suffix + (labels.isEmpty ? "" : "{" + labels + "}")
            }
            func series(_ suffix: String, _ labels: String, _ value: Int64) -> String { series(suffix, labels) + " \(value)\n" }
            // metric_labels: a key's decoded labels (nil: not decoded yet, left out).
            let table = decoded?.table(m.name)
            func keyLabels(_ key: [Value]) -> String? {
                let raw = Self.implicitLabels(key).joined(separator: ",")
                return table == nil ? raw : table![raw]
            }
            // Keys that decode alike: sums (counts) add, other series keep the first key's.
            var seen: Set<String> = []
            switch im.aggregation {
            case .hist, .lhist:
                out += "# HELP \(name) @\(m.name) (\(im.aggregation == .hist ? "hist" : "lhist"))\n# TYPE \(name) histogram\n"
                for h in access.implicitHistograms(entries) {
                    guard let labels = keyLabels(h.key), seen.insert(labels).inserted else { continue }
                    let le = labels.isEmpty ? "le=" : labels + ",le="
                    var cumulative: Int64 = 0
                    for b in MapAccess.implicitBuckets(h.counts, im.aggregation) {
                        cumulative += b.count
                        guard let high = b.max else { continue }
                        out += series("_bucket", le + "\"\(high)\"", cumulative)
                    }
                    out += series("_bucket", le + "\"+Inf\"", cumulative) + series("_sum", labels, h.sum) + series("_count", labels, cumulative)
                }
            case .stats:
                for (suffix, pick) in [("_count", { (e: MapAccess.ImplicitEntry) in e.b }), ("_sum", { (e: MapAccess.ImplicitEntry) in e.a })] {
                    out += "# HELP \(name)\(suffix) @\(m.name) (stats)\n# TYPE \(name)\(suffix) gauge\n"
                    var order: [String] = [], values: [String: String] = [:]
                    for e in entries { if let l = keyLabels(e.key) { Self.add(&order, &values, series(suffix, l), String(pick(e)), sum: true) } }
                    out += Self.text(order, values)
                }
            default:
                out += "# HELP \(name) @\(m.name) (\(im.aggregation.functionName))\n# TYPE \(name) gauge\n"
                var order: [String] = [], values: [String: String] = [:]
                for e in entries {
                    guard let l = keyLabels(e.key) else { continue }
                    Self.add(&order, &values, series("", l), String(MapAccess.implicitValue(e, im.aggregation)), sum: im.aggregation == .sum)
                }
                out += Self.text(order, values)
            }
        }
        return out
    }
}
