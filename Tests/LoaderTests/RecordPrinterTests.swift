import Foundation
import XCTest
@testable import InfraredLoader

/// The fast record path (`RecordPrinter`, straight from the ring's bytes)
/// against expected lines for every field type, and against `Value`'s
/// formatting (the slow path hooks and odd sizes take) on edge cases and
/// random bytes; which struct a record is printed as.
final class RecordPrinterTests: XCTestCase {
    static func field(_ name: String, _ type: String, _ offset: Int, _ size: Int, count: Int? = nil) -> LoaderManifest.Field {
        .init(name: name, type: LoaderManifest.DataType(type), offset: offset, size: size, count: count)
    }

    /// Every type a struct field can have: u8…u64, s8…s64, char, bool,
    /// char arrays, a nested struct (itself holding one).
    static let manifest = LoaderManifest(
        license: "GPL", programs: [],
        structs: [
            .init(name: "All", size: 80, fields: [
                field("a_u8", "u8", 0, 1), field("a_s8", "s8", 1, 1), field("a_u16", "u16", 2, 2),
                field("a_u32", "u32", 4, 4), field("a_u64", "u64", 8, 8),
                field("a_s16", "s16", 16, 2), field("a_char", "char", 18, 1), field("a_bool", "bool", 19, 1),
                field("a_s32", "s32", 20, 4), field("a_s64", "s64", 24, 8),
                field("name", "chars", 32, 8, count: 8),
                field("inner", "Inner", 40, 24),
                field("tail", "chars", 64, 4, count: 4),
                field("last", "u64", 72, 8),
            ]),
            .init(name: "Deep", size: 4, fields: [field("d", "u16", 0, 2), field("flag", "bool", 2, 1)]),
            .init(name: "Inner", size: 24, fields: [
                field("x", "s8", 0, 1), field("deep", "Deep", 2, 4), field("s", "chars", 6, 6, count: 6), field("y", "u64", 16, 8),
            ]),
        ],
        maps: [], params: [], globals: [])

    static var all: LoaderManifest.Struct { manifest.structNamed("All")! }

