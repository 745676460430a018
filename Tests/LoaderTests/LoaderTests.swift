import Foundation
import XCTest

/// Single-binary loaders (`infrared gen loader`) and `infrared run`, on the
/// live kernel: records, params, formats, signals, failures, metrics, hooks.
final class LoaderTests: LoaderDirectoryTestCase {
    /// An exec tracer: a ringbuf `Event` per exec whose parent is `target_pid`
    /// (0: every exec), plus a count per parent. `prog` names the program, so
    /// the test can find exactly its own in the kernel.
    static func execsnoop(prog: String) -> String {
        """
        license "GPL"
        param :target_pid, :u32, default: 0

        struct :Event do
          u32  :pid
          u32  :ppid
          char :comm, 16
          char :filename, 64
        end

        map :events, :ringbuf, max_entries: 64 * 4096
        map :counts, :hash, key: :u32, value: :u64, max_entries: 1024

        tracepoint "sched/sched_process_exec", name: "\(prog)" do |ctx|
          ppid = current_task.real_parent.tgid
          if target_pid == 0 || ppid == target_pid
            e = events.reserve(Event)
            e.pid = pid
            e.ppid = ppid
            e.comm = comm
            e.filename = ctx.filename
            events.submit(e)
            counts[ppid] += 1
          end
          0
        end
        """
    }


    /// Starts `tool` and waits for its "attached" line.
    func start(_ tool: String, _ arguments: [String], cwd: URL? = nil) throws -> ToolProcess {
        let p = ToolProcess(tool, arguments, cwd: cwd)
        try p.start()
        guard p.waitForStderr("attached", timeout: 60) else {
            _ = p.wait(timeout: 1)
            throw SupportFailure("\(tool) did not attach; stderr: \(p.stderr)")
        }
        return p
    }

    /// `key=value` fields of a text record line.
    func fields(_ line: Substring) -> [String: String] {
        Dictionary(line.split(separator: " ").compactMap { f -> (String, String)? in
            let kv = f.split(separator: "=", maxSplits: 1)
            return kv.count == 2 ? (String(kv[0]), String(kv[1])) : nil
        }, uniquingKeysWith: { a, _ in a })
    }

    func testLoaderPrintsOneLinePerExecAndFiltersByParam() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execsnoop", in: dir)
        let me = String(getpid())

        let p = try start(tool, ["--target-pid", me])
        try LoaderSupport.spawnTrue(4)
        usleep(300_000)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        let mine = p.stdout.split(separator: "\n").map(fields).filter { $0["ppid"] == me }
        XCTAssertEqual(mine.count, 4, "stdout:\n\(p.stdout)")
        for f in mine {
            XCTAssertEqual(f["comm"], "true")
            XCTAssertEqual(f["filename"], "/bin/true")
            XCTAssertNotEqual(f["pid"], me)
        }
        // At exit the counts map: this process's children, 4.
        XCTAssertTrue(p.stdout.contains("counts[\(me)]: 4"), p.stdout)

