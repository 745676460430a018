/// Substring search and replacement on UTF-8 bytes: what the loader runner
/// needs from `firstRange(of:)`, `contains(_:)` and `replacing(_:with:)`
/// without the Swift regex library (_StringProcessing, 1.2 MB of the static
/// runner with its parser, Benchmarks/footprint.sh). The needles are ASCII
/// words, for which comparing bytes and comparing Characters agree.
extension StringProtocol {
    /// The first range of `needle` in the string, nil when absent or empty.
    public func firstRange(ofText needle: String) -> Range<Index>? {
        let hay = utf8, pattern = Array(needle.utf8)
        guard let first = pattern.first else { return nil }
        var i = hay.startIndex
        while let start = hay[i...].firstIndex(of: first) {
            var h = start, matched = true
            for b in pattern {
                guard h != hay.endIndex, hay[h] == b else { matched = false; break }
                h = hay.index(after: h)
            }
            if matched { return start..<h }
            i = hay.index(after: start)
        }
        return nil
    }

    /// Whether `needle` occurs in the string.
    public func contains(text needle: String) -> Bool { firstRange(ofText: needle) != nil }

    /// The string with every `target` (left to right, not overlapping) replaced by `replacement`.
    public func replacing(text target: String, with replacement: String) -> String {
        var out = ""
        var rest = self[...]
        while let r = rest.firstRange(ofText: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        out += rest
        return out
    }
}
