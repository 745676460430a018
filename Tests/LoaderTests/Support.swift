import Foundation
import XCTest
import InfraredRuntime

/// Helpers of the loader tests: where the `infrared` command and the static
/// runner are, a temporary directory per test, child processes whose output
/// is read while they run, and what the kernel has loaded.
enum LoaderSupport {
    /// The package root (…/Tests/LoaderTests/Support.swift → …).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `infrared` command built beside this test bundle (`swift build` first: `make test` does).
    static func infrared() throws -> String {
        if let env = ProcessInfo.processInfo.environment["INFRARED"], !env.isEmpty { return env }
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        var dir = me.deletingLastPathComponent()
        // xctest bundles on Linux are executables in the products directory.
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("infrared").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw SupportFailure("no infrared executable beside \(me.path): run `swift build` (make test does) or set INFRARED")
    }

    /// The static runner `make runner` builds (INFRARED_RUNNER, or .build-runner/release/infrared-runner).
    static func runner() throws -> String {
        let path = ProcessInfo.processInfo.environment["INFRARED_RUNNER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? packageRoot.appendingPathComponent(".build-runner/release/infrared-runner").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw SupportFailure("no static runner at \(path): build it with `make runner` (make test does), or set INFRARED_RUNNER")
        }
        return path
    }

    static func requireBPF() throws {
        if case .failure(let error) = Kernel.canLoadBPF() {
            throw SupportFailure("this machine cannot load BPF (uid \(geteuid())): \(error). Run the tests as root after Scripts/setup.sh.")
        }
        if !FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/sched") {
            _ = try? run("/bin/mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
        }
    }

    nonisolated(unsafe) private static var serial = 0
    private static let lock = NSLock()
    static func nextSerial() -> Int { lock.lock(); defer { lock.unlock() }; serial += 1; return serial }

    static func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp").appendingPathComponent("infrared-loadertest-\(getpid())-\(nextSerial())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return url
    }

    /// A program name no other test or process uses (BPF names keep 15 characters).
    static func uniqueName(_ prefix: String) -> String {
        prefix + String(format: "%05x", (Int(getpid()) * 31 + nextSerial() * 7919) & 0xfffff)
    }

    struct Result { var status: Int32; var stdout: String; var stderr: String }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], cwd: URL? = nil, input: String? = nil) throws -> Result {
        let p = ToolProcess(executable, arguments, cwd: cwd, input: input)
        try p.start()
        let status = p.wait(timeout: 120)
        return Result(status: status ?? -1, stdout: p.stdout, stderr: p.stderr)
    }

    /// `infrared gen loader SOURCE -o DIR/NAME` with the static runner; returns the tool's path.
    static func buildLoader(source: String, name: String, in dir: URL) throws -> String {
        let rb = dir.appendingPathComponent("\(name).rb")
        try source.write(to: rb, atomically: true, encoding: .utf8)
        let tool = dir.appendingPathComponent(name).path
        let r = try run(try infrared(), ["gen", "loader", rb.path, "-o", tool, "--runner", try runner()])
        guard r.status == 0 else { throw SupportFailure("gen loader failed (\(r.status)): \(r.stderr)") }
        return tool
    }

    /// A cgroup v2 directory (where cgroup2 is mounted: /sys/fs/cgroup, or
    /// /sys/fs/cgroup/unified on a hybrid hierarchy); loaders refuse others.
    static func cgroup2Root() throws -> String {
        let mounts = try run("/bin/cat", ["/proc/self/mounts"]).stdout
        let roots = mounts.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count > 2 && f[2] == "cgroup2" ? String(f[1]) : nil
        }
        guard let root = roots.first else { throw SupportFailure("no cgroup2 file system is mounted; run Scripts/setup.sh") }
        return root
    }

    // MARK: the kernel's view

    struct BPFProgram { var id: UInt32; var name: String }

    /// Every loaded program with its name (`bpftool --json prog show`).
    static func programs() throws -> [BPFProgram] {
        let r = try run("/usr/sbin/bpftool", ["--json", "prog", "show"])
        guard r.status == 0 else { throw SupportFailure("bpftool prog show: \(r.stderr)") }
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        return json.compactMap { o in (o["id"] as? NSNumber).map { BPFProgram(id: $0.uint32Value, name: o["name"] as? String ?? "") } }
    }

    /// Link ids and the program each holds (`bpftool --json link show`).
    static func links() throws -> [(id: UInt32, program: UInt32)] {
        let r = try run("/usr/sbin/bpftool", ["--json", "link", "show"])
        guard r.status == 0 else { throw SupportFailure("bpftool link show: \(r.stderr)") }
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] ?? []
        return json.compactMap { o in
            guard let id = (o["id"] as? NSNumber)?.uint32Value, let prog = (o["prog_id"] as? NSNumber)?.uint32Value else { return nil }
            return (id, prog)
        }
    }

    /// Programs whose (15-character) kernel name starts like one of `names`.
    static func programs(named names: [String]) throws -> [BPFProgram] {
        let prefixes = names.map { String($0.prefix(15)) }
        return try programs().filter { prefixes.contains($0.name) }
    }

    /// Waits until no program of these names is loaded (the kernel frees them from a workqueue).
    static func nothingLoaded(_ names: [String], seconds: Double = 5) throws -> [BPFProgram] {
        let deadline = Date().addingTimeInterval(seconds)
        var left = try programs(named: names)
        while !left.isEmpty && Date() < deadline {
            usleep(50_000)
            left = try programs(named: names)
        }
        return left
    }

    /// Spawns `n` children of this process (`/bin/true`), so their ppid is our pid.
    static func spawnTrue(_ n: Int) throws {
        for _ in 0..<n {
            let r = try run("/bin/true", [])
            precondition(r.status == 0)
        }
    }
}

