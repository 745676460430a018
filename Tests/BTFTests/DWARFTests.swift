import Foundation
import InfraredBTF
import InfraredDWARF
import XCTest

/// `infrared btf from-dwarf` against `pahole -J --btf_gen_floats`: the same
/// structs, unions, enums, typedefs, members, offsets and function
/// prototypes.
///
/// Compared two ways, both after normalising what legitimately differs:
/// - the `bpftool btf dump … format c` texts, as multisets of top-level
///   declarations (type order differs; `___N` suffixes btf_dump adds to
///   repeated names depend on that order and are dropped; pahole 1.24
///   flattens `int m[3][4]` into `int m[12]`, so multi-dimensional arrays
///   are flattened on our side);
/// - every FUNC, as `name: return(params)` rendered by type names.
final class DWARFTests: XCTestCase {
    func compare(_ elf: String, in dir: URL, name: String, line: UInt = #line) throws {
        let ours = dir.appendingPathComponent("\(name).ours.btf").path
        let theirs = dir.appendingPathComponent("\(name).pahole.btf").path
        let r = try infrared(["btf", "from-dwarf", elf, "-o", ours])
        XCTAssertEqual(r.status, 0, r.error, line: line)
        try runOK(Tool.pahole, ["-J", "--btf_gen_floats", "--btf_encode_detached=\(theirs)", elf])
        let a = try declarations(try runOK(Tool.bpftool, ["btf", "dump", "file", ours, "format", "c"]))
        let b = try declarations(try runOK(Tool.bpftool, ["btf", "dump", "file", theirs, "format", "c"]))
        XCTAssertGreaterThan(a.count, 5, line: line)
        let onlyOurs = a.subtracting(b), onlyTheirs = b.subtracting(a)
        XCTAssertTrue(onlyOurs.isEmpty && onlyTheirs.isEmpty,
                      "\(name): declarations differ\nonly ours:\n\(onlyOurs.prefix(5).joined(separator: "\n"))\nonly pahole:\n\(onlyTheirs.prefix(5).joined(separator: "\n"))", line: line)
        let fa = try functions(BTFSpec(path: ours)), fb = try functions(BTFSpec(path: theirs))
        XCTAssertGreaterThan(fa.count, 0, line: line)
        XCTAssertEqual(fa, fb, "\(name): function prototypes differ", line: line)
    }

    func testGccAndClangPrograms() throws {
        let dir = try scratchDirectory(self)
        let c = dir.appendingPathComponent("prog.c")
        try CoreFixtures.userProgram.write(to: c, atomically: true, encoding: .utf8)
        for (compiler, flags) in [(Tool.gcc, ["-O0"]), (Tool.gcc, ["-O2"]), (Tool.clang, ["-O2"]), (Tool.gcc, ["-gdwarf-4", "-O1"])] {
            let name = "\(URL(fileURLWithPath: compiler).lastPathComponent)\(flags.joined())"
            let o = dir.appendingPathComponent("\(name).o").path, exe = dir.appendingPathComponent(name).path
            try runOK(compiler, ["-g"] + flags + ["-c", c.path, "-o", o])
            try compare(o, in: dir, name: name + "-obj")            // relocatable: libdwfl applies .rela.debug_*
            try runOK(compiler, ["-g"] + flags + [c.path, "-o", exe])
            try compare(exe, in: dir, name: name + "-exe")
        }
        // The details pahole hides in its normalisation: nested arrays, bitfields, enum64.
        let o = dir.appendingPathComponent("gcc-O0.o").path
        let spec = try DWARFConverter.convert(path: o)
        let node = try XCTUnwrap(spec.typeID(named: "node", kind: .structure))
        let matrix = try XCTUnwrap(spec[node].members.first { $0.name == "matrix" })
        guard case .array(let outer) = spec[matrix.type], case .array(let inner) = spec[outer.element] else { return XCTFail("matrix is not int[3][4]") }
        XCTAssertEqual([outer.count, inner.count], [3, 4])
        let flags = try XCTUnwrap(spec.typeID(named: "flags", kind: .structure))
        XCTAssertEqual(spec[flags].members.map(\.bitfieldSize), [3, 5, 1, 40, 0, 30, 30])
        XCTAssertEqual(spec[flags].members.map(\.bitOffset), [0, 3, 8, 9, 56, 64, 96])
        XCTAssertNotNil(spec.typeID(named: "big", kind: .enumeration64))
        let base = try spec.resolve(path: "node.matrix").field.byteOffset
        XCTAssertEqual(try spec.resolve(path: "node.matrix[2][3]").field.byteOffset, base + (2 * 4 + 3) * 4)
    }

