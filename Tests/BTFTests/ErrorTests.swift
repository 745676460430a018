import Foundation
import InfraredBTF
import InfraredELF
import InfraredKernelImage
import XCTest

/// Truncated, corrupt and wrong inputs: one clear `infrared: error: …`,
/// exit status 1, no crash, nothing left at `-o` — and, whenever our
/// stricter decoder accepts a mutated BTF, the same dump as bpftool's.
final class ErrorTests: XCTestCase {
    /// A small real BTF: the `.BTF` of a clang-built CO-RE object (FUNC,
    /// VAR, DATASEC, kernel types) — few kilobytes, so every offset can be tried.
    func smallBTF(in dir: URL) throws -> [UInt8] {
        let object = try compileBPF(CoreFixtures.program, named: "small", vmlinuxFrom: try KernelFixture.debian61.write(to: dir), in: dir)
        let elf = try ELFFile(path: object)
        return elf.contents(of: try XCTUnwrap(elf.section(named: ".BTF")))
    }

    func testEveryTruncationOfABTFIsAnError() throws {
        let dir = try scratchDirectory(self)
        let btf = try smallBTF(in: dir)
        XCTAssertNoThrow(try BTFSpec(bytes: btf))
        for cut in 0..<btf.count {
            XCTAssertThrowsError(try BTFSpec(bytes: Array(btf[..<cut]), source: "cut@\(cut)")) {
                XCTAssertTrue($0 is BTFFormatError, "cut at \(cut): \($0)")
            }
        }
        // The kernel's BTF, cut at many places.
        let kernel = try KernelFixture.debian612.bytes
        // A dozen cuts: each parse of a kernel-sized BTF takes a while in a debug build.
        for cut in stride(from: 0, to: kernel.count, by: kernel.count / 11) + [kernel.count - 1] {
            XCTAssertThrowsError(try BTFSpec(bytes: Array(kernel[..<cut]))) { XCTAssertTrue($0 is BTFFormatError) }
        }
    }

    /// One bit flipped at many offsets: no crash; where we accept the
    /// result, bpftool prints exactly what we print (raw and C).
    func testBitFlipsDecodeSafelyAndMatchBpftool() throws {
        let dir = try scratchDirectory(self)
        let btf = try smallBTF(in: dir)
        var accepted = 0, rejected = 0
        // ~500 offsets spread over the whole blob (header, types, strings);
        // bpftool runs on a sample of the accepted ones (a process each).
        for offset in stride(from: 0, to: btf.count, by: max(1, btf.count / 500)) {
            var m = btf
            m[offset] ^= UInt8(1 << (offset % 8))
            let spec: BTFSpec
            do { spec = try BTFSpec(bytes: m, source: "flip@\(offset)") } catch {
                XCTAssertTrue(error is BTFFormatError, "flip at \(offset): \(error)")
                rejected += 1
                continue
            }
            accepted += 1
            guard accepted % 4 == 1 else { continue }
            let file = dir.appendingPathComponent("flip.btf")
            try Data(m).write(to: file)
            let theirs = try runTool(Tool.bpftool, ["btf", "dump", "file", file.path, "format", "raw"])
            XCTAssertEqual(theirs.status, 0, "flip at \(offset): we accept what bpftool rejects")
            XCTAssertEqual(Data(BTFDump.raw(spec)), theirs.output, "flip at \(offset): raw dumps differ")
            if accepted % 32 == 1 {
                XCTAssertEqual(Data(try BTFDump.c(spec)), try runOK(Tool.bpftool, ["btf", "dump", "file", file.path, "format", "c"]), "flip at \(offset): C dumps differ")
            }
        }
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertGreaterThan(rejected, 0)
        // Flips in the kernel's BTF.
        let kernel = try KernelFixture.debian61.bytes
        for offset in stride(from: 3, to: kernel.count, by: kernel.count / 5) {
            var m = kernel
            m[offset] ^= 0x40
            do { _ = try BTFSpec(bytes: m) } catch { XCTAssertTrue(error is BTFFormatError, "\(error)") }
        }
    }

    func testELFTruncationsAndFlips() throws {
        let dir = try scratchDirectory(self)
        let object = try compileBPF(CoreFixtures.program, named: "elf", vmlinuxFrom: try KernelFixture.debian61.write(to: dir), in: dir)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: object)))
        for cut in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 400)) {
            XCTAssertThrowsError(try BTFSpec(bytes: Array(bytes[..<cut]))) { XCTAssertTrue($0 is BTFFormatError, "cut at \(cut): \($0)") }
        }
        for offset in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 400)) {
            var m = bytes
            m[offset] ^= UInt8(1 << (offset % 8))
            do { _ = try BTFSpec(bytes: m) } catch { XCTAssertTrue(error is BTFFormatError || error is BTFError, "flip at \(offset): \(error)") }
            do { _ = try KernelImage(bytes: m, source: "x").btf() } catch { XCTAssertTrue(error is BTFFormatError, "flip at \(offset): \(error)") }
        }
    }

    /// Each command on bad input: the contract's message and status, and
    /// an existing output file left as it was.
    func testCommandLineErrors() throws {
        let dir = try scratchDirectory(self)
        let garbage = dir.appendingPathComponent("garbage.bin")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37) }).write(to: garbage)
        let kernel = try KernelFixture.debian61.bytes
        let truncated = dir.appendingPathComponent("truncated.btf")
        try Data(kernel[..<(kernel.count / 2)]).write(to: truncated)
        var wrongMagic = kernel
        wrongMagic[0] = 0x00
        let badMagic = dir.appendingPathComponent("badmagic.btf")
        try Data(wrongMagic).write(to: badMagic)
        let out = dir.appendingPathComponent("out.btf")
        let missing = dir.appendingPathComponent("missing").path

        let cases: [([String], String)] = [
            (["btf", "dump", truncated.path], "truncated BTF"),
            (["btf", "dump", badMagic.path, "--format", "c"], "neither BTF (magic 0xeb00, expected 0xeb9f) nor an ELF file"),
            (["btf", "dump", missing], "no such file"),
            (["btf", "extract", garbage.path, "-o", out.path], "not a kernel image"),
            (["btf", "extract", truncated.path, "-o", out.path], "not a kernel image"),
            (["btf", "from-dwarf", garbage.path, "-o", out.path], "not an ELF file"),
            (["btf", "min", garbage.path, "--btf", KernelFixture.debian61.compressedPath, "-o", out.path], "not an ELF file"),
            (["btf", "min", missing, "--btf", truncated.path, "-o", out.path], "truncated BTF"),
        ]
        for (args, expected) in cases {
            try Data("keep".utf8).write(to: out)
            let r = try infrared(args)
            XCTAssertEqual(r.status, 1, "\(args): \(r.error)")
            XCTAssertTrue(r.error.hasPrefix("infrared: error: "), "\(args): \(r.error)")
            XCTAssertTrue(r.error.contains(expected), "\(args): expected '\(expected)' in \(r.error)")
            XCTAssertEqual(r.error.split(separator: "\n").count, 1, "\(args): one line: \(r.error)")
            XCTAssertTrue(r.output.isEmpty, "\(args): printed to stdout")
            XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "keep", "\(args): touched the output")
        }
        // No temporary files left beside the output.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix(".") }, [])
    }
}
