import Foundation
import XCTest

/// A generated loader killed at any moment of its start-up, by any of the
/// signals that end it, leaves nothing in the kernel: no program, link or
/// map of its own, nothing pinned. Many loaders in a row leave nothing
/// either, and cost the process that runs them no file descriptor. Checks
/// look only at objects carrying this test's unique names, so programs that
/// other processes load meanwhile do not disturb them.
///
/// INFRARED_LOADER_KILLS (default 30) sets the number of kills,
/// INFRARED_LOADER_KILL_SEED the random delays' seed (printed).
final class LoaderHardeningTests: LoaderDirectoryTestCase {
    /// An exec tracer whose program and maps all carry `tag`, so the
    /// kernel's lists can be searched for exactly what this loader created.
    static func probe(tag: String) -> String {
        """
        license "GPL"
        param :target_pid, :u32, default: 0

        struct :Event do
          u32  :pid
          char :comm, 16
        end

        map :ev_\(tag), :ringbuf, max_entries: 64 * 4096
        map :ct_\(tag), :hash, key: :u32, value: :u64, max_entries: 1024

        tracepoint "sched/sched_process_exec", name: "irk_\(tag)" do |ctx|
          if target_pid == 0 || pid == target_pid
            e = ev_\(tag).reserve(Event)
            e.pid = pid
            e.comm = comm
            ev_\(tag).submit(e)
            ct_\(tag)[pid] += 1
          end
          0
        end
        """
    }

    /// What is left in the kernel of a loader built from `probe(tag:)`:
    /// programs, links of those programs, and maps, by name.
    struct Leftovers: Equatable, CustomStringConvertible {
        var programs: [UInt32] = []
        var links: [UInt32] = []
        var maps: [String] = []
        var isEmpty: Bool { programs.isEmpty && links.isEmpty && maps.isEmpty }
        var description: String { "programs \(programs), links \(links), maps \(maps)" }
    }

    static func leftovers(tag: String) throws -> Leftovers {
        let programs = try LoaderSupport.programs(named: ["irk_\(tag)"]).map(\.id)
        let links = try LoaderSupport.links().filter { programs.contains($0.program) }.map(\.id)
        let r = try LoaderSupport.run("/usr/sbin/bpftool", ["--json", "map", "show"])
        guard r.status == 0 else { throw SupportFailure("bpftool map show: \(r.stderr)") }
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        let maps = json.compactMap { $0["name"] as? String }.filter { $0.hasSuffix(tag) && ($0.hasPrefix("ev_") || $0.hasPrefix("ct_")) }
        return Leftovers(programs: programs, links: links, maps: maps)
    }

    /// Waits (the kernel frees programs and maps from a workqueue) until nothing is left.
    static func waitForNothingLeft(tag: String, seconds: Double = 5) throws -> Leftovers {
        let deadline = Date().addingTimeInterval(seconds)
        var left = try leftovers(tag: tag)
        while !left.isEmpty && Date() < deadline {
            usleep(50_000)
            left = try leftovers(tag: tag)
        }
        return left
    }

    /// Everything under /sys/fs/bpf (the bpffs mount), recursively.
    static func pinned() -> Set<String> {
        guard let e = FileManager.default.enumerator(atPath: "/sys/fs/bpf") else { return [] }
        return Set(e.compactMap { $0 as? String })
    }

