import Foundation
import XCTest
import BPF
import InfraredCompiler
import InfraredObject
import InfraredSupport

/// The runner reads its manifest with `Manifest(json:)` (InfraredSupport's
/// `JSONReader`; no Foundation, no `Codable` in the runner); `infrared gen
/// loader` writes it with Foundation's `JSONEncoder`. Foundation's
/// `JSONDecoder` is the oracle.
final class ManifestJSONTests: XCTestCase {
    /// Every example's manifest, and one-liners with every kind of implicit
    /// map (lhist's associated values, stack keys' `[Stack?]`), printf
    /// output, options and faults: encoded by JSONEncoder, read by both.
    /// Every optional property of every manifest type is set in one of
    /// them, so a member the reader misses (or misnames) shows as a
    /// difference.
    func testManifestsDecodeAsJSONDecoderDecodesThem() throws {
        let examples = try FileManager.default.contentsOfDirectory(atPath: LoaderSupport.packageRoot.appendingPathComponent("Examples").path)
            .filter { $0.hasSuffix(".rb") }.sorted()
        XCTAssertEqual(examples.count, 18)
        var sources = try examples.map { name -> (String, String) in
            let url = LoaderSupport.packageRoot.appendingPathComponent("Examples").appendingPathComponent(name)
            return (url.path, try String(contentsOf: url, encoding: .utf8))
        }
        sources += [
            ("-e", #"kprobe("vfs_read") { @lat[comm].lhist(pid % 100, 0, 100, 10); @h.hist(pid); @s[comm, kstack, ustack] += 1 }"#),
            ("-e", #"tracepoint("syscalls/sys_enter_openat") { |ctx| @avg[pid].avg(pid); @mn.min(pid); @mx.max(pid); @st.stats(pid); @c[comm].count; printf("%d \"q\" é\n", pid) }"#),
            ("-e", #"option :top, :int, default: 10; tracepoint("syscalls/sys_enter_getppid") { printk("getppid from %d\n", pid); 0 }"#),
        ]
        var maps = 0
        var optionals: [String: Bool] = [:]   // "Type.property" → set in some manifest
        for (path, source) in sources {
            let manifest = try Compiler.compile(source: source, path: path).manifest
            let json = Array(try JSONEncoder().encode(manifest))
            let ours = try Manifest(json: json)
            XCTAssertEqual(ours, manifest, path)
            XCTAssertEqual(ours, try JSONDecoder().decode(Manifest.self, from: Data(json)), path)
            maps += manifest.maps.count
            noteOptionals(manifest, into: &optionals)
        }
        XCTAssertGreaterThan(maps, 20)
        XCTAssertEqual(optionals.keys.sorted(), [
            "Field.count", "Implicit.stacks", "Manifest.faults", "Manifest.hooks", "Manifest.options", "Manifest.output",
            "Manifest.printk", "Map.implicit", "Map.key", "Map.maxEntries", "Map.record", "Map.value", "Option.argument",
            "Option.defaultValue", "Option.help",
        ], "the optional properties the manifests hold")
        XCTAssertEqual(optionals.filter { !$0.value }.keys.sorted(), [], "optional properties no manifest sets")
    }

    /// Walks a value's stored properties (Mirror), noting for each optional
    /// one whether it held a value.
    private func noteOptionals(_ value: Any, into seen: inout [String: Bool]) {
        // A program kind travels as its declaration (one string): its row's
        // properties come from the table, not from members of the JSON.
        if value is ProgramKind { return }
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            if let some = mirror.children.first { noteOptionals(some.value, into: &seen) }
            return
        }
        for child in mirror.children {
            let childMirror = Mirror(reflecting: child.value)
            if childMirror.displayStyle == .optional, let label = child.label, mirror.displayStyle == .struct {
                let key = "\(type(of: value)).\(label)"
                seen[key] = (seen[key] ?? false) || !childMirror.children.isEmpty
            }
            noteOptionals(child.value, into: &seen)
        }
    }

    struct Sample: Codable, Equatable {
        var s: String
        var i: Int
        var u: UInt8?
        var d: Double?
        var b: Bool?
        var a: [Int?]?
        var m: [String: String]?

        /// Read as ManifestReading.swift reads a manifest's types.
        static func read(_ bytes: [UInt8]) throws -> Sample {
            try JSONReader.read(bytes) { r in
                var s: String?, i: Int?, u: UInt8?, d: Double?, b: Bool?, a: [Int?]?, m: [String: String]?
                try r.members { r, member in
                    switch member {
                    case "s": s = try r.string()
                    case "i": i = try r.integer()
                    case "u": u = try r.optional { try $0.integer() }
                    case "d": d = try r.optional { try $0.double() }
                    case "b": b = try r.optional { try $0.bool() }
                    case "a": a = try r.optional { try $0.array { try $0.optional { try $0.integer() } } }
                    case "m": m = try r.optional { try $0.stringDictionary() }
                    default: try r.skipValue()
                    }
                }
                return Sample(s: try r.required(s, "s", in: "a sample"), i: try r.required(i, "i", in: "a sample"), u: u, d: d, b: b, a: a, m: m)
            }
        }
    }

    /// Documents JSONDecoder takes or refuses, decoded into `Sample`: the reader takes and refuses the same, with the same values.
    func testSyntaxAndTypesAsJSONDecoder() throws {
        let documents = [
            #"{"s":"a\/b\\c\"d\n\t\u00e9\ud83d\ude00","i":-12}"#,
            #" { "s" : "" , "i" : 1e2 , "u" : 255 , "d" : -0.5e-3 , "b" : false , "a" : [1, null, 3] , "m" : {"k":"v","k2":""} } "#,
            #"{"s":"x","i":0,"u":null,"extra":{"deep":[[],{}]}}"#,
            #"{"s":"x","i":1.0}"#,
            #"{"s":"x","i":1.5}"#,
            #"{"s":"x","i":9223372036854775808}"#,
            #"{"s":"x","i":1,"u":256}"#,
            #"{"s":"x","i":01}"#,
            #"{"s":"x"}"#,
            #"{"s":null,"i":1}"#,
            #"{"s":1,"i":1}"#,
            #"{"s":"x","i":1} x"#,
            #"{"s":"\ud83d","i":1}"#,
            "{\"s\":\"tab\tin\",\"i\":1}",
            #"{"s":"x","i":1"#,
            #"[1]"#,
            #"{"s":"x","i":-}"#,
            #"{"s":"x","i":1,"b":tru}"#,
            #"{"\u0073":"x","i":1,"é":2}"#,
        ]
        var accepted = 0
        for doc in documents {
            let theirs = try? JSONDecoder().decode(Sample.self, from: Data(doc.utf8))
            let ours = try? Sample.read(Array(doc.utf8))
            XCTAssertEqual(ours, theirs, doc)
            if theirs != nil { accepted += 1 }
        }
        XCTAssertEqual(accepted, 5)
        // JSONDecoder also takes a trailing comma (JSON5's leniency); ours keeps to RFC 8259.
        XCTAssertNotNil(try? JSONDecoder().decode(Sample.self, from: Data(#"{"s":"x","i":1,}"#.utf8)))
        XCTAssertThrowsError(try Sample.read(Array(#"{"s":"x","i":1,}"#.utf8)))
    }

    /// What a damaged or foreign manifest is told apart by: the member or
    /// value that is wrong, and where.
    func testReaderErrorsNameWhatIsWrong() throws {
        func message(_ doc: String) -> String {
            do { _ = try Manifest(json: Array(doc.utf8)); return "read" } catch { return "\(error)" }
        }
        let program = #"{"name":"p","kind":"tracepoint","section":"tracepoint/a/b","arguments":["a/b"],"options":{},"line":3}"#
        let good = #"{"license":"GPL","programs":[PROGRAM],"structs":[],"maps":[],"params":[],"globals":[],"future":{"x":[1,{"y":null}]}}"#
        let manifest = try Manifest(json: Array(good.replacingOccurrences(of: "PROGRAM", with: program).utf8))
        XCTAssertEqual(manifest.programs.map(\.name), ["p"])
        XCTAssertEqual(manifest.programs.first?.kind.declaration, "tracepoint")
        XCTAssertNil(manifest.options)
        XCTAssertNil(manifest.faults)
        XCTAssertEqual(message(#"{"license":"GPL"}"#), #"JSON: the manifest has no member "programs" at byte 17"#)
        XCTAssertEqual(message(good.replacingOccurrences(of: "PROGRAM", with: program.replacingOccurrences(of: #""line":3"#, with: #""line":"3""#))),
                       "JSON: expected a number, found a string at byte 128")
        XCTAssertEqual(message(good.replacingOccurrences(of: "PROGRAM", with: program.replacingOccurrences(of: "tracepoint\"", with: "tracepoints\""))),
                       "JSON: unknown program kind tracepoints at byte 48")
        XCTAssertEqual(message(good.replacingOccurrences(of: "PROGRAM", with: program.replacingOccurrences(of: #","line":3"#, with: ""))),
                       #"JSON: a program has no member "line" at byte 121"#)
        XCTAssertEqual(message(#"{"license":"GPL","programs":[],"structs":[],"maps":[{"name":"m","kind":"hashish"}]}"#),
                       #"JSON: "hashish" is not a MapKind at byte 71"#)
        XCTAssertEqual(message(String(repeating: "[", count: 600)), "JSON: expected an object, found an array at byte 0")
        XCTAssertEqual(message(#"{"x":"# + String(repeating: "[", count: 600)), "JSON: nested too deeply at byte 516")
        XCTAssertEqual(message(""), "JSON: expected an object, found the end of the document at byte 0")
    }

    /// The replacements of `firstRange(of:)`, `contains(_:)` and `replacing(_:with:)`.
    func testTextSearchAsTheRegexLibrary() {
        let texts = ["", "a", "prog 'x': fail", "libbpf: prog 'handle_exec': failed", "aaa", "a_b__c_", "é_ü\"q\\\n", "x.so.6", "ENOENT (2)"]
        let needles = ["prog '", "':", "_", "aa", "\"", "\\", "\n", ".so", "ENOENT", "é", "zz"]
        for t in texts {
            for n in needles {
                let mine = t.firstRange(ofText: n).map { t.distance(from: t.startIndex, to: $0.lowerBound)..<t.distance(from: t.startIndex, to: $0.upperBound) }
                let theirs = t.firstRange(of: n).map { t.distance(from: t.startIndex, to: $0.lowerBound)..<t.distance(from: t.startIndex, to: $0.upperBound) }
                XCTAssertEqual(mine, theirs, "\(t) / \(n)")
                XCTAssertEqual(t.contains(text: n), t.contains(n), "\(t) / \(n)")
                XCTAssertEqual(t.replacing(text: n, with: "<\(n)>"), t.replacing(n, with: "<\(n)>"), "\(t) / \(n)")
                XCTAssertEqual(t.dropFirst().firstRange(ofText: n) == nil, t.dropFirst().firstRange(of: n) == nil, "\(t) / \(n)")
            }
        }
        XCTAssertNil("abc".firstRange(ofText: ""), "an empty needle is nowhere")
    }
}
