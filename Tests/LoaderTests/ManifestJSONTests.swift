import Foundation
import XCTest
import InfraredCompiler
import InfraredObject
import InfraredSupport

/// The runner decodes its manifest with InfraredSupport's `decodeJSON`
/// (no Foundation in the runner); `infrared gen loader` writes it with
/// Foundation's `JSONEncoder`. Foundation's `JSONDecoder` is the oracle.
final class ManifestJSONTests: XCTestCase {
    /// Every example's manifest, and one-liners with every kind of implicit
    /// map (lhist's associated values, stack keys' `[Stack?]`), printf
    /// output, options and faults: encoded by JSONEncoder, decoded by both.
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
        ]
        var maps = 0
        for (path, source) in sources {
            let manifest = try Compiler.compile(source: source, path: path).manifest
            let json = Array(try JSONEncoder().encode(manifest))
            let ours = try decodeJSON(Manifest.self, from: json)
            XCTAssertEqual(ours, manifest, path)
            XCTAssertEqual(ours, try JSONDecoder().decode(Manifest.self, from: Data(json)), path)
            maps += manifest.maps.count
        }
        XCTAssertGreaterThan(maps, 20)
    }

    struct Sample: Codable, Equatable {
        var s: String
        var i: Int
        var u: UInt8?
        var d: Double?
        var b: Bool?
        var a: [Int?]?
        var m: [String: String]?
    }

    /// Documents JSONDecoder takes or refuses, decoded into `Sample`: ours takes and refuses the same, with the same values.
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
        ]
        var accepted = 0
        for doc in documents {
            let theirs = try? JSONDecoder().decode(Sample.self, from: Data(doc.utf8))
            let ours = try? decodeJSON(Sample.self, from: Array(doc.utf8))
            XCTAssertEqual(ours, theirs, doc)
            if theirs != nil { accepted += 1 }
        }
        XCTAssertEqual(accepted, 4)
        // JSONDecoder also takes a trailing comma (JSON5's leniency); ours keeps to RFC 8259.
        XCTAssertNotNil(try? JSONDecoder().decode(Sample.self, from: Data(#"{"s":"x","i":1,}"#.utf8)))
        XCTAssertThrowsError(try decodeJSON(Sample.self, from: Array(#"{"s":"x","i":1,}"#.utf8)))
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
