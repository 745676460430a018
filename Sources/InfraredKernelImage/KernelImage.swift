import InfraredBTF
import InfraredCompression
import InfraredELF
import InfraredSupport

/// A kernel image and the vmlinux ELF inside it: a bzImage (`vmlinuz`)
/// whose payload is compressed with gzip, zstd, lz4 or xz, any file with
/// such a compressed vmlinux somewhere inside, or a vmlinux ELF as is.
///
/// Finding the payload: a bzImage's setup header (Documentation/arch/x86/boot.rst,
/// "The Real-Mode Kernel Header": `HdrS` at 0x202, `setup_sects` at 0x1f1,
/// `payload_offset`/`payload_length` at 0x248/0x24c, protocol 2.08+) says
/// exactly where the compressed vmlinux is. Without one, every place where a
/// known compression magic occurs is tried in file order until one
/// decompresses to an ELF file — what the kernel's
/// scripts/extract-vmlinux does with its `grep`/`tail` loop.
public struct KernelImage: Sendable {
    public var source: String
    /// How the vmlinux was stored (nil: the input was the ELF itself).
    public var compression: Compression?
    /// Offset of the compressed payload in the input.
    public var payloadOffset: Int
    /// The decompressed vmlinux ELF (for a bzImage, possibly followed by the
    /// relocation table the decompressor appends: harmless to ELF readers).
    public var vmlinux: [UInt8]

    public init(path: String) throws {
        try self.init(bytes: try readFile(path), source: path)
    }

    public init(bytes: [UInt8], source: String) throws {
        self.source = source
        func fail(_ m: String) -> FormatError { FormatError(source, m) }
        if bytes.starts(with: ELFFile.magic) {
            compression = nil; payloadOffset = 0; vmlinux = bytes
            return
        }
        if let (offset, length) = Self.bzImagePayload(bytes) {
            guard let format = Compression.detect(bytes[offset...]) else {
                throw fail("bzImage payload at offset \(offset) is not gzip, zstd, lz4 or xz (magic \(bytes[offset..<min(offset + 4, bytes.count)].map { String(format2: $0) }.joined(separator: " ")))")
            }
            let out = try format.decompress(bytes[offset..<offset + length], source: "\(source): bzImage payload")
            guard out.starts(with: ELFFile.magic) else { throw fail("bzImage payload (\(format.rawValue)) does not decompress to an ELF file") }
            compression = format; payloadOffset = offset; vmlinux = out
            return
        }
        // No usable setup header: try each magic occurrence in order.
        var firstError: Error?
        var tried = 0
        for (offset, format) in Self.magicOccurrences(bytes) {
            tried += 1
            if tried > 64 { break }
            do {
                let out = try format.decompress(bytes[offset...], source: "\(source): \(format.rawValue) stream at offset \(offset)")
                if out.starts(with: ELFFile.magic) {
                    compression = format; payloadOffset = offset; vmlinux = out
                    return
                }
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError {
            throw fail("not a kernel image: no ELF header, and no compressed stream in it decompresses to an ELF file (first try: \(firstError))")
        }
        if bytes.count >= 0x206, Array(bytes[0x202..<0x206]) == Array("HdrS".utf8) {
            throw fail("bzImage with no usable payload (truncated or corrupt setup header)")
        }
        throw fail("not a kernel image: no ELF header and no gzip, zstd, lz4 or xz stream found")
    }

    /// The raw `.BTF` section of the vmlinux, checked to be well-formed BTF.
    public func btf() throws -> [UInt8] {
        let elf = try ELFFile(bytes: vmlinux, source: compression == nil ? source : "\(source) (decompressed vmlinux)")
        guard let section = elf.section(named: ".BTF") else {
            throw FormatError(elf.source, "vmlinux has no .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF)")
        }
        guard section.hasContents else {
            throw FormatError(elf.source, "the vmlinux's .BTF section (\(section.index)) has no contents (section type \(section.type))")
        }
        let raw = elf.contents(of: section)
        _ = try BTFDecoder.decode(raw, source: "\(elf.source) .BTF")
        return raw
    }

    /// (offset, length) of the bzImage's compressed payload, if `bytes` has a
    /// boot protocol 2.08+ setup header whose payload lies inside the file.
    static func bzImagePayload(_ b: [UInt8]) -> (Int, Int)? {
        guard b.count >= 0x250, Array(b[0x202..<0x206]) == Array("HdrS".utf8), b.le16(0x206) >= 0x208 else { return nil }
        var setupSectors = Int(b[0x1f1])
        if setupSectors == 0 { setupSectors = 4 }
        let protectedMode = (setupSectors + 1) * 512
        let offset = protectedMode + Int(b.le32(0x248)), length = Int(b.le32(0x24c))
        guard length > 0, offset < b.count, length <= b.count - offset else { return nil }
        return (offset, length)
    }

    /// Where each compression's magic occurs, in file order.
    static func magicOccurrences(_ b: [UInt8]) -> [(Int, Compression)] {
        var found: [(Int, Compression)] = []
        b.withUnsafeBufferPointer { p in
            guard p.count >= 4 else { return }
            for i in 0..<(p.count - 3) {
                // Cheap first-byte filter before the full comparison.
                switch p[i] {
                case 0x1f, 0x28, 0x02, 0xfd:
                    for c in Compression.allCases where i + c.magic.count <= p.count {
                        if p[i] == c.magic[0], zip(c.magic, p[i..<(i + c.magic.count)]).allSatisfy({ $0 == $1 }) {
                            found.append((i, c))
                        }
                    }
                default: continue
                }
            }
        }
        return found
    }
}

private extension String {
    init(format2 byte: UInt8) {
        let hex = String(byte, radix: 16)
        self = hex.count == 1 ? "0" + hex : hex
    }
}
