#if canImport(Glibc)
import Glibc
#endif

/// Where a tool's start-up goes (Benchmarks/startup-breakdown.sh). When
/// `INFRARED_STARTUP_T0` holds a `CLOCK_MONOTONIC` time in nanoseconds,
/// taken by the caller just before it exec'd the tool, each step of the
/// start-up marks how long after that it ended, and once the programs are
/// attached the tool prints them on stderr, one `startup: STEP MS` line a
/// step (milliseconds since T0, cumulative). Without the variable a mark is
/// one load and a branch, and nothing is printed.
public enum StartupTrace {
    nonisolated(unsafe) private static var t0: UInt64? = {
        guard let s = getenv("INFRARED_STARTUP_T0") else { return nil }
        return UInt64(String(cString: s))
    }()
    nonisolated(unsafe) private static var marks: [(step: String, at: UInt64)] = []

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Notes that `step` ended now (the main thread only).
    public static func mark(_ step: String) {
        guard t0 != nil else { return }
        marks.append((step, now()))
    }

    /// The `startup:` lines, once (after attaching).
    static func report() {
        guard let t0, !marks.isEmpty else { return }
        for m in marks {
            let us = (m.at &- t0) / 1000
            writeStandardError("startup: \(m.step) \(us / 1000).\(String(us % 1000 + 1000).dropFirst())")
        }
        marks = []
    }
}
