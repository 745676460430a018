import Foundation
import XCTest
#if canImport(FoundationXML)
import FoundationXML
#endif
import InfraredELF
import InfraredObject
@testable import InfraredLoader
@testable import InfraredProfile

/// The profile tooling's parts without BPF: the symbolizer's address lookup
/// (load bias, kallsyms, /proc/PID/maps of real processes), the flame graph's
/// layout and SVG, the loader's `option` flags and the hooks' API for them.
final class ProfileUnitTests: XCTestCase {
    // MARK: symbolizer

    func testSymbolTableLookup() {
        let t = SymbolTable([
            Symbol(address: 0x1000, size: 0x10, name: "a"),
            Symbol(address: 0x1000, size: 0x10, name: "__a_local_alias", rank: 2),
            Symbol(address: 0x1020, size: 0x20, name: "b"),
            Symbol(address: 0x1030, size: 0x4, name: "b_inner_label"),
        ])
        XCTAssertEqual(t.lookup(0x1000), "a")
        XCTAssertEqual(t.lookup(0x100f), "a")
        XCTAssertNil(t.lookup(0x1010), "between a's end and b")
        XCTAssertNil(t.lookup(0xfff))
        XCTAssertEqual(t.lookup(0x1031), "b_inner_label")
        XCTAssertEqual(t.lookup(0x1038), "b", "past the inner label, still in b")
        XCTAssertNil(t.lookup(0x1040))
        let k = Symbolizer.parseKallsyms("""
        ffffffff81000000 T _stext
        ffffffff81001000 t helper
        ffffffff81001000 T helper_alias_global
        ffffffff81002000 D some_data
        0000000000000000 A fixed_percpu_data
        ffffffffc0000000 t mod_fn\t[mymod]

        """)
        XCTAssertEqual(k.lookup(0xffffffff81000010), "_stext")
        XCTAssertEqual(k.lookup(0xffffffff81001800), "helper_alias_global", "T ranks before t at one address")
        XCTAssertEqual(k.lookup(0xffffffff81002010), "helper_alias_global", "data symbols are not functions")
        XCTAssertEqual(k.lookup(0xffffffffc0000004), "mod_fn")
        XCTAssertNil(k.lookup(0x1000))
    }

    /// Run-time address → the file's own address through its PT_LOAD
    /// segments: PIE (bias removed), non-PIE (unchanged), and a shared object
    /// whose executable segment's p_vaddr differs from its p_offset.
    func testLoadBias() {
        let pie = ELFSymbols(table: SymbolTable([Symbol(address: 0x1139, size: 0x20, name: "burn_cpu_here"),
                                                 Symbol(address: 0x1159, size: 0x40, name: "main")]),
                             segments: [.init(virtualAddress: 0, offset: 0, fileSize: 0x600, executable: false),
                                        .init(virtualAddress: 0x1000, offset: 0x1000, fileSize: 0x200, executable: true),
                                        .init(virtualAddress: 0x3db8, offset: 0x2db8, fileSize: 0x258, executable: false)])
        let text = Mapping(start: 0x5617_3a2f_1000, end: 0x5617_3a2f_2000, offset: 0x1000, executable: true, device: "08:01", inode: 7, path: "/t/burner")
        XCTAssertEqual(pie.fileAddress(0x5617_3a2f_1140, mapping: text), 0x1140)
        XCTAssertEqual(pie.lookup(0x5617_3a2f_1140, mapping: text), "burn_cpu_here")
        XCTAssertEqual(pie.lookup(0x5617_3a2f_1160, mapping: text), "main")
        XCTAssertNil(pie.lookup(0x5617_3a2f_1199, mapping: text))

        let exec = ELFSymbols(table: SymbolTable([Symbol(address: 0x401136, size: 0x20, name: "f")]),
                              segments: [.init(virtualAddress: 0x400000, offset: 0, fileSize: 0x500, executable: false),
                                         .init(virtualAddress: 0x401000, offset: 0x1000, fileSize: 0x200, executable: true)])
        let fixed = Mapping(start: 0x401000, end: 0x402000, offset: 0x1000, executable: true, device: "08:01", inode: 8, path: "/t/x")
        XCTAssertEqual(exec.fileAddress(0x401140, mapping: fixed), 0x401140)
        XCTAssertEqual(exec.lookup(0x401140, mapping: fixed), "f")

        // lld-style: the text segment sits at file offset 0x1000 but p_vaddr 0x2000.
        let lib = ELFSymbols(table: SymbolTable([Symbol(address: 0x2010, size: 0x10, name: "lib_fn")]),
                             segments: [.init(virtualAddress: 0, offset: 0, fileSize: 0x800, executable: false),
                                        .init(virtualAddress: 0x2000, offset: 0x1000, fileSize: 0x100, executable: true)])
        let mapped = Mapping(start: 0x7f12_0000_1000, end: 0x7f12_0000_2000, offset: 0x1000, executable: true, device: "08:01", inode: 9, path: "/t/lib.so")
        XCTAssertEqual(lib.fileAddress(0x7f12_0000_1014, mapping: mapped), 0x2014)
        XCTAssertEqual(lib.lookup(0x7f12_0000_1014, mapping: mapped), "lib_fn")
    }

