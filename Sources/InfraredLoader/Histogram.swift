/// log2 histograms as the `hist` maps hold them: 65 u64 buckets, bucket 0
/// counts values ≤ 0 and bucket k ≥ 1 counts [2^(k-1), 2^k).
public enum Histogram {
    public static let buckets = 65

    /// The smallest and largest value of bucket `k` (bucket 0: nil … 0).
    public static func bounds(_ k: Int) -> (low: Int64?, high: Int64) {
        if k == 0 { return (nil, 0) }
        let low = Int64(1) << Int64(k - 1)
        return (low, k >= 64 ? Int64.max : (Int64(1) << Int64(k)) - 1)
    }

    /// bpftrace's labels: 1024 → `1K`, 1048576 → `1M`, … (src/output.cpp hist_index_label).
    static func label(_ value: UInt64) -> String {
        let suffixes = ["", "K", "M", "G", "T", "P", "E"]
        var v = value, i = 0
        while v >= 1024 && v % 1024 == 0 && i < suffixes.count - 1 { v /= 1024; i += 1 }
        return String(v) + suffixes[i]
    }

    /// The text of bucket `k`: `(..., 0]`, `[1]`, `[2, 4)`, `[1K, 2K)`.
    public static func bucketLabel(_ k: Int) -> String {
        if k == 0 { return "(..., 0]" }
        if k == 1 { return "[1]" }
        let low = UInt64(1) << UInt64(k - 1)
        let high = k >= 64 ? "..." : label(UInt64(1) << UInt64(k))
        return "[\(label(low)), \(high))"
    }

    /// bpftrace's layout: label left in 16 columns, count right in 8, then a
    /// bar of up to 52 `@` scaled to the largest bucket. Empty buckets
    /// outside the first and last non-empty one are left out.
    public static func format(_ counts: [UInt64]) -> String {
        guard let first = counts.firstIndex(where: { $0 > 0 }), let last = counts.lastIndex(where: { $0 > 0 }) else { return "" }
        let top = counts.max() ?? 1
        var out = ""
        for k in first...last {
            let label = bucketLabel(k)
            let count = String(counts[k])
            let bars = top == 0 ? 0 : Int((counts[k] * 52) / top)
            out += LoaderCLI.pad(label, 16) + String(repeating: " ", count: max(0, 8 - count.count)) + count
                + " |" + String(repeating: "@", count: bars) + String(repeating: " ", count: 52 - bars) + "|\n"
        }
        return out
    }
}