        // A target that is not us: none of our execs is printed.
        let q = try start(tool, ["--target-pid", "1"])
        try LoaderSupport.spawnTrue(3)
        usleep(300_000)
        q.signal(SIGINT)
        XCTAssertEqual(q.wait(timeout: 30), 0, q.stderr)
        XCTAssertFalse(q.stdout.split(separator: "\n").map(fields).contains { $0["ppid"] == me }, q.stdout)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    func testJSONFormatGivesOneObjectPerLine() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execjson", in: dir)
        let me = getpid()
        let p = try start(tool, ["--target-pid", String(me), "--format", "json"])
        try LoaderSupport.spawnTrue(3)
        usleep(300_000)
        p.signal(SIGTERM)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        var records = 0, maps = 0
        for line in p.stdout.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertNotNil(object, "not a JSON object: \(line)")
            if let o = object, o["ppid"] != nil {
                XCTAssertEqual((o["ppid"] as? NSNumber)?.int32Value, me)
                XCTAssertEqual(o["comm"] as? String, "true")
                XCTAssertEqual(o["filename"] as? String, "/bin/true")
                records += 1
            }
            if let o = object, o["map"] as? String == "counts" {
                let entries = o["entries"] as? [[String: Any]] ?? []
                XCTAssertEqual(entries.first { ($0["key"] as? NSNumber)?.int32Value == me }.flatMap { $0["value"] as? NSNumber }?.intValue, 3)
                maps += 1
            }
        }
        XCTAssertEqual(records, 3, p.stdout)
        XCTAssertEqual(maps, 1, p.stdout)
    }

    /// SIGINT, SIGTERM and --duration each end the tool with status 0 and
    /// nothing of it left in the kernel (program and link ids gone).
    func testSignalsAndDurationLeaveNothingAttached() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execsig", in: dir)
        for ending in ["SIGINT", "SIGTERM", "--duration"] {
            let p = try start(tool, ending == "--duration" ? ["--duration", "1"] : [])
            let loaded = try LoaderSupport.programs(named: [prog])
            XCTAssertEqual(loaded.count, 1, "\(ending): the program should be loaded while the tool runs")
            let links = try LoaderSupport.links().filter { l in loaded.contains { $0.id == l.program } }
            XCTAssertEqual(links.count, 1, "\(ending): one link (the tracepoint)")
            switch ending {
            case "SIGINT": p.signal(SIGINT)
            case "SIGTERM": p.signal(SIGTERM)
            default: break
            }
            XCTAssertEqual(p.wait(timeout: 30), 0, "\(ending): \(p.stderr)")
            XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [], "\(ending) left the program loaded")
            let linkIDs = Set(links.map(\.id))
            XCTAssertTrue(try LoaderSupport.links().allSatisfy { !linkIDs.contains($0.id) }, "\(ending) left a link")
        }
    }

    /// A signal at any moment of start-up: whatever was done is undone.
    func testSignalDuringStartUpLeavesNothingAttached() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execstart", in: dir)
        for delay in [0, 2_000, 5_000, 10_000, 20_000, 40_000, 80_000] {
            let p = ToolProcess(tool, [])
            try p.start()
            usleep(useconds_t(delay))
            p.signal(SIGINT)
            let status = p.wait(timeout: 30)
            // Before main blocks the signal the default action kills the process; after, a clean exit 0.
            XCTAssertTrue(status == 0 || status == SIGINT, "delay \(delay)µs: status \(String(describing: status)), \(p.stderr)")
            XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [], "delay \(delay)µs left the program loaded")
        }
    }

    func testStaticallyLinkedAndRunsFromAnEmptyDirectory() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execstatic", in: dir)
        let ldd = try LoaderSupport.run("/usr/bin/ldd", [tool])
        let text = ldd.stdout + ldd.stderr
        let dynamicLibraries = text.split(separator: "\n").filter { $0.contains("=>") }.map { $0.trimmingCharacters(in: .whitespaces) }
        let foreign = dynamicLibraries.filter { l in !["libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "ld-linux", "linux-vdso"].contains { l.contains($0) } }
        XCTAssertTrue(text.contains("not a dynamic executable") || foreign.isEmpty, "ldd: \(text)")

        // Alone in an empty directory, with the build tree out of reach (another cwd, a bare PATH).
        let empty = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: empty) }
        let copy = empty.appendingPathComponent("tool")
        try FileManager.default.copyItem(atPath: tool, toPath: copy.path)
        try FileManager.default.removeItem(atPath: tool)
        let work = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: work) }
        let p = ToolProcess("/usr/bin/env", ["-i", "PATH=/nonexistent", copy.path, "--duration", "1.5", "--target-pid", String(getpid())], cwd: work)
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached"), p.stderr)
        try LoaderSupport.spawnTrue(2)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        XCTAssertEqual(p.stdout.split(separator: "\n").filter { $0.contains("filename=/bin/true") }.count, 2, p.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: work.path), [], "the tool wrote files")
        XCTAssertEqual(try LoaderSupport.run(copy.path, ["--print-source"]).stdout, Self.execsnoop(prog: prog), "the embedded source")
    }

    /// Each bad input: one `TOOL: error:` line first, status 1, nothing loaded.
    func testBadInputsGiveOneClearMessage() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execbad", in: dir)
        let cases: [([String], String)] = [
            (["--target-pid", "abc"], "execbad: error: --target-pid: 'abc' is not a valid u32"),
            (["--target-pid", "4294967296"], "execbad: error: --target-pid: 4294967296 is out of range for u32"),
            (["--target-pid", "-1"], "execbad: error: --target-pid: -1 is out of range for u32"),
            (["--target-pid"], "execbad: error: --target-pid needs a value"),
            (["--duration", "soon"], "execbad: error: --duration: 'soon' is not a positive number"),
            (["--format", "xml"], "execbad: error: --format: 'xml' is not text or json"),
            (["--nope", "1"], "execbad: error: unknown option --nope"),
        ]
        for (arguments, message) in cases {
            let r = try LoaderSupport.run(tool, arguments)
            XCTAssertEqual(r.status, 1, "\(arguments)")
            XCTAssertTrue(r.stderr.hasPrefix(message), "\(arguments): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(arguments): one line: \(r.stderr)")
            XCTAssertEqual(r.stdout, "")
        }
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])

        let help = try LoaderSupport.run(tool, ["--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--target-pid U32"), help.stdout)
        XCTAssertTrue(help.stdout.contains("u32, default 0"), help.stdout)
    }

    /// A missing attach point after a program that did attach: one message
    /// naming the program and the attach point, status 1, and the first
    /// program's link is gone too.
    func testMissingAttachPointDetachesEverything() throws {
        let good = LoaderSupport.uniqueName("irg"), bad = LoaderSupport.uniqueName("irb")
        let source = """
        license! "GPL"
        class Context
          attr :pad, :u64
        end
        section! "tracepoint/sched/sched_process_exec"
        def \(good)(ctx)
          return 0
        end
        section! "tracepoint/nope/nope"
        def \(bad)(ctx)
          return 0
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "nope", in: dir)
        let r = try LoaderSupport.run(tool, [])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("nope: error: program '\(bad)': attach point 'tracepoint/nope/nope' does not exist"), r.stderr)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([good, bad]).map(\.id), [])
    }

    func testVerifierRejectionShowsTheLog() throws {
        let prog = LoaderSupport.uniqueName("irv")
        // The seed form trusts the class's layout: reading past the 12-byte
        // bpf_cgroup_dev_ctx is the verifier's to reject.
        let source = """
        license! "GPL"
        section! "cgroup/dev"
        class Context
          attr :access_type, :u32
          attr :major, :u32
          attr :minor, :u32
          attr :past_the_end, :u64
          attr :further, :u64
        end
        def \(prog)(ctx)
          if ctx.further == 1
            return 0
          else
            return 1
          end
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "reject", in: dir)
        let missing = try LoaderSupport.run(tool, [])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("reject: error: program '\(prog)' (cgroup_device) attaches to a cgroup: give --cgroup PATH"), missing.stderr)
        let r = try LoaderSupport.run(tool, ["--cgroup", try LoaderSupport.cgroup2Root()])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("reject: error: program '\(prog)' rejected by the verifier"), r.stderr)
        XCTAssertTrue(r.stderr.contains("invalid bpf_context access"), r.stderr)
        XCTAssertTrue(r.stderr.contains("reject.rb:"), "the log quotes the Ruby line: \(r.stderr)")
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    func testMissingPrivilegesIsOneMessage() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execpriv", in: dir)
        let r = try LoaderSupport.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", tool])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("execpriv: error: "), r.stderr)
        XCTAssertTrue(r.stderr.contains("EPERM") && r.stderr.contains("needs root or CAP_BPF"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    func testCorruptedPayloadIsRefusedBeforeLoading() throws {
        let prog = LoaderSupport.uniqueName("irl")
        let tool = try LoaderSupport.buildLoader(source: Self.execsnoop(prog: prog), name: "execcorrupt", in: dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tool)))
        // A byte inside the payload (the object sits before the trailer's 64 bytes).
        bytes[bytes.count - 64 - 200] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: tool))
        let r = try LoaderSupport.run(tool, [])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("execcorrupt: error: corrupted payload: CRC-32 mismatch"), r.stderr)
        // A truncated tool has no trailer at all.
        try Data(bytes.dropLast(10)).write(to: URL(fileURLWithPath: tool))
        let t = try LoaderSupport.run(tool, [])
        XCTAssertEqual(t.status, 1)
        XCTAssertTrue(t.stderr.hasPrefix("execcorrupt: error: this executable carries no probe"), t.stderr)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    /// Checks every line of a Prometheus text exposition.
    static func parsePrometheus(_ text: String) throws -> [(name: String, labels: String, value: Double)] {
        var samples: [(name: String, labels: String, value: Double)] = []
        let sample = try NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*)?\})? ([-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN))$"#)
        let comment = try NSRegularExpression(pattern: #"^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped))$"#)
        for line in text.split(separator: "\n").map(String.init) {
            let range = NSRange(line.startIndex..., in: line)
            if line.hasPrefix("#") {
                guard comment.firstMatch(in: line, range: range) != nil else { throw SupportFailure("bad comment line: \(line)") }
                continue
            }
            guard let m = sample.firstMatch(in: line, range: range) else { throw SupportFailure("bad sample line: \(line)") }
            func group(_ i: Int) -> String { Range(m.range(at: i), in: line).map { String(line[$0]) } ?? "" }
            samples.append((group(1), group(3), Double(group(8)) ?? .nan))
        }
        return samples
    }

    /// GET over a plain socket from this process (a curl child would itself be an exec the probe counts).
    static func httpGet(port: Int, path: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SupportFailure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw SupportFailure("connect to port \(port): \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw SupportFailure("no HTTP response: \(text)") }
        return String(text[split.upperBound...])
    }

    func testMetricsEndpointServesPrometheusText() throws {
        let prog = LoaderSupport.uniqueName("irm")
        let source = Self.execsnoop(prog: prog).replacingOccurrences(of: "map :counts, :hash", with: "map :lat, :hist\nglobal :execs, :u64\nmap :counts, :hash")
            .replacingOccurrences(of: "counts[ppid] += 1", with: "counts[ppid] += 1\n    lat.add(ppid % 1000)\n    self.execs += 1")
        let tool = try LoaderSupport.buildLoader(source: source, name: "execmetrics", in: dir)
        let p = try start(tool, ["--metrics", "127.0.0.1:0", "--target-pid", String(getpid())])
        let regex = try NSRegularExpression(pattern: #"metrics at http://127\.0\.0\.1:([0-9]+)/metrics"#)
        let err = p.stderr
        guard let m = regex.firstMatch(in: err, range: NSRange(err.startIndex..., in: err)), let r = Range(m.range(at: 1), in: err), let port = Int(err[r]) else {
            p.signal(SIGINT); _ = p.wait(timeout: 10)
            return XCTFail("no metrics address on stderr: \(err)")
        }
        try LoaderSupport.spawnTrue(5)
        usleep(300_000)
        let body = try Self.httpGet(port: port, path: "/metrics")
        let samples = try Self.parsePrometheus(body)
        let me = getpid()
        XCTAssertEqual(samples.first { $0.name == "execmetrics_counts" && $0.labels == "key=\"\(me)\"" }?.value, 5, body)
        XCTAssertEqual(samples.first { $0.name == "execmetrics_execs" }?.value, 5, body)
        XCTAssertEqual(samples.first { $0.name == "execmetrics_lat_count" }?.value, 5, body)
        XCTAssertEqual(samples.first { $0.name == "execmetrics_lat_sum" }?.value, Double(5 * (Int(me) % 1000)), body)
        XCTAssertEqual(samples.first { $0.name == "execmetrics_lat_bucket" && $0.labels == "le=\"+Inf\"" }?.value, 5, body)
        XCTAssertTrue(body.contains("# TYPE execmetrics_lat histogram"), body)
        XCTAssertGreaterThanOrEqual(samples.first { $0.name == "execmetrics_records_total" }?.value ?? 0, 5, body)
        // Buckets are cumulative.
        let buckets = samples.filter { $0.name == "execmetrics_lat_bucket" }.map(\.value)
        XCTAssertEqual(buckets, buckets.sorted(), body)
        XCTAssertTrue(try Self.httpGet(port: port, path: "/nope").contains("not found"))
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    func testHooksFormatEventsTickAndPrintHistogramsAtExit() throws {
        let prog = LoaderSupport.uniqueName("irh")
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Event do
          u32  :pid
          u32  :ppid
          char :comm, 16
          char :filename, 64
        end
        map :events, :ringbuf, max_entries: 64 * 4096
        map :counts, :hash, key: :u32, value: :u64, max_entries: 1024
        map :lat, :hist

        tracepoint "sched/sched_process_exec", name: "\(prog)" do |ctx|
          ppid = current_task.real_parent.tgid
          if ppid == target_pid
            e = events.reserve(Event)
            e.pid = pid
            e.ppid = ppid
            e.comm = comm
            e.filename = ctx.filename
            events.submit(e)
            counts[ppid] += 1
            lat.add(100)
          end
          0
        end

        seen = 0
        on_event :events do |e|
          seen += 1
          puts format("EXEC %d %s %s #%d", e.ppid, e.comm, e.filename, seen)
        end

        every 1 do
          counts.each { |k, v| puts "TICK #{k} #{v}" }
        end

        at_exit do
          puts "BYE target=#{target_pid} seen=#{seen}"
          lat.print
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "hooks", in: dir)
        let me = getpid()
        let p = try start(tool, ["--target-pid", String(me)])
        try LoaderSupport.spawnTrue(3)
        XCTAssertTrue(p.waitForStdout("TICK \(me) 3", timeout: 5), p.stdout)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        let lines = p.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("EXEC \(me) true /bin/true #") }.count, 3, p.stdout)
        XCTAssertTrue(lines.contains("BYE target=\(me) seen=3"), p.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("[64, 128)") && $0.contains("3 |@@@@") }, p.stdout)
        XCTAssertFalse(lines.contains { $0.hasPrefix("pid=") }, "on_event takes the records: \(p.stdout)")
        XCTAssertFalse(lines.contains { $0.hasPrefix("counts[") }, "at_exit replaces the map printout: \(p.stdout)")
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    func testHookErrorIsOneMessageAndDetaches() throws {
        let prog = LoaderSupport.uniqueName("ire")
        let source = Self.execsnoop(prog: prog) + "\non_event :events do |e|\n  e.no_such_field\nend\n"
        let tool = try LoaderSupport.buildLoader(source: source, name: "hookerr", in: dir)
        let p = try start(tool, ["--target-pid", String(getpid())])
        try LoaderSupport.spawnTrue(1)
        XCTAssertEqual(p.wait(timeout: 30), 1)
        XCTAssertTrue(p.stderr.contains("hookerr: error: on_event :events raised: hookerr.rb:"), p.stderr)
        XCTAssertTrue(p.stderr.contains("no_such_field"), p.stderr)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    /// XDP and tc (both directions) on `--ifname lo`, a socket filter on every
    /// interface: all attached by the loader, all counting loopback packets.
    func testNetworkProgramsAttachToAnInterface() throws {
        let xdp = LoaderSupport.uniqueName("irx"), tin = LoaderSupport.uniqueName("iri"), tout = LoaderSupport.uniqueName("iro"), sock = LoaderSupport.uniqueName("irs")
        let source = """
        license "GPL"
        map :counts, :array, value: :u64, max_entries: 4
        xdp name: "\(xdp)" do |ctx|
          counts[0] += 1
          2
        end
        tc :ingress, name: "\(tin)" do |ctx|
          counts[1] += 1
          0
        end
        tc :egress, name: "\(tout)" do |ctx|
          counts[2] += 1
          0
        end
        socket_filter name: "\(sock)" do |ctx|
          counts[3] += 1
          0
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "netcount", in: dir)
        let missing = try LoaderSupport.run(tool, [])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("netcount: error: program '\(xdp)' (xdp) attaches to a network interface: give --ifname IFACE"), missing.stderr)
        let p = try start(tool, ["--ifname", "lo", "--format", "json"])
        // Loopback traffic: TCP connections to a closed port (SYN, then RST).
        for _ in 0..<5 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(1).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            close(fd)
        }
        usleep(200_000)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        let line = p.stdout.split(separator: "\n").first { $0.contains("\"map\":\"counts\"") } ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        let entries = object?["entries"] as? [[String: Any]] ?? []
        let slots = Set(entries.compactMap { ($0["key"] as? NSNumber)?.intValue })
        XCTAssertEqual(slots, [0, 1, 2, 3], "every program counted packets: \(p.stdout)")
        XCTAssertEqual(try LoaderSupport.nothingLoaded([xdp, tin, tout, sock]).map(\.id), [])
    }

    func testPerfEventSamplesEveryCPU() throws {
        let prog = LoaderSupport.uniqueName("irp")
        let source = """
        license "GPL"
        map :samples, :hash, key: :u32, value: :u64, max_entries: 1024
        perf_event :cpu_clock, frequency: 499, name: "\(prog)" do |ctx|
          samples[cpu] += 1
          0
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "cpusample", in: dir)
        let p = try start(tool, ["--duration", "1"])
        let end = Date().addingTimeInterval(0.8)
        var x = 0
        while Date() < end { x &+= 1 }
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        let total = p.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").last.flatMap { UInt64($0) } }.reduce(0, +)
        XCTAssertGreaterThan(total, 100, "samples at 499 Hz for a busy second: \(p.stdout)")
        XCTAssertNotEqual(x, -1)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    /// `infrared run` behaves as the loader, without writing files.
    func testInfraredRunBehavesAsTheLoader() throws {
        let prog = LoaderSupport.uniqueName("irr")
        let rb = dir.appendingPathComponent("runme.rb")
        try Self.execsnoop(prog: prog).write(to: rb, atomically: true, encoding: .utf8)
        let help = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", rb.path, "--help"])
        XCTAssertEqual(help.status, 0, help.stderr)
        XCTAssertTrue(help.stdout.hasPrefix("usage: infrared run \(rb.path) [--target-pid U32]"), help.stdout)
        let bad = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", rb.path, "--target-pid", "x"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.hasPrefix("infrared: error: --target-pid: 'x' is not a valid u32"), bad.stderr)

        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let p = try start(try LoaderSupport.infrared(), ["run", rb.path, "--target-pid", String(getpid()), "--duration", "1.5"], cwd: dir)
        try LoaderSupport.spawnTrue(2)
        XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
        XCTAssertEqual(p.stdout.split(separator: "\n").filter { $0.contains("filename=/bin/true") }.count, 2, p.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), before)
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }

    /// gen loader copies a prebuilt runner: no compiler toolchain involved, well under a second.
    func testGenLoaderIsFast() throws {
        let rb = dir.appendingPathComponent("fast.rb")
        try Self.execsnoop(prog: LoaderSupport.uniqueName("irf")).write(to: rb, atomically: true, encoding: .utf8)
        let start = Date()
        let r = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "loader", rb.path, "-o", dir.appendingPathComponent("fast").path, "--runner", try LoaderSupport.runner()])
        let elapsed = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThan(elapsed, 1.0)
        // A dynamically linked runner is refused.
        let dynamic = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "loader", rb.path, "-o", dir.appendingPathComponent("dyn").path, "--runner", "/bin/ls"])
        XCTAssertEqual(dynamic.status, 1)
        XCTAssertTrue(dynamic.stderr.contains("needs shared libraries"), dynamic.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("dyn").path))
    }
}
