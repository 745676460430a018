import Foundation
import XCTest
@testable import InfraredCompiler

/// Everything outside the language is a `file:line:col: error:` with a hint,
/// `infrared build` exits 1, and no output file is left behind.
final class DiagnosticsTests: XCTestCase {
    /// (source, expected line, expected column, a fragment of the message)
    static let cases: [(String, Int, Int, String)] = [
        ("xdp do |ctx|\n  x = 1.5\n  0\nend\n", 2, 3, "Float"),
        ("xdp do |ctx|\n  s = \"abc\".upcase\n  0\nend\n", 2, 13, "String methods"),
        ("xdp do |ctx|\n  eval(\"1\")\nend\n", 2, 3, "undefined method `eval`"),
        ("xdp do |ctx|\n  [1, 2].each { |x| x }\n  0\nend\n", 2, 3, "Array"),
        ("xdp do |ctx|\n  foo { 1 }\nend\n", 2, 3, "does not take a block"),
        ("socket_filter do |ctx|\n  x = ctx.len\n  if x\n    1\n  end\nend\n", 3, 3, "always true"),
        ("socket_filter do |ctx|\n  ctx.nonexistent\nend\n", 2, 7, "no field `nonexistent`"),
        ("cgroup_device do |ctx|\n  ktime_get_ns(1)\nend\n", 2, 3, "takes 0 arguments"),
        ("cgroup_device do |ctx|\n  printk(5)\nend\n", 2, 3, "format string"),
        ("cgroup_device do |ctx|\n  x = {a: 1}\n  0\nend\n", 2, 3, "Hash"),
        ("cgroup_device do |ctx|\n  begin\n    1\n  rescue\n    0\n  end\nend\n", 1, 1, "rescue"),
        ("cgroup_device do |ctx|\n  x = 1 +\nend\n", 3, 1, "syntax"),
        ("raise 'nope'\n", 1, 1, "top level raised"),
        // The build-time top level is plain Ruby: no clock, files or randomness.
        ("x = 1\nt = Time.now\nxdp do |ctx|\n  0\nend\n", 2, 1, "uninitialized constant Time"),
        ("File.read('/etc/hostname')\nxdp do |ctx|\n  0\nend\n", 1, 1, "uninitialized constant File"),
        ("srand(1)\nxdp do |ctx|\n  0\nend\n", 1, 1, "undefined method 'srand'"),
        ("x = 1\n", 1, 1, "declares no program"),
        ("cgroup_device do |ctx|\n  UNDEFINED_THING + 1\nend\n", 2, 3, "uninitialized constant UNDEFINED_THING"),
        // What the verifier would reject and the compiler can see:
        ("cgroup_device do |ctx|\n  x = 0\n  while true\n    x += 1\n  end\n  1\nend\n", 4, 5, "never ends"),
        ("xdp do |ctx|\n  x = ctx.ingress_ifindex\n  n = 0\n  while x < 10\n    n += 1\n  end\n  n\nend\n", 4, 3, "its exit condition reads nothing the loop changes"),
        ("tracepoint \"syscalls/sys_enter_getpid\" do |ctx|\n  until @flag[0] == 1\n  end\n  0\nend\n", 2, 3, "its exit condition reads nothing the loop changes"),
        ("xdp do |ctx|\n  t = 0\n  while ktime_get_ns < t + 1000\n    t = ktime_get_ns\n  end\n  2\nend\n", 3, 3, "its exit condition reads nothing the loop changes"),
        ("xdp do |ctx|\n  i = 0\n  while i < 4\n    j = 0\n    while j < i\n      i += 0\n    end\n    i += 1\n  end\n  2\nend\n", 5, 5, "its exit condition reads nothing the loop changes"),
        ("lsm \"file_open\" do |ctx|\n  -5000\nend\n", 2, 3, "negative errno (-4095…-1) to deny; this returns -5000"),
        ("lsm \"file_open\" do |ctx|\n  ctx.file.f_flags == 3 ? 1 : 2\nend\n", 2, 3, "negative errno (-4095…-1) to deny; this returns values in 1…2"),
        ("cgroup_device do |ctx|\n  ctx.major + 1\nend\n", 2, 3, "must return 0 or 1"),
        ("cgroup_device do |ctx|\n  7\nend\n", 2, 3, "must return 0 or 1; this returns 7"),
        ("tracepoint \"sched/sched_process_exec\" do |ctx|\n  current_task.no_such_member\n  0\nend\n", 2, 16, "no member `no_such_member`"),
        ("map :c, :hash, key: :u32, value: :u64\nxdp do |ctx|\n  c.reserve(1)\n  0\nend\n", 3, 5, "no method `reserve`"),
        ("map :c, :hash, key: :u32, value: :u64\nxdp do |ctx|\n  bpf_map_lookup_elem(c, 5)\n  0\nend\n", 3, 3, "(const void * key) cannot be Integer"),
        ("struct :E do\n  u32 :a\nend\nmap :r, :ringbuf\nxdp do |ctx|\n  e = r.reserve(E)\n  e.b = 1\n  0\nend\n", 7, 5, "no field `b`"),
        ("map :c, :hash, key: :u32, value: :u64\nmap :c, :array, value: :u64\nxdp do |ctx|\n  0\nend\n", 2, 1, "declared twice"),
        ("map :c, :hash, key: :u99, value: :u64\nxdp do |ctx|\n  0\nend\n", 1, 1, "unknown type :u99"),
        ("struct :E do\n  u32 :x\nend\nmap :rb, :ringbuf\ntracepoint \"sched/sched_switch\" do |ctx|\n  e = rb.reserve(E)\n  e.x = 1\n  0\nend\n", 8, 3, "record from line 6 is still held"),
        ("def f(x)\n  f(x - 1)\nend\nxdp do |ctx|\n  f(1)\nend\n", 2, 3, "calls itself"),
        ("def g(a, b)\n  a + b\nend\nxdp do |ctx|\n  g(1)\nend\n", 5, 3, "takes 2 arguments, given 1"),
        ("struct :B do\n  char :d, 64\nend\nkprobe \"x\" do |ctx|\n  b = B.new\n  probe_read_kernel(b, 128, current_task)\n  0\nend\n", 6, 3, "would write 128 bytes into a 64-byte struct B"),
    ]

