import InfraredObject
import InfraredRuntime

/// `metric_labels :map do |key| { syscall: syscall_name(key) } end`: the
/// labels a map's key becomes on `/metrics` (`TOOL_map{syscall="getpid"}`
/// instead of `{key="39"}`).
///
/// The block runs in mruby, which is not thread-safe, and `/metrics`
/// renders on the server's thread, so the loader's main loop decodes: before
/// the server starts and then at most once a second it reads the labelled
/// maps' keys, runs the block for each key it has not decoded yet, and keeps
/// a table from each key's raw labels to its decoded ones (the keys in the
/// map now only). A scrape reads the table under a lock and leaves out a key
/// decoded after it (it shows within a second).
final class MetricLabels: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var byMap: [String: [String: String]] = [:]

    func table(_ map: String) -> [String: String]? { lock.lock(); defer { lock.unlock() }; return byMap[map] }
    func set(_ map: String, _ table: [String: String]) { lock.lock(); byMap[map] = table; lock.unlock() }

    /// `name="value",…` from the Hash a block gave, in its order (nil: an empty value).
    static func text(_ labels: HostValue) -> String {
        guard case .hash(let pairs) = labels else { return "" }
        return pairs.map { k, v in
            let value: String
            switch v {
            case .nil: value = ""
            case .string(let s): value = s
            default: value = v.description
            }
            return MetricsSource.metricName(k.stringValue ?? "label") + "=\"" + MetricsSource.labelValue(value) + "\""
        }.joined(separator: ",")
    }
}

extension LoaderSession {
    /// Decodes the labelled maps' new keys (main loop only: it runs the hooks).
    func refreshMetricLabels() throws {
        guard let hooks, let access, let labels = metricLabels else { return }
        for name in hooks.labelMaps {
            let m = try access.map(name)
            let old = labels.table(name) ?? [:]
            var new: [String: String] = [:]
            var keys: [(raw: String, key: HostValue)] = []
            if let im = m.implicit {
                for e in try access.implicitEntries(m, im) {
                    let parts = e.key.map(Self.keyPart)
                    keys.append((MetricsSource.implicitLabels(e.key).joined(separator: ","), parts.count == 1 ? parts[0] : .array(parts)))
                }
            } else {
                for e in try access.entries(name) { keys.append((MetricsSource.labels(for: e.key), HookRuntime.host(e.key))) }
            }
            for k in keys where new[k.raw] == nil {          // an implicit histogram: one entry per bucket
                do { new[k.raw] = try old[k.raw] ?? MetricLabels.text(hooks.labels(map: name, key: k.key)) }
                catch { throw LoaderFailure("metric_labels :\(name) raised: \(error)") }
            }
            labels.set(name, new)
        }
    }

    /// An implicit map's key part as the hooks' `to_h` gives it: an integer
    /// signed (a kernel address stays exact).
    static func keyPart(_ v: Value) -> HostValue {
        if case .unsigned(let u) = v { return .int(Int64(bitPattern: u)) }
        return HookRuntime.host(v)
    }
}