    func testMapsParsing() {
        let maps = Mapping.parse("""
        7f0000001000-7f0000002000 r-xp 00001000 08:01 4242                       /usr/lib/libx.so (deleted)
        5600000000-5600001000 r--p 00000000 08:01 11   /t/my prog
        7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
        7f0000003000-7f0000004000 rw-p 00000000 00:00 0

        """)
        XCTAssertEqual(maps.count, 4)
        XCTAssertEqual(maps[0].path, "/t/my prog", "sorted by start; spaces in paths kept")
        XCTAssertEqual(maps[1].path, "/usr/lib/libx.so (deleted)")
        XCTAssertEqual(maps[1].offset, 0x1000)
        XCTAssertTrue(maps[1].executable)
        XCTAssertEqual(maps[1].inode, 4242)
        XCTAssertNil(maps[2].path)
        XCTAssertEqual(Mapping.find(0x7f0000001fff, in: maps)?.inode, 4242)
        XCTAssertNil(Mapping.find(0x7f0000002000, in: maps))
        XCTAssertEqual(Mapping.find(0x7ffc00000010, in: maps)?.path, "[stack]")
    }

    /// A real PIE and a real shared object, loaded with ASLR by a live
    /// process: the addresses it prints of its own functions are named
    /// through /proc/PID/maps and the files' symbols.
    func testSymbolizesALiveProcessPIEAndSharedObject() throws {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "int lib_function(int x) { int y = 0; for (int i = 0; i < x; i++) y += i; return y; }\n"
            .write(to: dir.appendingPathComponent("lib.c"), atomically: true, encoding: .utf8)
        try """
        #include <stdio.h>
        #include <unistd.h>
        int lib_function(int x);
        static int local_function(int x) { return x * 3; }
        int pie_function(int x) { return local_function(x) + lib_function(x); }
        int main(void) {
          printf("%d %p %p %p\\n", (int)getpid(), (void *)pie_function, (void *)local_function, (void *)lib_function);
          fflush(stdout);
          sleep(60);
          return pie_function(1) == 42;
        }
        """.write(to: dir.appendingPathComponent("main.c"), atomically: true, encoding: .utf8)
        for args in [["-O0", "-shared", "-fPIC", "-o", "libprof.so", "lib.c"],
                     ["-O0", "-fPIE", "-pie", "-o", "pieprog", "main.c", "-L.", "-lprof", "-Wl,-rpath,\(dir.path)"]] {
            let r = try LoaderSupport.run("/usr/bin/gcc", args, cwd: dir)
            XCTAssertEqual(r.status, 0, "gcc \(args): \(r.stderr)")
        }
        let p = ToolProcess(dir.appendingPathComponent("pieprog").path, [])
        try p.start()
        defer { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
        XCTAssertTrue(p.waitForStdout("\n", timeout: 10), p.stderr)
        let f = p.stdout.split(separator: "\n")[0].split(separator: " ")
        XCTAssertEqual(f.count, 4)
        let pid = Int32(f[0])!
        let addresses = f.dropFirst().map { UInt64($0.dropFirst(2), radix: 16)! }
        XCTAssertGreaterThan(addresses[0], 0x1_0000_0000, "a PIE is loaded high (a load bias to remove)")
        let s = Symbolizer()
        XCTAssertEqual(s.userSymbol(pid: pid, addresses[0]), "pie_function")
        XCTAssertEqual(s.userSymbol(pid: pid, addresses[0] + 5), "pie_function")
        XCTAssertEqual(s.userSymbol(pid: pid, addresses[1] + 1), "local_function", "a local symbol of .symtab")
        XCTAssertEqual(s.userSymbol(pid: pid, addresses[2] + 3), "lib_function", "a shared object's symbol")
        XCTAssertEqual(s.userSymbol(pid: pid, 0x10), Symbolizer.unknown)
        XCTAssertEqual(s.symbols([addresses[2] + 3, addresses[0] + 1], pid: pid), ["lib_function", "pie_function"], "callers at ip - 1")
        XCTAssertEqual(Symbolizer().userSymbol(pid: Int32.max - 1, addresses[0]), Symbolizer.unknown, "no such process")
        // The vDSO (no file) is named from our own copy of it.
        let vdso = try XCTUnwrap(Symbolizer.readVDSO())
        let gettime = try XCTUnwrap(vdso.table.symbols.first { $0.name.hasSuffix("clock_gettime") }, "\(vdso.table.symbols.map(\.name))")
        let theirs = try XCTUnwrap(readText("/proc/\(pid)/maps").map(Mapping.parse)?.first { $0.path == "[vdso]" })
        XCTAssertEqual(vdso.segments.first?.virtualAddress, 0, "the vDSO is linked at 0: its symbols are offsets")
        XCTAssertEqual(s.userSymbol(pid: pid, theirs.start + gettime.address + 1), gettime.name)
        // A remembered process is named after it exits (from its files' paths).
        let remembered = Symbolizer()
        remembered.remember(pid: pid)
        p.signal(SIGKILL)
        _ = p.wait(timeout: 5)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/proc/\(pid)/maps"))
        XCTAssertEqual(remembered.userSymbol(pid: pid, addresses[2] + 3), "lib_function")
        usleep(1_100_000)   // an unmapped address a second later re-reads the maps: gone, so the remembered ones stay
        XCTAssertEqual(remembered.userSymbol(pid: pid, 0x10), Symbolizer.unknown)
        XCTAssertEqual(remembered.userSymbol(pid: pid, addresses[0] + 1), "pie_function")
        XCTAssertEqual(Symbolizer().userSymbol(pid: pid, addresses[2] + 3), Symbolizer.unknown, "not remembered: gone with the process")
    }

    /// Stripped libc keeps `.dynsym` only; its local functions are named
    /// through the debug file of its build id (libc6-dbg) when installed.
    func testDebugFileByBuildID() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        let file = try XCTUnwrap(ELFSymbols.read(libc))
        let id = try XCTUnwrap(file.buildID, "libc has a GNU build id note")
        XCTAssertEqual(id.count, 20)
        XCTAssertFalse(file.symbols.contains { $0.name == "__libc_start_call_main" }, "a local symbol: not in .dynsym")
        let hex = id.map { String(format: "%02x", $0) }.joined()
        let debug = "/usr/lib/debug/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
        guard FileManager.default.fileExists(atPath: debug) else { throw XCTSkip("no debug file for libc (install libc6-dbg): \(debug)") }
        let symbols = try XCTUnwrap(ELFSymbols(path: libc))
        let start = try XCTUnwrap(symbols.table.symbols.first { $0.name == "__libc_start_call_main" })
        XCTAssertEqual(symbols.table.lookup(start.address + 1), "__libc_start_call_main")
        let getpid = symbols.table.lookup(try XCTUnwrap(file.symbols.first { $0.name == "getpid" }).address)
        XCTAssertTrue(getpid == "getpid" || getpid == "__getpid", "one of the aliases at that address: \(getpid ?? "nil")")
    }

