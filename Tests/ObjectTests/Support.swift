import BPF
import Foundation
import InfraredObject
import XCTest

/// The real tools these tests use as oracles.
enum Tool {
    static let bpftool = "/usr/sbin/bpftool"
    static let objdump = "/usr/bin/llvm-objdump-14"
    static let readelf = "/usr/bin/llvm-readelf-14"
    static let objcopy = "/usr/bin/llvm-objcopy-14"
    static let clang = "/usr/bin/clang-14"
}

struct ToolResult {
    var status: Int32
    var output: String
    var error: String
}

/// Runs a tool and returns its exit status and output.
@discardableResult
func run(_ tool: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ToolResult {
    guard FileManager.default.isExecutableFile(atPath: tool) else {
        throw XCTSkip("\(tool) is not installed")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    // Read before waiting so a large output cannot fill the pipe and block the tool.
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return ToolResult(status: p.terminationStatus, output: String(decoding: o, as: UTF8.self),
                      error: String(decoding: e, as: UTF8.self))
}

/// Runs a tool and fails the test unless it exits 0.
@discardableResult
func runOK(_ tool: String, _ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = try run(tool, arguments)
    XCTAssertEqual(r.status, 0, "\(tool) \(arguments.joined(separator: " ")) failed:\n\(r.output)\n\(r.error)", file: file, line: line)
    return r.output
}

/// A scratch directory removed when the test ends.
func scratchDirectory(_ test: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("infrared-objtests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Writes `bytes` as `name` in a scratch directory and returns the path.
func writeObject(_ bytes: [UInt8], named name: String, in test: XCTestCase) throws -> String {
    let url = try scratchDirectory(test).appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
}

/// Skips tests that load programs when they cannot: they need root.
func requireRoot() throws {
    guard geteuid() == 0 else { throw XCTSkip("loading BPF programs needs root (euid \(geteuid()))") }
}

/// The bpffs mount to pin programs in, mounting it when absent.
func bpffs() throws -> String {
    let path = "/sys/fs/bpf"
    let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
    if mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().prefix(2) == [Substring(path), "bpf"] }) {
        return path
    }
    let r = try run("/bin/mount", ["-t", "bpf", "bpf", path])
    guard r.status == 0 else { throw XCTSkip("no bpffs at \(path) and mounting it failed: \(r.error)") }
    return path
}

/// Loads `object` with `bpftool prog load`, pinned under a fresh name,
/// runs `body` with the pin path, and unpins.
func withLoadedProgram(_ object: String, _ name: String, _ test: XCTestCase,
                       file: StaticString = #filePath, line: UInt = #line, _ body: (String) throws -> Void) throws {
    try requireRoot()
    let pin = "\(try bpffs())/infrared-objtest-\(getpid())-\(name)"
    unlink(pin)
    let r = try run(Tool.bpftool, ["prog", "load", object, pin])
    guard r.status == 0 else {
        XCTFail("bpftool prog load \(object) failed (the verifier or libbpf rejected it):\n\(r.output)\n\(r.error)", file: file, line: line)
        return
    }
    defer { unlink(pin) }
    try body(pin)
}

/// The Ruby source the line-info tests point at.
let probeSource = """
# socket probe
socket do |skb|
  x = 7
  x += 1
  x
end
"""

/// A small ObjectFile around one program.
func makeObject(_ instructions: [Instruction], name: String = "prog", section: String = "socket",
            relocations: [Relocation] = [], lines: [LineInfo] = [], strings: [UInt8] = [],
            parameters: [(name: String, type: ProgramBTFSpec.CType)] = [],
            kernelBTFPath: String? = "/sys/kernel/btf/vmlinux") -> ObjectFile {
    let int = ProgramBTFSpec.CType.int(name: "int", size: 4, signed: true)
    return ObjectFile(
        license: "GPL",
        programs: [ProgramSection(name: name, section: section, instructions: instructions,
                                  relocations: relocations, lines: lines, function: 0)],
        stringLiterals: strings,
        btf: ProgramBTFSpec(functions: [.init(name: name, returnType: int, parameters: parameters)],
                            kernelBTFPath: kernelBTFPath),
        sourcePath: "probe.rb",
        sourceLines: probeSource.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
}