struct SupportFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A child process whose stdout and stderr are collected while it runs.
final class ToolProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private let outPipe = Pipe(), errPipe = Pipe()
    private let done = DispatchGroup()

    /// What the process reads on standard input (nil: /dev/null).
    private let input: Data?
    private let inPipe = Pipe()

    init(_ executable: String, _ arguments: [String], cwd: URL? = nil, input: String? = nil) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = cwd }
        process.standardOutput = outPipe
        process.standardError = errPipe
        self.input = input.map { Data($0.utf8) }
        process.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    }

    func start() throws {
        defer {
            if let input {
                // Written after the process starts, then closed: the reader sees end of file.
                inPipe.fileHandleForWriting.write(input)
                try? inPipe.fileHandleForWriting.close()
            }
        }
        for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
            done.enter()
            let handle = pipe.fileHandleForReading
            Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    lock.lock()
                    if isOut { out.append(chunk) } else { err.append(chunk) }
                    lock.unlock()
                }
                done.leave()
            }.start()
        }
        try process.run()
    }

    var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: out, as: UTF8.self) }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: err, as: UTF8.self) }
    var pid: Int32 { process.processIdentifier }

    /// Waits until stderr contains `text` (true), or the process ends or time runs out (false).
    func waitForStderr(_ text: String, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            if !process.isRunning { return stderr.contains(text) }
            usleep(10_000)
        }
        return false
    }

    func waitForStdout(_ text: String, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            usleep(10_000)
        }
        return false
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// The exit status (nil on timeout, after which the process is killed).
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); _ = done.wait(timeout: .now() + 5); return nil }
        process.waitUntilExit()
        _ = done.wait(timeout: .now() + 5)
        return process.terminationStatus
    }
}

/// Base class: fails (not skips) every test when this machine cannot load BPF.
class LoaderKernelTestCase: XCTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try LoaderSupport.requireBPF()
    }
}

/// A kernel test with a fresh temporary directory `dir` per test, removed after it.
class LoaderDirectoryTestCase: LoaderKernelTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try super.setUpWithError()
        dir = try LoaderSupport.temporaryDirectory()
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
        try super.tearDownWithError()
    }
}
