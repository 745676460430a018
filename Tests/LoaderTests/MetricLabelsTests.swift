import Foundation
import XCTest

/// `metric_labels`: a map's keys decoded into metric labels on `/metrics`,
/// scraped over HTTP from a generated loader (MetricLabels.swift).
final class MetricLabelsTests: LoaderDirectoryTestCase {
    static let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        map :calls, :hash, key: :u64, value: :u64, max_entries: 1024

        raw_tracepoint "sys_enter" do |ctx|
          if pid == target_pid
            calls[ctx.arg(1)] += 1
            @grouped[ctx.arg(1)] += 1
            @ids[ctx.arg(1)].hist(ctx.arg(1))
          end
          0
        end

        metric_labels :calls do |id| { syscall: syscall_name(id) || "syscall_#{id}" } end
        # getppid and getuid decode alike: their counts add.
        metric_labels :ids do |id| { syscall: syscall_name(id) } end
        metric_labels :@grouped do |id| { call: [110, 102].include?(id) ? "ids" : syscall_name(id), abi: "x86_64" } end
        """

    func testSyscallCountsAreLabelledByName() throws {
        let tool = try LoaderSupport.buildLoader(source: Self.source, name: "labelled", in: dir)
        let p = ToolProcess(tool, ["--target-pid", String(getpid()), "--metrics", "127.0.0.1:0"])
        try p.start()
        defer { p.signal(SIGINT); _ = p.wait(timeout: 10) }
        guard p.waitForStderr("attached", timeout: 60) else { return XCTFail("did not attach: \(p.stderr)") }
        let regex = try NSRegularExpression(pattern: #"metrics at http://127\.0\.0\.1:([0-9]+)/metrics"#)
        let err = p.stderr
        guard let m = regex.firstMatch(in: err, range: NSRange(err.startIndex..., in: err)), let r = Range(m.range(at: 1), in: err), let port = Int(err[r]) else {
            return XCTFail("no metrics address on stderr: \(err)")
        }
        for _ in 0..<37 { _ = getppid() }
        for _ in 0..<5 { _ = getuid() }
        // A new key is decoded on the loader's main loop within a second.
        var body = ""
        for _ in 0..<30 {
            body = try LoaderTests.httpGet(port: port, path: "/metrics")
            if body.contains("calls{syscall=\"getppid\"}"), body.contains("call=\"ids\""), body.contains("ids_count{syscall=\"getppid\"}") { break }
            usleep(200_000)
        }
        let samples = try LoaderTests.parsePrometheus(body)
        XCTAssertEqual(samples.first { $0.name == "labelled_calls" && $0.labels == "syscall=\"getppid\"" }?.value, 37, body)
        XCTAssertEqual(samples.first { $0.name == "labelled_calls" && $0.labels == "syscall=\"getuid\"" }?.value, 5, body)
        XCTAssertEqual(samples.first { $0.name == "labelled_grouped" && $0.labels == "call=\"ids\",abi=\"x86_64\"" }?.value, 42, body)
        XCTAssertEqual(samples.filter { $0.name == "labelled_grouped" && $0.labels == "call=\"ids\",abi=\"x86_64\"" }.count, 1, body)
        // A labelled histogram: the key's labels, then `le`.
        XCTAssertEqual(samples.first { $0.name == "labelled_ids_count" && $0.labels == "syscall=\"getppid\"" }?.value, 37, body)
        XCTAssertEqual(samples.first { $0.name == "labelled_ids_sum" && $0.labels == "syscall=\"getppid\"" }?.value, 37 * 110, body)
        XCTAssertEqual(samples.first { $0.name == "labelled_ids_bucket" && $0.labels == "syscall=\"getppid\",le=\"127\"" }?.value, 37, body)
        XCTAssertFalse(body.contains("key="), "a labelled map's raw keys still show: \(body)")
        XCTAssertTrue(samples.contains { $0.name == "labelled_calls" && $0.labels == "syscall=\"recvfrom\"" }, body)
    }

    func testABlockThatRaisesEndsTheTool() throws {
        let source = Self.source.replacingOccurrences(of: "if pid == target_pid", with: "if target_pid == 0")
            .replacingOccurrences(of: "metric_labels :calls do |id| {", with: "metric_labels :calls do |id| raise \"no name for #{id}\" if id >= 0; {")
        let tool = try LoaderSupport.buildLoader(source: source, name: "raising", in: dir)
        let r = try LoaderSupport.run(tool, ["--metrics", "127.0.0.1:0", "--duration", "5"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("metric_labels :calls raised: ") && r.stderr.contains("no name for "), r.stderr)
    }

    func testLabelsForAMapThatDoesNotExistStopTheLoader() throws {
        let tool = try LoaderSupport.buildLoader(source: Self.source + "\nmetric_labels :nope do |k| { k: k } end\n", name: "badlabels", in: dir)
        let r = try LoaderSupport.run(tool, ["--metrics", "127.0.0.1:0", "--duration", "1"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("metric_labels :nope: no map nope has keys to label"), r.stderr)
    }
}
