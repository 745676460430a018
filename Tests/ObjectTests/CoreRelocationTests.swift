import BPF
import CLibBPF
import Foundation
import InfraredBTF
@testable import InfraredObject
import XCTest

/// CO-RE: local types in `.BTF`, `bpf_core_relo` records in `.BTF.ext`
/// with the access strings clang would write, and libbpf patching the
/// instructions to the running kernel's layout at load.
final class CoreRelocationTests: XCTestCase {
    typealias CType = ProgramBTFSpec.CType
    static let int = CType.int(name: "int", size: 4, signed: true)
    static let char = CType.int(name: "char", size: 1, signed: true)
    static let mapType = CType.enumeration(name: "bpf_map_type", size: 4, values: [
        .init(name: "BPF_MAP_TYPE_UNSPEC", value: 0), .init(name: "BPF_MAP_TYPE_RINGBUF", value: 99),
    ])

    // MARK: - Access strings, against clang

    /// The local types of `clangSource`: an anonymous struct member and an
    /// array, so every access-string rule is exercised.
    static let localTask = CType.structure(name: "task_struct", size: 40, members: [
        .init(name: "real_parent", type: .pointer(.forwardStruct(name: "task_struct")), offset: 0),
        .init(name: "tgid", type: int, offset: 8),
        .init(name: "no_such_member_xyz", type: int, offset: 12),
        .init(name: "", type: .structure(name: "", size: 8, members: [.init(name: "a", type: int, offset: 0),
                                                                     .init(name: "b", type: int, offset: 4)]), offset: 16),
        .init(name: "comm", type: .array(char, count: 16), offset: 24),
    ])

    static let clangSource = """
    #define SEC(n) __attribute__((section(n), used))
    struct task_struct {
        struct task_struct *real_parent;
        int tgid;
        int no_such_member_xyz;
        struct { int a; int b; };
        char comm[16];
    } __attribute__((preserve_access_index));
    enum bpf_map_type { BPF_MAP_TYPE_UNSPEC, BPF_MAP_TYPE_RINGBUF = 99 };
    SEC("raw_tracepoint/sys_enter") int probe(void *ctx) {
        struct task_struct *t = ctx;
        int x = 0;
        x += __builtin_preserve_field_info(t->real_parent, 0);          /* BPF_FIELD_BYTE_OFFSET */
        x += __builtin_preserve_field_info(t->tgid, 0);
        x += __builtin_preserve_field_info(t->no_such_member_xyz, 2);   /* BPF_FIELD_EXISTS */
        x += __builtin_preserve_field_info(t->b, 0);
        x += __builtin_preserve_field_info(t->comm[2], 1);              /* BPF_FIELD_BYTE_SIZE */
        x += __builtin_preserve_type_info(*(struct task_struct *)0, 0); /* BPF_TYPE_EXISTS */
        x += __builtin_preserve_type_info(*(struct task_struct *)0, 1); /* BPF_TYPE_SIZE */
        x += __builtin_preserve_enum_value(*(enum bpf_map_type *)BPF_MAP_TYPE_RINGBUF, 1); /* BPF_ENUMVAL_VALUE */
        x += __builtin_preserve_enum_value(*(enum bpf_map_type *)BPF_MAP_TYPE_RINGBUF, 0); /* BPF_ENUMVAL_EXISTS */
        return x;
    }
    char _license[] SEC("license") = "GPL";
    """

