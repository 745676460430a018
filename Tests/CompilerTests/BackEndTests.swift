import Dispatch
import Foundation
import XCTest
@testable import InfraredCompiler

/// Programs' back ends (passes, selection, allocation, emission) run on all
/// cores while the front end lowers the next program. They must share
/// nothing: the object is byte for byte the one built one program at a
/// time, on every probe in the repository and on a file of many programs.
final class BackEndTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func compiled(_ source: String, path: String, parallel: Bool) throws -> [UInt8] {
        var options = CompileOptions()
        options.parallelBackEnds = parallel
        return try Compiler.compile(source: source, path: path, options: options).bytes
    }

    func testParallelBackEndsBuildTheSameObjects() throws {
        var files: [(String, String)] = []
        for dir in ["Examples", "Benchmarks/corpus"] {
            let d = Self.root.appendingPathComponent(dir)
            for f in try FileManager.default.contentsOfDirectory(atPath: d.path).sorted() where f.hasSuffix(".rb") {
                files.append((d.appendingPathComponent(f).path, try String(contentsOf: d.appendingPathComponent(f), encoding: .utf8)))
            }
        }
        // 18 examples and 46 corpus probes, as listed in the repository.
        XCTAssertEqual(files.count, 64)
        var programs = 0
        for (path, source) in files {
            let one = try compiled(source, path: path, parallel: false)
            XCTAssertEqual(try compiled(source, path: path, parallel: true), one, path)
            programs += try Compiler.compile(source: source, path: path).object.programs.count
        }
        XCTAssertGreaterThan(programs, files.count, "some file has several programs")
    }

    /// Which thread ran a job, reported as its outcome.
    struct Ran: Error { var onCaller: Bool }

    /// A few small programs' back ends wait and then run on the thread that
    /// asks for the results (starting the pool's threads costs more than
    /// they would share); a program of `poolThreshold` IR instructions
    /// starts the pool, whose thread runs it while the caller does not ask.
    func testSmallJobsWaitForTheCallerAndALargeOneStartsThePool() throws {
        let caller = pthread_self()
        let started = DispatchSemaphore(value: 0)
        let small = BackEndJobs(capacity: 3)
        let ran = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { ran.deallocate() }
        ran.pointee = 0
        for _ in 0..<3 {
            small.submit(size: BackEndJobs.poolThreshold / 4) {
                ran.pointee += 1
                return .failure(Ran(onCaller: pthread_equal(pthread_self(), caller) != 0))
            }
        }
        // Nothing ran yet, a while later: nothing started the pool and nobody asked.
        XCTAssertFalse(small.poolStarted)
        usleep(50_000)
        XCTAssertEqual(ran.pointee, 0)
        let outcomes = small.results()
        XCTAssertEqual(ran.pointee, 3)
        XCTAssertEqual(outcomes.map { if case .failure(let e as Ran) = $0 { return e.onCaller }; return false }, [true, true, true])

        let large = BackEndJobs(capacity: 2)
        large.submit(size: BackEndJobs.poolThreshold) {
            started.signal()
            return .failure(Ran(onCaller: pthread_equal(pthread_self(), caller) != 0))
        }
        XCTAssertTrue(large.poolStarted)
        // The pool runs it without the caller: waiting here would hang otherwise.
        XCTAssertEqual(started.wait(timeout: .now() + 60), .success, "the pool did not start")
        large.submit(size: 1) { .failure(Ran(onCaller: pthread_equal(pthread_self(), caller) != 0)) }
        let first = large.results().first
        guard case .failure(let e as Ran)? = first else { return XCTFail("no outcome") }
        XCTAssertFalse(e.onCaller)
    }

    /// 96 programs of six shapes (maps, branches, loops, strings, calls,
    /// packets), each job long enough for the pool to run several at once.
    func testManyProgramsInOneFileBuildTheSameObjectEachTime() throws {
        var source = "license \"GPL\"\nmap :c, :hash, key: :u32, value: :u64, max_entries: 1024\n"
        for i in 0..<96 {
            switch i % 6 {
            case 0: source += "tracepoint \"raw_syscalls/sys_enter\", name: \"p\(i)\" do |ctx|\n  c[\(i)] += 1 if pid == \(1000 + i)\n  0\nend\n"
            case 1: source += "xdp name: \"p\(i)\" do |ctx|\n  x = ctx.ingress_ifindex\n  x > \(i) ? 1 : 2\nend\n"
            case 2: source += "tracepoint \"raw_syscalls/sys_enter\", name: \"p\(i)\" do |ctx|\n  a = pid\n  \(i % 5 + 2).times { |j| a = (a ^ j) * 3 + \(i) }\n  c[0] = a\n  0\nend\n"
            case 3: source += "tracepoint \"raw_syscalls/sys_enter\", name: \"p\(i)\" do |ctx|\n  c[\(i)] += 1 if comm == \"p\(i)\"\n  0\nend\n"
            case 4: source += "tracepoint \"raw_syscalls/sys_enter\", name: \"p\(i)\" do |ctx|\n  c[ktime_get_ns & 7] += ctx.id\n  0\nend\n"
            default: source += "xdp name: \"p\(i)\" do |ctx|\n  case ctx.rx_queue_index\n  when 1, 3, 5, 7 then 1\n  when \(i) then 3\n  else 2\n  end\nend\n"
            }
        }
        let one = try compiled(source, path: "many.rb", parallel: false)
        XCTAssertEqual(try Compiler.compile(source: source, path: "many.rb").object.programs.count, 96)
        for _ in 0..<4 { XCTAssertEqual(try compiled(source, path: "many.rb", parallel: true), one) }
    }
}
