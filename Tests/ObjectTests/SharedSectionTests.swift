import BPF
import CLibBPF
import Foundation
import InfraredBTF
@testable import InfraredObject
import XCTest

/// Several programs in one ELF section, as clang writes three `SEC("socket")`
/// functions: one section, back to back, a symbol and a func_info record each.
final class SharedSectionTests: XCTestCase {
    static let int = ProgramBTFSpec.CType.int(name: "int", size: 4, signed: true)
    static let sk = ProgramBTFSpec.CType.pointer(.kernelStruct(name: "__sk_buff"))

    /// `one`, `two`, `three` in `socket`, with `dev` (cgroup/dev) declared
    /// between them; `two` reads a `.rodata` variable through a relocation.
    static func object() -> ObjectFile {
        let answer = Instruction.loadImm64(.r1, 0)
        return ObjectFile(
            license: "GPL",
            programs: [
                ProgramSection(name: "one", section: "socket", instructions: [.mov64(.r0, imm: 1), .exit], relocations: [],
                               lines: [LineInfo(instruction: 0, line: 1, column: 1)], function: 0),
                ProgramSection(name: "dev", section: "cgroup/dev", instructions: [.mov64(.r0, imm: 1), .exit], relocations: [],
                               lines: [LineInfo(instruction: 0, line: 2, column: 1)], function: 1),
                ProgramSection(name: "two", section: "socket", instructions: answer + [.load(.w, .r0, .r1, 0), .exit],
                               relocations: [Relocation(instruction: 0, target: .variable(name: "answer"))],
                               lines: [LineInfo(instruction: 0, line: 3, column: 3), LineInfo(instruction: 2, line: 4, column: 3)],
                               function: 2),
                ProgramSection(name: "three", section: "socket", instructions: [.mov64(.r0, imm: 3), .mov64(.r0, .r0), .exit],
                               relocations: [], lines: [LineInfo(instruction: 0, line: 5, column: 1), LineInfo(instruction: 1, line: 6, column: 1)],
                               function: 3),
            ],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [
                .init(name: "one", returnType: int, parameters: [("skb", sk)]),
                .init(name: "dev", returnType: int, parameters: [("ctx", .pointer(.kernelStruct(name: "bpf_cgroup_dev_ctx")))]),
                .init(name: "two", returnType: int, parameters: [("skb", sk)]),
                .init(name: "three", returnType: int, parameters: [("skb", sk)]),
            ], kernelBTFPath: KernelBTF.defaultPath),
            sourcePath: "shared.rb", sourceLines: ["a", "b", "c", "d", "e", "f"],
            variables: [DataVariable(name: "answer", type: int, section: .rodata, initialValue: [42, 0, 0, 0])])
    }

    func testSymbolsRelocationsAndDisassembly() throws {
        let path = try writeObject(try ObjectWriter.write(Self.object()), named: "shared.o", in: self)
        let elf = try runOK(Tool.readelf, ["-S", "-s", "-r", path])
        // One socket section of 2 + 4 + 3 slots, and no second one.
        XCTAssertTrue(elf.range(of: #"\] socket +PROGBITS +0+ [0-9a-f]+ 000048 00 +AX"#, options: .regularExpression) != nil, elf)
        XCTAssertEqual(elf.components(separatedBy: "] socket ").count, 2, elf)
        for (value, size, name) in [("0000000000000000", 16, "one"), ("0000000000000010", 32, "two"), ("0000000000000030", 24, "three")] {
            XCTAssertTrue(elf.range(of: "\(value) +\(size) FUNC +GLOBAL +DEFAULT +\\d+ \(name)\\n", options: .regularExpression) != nil,
                          "no symbol \(name) at \(value) size \(size):\n\(elf)")
        }
        XCTAssertTrue(elf.range(of: #"0000000000000010 +[0-9a-f]+ R_BPF_64_64 +0000000000000000 answer"#, options: .regularExpression) != nil, elf)

        let dis = try runOK(Tool.objdump, ["-d", "-r", path])
        XCTAssertTrue(dis.contains("0000000000000010 <two>:"), dis)
        XCTAssertTrue(dis.contains("0000000000000030 <three>:"), dis)
        XCTAssertTrue(dis.contains("0000000000000010:  R_BPF_64_64\tanswer"), dis)
    }

    func testBTFExtHasOneRecordPerProgram() throws {
        let path = try writeObject(try ObjectWriter.write(Self.object()), named: "shared.o", in: self)
        let (ext, strings) = try decodedBTFExt(path, in: self)
        XCTAssertEqual(ext.funcInfo.map { strings[$0.nameOffset] }, ["socket", "cgroup/dev"])
        XCTAssertEqual(ext.funcInfo[0].records.map(\.instructionOffset), [0, 16, 48])
        XCTAssertEqual(ext.lineInfo[0].records.map(\.instructionOffset), [0, 16, 32, 48, 56])
        XCTAssertEqual(ext.lineInfo[0].records.map(\.line), [1, 3, 4, 5, 6])
        let btf = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        for (record, name) in zip(ext.funcInfo[0].records, ["one", "two", "three"]) {
            XCTAssertTrue(btf.contains("[\(record.typeID)] FUNC '\(name)'"), "func_info type \(record.typeID) is not FUNC \(name):\n\(btf)")
        }
    }

    func testLibbpfFindsLoadsAndRunsEveryProgram() throws {
        let o = try OpenedObject(try ObjectWriter.write(Self.object()))
        for (name, count, section) in [("one", 2, "socket"), ("two", 4, "socket"), ("three", 3, "socket"), ("dev", 2, "cgroup/dev")] {
            let p = try o.program(name)
            XCTAssertEqual(bpf_program__insn_cnt(p), count, name)
            XCTAssertEqual(String(cString: bpf_program__section_name(p)), section, name)
        }
        try o.load()
        XCTAssertEqual(try runProgram(try o.program("one")), 1)
        XCTAssertEqual(try runProgram(try o.program("two")), 42)
        XCTAssertEqual(try runProgram(try o.program("three")), 3)
        XCTAssertGreaterThan(bpf_program__fd(try o.program("dev")), 0)
    }

    func testBpftoolLoadall() throws {
        try requireRoot()
        let path = try writeObject(try ObjectWriter.write(Self.object()), named: "shared.o", in: self)
        let dir = "\(try bpffs())/infrared-objtest-\(getpid())-loadall"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try runOK(Tool.bpftool, ["prog", "loadall", path, dir])
        for (name, type) in [("one", "socket_filter"), ("two", "socket_filter"), ("three", "socket_filter"), ("dev", "cgroup_device")] {
            let show = try runOK(Tool.bpftool, ["prog", "show", "pinned", "\(dir)/\(name)"])
            XCTAssertTrue(show.contains("\(type)  name \(name)"), show)
        }
    }
}
