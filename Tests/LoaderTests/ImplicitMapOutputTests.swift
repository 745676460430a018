import Foundation
import XCTest

/// Implicit maps as `infrared run` prints them at exit, compared line by
/// line with bpftrace 0.17 running the same program on the same workload
/// (tracepoints: the program type both run here). The workload writes known
/// sizes on fd 987, which both programs filter on.
final class ImplicitMapOutputTests: LoaderDirectoryTestCase {
    static let infraredProgram = """
    license "GPL"

    tracepoint "syscalls/sys_enter_write" do |ctx|
      if ctx.fd == 987
        @n[comm].count
        @s[comm].sum(ctx.count)
        @t[comm, ctx.fd] += 1
        @total += 1
        @mn.min(ctx.count)
        @mx[comm].max(ctx.count)
        @av.avg(ctx.count)
        @st.stats(ctx.count)
        @h.hist(ctx.count)
        @hk[comm].hist(ctx.count)
        @l.lhist(ctx.count, 0, 1000, 100)
        @last[comm] = ctx.count
      end
      0
    end
    """

    static let bpftraceProgram = """
    tracepoint:syscalls:sys_enter_write /args->fd == 987/ {
      @n[comm] = count(); @s[comm] = sum(args->count); @t[comm, args->fd] = count(); @total = count();
      @mn = min(args->count); @mx[comm] = max(args->count); @av = avg(args->count); @st = stats(args->count);
      @h = hist(args->count); @hk[comm] = hist(args->count); @l = lhist(args->count, 0, 1000, 100);
      @last[comm] = args->count;
    }
    """

    static let writer = """
    #include <fcntl.h>
    #include <stdlib.h>
    #include <unistd.h>
    static char buffer[4096];
    int main(int argc, char **argv) {
        if (dup2(open("/dev/null", O_WRONLY), 987) != 987) return 3;
        for (int i = 1; i < argc; i++) if (write(987, buffer, atoi(argv[i])) != atoi(argv[i])) return 4;
        return 0;
    }
    """

    func workload() throws {
        let binary = dir.appendingPathComponent("irwriter")
        if !FileManager.default.fileExists(atPath: binary.path) {
            let source = dir.appendingPathComponent("irwriter.c")
            try Self.writer.write(to: source, atomically: true, encoding: .utf8)
            let cc = try LoaderSupport.run("/usr/bin/cc", ["-O2", "-o", binary.path, source.path])
            XCTAssertEqual(cc.status, 0, cc.stderr)
        }
        XCTAssertEqual(try LoaderSupport.run(binary.path, ["1", "5", "100", "3000", "64", "0"]).status, 0)
        XCTAssertEqual(try LoaderSupport.run(binary.path, ["7", "7", "700", "1500"]).status, 0)
    }

    /// stdout of `infrared run` over the workload, from its first map line.
    func infrared(_ options: [String]) throws -> [String] {
        let file = dir.appendingPathComponent("writes.rb")
        try Self.infraredProgram.write(to: file, atomically: true, encoding: .utf8)
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", file.path, "--duration", "3"] + options)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        try workload()
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        return Self.mapLines(tool.stdout)
    }

    /// stdout of bpftrace over the workload, ended with SIGINT as Ctrl-C does.
    func bpftrace(_ options: [String]) throws -> [String] {
        let tool = ToolProcess("/usr/bin/bpftrace", options + ["-e", Self.bpftraceProgram])
        try tool.start()
        // bpftrace's stdout is a pipe here, so "Attaching…" arrives at exit:
        // it has attached once it holds the tracepoint's perf event.
        XCTAssertTrue(Self.holdsPerfEvent(tool.process.processIdentifier, timeout: 60), "bpftrace did not attach: \(tool.stderr)")
        try workload()
        tool.signal(SIGINT)
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        return Self.mapLines(tool.stdout)
    }

