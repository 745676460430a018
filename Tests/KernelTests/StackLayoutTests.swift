import Foundation
import Glibc
import XCTest
import InfraredCompiler
import InfraredRuntime

/// pack-stack against the verifier: one body of 120 hash-map updates with
/// distinct keys and 40 struct-keyed ones (2,240 bytes of keys and insert
/// values, had each its own) loads, and counts a workload exactly.
final class StackLayoutTests: XCTestCase {
    override func setUpWithError() throws {
        try Support.requireBPF()
        if !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls") {
            _ = try? Support.run("mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
    }

    func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func u64(_ b: [UInt8]) -> UInt64 { b.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }

    /// This thread calls getppid(2) 7 times: key i of `counts` gains
    /// 7 × (i % 3 + 1), each (i, pid) of `pairs` 7.
    func testManyMapUpdatesShareTheirStack() throws {
        var body = ""
        for i in 0..<120 { body += "    counts[\(i)] += \(i % 3 + 1)\n" }
        for i in 0..<40 { body += "    k = Pair.new\n    k.a = \(i)\n    k.b = pid\n    pairs[k] += 1\n" }
        let source = """
        license "GPL"
        param :target_pid, :u32, default: 0
        struct :Pair do
          u32 :a
          u32 :b
        end
        map :counts, :hash, key: :u32, value: :u64, max_entries: 256
        map :pairs, :hash, key: :Pair, value: :u64, max_entries: 256

        tracepoint "syscalls/sys_enter_getppid" do |ctx|
          if pid == target_pid
        \(body)  end
          0
        end
        """
        let compiled = try Compiler.compile(source: source, path: "many_updates.rb")
        let object = try LoadedObject.open(bytes: compiled.bytes)
        defer { object.close() }
        try object.setInitialBytes(map: ".rodata", offset: 0, bytes: u32(UInt32(getpid())))
        try object.load()
        try object.attach(program: "sys_enter_getppid")
        for _ in 0..<7 { _ = getppid() }
        for i in 0..<120 {
            XCTAssertEqual(try object.lookup(map: "counts", key: u32(UInt32(i))).map(u64), UInt64(7 * (i % 3 + 1)), "counts[\(i)]")
        }
        for i in 0..<40 {
            XCTAssertEqual(try object.lookup(map: "pairs", key: u32(UInt32(i)) + u32(UInt32(getpid()))).map(u64), 7, "pairs[\(i), pid]")
        }
    }
}
