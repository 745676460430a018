import XCTest
import InfraredObject
@testable import InfraredCompiler

/// Where the fault counters (`Fault`) go in the lowering. A ring buffer
/// record is tested for nil exactly once, by the body's own `if e` or the
/// check implied before its first use: the count of a dropped record rides
/// that test's nil edge. (A second test of the same record made the 6.1
/// verifier walk the impossible `non-nil == 0` edge to an exit still holding
/// the record: "Unreleased reference", every ring buffer tool refused there;
/// the kernel matrix's 6.1 run is the end-to-end check.)
final class FaultLoweringTests: XCTestCase {
    func lowered(_ body: String) throws -> (dump: String, manifest: Manifest) {
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let source = """
            license "GPL"
            struct :Ev do
              u64 :n
            end
            map :events, :ringbuf, max_entries: 4096
            tracepoint "syscalls/sys_enter_getppid" do |ctx|
            \(body)
              0
            end
            """
        let c = try Compiler.compile(source: source, path: "f.rb", options: options)
        return (c.dumps.joined(separator: "\n"), c.manifest)
    }

    /// The branches testing the result of `bpf_ringbuf_reserve` (helper 131)
    /// or a copy of it (`%a = %b` moves) against 0.
    func nilTests(_ dump: String) -> Int {
        let lines = dump.split(separator: "\n").map { $0.split(separator: ";")[0].trimmingCharacters(in: .whitespaces) }
        var records = Set(lines.filter { $0.contains("= call 131(") }.compactMap { $0.split(separator: " ").first.map(String.init) })
        XCTAssertEqual(records.count, 1, dump)
        var changed = true
        while changed {
            changed = false
            for l in lines {
                let parts = l.split(separator: " ")
                if parts.count == 3, parts[1] == "=", records.contains(String(parts[2])), !records.contains(String(parts[0])) {
                    records.insert(String(parts[0])); changed = true
                }
            }
        }
        return lines.filter { l in l.hasPrefix("br.") && records.contains { l.contains(" \($0), 0 ") } }.count
    }

    func testOneNilTestWithTheBodysIf() throws {
        let (dump, manifest) = try lowered("  e = events.reserve(Ev)\n  if e\n    e.n = 1\n    events.submit(e)\n  end")
        XCTAssertEqual(nilTests(dump), 1, dump)
        XCTAssertEqual(manifest.faults, [Fault(map: "events", kind: .lostRecords, slot: 0)])
    }

    func testOneNilTestWhenImplied() throws {
        let (dump, manifest) = try lowered("  e = events.reserve(Ev)\n  e.n = 1\n  events.submit(e)")
        XCTAssertEqual(nilTests(dump), 1, dump)
        XCTAssertEqual(manifest.faults, [Fault(map: "events", kind: .lostRecords, slot: 0)])
    }
}
