import Foundation
import InfraredBTF
import BTFTestSupport
import XCTest

/// The real tools these tests use as oracles.
enum Tool {
    static let bpftool = "/usr/sbin/bpftool"
    static let clang = "/usr/bin/clang-14"
    static let gcc = "/usr/bin/gcc"
    static let objcopy = "/usr/bin/llvm-objcopy-14"
    static let pahole = "/usr/bin/pahole"
    static let xz = "/usr/bin/xz"
    static let gzip = "/usr/bin/gzip"
    static let zstd = "/usr/bin/zstd"
    static let lz4 = "/usr/bin/lz4"
    static let sh = "/bin/sh"
}

struct ToolResult {
    var status: Int32
    var output: Data
    var error: String
    var text: String { String(decoding: output, as: UTF8.self) }
}

/// Runs a tool; a missing tool fails the test (Scripts/setup.sh installs them all).
@discardableResult
func runTool(_ tool: String, _ arguments: [String], input: Data? = nil) throws -> ToolResult {
    _ = ignoreSIGPIPE
    guard FileManager.default.isExecutableFile(atPath: tool) else {
        throw XCTSkip("\(tool) is not installed (Scripts/setup.sh installs it)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = input == nil ? FileHandle.nullDevice : inPipe
    try p.run()
    if let input {
        DispatchQueue.global().async {
            inPipe.fileHandleForWriting.write(input)
            try? inPipe.fileHandleForWriting.close()
        }
    }
    // Read both pipes concurrently so a large output cannot block the tool.
    final class Box: @unchecked Sendable { var data = Data() }
    let errData = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let o = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return ToolResult(status: p.terminationStatus, output: o, error: String(decoding: errData.data, as: UTF8.self))
}

/// A tool that stops reading its input early must not kill the test process.
let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN); return () }()

/// Runs a tool and fails the test unless it exits 0; returns its standard output.
@discardableResult
func runOK(_ tool: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
    let r = try runTool(tool, arguments)
    XCTAssertEqual(r.status, 0, "\(tool) \(arguments.joined(separator: " ")) failed:\n\(r.error)", file: file, line: line)
    return r.output
}

/// The package root (Tests/BTFTests/Support.swift is three levels down).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The built `infrared` command beside the test bundle (`make test` and
/// `swift build` build it first).
func infraredBinary(file: StaticString = #filePath, line: UInt = #line) -> String {
    let b = Bundle(for: BTFTestsBundleMarker.self).bundleURL
    let candidates = [b.appendingPathComponent("infrared"), b.deletingLastPathComponent().appendingPathComponent("infrared")]
    if let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) { return found.path }
    XCTFail("no built infrared beside \(b.path): run `swift build` before `swift test`", file: file, line: line)
    return candidates[0].path
}
final class BTFTestsBundleMarker {}

/// Runs `infrared ARGS…`.
@discardableResult
func infrared(_ arguments: [String]) throws -> ToolResult { try runTool(infraredBinary(), arguments) }

/// A scratch directory removed when the test ends.
func scratchDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-btftests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// The kernel BTF fixtures in BTF/ (see BTF/VERSIONS, Scripts/update-btf.sh).
enum KernelFixture: String, CaseIterable {
    case debian61 = "6.1.0-56-cloud-amd64"
    case debian612 = "6.12.117+deb12-cloud-amd64"

    var compressedPath: String { packageRoot.appendingPathComponent("BTF/\(rawValue).btf.xz").path }

    /// The raw BTF, decompressed with `BTFFixtures` (cached for the test run).
    var bytes: [UInt8] {
        get throws {
            if let b = Self.cache[self] { return b }
            let raw = try BTFFixtures.rawBTF(rawValue, in: packageRoot)
            Self.cache[self] = raw
            return raw
        }
    }

    /// The raw BTF written to `dir` (for tools that read files).
    func write(to dir: URL) throws -> String {
        let url = dir.appendingPathComponent("\(rawValue).btf")
        try Data(try bytes).write(to: url)
        return url.path
    }

    /// The fixture's checksum in BTF/VERSIONS.
    var sha256: String? {
        guard let text = try? String(contentsOf: packageRoot.appendingPathComponent("BTF/VERSIONS"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(rawValue + " ") {
            return line.split(separator: " ").last.map(String.init)
        }
        return nil
    }

    nonisolated(unsafe) static var cache: [KernelFixture: [UInt8]] = [:]
}

/// The running kernel's BTF, or a skip naming why there is none.
func runningKernelBTF() throws -> String {
    guard FileManager.default.isReadableFile(atPath: KernelBTF.defaultPath) else {
        throw XCTSkip("the running kernel exposes no BTF at \(KernelBTF.defaultPath)")
    }
    return KernelBTF.defaultPath
}

/// Compiles BPF C (with `vmlinux.h` from `btf`) with clang-14 and returns the object's path.
func compileBPF(_ source: String, named name: String, vmlinuxFrom btf: String, in dir: URL) throws -> String {
    let header = try runOK(Tool.bpftool, ["btf", "dump", "file", btf, "format", "c"])
    try header.write(to: dir.appendingPathComponent("vmlinux.h"))
    let c = dir.appendingPathComponent("\(name).bpf.c"), o = dir.appendingPathComponent("\(name).bpf.o")
    try source.write(to: c, atomically: true, encoding: .utf8)
    try runOK(Tool.clang, ["-g", "-O2", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", dir.path, "-c", c.path, "-o", o.path])
    return o.path
}

/// sha256 of a file, through coreutils.
func sha256(_ path: String) throws -> String {
    String(try runTool("/usr/bin/sha256sum", [path]).text.prefix(64))
}
