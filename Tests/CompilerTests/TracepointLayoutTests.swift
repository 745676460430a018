import XCTest
@testable import InfraredCompiler
import InfraredBTF

/// A tracepoint's record read from tracefs's `format` file and from the
/// kernel BTF's `trace_event_raw_<event>`: the compiler takes the format
/// when no field needs a BTF type (it reads no 5 MB BTF for a one-liner),
/// so the two must give the same fields, for every tracepoint of this kernel.
final class TracepointLayoutTests: XCTestCase {
    func testTracefsAndBTFAgreeWhereTracefsSuffices() throws {
        let kernel = try KernelBTF(path: "/sys/kernel/btf/vmlinux")
        let all = ContextLayouts.tracepoints(matching: "*/*")
        XCTAssertGreaterThan(all.count, 500, "tracefs lists this kernel's tracepoints (as root)")
        var compared = 0, needBTF = 0, noBTF = 0
        var differ: [String] = []
        for t in all {
            let p = t.split(separator: "/").map(String.init)
            guard let format = ContextLayouts.tracefsLayout(category: p[0], event: p[1]) else { XCTFail("no format for \(t)"); continue }
            guard let fromBTF = try ContextLayouts.btfTracepointLayout(category: p[0], event: p[1], kernel: kernel) else { noBTF += 1; continue }
            guard let fast = format.sufficient else { needBTF += 1; continue }
            compared += 1
            if fast.fields != fromBTF.fields { differ.append("\(t):\n  tracefs \(fast.fields)\n  btf     \(fromBTF.fields)") }
        }
        print("tracepoint layouts: \(compared) compared, \(needBTF) need BTF types, \(noBTF) without trace_event_raw_ in BTF, \(differ.count) differ")
        XCTAssertEqual(differ, [], differ.prefix(5).joined(separator: "\n"))
        XCTAssertGreaterThan(compared, 300)
    }

    /// A `char *` field is a string (user memory in a syscall's record);
    /// `const char *const * argv` is not: an 8-byte address.
    func testCharPointerToPointersIsAnAddress() {
        let format = """
            \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
            \tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;
            \tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;
            """
        XCTAssertEqual(ContextLayouts.parseFormat(format, userStrings: true),
                       [ContextField(name: "__syscall_nr", offset: 8, size: 4, signed: true),
                        ContextField(name: "filename", offset: 16, size: 8, signed: false, use: .stringPointer(user: true)),
                        ContextField(name: "argv", offset: 24, size: 8, signed: false)])
    }

    /// `char comm[16]` in a record is a string field (`ctx.comm`,
    /// `ctx.prev_comm`): its address in the record, read as a kernel string;
    /// other arrays (`__u8 saddr[4]`) stay out. The same from tracefs and BTF.
    func testCharArraysInTheRecordAreStrings() throws {
        let format = """
            \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
            \tfield:char comm[16];\toffset:8;\tsize:16;\tsigned:0;
            \tfield:__u8 saddr[4];\toffset:24;\tsize:4;\tsigned:0;
            \tfield:int sig;\toffset:28;\tsize:4;\tsigned:1;
            """
        XCTAssertEqual(ContextLayouts.parseFormat(format, userStrings: false),
                       [ContextField(name: "comm", offset: 8, size: 16, signed: false, use: .inlineChars),
                        ContextField(name: "sig", offset: 28, size: 4, signed: true)])
        let kernel = try KernelBTF(path: "/sys/kernel/btf/vmlinux")
        let btf = try XCTUnwrap(ContextLayouts.btfTracepointLayout(category: "sched", event: "sched_switch", kernel: kernel))
        XCTAssertEqual(btf.fields.filter { $0.use == .inlineChars }.map(\.name), ["prev_comm", "next_comm"])

        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let c = try Compiler.compile(source: "license \"GPL\"\ntracepoint \"sched/sched_switch\" do |ctx|\n  @n[ctx.next_comm] += 1\n  0\nend\n", path: "t.rb", options: options)
        let offset = try XCTUnwrap(btf.fields.first { $0.name == "next_comm" }?.offset)
        XCTAssertTrue(c.dumps[0].contains("= add %"), c.dumps[0])
        XCTAssertTrue(c.dumps[0].contains(", \(offset)    ; line 3"), "the field's address is ctx + \(offset):\n\(c.dumps[0])")
    }
}
