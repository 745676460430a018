import Foundation
import InfraredBTF
import InfraredObject
import btf_bench
import XCTest

/// `BTFSpec.resolve(path:)` against clang: for each member path, clang-14
/// compiles `__builtin_preserve_field_info(p->PATH, KIND)` (and
/// `BPF_CORE_READ` for paths through pointers) against a vmlinux.h of the
/// same BTF, and records in `.BTF.ext` the access string it computed and, in
/// the relocated instruction, the value (offset, size, signedness, shifts).
final class MemberPathTests: XCTestCase {
    /// Paths within one struct (no pointer): every field value is checked.
    static let fieldPaths = [
        "task_struct.pid", "task_struct.comm[3]", "task_struct.comm.15", "task_struct.__state", "task_struct.se.vruntime",
        "task_struct.thread_info.flags", "sk_buff.len", "sk_buff.pkt_type", "sk_buff.cb[2]", "sk_buff.tstamp",
        "sk_buff.dev", "sk_buff.sk", "sk_buff.cloned", "bpf_map.map_type", "file.f_mode", "sk_buff.protocol",
        "__sk_buff.cb[4]", "pt_regs.di",
    ]
    /// Paths through pointers: each hop's access string is checked.
    static let pointerPaths = [
        ("task_struct.real_parent.tgid", ["real_parent", "tgid"]),
        ("task_struct.mm.mmap_base", ["mm", "mmap_base"]),
        ("task_struct.signal.rlim[1].rlim_cur", ["signal", "rlim[1].rlim_cur"]),
        ("sk_buff.dev.ifindex", ["dev", "ifindex"]),
        // (Two equal hops in a row would share one relocated instruction.)
        ("task_struct.real_parent.mm.mmap_base", ["real_parent", "mm", "mmap_base"]),
        ("task_struct.group_leader.comm[2]", ["group_leader", "comm[2]"]),
    ]

