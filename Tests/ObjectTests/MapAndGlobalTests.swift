import BPF
import CLibBPF
import Foundation
import InfraredBTF
@testable import InfraredObject
import XCTest

/// A small assembler for hand-written test programs: instructions plus the
/// relocations of their `ld_imm64`s.
struct Assembly {
    var instructions: [Instruction] = []
    var relocations: [Relocation] = []

    mutating func load(_ r: Register, _ target: Relocation.Target) {
        relocations.append(Relocation(instruction: instructions.count, target: target))
        instructions += Instruction.loadImm64(r, 0)
    }

    mutating func emit(_ i: Instruction...) { instructions += i }
}

/// BTF-defined maps (`.maps`) and global data (`.rodata`, `.data`, `.bss`):
/// laid out as clang lays out the same C declarations, opened and loaded
/// by libbpf, used by a program the kernel runs, and seen by
/// `bpftool gen skeleton`.
final class MapAndGlobalTests: XCTestCase {
    typealias CType = ProgramBTFSpec.CType
    static let int = CType.int(name: "int", size: 4, signed: true)
    static let u32 = CType.int(name: "unsigned int", size: 4, signed: false)
    static let u64 = CType.int(name: "unsigned long long", size: 8, signed: false)
    static let long = CType.int(name: "long", size: 8, signed: true)
    static let char = CType.int(name: "char", size: 1, signed: true)

    static let maps = [
        MapDefinition(name: "counts", type: 1, key: u32, value: u64, maxEntries: 1024),           // HASH
        MapDefinition(name: "rb", type: 27, maxEntries: 4096),                                    // RINGBUF
        MapDefinition(name: "pe", type: 4, keySize: 4, valueSize: 4),                             // PERF_EVENT_ARRAY
        MapDefinition(name: "arr", type: 2, key: u32, value: u64, maxEntries: 4, flags: 1024),    // ARRAY, BPF_F_MMAPABLE
    ]
    static let variables = [
        DataVariable(name: "limit", type: int, section: .rodata, initialValue: [5, 0, 0, 0]),
        DataVariable(name: "flag", type: char, section: .rodata, initialValue: [1]),
        DataVariable(name: "counter", type: int, section: .data, initialValue: [3, 0, 0, 0]),
        DataVariable(name: "total", type: long, section: .bss, initialValue: []),
        DataVariable(name: "buf", type: .array(char, count: 3), section: .bss, initialValue: [0, 0, 0]),
    ]

