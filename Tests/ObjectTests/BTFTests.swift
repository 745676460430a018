import Foundation
import InfraredBTF
import XCTest

final class BTFBuilderTests: XCTestCase {
    func testBuilderOutputIsValidBTF() throws {
        let b = try BTFBuilder()
        let u32 = try b.addInt(name: "unsigned int", size: 4)
        let s64 = try b.addInt(name: "long", size: 8, encoding: .signed)
        let typedef = try b.addTypedef(name: "__u32", type: u32)
        let fwd = try b.addForward(name: "sock", kind: .structure)
        let ptr = try b.addPointer(to: fwd)
        let index = try b.addInt(name: "__ARRAY_SIZE_TYPE__", size: 4)
        let array = try b.addArray(element: typedef, index: index, count: 4)
        let inner = try b.addUnion(name: nil, size: 8, members: [BTFMember(name: "sk", type: ptr, bitOffset: 0)])
        let s = try b.addStruct(name: "ctx", size: 40, members: [
            BTFMember(name: "len", type: typedef, bitOffset: 0),
            BTFMember(name: "flag", type: u32, bitOffset: 32, bitfieldSize: 3),
            BTFMember(name: nil, type: inner, bitOffset: 64),
            BTFMember(name: "words", type: array, bitOffset: 128),
        ])
        let e = try b.addEnum(name: "mode", size: 4, values: [("A", 0), ("B", -1)])
        let e64 = try b.addEnum64(name: "big", size: 8, signed: false, values: [("HUGE", 1 << 40)])
        let cv = try b.addConst(try b.addVolatile(s64))
        let proto = try b.addFunctionProto(returnType: s64, parameters: [("c", try b.addPointer(to: s)), ("m", e), ("h", e64), ("v", cv)])
        let f = try b.addFunction(name: "handler", proto: proto)
        let v = try b.addVariable(name: "counter", type: u32)
        _ = try b.addDataSection(name: ".bss", size: 4, variables: [BTFDataSectionVariable(variable: v, offset: 0, size: 4)])
        let stringOffset = try b.addString("a line of Ruby")
        XCTAssertGreaterThan(stringOffset, 0)
        XCTAssertEqual(try b.addString("a line of Ruby"), stringOffset, "strings are deduplicated")
        XCTAssertEqual(b.typeCount, Int(f) + 2)

        let path = try writeObject(try b.rawData(), named: "types.btf", in: self)
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        for expected in ["STRUCT 'ctx' size=40 vlen=4", "'flag' type_id=\(u32) bits_offset=32 bitfield_size=3",
                         "UNION '(anon)' size=8 vlen=1", "FWD 'sock' fwd_kind=struct", "TYPEDEF '__u32' type_id=\(u32)",
                         "ARRAY '(anon)' type_id=\(typedef) index_type_id=\(index) nr_elems=4",
                         "ENUM 'mode' encoding=SIGNED size=4 vlen=2", "'B' val=-1", "ENUM64 'big' encoding=UNSIGNED size=8 vlen=1",
                         "FUNC 'handler' type_id=\(proto) linkage=global", "VAR 'counter' type_id=\(u32), linkage=global",
                         "DATASEC '.bss' size=4 vlen=1", "INT 'long' size=8 bits_offset=0 nr_bits=64 encoding=SIGNED"] {
            XCTAssertTrue(dump.contains(expected), "missing \(expected) in\n\(dump)")
        }
    }

    func testLibbpfErrorsAreThrownWithTheStep() throws {
        let b = try BTFBuilder()
        XCTAssertThrowsError(try b.addInt(name: "int24", size: 3)) { error in
            let e = error as? BTFError
            XCTAssertEqual(e?.step, "btf__add_int(int24)")
            XCTAssertEqual(e?.errno, EINVAL)
        }
        XCTAssertThrowsError(try b.addPointer(to: -5)) { XCTAssertTrue("\($0)".contains("btf__add_ptr")) }
        XCTAssertThrowsError(try b.addEnum(name: "e", size: 4, values: [("TOO_BIG", 1 << 40)])) {
            XCTAssertTrue("\($0)".contains("btf__add_enum_value(TOO_BIG)"), "\($0)")
        }
    }
}

