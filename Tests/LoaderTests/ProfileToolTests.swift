import Foundation
import XCTest

/// Examples/profile.rb made into a static tool (`gen loader` on the static
/// runner) and run as a user would, `--duration 2 --flamegraph out.svg`,
/// while a gcc-built workload burns CPU in a function named
/// `burn_cpu_here`: the folded stacks name it under the workload's comm,
/// kernel frames are named from kallsyms, and the SVG is XML a browser opens.
final class ProfileToolTests: LoaderKernelTestCase {
    static let workload = """
    #include <stdlib.h>
    #include <time.h>
    volatile unsigned long sink;
    __attribute__((noinline)) void burn_cpu_here(void) {
      for (unsigned long i = 0; i < 2000000; i++) sink += i;
    }
    int main(int argc, char **argv) {
      double seconds = argc > 1 ? atof(argv[1]) : 10;
      struct timespec start, now;
      clock_gettime(CLOCK_MONOTONIC, &start);
      do {
        burn_cpu_here();
        clock_gettime(CLOCK_MONOTONIC, &now);
      } while ((now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
      return 0;
    }
    """

    func testProfileFoldsStacksAndWritesAFlameGraph() throws {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.workload.write(to: dir.appendingPathComponent("burn.c"), atomically: true, encoding: .utf8)
        let gcc = try LoaderSupport.run("/usr/bin/gcc", ["-O0", "-g", "-o", "irburner", "burn.c"], cwd: dir)
        XCTAssertEqual(gcc.status, 0, gcc.stderr)

        let tool = dir.appendingPathComponent("profile").path
        let gen = try LoaderSupport.run(try LoaderSupport.infrared(), ["gen", "loader", LoaderSupport.packageRoot.appendingPathComponent("Examples/profile.rb").path,
                                                                       "-o", tool, "--runner", try LoaderSupport.runner()])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let help = try LoaderSupport.run(tool, ["--help"])
        XCTAssertTrue(help.stdout.contains("[--flamegraph FILE]") && help.stdout.contains("also write an SVG flame graph to FILE"), help.stdout)

        // The workload outlives the profile, so its maps are there at exit too.
        let burner = ToolProcess(dir.appendingPathComponent("irburner").path, ["20"])
        try burner.start()
        defer { burner.signal(SIGKILL); _ = burner.wait(timeout: 5) }
        // Time spent in the kernel, so that some samples have kernel frames
        // on an otherwise idle machine (reading /dev/zero: read_zero, clear_user).
        let kernelBurner = ToolProcess("/bin/dd", ["if=/dev/zero", "of=/dev/null", "bs=1M"])
        try kernelBurner.start()
        defer { kernelBurner.signal(SIGKILL); _ = kernelBurner.wait(timeout: 5) }
        let svgPath = dir.appendingPathComponent("out.svg").path
        let started = Date()
        let profile = ToolProcess(tool, ["--duration", "2", "--flamegraph", svgPath])
        try profile.start()
        XCTAssertTrue(profile.waitForStderr("attached", timeout: 60), profile.stderr)
        XCTAssertEqual(profile.wait(timeout: 60), 0, profile.stderr)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(burner.process.isRunning, "the workload ran through the profile")

        let lines = profile.stdout.split(separator: "\n").map(String.init)
        var folded: [(stack: [String], count: Int)] = []
        for line in lines {
            guard let space = line.lastIndex(of: " "), let n = Int(line[line.index(after: space)...]), n > 0 else {
                return XCTFail("not a folded line (`stack count`): \(line)")
            }
            folded.append((line[..<space].split(separator: ";", omittingEmptySubsequences: false).map(String.init), n))
        }
        XCTAssertFalse(folded.isEmpty, profile.stderr)
        let total = folded.reduce(0) { $0 + $1.count }
        let mine = folded.filter { $0.stack.first == "irburner" }
        let burning = mine.filter { $0.stack.contains("burn_cpu_here") }.reduce(0) { $0 + $1.count }
        XCTAssertGreaterThan(burning, 20, "2 s at 99 Hz of a busy process: \(mine.map { $0.stack.joined(separator: ";") })")
        XCTAssertTrue(mine.contains { s in
            guard let i = s.stack.firstIndex(of: "main"), i + 1 < s.stack.count else { return false }
            return s.stack[i + 1] == "burn_cpu_here"
        }, "user frames root first: main;burn_cpu_here in \(mine.map { $0.stack.joined(separator: ";") })")

        let kallsyms = Set(try LoaderSupport.run("/bin/cat", ["/proc/kallsyms"]).stdout.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            guard f.count >= 3, ["t", "T", "w", "W"].contains(f[1]) else { return nil }
            return String(f[2].split(separator: "\t")[0])
        })
        let kernelLines = folded.filter { s in s.stack.count > 1 && kallsyms.contains(s.stack.last!) }
        XCTAssertFalse(kernelLines.isEmpty, "a kernel frame named from kallsyms: \(lines.prefix(20))")
        let unknown = folded.filter { $0.stack.contains("[unknown]") }.reduce(0) { $0 + $1.count }

        let xml = try LoaderSupport.run("/usr/bin/python3", ["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag, len(r.findall('.//{http://www.w3.org/2000/svg}rect')))", svgPath])
        XCTAssertEqual(xml.status, 0, "the SVG parses as XML: \(xml.stderr)")
        XCTAssertTrue(xml.stdout.hasPrefix("{http://www.w3.org/2000/svg}svg "), xml.stdout)
        let svg = try String(contentsOfFile: svgPath, encoding: .utf8)
        XCTAssertTrue(svg.contains("burn_cpu_here"), "the flame graph names the workload's function")
        XCTAssertTrue(svg.contains("<title>all (\(total) samples, 100%)</title>"), String(svg.prefix(2000)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".out.svg") }, [], "no temporary file left")
        print("profile: \(lines.count) folded stacks, \(total) samples, \(burning) in burn_cpu_here, \(kernelLines.count) stacks ending in a kernel frame, "
              + "\(unknown) samples with an [unknown] frame; \(String(format: "%.2f", elapsed)) s from start to exit; SVG \(svg.utf8.count) bytes")

        // Without --flamegraph nothing is written, and folded stacks still print.
        let plain = try LoaderSupport.run(tool, ["--duration", "1", "--quiet"], cwd: dir)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("irburner;"), plain.stdout.prefix(1000).description)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir.path).contains { $0.hasSuffix(".svg") && $0 != "out.svg" })
        // A flame graph that cannot be written is one error, exit 1.
        let bad = try LoaderSupport.run(tool, ["--duration", "1", "--quiet", "--flamegraph", dir.appendingPathComponent("no/such/dir.svg").path])
        XCTAssertEqual(bad.status, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("error:") && bad.stderr.contains("no/such/dir.svg"), bad.stderr)
    }
}
