import XCTest
@testable import InfraredCompiler

/// The lowering's pure parts, input → expected output: the bytecode decoder
/// over the generated opcode table, and the register-kind fixed point.
final class LoweringTests: XCTestCase {
    func bytes(_ ops: [Any]) -> [UInt8] {
        ops.map { ($0 as? MRubyOpcode)?.rawValue ?? UInt8($0 as! Int) }
    }

    func decoded(_ code: [UInt8]) throws -> [MInstruction] {
        try code.withUnsafeBufferPointer { try decode($0) }
    }

    /// Operand formats as <mruby/ops.h> gives them, EXT prefixes folded in.
    func testDecodeReadsEachFormatAndFoldsExtPrefixes() throws {
        let insns = try decoded(bytes([
            MRubyOpcode.move, 1, 2,                       // BB
            MRubyOpcode.loadi32, 3, 0x00, 0x01, 0x00, 0x02, // BSS
            MRubyOpcode.ext1, MRubyOpcode.move, 0x01, 0x02, 7, // a widened to 16 bits
            MRubyOpcode.ext3, MRubyOpcode.getupvar, 0x01, 0x00, 0x02, 0x00, 9, // a and b widened, c not
            MRubyOpcode.jmp, 0xff, 0xfd,                  // S: back to itself
            MRubyOpcode.ssend, 4, 5, 0x21,                // BBB
            MRubyOpcode.enter, 0x04, 0x00, 0x00,          // W
            MRubyOpcode.return, 4,                        // B
        ]))
        XCTAssertEqual(insns.map(\.op), [.move, .loadi32, .move, .getupvar, .jmp, .ssend, .enter, .return])
        XCTAssertEqual(insns.map(\.pc), [0, 3, 9, 14, 21, 24, 28, 32])
        XCTAssertEqual(insns.map(\.next), [3, 9, 14, 21, 24, 28, 32, 34])
        XCTAssertEqual(insns.map { [$0.a, $0.b, $0.c] }, [
            [1, 2, 0], [3, 1, 2], [0x0102, 7, 0], [0x0100, 0x0200, 9], [0xfffd, 0, 0], [4, 5, 0x21], [0x040000, 0, 0], [4, 0, 0],
        ])
        XCTAssertEqual(insns[4].jumpTarget, 21)
        XCTAssertEqual(insns.map(\.isTerminator), [false, false, false, false, true, false, false, true])
        XCTAssertEqual(insns.map(\.fallsThrough), [true, true, true, true, false, true, true, false])
    }

    func testDecodeRejectsUnknownOpcodesAndTruncation() {
        let unknown = UInt8(MRubyOpcode.allCases.count)
        XCTAssertThrowsError(try decoded([MRubyOpcode.nop.rawValue, unknown])) { e in
            guard case BytecodeError.unknownOpcode(pc: 1, op: unknown) = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try decoded(bytes([MRubyOpcode.move, 1]))) { e in
            guard case BytecodeError.truncated(pc: 0) = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try decoded(bytes([MRubyOpcode.ext2]))) { e in
            guard case BytecodeError.truncated(pc: 0) = e else { return XCTFail("\(e)") }
        }
    }

    /// The table is <mruby/ops.h>'s: names and formats by opcode byte.
    func testOpcodeTableNamesAndFormats() {
        XCTAssertEqual(MRubyOpcode.table.count, MRubyOpcode.allCases.count)
        XCTAssertEqual(MRubyOpcode.allCases.map(\.rawValue), Array(0..<UInt8(MRubyOpcode.allCases.count)))
        XCTAssertEqual(MRubyOpcode.nop.name, "NOP")
        XCTAssertEqual(MRubyOpcode.loadi__1.name, "LOADI__1")
        XCTAssertEqual(MRubyOpcode.return_blk.name, "RETURN_BLK")
        XCTAssertEqual(MRubyOpcode.enter.format, .w)
        XCTAssertEqual(MRubyOpcode.loadi32.format, .bss)
        XCTAssertEqual(MRubyOpcode.allCases.filter { $0.extension != nil }, [.ext1, .ext2, .ext3])
    }

    /// Block entries are merges over incoming edges; a block no edge reaches
    /// stays nil; a loop runs until its header's kinds stop changing.
    func testKindFixedPointMergesAtJoinsAndLoops() throws {
        let u64 = Kind.int(unsigned64: true, nonNegative: true), small = Kind.int(unsigned64: false, nonNegative: true)
        // 0 → 1, 2; 1 → 3; 2 → 3; 3 → 3 (loop) and → 4; block 5 unreachable.
        var visits = Array(repeating: 0, count: 6)
        let entries = try Lowering.fixedPoint(blocks: 6, entry: [.unset, .bool]) { b, k in
            visits[b] += 1
            switch b {
            case 0: return [(1, [u64, k[1]]), (2, [.nil, k[1]])]
            case 1: return [(3, [small, k[1]])]
            case 2: return [(3, [u64, k[1]])]
            case 3: return [(3, [k[0], .nil]), (4, k)]
            default: return []
            }
        }
        XCTAssertEqual(entries[0], [.unset, .bool])
        XCTAssertEqual(entries[1], [u64, .bool])
        XCTAssertEqual(entries[2], [.nil, .bool])
        XCTAssertEqual(entries[3], [small, .bool], "u64 ⊔ non-negative is non-negative; bool ⊔ nil is bool")
        XCTAssertEqual(entries[4], [small, .bool])
        XCTAssertNil(entries[5])
        XCTAssertEqual(visits[5], 0)
        // The worklist is last-in first-out: block 2 reaches the join first
        // (u64), block 1's edge then widens it, and the loop edge changes nothing.
        XCTAssertEqual(visits, [1, 1, 1, 2, 2, 0])
    }
}
