import InfraredBTF

/// Workloads for timing the BTF model (`btf-bench`,
/// Benchmarks/btf-bench.sh).
public enum BTFBenchmark {
    /// Up to `count` member paths that exist in `spec`, chosen
    /// deterministically: for each named struct in id order, one path to a
    /// named member, going one level into a nested struct, through a
    /// pointer, or into an array element when the member allows it.
    public static func memberPaths(in spec: BTFSpec, count: Int) -> [String] {
        var paths: [String] = []
        var seen: Set<String> = []
        for id in 1..<BTFID(spec.types.count) where paths.count < count {
            guard case .structure(let c) = spec[id], !c.name.isEmpty, !seen.contains(c.name),
                  spec.typeID(named: c.name, kind: .structure) == id else { continue }
            seen.insert(c.name)
            // The last named member, so anonymous members before it are passed.
            guard let m = c.members.last(where: { !$0.name.isEmpty }) else { continue }
            var path = "\(c.name).\(m.name)"
            let inner = spec[spec.skippingModifiers(m.type)]
            switch inner {
            case .structure(let s) where s.members.contains { !$0.name.isEmpty }:
                path += "." + s.members.first { !$0.name.isEmpty }!.name
            case .pointer(let p):
                if case .structure(let s) = spec[spec.skippingModifiers(p)], let n = s.members.first(where: { !$0.name.isEmpty }) {
                    path += "." + n.name
                }
            case .array(let a) where a.count > 1:
                path += "[\(a.count - 1)]"
            default: break
            }
            paths.append(path)
        }
        return paths
    }
}