    /// A file's symbols read with pread, names left in the file (what the
    /// symbolizer does, to keep the 29 MB `.strtab` of a `swift-frontend` out
    /// of memory), give the table that libelf's walk with every name copied
    /// gives: the same symbols, and among aliases at one address the same
    /// name wins (rank, then the shortest, then byte order).
    func testSymbolsReadWithPreadMatchLibelf() throws {
        var files = ["/lib/x86_64-linux-gnu/libc.so.6", "/proc/self/exe"]
        let id = try XCTUnwrap(ELFSymbols.read(files[0])?.buildID)
        let hex = id.map { String(format: "%02x", $0) }.joined()
        let debug = "/usr/lib/debug/.build-id/\(hex.prefix(2))/\(hex.dropFirst(2)).debug"
        if FileManager.default.fileExists(atPath: debug) { files.append(debug) }
        for path in files {
            let pread = try XCTUnwrap(ELFSymbols.read(path), path)
            XCTAssertFalse(pread.names.files.isEmpty, "\(path): read with pread")
            XCTAssertTrue(pread.names.buffer.isEmpty, "\(path): no name copied")
            let elf = try XCTUnwrap(ELFHandle(path: path))
            let copied = try XCTUnwrap(ELFSymbols.read(elf, fd: nil, names: SymbolNames()), path)
            XCTAssertTrue(copied.names.files.isEmpty)
            XCTAssertGreaterThan(copied.entries.count, 100, path)
            XCTAssertEqual(pread.symbols, copied.symbols, path)
            let a = SymbolTable(entries: pread.entries, names: pread.names), b = SymbolTable(entries: copied.entries, names: copied.names)
            XCTAssertEqual(a.symbols, b.symbols, path)
            XCTAssertLessThan(a.entries.count, pread.entries.count, "\(path) has aliases (one address, several names)")
        }
    }

