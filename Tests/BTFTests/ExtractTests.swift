import Foundation
import InfraredBTF
import InfraredKernelImage
import XCTest

/// `infrared btf extract` against `llvm-objcopy-14 -O binary --only-section=.BTF`
/// on the decompressed vmlinux: synthetic images in every compression, and
/// Debian's real 6.1 (lz4) and 6.12 (zstd) cloud kernels.
final class ExtractTests: XCTestCase {
    /// A small ELF with a `.BTF` section (a gcc object, `.BTF` added by objcopy).
    func smallELF(in dir: URL) throws -> (elf: String, btf: Data) {
        let c = dir.appendingPathComponent("k.c")
        try CoreFixtures.userProgram.write(to: c, atomically: true, encoding: .utf8)
        let o = dir.appendingPathComponent("k.o").path
        try runOK(Tool.gcc, ["-g", "-c", c.path, "-o", o])
        let btf = dir.appendingPathComponent("k.btf").path
        let r = try infrared(["btf", "from-dwarf", o, "-o", btf])
        XCTAssertEqual(r.status, 0, r.error)
        let elf = dir.appendingPathComponent("vmlinux").path
        // SHF_ALLOC, as in a vmlinux, so `-O binary --only-section` copies it.
        try runOK(Tool.objcopy, ["--add-section", ".BTF=\(btf)", "--set-section-flags", ".BTF=alloc,readonly,contents", o, elf])
        let expected = dir.appendingPathComponent("expected.btf").path
        try runOK(Tool.objcopy, ["-O", "binary", "--only-section=.BTF", elf, expected])
        return (elf, try Data(contentsOf: URL(fileURLWithPath: expected)))
    }

    func testEveryCompressionAndPlainELF() throws {
        let dir = try scratchDirectory(self)
        let (elf, expected) = try smallELF(in: dir)
        XCTAssertEqual(expected, try Data(contentsOf: dir.appendingPathComponent("k.btf")))
        let compressors: [(String, String, [String])] = [
            ("gzip", Tool.gzip, ["-9", "-c"]), ("xz", Tool.xz, ["--check=crc32", "-c"]),
            ("zstd", Tool.zstd, ["-q", "-19", "-c"]), ("lz4", Tool.lz4, ["-l", "-9", "-c"]),
        ]
        // Junk before the payload includes false starts of every magic.
        let junk = Data([0x4d, 0x5a, 0x1f, 0x8b, 0x00, 0x28, 0xb5, 0x2f, 0x00, 0x02, 0x21, 0x4c, 0x00, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x01] + Array(repeating: 0x90, count: 300))
        for (name, tool, args) in compressors {
            let payload = try runOK(tool, args + [elf])
            let image = dir.appendingPathComponent("vmlinuz-\(name)")
            try (junk + payload + Data([1, 2, 3, 4, 5, 6, 7, 8])).write(to: image)
            let out = dir.appendingPathComponent("\(name).btf")
            let r = try infrared(["btf", "extract", image.path, "-o", out.path])
            XCTAssertEqual(r.status, 0, "\(name): \(r.error)")
            XCTAssertEqual(try Data(contentsOf: out), expected, "\(name)")
        }
        // A bzImage setup header pointing at an lz4 payload followed by its
        // size, as the kernel's build lays it out.
        let payload = try runOK(Tool.lz4, ["-l", "-c", elf])
        var image = Data(count: 1024 + 0x100)
        image[0x1f1] = 1                                   // setup_sects: protected mode at 1024
        image.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        image.replaceSubrange(0x206..<0x208, with: [0x0f, 0x02])  // boot protocol 2.15
        image.replaceSubrange(0x248..<0x24c, with: le32(0x100))
        image.replaceSubrange(0x24c..<0x250, with: le32(UInt32(payload.count + 4)))
        image += payload + le32(UInt32(try Data(contentsOf: URL(fileURLWithPath: elf)).count))
        let bz = dir.appendingPathComponent("bzImage")
        try image.write(to: bz)
        let out = dir.appendingPathComponent("bz.btf")
        XCTAssertEqual(try infrared(["btf", "extract", bz.path, "-o", out.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: out), expected)
        // A vmlinux ELF as is.
        XCTAssertEqual(try infrared(["btf", "extract", elf, "-o", out.path]).status, 0)
        XCTAssertEqual(try Data(contentsOf: out), expected)
    }

    func le32(_ v: UInt32) -> Data { Data([UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)]) }