    /// A record of `All` from field values (little-endian).
    static func record(u8: UInt8 = 0, s8: Int8 = 0, u16: UInt16 = 0, u32: UInt32 = 0, u64: UInt64 = 0, s16: Int16 = 0,
                       char: Int8 = 0, bool: UInt8 = 0, s32: Int32 = 0, s64: Int64 = 0, name: [UInt8] = [],
                       x: Int8 = 0, d: UInt16 = 0, flag: UInt8 = 0, s: [UInt8] = [], y: UInt64 = 0, tail: [UInt8] = [], last: UInt64 = 0) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 80)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[at + i] = x } } }
        put(u8, 0); put(s8, 1); put(u16, 2); put(u32, 4); put(u64, 8); put(s16, 16); put(char, 18); put(bool, 19)
        put(s32, 20); put(s64, 24)
        for (i, c) in name.prefix(8).enumerated() { b[32 + i] = c }
        put(x, 40); put(d, 42); put(flag, 44)
        for (i, c) in s.prefix(6).enumerated() { b[46 + i] = c }
        put(y, 56)
        for (i, c) in tail.prefix(4).enumerated() { b[64 + i] = c }
        put(last, 72)
        return b
    }

    func line(_ bytes: [UInt8], json: Bool, map: String? = nil, structure: LoaderManifest.Struct = all) -> String {
        let p = RecordPrinter(structure: structure, codec: TypeCodec(manifest: Self.manifest), json: json, mapField: map)!
        return bytes.withUnsafeBytes { String(decoding: p.line($0), as: UTF8.self) }
    }

    /// What the slow path prints (LoaderSession.record): `Value.text`/`json`.
    func valueLine(_ bytes: [UInt8], json: Bool, map: String? = nil, structure: LoaderManifest.Struct = all) -> String {
        let v = TypeCodec(manifest: Self.manifest).decode(bytes, structure: structure)
        if json {
            guard let map, case .record(let n, let f) = v else { return v.json + "\n" }
            return Value.record(n, [("map", .string(map))] + f).json + "\n"
        }
        return (map.map { "map=\($0) " } ?? "") + v.text + "\n"
    }

    func testEveryFieldTypeAsText() {
        let b = Self.record(u8: 255, s8: -128, u16: 65535, u32: 4_294_967_295, u64: .max, s16: -32768, char: 65, bool: 1,
                            s32: .min, s64: .min, name: Array("execve".utf8), x: -1, d: 513, flag: 7, s: Array("ab".utf8),
                            y: 1_000_000_007, tail: Array("full".utf8), last: 0)
        XCTAssertEqual(line(b, json: false),
                       "a_u8=255 a_s8=-128 a_u16=65535 a_u32=4294967295 a_u64=18446744073709551615 a_s16=-32768 a_char=65 a_bool=true "
                       + "a_s32=-2147483648 a_s64=-9223372036854775808 name=execve inner={x=-1 deep={d=513 flag=true} s=ab y=1000000007} "
                       + "tail=full last=0\n")
        let z = Self.record()
        XCTAssertEqual(line(z, json: false),
                       "a_u8=0 a_s8=0 a_u16=0 a_u32=0 a_u64=0 a_s16=0 a_char=0 a_bool=false a_s32=0 a_s64=0 name=\"\" "
                       + "inner={x=0 deep={d=0 flag=false} s=\"\" y=0} tail=\"\" last=0\n")
        let m = Self.record(s8: 127, s16: 32767, char: -1, s32: .max, s64: .max, name: Array("a b=c".utf8), x: 9, s: Array("\"\\".utf8), last: 10)
        XCTAssertEqual(line(m, json: false, map: "events"),
                       "map=events a_u8=0 a_s8=127 a_u16=0 a_u32=0 a_u64=0 a_s16=32767 a_char=-1 a_bool=false a_s32=2147483647 "
                       + "a_s64=9223372036854775807 name=\"a b=c\" inner={x=9 deep={d=0 flag=false} s=\"\\\"\\\\\" y=0} tail=\"\" last=10\n")
        for bytes in [b, z, m] {
            XCTAssertEqual(line(bytes, json: false), valueLine(bytes, json: false))
            XCTAssertEqual(line(bytes, json: false, map: "events"), valueLine(bytes, json: false, map: "events"))
        }
    }

    func testEveryFieldTypeAsJSON() throws {
        let b = Self.record(u8: 1, s8: -2, u16: 300, u32: 70000, u64: 1 << 40, s16: -300, char: 0x7a, bool: 2,
                            s32: -70000, s64: -(1 << 40), name: Array("12345678".utf8), x: 3, d: 4, flag: 0, s: Array("tab\t".utf8),
                            y: 99, tail: Array("t\n".utf8), last: 123_456_789_012)
        let expected = "{\"a_u8\":1,\"a_s8\":-2,\"a_u16\":300,\"a_u32\":70000,\"a_u64\":1099511627776,\"a_s16\":-300,\"a_char\":122,"
            + "\"a_bool\":true,\"a_s32\":-70000,\"a_s64\":-1099511627776,\"name\":\"12345678\","
            + "\"inner\":{\"x\":3,\"deep\":{\"d\":4,\"flag\":false},\"s\":\"tab\\t\",\"y\":99},\"tail\":\"t\\n\",\"last\":123456789012}\n"
        XCTAssertEqual(line(b, json: true), expected)
        XCTAssertEqual(line(b, json: true, map: "events"), "{\"map\":\"events\"," + expected.dropFirst())
        XCTAssertEqual(line(b, json: true), valueLine(b, json: true))
        XCTAssertEqual(line(b, json: true, map: "events"), valueLine(b, json: true, map: "events"))
        // Parses, and the values survive.
        let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line(b, json: true).utf8)) as? [String: Any])
        XCTAssertEqual((o["a_s64"] as? NSNumber)?.int64Value, -(1 << 40))
        XCTAssertEqual(o["tail"] as? String, "t\n")
    }

    /// Strings: empty, full (no NUL), spaces and `=`, quotes, backslashes,
    /// every control character, DEL, CR LF, UTF-8, invalid UTF-8.
    func testStringsMatchValueFormatting() {
        var strings: [[UInt8]] = [[], Array("x".utf8), Array("12345678".utf8), Array("a b".utf8), Array("k=v".utf8), Array("\"q\"".utf8),
                                  Array("back\\".utf8), [0x7f], Array("\r\n".utf8), Array("é".utf8), Array("ü x".utf8), [0xff, 0x41],
                                  [0xe2, 0x82], Array(" \u{301}".utf8), Array("日本".utf8), [0x41, 0, 0x42]]
        strings += (1..<0x20).map { [UInt8($0), 0x61] }
        for s in strings {
            let b = Self.record(name: s, s: s, tail: s)
            for json in [false, true] {
                XCTAssertEqual(line(b, json: json), valueLine(b, json: json), "\(s) json: \(json)")
            }
        }
    }

    /// Random records print as `Value` prints them (bytes biased towards
    /// the interesting ones: NUL, controls, quotes, space, `=`, high bytes).
    func testRandomRecordsMatchValueFormatting() {
        var rng = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0, 0, 0, 0x20, 0x3d, 0x22, 0x5c, 0x0a, 0x01, 0x7f, 0x80, 0xc3, 0xa9, 0xff, 0x61, 0x62]
        for _ in 0..<3000 {
            let b = (0..<80).map { _ in Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng) }
            for json in [false, true] {
                XCTAssertEqual(line(b, json: json, map: json ? "m" : nil), valueLine(b, json: json, map: json ? "m" : nil), "\(b)")
            }
        }
    }

    /// A struct with a field of a type the manifest does not describe has
    /// no fast printer (its records print through `Value`).
    func testUnknownTypesTakeTheValuePath() {
        let odd = LoaderManifest.Struct(name: "Odd", size: 8, fields: [Self.field("blob", "opaque", 0, 8)])
        XCTAssertNil(RecordPrinter(structure: odd, codec: TypeCodec(manifest: Self.manifest), json: false, mapField: nil))
        let empty = LoaderManifest.Struct(name: "Empty", size: 0, fields: [])
        XCTAssertEqual(line([], json: false, map: "e", structure: empty), valueLine([], json: false, map: "e", structure: empty))
        XCTAssertEqual(line([], json: true, map: "e", structure: empty), valueLine([], json: true, map: "e", structure: empty))
        XCTAssertEqual(line([], json: true, structure: empty), "{}\n")
    }

    /// The output buffer: lines formatted in place, flushed when full, a
    /// line longer than the buffer, text written around them.
    func testOutputBufferKeepsOrderAcrossFlushes() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let out = Output(fd: fds[1], capacity: 64)
        let p = RecordPrinter(structure: Self.all, codec: TypeCodec(manifest: Self.manifest), json: true, mapField: nil)!
        XCTAssertGreaterThan(p.maxLength, 64)
        var expected = ""
        out.write("head\n"); expected += "head\n"
        for i in 0..<20 {
            let b = Self.record(u32: UInt32(i), name: Array("n\(i)".utf8))
            b.withUnsafeBytes { out.commit(p.write($0.baseAddress!, to: out.space(p.maxLength))) }
            expected += line(b, json: true)
            if i == 10 { out.line("middle"); expected += "middle\n" }
        }
        out.write(String(repeating: "z", count: 200)); expected += String(repeating: "z", count: 200)
        out.flush()
        close(fds[1])
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buf, buf.count)
            if n <= 0 { break }
            got += buf[0..<n]
        }
        close(fds[0])
        XCTAssertEqual(String(decoding: got, as: UTF8.self), expected)
    }

    // MARK: which struct

    /// Two structs of the same size: the map's record (from the manifest)
    /// decides, not the first struct of that size; size decides only for
    /// manifests without it (loaders built before maps named their record)
    /// and for records of another size (an Integer `output` into the map).
    func testRecordStructIsTheManifestsNotTheFirstOfItsSize() {
        let a = LoaderManifest.Struct(name: "A", size: 8, fields: [Self.field("x", "u32", 0, 4), Self.field("y", "u32", 4, 4)])
        let b = LoaderManifest.Struct(name: "B", size: 8, fields: [Self.field("pid", "u32", 0, 4), Self.field("neg", "s32", 4, 4)])
        let ring = LoaderManifest.Map(name: "events", kind: .ringbuf, key: nil, value: nil, keySize: 0, valueSize: 0, maxEntries: 4096,
                                      isInternal: false, record: "B")
        let perf = LoaderManifest.Map(name: "perf", kind: .perfEventArray, key: nil, value: nil, keySize: 4, valueSize: 4, maxEntries: nil,
                                      isInternal: false, record: "B")
        var old = ring
        old.record = nil
        let m = LoaderManifest(license: "GPL", programs: [], structs: [a, b], maps: [ring, perf, old], params: [], globals: [])
        XCTAssertEqual(m.recordStruct(for: ring, size: 8)?.name, "B")
        XCTAssertEqual(m.recordStruct(for: perf, size: 12)?.name, "B")    // the kernel's padding
        XCTAssertEqual(m.recordStruct(for: old, size: 8)?.name, "A")
        XCTAssertNil(m.recordStruct(for: ring, size: 12))
        XCTAssertNil(m.recordStruct(for: ring, size: 4))
    }
}

