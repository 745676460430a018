import CCompression
import InfraredSupport

extension Compression {
    /// One zstd frame holding `input` (libzstd's one-shot `ZSTD_compress`),
    /// its content size recorded so the reader can size its buffer once.
    /// Level 19 is zstd's strongest before the "ultra" levels: what a
    /// loader embeds is written once and read at every start.
    public static func zstdCompress(_ input: [UInt8], level: Int32 = 19) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
        let written = out.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { i in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, level) }
        }
        if ZSTD_isError(written) != 0 {
            throw FormatError("zstd", "cannot compress \(input.count) bytes: \(String(cString: ZSTD_getErrorName(written)))")
        }
        out.removeSubrange(written...)
        return out
    }
}

extension Compression {
    /// CRC-32 (ISO-HDLC, as gzip and PNG use it) of `bytes`, by zlib's `crc32`.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32($0) }
    }

    /// CRC-32 of the bytes of a buffer.
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt = 0
        let base = bytes.bindMemory(to: UInt8.self).baseAddress
        // zlib takes a 32-bit length: feed a large buffer in pieces.
        var at = 0
        repeat {
            let n = min(bytes.count - at, 1 << 30)
            crc = CCompression.crc32(crc, base.map { $0 + at }, UInt32(n))
            at += n
        } while at < bytes.count
        return UInt32(truncatingIfNeeded: crc)
    }
}
