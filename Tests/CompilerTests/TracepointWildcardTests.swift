import Foundation
import XCTest
@testable import InfraredCompiler
import InfraredObject

/// `tracepoint "CATEGORY/EVENT*"`: expanded at build time against the
/// tracepoints tracefs lists (the roots the formats come from), one program a
/// match, each with its `probe` name; string literal keys of implicit maps.
final class TracepointWildcardTests: XCTestCase {
    /// A tracefs tree of our own: the match reads directories and `format` files only.
    func testMatchesComeFromTheTracefsRootsWithAFormatFile() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-tracefs-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for event in ["sched/sched_switch", "sched/sched_wakeup", "sched/sched_wakeup_new", "sched/other", "syscalls/sys_enter_getpid"] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(event)", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: "\(root)/\(event)/format", contents: Data("name: x\n".utf8))
        }
        try FileManager.default.createDirectory(atPath: "\(root)/sched/sched_noformat", withIntermediateDirectories: true)
        let roots = ["\(root)/missing", root]
        XCTAssertEqual(ContextLayouts.tracepoints(matching: "sched/sched_*", tracefsRoots: roots),
                       ["sched/sched_switch", "sched/sched_wakeup", "sched/sched_wakeup_new"])
        XCTAssertEqual(ContextLayouts.tracepoints(matching: "sched/sched_wakeup?new", tracefsRoots: roots), ["sched/sched_wakeup_new"])
        XCTAssertEqual(ContextLayouts.tracepoints(matching: "s*/*_[sg]*", tracefsRoots: roots), ["sched/sched_switch", "syscalls/sys_enter_getpid"])
        XCTAssertEqual(ContextLayouts.tracepoints(matching: "sched/nope*", tracefsRoots: roots), [])
        XCTAssertEqual(ContextLayouts.tracepoints(matching: "sched_*", tracefsRoots: roots), [], "not CATEGORY/EVENT")
        XCTAssertTrue(ContextLayouts.isWildcard("sched/sched_[sw]*"))
        XCTAssertFalse(ContextLayouts.isWildcard("sched/sched_switch"))
    }

    static let source = """
    license "GPL"
    tracepoint "syscalls/sys_enter_get[pu]id" do |ctx|
      @c[probe] += 1
      @all["calls"] += 1
      puts "hit #{probe}"
    end
    """

    func testOneProgramPerMatchWithItsProbeName() throws {
        let c = try Compiler.compile(source: Self.source, path: "w.rb")
        XCTAssertEqual(c.object.programs.map(\.name), ["sys_enter_getpid", "sys_enter_getuid"])
        XCTAssertEqual(c.object.programs.map(\.section), ["tracepoint/syscalls/sys_enter_getpid", "tracepoint/syscalls/sys_enter_getuid"])
        let output = try XCTUnwrap(c.manifest.output)
        XCTAssertEqual(output.formats.map(\.format), ["hit tracepoint:syscalls:sys_enter_getpid\n", "hit tracepoint:syscalls:sys_enter_getuid\n"])
        XCTAssertEqual(c.manifest.mapNamed("c")?.keySize, 64)
        XCTAssertEqual(c.manifest.mapNamed("all")?.keySize, 64)
    }

    func testNoMatchIsAnErrorAtTheTracepointLine() throws {
        let source = "license \"GPL\"\n# counts\n  tracepoint \"sched/no_such_event_*\" do |ctx|\n  0\nend\n"
        XCTAssertThrowsError(try Compiler.compile(source: source, path: "w.rb")) { error in
            XCTAssertEqual((error as? Diagnostic)?.description.split(separator: "\n").first.map(String.init),
                           "w.rb:3:3: error: no tracepoint matches \"sched/no_such_event_*\"")
        }
    }

    func testProbeOutsideAWildcardNamesTheProgram() throws {
        let c = try Compiler.compile(source: "license \"GPL\"\nkprobe \"do_unlinkat\" do |ctx|\n  printf(\"%s\\n\", probe)\n  0\nend\nxdp do |ctx|\n  puts probe\n  2\nend\n", path: "p.rb")
        XCTAssertEqual(try XCTUnwrap(c.manifest.output).formats.map(\.format), ["kprobe:do_unlinkat\n", "xdp\n"])
    }

    func testAStringKeyLongerThanItsSlotIsAnError() throws {
        let long = String(repeating: "k", count: 64)
        let source = "license \"GPL\"\nxdp do |ctx|\n  @c[\"\(long)\"] += 1\n  2\nend\n"
        XCTAssertThrowsError(try Compiler.compile(source: source, path: "k.rb")) { error in
            let d = error as? Diagnostic
            XCTAssertEqual(d?.line, 3)
            XCTAssertTrue(d?.message.contains("has 64 bytes: an implicit map's string key holds at most 63") == true, "\(error)")
        }
        XCTAssertNoThrow(try Compiler.compile(source: "license \"GPL\"\nxdp do |ctx|\n  @c[\"\(long.dropLast())\"] += 1\n  2\nend\n", path: "k.rb"))
    }
}
