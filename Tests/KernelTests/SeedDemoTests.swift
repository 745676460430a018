import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// The seed demo, end to end through our compiler: Ruby → BPF object →
/// kernel → a process in the cgroup cannot open /dev/urandom (char 1:9) but
/// can open /dev/zero.
final class SeedDemoTests: KernelTestCase {
    static let seedForm = """
        license! "GPL"
        section! "cgroup/dev"
        class Context
          attr :access_type, :u32
          attr :major, :u32
          attr :minor, :u32
        end
        def check(ctx)
          if ctx.major == 1 && ctx.minor == 9
            return 0
          else
            return 1
          end
        end
        """

    static let blockForm = """
        license "GPL"
        cgroup_device do |ctx|
          if ctx.major == 1 && ctx.minor == 9
            0
          else
            1
          end
        end
        """

    static let tracePrintk = """
        license! "GPL"
        section! "cgroup/dev"
        class Context
          attr :access_type, :u32
          attr :major, :u32
          attr :minor, :u32
        end
        def check(ctx)
          bpf_trace_printk("dev %d\\n", size, ctx.access_type)
          return 1
        end
        """

    func testSeedFormDeniesURandom() throws {
        try assertDeniesURandom(Self.seedForm, path: "seed.rb", program: "check")
    }

    func testBlockFormDeniesURandom() throws {
        try assertDeniesURandom(Self.blockForm, path: "block.rb", program: nil)
    }

    func testSeedFormWithTracePrintkLoads() throws {
        let compiled = try Compiler.compile(source: Self.tracePrintk, path: "printk.rb")
        let object = try LoadedObject(bytes: compiled.bytes, options: LoadOptions(objectName: "printk"))
        defer { object.close() }
        let program = try XCTUnwrap(object.program(named: "check"))
        XCTAssertTrue(program.isLoaded)
        XCTAssertEqual(program.type, .cgroupDevice)
    }

    /// Compiles, loads, attaches to a fresh cgroup and checks both devices;
    /// `program` nil takes the object's only program.
    private func assertDeniesURandom(_ source: String, path: String, program: String?,
                                     file: StaticString = #filePath, line: UInt = #line) throws {
        let compiled = try Compiler.compile(source: source, path: path)
        let object = try LoadedObject(bytes: compiled.bytes, options: LoadOptions(objectName: "seed"))
        defer { object.close() }
        XCTAssertEqual(object.programs.count, 1, file: file, line: line)
        let name = try XCTUnwrap(program ?? object.programs.first?.name, file: file, line: line)
        XCTAssertEqual(object.program(named: name)?.type, .cgroupDevice, file: file, line: line)

        let cgroup = try Support.Cgroup()
        defer { cgroup.remove() }
        try object.attachCgroup(program: name, cgroupPath: cgroup.path)
        let urandom = try cgroup.readDevice("/dev/urandom")
        XCTAssertNotEqual(urandom.status, 0, "/dev/urandom opened inside the cgroup", file: file, line: line)
        XCTAssertTrue(urandom.stderr.contains("Operation not permitted"), urandom.stderr, file: file, line: line)
        XCTAssertEqual(try cgroup.readDevice("/dev/zero").status, 0, "/dev/zero must stay readable", file: file, line: line)
    }
}
