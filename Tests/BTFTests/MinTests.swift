import Foundation
import InfraredBTF
import XCTest

/// `infrared btf min` against `bpftool gen min_core_btf`, and against
/// libbpf itself: an object must relocate against our minimal BTF exactly
/// as against the full kernel BTF.
final class MinTests: XCTestCase {
    /// Opens an object with `btf_custom_path`, loads it (libbpf applies the
    /// CO-RE relocations, the kernel verifies), and prints each program's
    /// final instructions with map fds masked.
    static let relocationDumper = """
        #include <bpf/libbpf.h>
        #include <stdio.h>
        static int warn_only(enum libbpf_print_level l, const char *f, va_list a) { return l == LIBBPF_WARN ? vfprintf(stderr, f, a) : 0; }
        int main(int argc, char **argv) {
            if (argc != 3) { fprintf(stderr, "usage: relodump OBJ BTF\\n"); return 2; }
            libbpf_set_print(warn_only);
            LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = argv[2]);
            struct bpf_object *obj = bpf_object__open_file(argv[1], &opts);
            if (!obj) { perror("open"); return 1; }
            if (bpf_object__load(obj)) { perror("load"); return 1; }
            struct bpf_program *p;
            bpf_object__for_each_program(p, obj) {
                const struct bpf_insn *in = bpf_program__insns(p);
                size_t n = bpf_program__insn_cnt(p);
                printf("program %s (%zu insns)\\n", bpf_program__name(p), n);
                for (size_t i = 0; i < n; i++) {
                    int imm = in[i].imm;
                    if (in[i].code == 0x18 && (in[i].src_reg == 1 || in[i].src_reg == 2)) imm = -1;
                    printf("%4zu: %02x %x %x %d %d\\n", i, in[i].code, in[i].dst_reg, in[i].src_reg, in[i].off, imm);
                }
            }
            bpf_object__close(obj);
            return 0;
        }
        """

    func relocationDumper(in dir: URL) throws -> String {
        let c = dir.appendingPathComponent("relodump.c"), exe = dir.appendingPathComponent("relodump").path
        try Self.relocationDumper.write(to: c, atomically: true, encoding: .utf8)
        try runOK(Tool.clang, ["-O1", c.path, "-lbpf", "-o", exe])
        return exe
    }

    /// Our output is byte-identical to bpftool's (so no larger), for the
    /// running kernel and both Debian fixtures; relocating with it gives
    /// the same instructions as with the full BTF.
    func testMinimalBTFMatchesBpftoolAndRelocatesIdentically() throws {
        let dir = try scratchDirectory(self)
        let kernel = try runningKernelBTF()
        let object = try compileBPF(CoreFixtures.program, named: "core", vmlinuxFrom: kernel, in: dir)
        let canLoad = getuid() == 0
        let dumper = canLoad ? try relocationDumper(in: dir) : nil
        var relocatedPerKernel: [String: Data] = [:]
        for (name, full) in [("running", kernel)] + (try KernelFixture.allCases.map { ($0.rawValue, try $0.write(to: dir)) }) {
            let ours = dir.appendingPathComponent("\(name).ours.btf").path
            let theirs = dir.appendingPathComponent("\(name).bpftool.btf").path
            let r = try infrared(["btf", "min", object, "--btf", full, "-o", ours])
            XCTAssertEqual(r.status, 0, r.error)
            try runOK(Tool.bpftool, ["gen", "min_core_btf", full, theirs, object])
            let a = try Data(contentsOf: URL(fileURLWithPath: ours)), b = try Data(contentsOf: URL(fileURLWithPath: theirs))
            XCTAssertLessThanOrEqual(a.count, b.count, "\(name): ours is larger than bpftool's")
            XCTAssertEqual(a, b, "\(name): minimal BTF differs from bpftool gen min_core_btf's")
            // It is a fraction of the kernel's and has the root types the relocations name.
            let spec = try BTFSpec(path: ours)
            XCTAssertNotNil(spec.typeID(named: "task_struct", kind: .structure))
            XCTAssertNil(spec.typeID(named: "does_not_exist", kind: .structure))
            XCTAssertLessThan(a.count, 8192)

            guard let dumper else { continue }
            let withFull = try runOK(dumper, [object, full]), withMin = try runOK(dumper, [object, ours])
            XCTAssertFalse(withFull.isEmpty)
            XCTAssertEqual(withFull, withMin, "\(name): libbpf relocates differently against the minimal BTF")
            relocatedPerKernel[name] = withFull
        }
        if !canLoad { throw XCTSkip("relocation comparison loads programs: needs root") }
        // The relocation really depends on the target (6.1 and 6.18 differ).
        XCTAssertNotEqual(relocatedPerKernel["running"], relocatedPerKernel[KernelFixture.debian61.rawValue])
    }

    /// Candidate matching as libbpf does it: a relocation that matches no
    /// type records nothing, flavors match their base name, enum values
    /// match by name.
    func testMatcherDecisions() throws {
        let target = try BTFSpec(bytes: try KernelFixture.debian61.bytes)
        var local = BTFSpec(types: [])
        let int = local.append(.int(BTFInt(name: "int", size: 4, encoding: .signed)))
        let old = local.append(.structure(BTFComposite(name: "task_struct___old", size: 8, members: [.init(name: "state", type: int, bitOffset: 0)])))
        let task = local.append(.structure(BTFComposite(name: "task_struct", size: 8, members: [.init(name: "pid", type: int, bitOffset: 0)])))
        let e = local.append(.enumeration(BTFEnum(name: "bpf_map_type___x", size: 4, isSigned: false, values: [.init(name: "BPF_MAP_TYPE_RINGBUF___x", rawValue: 0)])))
        var m = BTFCoreMinimizer(target: target)
        try m.record([
            BTFCoreRelocation(instructionOffset: 0, localType: old, accessString: "0:0", kind: .fieldExists),   // 6.1 has no task_struct.state
            BTFCoreRelocation(instructionOffset: 8, localType: task, accessString: "0:0", kind: .fieldByteOffset),
            BTFCoreRelocation(instructionOffset: 16, localType: e, accessString: "0", kind: .enumValue),
        ], local: local)
        let out = m.minimalBTF()
        let taskID = try XCTUnwrap(out.typeID(named: "task_struct", kind: .structure))
        XCTAssertEqual(out[taskID].members.map(\.name), ["pid"])
        let mapType = try XCTUnwrap(out.typeID(named: "bpf_map_type", kind: .enumeration))
        XCTAssertTrue(out[mapType].enumPayloadForTests.values.contains { $0.name == "BPF_MAP_TYPE_RINGBUF" })
        // An access string past the struct is refused, as libbpf refuses it.
        XCTAssertThrowsError(try m.record([BTFCoreRelocation(instructionOffset: 0, localType: task, accessString: "0:5", kind: .fieldByteOffset)], local: local))
    }
}

extension BTFType {
    var enumPayloadForTests: BTFEnum {
        switch self {
        case .enumeration(let e), .enumeration64(let e): return e
        default: return BTFEnum(name: "", size: 0, isSigned: false, values: [])
        }
    }
}
