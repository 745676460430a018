import XCTest
import BPF
@testable import InfraredCompiler

/// The allocator's choice of what to spill when more values are live than
/// BPF has registers.
final class RegisterAllocationTests: XCTestCase {
    /// Eleven values live at once and ten registers: nine are read in every
    /// stretch of the body to the end, one until the middle, and one, defined
    /// first, is read once in the middle. The value read once goes to the
    /// stack (one store, one load); spilling one of the busy ones (the
    /// interval ending last, the allocator's old choice) would load it
    /// before each of its six reads.
    func testSpillsTheValueUsedLeastOverItsLength() throws {
        var body: [MOp] = [10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map { .mov(.v($0), .imm(Int32($0 + 1))) }
        for _ in 0..<3 { for v in 1...9 { body.append(.alu(.add, .v(0), .reg(.v(v)))) } }
        body.append(.alu(.add, .v(0), .reg(.v(9))))    // v9's last read: ten live from here
        body.append(.alu(.add, .v(0), .reg(.v(10))))   // v10's only read
        for _ in 0..<3 { for v in 1...8 { body.append(.alu(.add, .v(0), .reg(.v(v)))) } }
        body += [.mov(.p(.r0), .reg(.v(0))), .exit]
        let f = MFunction(name: "f", blocks: [MBlock(instructions: body.map { MInstruction2(op: $0, location: .none) })], vregCount: 11)
        let allocated = try RegisterAllocation.allocate(f)
        let ops = allocated.blocks.flatMap(\.instructions).map(\.op)
        let loads = ops.filter { if case .spillLoad = $0 { return true }; return false }.count
        let stores = ops.filter { if case .spillStore = $0 { return true }; return false }.count
        XCTAssertEqual(allocated.slots, 1)
        XCTAssertEqual(stores, 1)
        XCTAssertEqual(loads, 1, "\(ops)")
    }
}