    /// Debian's images (Scripts/fetch-kernel-images.sh, the versions in
    /// BTF/VERSIONS, cached): ours equals objcopy's on the vmlinux that the
    /// zstd/lz4 command-line tools decompress, and the committed fixture.
    func testDebianKernelImages() throws {
        let images = try Self.debianImages()
        let dir = try scratchDirectory(self)
        for (release, vmlinuz) in images {
            let ours = dir.appendingPathComponent("\(release).btf").path
            let r = try infrared(["btf", "extract", vmlinuz, "-o", ours])
            XCTAssertEqual(r.status, 0, r.error)
            // Independent decompression, as scripts/extract-vmlinux does it.
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: vmlinuz)))
            let (offset, tool, args) = try XCTUnwrap(Self.firstPayload(bytes), release)
            let payloadFile = dir.appendingPathComponent("\(release).payload")
            try Data(bytes[offset...]).write(to: payloadFile)
            // The bytes after the stream make the tools complain; the ELF they print is whole.
            let vmlinux = try runTool(tool, args + [payloadFile.path]).output
            XCTAssertTrue(vmlinux.starts(with: [0x7f, 0x45, 0x4c, 0x46]), "\(release): \(tool) did not produce an ELF")
            let elf = dir.appendingPathComponent("\(release).vmlinux")
            try vmlinux.write(to: elf)
            let objcopied = dir.appendingPathComponent("\(release).objcopy.btf").path
            try runOK(Tool.objcopy, ["-O", "binary", "--only-section=.BTF", elf.path, objcopied])
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: ours)), try Data(contentsOf: URL(fileURLWithPath: objcopied)), release)
            if let fixture = KernelFixture(rawValue: release) {
                XCTAssertEqual(try sha256(ours), fixture.sha256, "\(release): differs from BTF/\(release).btf.xz")
                XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: ours))), try fixture.bytes)
            }
        }
    }

    /// Truncations and bit flips of a real image: an error, never a crash.
    func testMutatedDebianImage() throws {
        let images = try Self.debianImages()
        let (_, vmlinuz) = try XCTUnwrap(images.first { $0.0.hasPrefix("6.1.") } ?? images.first)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: vmlinuz)))
        let payload = try XCTUnwrap(Self.firstPayload(bytes)).0
        var cuts = [0, 1, 100, 0x1f1, 0x202, 0x250, payload, payload + 3, payload + 100, payload + 5000]
        cuts += stride(from: bytes.count / 10, to: bytes.count, by: bytes.count / 6).map { $0 }
        for cut in cuts {
            XCTAssertThrowsError(try KernelImage(bytes: Array(bytes[..<cut]), source: "cut@\(cut)").btf(), "cut at \(cut)") {
                XCTAssertTrue($0 is BTFFormatError, "cut at \(cut): \($0)")
            }
        }
        for flip in [0x202, 0x248, 0x24c, payload, payload + 2, payload + 7, payload + 4096, bytes.count - 2] {
            var m = bytes
            m[flip] ^= 0x10
            do {
                _ = try BTFSpec(bytes: try KernelImage(bytes: m, source: "flip@\(flip)").btf())
            } catch {
                XCTAssertTrue(error is BTFFormatError, "flip at \(flip): \(error)")
            }
        }
    }

    /// (release, vmlinuz path) of the pinned Debian images, fetched and cached.
    static func debianImages() throws -> [(String, String)] {
        let r = try runTool("/bin/bash", [packageRoot.appendingPathComponent("Scripts/fetch-kernel-images.sh").path])
        guard r.status == 0 else {
            throw XCTSkip("cannot fetch Debian's kernel images with apt: \(r.error.trimmingCharacters(in: CharacterSet.whitespacesAndNewlines))")
        }
        return r.text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 3 else { return nil }
            let path = String(f[2])
            return (String(path.split(separator: "/").last!.dropFirst("vmlinuz-".count)), path)
        }
    }

    /// Where the first zstd or lz4 stream starts, and the tool that decodes it.
    static func firstPayload(_ b: [UInt8]) -> (Int, String, [String])? {
        for i in 0..<(b.count - 4) {
            if b[i] == 0x28, b[i + 1] == 0xb5, b[i + 2] == 0x2f, b[i + 3] == 0xfd { return (i, Tool.zstd, ["-dc"]) }
            if b[i] == 0x02, b[i + 1] == 0x21, b[i + 2] == 0x4c, b[i + 3] == 0x18 { return (i, Tool.lz4, ["-dc"]) }
        }
        return nil
    }
}