    /// `a.b[3].c` → `a.b[3].c` as C (dots after the root member stay dots).
    static func cExpression(_ path: String) -> (root: String, expr: String) {
        let parts = path.split(separator: ".", maxSplits: 1)
        var rest = String(parts[1])
        // `comm.15` → `comm[15]`
        rest = rest.replacingOccurrences(of: #"\.(\d+)"#, with: "[$1]", options: .regularExpression)
        return (String(parts[0]), rest)
    }

    func testAgainstClang() throws {
        let dir = try scratchDirectory(self)
        let btfPath = try KernelFixture.debian61.write(to: dir)
        let spec = try BTFSpec(path: btfPath)
        var source = """
            #include "vmlinux.h"
            #include <bpf/bpf_helpers.h>
            #include <bpf/bpf_core_read.h>
            char LICENSE[] SEC("license") = "GPL";

            """
        for (i, path) in Self.fieldPaths.enumerated() {
            let (root, expr) = Self.cExpression(path)
            // clang 14 takes field info of members only; an array element's
            // offset comes from a relocated address computation.
            source += "SEC(\"kprobe/f\(i)\") int f\(i)(struct \(root) *p) { long v = 0;\n"
            if expr.hasSuffix("]") {
                source += "  v += (long)__builtin_preserve_access_index(&p->\(expr));\n"
            } else {
                // clang 14 refuses FIELD_SIGNED on a pointer.
                let isPointer = try spec.resolve(path: path).field.kind == .pointer
                for k in isPointer ? [0, 1, 4, 5] : [0, 1, 3, 4, 5] { source += "  v += __builtin_preserve_field_info(p->\(expr), \(k));\n" }
            }
            source += "  return v; }\n"
        }
        for (i, (path, hops)) in Self.pointerPaths.enumerated() {
            let root = path.split(separator: ".")[0]
            source += "SEC(\"kprobe/p\(i)\") int p\(i)(struct \(root) *p) { return (long)BPF_CORE_READ(p, \(hops.joined(separator: ", "))); }\n"
        }
        let object = try compileBPF(source, named: "paths", vmlinuxFrom: btfPath, in: dir)
        let clang = try ClangRelocations(object: object)

        for (i, path) in Self.fieldPaths.enumerated() {
            let resolved = try spec.resolve(path: path)
            XCTAssertEqual(resolved.accesses.count, 1, path)
            let f = resolved.field
            let relos = clang.relocations(section: "kprobe/f\(i)")
            XCTAssertFalse(relos.isEmpty, path)
            for r in relos {
                XCTAssertEqual(r.accessString, f.accessString, "\(path): access string")
                XCTAssertEqual(r.rootName, path.split(separator: ".")[0].description, "\(path): root type")
                let load = try XCTUnwrap(f.bitfieldLoad, path)
                // For a bitfield clang and libbpf may pick different loads
                // (libbpf does not check them either); the bits must agree.
                if f.isBitfield, r.kind == 0 || r.kind == 1 || r.kind == 4 { continue }
                switch r.kind {
                case 0: XCTAssertEqual(r.value, Int64(f.byteOffset), "\(path): byte offset")
                case 1: XCTAssertEqual(r.value, Int64(f.size), "\(path): byte size")
                case 3: XCTAssertEqual(r.value, f.isSigned ? 1 : 0, "\(path): signedness")
                case 4: XCTAssertEqual(r.value, Int64(load.leftShift), "\(path): lshift")
                case 5: XCTAssertEqual(r.value, Int64(load.rightShift), "\(path): rshift")
                default: XCTFail("\(path): unexpected relocation kind \(r.kind)")
                }
            }
            if f.isBitfield {
                // clang's load window and left shift give the field's absolute bit offset.
                let byteOffset = try XCTUnwrap(relos.first { $0.kind == 0 }).value
                let lshift = try XCTUnwrap(relos.first { $0.kind == 4 }).value
                XCTAssertEqual(byteOffset * 8 + (64 - lshift - Int64(f.bitfieldSize)), Int64(f.bitOffset), "\(path): bit offset")
            }
        }
        for (i, (path, _)) in Self.pointerPaths.enumerated() {
            let resolved = try spec.resolve(path: path)
            let relos = clang.relocations(section: "kprobe/p\(i)").filter { $0.kind == 0 }
            XCTAssertEqual(relos.map(\.accessString), resolved.accesses.map(\.accessString), path)
            XCTAssertEqual(relos.map(\.rootName), resolved.accesses.map { spec[$0.rootType].name }, path)
            XCTAssertEqual(relos.map(\.value), resolved.accesses.map { Int64($0.byteOffset) }, path)
        }
    }

    func testResolverDetails() throws {
        let spec = try BTFSpec(bytes: try KernelFixture.debian612.bytes)
        let comm = try spec.resolve(path: "task_struct.comm[3]").field
        XCTAssertEqual(comm, try spec.resolve(path: "task_struct.comm.3").field)
        XCTAssertEqual(comm.size, 1)
        XCTAssertEqual(comm.kind, .int)
        let pid = try spec.resolve(path: "task_struct.pid").field
        XCTAssertTrue(pid.isSigned)
        XCTAssertEqual(pid.size, 4)
        XCTAssertEqual(pid.accessIndices.first, 0)
        let bitfield = try spec.resolve(path: "sk_buff.pkt_type").field
        XCTAssertEqual(bitfield.bitfieldSize, 3)
        XCTAssertTrue(bitfield.isBitfield)
        // A typedef root resolves through to its struct.
        XCTAssertNoThrow(try spec.resolve(path: "__sk_buff.len"))
        // Errors say what is wrong.
        XCTAssertThrowsError(try spec.resolve(path: "task_struct.no_such_member")) {
            XCTAssertTrue("\($0)".contains("no member 'no_such_member' in struct task_struct"), "\($0)")
        }
        XCTAssertThrowsError(try spec.resolve(path: "task_struct.comm[16]")) { XCTAssertTrue("\($0)".contains("out of bounds"), "\($0)") }
        XCTAssertThrowsError(try spec.resolve(path: "no_such_type.x")) { XCTAssertTrue("\($0)".contains("no struct, union or typedef"), "\($0)") }
        XCTAssertThrowsError(try spec.resolve(path: "task_struct..pid"))
        XCTAssertThrowsError(try spec.resolve(path: "task_struct.pid.x")) { XCTAssertTrue("\($0)".contains("has no members"), "\($0)") }
        XCTAssertThrowsError(try BTFMemberPath(parsing: "3.x"))
        XCTAssertEqual(try BTFMemberPath(parsing: "a.b[1][2].c").components, [.member("b"), .index(1), .index(2), .member("c")])
    }

    /// A thousand paths on each fixture resolve in well under a second.
    func testThousandPathsAreFast() throws {
        let spec = try BTFSpec(bytes: try KernelFixture.debian612.bytes)
        let paths = BTFBenchmark.memberPaths(in: spec, count: 1000)
        XCTAssertEqual(paths.count, 1000)
        let start = Date()
        for p in paths { XCTAssertNoThrow(try spec.resolve(path: p), p) }
        XCTAssertLessThan(Date().timeIntervalSince(start), 2.0)
    }
}

/// The CO-RE relocations clang wrote into an object, with the value of the
/// instruction each one patches.
struct ClangRelocations {
    struct Relocation { var accessString: String; var rootName: String; var kind: UInt32; var value: Int64 }
    var bySection: [String: [Relocation]] = [:]

    init(object path: String) throws {
        let object = try ObjectReader(path: path)
        let btfBytes = try XCTUnwrap(object.btf), ext = try BTFExt.decode(bytes: try XCTUnwrap(object.btfExt))
        let local = try BTFSpec(bytes: btfBytes), strings = try BTFStringTable(btf: btfBytes)
        for section in ext.coreRelo {
            let name = try strings.string(at: section.nameOffset)
            guard let elf = object.section(named: name) else { continue }
            for r in section.records {
                let at = Int(r.instructionOffset)
                let imm = Int32(bitPattern: UInt32(elf.bytes[at + 4]) | UInt32(elf.bytes[at + 5]) << 8
                                | UInt32(elf.bytes[at + 6]) << 16 | UInt32(elf.bytes[at + 7]) << 24)
                bySection[name, default: []].append(Relocation(
                    accessString: try strings.string(at: r.accessStringOffset),
                    rootName: local[local.skippingModifiers(r.typeID)].name, kind: r.kind.rawValue, value: Int64(imm)))
            }
        }
    }

    func relocations(section: String) -> [Relocation] { bySection[section] ?? [] }
}
