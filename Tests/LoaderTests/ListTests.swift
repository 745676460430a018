import Foundation
import XCTest

/// `infrared list`: every line checked against an independent reader of the
/// same source (tracefs's files read here, `bpftool btf dump`, `readelf -n`),
/// and against a tracefs tree this test writes, where every answer is known.
final class ListTests: LoaderDirectoryTestCase {
    func list(_ arguments: [String]) throws -> LoaderSupport.Result {
        try LoaderSupport.run(try LoaderSupport.infrared(), ["list"] + arguments)
    }

    func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// A tracefs file read with cat(1): tracefs files report size 0, and
    /// Foundation's one-shot read returns only their first page.
    func tracefs(_ path: String) throws -> String? {
        let r = try LoaderSupport.run("/bin/cat", [path])
        return r.status == 0 ? r.stdout : nil
    }

    /// Every tracepoint of the running kernel, each `available_events` line once.
    func testTracepointsAreTracefsAvailableEvents() throws {
        let events = try XCTUnwrap(try tracefs("/sys/kernel/tracing/available_events"))
        let expected = lines(events).map { "tracepoint:" + $0 }.sorted()
        XCTAssertGreaterThan(expected.count, 100, "tracefs lists too few events to test with")
        let r = try list(["tracepoint:*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "")
        XCTAssertEqual(lines(r.stdout), expected)
        let sched = try list(["tracepoint:sched:*"])
        XCTAssertEqual(lines(sched.stdout), expected.filter { $0.hasPrefix("tracepoint:sched:") })
        XCTAssertTrue(lines(sched.stdout).contains("tracepoint:sched:sched_process_exec"))
    }

    /// `-v`: the fields a tracepoint body's `ctx` has, against tracefs's
    /// format file — one tracepoint the compiler reads from BTF
    /// (`trace_event_raw_sched_process_exec`), one from tracefs (syscalls).
    func testVerboseFieldsAgreeWithTheFormatFile() throws {
        for (category, event) in [("sched", "sched_process_exec"), ("syscalls", "sys_enter_openat"), ("sched", "sched_switch")] {
            let format = try XCTUnwrap(try tracefs("/sys/kernel/tracing/events/\(category)/\(event)/format"))
            var expected = ["tracepoint:\(category):\(event)"]
            for line in lines(format) {
                // "\tfield:TYPE NAME;\toffset:N;\tsize:N;\tsigned:N;"
                let parts = line.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count >= 4, parts[0].hasPrefix("field:") else { continue }
                let decl = String(parts[0].dropFirst(6))
                var name = String(decl.split(separator: " ").last!).replacingOccurrences(of: "*", with: "")
                if let b = name.firstIndex(of: "[") { name = String(name[..<b]) }
                guard !name.hasPrefix("common_") else { continue }
                let size = Int(parts[2].dropFirst(5))!, signed = parts[3] == "signed:1"
                if decl.hasPrefix("__data_loc") { expected.append("    string \(name)"); continue }
                if decl.contains("char *") { expected.append("    \(category == "syscalls" ? "user" : "kernel") char * \(name)"); continue }
                if decl.contains("[") {                // char arrays are strings; other arrays are not ctx fields
                    if decl.hasPrefix("char ") { expected.append("    char \(name)[\(size)]") }
                    continue
                }
                expected.append("    \(signed ? "s" : "u")\(size * 8) \(name)")
            }
            let r = try list(["-v", "tracepoint:\(category):\(event)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(lines(r.stdout), expected, "\(category):\(event)")
        }
    }

    /// fentry: every `BTF_KIND_FUNC` of the kernel's BTF, as bpftool dumps them.
    func testFentryFunctionsAreTheKernelBTFFuncs() throws {
        let dump = try LoaderSupport.run("/usr/sbin/bpftool", ["btf", "dump", "file", "/sys/kernel/btf/vmlinux"])
        XCTAssertEqual(dump.status, 0, dump.stderr)
        var names = Set<String>()
        for line in dump.stdout.split(separator: "\n") where line.hasPrefix("[") && line.contains("] FUNC '") {
            let start = line.range(of: "] FUNC '")!.upperBound
            names.insert(String(line[start..<line[start...].firstIndex(of: "'")!]))
        }
        XCTAssertGreaterThan(names.count, 1000)
        let r = try list(["fentry:*"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(lines(r.stdout), names.map { "fentry:" + $0 }.sorted())
        XCTAssertTrue(names.contains("do_unlinkat"))
        XCTAssertEqual(try list(["fentry:do_unlinkat"]).stdout, "fentry:do_unlinkat\n")
    }

    /// kprobes on this machine: the functions of `available_filter_functions`,
    /// or — where the kernel refuses to show them (this VM's kernel has no
    /// dynamic ftrace: the file is there but open(2) fails) — that reason,
    /// exit status 1 when kprobes were asked for, a warning otherwise.
    func testKprobeFunctionsOrTheReasonThereAreNone() throws {
        let path = "/sys/kernel/tracing/available_filter_functions"
        let r = try list(["kprobe:*"])
        if let text = try tracefs(path) {
            let names = Set(lines(text).compactMap { $0.split(separator: " ").first.map(String.init) }
                .filter { !$0.hasPrefix("__ftrace_invalid_address__") })
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(lines(r.stdout), names.map { "kprobe:" + $0 }.sorted())
        } else {
            let reason = String(cString: strerror(open(path, O_RDONLY) < 0 ? errno : 0))
            XCTAssertEqual(r.status, 1)
            XCTAssertEqual(r.stderr, "infrared: error: cannot read \(path): \(reason)\n")
            let all = try list(["getppid"])
            XCTAssertEqual(all.status, 0)
            XCTAssertEqual(all.stderr, "infrared: warning: no kprobe probes listed: cannot read \(path): \(reason)\n")
        }
    }

    /// A tracefs tree written here: duplicates and module names in
    /// available_filter_functions, a tracepoint only tracefs describes, and
    /// each kind of pattern.
    func testAFakeTracefsAndPatterns() throws {
        let root = dir.appendingPathComponent("tracefs")
        let events = root.appendingPathComponent("events/irtest/irtest_event")
        try FileManager.default.createDirectory(at: events, withIntermediateDirectories: true)
        try "irtest:irtest_event\nirtest:irtest_other\nsched:irtest_sched\n".write(to: root.appendingPathComponent("available_events"), atomically: true, encoding: .utf8)
        try "vfs_read\nmod_func [irmod]\nvfs_read\n__ftrace_invalid_address___64\nvfs_write\n"
            .write(to: root.appendingPathComponent("available_filter_functions"), atomically: true, encoding: .utf8)
        try """
            name: irtest_event
            ID: 9999
            format:
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

            \tfield:__data_loc char[] name;\toffset:8;\tsize:4;\tsigned:0;
            \tfield:u32 count;\toffset:12;\tsize:4;\tsigned:0;
            \tfield:long delta;\toffset:16;\tsize:8;\tsigned:1;
            \tfield:char comm[16];\toffset:24;\tsize:16;\tsigned:0;

            """.write(to: events.appendingPathComponent("format"), atomically: true, encoding: .utf8)
        let fake = ["--tracefs", root.path]
        XCTAssertEqual(try list(fake + ["kprobe:*"]).stdout, "kprobe:mod_func\nkprobe:vfs_read\nkprobe:vfs_write\n")
        XCTAssertEqual(try list(fake + ["tracepoint:*"]).stdout,
                       "tracepoint:irtest:irtest_event\ntracepoint:irtest:irtest_other\ntracepoint:sched:irtest_sched\n")
        // A substring without ':' matches in every source; with ':' the whole line.
        XCTAssertEqual(try list(fake + ["vfs_wri"]).stdout.split(separator: "\n").filter { !$0.hasPrefix("fentry:") },
                       ["kprobe:vfs_write"])
        XCTAssertEqual(try list(fake + ["tracepoint:irtest:irtest"]).stdout, "")
        XCTAssertEqual(try list(fake + ["*irtest_[eo]*"]).stdout, "tracepoint:irtest:irtest_event\ntracepoint:irtest:irtest_other\n")
        let verbose = try list(fake + ["-v", "tracepoint:irtest:*"])
        XCTAssertEqual(verbose.status, 0, verbose.stderr)
        XCTAssertEqual(verbose.stdout, """
            tracepoint:irtest:irtest_event
                string name
                u32 count
                s64 delta
                char comm[16]
            tracepoint:irtest:irtest_other
                (no fields: neither the BTF nor tracefs describe it)

            """)
    }

    /// USDT: Debian's libruby 3.1, each probe once, against `readelf -n`.
    func testUSDTProbesOfLibruby() throws {
        let lib = "/usr/lib/x86_64-linux-gnu/libruby-3.1.so.3.1"
        let notes = try LoaderSupport.run("/usr/bin/readelf", ["-n", lib])
        XCTAssertEqual(notes.status, 0, notes.stderr)
        var expected = Set<String>(), provider = ""
        for line in lines(notes.stdout).map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if line.hasPrefix("Provider: ") { provider = String(line.dropFirst(10)) }
            if line.hasPrefix("Name: ") { expected.insert("usdt:\(lib):\(provider):\(line.dropFirst(6))") }
        }
        XCTAssertEqual(expected.count, 22, "libruby 3.1's USDT probes")
        let r = try list(["usdt", lib])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(lines(r.stdout), expected.sorted())
        XCTAssertTrue(lines(r.stdout).contains("usdt:\(lib):ruby:method__entry"))
        XCTAssertEqual(try list(["usdt:\(lib):ruby:gc__mark*"]).stdout,
                       "usdt:\(lib):ruby:gc__mark__begin\nusdt:\(lib):ruby:gc__mark__end\n")
        XCTAssertEqual(try list(["usdt", "/bin/true"]).stdout, "", "a binary without USDT notes lists nothing")
        let missing = try list(["usdt", dir.appendingPathComponent("none").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("infrared: error: "), missing.stderr)
    }
}
