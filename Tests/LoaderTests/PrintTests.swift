import Foundation
import XCTest

/// `puts`, `printf` and `exit` in program bodies, run with `infrared run`
/// and a generated loader against workloads this process makes itself
/// (getppid calls and opens, filtered by its pid), so each line is known.
final class PrintTests: LoaderDirectoryTestCase {
    let me = getpid()

    /// Writes `source` to DIR/NAME.rb, starts `infrared run` on it (or the
    /// loader `gen loader` makes), waits until it is attached, runs
    /// `workload`, and waits for it to end; returns stdout and the seconds it ran.
    func run(_ name: String, _ source: String, seconds: Int = 3, _ options: [String] = [], loader: Bool = false,
             workload: () throws -> Void) throws -> (out: String, elapsed: Double) {
        let rb = dir.appendingPathComponent("\(name).rb")
        try source.write(to: rb, atomically: true, encoding: .utf8)
        let tool: ToolProcess
        if loader {
            tool = ToolProcess(try LoaderSupport.buildLoader(source: source, name: name, in: dir), ["--duration", String(seconds)] + options)
        } else {
            tool = ToolProcess(try LoaderSupport.infrared(), ["run", rb.path, "--duration", String(seconds)] + options)
        }
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), "\(name) did not attach: \(tool.stderr)")
        let start = Date()
        try workload()
        XCTAssertEqual(tool.wait(timeout: Double(seconds) + 30), 0, "\(name): \(tool.stderr)")
        return (tool.stdout, Date().timeIntervalSince(start))
    }

    func getppids(_ n: Int) { for _ in 0..<n { _ = getppid() } }

    func ppidSource(_ body: String) -> String {
        """
        license "GPL"
        global :n, :u64
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if pid == \(me)
            n += 1
        \(body)
          end
        end

        """
    }

    func testPutsPrintsOneLinePerEventInOrder() throws {
        let (out, _) = try run("ppid", ppidSource(#"    puts "ppid call #{n} #{pid}""#)) { getppids(7) }
        XCTAssertEqual(out, (1...7).map { "ppid call \($0) \(me)\n" }.joined() + "\nn: 7\n")
    }

    func testPutsOfLiteralsAPercentSignAndABoolean() throws {
        let (out, _) = try run("lit", ppidSource(#"    puts "100% literal", "second #{n > 1}""#)) { getppids(2) }
        XCTAssertEqual(out, "100% literal\nsecond false\n100% literal\nsecond true\n\nn: 2\n")
    }

    func testPrintfMatchesStringFormat() throws {
        let comm = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        let format = "%-6d|%5d|%-18s|%x|%05u|%c|%%|%3s|%ld|%llu\n"
        let src = ppidSource(#"    printf("\#(format.replacingOccurrences(of: "\n", with: "\\n"))", pid, 42, comm, 255, 7, 65, "ab", -3, n)"#)
        let (out, _) = try run("pf", src) { getppids(2) }
        let expected = (1...2).map { i in
            comm.withCString { c in "ab".withCString { ab in String(format: format, Int(me), 42, c, 255, 7, 65, ab, -3, i) } }
        }.joined()
        XCTAssertEqual(out, expected + "\nn: 2\n")
    }

    func testJSONLines() throws {
        let (out, _) = try run("pjson", ppidSource(#"    puts "call #{n} \"q\"""#), ["--format", "json"]) { getppids(2) }
        XCTAssertEqual(out, #"{"line":"call 1 \"q\""}"# + "\n" + #"{"line":"call 2 \"q\""}"# + "\n" + #"{"global":"n","value":2}"# + "\n")
    }

    func testExitEndsTheToolAfterTheFirstEvent() throws {
        let (out, elapsed) = try run("pexit", ppidSource(#"    puts "first #{n}"; exit"#), seconds: 60) {
            getppids(1)
            usleep(200_000)
            getppids(3)
        }
        XCTAssertLessThan(elapsed, 20, "exit did not end the tool: \(out)")
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.first, "first 1", out)
        XCTAssertEqual(lines.filter { $0.hasPrefix("first") }.count, 1, out)
        XCTAssertTrue(out.hasPrefix("first 1\n\nn: "), out)
    }

    /// A user-space string (sys_enter_openat's filename), interpolated and
    /// through %s, in a generated loader.
    func testUserStringsInAGeneratedLoader() throws {
        let path = dir.appendingPathComponent("opened-\(me)").path
        let src = """
        license "GPL"
        tracepoint "syscalls/sys_enter_openat" do |ctx|
          if pid == \(me)
            puts "open #{ctx.filename} by #{comm}"
            printf("%s|%-4d\\n", ctx.filename, pid % 10000)
          end
        end

        """
        let comm = try String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        let (out, _) = try run("popen", src, loader: true) {
            for _ in 0..<2 { let fd = open(path, O_RDONLY); if fd >= 0 { close(fd) } }
        }
        let mine = out.split(separator: "\n").filter { $0.contains(path) }
        let second = path.withCString { String(format: "%s|%-4d", $0, Int(me) % 10000) }
        XCTAssertEqual(mine.map(String.init), ["open \(path) by \(comm)", second, "open \(path) by \(comm)", second], out)
    }

    /// Kernel char[16] arrays: task_rename's inline `oldcomm`/`newcomm` and
    /// `current_task.comm` (a task_struct member), each copied as its 16
    /// bytes: a 15-character name prints whole. Renaming this thread through
    /// /proc/thread-self/comm fires the tracepoint before the name changes.
    func testKernelCharArraysPrintWhole() throws {
        let src = """
        license "GPL"
        tracepoint "task/task_rename" do |ctx|
          if pid == \(me)
            puts "rename #{ctx.oldcomm} -> #{ctx.newcomm} (#{current_task.comm}) #{ctx.pid}"
          end
        end

        """
        let file = "/proc/thread-self/comm"
        let original = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines)
        var tid: Int32 = 0
        let (out, _) = try run("prename", src) {
            tid = Int32(URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self")).lastPathComponent) ?? -1
            defer { try? original.write(toFile: file, atomically: false, encoding: .utf8) }
            try "ir-fifteen-char".write(toFile: file, atomically: false, encoding: .utf8)
            try "irshort".write(toFile: file, atomically: false, encoding: .utf8)
        }
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .newlines), original)
        XCTAssertEqual(out.split(separator: "\n").filter { $0.hasPrefix("rename ") }.map(String.init),
                       ["rename \(original) -> ir-fifteen-char (\(original)) \(tid)",
                        "rename ir-fifteen-char -> irshort (ir-fifteen-char) \(tid)",
                        "rename irshort -> \(original) (irshort) \(tid)"], out)
    }

    /// `printk` lines from the trace pipe, prefixed. The trace buffer is the
    /// system's: only the lines with this test's pid are counted.
    func testPrintkLinesShow() throws {
        let src = """
        license "GPL"
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          printk("pk call %d\\n", pid) if pid == \(me)
          0
        end

        """
        let (out, _) = try run("pk", src) { getppids(3) }
        let mine = out.split(separator: "\n").filter { $0.hasSuffix(": pk call \(me)") }
        XCTAssertEqual(mine.count, 3, out)
        XCTAssertTrue(mine.allSatisfy { $0.hasPrefix("printk: ") }, out)
    }
}
