import Foundation
import XCTest
import InfraredCompiler

/// `infrared run -e 'CODE'` and `infrared run -` (the probe on standard
/// input) against the running kernel: exact counts of a workload this test
/// makes itself, error locations, and nothing written to disk.
final class OneLinerTests: LoaderDirectoryTestCase {
    /// Counts getppid(2) calls of the process given by --target-pid, keyed by
    /// its parent's tgid read through CO-RE (`bpf_probe_read_kernel`, which
    /// the kernel lets only GPL programs call: the text declares no license,
    /// so this also proves `license "GPL"` is implied).
    static let getppidCounter = """
        param :target_pid, :u32; map :calls, :hash, key: :u32, value: :u64, max_entries: 16; \
        tracepoint("syscalls/sys_enter_getppid") { |ctx| calls[current_task.real_parent.tgid] += 1 if pid == target_pid; 0 }
        """

    /// Starts `infrared run ARGS`, waits until it is attached, calls getppid
    /// `calls` times from this process, lets `--duration` end it; returns stdout.
    func runCountingGetppid(_ arguments: [String], input: String? = nil, calls: Int) throws -> String {
        let tool = ToolProcess(try LoaderSupport.infrared(), arguments + ["--target-pid", String(getpid()), "--duration", "2"],
                               cwd: dir, input: input)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        for _ in 0..<calls { _ = getppid() }
        XCTAssertEqual(tool.wait(timeout: 60), 0, tool.stderr)
        return tool.stdout
    }

