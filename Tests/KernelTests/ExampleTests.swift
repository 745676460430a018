import Foundation
import XCTest
import InfraredCompiler
import InfraredObject
import InfraredRuntime

/// Every example of Examples/ against a real workload, checked through the
/// runtime: what its maps and records hold after the workload ran.
final class ExampleTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    static var examples: URL { OracleTests.root.appendingPathComponent("Examples") }

    /// A loaded, attached example and what it collected.
    final class Run {
        let object: LoadedObject
        let manifest: Manifest
        var records: [String: [[UInt8]]] = [:]
        var readers: [AnyObject] = []
        init(object: LoadedObject, manifest: Manifest) { self.object = object; self.manifest = manifest }

        func poll() throws {
            for r in readers {
                if let rb = r as? RingBufferReader { try rb.poll(timeoutMs: 20) }
                if let pb = r as? PerfBufferReader { try pb.poll(timeoutMs: 20) }
            }
        }
        /// Decodes a record or key by the manifest's struct layout.
        func decode(_ bytes: [UInt8], as structName: String) -> [String: String] {
            guard let s = manifest.structs.first(where: { $0.name == structName }) else { return [:] }
            var out: [String: String] = [:]
            for f in s.fields where f.offset + f.size <= bytes.count {
                let b = bytes[f.offset..<f.offset + f.size]
                if f.type == .chars { out[f.name] = String(decoding: b.prefix { $0 != 0 }, as: UTF8.self); continue }
                var v: UInt64 = 0
                for (i, x) in b.enumerated() { v |= UInt64(x) << (8 * UInt64(i)) }
                if f.signed, f.size < 8, v & (1 << (UInt64(f.size) * 8 - 1)) != 0 { v |= ~0 << (UInt64(f.size) * 8) }
                out[f.name] = f.signed ? String(Int64(bitPattern: v)) : String(v)
            }
            return out
        }
        func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        /// All entries of a map as (key bytes, u64 value).
        func counts(_ map: String) throws -> [([UInt8], UInt64)] {
            try object.keys(map: map).map { ($0, try object.lookup(map: map, key: $0).map(u64) ?? 0) }
        }
    }

    /// Compiles and loads `Examples/NAME.rb`, sets params, attaches every
    /// program that auto-attaches (and perf_event ones), opens readers.
    func start(_ name: String, params: [String: [UInt8]] = [:]) throws -> Run {
        let compiled = try Compiler.compile(path: Self.examples.appendingPathComponent("\(name).rb").path)
        let object = try LoadedObject.open(bytes: compiled.bytes)
        for (p, bytes) in params {
            let v = try XCTUnwrap(compiled.manifest.params.first { $0.name == p })
            try object.setInitialBytes(map: ".rodata", offset: v.offset, bytes: bytes)
        }
        try object.load()
        let run = Run(object: object, manifest: compiled.manifest)
        for p in compiled.manifest.programs {
            switch p.kind.declaration {
            case "perf_event": try object.attachPerfEvent(program: p.name, type: 1, config: 0, frequency: UInt64(p.options["frequency"] ?? "99") ?? 99)
            case "cgroup_device", "xdp", "tc", "socket_filter": break
            default: try object.attach(program: p.name)
            }
        }
        for m in compiled.manifest.maps {
            if m.kind == .ringbuf {
                run.readers.append(try RingBufferReader(object: object, map: m.name) { [weak run] in run?.records[m.name, default: []].append($0) })
            } else if m.kind == .perfEventArray {
                run.readers.append(try PerfBufferReader(object: object, map: m.name) { [weak run] _, r in run?.records[m.name, default: []].append(r) })
            }
        }
        return run
    }

    func le32(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, Array.init) }
    func le64(_ v: Int64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }

    /// Every example relocates against Debian's 6.1 and 6.12 kernels' BTF
    /// (libbpf resolves each CO-RE record against that BTF, then the
    /// running kernel's verifier accepts the relocated program), and the
    /// kernel takes each object's own BTF.
    func testEveryExampleRelocatesAgainstDebianKernels() throws {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let targets = try CORETests.fixtures(in: dir).filter { $0.1 != "/sys/kernel/btf/vmlinux" }
        XCTAssertEqual(targets.count, 2)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.examples.path).filter { $0.hasSuffix(".rb") }.sorted()
        var relocated = 0
        for file in files {
            let compiled = try Compiler.compile(path: Self.examples.appendingPathComponent(file).path)
            if try Support.trampolineLoadRefused(compiled.bytes, programs: compiled.manifest.programs.map(\.kind), file) { continue }
            for (name, path) in targets {
                let object = try LoadedObject.open(bytes: compiled.bytes, options: LoadOptions(btfCustomPath: path))
                defer { object.close() }
                XCTAssertNoThrow(try object.load(), "\(file) against \(name)")
                XCTAssertTrue(object.kernelAcceptedObjectBTF, "\(file) against \(name): the kernel refused the object's BTF")
                relocated += compiled.object.programs.reduce(0) { $0 + $1.coreRelocations.count }
            }
        }
        print("examples: \(files.count) files loaded against \(targets.map { $0.0 }.joined(separator: " and ")), \(relocated) CO-RE relocations resolved")
        XCTAssertGreaterThan(relocated, 10)
    }

    func testExecsnoopSeesExecsAndFiltersByUID() throws {
        let run = try start("execsnoop", params: ["target_uid": le64(0)])
        defer { run.object.close() }
        for _ in 0..<3 { _ = try Support.run("/bin/true", []) }
        try run.poll()
        let mine = (run.records["events"] ?? []).map { run.decode($0, as: "Event") }.filter { $0["ppid"] == String(getpid()) }
        XCTAssertEqual(mine.count, 3, "\(mine)")
        XCTAssertEqual(Set(mine.map { $0["filename"]! }), ["/bin/true"])
        XCTAssertEqual(Set(mine.map { $0["comm"]! }), ["true"])
        XCTAssertEqual(Set(mine.map { $0["uid"]! }), ["0"])

        let other = try start("execsnoop", params: ["target_uid": le64(12345)])
        defer { other.object.close() }
        _ = try Support.run("/bin/true", [])
        try other.poll()
        XCTAssertTrue((other.records["events"] ?? []).isEmpty, "uid 12345 ran nothing")
    }

    func testOpensnoopJoinsEnterAndExit() throws {
        let run = try start("opensnoop")
        defer { run.object.close() }
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("no-such-file").path
        _ = try Support.run("/bin/cat", [missing])
        try run.poll()
        let events = (run.records["events"] ?? []).map { run.decode($0, as: "Event") }
        let hit = events.filter { $0["filename"] == missing }
        XCTAssertEqual(hit.count, 1, "events: \(events.suffix(5))")
        XCTAssertEqual(hit.first?["ret"], "-2")        // ENOENT
        XCTAssertEqual(hit.first?["comm"], "cat")
    }

    func testExitsnoopReportsExitCode() throws {
        let run = try start("exitsnoop")
        defer { run.object.close() }
        _ = try Support.run("/bin/sh", ["-c", "sleep 0.2; exit 7"])
        try run.poll()
        let events = (run.records["events"] ?? []).map { run.decode($0, as: "Event") }
        let sh = events.filter { $0["ppid"] == String(getpid()) && $0["comm"] == "sh" }
        XCTAssertEqual(sh.first?["exit_code"], "7", "\(events.suffix(5))")
        let lifetime = UInt64(sh.first?["lifetime_ns"] ?? "0") ?? 0
        XCTAssertGreaterThan(lifetime, 150_000_000)
        XCTAssertLessThan(lifetime, 5_000_000_000)
    }

    func testSyscountCountsAChildsSyscalls() throws {
        let run = try start("syscount")
        defer { run.object.close() }
        let p = Process(); p.executableURL = URL(fileURLWithPath: "/bin/sh"); p.arguments = ["-c", "for i in 1 2 3 4 5 6 7 8; do cat /dev/null; done"]
        try p.run(); p.waitUntilExit()
        let counts = try run.counts("counts")
        let total = counts.reduce(0) { $0 + $1.1 }
        XCTAssertGreaterThan(total, 100, "syscalls seen")
        XCTAssertNotNil(counts.first { $0.0 == le32(Int64(p.processIdentifier)) }, "the child's pid is counted")
    }

    func testRunqlatFillsTheHistogram() throws {
        let run = try start("runqlat")
        defer { run.object.close() }
        for _ in 0..<20 { _ = try Support.run("/bin/sleep", ["0.01"]) }
        // Keys 0…64 are the buckets; 65 is the sum of the microseconds.
        let buckets = try run.counts("usecs").filter { $0.0.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } < 65 }
        XCTAssertGreaterThan(buckets.reduce(0) { $0 + $1.1 }, 20, "wakeups measured")
    }

    func testProfileSamplesStacks() throws {
        let run = try start("profile")
        defer { run.object.close() }
        let end = Date().addingTimeInterval(0.6)
        var x = 0
        while Date() < end { x &+= 1 }
        let samples = try run.counts("samples")
        XCTAssertGreaterThan(samples.reduce(0) { $0 + $1.1 }, 20)
        let mine = samples.map { run.decode($0.0, as: "Key") }.filter { $0["pid"] == String(getpid()) }
        XCTAssertFalse(mine.isEmpty, "this busy process was sampled")
        XCTAssertTrue(mine.contains { Int($0["user_stack"]!)! >= 0 }, "a user stack was recorded")
    }

    /// Runs a Ruby script; on a Ruby crash (see Support.runRuby) the maps are emptied and it runs again.
    func rubyScript(_ text: String, run: Run? = nil) throws -> Int32 {
        let dir = try Support.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = dir.appendingPathComponent("w.rb")
        try text.write(to: f, atomically: true, encoding: .utf8)
        let r = try Support.runRuby([f.path]) {
            guard let run else { return }
            for m in run.manifest.maps where !m.isInternal && m.kind != .hist && m.kind != .array {
                for k in try run.object.keys(map: m.name) { try run.object.delete(map: m.name, key: k) }
            }
            for m in run.manifest.maps where m.kind == .hist {
                for i in 0..<65 { try run.object.update(map: m.name, key: withUnsafeBytes(of: UInt32(i), Array.init), value: [UInt8](repeating: 0, count: 8)) }
            }
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.status
    }

    func testRubyCallsCountsExactly() throws {
        guard FileManager.default.fileExists(atPath: RubyProbeTests.libruby) else { throw XCTSkip("libruby-3.1 not installed") }
        let run = try start("ruby_calls")
        defer { run.object.close() }
        _ = try rubyScript("a = []\n1000.times { |i| a.push(i) }\ndef hi = 1\ntp = TracePoint.new(:call) {}\ntp.enable\n42.times { hi }\ntp.disable\n", run: run)
        var byName: [String: UInt64] = [:]
        for (k, n) in try run.counts("calls") {
            let d = run.decode(k, as: "Call")
            byName["\(d["klass"]!)#\(d["name"]!)", default: 0] += n
        }
        XCTAssertEqual(byName["Array#push"], 1000)
        XCTAssertEqual(byName["Object#hi"], 42)
    }

    func testRubyGCMeasuresPauses() throws {
        guard FileManager.default.fileExists(atPath: RubyProbeTests.libruby) else { throw XCTSkip("libruby-3.1 not installed") }
        let run = try start("ruby_gc")
        defer { run.object.close() }
        _ = try rubyScript("5.times { GC.start }\n", run: run)
        XCTAssertGreaterThanOrEqual(try run.counts("mark_us").reduce(0) { $0 + $1.1 }, 5)
        XCTAssertGreaterThanOrEqual(try run.counts("sweep_us").reduce(0) { $0 + $1.1 }, 5)
    }

    func testRubyAllocCountsPerClass() throws {
        guard FileManager.default.fileExists(atPath: RubyProbeTests.libruby) else { throw XCTSkip("libruby-3.1 not installed") }
        let run = try start("ruby_alloc")
        defer { run.object.close() }
        _ = try rubyScript("class Widget; end\nkeep = []\n300.times { keep << Widget.new }\n200.times { keep << [1, 2] }\n100.times { keep << { a: 1 } }\n", run: run)
        var byClass: [String: UInt64] = [:]
        for (k, n) in try run.counts("allocs") { byClass[run.decode(k, as: "Klass")["name"]!, default: 0] += n }
        XCTAssertEqual(byClass["Widget"], 300, "\(byClass.sorted { $0.value > $1.value }.prefix(5))")
        // The sites in the script (w.rb, its line): the object, the array and the hash literals.
        var bySite: [String: UInt64] = [:]
        for (k, n) in try run.counts("sites") {
            let d = run.decode(k, as: "Site")
            guard d["file"]!.hasSuffix("/w.rb") else { continue }
            bySite["\(d["name"]!)@\(d["line"]!)", default: 0] += n
        }
        XCTAssertEqual(bySite["Widget@3"], 300, "\(bySite)")
        XCTAssertEqual(bySite["Array@4"], 200, "\(bySite)")
        XCTAssertEqual(bySite["Hash@5"], 100, "\(bySite)")
    }

    func testXdpCountRunsOnPackets() throws {
        let compiled = try Compiler.compile(path: Self.examples.appendingPathComponent("xdp_count.rb").path)
        let object = try LoadedObject(bytes: compiled.bytes)
        defer { object.close() }
        // An Ethernet + IPv4 frame carrying UDP (protocol 17), and an ARP frame.
        var udp = [UInt8](repeating: 0, count: 64)
        udp[12] = 0x08; udp[13] = 0x00; udp[14] = 0x45; udp[23] = 17
        var arp = [UInt8](repeating: 0, count: 64)
        arp[12] = 0x08; arp[13] = 0x06
        for _ in 0..<3 { XCTAssertEqual(try object.testRun(program: "xdp", packet: udp).retval, 2) }
        XCTAssertEqual(try object.testRun(program: "xdp", packet: arp).retval, 2)
        let u64 = { (b: [UInt8]) in b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        XCTAssertEqual(try object.lookup(map: "packets", key: le32(17)).map(u64), 3)
        XCTAssertEqual(try object.lookup(map: "packets", key: le32(0xffff)).map(u64), 1)
    }
}