    /// Whether process `pid` has a perf event open (a tracepoint attached), within `timeout` seconds.
    static func holdsPerfEvent(_ pid: Int32, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout), fds = "/proc/\(pid)/fd"
        while Date() < deadline {
            let links = (try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? []
            if links.contains(where: { (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\($0)")) == "anon_inode:[perf_event]" }) {
                usleep(200_000)   // the ioctl that attaches follows the open
                return true
            }
            usleep(20_000)
        }
        return false
    }

    /// The exit report: from the first map line (bpftrace first prints
    /// "Attaching 1 probe..." or an attached_probes object, and blank lines).
    static func mapLines(_ out: String) -> [String] {
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.firstIndex(where: { $0.hasPrefix("@") || $0.hasPrefix("{\"type\": \"map") || $0.hasPrefix("{\"type\": \"stats") || $0.hasPrefix("{\"type\": \"hist") }) else { return [] }
        var report = Array(lines[first...])
        while report.last == "" { report.removeLast() }
        return report
    }

    func testTextReportIsBpftraces() throws {
        let ours = try infrared([]), theirs = try bpftrace([])
        XCTAssertEqual(ours.count, theirs.count, "ours:\n\(ours.joined(separator: "\n"))\nbpftrace:\n\(theirs.joined(separator: "\n"))")
        for (a, b) in zip(ours, theirs) { XCTAssertEqual(a, b) }
        // The workload's known numbers, in both.
        XCTAssertTrue(ours.contains("@n[irwriter]: 10"), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("@s[irwriter]: 5384"))
        XCTAssertTrue(ours.contains("@t[irwriter, 987]: 10"))
        XCTAssertTrue(ours.contains("@st: count 10, average 538, total 5384"))
        XCTAssertTrue(ours.contains("@last[irwriter]: 1500"))
    }

    func testJSONReportIsBpftraces() throws {
        let ours = try infrared(["--format", "json"]), theirs = try bpftrace(["-f", "json"])
        XCTAssertEqual(ours.filter { !$0.isEmpty }, theirs.filter { !$0.isEmpty },
                       "ours:\n\(ours.joined(separator: "\n"))\nbpftrace:\n\(theirs.joined(separator: "\n"))")
    }

    /// `--metrics`: the implicit maps as gauges by key and Prometheus
    /// histograms per key, with the workload's exact numbers.
    func testMetricsExportImplicitMaps() throws {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(probe)

        let file = dir.appendingPathComponent("writes.rb")
        try Self.infraredProgram.write(to: file, atomically: true, encoding: .utf8)
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", file.path, "--duration", "4", "--metrics", "127.0.0.1:\(port)"])
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        try workload()
        let page = try LoaderTests.httpGet(port: port, path: "/metrics")
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        for line in ["writes_n{key=\"irwriter\"} 10", "writes_s{key=\"irwriter\"} 5384", "writes_t{key1=\"irwriter\",key2=\"987\"} 10",
                     "writes_total 10", "writes_mn 0", "writes_mx{key=\"irwriter\"} 3000", "writes_av 538",
                     "writes_st_count 10", "writes_st_sum 5384", "writes_last{key=\"irwriter\"} 1500",
                     "# TYPE writes_h histogram", "writes_h_bucket{le=\"0\"} 1", "writes_h_bucket{le=\"7\"} 5", "writes_h_bucket{le=\"4095\"} 10",
                     "writes_h_bucket{le=\"+Inf\"} 10", "writes_h_count 10",
                     "writes_hk_bucket{key=\"irwriter\",le=\"127\"} 7", "writes_l_bucket{le=\"99\"} 6", "writes_l_bucket{le=\"+Inf\"} 10",
                     // The sums the programs keep beside the buckets: the ten writes' sizes.
                     "writes_h_sum 5384", "writes_hk_sum{key=\"irwriter\"} 5384", "writes_l_sum 5384"] {
            XCTAssertTrue(page.split(separator: "\n").contains(Substring(line)), "\(line) not in:\n\(page)")
        }
    }

    /// In hooks, `@name` is the implicit map's handle: `print(top:)`, `to_h`, `clear`.
    func testHooksSeeImplicitMapsAsHandles() throws {
        let file = dir.appendingPathComponent("sizes.rb")
        try """
        license "GPL"
        tracepoint "syscalls/sys_enter_write" do |ctx|
          if ctx.fd == 987
            @sizes[ctx.count] += 1
            @big[comm].max(ctx.count)
            @small.min(ctx.count)
          end
          0
        end
        at_exit do
          puts "top 2:"
          @sizes.print(top: 2)
          puts "entries: #{@sizes.to_h.size}, 7 bytes: #{@sizes.to_h[7]}"
          puts "max: #{@big.to_h["irwriter"]}, min: #{@small.to_h[0]}, [] gives #{@big["irwriter"]} #{@small[0]} #{@sizes[7]} #{@sizes[8].inspect}"
          @sizes.clear
          puts "after clear: #{@sizes.to_h.size}"
        end
        """.write(to: file, atomically: true, encoding: .utf8)
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", file.path, "--duration", "3"])
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        try workload()   // sizes 1 5 100 3000 64 0, then 7 7 700 1500
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        let lines = tool.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "top 2:", tool.stdout)
        XCTAssertEqual(lines.count, 6, tool.stdout)
        XCTAssertEqual(lines[4], "max: 3000, min: 0, [] gives 3000 0 2 nil", "merged across CPUs as printed")
        XCTAssertEqual(lines.last, "after clear: 0")
        XCTAssertEqual(lines.dropFirst(1).first { $0.hasPrefix("@sizes[7]") }, "@sizes[7]: 2", tool.stdout)
        XCTAssertEqual(lines[3], "entries: 9, 7 bytes: 2")
    }

    /// Examples/opens_by_comm.rb as users run it: a process that opens
    /// /dev/null 25 times is printed with exactly 25.
    func testOpensByCommExampleCountsExactly() throws {
        let source = dir.appendingPathComponent("iropener.c"), binary = dir.appendingPathComponent("iropener")
        try """
        #include <fcntl.h>
        #include <unistd.h>
        int main(void) { for (int i = 0; i < 25; i++) { int fd = open("/dev/null", O_RDONLY); if (fd < 0) return 1; close(fd); } return 0; }
        """.write(to: source, atomically: true, encoding: .utf8)
        // Static: the dynamic loader's own opens (ld.so.cache, libc) would count too.
        let cc = try LoaderSupport.run("/usr/bin/cc", ["-O2", "-static", "-o", binary.path, source.path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let example = LoaderSupport.packageRoot.appendingPathComponent("Examples/opens_by_comm.rb")
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", example.path, "--duration", "3"])
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        XCTAssertEqual(try LoaderSupport.run(binary.path, []).status, 0)
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        let lines = tool.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.filter { $0.hasPrefix("@opens[iropener]: ") }, ["@opens[iropener]: 25"], tool.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("@opens[") }, tool.stdout)
    }

    /// A generated loader (`infrared gen loader`, the static runner) prints
    /// implicit maps as `infrared run` does: the same report, line for line.
    func testGeneratedLoaderPrintsTheSameReport() throws {
        let tool = try LoaderSupport.buildLoader(source: Self.infraredProgram, name: "writes", in: dir)
        let loader = ToolProcess(tool, ["--duration", "3"])
        try loader.start()
        XCTAssertTrue(loader.waitForStderr("attached", timeout: 60), loader.stderr)
        try workload()
        XCTAssertEqual(loader.wait(timeout: 40), 0, loader.stderr)
        let generated = Self.mapLines(loader.stdout), ours = try infrared([])
        XCTAssertEqual(generated, ours)
        XCTAssertTrue(generated.contains("@s[irwriter]: 5384"), loader.stdout)
    }

    /// `infrared run -e` with bpftrace's habit: `@x[k] += 1 if cond` as the
    /// body's last expression (its value is nil, as the `if`'s other path).
    func testOneLinerCountsWithAConditionalIncrement() throws {
        let program = "tracepoint \"syscalls/sys_enter_write\" do |ctx| @n[comm] += 1 if ctx.fd == 987; @t += 1 if ctx.fd == 987 end"
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", "-e", program, "--duration", "3"])
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        try workload()
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        XCTAssertEqual(Self.mapLines(tool.stdout), ["@n[irwriter]: 10", "@t: 10"])
    }
}