    func testInlineProbeCountsExactly() throws {
        let out = try runCountingGetppid(["run", "-e", Self.getppidCounter], calls: 137)
        XCTAssertEqual(out, "calls[\(getppid())]: 137\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "run -e wrote files")
    }

    /// `--format json` with hooks that print: the records and maps the
    /// loader prints are JSON, the hook's own line is its text, and stderr
    /// says so once (naming the hooks); without hooks, no note.
    func testJSONWithPrintingHooksSaysSo() throws {
        let hooked = Self.getppidCounter + "; at_exit { puts \"bye\" }"
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", "-e", hooked, "--format", "json", "--target-pid", String(getpid()), "--duration", "2"], cwd: dir)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        for _ in 0..<5 { _ = getppid() }
        XCTAssertEqual(tool.wait(timeout: 60), 0, tool.stderr)
        XCTAssertEqual(tool.stdout, "bye\n")
        XCTAssertEqual(tool.stderr.components(separatedBy: "note: --format json").count - 1, 1, tool.stderr)
        XCTAssertTrue(tool.stderr.contains("this tool's hooks (at_exit) print their own lines"), tool.stderr)
        let plain = try runCountingGetppid(["run", "-e", Self.getppidCounter, "--format", "json"], calls: 3)
        XCTAssertTrue(plain.hasPrefix("{"), plain)
    }

    func testProbeOnStandardInputCountsExactly() throws {
        // The same probe over several lines, as a file would have it.
        let text = """
            param :target_pid, :u32
            map :calls, :hash, key: :u32, value: :u64, max_entries: 16

            tracepoint "syscalls/sys_enter_getppid" do |ctx|
              calls[current_task.real_parent.tgid] += 1 if pid == target_pid
              0
            end

            """
        let out = try runCountingGetppid(["run", "-"], input: text, calls: 61)
        XCTAssertEqual(out, "calls[\(getppid())]: 61\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [], "run - wrote files")
    }

    /// Compile errors name `-e` or `<stdin>` with the line and column in the
    /// given text; exit status 1, nothing loaded, nothing written.
    func testErrorsAreLocatedInTheGivenText() throws {
        let bad = "map :c, :hash, key: :u32, value: :u64, max_entries: 4\ntracepoint \"syscalls/sys_enter_getppid\" do |ctx|\n  c[0] = 1.5\nend\n"
        let inline = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "-e", bad], cwd: dir)
        XCTAssertEqual(inline.status, 1)
        XCTAssertEqual(inline.stderr.split(separator: "\n").first.map(String.init),
                       "-e:3:3: error: Float values are not available in a BPF program body", inline.stderr)
        XCTAssertEqual(inline.stdout, "")
        let piped = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "-"], cwd: dir, input: bad)
        XCTAssertEqual(piped.status, 1)
        XCTAssertEqual(piped.stderr.split(separator: "\n").first.map(String.init),
                       "<stdin>:3:3: error: Float values are not available in a BPF program body", piped.stderr)
        // A syntax error: mruby's parser, located in the text.
        let syntax = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "-e", "xdp do |ctx|\n  1 +\nend"], cwd: dir)
        XCTAssertEqual(syntax.status, 1)
        XCTAssertTrue(syntax.stderr.hasPrefix("-e:3:"), syntax.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// `--help` after `-e` is the probe's (its params); alone, the command's.
    func testHelpAndUsageErrors() throws {
        let probeHelp = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "-e", Self.getppidCounter, "--help"])
        XCTAssertEqual(probeHelp.status, 0, probeHelp.stderr)
        XCTAssertTrue(probeHelp.stdout.hasPrefix("usage: infrared run -e CODE [--target-pid U32] [--duration SECONDS]"), probeHelp.stdout)
        let help = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("infrared run -e 'CODE' [LOADER OPTIONS]"), help.stdout)
        let none = try LoaderSupport.run(try LoaderSupport.infrared(), ["run"])
        XCTAssertEqual(none.status, 1)
        XCTAssertEqual(none.stderr, "infrared: error: give a probe file, - (standard input) or -e 'CODE' (see `infrared run --help`)\n")
        let badParam = try LoaderSupport.run(try LoaderSupport.infrared(), ["run", "-e", Self.getppidCounter, "--target-pid", "x"])
        XCTAssertEqual(badParam.status, 1)
        XCTAssertTrue(badParam.stderr.hasPrefix("infrared: error: --target-pid"), badParam.stderr)
    }

    /// `run` and `gen loader` on a file they cannot read say why, as `build` does.
    func testMissingFileIsADiagnostic() throws {
        let missing = dir.appendingPathComponent("missing.rb").path
        let expected = "\(missing):1:1: error: cannot read \(missing): no such file\n  hint: check the path and its permissions\n"
        for args in [["build", missing], ["run", missing], ["gen", "loader", missing, "-o", dir.appendingPathComponent("tool").path]] {
            let r = try LoaderSupport.run(try LoaderSupport.infrared(), args)
            XCTAssertEqual(r.status, 1, args.joined(separator: " "))
            XCTAssertEqual(r.stderr, expected, args.joined(separator: " "))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// `--cgroup` on a directory that is not a cgroup v2 one says so before
    /// anything is loaded (it used to fail at attach with EBADF).
    func testCgroupOptionOnADirectoryThatIsNotACgroup() throws {
        let name = LoaderSupport.uniqueName("cgnot")
        let r = try LoaderSupport.run(try LoaderSupport.infrared(),
                                      ["run", "-e", "cgroup_device(name: \"\(name)\") { |ctx| 1 }", "--cgroup", dir.path, "--duration", "1"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("infrared: error: program '\(name)': --cgroup \(dir.path) is not a cgroup v2 directory; give one "),
                      r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertEqual(try LoaderSupport.programs(named: [name]).count, 0)
    }

    // MARK: Examples/one-liners.md

    /// The code of each `infrared run -e '…'` of Examples/one-liners.md, by
    /// the `### ` title above it.
    static func exampleOneLiners() throws -> [(title: String, code: String)] {
        let text = try String(contentsOf: LoaderSupport.packageRoot.appendingPathComponent("Examples/one-liners.md"), encoding: .utf8)
        var out: [(String, String)] = []
        var title = ""
        var rest = Substring(text)
        while let r = [rest.range(of: "\n### "), rest.range(of: "infrared run -e '")].compactMap({ $0 }).min(by: { $0.lowerBound < $1.lowerBound }) {
            if rest[r].hasPrefix("\n### ") {
                let end = rest[r.upperBound...].firstIndex(of: "\n") ?? rest.endIndex
                title = String(rest[r.upperBound..<end])
                rest = rest[end...]
            } else {
                guard let close = rest[r.upperBound...].firstIndex(of: "'") else { break }
                out.append((title, String(rest[r.upperBound..<close])))
                rest = rest[rest.index(after: close)...]
            }
        }
        return out
    }

    static func exampleOneLiner(_ title: String) throws -> String {
        guard let code = try exampleOneLiners().first(where: { $0.title.hasPrefix(title) })?.code else {
            throw SupportFailure("Examples/one-liners.md has no one-liner titled \(title)")
        }
        return code
    }

    /// Every one-liner of Examples/one-liners.md compiles as `run -e` compiles it.
    /// The two with `kstack` keys (bpftrace tutorial lessons 9 and 10) are
    /// written as the language will have them; until `kstack` exists they
    /// must fail with exactly the error for an unknown method, nothing else.
    func testEveryExampleOneLinerCompiles() throws {
        let all = try Self.exampleOneLiners()
        XCTAssertEqual(all.count, 34, "one-liners in Examples/one-liners.md (update with the file)")
        XCTAssertEqual(all.filter { $0.code.contains("kstack") }.map(\.title), ["Lesson 9. Profile on-CPU kernel stacks", "Lesson 10. Scheduler tracing"])
        for (title, code) in all {
            do { _ = try Compiler.compile(source: code, path: "-e") } catch {
                if code.contains("kstack"), let d = error as? Diagnostic, d.message == "undefined method `kstack` in a BPF program body" { continue }
                XCTFail("\(title): \(error)")
            }
        }
    }

    /// "System calls of one process, by syscall number", on this process: its getppid calls, exactly.
    func testSyscallsByNumberOneLiner() throws {
        #if arch(x86_64)
        let getppidNumber = 110
        #elseif arch(arm64)
        let getppidNumber = 173
        #endif
        let code = try Self.exampleOneLiner("System calls of one process")
        let out = try runCountingGetppid(["run", "-e", code], calls: 77)
        XCTAssertTrue(out.split(separator: "\n").contains("n[\(getppidNumber)]: 77"), out)
    }

    /// "New processes per parent": 9 execs of children of this process.
    func testExecsPerParentOneLiner() throws {
        let code = try Self.exampleOneLiner("New processes per parent")
        let tool = ToolProcess(try LoaderSupport.infrared(), ["run", "-e", code, "--duration", "2"], cwd: dir)
        try tool.start()
        XCTAssertTrue(tool.waitForStderr("attached", timeout: 60), tool.stderr)
        try LoaderSupport.spawnTrue(9)
        XCTAssertEqual(tool.wait(timeout: 60), 0, tool.stderr)
        XCTAssertTrue(tool.stdout.split(separator: "\n").contains("execs[\(getpid())]: 9"), tool.stdout)
    }

    /// "System calls per process name" against bpftrace's lesson 4 one-liner
    /// on the same workload: a copy of /bin/true under a name of its own, run
    /// 5 times while both are attached; both must count the same syscalls.
    func testSyscallsPerProcessNameAgreesWithBpftrace() throws {
        let name = "irsc\(getpid() % 100000)"
        let binary = dir.appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: binary.path)
        let ours = ToolProcess(try LoaderSupport.infrared(), ["run", "-e", try Self.exampleOneLiner("System calls per process name")], cwd: dir)
        let theirs = ToolProcess("/usr/bin/bpftrace", ["-e", "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }"], cwd: dir)
        try ours.start()
        try theirs.start()
        XCTAssertTrue(ours.waitForStderr("attached", timeout: 60), ours.stderr)
        XCTAssertTrue(theirs.waitForStdout("Attaching 1 probe", timeout: 60), theirs.stdout + theirs.stderr)
        sleep(1)     // bpftrace prints "Attaching" before it attaches
        for _ in 0..<5 { XCTAssertEqual(try LoaderSupport.run(binary.path, []).status, 0) }
        usleep(300_000)
        ours.signal(SIGINT)
        theirs.signal(SIGINT)
        XCTAssertEqual(ours.wait(timeout: 60), 0, ours.stderr)
        XCTAssertEqual(theirs.wait(timeout: 60), 0, theirs.stderr)
        func count(_ out: String, _ prefix: String) -> Int? {
            out.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Int($0.split(separator: " ").last!) }
        }
        let bpftrace = count(theirs.stdout, "@[\(name)]: ")
        XCTAssertNotNil(bpftrace, theirs.stdout.suffix(2000).description)
        XCTAssertGreaterThan(bpftrace ?? 0, 5 * 10, "5 runs of true make dozens of syscalls each")
        XCTAssertEqual(count(ours.stdout, "n[comm=\(name)]: "), bpftrace, ours.stdout.suffix(2000).description)
    }

    /// "Distribution of read() sizes of one process" against bpftrace's
    /// lesson 5 on one process: a shell that waits on its standard input
    /// (so its pid is known before it reads), then execs dd to read 20
    /// blocks of 100 bytes. Every bucket from [1] up must be the same line;
    /// our first bucket (≤ 0) is bpftrace's (..., 0) and [0] together.
    func testReadSizeHistogramAgreesWithBpftrace() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "read x; exec /bin/dd if=/dev/zero of=/dev/null bs=100 count=20 status=none"]
        let input = Pipe()
        child.standardInput = input
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }
        let target = String(child.processIdentifier)
        let ours = ToolProcess(try LoaderSupport.infrared(),
                               ["run", "-e", try Self.exampleOneLiner("Distribution of read() sizes of one process"), "--target-pid", target], cwd: dir)
        let theirs = ToolProcess("/usr/bin/bpftrace", ["-e", "tracepoint:syscalls:sys_exit_read /pid == \(target)/ { @bytes = hist(args->ret); }"], cwd: dir)
        try ours.start()
        try theirs.start()
        XCTAssertTrue(ours.waitForStderr("attached", timeout: 60), ours.stderr)
        XCTAssertTrue(theirs.waitForStdout("Attaching 1 probe", timeout: 60), theirs.stdout + theirs.stderr)
        sleep(1)     // bpftrace prints "Attaching" before it attaches
        input.fileHandleForWriting.write(Data("go\n".utf8))
        try input.fileHandleForWriting.close()
        child.waitUntilExit()
        XCTAssertEqual(child.terminationStatus, 0)
        usleep(300_000)
        ours.signal(SIGINT)
        theirs.signal(SIGINT)
        XCTAssertEqual(ours.wait(timeout: 60), 0, ours.stderr)
        XCTAssertEqual(theirs.wait(timeout: 60), 0, theirs.stderr)
        func buckets(_ out: String) -> [String] {
            out.split(separator: "\n").map(String.init).filter { $0.hasPrefix("[") || $0.hasPrefix("(") }
        }
        func count(_ line: String) -> Int { Int(line.split(separator: "|")[0].split(separator: " ").last!)! }
        let mine = buckets(ours.stdout), bpftrace = buckets(theirs.stdout)
        XCTAssertTrue(mine.first?.hasPrefix("(..., 0]") == true, ours.stdout)
        XCTAssertEqual(Array(mine.dropFirst()), bpftrace.filter { !$0.hasPrefix("(..., 0)") && !$0.hasPrefix("[0]") }, "ours:\n\(ours.stdout)\nbpftrace:\n\(theirs.stdout)")
        XCTAssertEqual(mine.first.map(count), bpftrace.filter { $0.hasPrefix("(..., 0)") || $0.hasPrefix("[0]") }.map(count).reduce(0, +))
        XCTAssertTrue(mine.contains { $0.hasPrefix("[64, 128)") && count($0) == 20 }, "dd's 20 reads of 100 bytes: \(ours.stdout)")
    }

    /// A syscall tracepoint (described by tracefs only, not by BTF) built by
    /// a user who may not read tracefs: the error says so, instead of "no
    /// tracepoint". Where tracefs is readable by everyone, the build works.
    func testSyscallTracepointAsNonRootBlamesTracefsPermissions() throws {
        let probe = dir.appendingPathComponent("np.rb")
        try "tracepoint \"syscalls/sys_enter_openat\" do |ctx|\n  ctx.flags\n  0\nend\n".write(to: probe, atomically: true, encoding: .utf8)
        chmod(probe.path, 0o644)
        let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"]
        let format = "/sys/kernel/tracing/events/syscalls/sys_enter_openat/format"
        let readable = try LoaderSupport.run("/usr/bin/setpriv", nobody + ["/bin/cat", format]).status == 0
        let r = try LoaderSupport.run("/usr/bin/setpriv", nobody + [try LoaderSupport.infrared(), "build", probe.path, "-o", "/dev/null"])
        if readable {
            XCTAssertEqual(r.status, 0, r.stderr)
        } else {
            XCTAssertEqual(r.status, 1)
            XCTAssertEqual(r.stderr.split(separator: "\n").first.map(String.init),
                           "\(probe.path):1:1: error: cannot read tracepoint syscalls/sys_enter_openat's format: \(format): Permission denied", r.stderr)
        }
    }
}
