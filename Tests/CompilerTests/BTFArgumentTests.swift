import Foundation
import XCTest
import InfraredCompiler

/// The arguments of fentry/fexit/tp_btf/lsm programs as the compiler reads
/// them from the running kernel's BTF: their names (listed by the error for
/// a name that is not one), their slots and types (the loads in the IR).
final class BTFArgumentTests: XCTestCase {
    /// The whole diagnostic (message and hint) for `source`.
    func diagnostic(_ source: String) -> String {
        do {
            _ = try Compiler.compile(source: source, path: "a.rb")
            return "compiled"
        } catch {
            return "\(error)"
        }
    }

    func testAnUnknownNameListsTheArguments() {
        let body = " do |ctx|\n  ctx.nosuch\n  0\nend\n"
        XCTAssertEqual(diagnostic("fentry \"do_unlinkat\"" + body),
                       "a.rb:2:7: error: do_unlinkat has no argument `nosuch`\n  hint: arguments: dfd, name")
        XCTAssertEqual(diagnostic("fexit \"do_unlinkat\"" + body),
                       "a.rb:2:7: error: do_unlinkat has no argument `nosuch`\n  hint: arguments: dfd, name, ret")
        // The tracepoint's typedef has unnamed parameters: the names are __probestub_sched_switch's.
        XCTAssertEqual(diagnostic("tp_btf \"sched_switch\"" + body),
                       "a.rb:2:7: error: tracepoint sched_switch has no argument `nosuch`\n  hint: arguments: preempt, prev, next, prev_state")
        XCTAssertEqual(diagnostic("lsm \"file_open\"" + body),
                       "a.rb:2:7: error: LSM hook file_open has no argument `nosuch`\n  hint: arguments: file")
    }

    func testUnknownTargetsPointAtTheDeclaration() {
        XCTAssertEqual(diagnostic("x = 1\n\nfentry \"no_such_fn\" do |ctx|\n  0\nend\n"),
                       "a.rb:3:1: error: no kernel function 'no_such_fn' in BTF\n"
                       + "  hint: list the kernel's BTF functions with `infrared list 'fentry:*no_such_fn*'`; pass --btf FILE for another kernel")
        XCTAssertEqual(diagnostic("fentry \"do_unlinkat\" do |ctx|\n  ctx.arg(0)\n  0\nend\n"),
                       "a.rb:2:7: error: fentry programs read their arguments by name, not by number\n  hint: arguments: dfd, name")
    }

    /// Each argument is the u64 slot of its position, loaded at its declared
    /// size and sign: `int dfd` at 0 (signed 32); after `struct filename
    /// *name` at 8, fexit's `int` result at 16.
    func testArgumentsAreTypedSlots() throws {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = """
        map :r, :hash, key: :u32, value: :s64, max_entries: 16
        fexit "do_unlinkat" do |ctx|
          r[0] = ctx.dfd
          r[1] = ctx.ret
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "a.rb", options: options)
        XCTAssertEqual(compiled.object.programs.map(\.section), ["fexit/do_unlinkat"])
        let loads = compiled.dumps[0].split(separator: "\n").filter { $0.contains("= load") }
            .map { $0.split(separator: "=", maxSplits: 1)[1].split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(loads.map { $0.replacingOccurrences(of: #"%[0-9]+"#, with: "%", options: .regularExpression) },
                       ["load.s32 [% + 0]", "load.s32 [% + 16]"])
    }

    /// A struct passed by value takes one slot per 8 bytes (the kernel's
    /// get_ctx_arg_idx): __sys_bpf(enum bpf_cmd cmd, bpfptr_t uattr /* 16
    /// bytes */, unsigned int size) has `size` in slot 3, at 24.
    func testStructsByValueTakeTheirSlots() throws {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = """
        map :r, :hash, key: :u32, value: :u64, max_entries: 16
        fentry "__sys_bpf" do |ctx|
          r[0] = ctx.size
          r[1] = ctx.cmd
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "a.rb", options: options)
        let loads = compiled.dumps[0].split(separator: "\n").filter { $0.contains("= load") }
            .map { $0.split(separator: "=", maxSplits: 1)[1].split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(loads.map { $0.replacingOccurrences(of: #"%[0-9]+"#, with: "%", options: .regularExpression) },
                       ["load.u32 [% + 24]", "load.u32 [% + 0]"])
    }
}

