import Foundation
import XCTest
import InfraredRuntime

/// Shared helpers of the kernel tests: compiling C with clang, fresh cgroup v2
/// directories, running a child process inside one, listing programs.
enum Support {
    // MARK: failing, not skipping

    /// Fails the current test (by throwing from `setUpWithError`) unless this
    /// process can load BPF: every kernel test needs it, and a machine where
    /// it cannot is a broken test machine, not a reason to skip.
    static func requireBPF(file: StaticString = #filePath, line: UInt = #line) throws {
        if case .failure(let error) = Kernel.canLoadBPF() {
            throw SupportError("this machine cannot load BPF (uid \(geteuid())): \(error). Run the tests as root after Scripts/setup.sh.")
        }
    }

    // MARK: clang

    /// The clang used for C fixtures (`CLANG` overrides).
    static var clang: String { ProcessInfo.processInfo.environment["CLANG"] ?? "clang-14" }

    /// Compiles `source` with `clang -O2 -g -target bpf -c` in a fresh temporary
    /// directory and returns the object's bytes.
    static func compileC(_ source: String, name: String = "fixture") throws -> [UInt8] {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let c = dir.appendingPathComponent("\(name).bpf.c"), o = dir.appendingPathComponent("\(name).bpf.o")
        try source.write(to: c, atomically: true, encoding: .utf8)
        // <linux/bpf.h> includes <asm/types.h>, which lives under the host's
        // multiarch directory; `-target bpf` does not search it.
        let multiarch = "/usr/include/\(machine())-linux-gnu"
        let result = try run(clang, ["-O2", "-g", "-target", "bpf", "-I", multiarch, "-c", c.path, "-o", o.path])
        guard result.status == 0 else {
            throw SupportError("\(clang) failed (\(result.status)) on \(name).bpf.c:\n\(result.stderr)")
        }
        return Array(try Data(contentsOf: o))
    }

    static func machine() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-test-\(getpid())-\(nextSerial())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    // MARK: processes

    struct ProcessResult { var status: Int32; var stdout: String; var stderr: String }

    /// Runs `executable` (a path, or a name looked up in PATH) and waits for it.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read before waiting so a chatty child cannot fill the pipe and stall.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }

    // MARK: cgroups

    /// Where cgroup v2 is mounted: `/sys/fs/cgroup/unified` (hybrid hosts)
    /// or whichever `cgroup2` mount /proc/self/mounts lists first.
    static func cgroup2Root() throws -> String {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        let roots = mounts.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ")
            return f.count > 2 && f[2] == "cgroup2" ? String(f[1]) : nil
        }
        if roots.contains("/sys/fs/cgroup/unified") { return "/sys/fs/cgroup/unified" }
        guard let root = roots.first else {
            throw SupportError("no cgroup2 mount (expected /sys/fs/cgroup/unified); run Scripts/setup.sh")
        }
        return root
    }

    /// A fresh cgroup v2 directory `infrared-test-<pid>-<n>`, removed by `remove()`.
    final class Cgroup {
        let path: String
        init() throws {
            path = try Support.cgroup2Root() + "/infrared-test-\(getpid())-\(Support.nextSerial())"
            guard mkdir(path, 0o755) == 0 else {
                throw SupportError("mkdir \(path): \(String(cString: strerror(errno)))")
            }
        }

        /// Runs `/bin/sh -c 'echo $$ > PATH/cgroup.procs && exec COMMAND'`:
        /// the shell moves itself into the cgroup, then becomes `command`.
        func run(_ command: String) throws -> ProcessResult {
            try Support.run("/bin/sh", ["-c", "echo $$ > '\(path)/cgroup.procs' && exec \(command)"])
        }

        /// The exit status of `head -c1 DEVICE` run inside the cgroup (0: it could open it).
        func readDevice(_ device: String) throws -> ProcessResult {
            try run("head -c1 \(device)")
        }

        /// Removes the directory; its processes have exited, but the kernel may
        /// take a moment to let go of them, so retry briefly on EBUSY.
        func remove() {
            for _ in 0..<50 {
                if rmdir(path) == 0 || errno == ENOENT { return }
                usleep(20_000)
            }
            print("warning: could not remove \(path): \(String(cString: strerror(errno)))")
        }
    }

    // MARK: bpftool

    /// Program ids `bpftool prog show` lists.
    static func bpftoolProgramIDs() throws -> Set<UInt32> { try bpftoolIDs(["prog", "show"]) }
    /// Link ids `bpftool link show` lists.
    static func bpftoolLinkIDs() throws -> Set<UInt32> { try bpftoolIDs(["link", "show"]) }

    private static func bpftoolIDs(_ command: [String]) throws -> Set<UInt32> {
        let result = try run("bpftool", ["--json"] + command)
        guard result.status == 0 else { throw SupportError("bpftool \(command.joined(separator: " ")) failed: \(result.stderr)") }
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]] ?? []
        return Set(json.compactMap { ($0["id"] as? NSNumber)?.uint32Value })
    }

    // MARK: misc

    nonisolated(unsafe) private static var serial = 0
    private static let serialLock = NSLock()
    static func nextSerial() -> Int {
        serialLock.lock(); defer { serialLock.unlock() }
        serial += 1
        return serial
    }

    /// A packet of `count` bytes: an Ethernet header with `etherType`, then zeros.
    static func packet(count: Int = 64, etherType: UInt16 = 0x0800) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<6 { bytes[i] = 0xff }          // broadcast destination
        bytes[6] = 0x02                              // locally administered source
        bytes[12] = UInt8(etherType >> 8)
        bytes[13] = UInt8(etherType & 0xff)
        return bytes
    }

    /// Polls `condition` for up to `seconds`: the kernel frees some objects
    /// from a workqueue after the last fd closes.
    static func eventually(_ seconds: Double = 2, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if try condition() { return true }
            usleep(20_000)
        } while Date() < deadline
        return try condition()
    }
}

struct SupportError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Base class of tests that need the kernel: fails each test when BPF
/// cannot be loaded on this machine.
class KernelTestCase: XCTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try Support.requireBPF()
    }
}
