import InfraredObject

// What the programs could not do (Fault in InfraredObject): records dropped
// on a full ring buffer, updates refused by a full map, counted in the
// `.bss` array `Fault.variableName` by the compiled code, and the perf
// buffers' lost samples counted by libbpf. A tool reports them at exit
// (stderr; a JSON line with --format json) and in /metrics; nothing is
// dropped silently.

extension MapAccess {
    /// Each fault site's count (an empty list when the object has none; 0s
    /// when its counters cannot be read).
    func faultCounts() -> [(fault: Fault, count: UInt64)] {
        guard let faults = manifest.faults, !faults.isEmpty else { return [] }
        let bss = sectionMap(.bss).flatMap { try? object.lookup(map: $0, key: [0, 0, 0, 0]) } ?? []
        return faults.map { f in
            guard f.offset + 8 <= bss.count else { return (f, 0) }
            return (f, (0..<8).reduce(UInt64(0)) { $0 | UInt64(bss[f.offset + $1]) << (8 * UInt64($1)) })
        }
    }
}

extension LoaderSession {
    /// The exit report of faults: compiled counters and perf buffers' lost
    /// samples, non-zero ones only. Text goes to stderr (the output stays
    /// the data), JSON is one `{"faults":[…]}` line on stdout.
    func reportFaults(_ access: MapAccess) {
        var found = access.faultCounts().filter { $0.count > 0 }.map { (map: $0.fault.map, kind: $0.fault.kind, count: $0.count) }
        for (map, n) in stats.snapshot().lost.sorted(by: { $0.key < $1.key }) where n > 0 {
            found.append((map, .lostRecords, n))
        }
        guard !found.isEmpty else { return }
        switch options.format {
        case .json:
            let items = found.map { "{\"map\":\(JSON.quoted($0.map)),\"kind\":\"\($0.kind.rawValue)\",\"count\":\($0.count)}" }
            out.line("{\"faults\":[\(items.joined(separator: ","))]}")
        case .text:
            out.flush()
            for f in found {
                let what = f.kind == .lostRecords
                    ? "\(f.count) record\(f.count == 1 ? "" : "s") lost: \(Self.displayName(f.map)) was full (make it larger, or read it faster)"
                    : "\(f.count) map update\(f.count == 1 ? "" : "s") failed: \(Self.displayName(f.map)) was full (raise its max_entries)"
                writeStandardError("\(tool): \(what)")
            }
        }
    }

    /// How a report names a map: the implicit `puts`/`printf` buffer as such.
    static func displayName(_ map: String) -> String {
        map == PrintOutput.mapName ? "the puts/printf ring buffer" : "`\(map)`"
    }
}
