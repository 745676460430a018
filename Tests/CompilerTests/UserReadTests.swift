import XCTest
@testable import InfraredCompiler

/// `user_read(T, addr)` (UserMemory.swift), source in, IR out: one
/// `bpf_probe_read_user` (helper 112) of the type's size into the stack, then
/// a load of the scalar or the struct's fields from the copy.
final class UserReadTests: XCTestCase {
    static let prelude = """
    license "GPL"
    global :hits, :u64
    struct :Pair do
      u32 :a
      s32 :b
      u64 :c
    end
    tracepoint "syscalls/sys_enter_getppid" do |ctx|
    """

    /// The IR of the body's line 9 after lowering, without line comments.
    func lowered(_ body: String) throws -> [String] {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let dump = try Compiler.compile(source: Self.prelude + "\n  \(body)\n  0\nend\n", path: "u.rb", options: options).dumps.joined()
        return dump.split(separator: "\n").filter { $0.hasSuffix("; line 9") }
            .map { $0.replacingOccurrences(of: "    ; line 9", with: "").trimmingCharacters(in: .whitespaces) }
    }

    func compileError(_ body: String) -> String? {
        do { _ = try Compiler.compile(source: Self.prelude + "\n  \(body)\n  0\nend\n", path: "u.rb"); return nil } catch { return "\(error)" }
    }

    /// Scalars: the type's size is copied into one stack word that every
    /// scalar read shares, and loaded with the type's signedness.
    func testScalarsShareOneWordAndKeepTheirSignedness() throws {
        let ir = try lowered("hits += user_read(:u64, pid) + user_read(:s32, pid + 8)")
        XCTAssertEqual(ir.filter { $0.contains("fp-") || $0.hasPrefix("call 112") }, [
            "%13 = fp-8", "call 112(%13, 8, %8)", "%6 = load.u64 [fp-8]",
            "%14 = fp-8", "call 112(%14, 4, %9)", "%7 = load.s32 [fp-8]",
        ])
    }

    /// A struct: its whole size copied into a stack copy of its own, a
    /// field loaded from the copy at its offset.
    func testStructIsCopiedWholeAndReadByField() throws {
        let ir = try lowered("hits += user_read(Pair, pid).b")
        XCTAssertEqual(ir.filter { $0.contains("fp-") || $0.hasPrefix("call 112") || $0.contains("load.") }, [
            "%11 = fp-16", "call 112(%11, 16, %8)", "%12 = fp-16", "%6 = load.s32 [%12 + 4]",
        ])
    }

    func testMistakesAreCompileErrors() {
        XCTAssertEqual(compileError("hits += user_read(:u128, pid)"), "u.rb:9:11: error: unknown type :u128 for `user_read`\n  hint: scalar types: :bool :char :s16 :s32 :s64 :s8 :u16 :u32 :u64 :u8, or a struct's name")
        XCTAssertEqual(compileError("hits += user_read(:u64, comm)")?.components(separatedBy: "\n").first,
                       "u.rb:9:11: error: the address `user_read` reads from must be an Integer, not `comm`")
        XCTAssertEqual(compileError("hits += user_read(:u64)")?.components(separatedBy: "\n").first,
                       "u.rb:9:11: error: `user_read` takes a type and an address, given 1 argument")
        XCTAssertEqual(compileError("hits += user_read(5, pid)")?.components(separatedBy: "\n").first,
                       "u.rb:9:11: error: `user_read` reads a scalar type (:u64) or a declared struct, not Integer")
    }
}