    /// kallsyms read in 64 KB chunks (lines cut at chunk ends) is the table of the whole text.
    func testKallsymsReadInChunksMatchesWholeText() throws {
        let text = try XCTUnwrap(readText("/proc/kallsyms"))
        let whole = Symbolizer.parseKallsyms(text).symbols
        XCTAssertGreaterThan(text.utf8.count, 1 << 17, "more than two chunks")
        XCTAssertGreaterThan(whole.count, 1000)
        XCTAssertEqual(Symbolizer.readKallsyms().symbols, whole)
    }

    func testKernelAddressesByKallsyms() throws {
        let text = try XCTUnwrap(readText("/proc/kallsyms"))   // procfs files report size 0: read to EOF
        let line = text.split(separator: "\n").first { $0.hasSuffix(" T vfs_read") }
        let address = try XCTUnwrap(line.flatMap { UInt64($0.prefix(16), radix: 16) })
        XCTAssertNotEqual(address, 0, "kallsyms shows addresses to root")
        let s = Symbolizer()
        XCTAssertEqual(s.kernelSymbol(address + 1), "vfs_read")
        XCTAssertEqual(s.symbols([address + 1, address + 1], pid: nil), ["vfs_read", "vfs_read"])
    }

    func testStackValueDecoding() {
        var value = [UInt8](repeating: 0, count: 127 * 8)
        for (i, ip) in [UInt64(0xffffffff81000010), 0x5555_5555_1234].enumerated() {
            withUnsafeBytes(of: ip.littleEndian) { value.replaceSubrange(i * 8..<i * 8 + 8, with: $0) }
        }
        value.replaceSubrange(24..<32, with: [1, 0, 0, 0, 0, 0, 0, 0])   // after the terminator: ignored
        XCTAssertEqual(LoaderSession.addresses(value, valueSize: 127 * 8), [0xffffffff81000010, 0x5555_5555_1234])
        XCTAssertEqual(LoaderSession.addresses([], valueSize: 1016), [])
    }

