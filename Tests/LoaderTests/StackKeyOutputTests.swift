import Foundation
import XCTest

/// `@m[kstack]` / `@m[ustack]` as `infrared run` prints them at exit: the
/// stacks symbolized, one frame a line, over a workload compiled with frame
/// pointers that makes exactly 11 getppid calls from known functions.
final class StackKeyOutputTests: LoaderDirectoryTestCase {
    static let program = """
    license "GPL"

    tracepoint "syscalls/sys_enter_getppid" do |ctx|
      if comm == "irstack"
        @k[kstack] += 1
        @u[ustack] += 1
      end
      0
    end
    """

    /// Stays alive after its calls, so that its mappings can be read at exit.
    static let workloadSource = """
    #include <unistd.h>
    __attribute__((noinline)) void irstack_leaf(int n) { for (int i = 0; i < n; i++) getppid(); }
    __attribute__((noinline)) void irstack_outer(int n) { irstack_leaf(n); }
    int main(void) { irstack_outer(11); sleep(8); return 0; }
    """

    func report(_ options: [String]) throws -> [String] {
        let source = dir.appendingPathComponent("irstack.c"), binary = dir.appendingPathComponent("irstack")
        try Self.workloadSource.write(to: source, atomically: true, encoding: .utf8)
        let cc = try LoaderSupport.run("/usr/bin/cc", ["-O0", "-fno-omit-frame-pointer", "-o", binary.path, source.path])
        XCTAssertEqual(cc.status, 0, cc.stderr)
        let file = dir.appendingPathComponent("stacks.rb")
        try Self.program.write(to: file, atomically: true, encoding: .utf8)
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", file.path, "--duration", "3"] + options)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        let workload = Process()
        workload.executableURL = binary
        try workload.run()
        defer { workload.terminate(); workload.waitUntilExit() }
        XCTAssertEqual(tool.wait(timeout: 40), 0, tool.stderr)
        return ImplicitMapOutputTests.mapLines(tool.stdout)
    }

    func testTextReportNamesTheFrames() throws {
        let lines = try report([])
        let text = lines.joined(separator: "\n")
        // One stack each (one call site), counted 11 times.
        XCTAssertEqual(lines.filter { $0.hasPrefix("@") }, ["@k[", "@u["], text)
        XCTAssertEqual(lines.filter { $0.hasPrefix("]") }, ["]: 11", "]: 11"], text)
        let split = try XCTUnwrap(lines.firstIndex(of: "@u["))
        let kernel = lines[..<split], user = lines[split...]
        // bpftrace's spelling: name+offset, the offset of a return address (> 0).
        func frame(_ lines: ArraySlice<String>, _ name: String) -> Bool {
            lines.contains { $0.hasPrefix("    \(name)+") && (Int($0.dropFirst(name.count + 5)) ?? 0) > 0 }
        }
        XCTAssertTrue(frame(kernel, "do_syscall_64"), text)
        XCTAssertTrue(frame(user, "irstack_outer"), text)
        XCTAssertTrue(frame(user, "main"), text)
        XCTAssertTrue(lines.allSatisfy { $0.hasPrefix("@") || $0.hasPrefix("]") || $0.hasPrefix("    ") }, text)
    }

    func testJSONReportHasFrameArrays() throws {
        let lines = try report(["--format", "json"])
        XCTAssertEqual(lines.count, 2, lines.joined(separator: "\n"))
        let expected: [(name: String, frame: String)] = [("@k", "do_syscall_64"), ("@u", "irstack_outer")]
        for (line, (name, frame)) in zip(lines, expected) {
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertEqual(object["type"] as? String, "map")
            let entries = try XCTUnwrap((object["data"] as? [String: Any])?[name] as? [[String: Any]], line)
            XCTAssertEqual(entries.count, 1, line)
            XCTAssertEqual(entries.first?["value"] as? Int, 11, line)
            let key = try XCTUnwrap(entries.first?["key"] as? [[String]], line)
            XCTAssertEqual(key.count, 1, line)
            XCTAssertTrue(key[0].contains { $0.hasPrefix(frame + "+") && Int($0.dropFirst(frame.count + 1)) != nil }, line)
        }
    }
}
