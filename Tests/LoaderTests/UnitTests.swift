import Foundation
import XCTest
@testable import InfraredLoader
@testable import InfraredPayload
import InfraredCompression

/// The loader's pure parts: the payload's CRC-32 and format, the command line,
/// value and histogram formatting, the hooks' VM. No kernel needed.
final class LoaderUnitTests: XCTestCase {
    func testCRC32KnownAnswers() {
        // The CRC catalogue's check value (CRC-32/ISO-HDLC of "123456789"),
        // the empty input, and a sentence every CRC table lists.
        XCTAssertEqual(Compression.crc32(Array("123456789".utf8)), 0xcbf4_3926)
        XCTAssertEqual(Compression.crc32([]), 0)
        XCTAssertEqual(Compression.crc32(Array("The quick brown fox jumps over the lazy dog".utf8)), 0x414f_a339)
        XCTAssertEqual(LoaderPayload.hex32(0x0bf4_3926), "0bf43926")
    }

    func testPayloadRoundTripAndCorruption() throws {
        let payload = LoaderPayload(name: "tool", object: [1, 2, 3, 0, 255], manifestJSON: Array("{}".utf8), bytecode: [9, 9], source: "puts 1\n")
        let runner = [UInt8](repeating: 0x90, count: 1000)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("payload-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("t")
        let image = runner + payload.encoded()
        try Data(image).write(to: file)
        XCTAssertEqual(try LoaderPayload.read(executable: file.path), payload)

        for i in [1000, 1010, image.count - 64 - 1, image.count - 50, image.count - 60] {
            var bad = image
            bad[i] ^= 1
            try Data(bad).write(to: file)
            XCTAssertThrowsError(try LoaderPayload.read(executable: file.path), "flipping byte \(i)")
        }
        // A damaged byte anywhere in the payload is named as a CRC-32 mismatch.
        var damaged = image
        damaged[1000 + 40] ^= 0x80
        try Data(damaged).write(to: file)
        XCTAssertThrowsError(try LoaderPayload.read(executable: file.path)) {
            guard case .corrupted(let why)? = $0 as? PayloadError else { return XCTFail("\($0)") }
            XCTAssertTrue(why.hasPrefix("CRC-32 mismatch (expected "), why)
        }
        // A version-1 trailer (a SHA-256 where the CRC-32 now is) is refused by its version, not misread.
        var old = image
        old[image.count - 24] = 1
        try Data(old).write(to: file)
        XCTAssertThrowsError(try LoaderPayload.read(executable: file.path)) {
            XCTAssertEqual($0 as? PayloadError, .corrupted("payload format version 1, this runner reads 2"))
        }
        // The trailer's reserved bytes (where version 1 kept the rest of its hash) must be zero.
        var reserved = image
        reserved[image.count - 64 + 20] = 7
        try Data(reserved).write(to: file)
        XCTAssertThrowsError(try LoaderPayload.read(executable: file.path)) {
            XCTAssertEqual($0 as? PayloadError, .corrupted("the trailer's reserved bytes are not zero"))
        }
        // The payload is mapped from the page its first byte is on: past the first page too.
        for runnerSize in [4096, 9000] {
            try Data([UInt8](repeating: 0x90, count: runnerSize) + payload.encoded()).write(to: file)
            XCTAssertEqual(try LoaderPayload.read(executable: file.path), payload, "runner of \(runnerSize) bytes")
        }
        // An empty payload on a page boundary (nothing to map) is checked as any other.
        for (crc, why) in [(UInt32(0), "no NAME entry"), (1, "CRC-32 mismatch (expected 00000001, found 00000000)")] {
            let trailer = LoaderPayload.le(0) + LoaderPayload.le32(crc) + [UInt8](repeating: 0, count: 28)
                + LoaderPayload.le32(LoaderPayload.version) + LoaderPayload.le32(0) + LoaderPayload.magic
            try Data([UInt8](repeating: 0x90, count: 4096) + trailer).write(to: file)
            XCTAssertThrowsError(try LoaderPayload.read(executable: file.path)) { XCTAssertEqual($0 as? PayloadError, .corrupted(why)) }
        }
        try Data(runner).write(to: file)
        XCTAssertThrowsError(try LoaderPayload.read(executable: file.path)) { XCTAssertEqual($0 as? PayloadError, .missing) }
    }

    static let manifest = LoaderManifest(
        license: "GPL", programs: [],
        structs: [.init(name: "Event", size: 24, fields: [
            .init(name: "pid", type: .scalar(.u32), offset: 0, size: 4, count: nil),
            .init(name: "delta", type: .scalar(.s32), offset: 4, size: 4, count: nil),
            .init(name: "comm", type: .chars, offset: 8, size: 16, count: 16),
        ])],
        maps: [],
        params: [
            .init(name: "target_pid", type: .u32, offset: 0, section: .rodata, defaultValue: 0),
            .init(name: "min_delta", type: .s8, offset: 4, section: .rodata, defaultValue: -1),
            .init(name: "verbose", type: .bool, offset: 5, section: .rodata, defaultValue: 0),
            .init(name: "limit", type: .u64, offset: 8, section: .rodata, defaultValue: 0),
        ],
        globals: [])

    func testParamsAreTypeAndRangeChecked() throws {
        let m = Self.manifest
        let o = try LoaderCLI.parse(["--target-pid", "0x10", "--min-delta=-128", "--verbose", "--limit", "18446744073709551615",
                                     "--duration", "2.5", "--format", "json", "--metrics", "9100"], manifest: m)
        XCTAssertEqual(o.params["target_pid"], 16)
        XCTAssertEqual(o.params["min_delta"], -128)
        XCTAssertEqual(o.params["verbose"], 1)
        XCTAssertEqual(o.params["limit"], -1)   // the u64 bit pattern
        XCTAssertEqual(o.duration, 2.5)
        XCTAssertEqual(o.format, .json)
        XCTAssertEqual(o.metrics, MetricsAddress(host: "127.0.0.1", port: 9100))
        XCTAssertEqual(try LoaderCLI.parse(["--metrics", "0.0.0.0:80"], manifest: m).metrics, MetricsAddress(host: "0.0.0.0", port: 80))
        XCTAssertEqual(try LoaderCLI.parse(["--metrics", "[::1]:80"], manifest: m).metrics, MetricsAddress(host: "::1", port: 80))
        XCTAssertEqual(try LoaderCLI.parse(["--verbose", "false"], manifest: m).params["verbose"], 0)
        for bad in [["--target-pid", "abc"], ["--target-pid", "-1"], ["--target-pid", "4294967296"], ["--min-delta", "128"],
                    ["--min-delta", "-129"], ["--verbose", "maybe"], ["--limit", "18446744073709551616"], ["--limit", "-1"],
                    ["--duration", "0"], ["--format", "yaml"], ["--metrics", "host:port"], ["positional"], ["--unknown"]] {
            XCTAssertThrowsError(try LoaderCLI.parse(bad, manifest: m), "\(bad)")
        }
        XCTAssertEqual(LoaderCLI.flag(for: "target_pid"), "target-pid")
        XCTAssertEqual(try LoaderCLI.parse(["--metrics-prefix", "node:exec_3"], manifest: m).metricsPrefix, "node:exec_3")
        XCTAssertNil(try LoaderCLI.parse([], manifest: m).metricsPrefix)
        for bad in ["3x", "", "a-b", "é", "a b"] {
            XCTAssertThrowsError(try LoaderCLI.parse(["--metrics-prefix", bad], manifest: m), bad)
        }
        // The default prefix: the tool's name, made a Prometheus name.
        XCTAssertEqual(LoaderSession.metricPrefix("execsnoop3"), "execsnoop3")
        XCTAssertEqual(LoaderSession.metricPrefix("exec-snoop.v2"), "exec_snoop_v2")
        XCTAssertEqual(LoaderSession.metricPrefix("3tool"), "_3tool")
        XCTAssertEqual(LoaderSession.metricPrefix("a:b_c"), "a:b_c")
        XCTAssertEqual(LoaderSession.metricPrefix("née"), "n_e")
        XCTAssertEqual(LoaderSession.metricPrefix(""), "infrared")
        let usage = LoaderCLI.usage(tool: "t", manifest: m)
        XCTAssertTrue(usage.contains("--min-delta S8") && usage.contains("s8, default -1"), usage)
        XCTAssertTrue(usage.contains("--verbose BOOL") && usage.contains("bool, default false"), usage)
    }

    func testRecordsAsTextAndJSON() {
        let codec = TypeCodec(manifest: Self.manifest)
        var bytes = [UInt8](repeating: 0, count: 24)
        bytes[0] = 42
        bytes[4] = 0xfe; bytes[5] = 0xff; bytes[6] = 0xff; bytes[7] = 0xff
        for (i, c) in "my tool".utf8.enumerated() { bytes[8 + i] = c }
        let v = codec.decode(bytes, structure: Self.manifest.structs[0])
        XCTAssertEqual(v.text, "pid=42 delta=-2 comm=\"my tool\"")
        XCTAssertEqual(v.json, "{\"pid\":42,\"delta\":-2,\"comm\":\"my tool\"}")
        XCTAssertEqual(Value.string("a\"b\n").json, "\"a\\\"b\\n\"")
        XCTAssertEqual(Self.manifest.recordStruct(size: 24, perf: false)?.name, "Event")
        XCTAssertEqual(Self.manifest.recordStruct(size: 28, perf: true)?.name, "Event")
        XCTAssertNil(Self.manifest.recordStruct(size: 28, perf: false))
        XCTAssertEqual(try codec.encode(.array([.int(7), .int(-1), .string("x")]), type: .structure("Event"), size: 24).prefix(9), [7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x78])
        XCTAssertThrowsError(try codec.encode(.int(256), type: .scalar(.u8), size: 1))
    }

    func testHistogramLikeBpftrace() {
        var counts = [UInt64](repeating: 0, count: 65)
        counts[0] = 2; counts[1] = 1; counts[2] = 4; counts[11] = 8
        let text = Histogram.format(counts)
        let lines = text.split(separator: "\n")
        XCTAssertEqual(lines.count, 11 - 0 + 1)
        XCTAssertEqual(String(lines[0]), "(..., 0]               2 |@@@@@@@@@@@@@                                       |")
        XCTAssertEqual(String(lines[1]), "[1]                    1 |@@@@@@                                              |")
        XCTAssertEqual(String(lines[2]), "[2, 4)                 4 |@@@@@@@@@@@@@@@@@@@@@@@@@@                          |")
        XCTAssertEqual(String(lines[11]), "[1K, 2K)               8 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|")
        XCTAssertEqual(Histogram.bounds(11).low, 1024)
        XCTAssertEqual(Histogram.bounds(11).high, 2047)
        XCTAssertEqual(Histogram.format([UInt64](repeating: 0, count: 65)), "")
    }

    func testHooksRunInMRubyWithInertDeclarations() throws {
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Event do
          u32 :pid
          char :comm, 16
        end
        map :counts, :hash, key: :u32, value: :u64, max_entries: 16
        tracepoint "sched/sched_process_exec" do |ctx|
          this_is_never_run_in_the_loader
        end
        class Context; attr :minor, :u32; end
        on_event :events do |e|
          counts[e.pid] = "#{e.comm}:#{target_pid}:#{counts[e.pid]}:#{e.class}"
        end
        every 2 do counts[1] = "tick" end
        at_exit do counts[2] = "first" end
        at_exit do counts[3] = "second"; exit 3 end
        """
        let hooks = try HookRuntime()
        var calls: [String] = []
        hooks.host = { op, args in
            calls.append(op + " " + args.map(\.description).joined(separator: " "))
            return op == "map_get" ? .int(5) : .nil
        }
        try hooks.runTopLevel(bytecode: try HookRuntime.compile(source: source, filename: "t.rb"), params: ["target_pid": .int(77)])
        XCTAssertEqual(hooks.eventMaps, ["events"])
        XCTAssertEqual(hooks.periods, [2])
        XCTAssertEqual(hooks.atExitCount, 2)
        try hooks.event(map: "events", structName: "Event", value: .record("Event", [("pid", .unsigned(9)), ("comm", .string("sh"))]))
        try hooks.every(0)
        try hooks.atExit()
        XCTAssertEqual(hooks.exitStatus, 3)
        XCTAssertEqual(calls, ["map_get \"counts\" 9", "map_set \"counts\" 9 \"sh:77:5:Event\"", "map_set \"counts\" 1 \"tick\"",
                               "map_set \"counts\" 3 \"second\""])
        let errors = try HookRuntime()
        XCTAssertThrowsError(try errors.runTopLevel(bytecode: try HookRuntime.compile(source: "x = 1\nnope_method(x)\n", filename: "bad.rb"), params: [:])) {
            XCTAssertTrue("\($0)".contains("bad.rb:2"), "\($0)")
        }
        XCTAssertThrowsError(try HookRuntime.compile(source: "def (\n", filename: "syntax.rb")) {
            XCTAssertTrue("\($0)".hasPrefix("syntax.rb:") && "\($0)".contains("syntax error"), "\($0)")
        }
    }
}

extension LoaderUnitTests {
    /// The fast record path prints exactly what `Value.text`/`.json` print.
    func testRecordPrinterMatchesValueFormatting() {
        let codec = TypeCodec(manifest: Self.manifest)
        let st = Self.manifest.structs[0]
        for (pid, delta, comm) in [(UInt32(42), Int32(-2), "my tool"), (0, 0, ""), (4294967295, Int32.min, "a=b\"c\\"), (7, 123456, "ünï")] {
            var bytes = [UInt8](repeating: 0, count: 24)
            withUnsafeBytes(of: pid.littleEndian) { bytes.replaceSubrange(0..<4, with: $0) }
            withUnsafeBytes(of: delta.littleEndian) { bytes.replaceSubrange(4..<8, with: $0) }
            for (i, c) in comm.utf8.prefix(16).enumerated() { bytes[8 + i] = c }
            let value = codec.decode(bytes, structure: st)
            for json in [false, true] {
                let out = bytes.withUnsafeBytes { RecordPrinter(structure: st, codec: codec, json: json, mapField: nil)!.line($0) }
                XCTAssertEqual(String(decoding: out, as: UTF8.self), (json ? value.json : value.text) + "\n")
            }
            let out = bytes.withUnsafeBytes { RecordPrinter(structure: st, codec: codec, json: true, mapField: "events")!.line($0) }
            XCTAssertEqual(String(decoding: out, as: UTF8.self), "{\"map\":\"events\"," + value.json.dropFirst() + "\n")
        }
    }
}