    // MARK: flame graphs

    func testFlameGraphLayoutIsProportional() throws {
        let folded: [(stack: String, count: UInt64)] = [("a;c", 1), ("a;b", 3), ("d", 4), ("", 0), ("a;;b", 2)]
        let frames = FlameGraph.layout(folded)
        func frame(_ n: String, _ d: Int) -> FlameGraph.Frame? { frames.first { $0.name == n && $0.depth == d } }
        XCTAssertEqual(frames.first, .init(name: "all", depth: 0, start: 0, samples: 10))
        XCTAssertEqual(frame("a", 1), .init(name: "a", depth: 1, start: 0, samples: 6))
        XCTAssertEqual(frame("b", 2), .init(name: "b", depth: 2, start: 0, samples: 5), "siblings merged, ordered by name")
        XCTAssertEqual(frame("c", 2), .init(name: "c", depth: 2, start: 5, samples: 1))
        XCTAssertEqual(frame("d", 1), .init(name: "d", depth: 1, start: 6, samples: 4))

        let svg = FlameGraph.svg(folded, title: "t <&>")
        let parsed = try SVGFrames(svg)
        XCTAssertEqual(parsed.rects.count, 5)
        let style = FlameGraph.Style()
        let full = Double(style.width - 2 * style.padding)
        func rect(_ title: String) throws -> SVGFrames.Rect { try XCTUnwrap(parsed.rects.first { $0.title.hasPrefix(title + " (") }, title) }
        XCTAssertEqual(try rect("all").width, full, accuracy: 0.01)
        XCTAssertEqual(try rect("b").width, full * 5 / 10, accuracy: 0.01)
        XCTAssertEqual(try rect("c").width, full * 1 / 10, accuracy: 0.01)
        XCTAssertEqual(try rect("d").width, full * 4 / 10, accuracy: 0.01)
        XCTAssertEqual(try rect("c").x, try rect("b").x + (try rect("b").width), accuracy: 0.01, "c starts where b ends")
        XCTAssertGreaterThan(try rect("all").y, try rect("a").y, "the root is at the bottom")
        XCTAssertGreaterThan(try rect("a").y, try rect("b").y)
        XCTAssertEqual(try rect("b").title, "b (5 samples, 50%)")
        XCTAssertEqual(try rect("c").title, "c (1 sample, 10%)")
        XCTAssertTrue(parsed.texts.contains("t <&>"), "\(parsed.texts)")
        XCTAssertTrue(parsed.rects.allSatisfy { $0.fill.hasPrefix("rgb(") })
        XCTAssertEqual(FlameGraph.color("x"), FlameGraph.color("x"))

        XCTAssertEqual(FlameGraph.label("short", width: 100, style: style), "short")
        let cut = FlameGraph.label("a_rather_long_function_name_indeed", width: 60, style: style)
        XCTAssertTrue(cut.hasSuffix("..") && cut.count <= Int((60 - 6) / (12 * 0.59)), cut)
        XCTAssertEqual(FlameGraph.label("abc", width: 10, style: style), "")
        XCTAssertEqual(FlameGraph.escape("a<b>&\"c\u{1}"), "a&lt;b&gt;&amp;&quot;c?")
    }

    func testFlameGraphWritesAtomically() throws {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.svg").path
        try FlameGraph.write([("x;y", 2)], to: path)
        XCTAssertNoThrow(try SVGFrames(String(contentsOfFile: path, encoding: .utf8)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.svg"], "no temporary file left")
        XCTAssertThrowsError(try FlameGraph.write([("x", 1)], to: dir.appendingPathComponent("missing/out.svg").path)) {
            XCTAssertTrue("\($0)".contains("missing/out.svg"), "\($0)")
        }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("ro"), withIntermediateDirectories: false)
        XCTAssertThrowsError(try FlameGraph.write([("x", 1)], to: dir.appendingPathComponent("ro").path), "a directory is not replaced")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["out.svg", "ro"])
    }

