import XCTest
@testable import InfraredCompiler

/// Values unsigned by type (docs/language.md, "Unsigned values"): a u64 with
/// a u64 or a non-negative value sums and subtracts to a u64, so `/` and `%`
/// on it are one unsigned BPF instruction, as in C; a possibly negative
/// operand keeps Ruby's floored (signed) division.
final class UnsignedArithmeticTests: XCTestCase {
    func loweredIR(_ body: String) throws -> String {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = """
        map :start, :hash, key: :u32, value: :u64, max_entries: 16
        map :out, :array, value: :u64, max_entries: 1
        tracepoint "raw_syscalls/sys_exit" do |ctx|
          t = start.lookup(tid)
          if t
            \(body)
          end
          0
        end
        """
        return try Compiler.compile(source: source, path: "unsigned.rb", options: options).dumps[0]
    }

    func testADifferenceOfU64sDividesUnsigned() throws {
        let ir = try loweredIR("out[0] = (ktime_ns - t.value) / 1000")
        XCTAssertTrue(ir.contains("udiv"), ir)
        XCTAssertFalse(ir.contains("sdiv"), ir)
    }

    func testAU64MinusALiteralStaysUnsigned() throws {
        let ir = try loweredIR("out[0] = (ktime_ns - t.value - 5000) % 1000")
        XCTAssertTrue(ir.contains("umod"), ir)
        XCTAssertFalse(ir.contains("smod"), ir)
    }

    func testAU64MinusAPossiblyNegativeValueDividesSigned() throws {
        let ir = try loweredIR("out[0] = (ktime_ns - (pid - 100)) / 1000")
        XCTAssertTrue(ir.contains("sdiv"), ir)
        XCTAssertFalse(ir.contains("udiv"), ir)
    }
}