    /// Open file descriptors of this process.
    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Start-up measured first (exec to the "attached" line), then SIGINT,
    /// SIGTERM and SIGKILL in turn after a random delay from 0 to 1.5 times
    /// that: before `main` blocks the signals, during each step (payload
    /// check, open, load, attach), and after start-up.
    func testKilledAtRandomPointsOfStartUpLeavesNothingBehind() throws {
        let env = ProcessInfo.processInfo.environment
        let kills = Int(env["INFRARED_LOADER_KILLS"] ?? "") ?? 30
        let seed = UInt64(env["INFRARED_LOADER_KILL_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        var rng = SplitMix(state: seed)
        let tag = String(LoaderSupport.uniqueName("").suffix(5))
        let tool = try LoaderSupport.buildLoader(source: Self.probe(tag: tag), name: "killstart", in: dir)
        let pinnedBefore = Self.pinned()

        // Start-up time: the median of five starts, polled every 0.5 ms.
        var startups: [Double] = []
        for _ in 0..<5 {
            let p = ToolProcess(tool, [])
            let t0 = Date()
            try p.start()
            while !p.stderr.contains("attached") && p.process.isRunning && Date().timeIntervalSince(t0) < 60 { usleep(500) }
            guard p.stderr.contains("attached") else {
                _ = p.wait(timeout: 1)
                return XCTFail("the loader did not attach: \(p.stderr)")
            }
            startups.append(Date().timeIntervalSince(t0))
            p.signal(SIGINT)
            XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        }
        let startup = startups.sorted()[2]
        XCTAssertEqual(try Self.waitForNothingLeft(tag: tag), Leftovers(), "after the timing runs")

        let signals: [(Int32, String)] = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM"), (SIGKILL, "SIGKILL")]
        var outcomes: [String: Int] = [:]
        for i in 0..<kills {
            let (sig, sigName) = signals[i % signals.count]
            let delay = Double(rng.next() % 1_000_000) / 1_000_000 * 1.5 * startup
            let p = ToolProcess(tool, [])
            try p.start()
            usleep(useconds_t(delay * 1_000_000))
            let attached = p.stderr.contains("attached")
            p.signal(sig)
            let status = p.wait(timeout: 30)
            let what = "kill \(i): \(sigName) after \(String(format: "%.1f", delay * 1000)) ms (start-up \(String(format: "%.1f", startup * 1000)) ms, seed \(seed))"
            switch sig {
            case SIGKILL:
                XCTAssertEqual(status, SIGKILL, "\(what): \(p.stderr)")
            default:
                // Before main blocks the signal its default action ends the process; after, a clean exit.
                XCTAssertTrue(status == 0 || status == sig, "\(what): status \(String(describing: status)), \(p.stderr)")
            }
            outcomes["\(sigName) \(attached ? "after" : "before") the attached line, status \(status.map(String.init) ?? "none")", default: 0] += 1
            let left = try Self.waitForNothingLeft(tag: tag)
            XCTAssertTrue(left.isEmpty, "\(what) left \(left)")
        }
        let newPins = Self.pinned().subtracting(pinnedBefore)
        XCTAssertTrue(newPins.filter { $0.contains(tag) }.isEmpty, "pinned under /sys/fs/bpf: \(newPins.sorted())")
        print("loader kills: \(kills) (seed \(seed), start-up \(String(format: "%.1f", startup * 1000)) ms, delays 0…\(String(format: "%.1f", startup * 1500)) ms): "
              + outcomes.sorted { $0.key < $1.key }.map { "\($0.value)× \($0.key)" }.joined(separator: "; ")
              + "; new entries under /sys/fs/bpf: \(newPins.count)")
    }

    /// 24 loaders generated, started and stopped in turn (SIGINT, SIGTERM or
    /// `--duration`): each attaches, each leaves nothing when it ends, and the
    /// test process ends with the descriptors it started with (the pipes and
    /// processes of all 24, and of the 24 `gen loader` runs, are closed).
    func testManyLoadersInARowLeaveNothingAndLeakNoDescriptor() throws {
        let tag = String(LoaderSupport.uniqueName("").suffix(5))
        let pinnedBefore = Self.pinned()
        // One cycle first: Foundation opens what it keeps open (e.g. for Process) on first use.
        func cycle(_ i: Int) throws {
            let tool = try LoaderSupport.buildLoader(source: Self.probe(tag: tag), name: "loop\(i + 2)", in: dir)
            let p = ToolProcess(tool, i % 2 == 0 ? [] : ["--duration", "1"])
            try p.start()
            guard p.waitForStderr("attached", timeout: 60) else {
                _ = p.wait(timeout: 1)
                throw SupportFailure("cycle \(i): the loader did not attach: \(p.stderr)")
            }
            let running = try Self.leftovers(tag: tag)
            XCTAssertEqual(running.programs.count, 1, "cycle \(i): \(running)")
            XCTAssertEqual(running.links.count, 1, "cycle \(i): \(running)")
            if i % 2 == 0 { p.signal(i % 4 == 0 ? SIGINT : SIGTERM) }
            XCTAssertEqual(p.wait(timeout: 30), 0, "cycle \(i): \(p.stderr)")
            let left = try Self.waitForNothingLeft(tag: tag)
            XCTAssertTrue(left.isEmpty, "cycle \(i) left \(left)")
        }
        try cycle(-2)
        let fdsBefore = Self.openDescriptors()
        for i in 0..<24 { try cycle(i) }
        // The pipe readers finish on their own threads; give them a moment.
        var fdsAfter = Self.openDescriptors()
        for _ in 0..<20 where fdsAfter > fdsBefore { usleep(50_000); fdsAfter = Self.openDescriptors() }
        XCTAssertEqual(fdsAfter, fdsBefore, "open descriptors before and after 24 loaders")
        XCTAssertEqual(Self.pinned().subtracting(pinnedBefore).filter { $0.contains(tag) }, [], "pinned under /sys/fs/bpf")
        print("24 loaders: fds \(fdsBefore) → \(fdsAfter), nothing left in the kernel")
    }

    /// `--metrics PORT` (no host) listens on 127.0.0.1 only, as the kernel sees it.
    func testMetricsWithoutHostListensOnLoopbackOnly() throws {
        let tag = String(LoaderSupport.uniqueName("").suffix(5))
        let tool = try LoaderSupport.buildLoader(source: Self.probe(tag: tag), name: "metricsdefault", in: dir)
        // A free port: bind an ephemeral one, note it, close it.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)

        let p = ToolProcess(tool, ["--metrics", String(port)])
        try p.start()
        guard p.waitForStderr("attached", timeout: 60) else {
            _ = p.wait(timeout: 1)
            return XCTFail("did not attach: \(p.stderr)")
        }
        XCTAssertTrue(p.stderr.contains("http://127.0.0.1:\(port)/metrics"), p.stderr)
        // /proc/net/tcp{,6}: listening sockets (state 0A) on the port, by local address.
        let hexPort = String(format: "%04X", port)
        var listening: [String] = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = (try? String(contentsOfFile: table, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: " ")
                guard f.count > 3, f[3] == "0A", f[1].hasSuffix(":" + hexPort) else { continue }
                listening.append(String(f[1].dropLast(5)))
            }
        }
        XCTAssertEqual(listening, ["0100007F"], "listening sockets on port \(port) by local address (0100007F is 127.0.0.1)")
        XCTAssertTrue(try LoaderTests.httpGet(port: port, path: "/metrics").contains("metricsdefault_"))
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        XCTAssertTrue(try Self.waitForNothingLeft(tag: tag).isEmpty)
    }
}