final class KernelBTFTests: XCTestCase {
    func kernel() throws -> KernelBTF {
        guard FileManager.default.fileExists(atPath: KernelBTF.defaultPath) else {
            throw XCTSkip("the running kernel exposes no BTF at \(KernelBTF.defaultPath)")
        }
        return try KernelBTF()
    }

    func testSkBuffContextLayout() throws {
        let layout = try XCTUnwrap(try kernel().structLayout(named: "__sk_buff"))
        XCTAssertEqual(layout.kind, .structure)
        XCTAssertEqual(layout.size, 192)
        let len = try XCTUnwrap(layout.member(named: "len"))
        XCTAssertEqual([len.byteOffset, len.size, len.bitfieldSize], [0, 4, 0])
        XCTAssertEqual(len.kind, .int)
        XCTAssertFalse(len.isSigned)
        let cb = try XCTUnwrap(layout.member(named: "cb"))
        XCTAssertEqual(cb.kind, .array)
        XCTAssertEqual(cb.arrayCount, 5)
        XCTAssertEqual(cb.size, 20)
        // Members of the anonymous unions (__bpf_md_ptr) are lifted into the struct.
        let flowKeys = try XCTUnwrap(layout.member(named: "flow_keys"))
        XCTAssertEqual(flowKeys.kind, .pointer)
        XCTAssertEqual(flowKeys.byteOffset, 144)
        XCTAssertEqual(flowKeys.size, 8)
        XCTAssertEqual(try XCTUnwrap(layout.member(named: "sk")).byteOffset, 168)
        XCTAssertEqual(try XCTUnwrap(layout.member(named: "tstamp")).size, 8)
        XCTAssertNil(try kernel().structLayout(named: "no_such_struct_xyz"))
    }

    /// Every flattened member, bitfields included, agrees with bpftool's raw dump of the same BTF.
    func testLayoutsMatchBpftool() throws {
        let k = try kernel()
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", KernelBTF.defaultPath])
        let oracle = BpftoolTypes(dump)
        for name in ["sk_buff", "__sk_buff", "bpf_cgroup_dev_ctx", "xdp_md", "task_struct"] {
            let layout = try XCTUnwrap(try k.structLayout(named: name), name)
            let expected = oracle.flatten(name)
            XCTAssertFalse(expected.isEmpty, name)
            XCTAssertEqual(layout.members.map { "\($0.name)@\($0.bitOffset):\($0.bitfieldSize)" }, expected, name)
        }
        let skb = try XCTUnwrap(try k.structLayout(named: "sk_buff"))
        let cloned = try XCTUnwrap(skb.member(named: "cloned"))
        XCTAssertTrue(cloned.isBitfield)
        XCTAssertEqual(cloned.bitfieldSize, 1)
        XCTAssertEqual(try XCTUnwrap(skb.member(named: "pkt_type")).bitfieldSize, 3)
        XCTAssertEqual(try XCTUnwrap(skb.member(named: "len")).size, 4)
    }

    func testCopyTypeIsDeepButStopsAtPointers() throws {
        let k = try kernel()
        let b = try BTFBuilder()
        let id = try k.copyType(named: "__sk_buff", into: b)
        let count = b.typeCount
        XCTAssertEqual(try k.copyType(named: "__sk_buff", into: b), id, "memoised")
        XCTAssertEqual(b.typeCount, count, "a second copy adds nothing")
        _ = try k.copyType(named: "bpf_cgroup_dev_ctx", into: b)
        XCTAssertEqual(b.typeCount, count + 1, "only the struct is new: __u32 is shared")
        XCTAssertLessThan(count, 40, "copy of __sk_buff pulled in \(count) types")

        let path = try writeObject(try b.rawData(), named: "copy.btf", in: self)
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        XCTAssertTrue(dump.contains("[\(id)] STRUCT '__sk_buff' size=192 vlen="), dump)
        XCTAssertTrue(dump.contains("FWD 'bpf_flow_keys' fwd_kind=struct"), dump)
        XCTAssertTrue(dump.contains("FWD 'bpf_sock' fwd_kind=struct"), dump)
        XCTAssertFalse(dump.contains("STRUCT 'bpf_sock'"), dump)
        // The copy agrees with the kernel's own layout.
        let oracle = BpftoolTypes(dump)
        let original = BpftoolTypes(try runOK(Tool.bpftool, ["btf", "dump", "file", KernelBTF.defaultPath]))
        XCTAssertEqual(oracle.flatten("__sk_buff"), original.flatten("__sk_buff"))
    }

