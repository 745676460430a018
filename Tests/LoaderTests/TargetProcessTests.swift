import Foundation
import XCTest
import InfraredObject
import InfraredRuntime
import BPF
@testable import InfraredLoader
@testable import InfraredProfile

/// What a profiler of another runtime needs before it loads (ruby_profile.rb):
/// `before_load` hooks that set params from what they find in the `--pid`
/// process through `Target` (its mapped files, a symbol's address, a C
/// string), and `--frequency` for perf_event programs. No kernel needed.
final class TargetProcessTests: XCTestCase {
    func testBeforeLoadSetsParamsFromTheTarget() throws {
        let source = """
        param :vm, :u64
        param :who, :u32
        perf_event :cpu_clock, frequency: 99 do |ctx|
          0
        end
        before_load do
          self.who = Target.pid
          lib = Target.library("libruby") or raise "no libruby"
          self.vm = Target.address(lib, "ruby_current_vm_ptr")
          raise "version #{Target.read_string(self.vm, 8)}" unless Target.read_string(self.vm, 8) == "3.1.2"
        end
        """
        let hooks = try HookRuntime()
        var calls: [String] = []
        hooks.host = { op, args in
            calls.append(op + " " + args.map(\.description).joined(separator: " "))
            switch op {
            case "target_pid": return .int(4242)
            case "target_library": return .string("/usr/lib/libruby.so")
            case "target_address": return .int(0x7f00_0000_1000)
            case "target_read_string": return .string("3.1.2")
            default: return .nil
            }
        }
        try hooks.runTopLevel(bytecode: try HookRuntime.compile(source: source, filename: "t.rb"), params: ["vm": .int(0), "who": .int(0)])
        XCTAssertEqual(hooks.beforeLoadCount, 1)
        XCTAssertEqual(calls, [], "before_load blocks wait for the loader")
        let set = try hooks.beforeLoad()
        XCTAssertEqual(set.keys.sorted(), ["vm", "who"])
        XCTAssertEqual(set["who"]?.description, "4242")
        XCTAssertEqual(set["vm"]?.description, String(0x7f00_0000_1000))
        XCTAssertEqual(calls, ["target_pid ", "target_library \"libruby\"", "target_address \"/usr/lib/libruby.so\" \"ruby_current_vm_ptr\"",
                               "target_read_string \(0x7f00_0000_1000) 8"])

        // Outside before_load a param cannot change: the object is loaded by then.
        let late = try HookRuntime()
        XCTAssertThrowsError(try late.runTopLevel(bytecode: try HookRuntime.compile(source: "param :p, :u32\nself.p = 1\n", filename: "late.rb"), params: ["p": .int(0)])) {
            XCTAssertTrue("\($0)".contains("param p is set before the programs load: in a before_load block"), "\($0)")
        }
    }

    func testParamValuesAHookSetsAreRangeChecked() throws {
        let m = LoaderUnitTests.manifest
        func param(_ n: String) -> Manifest.Variable { m.params.first { $0.name == n }! }
        XCTAssertEqual(try LoaderSession.paramValue(.int(70000), param("target_pid")), 70000)
        XCTAssertEqual(try LoaderSession.paramValue(.bool(true), param("verbose")), 1)
        XCTAssertEqual(try LoaderSession.paramValue(.int(-128), param("min_delta")), -128)
        XCTAssertEqual(try LoaderSession.paramValue(.float(18446744073709549568.0), param("limit")), Int64(bitPattern: 18446744073709549568))
        for (v, p) in [(HostValue.int(1 << 32), "target_pid"), (.int(-1), "target_pid"), (.int(128), "min_delta"), (.string("7"), "target_pid"), (.nil, "limit")] {
            XCTAssertThrowsError(try LoaderSession.paramValue(v, param(p)), "\(v) for \(p)") {
                XCTAssertTrue("\($0)".hasPrefix("before_load set param \(p) to "), "\($0)")
            }
        }
    }

    /// This test process as the target: libc's `gnu_get_libc_version` where
    /// the dynamic linker put it, and the version string it returns read
    /// back through /proc/self/mem.
    func testSymbolAddressesAndStringsOfALiveProcess() throws {
        let me = getpid()
        let libc = try XCTUnwrap(MappedFiles.find("libc", pid: me), "this process maps libc")
        XCTAssertTrue(libc.hasPrefix("/") && libc.contains("libc"), libc)
        XCTAssertNil(MappedFiles.find("libnosuchthing", pid: me))
        let function = try XCTUnwrap(dlsym(dlopen(nil, RTLD_NOW), "gnu_get_libc_version"))
        XCTAssertEqual(ProcessImage.address(of: "gnu_get_libc_version", in: libc, pid: me), UInt64(UInt(bitPattern: function)))
        XCTAssertNil(ProcessImage.address(of: "no_such_symbol_here", in: libc, pid: me))
        let version = unsafeBitCast(function, to: (@convention(c) () -> UnsafePointer<CChar>).self)()
        XCTAssertEqual(ProcessImage.string(at: UInt64(UInt(bitPattern: version)), pid: me), String(cString: version))
        XCTAssertEqual(ProcessImage.string(at: UInt64(UInt(bitPattern: version)), pid: me, limit: 1), String(String(cString: version).prefix(1)))
        XCTAssertNil(ProcessImage.string(at: 8, pid: me), "page 0 is not mapped")
    }

    func testFrequencyFlag() throws {
        let perf = LoaderManifest(license: "GPL", programs: [.init(name: "p", kind: ProgramKind.declared("perf_event")!, section: "perf_event", arguments: [":cpu_clock"], options: ["frequency": "99"], line: 1)],
                                  structs: [], maps: [], params: [], globals: [], hooks: ["before_load"])
        XCTAssertEqual(try LoaderCLI.parse(["--frequency", "199"], manifest: perf).frequency, 199)
        XCTAssertNil(try LoaderCLI.parse([], manifest: perf).frequency)
        for bad in ["0", "-5", "fast"] { XCTAssertThrowsError(try LoaderCLI.parse(["--frequency", bad], manifest: perf), bad) }
        let usage = LoaderCLI.usage(tool: "t", manifest: perf)
        XCTAssertTrue(usage.contains("[--pid PID] [--frequency HZ]"), usage)
        XCTAssertFalse(LoaderCLI.usage(tool: "t", manifest: LoaderUnitTests.manifest).contains("--frequency HZ]"))
    }
}
