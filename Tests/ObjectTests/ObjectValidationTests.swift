import BPF
import Foundation
import InfraredBTF
@testable import InfraredObject
import XCTest

/// Mistakes in the model are thrown as `ObjectError`s that name what is
/// wrong, before libbpf or the verifier would trip over them.
final class ObjectValidationTests: XCTestCase {
    typealias CType = ProgramBTFSpec.CType
    static let int = CType.int(name: "int", size: 4, signed: true)
    static let task = CType.structure(name: "task_struct", size: 24, members: [
        .init(name: "real_parent", type: .pointer(.forwardStruct(name: "task_struct")), offset: 0),
        .init(name: "tgid", type: int, offset: 8),
        .init(name: "comm", type: .array(.int(name: "char", size: 1, signed: true), count: 16), offset: 12),
    ])
    static let mapType = CType.enumeration(name: "bpf_map_type", size: 4, values: [.init(name: "BPF_MAP_TYPE_HASH", value: 1)])

    /// `r0 = 0; r1 = 0 ll; exit`, one program, with what `change` adds.
    func object(_ change: (inout ObjectFile) -> Void) -> ObjectFile {
        var o = ObjectFile(
            license: "GPL",
            programs: [ProgramSection(name: "prog", section: "socket",
                                      instructions: [.mov64(.r0, imm: 0)] + Instruction.loadImm64(.r1, 0) + [.exit],
                                      relocations: [], lines: [], function: 0)],
            stringLiterals: [],
            btf: ProgramBTFSpec(functions: [.init(name: "prog", returnType: Self.int, parameters: [])],
                                localTypes: [Self.task, Self.mapType]),
            sourcePath: "v.rb", sourceLines: ["v"],
            maps: [MapDefinition(name: "m", type: 1, key: Self.int, value: Self.int, maxEntries: 1)],
            variables: [DataVariable(name: "v", type: Self.int, section: .data, initialValue: [1, 0, 0, 0])])
        change(&o)
        return o
    }

    func core(_ kind: UInt32, _ root: String, _ path: [String], at instruction: Int = 0) -> (inout ObjectFile) -> Void {
        { $0.programs[0].coreRelocations = [CoreRelocation(kind: CoreRelocationKind(rawValue: kind), instruction: instruction, rootType: root, path: path)] }
    }

    func testTheBaseObjectIsValid() throws {
        XCTAssertNoThrow(try ObjectWriter.write(object { _ in }))
        XCTAssertNoThrow(try ObjectWriter.write(object(core(0, "task_struct", ["comm", "15"]))))
    }

