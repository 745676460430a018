import Foundation
import InfraredObject
import XCTest

final class BTFExtTests: XCTestCase {
    func testRoundTrip() throws {
        let ext = BTFExt(
            funcInfo: [.init(nameOffset: 10, records: [.init(instructionOffset: 0, typeID: 7)]),
                       .init(nameOffset: 20, records: [.init(instructionOffset: 0, typeID: 9)])],
            lineInfo: [.init(nameOffset: 10, records: [.init(instructionOffset: 0, fileNameOffset: 1, lineOffset: 30, line: 3, column: 5),
                                                       .init(instructionOffset: 16, fileNameOffset: 1, lineOffset: 40, line: 4, column: 1023)])],
            coreRelo: [.init(nameOffset: 20, records: [.init(instructionOffset: 8, typeID: 2, accessStringOffset: 50, kind: .fieldByteOffset)])])
        let bytes = ext.encoded()
        XCTAssertEqual(Array(bytes[0..<8]), [0x9f, 0xeb, 1, 0, 32, 0, 0, 0])
        // func_info: rec_size + 2 × (header 8 + 1 record 8) = 36; line_info: 4 + 8 + 2 × 16 = 44; core: 4 + 8 + 16 = 28.
        XCTAssertEqual(u32s(bytes, from: 8, count: 6), [0, 36, 36, 44, 80, 28])
        XCTAssertEqual(bytes.count, 32 + 36 + 44 + 28)
        // line_col = line << 10 | column
        XCTAssertEqual(u32s(bytes, from: 32 + 36 + 4 + 8 + 12, count: 1), [3 << 10 | 5])
        XCTAssertEqual(try BTFExt.decode(bytes: bytes), ext)
    }

    func testEmptySubsectionsAndEmptySectionsAreLeftOut() throws {
        let ext = BTFExt(funcInfo: [.init(nameOffset: 1, records: [.init(instructionOffset: 0, typeID: 3)])],
                         lineInfo: [.init(nameOffset: 1, records: [])])
        let bytes = ext.encoded()
        XCTAssertEqual(u32s(bytes, from: 8, count: 6), [0, 20, 20, 0, 20, 0])
        XCTAssertEqual(try BTFExt.decode(bytes: bytes), BTFExt(funcInfo: ext.funcInfo))
    }

    /// clang's own .BTF.ext decodes, and re-encodes to the same bytes.
    func testDecodesClangOutput() throws {
        let dir = try scratchDirectory(self)
        let source = dir.appendingPathComponent("p.c"), obj = dir.appendingPathComponent("p.o")
        try """
        #define SEC(x) __attribute__((section(x), used))
        SEC("socket") int one(void *ctx) { return 1; }
        SEC("xdp") int two(void *ctx) { volatile int x = 3; x += 4; return x; }
        char _license[] SEC("license") = "GPL";
        """.write(to: source, atomically: true, encoding: .utf8)
        try runOK(Tool.clang, ["-g", "-O2", "-target", "bpf", "-c", source.path, "-o", obj.path])
        let extPath = dir.appendingPathComponent("ext.bin").path
        try runOK(Tool.objcopy, ["--dump-section", ".BTF.ext=\(extPath)", obj.path])
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: extPath)))
        let ext = try BTFExt.decode(bytes: bytes)
        XCTAssertEqual(ext.funcInfo.count, 2)
        XCTAssertEqual(ext.funcInfo.map { $0.records.map(\.instructionOffset) }, [[0], [0]])
        XCTAssertEqual(ext.lineInfo.count, 2)
        XCTAssertGreaterThan(ext.lineInfo[1].records.count, 1)
        XCTAssertEqual(ext.lineInfo[0].records.first?.line, 2)
        XCTAssertEqual(ext.encoded(), bytes)
    }

    func testMalformedInputThrows() throws {
        let good = BTFExt(funcInfo: [.init(nameOffset: 1, records: [.init(instructionOffset: 0, typeID: 3)])]).encoded()
        var badMagic = good; badMagic[0] = 0
        var badRecordSize = good; badRecordSize[32] = 6
        var badCount = good; badCount[32 + 8] = 9
        for (what, bytes) in [("magic", badMagic), ("record size", badRecordSize), ("num_info", badCount),
                              ("too short", Array(good.prefix(4))), ("past", Array(good.prefix(40)))] {
            XCTAssertThrowsError(try BTFExt.decode(bytes: bytes), what)
        }
    }

    private func u32s(_ b: [UInt8], from: Int, count: Int) -> [UInt32] {
        (0..<count).map { i in
            let o = from + i * 4
            return UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
        }
    }
}
