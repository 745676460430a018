import XCTest
@testable import InfraredCompiler

/// `Checks.checkLoopsProgress` on IR as `--dump-after` prints it: a loop
/// whose exit tests read nothing the loop changes from one turn to the next
/// is refused; one whose test reads a value updated from itself is not.
final class LoopCheckTests: XCTestCase {
    func check(_ text: String) throws {
        try Checks.checkLoopsProgress(try IRFunction(parsing: text), path: "p.rb")
    }
    func assertRefused(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try check(text), file: file, line: line) { error in
            XCTAssertTrue((error as? Diagnostic)?.message.contains("reads nothing the loop changes") == true, "\(error)", file: file, line: line)
        }
    }

    func testACounterTheTestReadsIsProgress() throws {
        XCTAssertNoThrow(try check("""
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            br.sge %1, 10 ? b3 : b2
        b2:
            %2 = add %1, 1
            %1 = %2
            jump b1
        b3:
            ret %1

        """))
    }

    func testATestOfAValueTheBodyNeverAssignsIsRefused() {
        assertRefused("""
        function f(ctx: %0):
        b0:
            %1 = load.u32 [%0 + 12]
            %2 = 0
            jump b1
        b1:
            br.sge %1, 10 ? b3 : b2
        b2:
            %2 = add %2, 1
            jump b1
        b3:
            ret %2

        """)
    }

    /// `while @flag[0] == 0`: the key rebuilt each turn from a constant, the
    /// value loaded through the lookup's pointer; the loop writes no memory.
    func testAPolledMapValueIsRefused() {
        assertRefused("""
        function f(ctx: %0):
        b0:
            %1 = 0
            jump b1
        b1:
            store.64 [fp-8] = 0
            %2 = &map flag
            %3 = fp-8
            %4 = call 1(%2, %3)
            br.eq %4, 0 ? b1 : b2
        b2:
            %5 = load.u64 [%4 + 0]
            br.ne %5, 0 ? b4 : b3
        b3:
            %1 = add %1, 1
            jump b1
        b4:
            ret %1

        """)
    }

    /// A counter kept in a stack slot (a struct field): stored from its own load.
    func testACounterInAStackSlotIsProgress() throws {
        XCTAssertNoThrow(try check("""
        function f(ctx: %0):
        b0:
            store.32 [fp-8] = 0
            jump b1
        b1:
            %1 = load.u32 [fp-8]
            br.uge %1, 8 ? b3 : b2
        b2:
            %2 = add %1, 1
            store.32 [fp-8] = %2
            jump b1
        b3:
            ret 0

        """))
    }

    /// A pointer walked by probe reads into the stack (`t = t.real_parent`).
    func testAPointerWalkedThroughTheStackIsProgress() throws {
        XCTAssertNoThrow(try check("""
        function f(ctx: %0):
        b0:
            %1 = call 35()
            jump b1
        b1:
            %2 = fp-8
            %3 = add %1, 2456
            call 113(%2, 8, %3)
            %1 = load.u64 [fp-8]
            br.eq %1, 0 ? b2 : b1
        b2:
            ret 0

        """))
    }

    /// A loop with no exit is `checkLoopsTerminate`'s error, not this one's.
    func testALoopWithoutAnExitIsLeftToTheTerminationCheck() throws {
        XCTAssertNoThrow(try check("""
        function f(ctx: %0):
        b0:
            jump b1
        b1:
            jump b1

        """))
    }
}