    func testErrorsNameTheProblem() throws {
        let cases: [(String, (inout ObjectFile) -> Void)] = [
            // Relocations
            ("names map nope", { $0.programs[0].relocations = [Relocation(instruction: 1, target: .map(name: "nope"))] }),
            ("names variable nope", { $0.programs[0].relocations = [Relocation(instruction: 1, target: .variable(name: "nope"))] }),
            ("not on an ld_imm64", { $0.programs[0].relocations = [Relocation(instruction: 0, target: .map(name: "m"))] }),
            ("two relocations on instruction 1", {
                $0.programs[0].relocations = [Relocation(instruction: 1, target: .map(name: "m")), Relocation(instruction: 1, target: .variable(name: "v"))]
            }),
            // Names
            ("duplicate name m", { $0.variables[0].name = "m" }),
            ("duplicate name prog", { $0.maps[0].name = "prog" }),
            ("duplicate name _license", { $0.maps[0].name = "_license" }),
            ("empty name", { $0.variables[0].name = "" }),
            ("section name .maps is reserved", { $0.programs[0].section = ".maps" }),
            ("section name .rodata.x is reserved", { $0.programs[0].section = ".rodata.x" }),
            ("section name .relsocket is reserved", { $0.programs[0].section = ".relsocket" }),
            // Maps
            ("BPF_MAP_TYPE_UNSPEC", { $0.maps[0].type = 0 }),
            ("give key or keySize, not both", { $0.maps[0].keySize = 4 }),
            ("maxEntries -1 does not fit", { $0.maps[0].maxEntries = -1 }),
            ("map m: its key type a forward-declared struct x has no size", { $0.maps[0].key = .forwardStruct(name: "x") }),
            // Variables
            ("initial value is 2 bytes, the type's size is 4", { $0.variables[0].initialValue = [1, 2] }),
            (".bss is zeroed", { $0.variables[0].section = .bss }),
            ("variable v (.rodata): its type a forward-declared struct x has no size", {
                $0.variables[0] = DataVariable(name: "v", type: .forwardStruct(name: "x"), section: .rodata, initialValue: [])
            }),
            // Local types
            ("duplicate local type name task_struct", { $0.btf.localTypes.append(.forwardStruct(name: "task_struct")) }),
            ("int type int is not a named struct or enum", { $0.btf.localTypes.append(Self.int) }),
            ("struct (anon) is not a named struct or enum", {
                $0.btf.localTypes.append(.structure(name: "", size: 0, members: []))
            }),
            // CO-RE
            ("task_struct (local struct task_struct) has no member pid", core(0, "task_struct", ["pid"])),
            ("no local type named mm_struct", core(0, "mm_struct", ["x"])),
            ("enum bpf_map_type has no enumerator BPF_MAP_TYPE_RINGBUF", core(11, "bpf_map_type", ["BPF_MAP_TYPE_RINGBUF"])),
            ("a field relocation needs a struct root", core(0, "bpf_map_type", ["BPF_MAP_TYPE_HASH"])),
            ("an enum value relocation needs an enum root", core(10, "task_struct", ["tgid"])),
            ("a type relocation takes no path", core(8, "task_struct", ["tgid"])),
            ("a field relocation needs a path", core(2, "task_struct", [])),
            ("unknown relocation kind 13", core(13, "task_struct", [])),
            ("task_struct.comm is an array of 16; 16 is not an index into it", core(0, "task_struct", ["comm", "16"])),
            ("task_struct.real_parent is a pointer, not a local struct or array", core(0, "task_struct", ["real_parent", "tgid"])),
            ("instruction 2: no such instruction (or the second half", core(0, "task_struct", ["tgid"], at: 2)),
            ("instruction 3: libbpf can only patch", core(0, "task_struct", ["tgid"], at: 3)),
            ("instruction 9: no such instruction", core(0, "task_struct", ["tgid"], at: 9)),
        ]
        for (expected, change) in cases {
            XCTAssertThrowsError(try ObjectWriter.write(object(change)), expected) { error in
                XCTAssertTrue(error is ObjectError, "\(error) is not an ObjectError")
                XCTAssertTrue("\(error)".contains(expected), "«\(error)» does not mention «\(expected)»")
            }
        }
    }

    /// Every feature at once, written twice: the same bytes.
    func testEverythingIsDeterministic() throws {
        var o = MapAndGlobalTests.object()
        let shared = SharedSectionTests.object(), core = CoreRelocationTests.parentTgidProbe()
        o.programs += shared.programs.map { var p = $0; p.function += 1; return p }
        o.btf.functions += shared.btf.functions
        o.variables += shared.variables
        var p = core.programs[0]
        p.function = o.btf.functions.count
        o.programs.append(p)
        o.btf.functions += core.btf.functions
        o.btf.localTypes = core.btf.localTypes
        o.btf.kernelBTFPath = KernelBTF.defaultPath
        o.sourceLines = ["1", "2", "3", "4", "5", "6"]
        let first = try ObjectWriter.write(o)
        XCTAssertEqual(first, try ObjectWriter.write(o))
        let path = try writeObject(first, named: "all.o", in: self)
        try runOK(Tool.objdump, ["-d", "-r", path])
        try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        let opened = try OpenedObject(first)
        for name in ["count", "one", "two", "three", "dev", "parent_tgid"] { _ = try opened.program(name) }
        try opened.load()
    }
}