    // MARK: options and hooks

    static let manifest = LoaderManifest(
        license: "GPL", programs: [], structs: [], maps: [], params: [
            .init(name: "target_pid", type: .u32, offset: 0, section: .rodata, defaultValue: 0),
        ], globals: [], options: [
            .init(name: "flamegraph", type: .string, help: "write an SVG flame graph to FILE", argument: "FILE", defaultValue: nil, line: 3),
            .init(name: "top", type: .int, help: nil, argument: nil, defaultValue: "10", line: 4),
            .init(name: "verbose_stacks", type: .bool, help: "more", argument: nil, defaultValue: nil, line: 5),
        ])

    func testOptionFlags() throws {
        let m = Self.manifest
        let o = try LoaderCLI.parse(["--flamegraph", "out.svg", "--top=-3", "--verbose-stacks", "--target-pid", "5"], manifest: m)
        XCTAssertEqual(o.optionValues, ["flamegraph": .string("out.svg"), "top": .int(-3), "verbose_stacks": .bool(true)])
        XCTAssertEqual(o.params["target_pid"], 5)
        XCTAssertEqual(try LoaderCLI.parse(["--flamegraph=a b.svg", "--verbose-stacks=off"], manifest: m).optionValues,
                       ["flamegraph": .string("a b.svg"), "verbose_stacks": .bool(false)])
        let none = try LoaderCLI.parse([], manifest: m)
        XCTAssertNil(LoaderCLI.optionValue(m.declaredOptions[0], in: none))
        XCTAssertEqual(LoaderCLI.optionValue(m.declaredOptions[1], in: none), .int(10))
        XCTAssertEqual(LoaderCLI.optionValue(m.declaredOptions[2], in: none), .bool(false))
        for bad in [["--flamegraph"], ["--top", "x"], ["--top", "9223372036854775808"], ["--verbose-stacks=maybe"], ["--nope"]] {
            XCTAssertThrowsError(try LoaderCLI.parse(bad, manifest: m), "\(bad)")
        }
        XCTAssertThrowsError(try LoaderCLI.parse(["--nope"], manifest: m)) { XCTAssertTrue("\($0)".contains("--flamegraph"), "\($0)") }
        let usage = LoaderCLI.usage(tool: "profile", manifest: m)
        XCTAssertTrue(usage.contains("[--flamegraph FILE]") && usage.contains("[--top INT]") && usage.contains("[--verbose-stacks]"), usage)
        XCTAssertTrue(usage.contains("Options of this tool:") && usage.contains("write an SVG flame graph to FILE"), usage)
        XCTAssertTrue(usage.contains("(default 10)"), usage)
        var clash = m
        clash.options = [.init(name: "duration", type: .int, help: nil, argument: nil, defaultValue: nil, line: 1)]
        XCTAssertNotNil(LoaderCLI.checkParamNames(clash))
        XCTAssertNil(LoaderCLI.checkParamNames(m))
        // Manifests from before options decode (no "options" key).
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(m)) as! [String: Any]
        old["options"] = nil
        XCTAssertEqual(try JSONDecoder().decode(LoaderManifest.self, from: JSONSerialization.data(withJSONObject: old)).declaredOptions, [])
    }

    /// Examples/profile.rb's own hooks with a fake host: options read by
    /// name, stacks named through `stacks.symbols`, folded lines built
    /// root first, and the flame graph written only with --flamegraph.
    func testProfileExampleHooks() throws {
        let source = try String(contentsOf: LoaderSupport.packageRoot.appendingPathComponent("Examples/profile.rb"), encoding: .utf8)
        let bytecode = try HookRuntime.compile(source: source, filename: "profile.rb")
        for flamegraph in [HostValue.string("/tmp/x.svg"), .nil] {
            let hooks = try HookRuntime()
            var calls: [String] = []
            var written: HostValue?
            hooks.host = { op, args in
                calls.append(op + " " + args.map(\.description).joined(separator: " "))
                switch op {
                case "map_entries":
                    // Key: pid, kernel_stack, user_stack, comm
                    return .array([.array([.array([.int(42), .int(7), .int(3), .string("burner")]), .int(5)]),
                                   .array([.array([.int(0), .int(8), .int(-14), .string("swapper/0")]), .int(2)]),
                                   .array([.array([.int(43), .int(-14), .int(3), .string("burner")]), .int(1)])])
                case "stack_symbols":
                    if case .int(let id) = args[1], id < 0 { return .array([]) }
                    switch (args[1].description, args[2].description) {
                    case ("3", "42"), ("3", "43"): return .array([.string("burn_cpu_here"), .string("main"), .string("[unknown]"), .string("[unknown]")])
                    case ("7", "nil"): return .array([.string("asm_sysvec_apic_timer_interrupt")])
                    case ("8", "nil"): return .array([.string("default_idle"), .string("do_idle"), .string("cpu;startup")])
                    default: return .array([.string("[unknown]")])
                    }
                case "flamegraph_write": written = args[1]; return .nil
                default: return .nil
                }
            }
            try hooks.runTopLevel(bytecode: bytecode, params: [:], options: ["flamegraph": flamegraph])
            XCTAssertEqual(hooks.periods, [1])
            XCTAssertEqual(hooks.atExitCount, 1)
            try hooks.every(0)
            XCTAssertEqual(calls.filter { $0.hasPrefix("stack_symbols") }.count, 3, "\(calls)")
            try hooks.atExit()
            XCTAssertEqual(calls.filter { $0.hasPrefix("stack_symbols") }.count, 3 + 3, "user stacks named once, kernel stacks at exit: \(calls)")
            if case .nil = flamegraph { XCTAssertNil(written); continue }
            guard case .hash(let pairs)? = written else { return XCTFail("no flame graph written: \(calls)") }
            let folded = Dictionary(uniqueKeysWithValues: pairs.map { ($0.0.description, $0.1.description) })
            XCTAssertEqual(folded, ["\"burner;[unknown];main;burn_cpu_here;asm_sysvec_apic_timer_interrupt\"": "5",
                                    "\"burner;[unknown];main;burn_cpu_here\"": "1",
                                    "\"swapper/0;cpu:startup;do_idle;default_idle\"": "2"])
        }
    }
}

