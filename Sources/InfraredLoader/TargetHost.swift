import BPF
import InfraredObject
import InfraredProfile
import InfraredRuntime

/// The hooks' `Target` module: the process `--pid` names, looked into before
/// the programs load (a runtime's version, the address of its globals), and
/// the params a `before_load` hook sets from what it found.
extension LoaderSession {
    func targetHost(_ op: String, _ args: [HostValue]) throws -> HostValue {
        func arg(_ i: Int) -> HostValue { i < args.count ? args[i] : .nil }
        guard let pid = options.pid else {
            if op == "target_pid" { return .nil }
            throw LoaderFailure("Target.\(op.dropFirst("target_".count)) needs a process: give --pid PID")
        }
        switch op {
        case "target_pid":
            return .int(Int64(pid))
        case "target_library":
            guard let name = arg(0).stringValue else { throw LoaderFailure("Target.library: the name must be a String") }
            return MappedFiles.find(name, pid: pid).map { .string($0) } ?? .nil
        case "target_address":
            guard let path = arg(0).stringValue, let symbol = arg(1).stringValue else { throw LoaderFailure("Target.address: give a mapped file's path and a symbol name") }
            return ProcessImage.address(of: symbol, in: path, pid: pid).map { .int(Int64(bitPattern: $0)) } ?? .nil
        case "target_read_string":
            guard case .int(let address) = arg(0) else { throw LoaderFailure("Target.read_string: the address must be an Integer, not \(arg(0))") }
            var limit = 256
            if case .int(let n) = arg(1) { limit = Int(max(1, min(n, 4096))) }
            return ProcessImage.string(at: UInt64(bitPattern: address), pid: pid, limit: limit).map { .string($0) } ?? .nil
        default:
            throw LoaderFailure("unknown host operation \(op)")
        }
    }

    /// A value a hook gave param `p` as the Integer its `.rodata` slot holds.
    static func paramValue(_ v: HostValue, _ p: Manifest.Variable) throws -> Int64 {
        let value: Int64
        switch v {
        case .int(let i): value = i
        case .bool(let b): value = b ? 1 : 0
        case .float(let d) where p.type == .u64 && d >= 0 && d < 18446744073709551616.0 && d == d.rounded():
            value = Int64(bitPattern: UInt64(d))
        default:
            throw LoaderFailure("before_load set param \(p.name) to \(v): it takes an Integer (\(p.type))")
        }
        let r = p.type.range
        let fits = p.type == .u64 ? true : (value >= r.min && (value < 0 || UInt64(value) <= r.max))
        guard fits else { throw LoaderFailure("before_load set param \(p.name) to \(value), outside \(p.type)'s \(r.min)…\(r.max)") }
        return value
    }
}
