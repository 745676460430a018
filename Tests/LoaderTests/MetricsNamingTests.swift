import Foundation
import XCTest

/// Metrics a real Prometheus scrapes and the names hooks give numbers:
/// histograms' `_sum` (kept by the programs beside the buckets), metric
/// names prefixed by the generated tool's own name (argv[0]) or
/// `--metrics-prefix`, load errors naming the tool, and the hook helpers
/// `ksym`, `syscall_name`, `cgroup_path`, each against a value known here.
final class MetricsNamingTests: LoaderDirectoryTestCase {
    /// execs by this uid are the workload (no account has it: nothing else execs as it).
    static let uid = 47011

    /// Three histograms of the same values: an explicit hist map, an
    /// implicit `hist` per comm and an implicit `lhist`.
    static let sums = """
    license "GPL"
    map :uids, :hist

    tracepoint "sched/sched_process_exec" do |ctx|
      if uid == \(uid)
        uids.add(uid)
        @by_comm[comm].hist(uid)
        @lin.lhist(uid, 0, 100000, 10000)
      end
      0
    end
    """

    func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `infrared gen loader DIR/t3.rb -o DIR/execsnoop3`: a tool not named after its file.
    func tool() throws -> String {
        let rb = dir.appendingPathComponent("t3.rb"), tool = dir.appendingPathComponent("execsnoop3").path
        try Self.sums.write(to: rb, atomically: true, encoding: .utf8)
        let r = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "loader", rb.path, "-o", tool, "--runner", try LoaderSupport.runner()])
        XCTAssertEqual(r.status, 0, r.stderr)
        return tool
    }

    func execs(_ n: Int) throws {
        for _ in 0..<n {
            let r = try LoaderSupport.run("/usr/bin/setpriv", ["--reuid", String(Self.uid), "--regid", String(Self.uid), "--clear-groups", "/bin/true"])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
    }

    /// Seven execs of /bin/true as `uid`: each histogram's `_sum` is exactly
    /// 7 × uid and `_count` 7, under the tool's name (`execsnoop3_`), not
    /// the file's (`t3_`).
    func testHistogramSumsUnderTheToolsName() throws {
        let tool = try tool(), port = freePort()
        let p = ToolProcess(tool, ["--metrics", "127.0.0.1:\(port)"])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        try execs(7)
        let page = try LoaderTests.httpGet(port: port, path: "/metrics")
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        let sum = 7 * Self.uid
        for line in ["# TYPE execsnoop3_uids histogram", "execsnoop3_uids_bucket{le=\"65535\"} 7", "execsnoop3_uids_bucket{le=\"+Inf\"} 7",
                     "execsnoop3_uids_sum \(sum)", "execsnoop3_uids_count 7",
                     "execsnoop3_by_comm_bucket{key=\"true\",le=\"65535\"} 7", "execsnoop3_by_comm_sum{key=\"true\"} \(sum)",
                     "execsnoop3_by_comm_count{key=\"true\"} 7",
                     "execsnoop3_lin_bucket{le=\"49999\"} 7", "execsnoop3_lin_sum \(sum)", "execsnoop3_lin_count 7"] {
            XCTAssertTrue(page.split(separator: "\n").contains(Substring(line)), "\(line) not in:\n\(page)")
        }
        XCTAssertFalse(page.contains("t3_"), page)
        // Every line is valid exposition text, and `_sum` sits between the +Inf bucket and `_count`.
        let samples = try LoaderTests.parsePrometheus(page).map(\.name)
        let i = samples.firstIndex(of: "execsnoop3_uids_sum")
        XCTAssertEqual(i.map { samples[$0 - 1] }, "execsnoop3_uids_bucket")
        XCTAssertEqual(i.map { samples[$0 + 1] }, "execsnoop3_uids_count")
        // The text report keeps bpftrace's layout: no sum in it.
        XCTAssertFalse(p.stdout.contains(String(sum)), p.stdout)
    }

    /// `--metrics-prefix` names every metric; a prefix Prometheus would
    /// refuse is a usage error before anything loads.
    func testMetricsPrefixOverridesTheToolsName() throws {
        let tool = try tool(), port = freePort()
        let p = ToolProcess(tool, ["--metrics", "127.0.0.1:\(port)", "--metrics-prefix", "node:ir"])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        try execs(3)
        let page = try LoaderTests.httpGet(port: port, path: "/metrics")
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        for line in ["node:ir_uids_sum \(3 * Self.uid)", "node:ir_uids_count 3", "node:ir_by_comm_sum{key=\"true\"} \(3 * Self.uid)"] {
            XCTAssertTrue(page.split(separator: "\n").contains(Substring(line)), "\(line) not in:\n\(page)")
        }
        XCTAssertFalse(page.contains("execsnoop3_") || page.contains("t3_"), page)
        let bad = try LoaderSupport.run(tool, ["--metrics-prefix", "3x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr, "execsnoop3: error: --metrics-prefix: '3x' is not a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)\n")
    }

    /// A load error of a generated tool names the tool, not its `.rb` file.
    func testLoadErrorsNameTheTool() throws {
        let tool = try tool()
        let r = try LoaderSupport.run("/usr/bin/setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", tool, "--duration", "1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("execsnoop3: error: cannot load execsnoop3: "), r.stderr)
        XCTAssertFalse(r.stderr.contains("t3"), r.stderr)
    }

    /// The text symbols of /proc/kallsyms (`t`, `T`, `w`, `W`), by name.
    static func kallsyms() throws -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        // Read to the end: /proc files have no size for a one-shot read.
        guard let handle = FileHandle(forReadingAtPath: "/proc/kallsyms") else { throw SupportFailure("cannot open /proc/kallsyms") }
        defer { try? handle.close() }
        for line in String(decoding: handle.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: " ", maxSplits: 2)
            guard f.count == 3, ["t", "T", "w", "W"].contains(f[1]), let a = UInt64(f[0], radix: 16), a != 0 else { continue }
            out[String(f[2].split(separator: "\t")[0])] = a
        }
        return out
    }

    /// Each helper against a value known here: the x86_64 numbers of
    /// execve and read, vfs_read's address from /proc/kallsyms (and an
    /// address inside it), a cgroup made for the test and the root.
    func testHookHelpersNameKnownValues() throws {
        guard let vfsRead = try Self.kallsyms()["vfs_read"] else { return XCTFail("no vfs_read in /proc/kallsyms") }
        let root = try LoaderSupport.cgroup2Root()
        let cgroup = "\(root)/irhelpers-\(getpid())-\(LoaderSupport.nextSerial())"
        XCTAssertEqual(mkdir(cgroup, 0o755), 0, String(cString: strerror(errno)))
        defer { rmdir(cgroup) }
        var st = stat(), rootStat = stat()
        XCTAssertEqual(stat(cgroup, &st), 0)
        XCTAssertEqual(stat(root, &rootStat), 0)
        let address = Int64(bitPattern: vfsRead)
        let source = """
        license "GPL"
        tracepoint "sched/sched_process_exec" do |ctx|
          0
        end
        at_exit do
          puts "syscalls #{syscall_name(59)} #{syscall_name(0)} #{syscall_name(334)} #{syscall_name(100000).inspect}"
          puts "ksym #{ksym(\(address))} #{ksym(\(address &+ 5))} #{ksym(1).inspect}"
          puts "cgroup #{cgroup_path(\(st.st_ino))} #{cgroup_path(\(rootStat.st_ino))} #{cgroup_path(0x7fffffffffff).inspect}"
        end
        """
        let file = dir.appendingPathComponent("helpers.rb")
        try source.write(to: file, atomically: true, encoding: .utf8)
        let r = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", file.path, "--duration", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").map(String.init), [
            "syscalls execve read rseq nil",
            "ksym vfs_read vfs_read nil",
            "cgroup /\((cgroup as NSString).lastPathComponent) / nil",
        ], r.stderr)
    }
}