/// The rectangles (with their tooltips) and texts of an SVG, parsed as XML.
struct SVGFrames {
    struct Rect { var x: Double; var y: Double; var width: Double; var fill: String; var title: String }
    var rects: [Rect] = []
    var texts: [String] = []

    init(_ svg: String) throws {
        final class Delegate: NSObject, XMLParserDelegate {
            var rects: [Rect] = [], texts: [String] = []
            var title = "", text: String? = nil, inTitle = false
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                switch name {
                case "g": title = ""
                case "title": inTitle = true
                case "text": text = ""
                case "rect" where attributes["fill"] != "url(#background)":
                    rects.append(Rect(x: Double(attributes["x"] ?? "") ?? -1, y: Double(attributes["y"] ?? "") ?? -1,
                                      width: Double(attributes["width"] ?? "") ?? -1, fill: attributes["fill"] ?? "", title: title))
                default: break
                }
            }
            func parser(_ parser: XMLParser, foundCharacters string: String) {
                if inTitle { title += string } else if text != nil { text! += string }
            }
            func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
                if name == "title" { inTitle = false }
                if name == "text", let t = text { texts.append(t); text = nil }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let d = Delegate()
        parser.delegate = d
        guard parser.parse() else { throw SupportFailure("the SVG is not well-formed XML: \(String(describing: parser.parserError))") }
        rects = d.rects
        texts = d.texts
    }
}