    /// clang-14's code for `clangSource` (llvm-objdump -d), with our relocations on the same instructions.
    static func clangLikeObject() -> ObjectFile {
        var insns: [Instruction] = [.mov64(.r1, imm: 0), .mov64(.r0, imm: 8), .alu64(.add, .r0, .r1)]
        for v: Int32 in [1, 20, 1, 1, 40] { insns += [.mov64(.r1, imm: v), .alu64(.add, .r0, .r1)] }
        insns += Instruction.loadImm64(.r1, 99) + [.alu64(.add, .r0, .r1)]
        insns += Instruction.loadImm64(.r1, 1) + [.alu64(.add, .r0, .r1), .exit]
        let relocations = [
            CoreRelocation(kind: .fieldByteOffset, instruction: 0, rootType: "task_struct", path: ["real_parent"]),
            CoreRelocation(kind: .fieldByteOffset, instruction: 1, rootType: "task_struct", path: ["tgid"]),
            CoreRelocation(kind: .fieldExists, instruction: 3, rootType: "task_struct", path: ["no_such_member_xyz"]),
            CoreRelocation(kind: .fieldByteOffset, instruction: 5, rootType: "task_struct", path: ["b"]),
            CoreRelocation(kind: .fieldByteSize, instruction: 7, rootType: "task_struct", path: ["comm", "2"]),
            CoreRelocation(kind: .typeExists, instruction: 9, rootType: "task_struct", path: []),
            CoreRelocation(kind: .typeSize, instruction: 11, rootType: "task_struct", path: []),
            CoreRelocation(kind: .enumValue, instruction: 13, rootType: "bpf_map_type", path: ["BPF_MAP_TYPE_RINGBUF"]),
            CoreRelocation(kind: .enumValueExists, instruction: 16, rootType: "bpf_map_type", path: ["BPF_MAP_TYPE_RINGBUF"]),
        ]
        return ObjectFile(
            license: "GPL",
            programs: [ProgramSection(name: "probe", section: "raw_tracepoint/sys_enter", instructions: insns, relocations: [],
                                      lines: [], function: 0, coreRelocations: relocations)],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [.init(name: "probe", returnType: int, parameters: [("ctx", .pointer(.void))])],
                                localTypes: [localTask, mapType]),
            sourcePath: "core.rb", sourceLines: ["probe"])
    }

    /// `insn_off kind root access` per core_relo record of an object.
    func coreRecords(_ path: String) throws -> [String] {
        let (ext, strings) = try decodedBTFExt(path, in: self)
        let btf = BTFDump(try runOK(Tool.bpftool, ["btf", "dump", "file", path]))
        XCTAssertEqual(ext.coreRelo.count, 1)
        return ext.coreRelo.flatMap { section in
            section.records.map { r in
                let root = btf.entries[Int(r.typeID)]
                return "\(strings[section.nameOffset] ?? "?") \(r.instructionOffset) kind=\(r.kind.rawValue) "
                    + "\(root?.kind ?? "?") \(root?.name ?? "?") \(strings[r.accessStringOffset] ?? "?")"
            }
        }
    }

    func testRecordsMatchClang() throws {
        let dir = try scratchDirectory(self)
        try Self.clangSource.write(to: dir.appendingPathComponent("core.c"), atomically: true, encoding: .utf8)
        let clang = dir.appendingPathComponent("clang.o").path
        try runOK(Tool.clang, ["-g", "-O2", "-target", "bpf", "-c", dir.appendingPathComponent("core.c").path, "-o", clang])
        let ours = try writeObject(try ObjectWriter.write(Self.clangLikeObject()), named: "core.o", in: self)

        let theirs = try coreRecords(clang)
        XCTAssertEqual(theirs.count, 9, "clang emitted other relocations than expected:\n\(theirs)")
        XCTAssertEqual(try coreRecords(ours), theirs)
        XCTAssertEqual(theirs[3], "raw_tracepoint/sys_enter 40 kind=0 STRUCT task_struct 0:3:1")
        // Same instructions, byte for byte.
        let code = { (path: String) throws -> [UInt8] in
            try XCTUnwrap(try ObjectReader(path: path).section(named: "raw_tracepoint/sys_enter")).bytes
        }
        XCTAssertEqual(try code(ours), try code(clang))
    }

    func testLocalTypesInBTF() throws {
        let path = try writeObject(try ObjectWriter.write(Self.clangLikeObject()), named: "core.o", in: self)
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        XCTAssertTrue(dump.range(of: #"STRUCT 'task_struct' size=40 vlen=5\n\t'real_parent' type_id=\d+ bits_offset=0\n\t'tgid' type_id=\d+ bits_offset=64\n\t'no_such_member_xyz' type_id=\d+ bits_offset=96\n\t'\(anon\)' type_id=\d+ bits_offset=128\n\t'comm' type_id=\d+ bits_offset=192"#,
                                 options: .regularExpression) != nil, dump)
        XCTAssertTrue(dump.contains("FWD 'task_struct' fwd_kind=struct"), dump)
        XCTAssertTrue(dump.range(of: #"ENUM 'bpf_map_type' encoding=UNSIGNED size=4 vlen=2\n\t'BPF_MAP_TYPE_UNSPEC' val=0\n\t'BPF_MAP_TYPE_RINGBUF' val=99"#,
                                 options: .regularExpression) != nil, dump)
    }

    // MARK: - libbpf relocates against the running kernel

    /// `task->real_parent->tgid` through bpf_probe_read_kernel, with a local
    /// `task_struct` whose members sit at the WRONG offsets (0, 8, 16):
    /// libbpf must patch both `r3 += off` to the kernel's offsets, the
    /// field-exists check on a member the kernel lacks to 0, the type-exists
    /// check to 1, and the local enum value 99 to the kernel's 27.
    static func parentTgidProbe() -> ObjectFile {
        let task = CType.structure(name: "task_struct", size: 24, members: [
            .init(name: "real_parent", type: .pointer(.forwardStruct(name: "task_struct")), offset: 0),
            .init(name: "tgid", type: int, offset: 8),
            .init(name: "no_such_member_xyz", type: int, offset: 16),
        ])
        var insns: [Instruction] = [
            .call(helper: 35),                                                  // 0: r0 = bpf_get_current_task()
            .mov64(.r3, .r0),
            .alu64(.add, .r3, imm: 0),                                          // 2: &task->real_parent (CO-RE)
            .mov64(.r1, .r10), .alu64(.add, .r1, imm: -8), .mov64(.r2, imm: 8),
            .call(helper: 113),                                                 // 6: bpf_probe_read_kernel
            .load(.dw, .r3, .r10, -8),
            .alu64(.add, .r3, imm: 8),                                          // 8: &parent->tgid (CO-RE)
            .mov64(.r1, .r10), .alu64(.add, .r1, imm: -16), .mov64(.r2, imm: 4),
            .call(helper: 113),
            .load(.w, .r0, .r10, -16),
            .mov64(.r1, imm: 1),                                                // 14: field exists (CO-RE) → 0
            .alu64(.lsh, .r1, imm: 31), .alu64(.or, .r0, .r1),
            .mov64(.r1, imm: 1),                                                // 17: type exists (CO-RE) → 1
            .alu64(.lsh, .r1, imm: 30), .alu64(.or, .r0, .r1),
        ]
        insns += Instruction.loadImm64(.r2, 99)                                 // 20: enum value (CO-RE) → 27
        insns += [.exit]
        let core = [
            CoreRelocation(kind: .fieldByteOffset, instruction: 2, rootType: "task_struct", path: ["real_parent"]),
            CoreRelocation(kind: .fieldByteOffset, instruction: 8, rootType: "task_struct", path: ["tgid"]),
            CoreRelocation(kind: .fieldExists, instruction: 14, rootType: "task_struct", path: ["no_such_member_xyz"]),
            CoreRelocation(kind: .typeExists, instruction: 17, rootType: "task_struct", path: []),
            CoreRelocation(kind: .enumValue, instruction: 20, rootType: "bpf_map_type", path: ["BPF_MAP_TYPE_RINGBUF"]),
        ]
        return ObjectFile(
            license: "GPL",
            programs: [ProgramSection(name: "parent_tgid", section: "raw_tracepoint/sys_enter", instructions: insns, relocations: [],
                                      lines: [LineInfo(instruction: 0, line: 1, column: 1)], function: 0, coreRelocations: core)],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [.init(name: "parent_tgid", returnType: int,
                                                  parameters: [("ctx", .pointer(.kernelStruct(name: "bpf_raw_tracepoint_args")))])],
                                kernelBTFPath: KernelBTF.defaultPath, localTypes: [task, mapType]),
            sourcePath: "parent.rb", sourceLines: ["parent"])
    }

    /// The kernel's offsets of task_struct members, from `bpftool btf dump` of vmlinux.
    func kernelOffsets(_ names: [String]) throws -> [String: Int] {
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", KernelBTF.defaultPath])
        let start = try XCTUnwrap(dump.range(of: "STRUCT 'task_struct' size="), "vmlinux has no task_struct")
        let block = dump[start.upperBound...].split(separator: "\n").dropFirst().prefix { $0.hasPrefix("\t") }
        var out: [String: Int] = [:]
        for line in block {
            for name in names where line.hasPrefix("\t'\(name)' ") {
                let bits = Int(line.split(separator: "=").last!)!
                out[name] = bits / 8
            }
        }
        XCTAssertEqual(Set(out.keys), Set(names))
        // The library view agrees with bpftool's.
        let layout = try XCTUnwrap(try KernelBTF().structLayout(named: "task_struct"))
        for name in names { XCTAssertEqual(layout.member(named: name)?.byteOffset, out[name], name) }
        return out
    }

    func testLibbpfPatchesToTheRunningKernel() throws {
        let offsets = try kernelOffsets(["real_parent", "tgid"])
        XCTAssertNotEqual(offsets["real_parent"], 0, "the local offsets must be wrong for this test to mean anything")
        let o = try OpenedObject(try ObjectWriter.write(Self.parentTgidProbe()))
        let prog = try o.program("parent_tgid")
        XCTAssertEqual(bpf_program__type(prog), BPF_PROG_TYPE_RAW_TRACEPOINT)
        try o.load()
        let log = LibbpfLog.text

        // The kernel's copy of the program, after libbpf's patching.
        let pin = "\(try bpffs())/infrared-objtest-\(getpid())-core"
        unlink(pin)
        XCTAssertEqual(bpf_program__pin(prog, pin), 0)
        defer { unlink(pin) }
        let xlated = try runOK(Tool.bpftool, ["prog", "dump", "xlated", "pinned", pin])
        let lines = xlated.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        func at(_ n: Int) -> String { lines.first { $0.hasPrefix("\(n): ") } ?? "no instruction \(n)" }
        XCTAssertEqual(at(2), "2: (07) r3 += \(offsets["real_parent"]!)", "\(xlated)\n\(log)")
        XCTAssertEqual(at(8), "8: (07) r3 += \(offsets["tgid"]!)", "\(xlated)\n\(log)")
        XCTAssertEqual(at(14), "14: (b7) r1 = 0", "field exists on a member the kernel lacks\n\(xlated)\n\(log)")
        XCTAssertEqual(at(17), "17: (b7) r1 = 1", "type exists\n\(xlated)\n\(log)")
        XCTAssertEqual(at(20), "20: (18) r2 = 0x1b", "BPF_MAP_TYPE_RINGBUF is 27 in the kernel\n\(xlated)\n\(log)")

        // Run it: it reads this process's parent's tgid, the bit of the
        // failed exists check stays clear and the type-exists bit is set.
        let result = try runProgram(prog, packet: nil)
        XCTAssertEqual(result & (1 << 31), 0, "field-exists was not patched to 0")
        XCTAssertEqual(result & (1 << 30), 1 << 30, "type-exists was not 1")
        XCTAssertEqual(Int32(result & 0x3fff_ffff), getppid(), "task->real_parent->tgid is not our parent's pid")
    }
}
