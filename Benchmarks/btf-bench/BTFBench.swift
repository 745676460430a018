import ArgumentParser
import InfraredBTF
#if canImport(Glibc)
import Glibc
#endif

/// `btf-bench`: load BTF and resolve member paths, timed (Benchmarks/btf-bench.sh).
/// Until 2026-12 this was the hidden `infrared btf bench`; the workload
/// (`BTFBenchmark.memberPaths`) is beside it, and the BTF tests use it too.
@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf-bench",
        abstract: "Time loading BTF and resolving member paths.")
    @Argument(help: "Raw BTF or ELF with .BTF.") var file: String = KernelBTF.defaultPath
    @Option(help: "How many member paths to resolve.") var paths: Int = 1000
    @Option(help: "Repetitions (the best time is reported).") var rounds: Int = 5
    @Flag(help: "Only load the BTF once (for peak-memory measurement).") var loadOnly = false

    func run() throws {
        if loadOnly {
            let spec = try BTFSpec(path: file)
            print("types=\(spec.typeCount)")
            return
        }
        var bestLoad = Double.infinity, bestResolve = Double.infinity, resolved = 0, count = 0
        for _ in 0..<max(1, rounds) {
            let t0 = monotonicNanoseconds()
            let spec = try BTFSpec(path: file)
            let t1 = monotonicNanoseconds()
            let list = BTFBenchmark.memberPaths(in: BTFSpec(types: Array(spec.types.dropFirst())), count: paths)
            // Timed from here: the first look-up also builds the name index.
            let t2 = monotonicNanoseconds()
            resolved = 0
            for p in list where (try? spec.resolve(path: p)) != nil { resolved += 1 }
            let t3 = monotonicNanoseconds()
            count = list.count
            bestLoad = min(bestLoad, Double(t1 - t0) / 1e6)
            bestResolve = min(bestResolve, Double(t3 - t2) / 1e6)
        }
        print("load_ms=\(decimal(bestLoad, 1)) resolve_ms=\(decimal(bestResolve, 2)) paths=\(count) resolved=\(resolved)")
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
private func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// `value` with `places` decimals (what `%.Nf` prints, for the values the bench shows).
private func decimal(_ value: Double, _ places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let n = Int((value * scale).rounded())
    let whole = n / Int(scale), fraction = n % Int(scale)
    let digits = String(fraction)
    return "\(whole)." + String(repeating: "0", count: places - digits.count) + digits
}
