import XCTest
@testable import InfraredCompiler

/// The IR string compares lower to (StringCompare.swift), source in,
/// expected IR out: a copy into a stack buffer by the helper the value's
/// origin needs, then u64 word compares as long as the literal.
final class StringCompareTests: XCTestCase {
    /// The IR after lowering of a getppid tracepoint whose body is `body`.
    func lowered(_ body: String) throws -> [String] {
        let source = """
        license "GPL"
        global :hits, :u64
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          \(body)
          0
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let dump = try Compiler.compile(source: source, path: "s.rb", options: options).dumps.joined()
        // The instructions of line 4 (the body), without the line comments.
        return dump.split(separator: "\n").filter { $0.hasSuffix("; line 4") }
            .map { $0.replacingOccurrences(of: "    ; line 4", with: "").trimmingCharacters(in: .whitespaces) }
    }

    /// `comm == "bash"`: an 8-byte get_current_comm (it pads with zeros: no
    /// zeroing) and one word compared with the literal.
    func testCommEqualsShortLiteralIsOneWord() throws {
        XCTAssertEqual(try lowered(#"hits += 1 if comm == "bash""#).prefix(4), [
            "%9 = fp-8", "call 16(%9, 8)", "%10 = load.u64 [fp-8]", "%5 = set.eq %10, 1752392034",
        ])
    }

    /// `start_with?` of 9 characters: 16 bytes copied, the second word
    /// masked to its first byte; the words' differences or-ed.
    func testPrefixMasksTheLastWord() throws {
        XCTAssertEqual(try lowered(#"hits += 1 if comm.start_with?("infrared-")"#).prefix(9), [
            "%9 = fp-16", "call 16(%9, 16)", "%10 = load.u64 [fp-16]", "%11 = load.u64 [fp-8]", "%11 = and %11, 255",
            "%12 = xor %10, 7234314139297279593", "%13 = xor %11, 45", "%13 = or %13, %12", "%5 = set.eq %13, 0",
        ])
    }

    /// A user string of unknown length: the buffer is zeroed first
    /// (probe_read_user_str does not pad) and the copy may hold 15
    /// characters, more than the literal's 7 and its NUL, so the value's
    /// 8th byte is its own, not the helper's NUL; one word is compared.
    func testUserStringIsZeroedAndCopiedPastTheLiteral() throws {
        XCTAssertEqual(try lowered(#"hits += 1 if user_string(pid) == "abcdefg""#).dropFirst(3).prefix(6), [
            "store.64 [fp-16] = 0", "store.64 [fp-8] = 0", "%9 = fp-16", "call 114(%9, 16, %5)",
            "%10 = load.u64 [fp-16]", "%5 = set.eq %10, 29104508263162465",
        ])
    }

    /// Two compares share one stack area, grown in place.
    func testComparesShareTheirStack() throws {
        let ir = try lowered(#"hits += 1 if comm == "bash" || comm.start_with?("infrared-")"#)
        XCTAssertTrue(ir.contains("call 16(%9, 8)") && ir.contains { $0.hasPrefix("call 16(") && $0.hasSuffix(", 16)") }, "\(ir)")
        XCTAssertTrue(ir.contains("%11 = fp-16"), "the second compare grows the first's 8 bytes to 16: \(ir)")
        XCTAssertFalse(ir.contains { $0.contains("fp-24") }, "the second compare reuses the first's 8 bytes: \(ir)")
    }

    /// A literal into a char[12] field at offset 4 of a stack struct: two
    /// immediate stores as wide as the offsets' alignment allows ("Arra",
    /// then "y" and seven NULs), no helper call.
    func testLiteralIntoCharFieldIsImmediates() throws {
        let source = """
        license "GPL"
        struct :Site do
          u32 :line
          char :kind, 12
        end
        map :sites, :hash, key: :Site, value: :u64
        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          s = Site.new
          s.kind = "Array"
          sites[s] += 1
          0
        end
        """
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let dump = try Compiler.compile(source: source, path: "s.rb", options: options).dumps.joined()
        let line9 = dump.split(separator: "\n").filter { $0.hasSuffix("; line 9") }
            .map { $0.replacingOccurrences(of: "    ; line 9", with: "").trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(line9.filter { $0.hasPrefix("store") || $0.hasPrefix("call") },
                       ["store.32 [%10 + 4] = 1634890305", "store.64 [%10 + 8] = 121"], "\(line9)")
    }
}
