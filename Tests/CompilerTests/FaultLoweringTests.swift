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

    /// A counter is one `ld_imm64` of the `.bss` array plus an atomic add at
    /// its slot: no lookup, no branch of its own. The manifest's offsets are
    /// where the writer placed the array after the file's own globals.
    func testACounterIsOneAtomicAddInBss() throws {
        let source = """
            license "GPL"
            global :seen, :u64
            map :small, :hash, key: :u32, value: :u64, max_entries: 4
            map :events, :ringbuf, max_entries: 4096
            tracepoint "syscalls/sys_enter_getppid" do |ctx|
              seen += 1
              small[pid] += 1
              events.output(pid)
              0
            end
            """
        var options = CompileOptions()
        options.dumpAfter = ["lower"]
        let c = try Compiler.compile(source: source, path: "f.rb", options: options)
        let dump = c.dumps.joined(separator: "\n")
        XCTAssertFalse(dump.contains("&map \(Fault.variableName)"), dump)
        let counters = dump.split(separator: "\n").filter { $0.contains("&var \(Fault.variableName)") }
        XCTAssertEqual(counters.count, 2, dump)
        XCTAssertTrue(dump.contains("atomic.add.64 [%") && dump.contains(" + 8] += %"), "the second slot at offset 8:\n\(dump)")
        XCTAssertEqual(c.manifest.faults, [Fault(map: "small", kind: .failedUpdates, slot: 0, offset: 8),
                                           Fault(map: "events", kind: .lostRecords, slot: 1, offset: 16)])
        XCTAssertEqual(c.object.variables.map(\.name), ["seen", Fault.variableName])
        XCTAssertFalse(c.object.maps.contains { $0.name == Fault.variableName })
    }
}
