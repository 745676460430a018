import Foundation
import XCTest

/// Nothing is dropped silently: records a full ring buffer refused and
/// updates a full hash map refused are counted by the programs themselves
/// (`__infrared_faults`) and reported by the tool at exit (stderr, or a JSON
/// line) and in /metrics. The counts are exact: every record the workload
/// caused was either printed or counted as lost; every refused key is a
/// failed update.
final class FaultReportTests: LoaderDirectoryTestCase {
    /// `faultwork getppid N`: N getppid calls; `faultwork close R`: R rounds
    /// of close(1000..1009) (EBADF: ten distinct fds a round).
    func workload() throws -> String {
        let c = dir.appendingPathComponent("faultwork.c")
        try """
        #include <stdlib.h>
        #include <string.h>
        #include <unistd.h>
        #include <sys/syscall.h>
        int main(int argc, char **argv) {
            int n = atoi(argv[2]);
            if (strcmp(argv[1], "getppid") == 0)
                for (int i = 0; i < n; i++) syscall(SYS_getppid);
            else
                for (int r = 0; r < n; r++)
                    for (int fd = 1000; fd < 1010; fd++) close(fd);
            return 0;
        }
        """.write(to: c, atomically: true, encoding: .utf8)
        let exe = dir.appendingPathComponent("faultwork").path
        let cc = try LoaderSupport.run("/usr/bin/gcc", ["-O2", "-Wall", "-Werror", c.path, "-o", exe])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        return exe
    }

    static let ringProbe = """
        struct :Ev do
          u64  :n
          char :pad, 200
        end

        map :events, :ringbuf, max_entries: 4096

        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if comm == "faultwork"
            e = events.reserve(Ev)
            if e
              e.n = 7
              events.submit(e)
            end
          end
          0
        end
        """

    /// The tool is stopped (SIGSTOP) while the workload makes 20,000 records
    /// into a one-page ring buffer: at most a page's worth fit, the rest are
    /// refused. After SIGCONT and SIGINT: printed + lost = 20,000.
    func testFullRingBufferCountsLostRecordsExactly() throws {
        let work = try workload()
        let tool = try LoaderSupport.buildLoader(source: Self.ringProbe, name: "ringfault", in: dir)
        for json in [false, true] {
            let p = ToolProcess(tool, json ? ["--format", "json"] : [])
            try p.start()
            XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
            p.signal(SIGSTOP)
            XCTAssertEqual(try LoaderSupport.run(work, ["getppid", "20000"]).status, 0)
            p.signal(SIGCONT)
            usleep(300_000)
            p.signal(SIGINT)
            XCTAssertEqual(p.wait(timeout: 60), 0, p.stderr)
            let lines = p.stdout.split(separator: "\n")
            let printed = lines.filter { json ? $0.contains("\"n\":7") : $0.hasPrefix("n=7") }.count
            XCTAssertGreaterThan(printed, 0, p.stdout)
            XCTAssertLessThan(printed, 4096 / 208, "a one-page ring buffer holds fewer records than that")
            let lost = 20000 - printed
            if json {
                XCTAssertEqual(lines.last.map(String.init), "{\"faults\":[{\"map\":\"events\",\"kind\":\"lost_records\",\"count\":\(lost)}]}", p.stdout)
            } else {
                XCTAssertTrue(p.stderr.contains("ringfault: \(lost) records lost: `events` was full (make it larger, or read it faster)\n"), p.stderr)
            }
        }
    }

    static let hashProbe = """
        map :small, :hash, key: :u32, value: :u64, max_entries: 4
        map :last, :hash, key: :u32, value: :u64, max_entries: 2

        tracepoint "syscalls/sys_enter_close" do |ctx|
          if comm == "faultwork" && ctx.fd >= 1000   # not the dynamic loader's closes
            small[ctx.fd] += 1
            last[ctx.fd] = pid
          end
          0
        end
        """

    /// Ten distinct fds, three rounds, into maps of 4 and 2 entries: the
    /// first 4 (2) keys are stored, each other key's update fails every
    /// round: 6 × 3 = 18 (8 × 3 = 24) failed updates, in the report, the
    /// JSON line and /metrics alike.
    func testFullHashMapCountsFailedUpdatesExactly() throws {
        let work = try workload()
        let tool = try LoaderSupport.buildLoader(source: Self.hashProbe, name: "hashfault", in: dir)
        let port = 20000 + Int(getpid() % 20000)
        let p = ToolProcess(tool, ["--metrics", "127.0.0.1:\(port)"])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        XCTAssertEqual(try LoaderSupport.run(work, ["close", "3"]).status, 0)
        let scrape = try LoaderSupport.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/metrics"])
        XCTAssertEqual(scrape.status, 0, scrape.stderr)
        XCTAssertTrue(scrape.stdout.contains("hashfault_failed_map_updates_total{map=\"small\"} 18\n"), scrape.stdout)
        XCTAssertTrue(scrape.stdout.contains("hashfault_failed_map_updates_total{map=\"last\"} 24\n"), scrape.stdout)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 60), 0, p.stderr)
        XCTAssertEqual(p.stdout.split(separator: "\n").filter { $0.hasPrefix("small[") }.map { $0.split(separator: " ").last! }, ["3", "3", "3", "3"], p.stdout)
        XCTAssertTrue(p.stderr.contains("hashfault: 18 map updates failed: `small` was full (raise its max_entries)\n"), p.stderr)
        XCTAssertTrue(p.stderr.contains("hashfault: 24 map updates failed: `last` was full (raise its max_entries)\n"), p.stderr)
    }

    /// A tool whose maps never fill reports nothing.
    func testNoFaultsNoReport() throws {
        let work = try workload()
        let tool = try LoaderSupport.buildLoader(source: Self.hashProbe.replacing("max_entries: 4", with: "max_entries: 64")
                                                    .replacing("max_entries: 2", with: "max_entries: 64"), name: "nofault", in: dir)
        let p = ToolProcess(tool, ["--format", "json"])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        XCTAssertEqual(try LoaderSupport.run(work, ["close", "1"]).status, 0)
        p.signal(SIGINT)
        XCTAssertEqual(p.wait(timeout: 60), 0, p.stderr)
        XCTAssertFalse(p.stdout.contains("faults"), p.stdout)
        XCTAssertFalse(p.stderr.contains("failed"), p.stderr)
    }

    /// A hook's `exit` ends the tool early: what was lost is still reported.
    func testFaultsReportedWhenAHookExits() throws {
        let work = try workload()
        let source = Self.hashProbe + "\nevery 1 do\n  exit 4\nend\n"
        let tool = try LoaderSupport.buildLoader(source: source, name: "hookexit", in: dir)
        let p = ToolProcess(tool, [])
        try p.start()
        XCTAssertTrue(p.waitForStderr("attached", timeout: 60), p.stderr)
        XCTAssertEqual(try LoaderSupport.run(work, ["close", "3"]).status, 0)
        XCTAssertEqual(p.wait(timeout: 60), 4, p.stderr)
        XCTAssertTrue(p.stderr.contains("hookexit: 18 map updates failed: `small` was full (raise its max_entries)\n"), p.stderr)
    }
}
