import XCTest
@testable import InfraredCompiler

/// Values unsigned by type (`ktime_ns`, u64 fields and map values): two of
/// them added, subtracted or multiplied give a u64, as in C, so a division
/// or a right shift of the result is unsigned — `(ktime_ns - t) / 1000` is
/// one `udiv`, not a signed division with Ruby's floor fix-up.
final class UnsignedArithmeticTests: XCTestCase {
    func lowered(_ body: String) throws -> String {
        let source = """
        license "GPL"
        map :start, :hash, key: :u32, value: :u64, max_entries: 16
        map :out, :hash, key: :u32, value: :u64, max_entries: 16
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          \(body)
          0
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        return try Compiler.compile(source: source, path: "u.rb", options: options).dumps.joined()
    }

    func testU64DifferenceDividesUnsigned() throws {
        let ir = try lowered("t = start[tid]\n  out[0] = (ktime_ns - t) / 1000")
        XCTAssertTrue(ir.contains(" udiv "), ir)
        XCTAssertFalse(ir.contains(" sdiv "), ir)
        let shifted = try lowered("t = start[tid]\n  out[0] = (ktime_ns - t) >> 10")
        XCTAssertTrue(shifted.contains(" lshr "), shifted)
        XCTAssertFalse(shifted.contains(" ashr "), shifted)
    }

    /// A u64 and a signed Integer stay Ruby's: a signed division.
    func testMixedSignednessStaysSigned() throws {
        let ir = try lowered("t = start[tid]\n  out[0] = (ktime_ns - pid) / 1000")
        XCTAssertTrue(ir.contains(" sdiv "), ir)
    }
}