    /// A real library: libresolv from Debian's libc6-dbg (separate .debug file).
    func testRealLibrary() throws {
        guard let debug = Self.debugFile(for: "/lib/x86_64-linux-gnu/libresolv.so.2") else {
            throw XCTSkip("no separate debug info for libresolv.so.2: install libc6-dbg (Scripts/setup.sh does)")
        }
        try compare(debug, in: try scratchDirectory(self), name: "libresolv")
    }

    /// /usr/lib/debug/.build-id/xx/yyyy.debug for `library`, if installed.
    static func debugFile(for library: String) -> String? {
        guard let r = try? runTool("/usr/bin/readelf", ["-n", library]),
              let id = r.text.split(separator: "\n").first(where: { $0.contains("Build ID:") })?.split(separator: " ").last else { return nil }
        let path = "/usr/lib/debug/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    func testErrors() throws {
        let dir = try scratchDirectory(self)
        let c = dir.appendingPathComponent("nodebug.c")
        try "int main(void) { return 0; }".write(to: c, atomically: true, encoding: .utf8)
        let o = dir.appendingPathComponent("nodebug.o").path
        try runOK(Tool.gcc, ["-c", c.path, "-o", o])
        let out = dir.appendingPathComponent("out.btf").path
        let r = try infrared(["btf", "from-dwarf", o, "-o", out])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.error.hasPrefix("infrared: error: ") && r.error.contains("no DWARF"), r.error)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    /// Top-level declarations of a `format c` dump, normalised (see the class comment).
    func declarations(_ dump: Data) throws -> Set<String> {
        var text = String(decoding: dump, as: UTF8.self)
        text = text.replacingOccurrences(of: #"___[0-9]+\b"#, with: "", options: .regularExpression)
        let multi = try NSRegularExpression(pattern: #"(\w)((?:\[\d+\]){2,})"#)
        while let m = multi.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
            let dims = text[Range(m.range(at: 2), in: text)!].split(separator: "[").map { Int($0.dropLast())! }
            let product = dims.reduce(1, *)
            text.replaceSubrange(Range(m.range(at: 2), in: text)!, with: "[\(product)]")
        }
        var seen: [String: Int] = [:], out = Set<String>()
        for block in text.components(separatedBy: "\n\n") {
            let b = block.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !b.isEmpty else { continue }
            seen[b, default: 0] += 1
            out.insert(seen[b]! == 1 ? b : "\(b) /* #\(seen[b]!) */")
        }
        return out
    }

    /// Every FUNC as `name: proto`, with types rendered by name.
    func functions(_ spec: BTFSpec) -> [String] {
        var out: [String] = []
        for t in spec.types {
            guard case .function(let f) = t else { continue }
            out.append("\(f.name): \(render(spec, f.proto, depth: 0)) \(f.linkage)")
        }
        return out.sorted()
    }

    func render(_ spec: BTFSpec, _ id: BTFID, depth: Int) -> String {
        guard depth < 12 else { return "…" }
        let t = spec[id]
        switch t {
        case .void: return "void"
        case .int(let i): return i.name
        case .float(let n, _): return n
        case .pointer(let p): return render(spec, p, depth: depth + 1) + "*"
        case .const(let x): return "const " + render(spec, x, depth: depth + 1)
        case .volatile(let x): return "volatile " + render(spec, x, depth: depth + 1)
        case .restrict(let x): return render(spec, x, depth: depth + 1) + " restrict"
        case .typedef(let n, _): return n
        case .structure(let c), .union(let c):
            let word = t.kind == .union ? "union" : "struct"
            return c.name.isEmpty ? "\(word){\(c.members.map { "\($0.name):\(render(spec, $0.type, depth: depth + 1))" }.joined(separator: ","))}" : "\(word) \(c.name)"
        case .forward(let n, let u): return "\(u ? "union" : "struct") \(n)"
        case .enumeration(let e), .enumeration64(let e): return "enum \(e.name)"
        case .array(var a):
            var count = Int(a.count)
            while case .array(let inner) = spec[a.element] { count *= Int(inner.count); a = inner }
            return render(spec, a.element, depth: depth + 1) + "[\(count)]"
        case .functionProto(let p):
            return render(spec, p.returnType, depth: depth + 1) + "(" + p.parameters.map { p in
                p.type == 0 ? "..." : "\(p.name) \(render(spec, p.type, depth: depth + 1))" }.joined(separator: ", ") + ")"
        default: return t.kind.description
        }
    }
}