    /// The same declarations in C, for clang to compile as the reference.
    static let clangSource = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } pe SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __uint(map_flags, 1024); __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
    const volatile int limit = 5;
    const volatile char flag = 1;
    int counter = 3;
    long total;
    char buf[3];
    SEC("socket") int count(void *skb) {
        total += limit; buf[1] = flag;
        __u32 k = 1; __u64 v = counter; bpf_map_update_elem(&arr, &k, &v, 0);
        k = 7; v = 99; bpf_map_update_elem(&counts, &k, &v, 0);
        return bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE);
    }
    char _license[] SEC("license") = "GPL";
    """

    /// The program of `clangSource`, by hand: every map and variable reached through its relocation.
    static func object() -> ObjectFile {
        var a = Assembly()
        // total += limit
        a.load(.r1, .variable(name: "limit")); a.emit(.load(.w, .r2, .r1, 0))
        a.load(.r3, .variable(name: "total")); a.emit(.load(.dw, .r4, .r3, 0), .alu64(.add, .r4, .r2), .store(.dw, .r3, 0, .r4))
        // buf[1] = flag
        a.load(.r1, .variable(name: "flag")); a.emit(.load(.b, .r2, .r1, 0))
        a.load(.r3, .variable(name: "buf")); a.emit(.store(.b, .r3, 1, .r2))
        // arr[1] = counter
        a.emit(.store(.w, .r10, -4, imm: 1))
        a.load(.r1, .variable(name: "counter")); a.emit(.load(.w, .r2, .r1, 0), .store(.dw, .r10, -16, .r2))
        a.load(.r1, .map(name: "arr"))
        a.emit(.mov64(.r2, .r10), .alu64(.add, .r2, imm: -4), .mov64(.r3, .r10), .alu64(.add, .r3, imm: -16), .mov64(.r4, imm: 0), .call(helper: 2))
        // counts[7] = 99
        a.emit(.store(.w, .r10, -4, imm: 7), .store(.dw, .r10, -16, imm: 99))
        a.load(.r1, .map(name: "counts"))
        a.emit(.mov64(.r2, .r10), .alu64(.add, .r2, imm: -4), .mov64(.r3, .r10), .alu64(.add, .r3, imm: -16), .mov64(.r4, imm: 0), .call(helper: 2))
        // return bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE)
        a.load(.r1, .map(name: "rb")); a.emit(.mov64(.r2, imm: 1), .call(helper: 134), .exit)
        return ObjectFile(
            license: "GPL",
            programs: [ProgramSection(name: "count", section: "socket", instructions: a.instructions, relocations: a.relocations,
                                      lines: [LineInfo(instruction: 0, line: 1, column: 1)], function: 0)],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [.init(name: "count", returnType: int, parameters: [("skb", .pointer(.void))])]),
            sourcePath: "globals.rb", sourceLines: ["count"], maps: maps, variables: variables)
    }

    func ours() throws -> String { try writeObject(try ObjectWriter.write(Self.object()), named: "probe.o", in: self) }

    func clangs() throws -> String {
        let dir = try scratchDirectory(self)
        let source = dir.appendingPathComponent("probe.c")
        try Self.clangSource.write(to: source, atomically: true, encoding: .utf8)
        let object = dir.appendingPathComponent("clang.o").path
        try runOK(Tool.clang, ["-g", "-O2", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", source.path, "-o", object])
        return object
    }

    // MARK: - Against clang

    /// Sections and symbols of maps and variables: the same values, sizes,
    /// types, flags and alignments as clang's for the same C.
    func testLayoutMatchesClang() throws {
        let mine = try ObjectReader(path: try ours()), theirs = try ObjectReader(path: try clangs())
        func sections(_ r: ObjectReader) -> [String] {
            [".rodata", ".data", ".maps", ".bss"].map { name in
                guard let s = r.section(named: name) else { return "\(name) missing" }
                return "\(name) type=\(s.type) flags=\(s.flags) size=\(s.size) align=\(s.alignment) bytes=\(s.bytes)"
            }
        }
        XCTAssertEqual(sections(mine), sections(theirs))
        func symbols(_ r: ObjectReader, _ names: [String], offsets: Bool = true) -> [String] {
            names.map { name in
                guard let s = r.symbols.first(where: { $0.name == name }) else { return "\(name) missing" }
                return "\(name) value=\(offsets ? s.value : 0) size=\(s.size) type=\(s.type) bind=\(s.binding) in \(r.sections[s.sectionIndex].name)"
            }
        }
        let variables = Self.variables.map(\.name), maps = Self.maps.map(\.name)
        XCTAssertEqual(symbols(mine, variables), symbols(theirs, variables))
        // clang places maps in order of first use; we place them in declaration order.
        XCTAssertEqual(symbols(mine, maps, offsets: false), symbols(theirs, maps, offsets: false))
        XCTAssertEqual(maps.map { n in mine.symbols.first { $0.name == n }?.value }, [0, 32, 48, 72])
    }

    /// libbpf reads the same map definitions from both objects.
    func testLibbpfSeesTheSameMapsAsInClangsObject() throws {
        func describe(_ path: String) throws -> [String] {
            let o = try OpenedObject(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
            return try Self.maps.map { m in
                let map = try o.map(m.name)
                return "\(m.name) type=\(bpf_map__type(map).rawValue) key=\(bpf_map__key_size(map)) value=\(bpf_map__value_size(map)) "
                    + "max=\(bpf_map__max_entries(map)) flags=\(bpf_map__map_flags(map))"
            }
        }
        let mine = try describe(try ours())
        XCTAssertEqual(mine, try describe(try clangs()))
        XCTAssertEqual(mine[0], "counts type=1 key=4 value=8 max=1024 flags=0")
        XCTAssertEqual(mine[1], "rb type=27 key=0 value=0 max=4096 flags=0")
    }

    func testBTFOfMapsAndGlobals() throws {
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", try ours()])
        let btf = BTFDump(dump)
        // counts: anonymous struct, `__uint`s as pointers to int[N], `__type`s as pointers to the type.
        let counts = try XCTUnwrap(btf.variable("counts"))
        XCTAssertEqual(btf.members(of: counts.type), ["type", "max_entries", "key", "value"], dump)
        XCTAssertEqual(btf.describe(btf.memberType(counts.type, "type")), "PTR -> ARRAY[1] of INT 'int'", dump)
        XCTAssertEqual(btf.describe(btf.memberType(counts.type, "max_entries")), "PTR -> ARRAY[1024] of INT 'int'", dump)
        XCTAssertEqual(btf.describe(btf.memberType(counts.type, "key")), "PTR -> INT 'unsigned int'", dump)
        XCTAssertEqual(btf.members(of: try XCTUnwrap(btf.variable("rb")).type), ["type", "max_entries"], dump)
        let pe = try XCTUnwrap(btf.variable("pe"))
        XCTAssertEqual(btf.members(of: pe.type), ["type", "key_size", "value_size"], dump)
        XCTAssertEqual(btf.describe(btf.memberType(pe.type, "value_size")), "PTR -> ARRAY[4] of INT 'int'", dump)
        XCTAssertEqual(btf.members(of: try XCTUnwrap(btf.variable("arr")).type), ["type", "max_entries", "map_flags", "key", "value"], dump)
        XCTAssertTrue(dump.contains("""
        DATASEC '.maps' size=112 vlen=4
        \ttype_id=\(counts.id) offset=0 size=32 (VAR 'counts')
        """), dump)
        XCTAssertTrue(dump.range(of: #"offset=32 size=16 \(VAR 'rb'\)\n\ttype_id=\d+ offset=48 size=24 \(VAR 'pe'\)\n\ttype_id=\d+ offset=72 size=40 \(VAR 'arr'\)"#,
                                 options: .regularExpression) != nil, dump)

        // Globals: `const volatile` in .rodata (arrays: on the element), DATASECs with real sizes and offsets.
        XCTAssertEqual(btf.describe(try XCTUnwrap(btf.variable("limit")).type), "CONST -> VOLATILE -> INT 'int'", dump)
        XCTAssertEqual(btf.describe(try XCTUnwrap(btf.variable("flag")).type), "CONST -> VOLATILE -> INT 'char'", dump)
        XCTAssertEqual(btf.describe(try XCTUnwrap(btf.variable("counter")).type), "INT 'int'", dump)
        XCTAssertEqual(btf.describe(try XCTUnwrap(btf.variable("buf")).type), "ARRAY[3] of INT 'char'", dump)
        XCTAssertTrue(dump.range(of: #"DATASEC '\.rodata' size=5 vlen=2\n\ttype_id=\d+ offset=0 size=4 \(VAR 'limit'\)\n\ttype_id=\d+ offset=4 size=1 \(VAR 'flag'\)"#,
                                 options: .regularExpression) != nil, dump)
        XCTAssertTrue(dump.range(of: #"DATASEC '\.data' size=4 vlen=1\n\ttype_id=\d+ offset=0 size=4 \(VAR 'counter'\)"#,
                                 options: .regularExpression) != nil, dump)
        XCTAssertTrue(dump.range(of: #"DATASEC '\.bss' size=11 vlen=2\n\ttype_id=\d+ offset=0 size=8 \(VAR 'total'\)\n\ttype_id=\d+ offset=8 size=3 \(VAR 'buf'\)"#,
                                 options: .regularExpression) != nil, dump)
    }

    func testRodataArraysAreArraysOfConstVolatile() throws {
        var obj = Self.object()
        obj.variables.append(DataVariable(name: "name", type: .array(Self.char, count: 4), section: .rodata, initialValue: Array("abc\0".utf8)))
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", try writeObject(try ObjectWriter.write(obj), named: "arr.o", in: self)])
        XCTAssertEqual(BTFDump(dump).describe(try XCTUnwrap(BTFDump(dump).variable("name")).type),
                       "ARRAY[4] of CONST -> VOLATILE -> INT 'char'", dump)
    }

    func testRelocationsAgainstMapAndVariableSymbols() throws {
        let dis = try runOK(Tool.objdump, ["-d", "-r", try ours()])
        for name in ["limit", "total", "flag", "buf", "counter", "arr", "counts", "rb"] {
            XCTAssertTrue(dis.range(of: #"r\d = 0 ll\n\t\t[0-9a-f]+:  R_BPF_64_64\t"# + name + "\n", options: .regularExpression) != nil,
                          "no R_BPF_64_64 against \(name) on an `r = 0 ll`:\n\(dis)")
        }
    }

    // MARK: - In the kernel

    /// The program writes through every relocation; what it wrote is where
    /// libbpf and the kernel say the maps and variables are. `.rodata` is
    /// changed before load, as a skeleton's user would.
    func testKernelRunsProgramUsingMapsAndGlobals() throws {
        let o = try OpenedObject(try ObjectWriter.write(Self.object()))
        let rodata = try o.map(".rodata")
        var size = 0
        let initial = try XCTUnwrap(bpf_map__initial_value(rodata, &size))
        XCTAssertEqual(size, 5)
        XCTAssertEqual(Array(UnsafeRawBufferPointer(start: initial, count: size)), [5, 0, 0, 0, 1])
        var changed: [UInt8] = [9, 0, 0, 0, 7]   // limit = 9, flag = 7
        XCTAssertEqual(bpf_map__set_initial_value(rodata, &changed, changed.count), 0)
        try o.load()
        XCTAssertEqual(try runProgram(try o.program("count")), 4096, "bpf_ringbuf_query(&rb, BPF_RB_RING_SIZE)")
        let bss = lookup(try o.map(".bss"), key: 0)
        XCTAssertEqual(littleEndian(bss, at: 0, count: 8), 9, "total")
        XCTAssertEqual(Array(bss[8..<11]), [0, 7, 0], "buf")
        XCTAssertEqual(littleEndian(lookup(try o.map("arr"), key: 1), count: 8), 3, "arr[1] = counter")
        XCTAssertEqual(littleEndian(lookup(try o.map("counts"), key: 7), count: 8), 99, "counts[7]")
        XCTAssertGreaterThan(bpf_map__max_entries(try o.map("pe")), 0, "libbpf sizes a perf event array to the CPUs")
    }

    /// `bpftool gen skeleton` on our object gives `rodata->limit`,
    /// `data->counter`, `bss->total`, maps and programs; the header
    /// compiles against libbpf, and the program it loads sees the values
    /// set through it.
    func testSkeleton() throws {
        let object = try ours()
        let dir = (object as NSString).deletingLastPathComponent
        let header = try runOK(Tool.bpftool, ["gen", "skeleton", object, "name", "probe"])
        for field in ["struct probe__rodata {", "int limit;", "char flag;", "struct probe__data {", "int counter;",
                      "struct probe__bss {", "long total;", "char buf[3];", "struct bpf_map *counts;", "struct bpf_map *rb;",
                      "struct bpf_program *count;", "} *rodata;", "} *data;", "} *bss;"] {
            XCTAssertTrue(header.contains(field), "skeleton has no \(field):\n\(header)")
        }
        try header.write(toFile: "\(dir)/probe.skel.h", atomically: true, encoding: .utf8)
        try """
        #include <stdio.h>
        #include <bpf/libbpf.h>
        #include <bpf/bpf.h>
        #include "probe.skel.h"
        int main(void) {
            struct probe *s = probe__open();
            if (!s) return 10;
            s->rodata->limit = 40;
            s->rodata->flag = 2;
            s->data->counter = 11;
            if (probe__load(s)) return 11;
            char packet[64] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = packet, .data_size_in = sizeof(packet));
            if (bpf_prog_test_run_opts(bpf_program__fd(s->progs.count), &run)) return 12;
            __u32 key = 1; __u64 value = 0;
            if (bpf_map_lookup_elem(bpf_map__fd(s->maps.arr), &key, &value)) return 13;
            printf("retval=%u total=%ld buf=%d,%d,%d arr[1]=%llu\\n", run.retval, s->bss->total,
                   s->bss->buf[0], s->bss->buf[1], s->bss->buf[2], (unsigned long long)value);
            probe__destroy(s);
            return 0;
        }
        """.write(toFile: "\(dir)/main.c", atomically: true, encoding: .utf8)
        try runOK("/usr/bin/gcc", ["-Wall", "-Werror", "-o", "\(dir)/main", "\(dir)/main.c", "-lbpf", "-lelf", "-lz"])
        try requireRoot()
        let out = try runOK("\(dir)/main", [])
        XCTAssertEqual(out, "retval=4096 total=40 buf=0,2,0 arr[1]=11\n")
    }
}

/// An index of `bpftool btf dump` (raw format) output: each type's kind,
/// name, referenced type, members and array shape.
struct BTFDump {
    struct Entry { var id: Int; var kind: String; var name: String; var type: Int?; var count: Int?; var members: [(String, Int)] }
    var entries: [Int: Entry] = [:]

    init(_ text: String) {
        var current: Int?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("["), let close = line.firstIndex(of: "]"), let id = Int(line[line.index(after: line.startIndex)..<close]) {
                let rest = line[line.index(close, offsetBy: 2)...]
                let kind = String(rest.prefix { $0 != " " })
                let name = rest.split(separator: "'").dropFirst().first.map(String.init) ?? ""
                entries[id] = Entry(id: id, kind: kind, name: name, type: Self.field(rest, "type_id"),
                                    count: Self.field(rest, "nr_elems"), members: [])
                current = id
            } else if line.hasPrefix("\t'"), let id = current {
                let name = String(line.split(separator: "'")[1])
                entries[id]?.members.append((name, Self.field(line[...], "type_id") ?? 0))
            }
        }
    }

    private static func field(_ s: Substring, _ key: String) -> Int? {
        guard let r = s.range(of: key + "=") else { return nil }
        return Int(s[r.upperBound...].prefix { $0.isNumber })
    }

    func variable(_ name: String) -> (id: Int, type: Int)? {
        entries.values.first { $0.kind == "VAR" && $0.name == name }.map { ($0.id, $0.type ?? 0) }
    }

    func members(of id: Int) -> [String] { entries[id]?.members.map(\.0) ?? [] }

    func memberType(_ id: Int, _ name: String) -> Int { entries[id]?.members.first { $0.0 == name }?.1 ?? -1 }

    /// `PTR -> ARRAY[4] of INT 'int'`
    func describe(_ id: Int) -> String {
        guard let e = entries[id] else { return "#\(id)?" }
        switch e.kind {
        case "PTR", "CONST", "VOLATILE", "TYPEDEF": return "\(e.kind) -> " + describe(e.type ?? 0)
        case "ARRAY": return "ARRAY[\(e.count ?? -1)] of " + describe(e.type ?? 0)
        default: return "\(e.kind) '\(e.name)'"
        }
    }
}
