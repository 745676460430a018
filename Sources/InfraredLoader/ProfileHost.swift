import InfraredProfile

/// The hooks' calls for profiles: stack maps read and symbolized
/// (`stacks.addresses(id)`, `stacks.symbols(id[, pid])`) and flame graphs
/// (`FlameGraph.write(path, folded)`, `FlameGraph.svg(folded)`).
extension LoaderSession {
    func profileHost(_ op: String, _ args: [HostValue], access: MapAccess) throws -> HostValue {
        func arg(_ i: Int) -> HostValue { i < args.count ? args[i] : .nil }
        switch op {
        case "stack_addresses", "stack_symbols":
            guard let name = arg(0).stringValue else { throw LoaderFailure("\(op): bad arguments") }
            guard case .int(let id) = arg(1) else { throw LoaderFailure("\(name).\(op == "stack_symbols" ? "symbols" : "addresses"): the stack id must be an Integer, not \(arg(1))") }
            let ips = try stackAddresses(map: name, id: id, access: access)
            if op == "stack_addresses" { return .array(ips.map { $0 <= UInt64(Int64.max) ? .int(Int64($0)) : .float(Double($0)) }) }
            var pid: Int32? = nil
            switch arg(2) {
            case .nil: break
            case .int(let p) where p >= 0 && p <= Int64(Int32.max): pid = Int32(p)
            default: throw LoaderFailure("\(name).symbols: the pid must be a non-negative Integer, not \(arg(2))")
            }
            return .array(symbolizer.symbols(ips, pid: pid).map { .string($0) })
        case "stack_remember":
            guard case .int(let p) = arg(1), p >= 0, p <= Int64(Int32.max) else { throw LoaderFailure("remember: the pid must be a non-negative Integer, not \(arg(1))") }
            symbolizer.remember(pid: Int32(p))
            return .nil
        case "flamegraph_write", "flamegraph_svg":
            let (foldedArg, titleArg) = op == "flamegraph_write" ? (arg(1), arg(2)) : (arg(0), arg(1))
            let folded = try Self.folded(foldedArg)
            let title = titleArg.stringValue ?? "Flame Graph"
            if op == "flamegraph_svg" { return .string(FlameGraph.svg(folded, title: title)) }
            guard let path = arg(0).stringValue, !path.isEmpty else { throw LoaderFailure("FlameGraph.write: the path must be a String") }
            try FlameGraph.write(folded, to: path, title: title)
            return .nil
        default:
            throw LoaderFailure("unknown host operation \(op)")
        }
    }

    /// The instruction pointers of stack `id`, leaf first: the map's value
    /// is an array of u64 (the map's value size / 8 of them), ended by the
    /// first zero. A negative id (what `get_stackid` returns when it recorded
    /// nothing) or an absent one is an empty stack.
    func stackAddresses(map name: String, id: Int64, access: MapAccess) throws -> [UInt64] {
        let m = try access.map(name)
        guard m.kind == .stackTrace else { throw LoaderFailure("map :\(name) is a \(m.kind) map, not a stack_trace map") }
        guard id >= 0, id <= Int64(UInt32.max) else { return [] }
        let key = withUnsafeBytes(of: UInt32(id).littleEndian, Array.init)
        guard let value = try access.object.lookup(map: name, key: key) else { return [] }
        return Self.addresses(value, valueSize: m.valueSize)
    }

    static func addresses(_ value: [UInt8], valueSize: Int) -> [UInt64] {
        var out: [UInt64] = []
        let n = min(value.count, valueSize > 0 ? valueSize : value.count) / 8
        for i in 0..<n {
            let ip = value.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            if ip == 0 { break }
            out.append(ip)
        }
        return out
    }

    /// A Ruby Hash `"a;b;c" => count` (or an Array of pairs) as folded stacks.
    static func folded(_ v: HostValue) throws -> [(stack: String, count: UInt64)] {
        let pairs: [(HostValue, HostValue)]
        switch v {
        case .hash(let h): pairs = h
        case .array(let a): pairs = try a.map { p in
            guard case .array(let kv) = p, kv.count == 2 else { throw LoaderFailure("FlameGraph: expected \"stack\" => count pairs") }
            return (kv[0], kv[1])
        }
        default: throw LoaderFailure("FlameGraph: expected a Hash of \"stack\" => count, not \(v)")
        }
        return try pairs.map { k, n in
            guard let stack = k.stringValue else { throw LoaderFailure("FlameGraph: a stack must be a String like \"comm;main;f\", not \(k)") }
            switch n {
            case .int(let c) where c >= 0: return (stack, UInt64(c))
            case .float(let d) where d >= 0 && d < 1.8e19: return (stack, UInt64(d))
            default: throw LoaderFailure("FlameGraph: the count of \"\(stack)\" must be a non-negative Integer, not \(n)")
            }
        }
    }
}

extension HookRuntime {
    static func host(_ v: OptionValue) -> HostValue {
        switch v {
        case .string(let s): return .string(s)
        case .int(let i): return .int(i)
        case .bool(let b): return .bool(b)
        }
    }
}