    func testDiagnosticsNameFileLineColumn() throws {
        for (source, line, column, fragment) in Self.cases {
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "probe.rb"), source) { error in
                guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error) for\n\(source)") }
                XCTAssertEqual(d.file, "probe.rb")
                XCTAssertEqual(d.line, line, "line for \(d) in\n\(source)")
                if fragment != "syntax" { XCTAssertEqual(d.column, column, "column for \(d) in\n\(source)") }
                XCTAssertTrue(d.description.hasPrefix("probe.rb:\(d.line):\(d.column): error: "), d.description)
                if fragment != "syntax" {
                    XCTAssertTrue(d.message.contains(fragment), "expected “\(fragment)” in: \(d.message)")
                }
            }
        }
    }

    /// A body longer than mruby's jumps reach (10,000 `if` lines: mruby
    /// prints `too big jump offset`) is named as mruby's limit, with the fix.
    func testABodyTooLongForMRubySaysSo() throws {
        let body = (0..<10_000).map { "  a = a * 3 + \($0) if (a & 1) == 0\n" }.joined()
        let source = "license \"GPL\"\ntracepoint \"raw_syscalls/sys_enter\" do |ctx|\n  a = pid\n\(body)  a\nend\n"
        XCTAssertThrowsError(try Compiler.compile(source: source, path: "long.rb")) { error in
            guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error)") }
            XCTAssertTrue(d.message.hasPrefix("mruby's code generator failed on this file"), d.description)
            XCTAssertEqual(d.hint, "split a body of thousands of lines into `def`s (each is inlined into the program) or into several programs")
        }
    }

    /// Programs are lowered in order and their back ends run on all cores,
    /// yet the error reported is the first in declaration order, whichever
    /// stage finds it: a back-end error (the checks, after the passes) in an
    /// earlier program wins over a lowering error in a later one, and the
    /// other way round. Repeated: which back end finishes first varies.
    /// The fine programs (about 130 IR instructions each) are large enough
    /// that the pool starts on the third (`BackEndJobs.poolThreshold`).
    func testTheFirstErrorInDeclarationOrderIsReported() throws {
        func program(_ name: String, _ body: String) -> String { "cgroup_device name: \"\(name)\" do |ctx|\n  \(body)\nend\n" }
        let work = "x = ctx.major\n" + (0..<20).map { "  x = x * 3 + \($0)\n" }.joined()
        let fine = (0..<6).map { program("ok\($0)", work + "  x == \($0) ? 1 : 0") }.joined()
        let backEnd = program("returns7", "7")            // Checks: must return 0 or 1
        let lowering = program("floats", "x = 1.5\n  0")  // Lowering: no Float
        func line(of name: String, in source: String) -> Int {
            source.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("\"\(name)\"") }! + 2
        }
        for source in [fine + backEnd + fine + lowering, fine + lowering + fine + backEnd] {
            let first = source.range(of: "returns7")!.lowerBound < source.range(of: "floats")!.lowerBound ? "returns7" : "floats"
            for _ in 0..<5 {
                XCTAssertThrowsError(try Compiler.compile(source: source, path: "two.rb")) { error in
                    guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error)") }
                    XCTAssertEqual(d.line, line(of: first, in: source), d.description)
                    XCTAssertTrue(d.message.contains(first == "returns7" ? "must return 0 or 1; this returns 7" : "Float"), d.description)
                }
            }
        }
    }

    /// Assigning a context field says the context is read-only, at the
    /// assignment (was "context field `mark=` takes no arguments").
    func testAssigningAContextFieldSaysTheContextIsReadOnly() throws {
        let source = "license \"GPL\"\ntc :ingress do |ctx|\n  ctx.mark = 42\n  0\nend\n"
        XCTAssertThrowsError(try Compiler.compile(source: source, path: "tc.rb")) { error in
            guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error)") }
            XCTAssertEqual(d.description.split(separator: "\n").first.map(String.init),
                           "tc.rb:3:3: error: the context is read-only: `ctx.mark = …` cannot be compiled")
        }
    }

    /// A program named like a map, implicit map, param or global (one ELF
    /// symbol namespace) is the program's error at its declaration line,
    /// not an internal error from the object writer.
    func testAProgramNamedLikeDataIsRefused() throws {
        let cases: [(String, String)] = [
            ("map :seen, :hash, key: :u32, value: :u64\n", "the map `seen`"),
            ("", "the implicit map `@seen`"),
            ("param :seen, :u32\n", "the param `seen`"),
            ("global :seen, :u64\n", "the global `seen`"),
        ]
        for (declaration, what) in cases {
            let use = declaration.hasPrefix("map") ? "  seen[pid] += 1\n" : (declaration.isEmpty ? "  @seen[pid] += 1\n" : "")
            let source = "license \"GPL\"\n\(declaration)tracepoint \"raw_syscalls/sys_enter\", name: \"seen\" do |ctx|\n\(use)  0\nend\n"
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "dup.rb"), what) { error in
                guard let d = error as? Diagnostic else { return XCTFail("not a Diagnostic: \(error)") }
                XCTAssertEqual(d.description.split(separator: "\n").first.map(String.init),
                               "dup.rb:\(declaration.isEmpty ? 2 : 3):1: error: program `seen` has the name of \(what)")
            }
        }
    }

    /// The CLI prints the diagnostic, exits 1 and writes nothing at -o.
    /// Loops whose exit tests read what the loop updates from itself — a
    /// counter, a stack struct's field, a pointer walked by CO-RE reads, an
    /// inner loop's bound set by the outer loop, a value halved each turn —
    /// are not the "reads nothing the loop changes" error.
    func testLoopsThatChangeWhatTheyTestCompile() throws {
        let sources = [
            "struct :S do\n  u32 :n\nend\nmap :out, :array, value: :u64, max_entries: 1\nxdp do |ctx|\n  s = S.new\n  s.n = 0\n  while s.n < 8\n    s.n += 1\n  end\n  out[0] = s.n\n  2\nend\n",
            "map :out, :array, value: :u64, max_entries: 1\nkprobe \"do_unlinkat\" do |ctx|\n  t = current_task\n  while t.pid != 1\n    t = t.real_parent\n  end\n  out[0] = t.pid\n  0\nend\n",
            "map :out, :array, value: :u64, max_entries: 1\nxdp do |ctx|\n  i = 0\n  while i < 4\n    j = 0\n    while j < i\n      out[0] += 1\n      j += 1\n    end\n    i += 1\n  end\n  2\nend\n",
            "map :out, :array, value: :u64, max_entries: 1\nkprobe \"do_unlinkat\" do |ctx|\n  k = ctx.arg(0)\n  while k > 0\n    k = k >> 1\n  end\n  out[0] = k\n  0\nend\n",
            "tracepoint \"syscalls/sys_enter_getpid\" do |ctx|\n  spins = 0\n  while @flag[0] == 0 && spins < 64\n    spins += 1\n  end\n  @spins[0] = spins\nend\n",
            "lsm \"file_open\" do |ctx|\n  ctx.file.f_flags == 3 ? -1 : 0\nend\n",
            "lsm \"file_open\" do |ctx|\n  -ctx.file.f_flags\nend\n",
            "lsm \"bprm_committing_creds\" do |ctx|\n  7\nend\n",
            "xdp do |ctx|\n  i = 0\n  while true\n    i += 1\n    break if i == ctx.ingress_ifindex || i > 100\n  end\n  2\nend\n",
        ]
        for source in sources {
            XCTAssertNoThrow(try Compiler.compile(source: source, path: "probe.rb"), source)
        }
    }

    func testBuildCommandLeavesNoOutputOnError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-diag-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("bad.rb"), out = dir.appendingPathComponent("bad.bpf.o")
        try "xdp do |ctx|\n  1.5\nend\n".write(to: src, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = Self.infrared
        p.arguments = ["build", src.path, "-o", out.path]
        let err = Pipe(); p.standardError = err
        try p.run(); p.waitUntilExit()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(p.terminationStatus, 1)
        XCTAssertTrue(text.hasPrefix("\(src.path):2:3: error: Float"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["bad.rb"])
    }

    /// `-o` naming a FIFO (as `/dev/null` or `/dev/stdout` name devices) is
    /// written in place: the atomic rename would replace the node with a
    /// regular file (it once turned /dev/null into one).
    func testBuildWritesIntoADeviceOrFIFOInPlace() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-fifo-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("ok.rb"), fifo = dir.appendingPathComponent("out.fifo")
        try "license \"GPL\"\nxdp do |ctx|\n  2\nend\n".write(to: src, atomically: true, encoding: .utf8)
        XCTAssertEqual(mkfifo(fifo.path, 0o600), 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/cat")
        reader.arguments = [fifo.path]
        let got = Pipe(); reader.standardOutput = got
        try reader.run()
        let p = Process()
        p.executableURL = Self.infrared
        p.arguments = ["build", src.path, "-o", fifo.path]
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let deadline = Date().addingTimeInterval(10)
        while reader.isRunning && Date() < deadline { usleep(10_000) }
        if reader.isRunning {
            // The FIFO was replaced: cat never saw a writer.
            reader.terminate(); reader.waitUntilExit()
            XCTFail("nothing was written into the FIFO")
        }
        let bytes = [UInt8](got.fileHandleForReading.readDataToEndOfFile())
        XCTAssertEqual(Array(bytes.prefix(4)), [0x7f, 0x45, 0x4c, 0x46], "the object went into the FIFO")
        var info = stat()
        XCTAssertEqual(stat(fifo.path, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["ok.rb", "out.fifo"], "no temporary file left")
    }

    /// `--dump-after` takes `lower` or the name of a pass of the pipeline,
    /// all listed in `build --help`; any other name is refused with exit 1
    /// and nothing written, whichever parser reads the command line (the
    /// quick one, or swift-argument-parser's for a line it does not take).
    func testDumpAfterListsEveryPassAndRefusesAnUnknownOne() throws {
        let names = CompileOptions.dumpAfterNames
        XCTAssertEqual(names.count, 38)   // `lower` and the pipeline's 37 distinct passes
        XCTAssertEqual(names.first, "lower")
        for n in ["reuse-invariant-calls", "unroll-loops", "narrow-divisions", "hoist-params", "narrow-stores", "unsigned-loads", "forward-probe-reads"] {
            XCTAssertTrue(names.contains(n), n)
        }
        func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
            let p = Process()
            p.executableURL = Self.infrared
            p.arguments = arguments
            let out = Pipe(), err = Pipe()
            p.standardOutput = out; p.standardError = err
            try p.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        let help = try run(["build", "--help"])
        XCTAssertEqual(help.status, 0)
        let words = help.out.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "(" || $0 == ")" || $0 == ";" })
        for n in names { XCTAssertTrue(words.contains(Substring(n)), "`build --help` does not list \(n):\n\(help.out)") }

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-dump-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("ok.rb"), out = dir.appendingPathComponent("ok.bpf.o")
        try "license \"GPL\"\nxdp do |ctx|\n  2\nend\n".write(to: src, atomically: true, encoding: .utf8)
        let expected = "infrared: error: unknown pass 'const-propagation' for --dump-after (passes: \(names.joined(separator: ", ")))\n"
        for arguments in [["build", src.path, "--dump-after", "dce", "--dump-after", "const-propagation"],   // Build.quickParse
                          ["build", "--dump-after=const-propagation", "--", src.path]] {                    // swift-argument-parser
            let r = try run(arguments)
            XCTAssertEqual(r.status, 1, "\(arguments)")
            XCTAssertEqual(r.err, expected, "\(arguments)")
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["ok.rb"], "\(arguments)")
        }
        // A known name prints the IR after each run of that pass (rotate-loops runs twice).
        let r = try run(["build", src.path, "--dump-after", "rotate-loops", "-o", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err.components(separatedBy: "; after rotate-loops\nfunction ").count - 1, 2, r.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.path))
    }

    /// The built `infrared` beside the test bundle.
    static var infrared: URL {
        let b = Bundle(for: DiagnosticsTests.self).bundleURL
        let candidates = [b.appendingPathComponent("infrared"), b.deletingLastPathComponent().appendingPathComponent("infrared")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    /// Generated tables match the system headers they come from.
    func testGeneratedTablesAreCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-tables-\(getpid())")
        defer { try? FileManager.default.removeItem(at: tmp) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", root.appendingPathComponent("Scripts/gen-tables.py").path, tmp.path]
        p.standardOutput = Pipe()
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let generated = ["Opcodes.swift", "Helpers.swift", "Types.swift", "ContextStructs.swift", "CoreRelocationKinds.swift", "PerfEvents.swift", "Syscalls.swift"].map { ($0, "Sources/BPF/Generated") }
            + [("MRubyOpcodes.swift", "Sources/InfraredCompiler/Frontend/Generated")]
        for (name, folder) in generated {
            let committed = try String(contentsOf: root.appendingPathComponent("\(folder)/\(name)"), encoding: .utf8)
            let fresh = try String(contentsOf: tmp.appendingPathComponent(name), encoding: .utf8)
            XCTAssertEqual(committed, fresh, "\(name) is stale: run `make tables`")
        }
    }

    /// Every bpftrace spelling of the table, typed in a body (called with no
    /// argument) or at the top level, gives an error at its name whose hint
    /// is the table's.
    func testBpftraceSpellingsGiveTheirHint() throws {
        for (name, hint) in BpftraceSpellings.body.sorted(by: { $0.key < $1.key }) {
            let source = "license \"GPL\"\ntracepoint \"syscalls/sys_enter_openat\" do |ctx|\n  x = \(name)\n  0\nend\n"
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "b.rb"), name) { e in
                XCTAssertEqual("\(e)".split(separator: "\n").map(String.init),
                               ["b.rb:3:7: error: undefined method `\(name)` in a BPF program body", "  hint: " + hint], name)
            }
        }
        for (name, hint) in BpftraceSpellings.topLevel.sorted(by: { $0.key < $1.key }) {
            let source = "license \"GPL\"\n\(name)(1) { 0 }\n"
            XCTAssertThrowsError(try Compiler.compile(source: source, path: "b.rb"), name) { e in
                XCTAssertEqual("\(e)".split(separator: "\n").map(String.init),
                               ["b.rb:2:1: error: the top level raised: undefined method '\(name)' (NoMethodError)", "  hint: " + hint], name)
            }
        }
    }
}
