import BPF
import CLibBPF
import Foundation
import InfraredBTF
@testable import InfraredObject
import XCTest

final class ObjectWriterTests: XCTestCase {
    let sk = ProgramBTFSpec.CType.pointer(.kernelStruct(name: "__sk_buff"))

    /// `r0 = 7; exit` as a socket filter, with ctx typed `struct __sk_buff *`.
    func socketFilter() -> ObjectFile {
        makeObject([.mov64(.r0, imm: 7), .exit], lines: [LineInfo(instruction: 0, line: 3, column: 3)],
               parameters: [("skb", sk)])
    }

    func testSocketFilterSectionsAndSymbols() throws {
        let path = try writeObject(try ObjectWriter.write(socketFilter()), named: "socket.o", in: self)
        let elf = try runOK(Tool.readelf, ["-h", "-S", "-s", "-r", path])
        XCTAssertTrue(elf.contains("REL (Relocatable file)"), elf)
        XCTAssertTrue(elf.contains("EM_BPF") || elf.contains("Linux BPF"), elf)
        for section in ["socket", "license", ".BTF", ".BTF.ext", ".symtab", ".strtab"] {
            XCTAssertTrue(elf.contains(" \(section) "), "no section \(section):\n\(elf)")
        }
        XCTAssertFalse(elf.contains(".rodata.str1.1"), "empty string section written:\n\(elf)")
        XCTAssertTrue(elf.range(of: #"16 FUNC +GLOBAL +DEFAULT +\d+ prog"#, options: .regularExpression) != nil, elf)
        XCTAssertTrue(elf.range(of: #"4 OBJECT +GLOBAL +DEFAULT +\d+ _license"#, options: .regularExpression) != nil, elf)

        let dis = try runOK(Tool.objdump, ["-d", "-l", path])
        XCTAssertTrue(dis.contains("r0 = 7"), dis)
        XCTAssertTrue(dis.contains("exit"), dis)
    }

    func testSocketFilterBTF() throws {
        let path = try writeObject(try ObjectWriter.write(socketFilter()), named: "socket.o", in: self)
        let btf = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        XCTAssertTrue(btf.range(of: #"FUNC 'prog' type_id=\d+ linkage=global"#, options: .regularExpression) != nil, btf)
        XCTAssertTrue(btf.range(of: #"FUNC_PROTO '\(anon\)' ret_type_id=\d+ vlen=1\n\t'skb' type_id=\d+"#,
                                options: .regularExpression) != nil, btf)
        XCTAssertTrue(btf.contains("STRUCT '__sk_buff' size=192"), btf)
        XCTAssertTrue(btf.contains("FWD 'bpf_flow_keys' fwd_kind=struct"), btf)
        XCTAssertTrue(btf.contains("VAR '_license' type_id="), btf)
        XCTAssertTrue(btf.contains("DATASEC 'license' size=4 vlen=1"), btf)
        XCTAssertTrue(btf.range(of: #"type_id=\d+ offset=0 size=4 \(VAR '_license'\)"#, options: .regularExpression) != nil, btf)
    }

    func testLibbpfOpensAndKernelRunsSocketFilter() throws {
        let bytes = try ObjectWriter.write(socketFilter())
        try withOpened(bytes) { obj in
            let prog = try XCTUnwrap(bpf_object__find_program_by_name(obj, "prog"))
            XCTAssertEqual(bpf_program__insn_cnt(prog), 2)
            XCTAssertEqual(String(cString: bpf_program__section_name(prog)), "socket")
            XCTAssertEqual(bpf_program__type(prog), BPF_PROG_TYPE_SOCKET_FILTER)
            try requireRoot()
            XCTAssertEqual(bpf_object__load(obj), 0, "bpf_object__load failed")
            XCTAssertEqual(try testRun(bpf_program__fd(prog)), 7)
        }
    }

    func testStringLiteralRelocationAndTracePrintk() throws {
        // "abc\0value %d\n\0": the format is at offset 4, so a relocation
        // that ignored the offset would hand printk "abc" and fail.
        let strings = Array("abc".utf8) + [0] + Array("value %d\n".utf8) + [0]
        var load = Instruction.loadImm64(.r1, 0)   // imm left 0: the writer puts the offset there
        load[0].imm = 0
        let insns = load + [.mov64(.r2, imm: 10), .mov64(.r3, imm: 42), .call(helper: 6), .exit]
        let obj = makeObject(insns, relocations: [Relocation(instruction: 0, target: .stringLiteral(offset: 4))],
                         lines: [LineInfo(instruction: 0, line: 3, column: 3), LineInfo(instruction: 4, line: 4, column: 3)],
                         strings: strings, parameters: [("skb", sk)])
        let bytes = try ObjectWriter.write(obj)
        let path = try writeObject(bytes, named: "printk.o", in: self)

        let elf = try runOK(Tool.readelf, ["-S", "-s", "-r", path])
        XCTAssertTrue(elf.contains(".relsocket"), elf)
        XCTAssertTrue(elf.range(of: #"\.rodata\.str1\.1 +PROGBITS +[0-9a-f]+ [0-9a-f]+ 00000e 01 +AMS"#, options: .regularExpression) != nil, elf)
        XCTAssertTrue(elf.range(of: #"0000000000000000 +0000000100000001 R_BPF_64_64 +0000000000000000 \.rodata\.str1\.1"#,
                                options: .regularExpression) != nil, elf)
        let dis = try runOK(Tool.objdump, ["-d", "-r", path])
        XCTAssertTrue(dis.contains("r1 = 4 ll"), dis)
        XCTAssertTrue(dis.contains("R_BPF_64_64\t.rodata.str1.1"), dis)
        XCTAssertTrue(dis.contains("call 6"), dis)

        try withOpened(bytes) { o in
            let prog = try XCTUnwrap(bpf_object__find_program_by_name(o, "prog"))
            XCTAssertEqual(bpf_program__insn_cnt(prog), 6)
            try requireRoot()
            XCTAssertEqual(bpf_object__load(o), 0, "bpf_object__load failed")
            // bpf_trace_printk returns the length of "value 42\n".
            XCTAssertEqual(try testRun(bpf_program__fd(prog)), 9)
        }
        try withLoadedProgram(path, "printk", self) { _ in }
    }

    func testCgroupDeviceProgramWithKernelContextStruct() throws {
        let layout = try XCTUnwrap(try KernelBTF().structLayout(named: "bpf_cgroup_dev_ctx"))
        let major = try XCTUnwrap(layout.member(named: "major"))
        let insns: [Instruction] = [.load(.w, .r2, .r1, Int16(major.byteOffset)), .mov64(.r0, imm: 1), .exit]
        let obj = makeObject(insns, name: "dev_probe", section: "cgroup/dev",
                         lines: [LineInfo(instruction: 0, line: 2, column: 1), LineInfo(instruction: 1, line: 3, column: 3)],
                         parameters: [("ctx", .pointer(.kernelStruct(name: "bpf_cgroup_dev_ctx")))])
        let path = try writeObject(try ObjectWriter.write(obj), named: "dev.o", in: self)
        let btf = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        XCTAssertTrue(btf.range(of: #"STRUCT 'bpf_cgroup_dev_ctx' size=12 vlen=3\n\t'access_type' type_id=\d+ bits_offset=0\n\t'major' type_id=\d+ bits_offset=32\n\t'minor' type_id=\d+ bits_offset=64"#,
                                options: .regularExpression) != nil, btf)
        XCTAssertTrue(btf.contains("TYPEDEF '__u32'"), btf)
        XCTAssertTrue(btf.contains("FUNC 'dev_probe'"), btf)
        try withLoadedProgram(path, "dev", self) { pin in
            let show = try runOK(Tool.bpftool, ["prog", "show", "pinned", pin])
            XCTAssertTrue(show.contains("cgroup_device"), show)
            XCTAssertTrue(show.contains("name dev_probe"), show)
            XCTAssertTrue(show.contains("btf_id"), "kernel kept no BTF for the program:\n\(show)")
        }
    }

    /// The kernel keeps line_info only if it accepted it; bpftool prints it back.
    func testLineInfoReachesTheKernel() throws {
        let insns: [Instruction] = [.mov64(.r0, imm: 7), .alu64(.add, .r0, imm: 1), .mov64(.r1, .r0), .mov64(.r0, .r1), .exit]
        let lines = [LineInfo(instruction: 0, line: 3, column: 3), LineInfo(instruction: 1, line: 4, column: 5),
                     LineInfo(instruction: 3, line: 5, column: 3), LineInfo(instruction: 4, line: 6, column: 1)]
        let path = try writeObject(try ObjectWriter.write(makeObject(insns, lines: lines, parameters: [("skb", sk)])),
                                   named: "lines.o", in: self)
        try withLoadedProgram(path, "lines", self) { pin in
            let xlated = try runOK(Tool.bpftool, ["prog", "dump", "xlated", "pinned", pin, "linum"])
            XCTAssertTrue(xlated.contains("; x = 7 [file:probe.rb line_num:3 line_col:3]")
                          || xlated.contains("; x = 7 [probe.rb line_num:3 line_col:3]"), xlated)
            XCTAssertTrue(xlated.contains("; x += 1"), xlated)
            XCTAssertTrue(xlated.contains("line_num:4 line_col:5"), xlated)
            XCTAssertTrue(xlated.contains("; end"), xlated)
            // Instruction 2 has no entry of its own: it stays under line 4.
            let order = ["; x = 7", "; x += 1", "; x [", "; end"].map { xlated.range(of: $0)?.lowerBound }
            XCTAssertFalse(order.contains(nil), xlated)
            XCTAssertEqual(order.compactMap { $0 }, order.compactMap { $0 }.sorted(), xlated)
        }
    }

    /// Our .BTF.ext decodes back to what the writer meant, with strings that
    /// name the section, file and lines in .BTF.
    func testBTFExtInObjectDecodes() throws {
        let lines = [LineInfo(instruction: 0, line: 3, column: 3), LineInfo(instruction: 1, line: 6, column: 1)]
        let bytes = try ObjectWriter.write(makeObject([.mov64(.r0, imm: 7), .exit], lines: lines))
        let path = try writeObject(bytes, named: "ext.o", in: self)
        let dir = (path as NSString).deletingLastPathComponent
        try runOK(Tool.objcopy, ["--dump-section", ".BTF.ext=\(dir)/ext.bin", "--dump-section", ".BTF=\(dir)/btf.bin", path])
        let ext = try BTFExt.decode(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ext.bin"))))
        let btfData = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/btf.bin"))
        let strings = try btfStrings(Array(btfData))
        XCTAssertEqual(ext.funcInfo.count, 1)
        XCTAssertEqual(strings[ext.funcInfo[0].nameOffset], "socket")
        XCTAssertEqual(ext.funcInfo[0].records.map(\.instructionOffset), [0])
        XCTAssertEqual(ext.lineInfo[0].records.map(\.instructionOffset), [0, 8])
        XCTAssertEqual(ext.lineInfo[0].records.map(\.line), [3, 6])
        XCTAssertEqual(ext.lineInfo[0].records.map { strings[$0.lineOffset] }, ["  x = 7", "end"])
        XCTAssertEqual(ext.lineInfo[0].records.map { strings[$0.fileNameOffset] }, ["probe.rb", "probe.rb"])
        XCTAssertEqual(ext.coreRelo, [])
    }

    func testOutputIsDeterministic() throws {
        let strings = Array("hi\n".utf8) + [0]
        let obj = makeObject(Instruction.loadImm64(.r1, 0) + [.mov64(.r2, imm: 4), .call(helper: 6), .exit],
                         relocations: [Relocation(instruction: 0, target: .stringLiteral(offset: 0))],
                         lines: [LineInfo(instruction: 0, line: 3, column: 3)], strings: strings, parameters: [("skb", sk)])
        XCTAssertEqual(try ObjectWriter.write(obj), try ObjectWriter.write(obj))
    }

    func testTwoProgramsInOneObject() throws {
        let int = ProgramBTFSpec.CType.int(name: "int", size: 4, signed: true)
        let obj = ObjectFile(
            license: "Dual MIT/GPL",
            programs: [
                ProgramSection(name: "first", section: "socket", instructions: [.mov64(.r0, imm: 1), .exit],
                               relocations: [], lines: [LineInfo(instruction: 0, line: 2, column: 1)], function: 0),
                ProgramSection(name: "second", section: "cgroup/dev", instructions: [.mov64(.r0, imm: 1), .exit],
                               relocations: [], lines: [LineInfo(instruction: 0, line: 3, column: 1)], function: 1),
            ],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [.init(name: "first", returnType: int, parameters: [("skb", sk)]),
                                            .init(name: "second", returnType: int,
                                                  parameters: [("ctx", .pointer(.kernelStruct(name: "bpf_cgroup_dev_ctx")))])],
                                kernelBTFPath: KernelBTF.defaultPath),
            sourcePath: "two.rb", sourceLines: ["a", "b", "c"])
        let bytes = try ObjectWriter.write(obj)
        try withOpened(bytes) { o in
            XCTAssertEqual(bpf_program__insn_cnt(try XCTUnwrap(bpf_object__find_program_by_name(o, "first"))), 2)
            XCTAssertEqual(bpf_program__insn_cnt(try XCTUnwrap(bpf_object__find_program_by_name(o, "second"))), 2)
            try requireRoot()
            XCTAssertEqual(bpf_object__load(o), 0, "bpf_object__load failed")
        }
    }

    // MARK: - Errors are thrown, not crashes

    func testBTFConversionErrorsAreThrown() throws {
        let badInt = ProgramBTFSpec.CType.int(name: "int24", size: 3, signed: true)
        let cases: [(String, ObjectFile)] = [
            ("btf__add_int(int24)", makeObject([.exit], parameters: [("x", badInt)])),
            ("no_such_struct_xyz", makeObject([.exit], parameters: [("x", .pointer(.kernelStruct(name: "no_such_struct_xyz")))])),
            ("kernelBTFPath is not set", makeObject([.exit], parameters: [("x", .pointer(.kernelStruct(name: "__sk_buff")))],
                                                kernelBTFPath: nil)),
            ("/nonexistent/vmlinux", makeObject([.exit], parameters: [("x", .pointer(.kernelStruct(name: "__sk_buff")))],
                                            kernelBTFPath: "/nonexistent/vmlinux")),
            ("at most 5", makeObject([.exit], parameters: (1...6).map { ("a\($0)", ProgramBTFSpec.CType.int(name: "int", size: 4, signed: true)) })),
        ]
        for (expected, obj) in cases {
            XCTAssertThrowsError(try ObjectWriter.write(obj), expected) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) does not mention \(expected)")
                XCTAssertTrue("\(error)".contains("BTF of function prog"), "\(error) does not name the function")
            }
        }
    }

    func testInvalidProgramsAreRejected() throws {
        let cases: [(String, ObjectFile)] = [
            ("not on an ld_imm64", makeObject([.mov64(.r1, imm: 0), .exit],
                                         relocations: [Relocation(instruction: 0, target: .stringLiteral(offset: 0))], strings: [0x41, 0])),
            ("outside .rodata.str1.1", makeObject(Instruction.loadImm64(.r1, 0) + [.exit],
                                              relocations: [Relocation(instruction: 0, target: .stringLiteral(offset: 9))], strings: [0x41, 0])),
            ("must start at instruction 0", makeObject([.mov64(.r0, imm: 0), .exit], lines: [LineInfo(instruction: 1, line: 1, column: 1)])),
            ("second half of an ld_imm64", makeObject(Instruction.loadImm64(.r0, 1) + [.exit],
                                                  lines: [LineInfo(instruction: 0, line: 1, column: 1), LineInfo(instruction: 1, line: 2, column: 1)])),
            ("but the source has", makeObject([.exit], lines: [LineInfo(instruction: 0, line: 99, column: 1)])),
            ("out of order", makeObject([.mov64(.r0, imm: 0), .mov64(.r0, imm: 0), .exit],
                                    lines: [LineInfo(instruction: 0, line: 1, column: 1), LineInfo(instruction: 2, line: 2, column: 1),
                                            LineInfo(instruction: 1, line: 3, column: 1)])),
        ]
        for (expected, obj) in cases {
            XCTAssertThrowsError(try ObjectWriter.write(obj), expected) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(error) does not mention \(expected)")
            }
        }
    }

    // MARK: - Helpers

    /// Opens `bytes` with libbpf's bpf_object__open_mem and runs `body`.
    func withOpened(_ bytes: [UInt8], _ body: (OpaquePointer) throws -> Void) throws {
        let obj = bytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, nil) }
        guard let obj else { return XCTFail("bpf_object__open_mem rejected the object: errno \(errno)") }
        defer { bpf_object__close(obj) }
        try body(obj)
    }

    /// BPF_PROG_TEST_RUN with a zeroed 64-byte packet; the program's return value.
    func testRun(_ fd: Int32) throws -> UInt32 {
        var packet = [UInt8](repeating: 0, count: 64)
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.data_size_in = UInt32(packet.count)
        let err = packet.withUnsafeMutableBytes { p -> Int32 in
            opts.data_in = UnsafeRawPointer(p.baseAddress)
            return bpf_prog_test_run_opts(fd, &opts)
        }
        XCTAssertEqual(err, 0, "BPF_PROG_TEST_RUN failed: errno \(errno)")
        return opts.retval
    }

    /// The string section of a raw BTF blob, by offset (struct btf_header: str_off at 16, str_len at 20).
    func btfStrings(_ btf: [UInt8]) throws -> [UInt32: String] {
        func u32(_ at: Int) -> Int { Int(btf[at]) | Int(btf[at + 1]) << 8 | Int(btf[at + 2]) << 16 | Int(btf[at + 3]) << 24 }
        let headerLength = u32(4), start = headerLength + u32(16), length = u32(20)
        var out: [UInt32: String] = [:], at = start
        while at < start + length {
            let end = btf[at...].firstIndex(of: 0)!
            out[UInt32(at - start)] = String(decoding: btf[at..<end], as: UTF8.self)
            at = end + 1
        }
        return out
    }
}