/// The same on the live kernel: a generated loader prints a ringbuf's and a
/// perf buffer's records as the struct the probe put in them, though
/// another struct of the same size is declared first.
final class RecordStructLoaderTests: LoaderKernelTestCase {
    func testLoaderPrintsRecordsAsTheStructTheMapHolds() throws {
        let dir = try LoaderSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let prog = LoaderSupport.uniqueName("irs")
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :A do
          u32 :x
          u32 :y
        end
        struct :B do
          u32 :pid
          s32 :neg
        end
        map :events, :ringbuf, max_entries: 16 * 4096
        map :perf, :perf_event_array

        tracepoint "sched/sched_process_exec", name: "\(prog)" do |ctx|
          if current_task.real_parent.tgid == target_pid
            e = events.reserve(B)
            e.pid = pid
            e.neg = -5
            events.submit(e)
            b = B.new
            b.pid = pid
            b.neg = -7
            perf.output(ctx, b)
          end
          0
        end
        """
        let tool = try LoaderSupport.buildLoader(source: source, name: "twostructs", in: dir)
        for format in ["text", "json"] {
            let p = ToolProcess(tool, ["--target-pid", String(getpid()), "--format", format])
            try p.start()
            guard p.waitForStderr("attached", timeout: 60) else { _ = p.wait(timeout: 1); return XCTFail("did not attach: \(p.stderr)") }
            try LoaderSupport.spawnTrue(2)
            usleep(300_000)
            p.signal(SIGINT)
            XCTAssertEqual(p.wait(timeout: 30), 0, p.stderr)
            let lines = p.stdout.split(separator: "\n").map(String.init)
            let pattern = format == "text" ? #"^map=(events|perf) pid=[0-9]+ neg=-(5|7)$"# : #"^\{"map":"(events|perf)","pid":[0-9]+,"neg":-(5|7)\}$"#
            XCTAssertEqual(lines.count, 4, p.stdout)
            for l in lines { XCTAssertNotNil(l.range(of: pattern, options: .regularExpression), l) }
            XCTAssertEqual(lines.filter { $0.contains("events") && $0.contains("-5") }.count, 2, p.stdout)
            XCTAssertEqual(lines.filter { $0.contains("perf") && $0.contains("-7") }.count, 2, p.stdout)
        }
        XCTAssertEqual(try LoaderSupport.nothingLoaded([prog]).map(\.id), [])
    }
}
