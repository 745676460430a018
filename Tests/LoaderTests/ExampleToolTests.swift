import Foundation
import XCTest

/// The examples as users run them — `infrared run Examples/NAME.rb` — with a
/// real workload, checking what they print (their hooks, or the default
/// record and map printing).
final class ExampleToolTests: LoaderKernelTestCase {
    static let examples = LoaderSupport.packageRoot.appendingPathComponent("Examples")

    /// Starts `infrared run` on an example, waits until it is attached, runs
    /// `workload`, then lets `--duration` end it; returns stdout.
    func run(_ name: String, seconds: Int = 3, _ options: [String] = [], workload: () throws -> Void) throws -> String {
        let tool = ToolProcess(try LoaderSupport.infrared(),
                               ["run", Self.examples.appendingPathComponent("\(name).rb").path, "--duration", String(seconds)] + options)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), "\(name) did not attach: \(tool.stderr)")
        try workload()
        XCTAssertEqual(tool.wait(timeout: Double(seconds) + 30), 0, "\(name): \(tool.stderr)")
        return tool.stdout
    }

    func sh(_ script: String) throws { _ = try LoaderSupport.run("/bin/sh", ["-c", script]) }

    /// Runs a Ruby example under `infrared run` with `script` as its workload
    /// and returns the tool's stdout. Ruby 3.1.2 sometimes crashes while its
    /// USDT probes are on ("[BUG] Segmentation fault", bpftrace sees it too):
    /// only that crash is retried, with a fresh tool (so no count from a
    /// half-run survives), and every retry is printed. Any other failure of
    /// the workload, and the final attempt's exit status, fail the test.
    func runRuby(_ name: String, seconds: Int = 4, script: String) throws -> String {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("w.rb")
        try script.write(to: f, atomically: true, encoding: .utf8)
        for attempt in 1...5 {
            var ruby: LoaderSupport.Result?
            let out = try run(name, seconds: seconds) { ruby = try LoaderSupport.run("/usr/bin/ruby", [f.path]) }
            guard let r = ruby else { XCTFail("\(name): the workload did not run"); return out }
            if r.status != 0 && r.stderr.contains("[BUG]") && attempt < 5 {
                print("ruby crashed with its USDT probes enabled (attempt \(attempt), a Ruby 3.1 bug also seen under bpftrace); running \(name) again: \(r.stderr.prefix(100))")
                continue
            }
            XCTAssertEqual(r.status, 0, "the Ruby workload failed: \(r.stderr)")
            return out
        }
        return ""
    }

    func testExecsnoopPrintsEachExec() throws {
        let out = try run("execsnoop") { try sh("/bin/true; /bin/true; /bin/echo hi >/dev/null") }
        let mine = out.split(separator: "\n").filter { $0.hasSuffix("/bin/true") }
        XCTAssertGreaterThanOrEqual(mine.count, 2, out)
        XCTAssertTrue(mine.allSatisfy { $0.contains("true") }, "\(mine)")
    }

    func testOpensnoopPrintsTheFailedOpen() throws {
        let missing = "/tmp/infrared-no-such-file-\(getpid())"
        let out = try run("opensnoop") { try sh("cat \(missing) 2>/dev/null; true") }
        let line = out.split(separator: "\n").first { $0.hasSuffix(missing) }
        XCTAssertNotNil(line, out.suffix(400).description)
        XCTAssertTrue(line?.contains("  -2 ") == true || line?.contains(" -2 ") == true, "\(line ?? "")")
    }

    func testExitsnoopPrintsExitCode() throws {
        let out = try run("exitsnoop") { try sh("sh -c 'exit 9'; true") }
        XCTAssertTrue(out.split(separator: "\n").contains { $0.hasPrefix("sh ") && $0.contains("    9 ") }, out.suffix(600).description)
    }

    func testSyscountPrintsEverySecond() throws {
        let out = try run("syscount", seconds: 3) { try sh("for i in 1 2 3 4 5; do cat /dev/null; done") }
        XCTAssertGreaterThanOrEqual(out.components(separatedBy: "PID      SYSCALLS").count - 1, 2, out.prefix(400).description)
    }

    /// A static C program of this test, built into a fresh directory: `main`'s body.
    func staticProgram(_ name: String, _ body: String) throws -> String {
        let dir = try LoaderSupport.temporaryDirectory()
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("\(name).c"), binary = dir.appendingPathComponent(name)
        try "#include <fcntl.h>\n#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) { \(body) return 0; }\n"
            .write(to: source, atomically: true, encoding: .utf8)
        // Static: the dynamic loader's own system calls would count too.
        let cc = try LoaderSupport.run("/usr/bin/cc", ["-O2", "-static", "-o", binary.path, source.path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        return binary.path
    }

    /// The per-system-call table names each call (`syscall_name`): 20,000
    /// sysfs(2) calls, which nothing else makes, sum to exactly 20,000 over
    /// the per-second tables and the map printed at exit (`syscalls[139]`).
    /// The tables show a second's top 10, so the burst (a few ms) is made
    /// just after a table is printed (not across a tick) and large enough
    /// to be in the top 10 on a busy machine (321 calls once were not).
    func testSyscountNamesSystemCalls() throws {
        let binary = try staticProgram("irsysfs", "for (int i = 0; i < 20000; i++) syscall(SYS_sysfs, 3);")
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", Self.examples.appendingPathComponent("syscount.rb").path, "--duration", "4"])
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), "syscount did not attach: \(tool.stderr)")
        XCTAssertTrue(tool.waitForStdout("SYSCALL          COUNT", timeout: 10), "no per-second table: \(tool.stdout)")
        XCTAssertEqual(try LoaderSupport.run(binary, []).status, 0)
        XCTAssertEqual(tool.wait(timeout: 40), 0, "syscount: \(tool.stderr)")
        let out = tool.stdout
        var total = 0
        for line in out.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            if f.count == 2 && (f[0] == "sysfs" || f[0] == "syscalls[139]:") { total += Int(f[1]) ?? 0 }
        }
        XCTAssertEqual(total, 20000, out)
        XCTAssertTrue(out.contains("SYSCALL          COUNT\n"), out)
        XCTAssertFalse(out.contains("syscall_"), "every system call has a name: \(out)")
    }

    /// `cgroup_path` names the cgroup a process opened files in: a static
    /// program that opens /dev/null 25 times inside a cgroup made here.
    func testOpensByCgroupNamesTheCgroup() throws {
        let binary = try staticProgram("iropener", "for (int i = 0; i < 25; i++) { int fd = open(\"/dev/null\", O_RDONLY); if (fd < 0) return 1; close(fd); }")
        let name = "iropens-\(getpid())-\(LoaderSupport.nextSerial())"
        let cgroup = try LoaderSupport.cgroup2Root() + "/" + name
        XCTAssertEqual(mkdir(cgroup, 0o755), 0, String(cString: strerror(errno)))
        defer { for _ in 0..<50 where rmdir(cgroup) != 0 { usleep(100_000) } }
        let out = try run("opens_by_cgroup") {
            // The shell moves itself into the cgroup, then becomes the program.
            let r = try LoaderSupport.run("/bin/sh", ["-c", "echo $$ > \(cgroup)/cgroup.procs && exec \(binary)"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertEqual(out.split(separator: "\n").filter { $0.hasSuffix(" /" + name) }, ["25       /" + name], out)
    }

    /// `ksym` names the timer callbacks: every line a text symbol of /proc/kallsyms.
    func testTimersNamesKernelFunctions() throws {
        let out = try run("timers", seconds: 2) { try sh("for i in 1 2 3 4 5; do sleep 0.05; done") }
        let symbols = try MetricsNamingTests.kallsyms()
        let lines = out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        XCTAssertFalse(lines.isEmpty, out)
        XCTAssertLessThanOrEqual(lines.count, 10, out)
        for l in lines {
            XCTAssertEqual(l.count, 2, out)
            XCTAssertNotNil(Int(l[0]), out)
            XCTAssertNotNil(symbols[String(l.last ?? "")], "\(l) is not a kernel function: \(out)")
        }
    }

    func testRunqlatPrintsAHistogram() throws {
        let out = try run("runqlat") { try sh("for i in 1 2 3 4 5 6 7 8; do sleep 0.02; done") }
        XCTAssertTrue(out.contains("|@"), out)
    }

    func testRubyCallsPrintsTheTopMethods() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1") else { throw XCTSkip("libruby-3.1 not installed") }
        let out = try runRuby("ruby_calls", script: "a = []\n1000.times { |i| a.push(i) }\n")
        let line = out.split(separator: "\n").first { $0.hasPrefix("Array#push ") }
        XCTAssertNotNil(line, out)
        XCTAssertEqual(line.flatMap { Int($0.split(separator: " ").last!) }, 1000, "\(line ?? "")")
    }

    /// `ruby_calls --pid P` counts P's 20000 `Array#push` calls exactly while a
    /// second Ruby process runs the same code at the same time (its calls
    /// would double the count: 40000 without --pid). Both wait for a go file,
    /// so both exist and have mapped libruby before the tool attaches; the tool
    /// finds libruby through /proc/P/maps (the example names only "libruby").
    /// Ruby 3.1.2's `[BUG]` crash under USDT probes is retried (printed) with
    /// fresh processes and a fresh tool; the final attempt's statuses and count are asserted.
    func testRubyCallsWithPidCountsOnlyThatProcess() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1") else { throw XCTSkip("libruby-3.1 not installed") }
        try rubyCallsWithPid { ["run", Self.examples.appendingPathComponent("ruby_calls.rb").path, "--pid", $0, "--duration", "5"] }
    }

    /// The same with a generated loader (`gen loader`): the static tool
    /// resolves "libruby" through /proc/P/maps itself, as `infrared run` does.
    func testGeneratedRubyCallsWithPidCountsOnlyThatProcess() throws {
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1") else { throw XCTSkip("libruby-3.1 not installed") }
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tool = dir.appendingPathComponent("ruby_calls").path
        let gen = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "loader", Self.examples.appendingPathComponent("ruby_calls.rb").path,
                                                                       "-o", tool, "--runner", try LoaderSupport.runner()])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        try rubyCallsWithPid(executable: tool) { ["--pid", $0, "--duration", "5"] }
    }

    func rubyCallsWithPid(executable: String? = nil, _ arguments: (String) -> [String]) throws {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("w.rb")
        try "sleep 0.01 until File.exist?(ARGV[0])\na = []\n20000.times { |i| a.push(i) }\n".write(to: script, atomically: true, encoding: .utf8)
        func mapsLibruby(_ r: ToolProcess) -> Bool {
            // /proc files report size 0: read them to the end rather than by their size.
            guard let h = FileHandle(forReadingAtPath: "/proc/\(r.pid)/maps") else { return false }
            defer { try? h.close() }
            return String(decoding: h.readDataToEndOfFile(), as: UTF8.self).contains("libruby")
        }
        for attempt in 1...5 {
            let go = dir.appendingPathComponent("go\(attempt)")
            let target = ToolProcess("/usr/bin/ruby", [script.path, go.path]), other = ToolProcess("/usr/bin/ruby", [script.path, go.path])
            try target.start()
            try other.start()
            for r in [target, other] {
                let deadline = Date().addingTimeInterval(20)
                while Date() < deadline, !mapsLibruby(r) { usleep(10_000) }
                XCTAssertTrue(mapsLibruby(r), "ruby \(r.pid) has not mapped libruby: \(r.stderr)")
            }
            let tool = ToolProcess(try executable ?? LoaderSupport.infrared(), arguments(String(target.pid)))
            try tool.start()
            XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), "ruby_calls did not attach: \(tool.stderr)")
            FileManager.default.createFile(atPath: go.path, contents: Data())
            let statuses = [target.wait(timeout: 60), other.wait(timeout: 60)]
            XCTAssertEqual(tool.wait(timeout: 40), 0, "ruby_calls: \(tool.stderr)")
            let crashed = zip(statuses, [target, other]).filter { $0.0 != 0 && $0.1.stderr.contains("[BUG]") }
            if !crashed.isEmpty && attempt < 5 {
                print("ruby crashed with its USDT probes enabled (attempt \(attempt), a Ruby 3.1 bug also seen under bpftrace); running again: \(crashed[0].1.stderr.prefix(100))")
                continue
            }
            XCTAssertEqual(statuses[0], 0, "the target Ruby failed: \(target.stderr)")
            XCTAssertEqual(statuses[1], 0, "the other Ruby failed: \(other.stderr)")
            let line = tool.stdout.split(separator: "\n").first { $0.hasPrefix("Array#push ") }
            XCTAssertEqual(line.flatMap { Int($0.split(separator: " ").last!) }, 20000, tool.stdout)
            return
        }
    }

    /// xdp_count on a veth pair whose other end lives in a network namespace
    /// this test creates: 5 UDP datagrams sent from the namespace are counted
    /// as protocol 17 (ARP shows up as non-IPv4).
    func testXdpCountOnAVethPair() throws {
        let ns = "infrared-x\(getpid() % 10000)", host = "irh\(getpid() % 10000)", peer = "irn\(getpid() % 10000)"
        func ip(_ args: String) throws {
            let r = try LoaderSupport.run("/bin/sh", ["-c", "ip " + args])
            XCTAssertEqual(r.status, 0, "ip \(args): \(r.stderr)")
        }
        try ip("netns add \(ns)")
        defer { _ = try? LoaderSupport.run("/bin/sh", ["-c", "ip netns del \(ns); ip link del \(host) 2>/dev/null; true"]) }
        try ip("link add \(host) type veth peer name \(peer)")
        try ip("link set \(peer) netns \(ns)")
        try ip("addr add 10.231.0.1/24 dev \(host)")
        try ip("link set \(host) up")
        try ip("-n \(ns) addr add 10.231.0.2/24 dev \(peer)")
        try ip("-n \(ns) link set \(peer) up")
        let out = try run("xdp_count", seconds: 3, ["--ifname", host]) {
            try sh("ip netns exec \(ns) bash -c 'for i in 1 2 3 4 5; do echo hi > /dev/udp/10.231.0.1/9; done'")
        }
        XCTAssertTrue(out.split(separator: "\n").contains("packets[17]: 5"), out)
    }
}