    func testCopyOfStructWithBitfieldsAndEnums() throws {
        let k = try kernel()
        let b = try BTFBuilder()
        _ = try k.copyType(named: "sk_buff", into: b)
        let path = try writeObject(try b.rawData(), named: "skbuff.btf", in: self)
        let dump = try runOK(Tool.bpftool, ["btf", "dump", "file", path])
        XCTAssertEqual(BpftoolTypes(dump).flatten("sk_buff"),
                       BpftoolTypes(try runOK(Tool.bpftool, ["btf", "dump", "file", KernelBTF.defaultPath])).flatten("sk_buff"))
        XCTAssertTrue(dump.contains("bitfield_size=3"), dump)
        XCTAssertTrue(dump.contains("FWD 'sock' fwd_kind=struct"), dump)
    }

    func testErrors() throws {
        XCTAssertThrowsError(try KernelBTF(path: "/nonexistent/vmlinux")) { error in
            XCTAssertEqual((error as? BTFError)?.errno, ENOENT)
            XCTAssertTrue("\(error)".contains("/nonexistent/vmlinux"))
        }
        let b = try BTFBuilder()
        XCTAssertThrowsError(try kernel().copyType(named: "no_such_struct_xyz", into: b)) { error in
            XCTAssertTrue("\(error)".contains("no_such_struct_xyz"))
        }
        XCTAssertThrowsError(try kernel().copyType(named: "sk_buff", kind: .union, into: b))
    }
}

/// An independent reading of `bpftool btf dump` (raw format): types by id
/// and by name, and a struct's members flattened through anonymous
/// structs/unions, as "name@bitOffset:bitfieldSize".
struct BpftoolTypes {
    struct Member { var name: String; var type: Int; var bitOffset: Int; var bitfieldSize: Int }
    struct TypeInfo { var kind: String; var name: String; var members: [Member] }
    var types: [Int: TypeInfo] = [:]
    var byName: [String: Int] = [:]

    init(_ dump: String) {
        let header = try! NSRegularExpression(pattern: #"^\[(\d+)\] (\w+) '([^']*)'"#)
        let member = try! NSRegularExpression(pattern: #"^\t'([^']*)' type_id=(\d+) bits_offset=(\d+)(?: bitfield_size=(\d+))?"#)
        var current: Int?
        for line in dump.split(separator: "\n").map(String.init) {
            let ns = line as NSString, range = NSRange(location: 0, length: ns.length)
            if let m = header.firstMatch(in: line, range: range) {
                let id = Int(ns.substring(with: m.range(at: 1)))!
                let kind = ns.substring(with: m.range(at: 2)), name = ns.substring(with: m.range(at: 3))
                types[id] = TypeInfo(kind: kind, name: name, members: [])
                if kind == "STRUCT" || kind == "UNION", byName[name] == nil { byName[name] = id }
                current = id
            } else if let m = member.firstMatch(in: line, range: range), let id = current {
                let bits = m.range(at: 4).location == NSNotFound ? 0 : Int(ns.substring(with: m.range(at: 4)))!
                types[id]!.members.append(Member(name: ns.substring(with: m.range(at: 1)), type: Int(ns.substring(with: m.range(at: 2)))!,
                                                 bitOffset: Int(ns.substring(with: m.range(at: 3)))!, bitfieldSize: bits))
            }
        }
    }

    func flatten(_ name: String) -> [String] {
        guard let id = byName[name] else { return [] }
        return flatten(id: id, base: 0)
    }

    private func flatten(id: Int, base: Int) -> [String] {
        var out: [String] = []
        for m in types[id]?.members ?? [] {
            if m.name == "(anon)" {
                if let t = types[m.type], t.kind == "STRUCT" || t.kind == "UNION" { out += flatten(id: m.type, base: base + m.bitOffset) }
            } else {
                out.append("\(m.name)@\(base + m.bitOffset):\(m.bitfieldSize)")
            }
        }
        return out
    }
}
