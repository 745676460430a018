import CLibBPF
import Foundation
import InfraredObject
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// libbpf's own messages (warnings and debug), captured so a failed open
/// or load shows why — the CO-RE decisions, the verifier log.
enum LibbpfLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var buffer = ""
    nonisolated(unsafe) private static var installed = false

    /// Starts capturing (once per process) and clears what was captured.
    static func reset() {
        lock.lock(); defer { lock.unlock() }
        buffer = ""
        if !installed {
            installed = true
            _ = libbpf_set_print { _, format, args in
                guard let format, let args else { return 0 }
                var line = [CChar](repeating: 0, count: 4096)
                _ = vsnprintf(&line, line.count, format, args)
                LibbpfLog.append(String(cString: line))
                return 0
            }
        }
    }

    static func append(_ s: String) { lock.lock(); buffer += s; lock.unlock() }

    /// What libbpf printed since the last `reset()`.
    static var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
}

/// A libbpf `bpf_object` opened from bytes, closed on deinit.
final class OpenedObject {
    let object: OpaquePointer

    /// Opens `bytes` with bpf_object__open_mem; fails the test with libbpf's log if it cannot.
    init(_ bytes: [UInt8], name: String = "probe", file: StaticString = #filePath, line: UInt = #line) throws {
        LibbpfLog.reset()
        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let obj = name.withCString { n -> OpaquePointer? in
            opts.object_name = n
            return bytes.withUnsafeBytes { bpf_object__open_mem($0.baseAddress, $0.count, &opts) }
        }
        guard let obj else {
            let e = errno
            XCTFail("bpf_object__open_mem rejected the object (errno \(e)):\n\(LibbpfLog.text)", file: file, line: line)
            throw ObjectTestError("open failed")
        }
        object = obj
    }

    deinit { bpf_object__close(object) }

    func program(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> OpaquePointer {
        try XCTUnwrap(bpf_object__find_program_by_name(object, name), "libbpf found no program \(name)", file: file, line: line)
    }

    func map(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> OpaquePointer {
        try XCTUnwrap(bpf_object__find_map_by_name(object, name), "libbpf found no map \(name)", file: file, line: line)
    }

    /// Loads the object into the kernel (CO-RE relocation happens here);
    /// fails the test with libbpf's log (and so the verifier's) if it cannot.
    func load(file: StaticString = #filePath, line: UInt = #line) throws {
        try requireRoot()
        LibbpfLog.reset()
        let err = bpf_object__load(object)
        if err != 0 {
            XCTFail("bpf_object__load failed: \(err)\n\(LibbpfLog.text)", file: file, line: line)
            throw ObjectTestError("load failed")
        }
    }
}

struct ObjectTestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// BPF_PROG_TEST_RUN; with `packet`, as a socket filter gets it. The program's return value.
func runProgram(_ program: OpaquePointer, packet: Int? = 64, file: StaticString = #filePath, line: UInt = #line) throws -> UInt32 {
    var data = [UInt8](repeating: 0, count: packet ?? 0)
    var opts = bpf_test_run_opts()
    opts.sz = MemoryLayout<bpf_test_run_opts>.size
    opts.data_size_in = UInt32(data.count)
    let fd = bpf_program__fd(program)
    let err = data.withUnsafeMutableBytes { p -> Int32 in
        if packet != nil { opts.data_in = UnsafeRawPointer(p.baseAddress) }
        return bpf_prog_test_run_opts(fd, &opts)
    }
    XCTAssertEqual(err, 0, "BPF_PROG_TEST_RUN failed: errno \(errno)", file: file, line: line)
    return opts.retval
}

/// Reads element `key` (a u32) of a loaded map as bytes.
func lookup(_ map: OpaquePointer, key: UInt32, file: StaticString = #filePath, line: UInt = #line) -> [UInt8] {
    var k = key
    var value = [UInt8](repeating: 0, count: Int(bpf_map__value_size(map)))
    let err = value.withUnsafeMutableBytes { bpf_map_lookup_elem(bpf_map__fd(map), &k, $0.baseAddress) }
    XCTAssertEqual(err, 0, "bpf_map_lookup_elem(\(String(cString: bpf_map__name(map))), \(key)) failed: errno \(errno)", file: file, line: line)
    return value
}

/// Little-endian integer of `bytes[at..<at+n]`.
func littleEndian(_ bytes: [UInt8], at: Int = 0, count: Int) -> UInt64 {
    (0..<count).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) }
}

/// The `.BTF.ext` of an object file and the `.BTF` string table its offsets point into.
func decodedBTFExt(_ path: String, in test: XCTestCase) throws -> (ext: BTFExt, strings: [UInt32: String]) {
    let dir = try scratchDirectory(test).path
    try runOK(Tool.objcopy, ["--dump-section", ".BTF.ext=\(dir)/ext.bin", "--dump-section", ".BTF=\(dir)/btf.bin", path])
    let ext = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/ext.bin")))
    let btf = Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/btf.bin")))
    func u32(_ at: Int) -> Int { Int(btf[at]) | Int(btf[at + 1]) << 8 | Int(btf[at + 2]) << 16 | Int(btf[at + 3]) << 24 }
    let headerLength = u32(4), start = headerLength + u32(16), length = u32(20)
    var strings: [UInt32: String] = [:], at = start
    while at < start + length {
        let end = btf[at...].firstIndex(of: 0)!
        strings[UInt32(at - start)] = String(decoding: btf[at..<end], as: UTF8.self)
        at = end + 1
    }
    return (try BTFExt.decode(bytes: ext), strings)
}
