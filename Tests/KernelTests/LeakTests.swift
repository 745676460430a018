import Foundation
import XCTest
import InfraredCompiler
import InfraredRuntime

/// Opening, loading, attaching and closing objects in a loop leaks no file
/// descriptor, program or link (what a long-running tool that reloads needs).
final class LeakTests: XCTestCase {
    override func setUpWithError() throws { try Support.requireBPF() }

    func openFDs() throws -> Int { try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count }

    func testTwentyFourLoadAttachCloseCyclesLeakNothing() throws {
        let compiled = try Compiler.compile(source: LanguageTests.execRecord, path: "leak.rb")
        // One warm-up cycle: libbpf and Foundation open a few descriptors once.
        do {
            let o = try LoadedObject(bytes: compiled.bytes)
            try o.attach(program: "sched_process_exec")
            _ = try RingBufferReader(object: o, map: "events") { (_: [UInt8]) in }
            o.close()
        }
        let fds = try openFDs(), programs = try Kernel.programIDs().count, links = try Kernel.linkIDs().count
        for _ in 0..<24 {
            let o = try LoadedObject(bytes: compiled.bytes)
            try o.attach(program: "sched_process_exec")
            let rb = try RingBufferReader(object: o, map: "events") { (_: [UInt8]) in }
            _ = kill(getpid(), 0)   // (no child process: Foundation keeps descriptors of its own for those)
            try rb.poll(timeoutMs: 10)
            o.close()
        }
        XCTAssertEqual(try openFDs(), fds, "file descriptors after 24 cycles")
        XCTAssertEqual(try Kernel.programIDs().count, programs, "programs after 24 cycles")
        XCTAssertEqual(try Kernel.linkIDs().count, links, "links after 24 cycles")
    }
}
