import CCompression
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// The compressions a Linux kernel image's payload may use (the
/// `CONFIG_KERNEL_*` choices that have a library here), recognised by their
/// magic numbers, and one-shot decompression through zlib, libzstd, liblz4
/// and liblzma. Also used for the compressed BTF fixtures.
public enum Compression: String, CaseIterable, Sendable {
    /// gzip (RFC 1952), `CONFIG_KERNEL_GZIP`: `1f 8b 08`.
    case gzip
    /// Zstandard frame, `CONFIG_KERNEL_ZSTD`: `28 b5 2f fd`.
    case zstd
    /// LZ4 legacy frame (`lz4 -l`), `CONFIG_KERNEL_LZ4`: `02 21 4c 18`.
    case lz4
    /// xz (`CONFIG_KERNEL_XZ`): `fd 37 7a 58 5a 00`.
    case xz

    /// The bytes a stream of this format starts with.
    public var magic: [UInt8] {
        switch self {
        case .gzip: return [0x1f, 0x8b, 0x08]
        case .zstd: return [0x28, 0xb5, 0x2f, 0xfd]
        case .lz4: return [0x02, 0x21, 0x4c, 0x18]
        case .xz: return [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]
        }
    }

    /// The format whose magic `bytes` start with.
    public static func detect(_ bytes: ArraySlice<UInt8>) -> Compression? {
        allCases.first { bytes.starts(with: $0.magic) }
    }

    /// Largest output accepted (a vmlinux is under 100 MiB; this stops a
    /// corrupt stream from eating the machine).
    public static let outputLimit = 1 << 30

    /// Decompresses the stream at the start of `input`. Bytes after the end
    /// of the stream are ignored (a bzImage payload is followed by its
    /// decompressed size); a stream cut short or corrupt throws.
    public func decompress(_ input: ArraySlice<UInt8>, source: String) throws -> [UInt8] {
        let what = "\(rawValue) stream"
        func fail(_ m: String) -> FormatError { FormatError(source, "\(what): \(m)") }
        return try input.withUnsafeBytes { raw -> [UInt8] in
            switch self {
            case .gzip: return try Self.gunzip(raw, fail)
            case .zstd: return try Self.unzstd(raw, fail)
            case .lz4: return try Self.unlz4Legacy(raw, fail)
            case .xz: return try Self.unxz(raw, fail)
            }
        }
    }

    /// Output grows in chunks of this size.
    private static let chunk = 1 << 22

    private static func gunzip(_ input: UnsafeRawBufferPointer, _ fail: (String) -> FormatError) throws -> [UInt8] {
        var s = z_stream()
        // 16 + MAX_WBITS: gzip wrapper, checked CRC32 and size.
        guard inflateInit2_(&s, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib: inflateInit2 failed")
        }
        defer { inflateEnd(&s) }
        var out = [UInt8](), produced = 0
        s.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        s.avail_in = uInt(input.count)
        while true {
            if out.count - produced < chunk / 2 { out += [UInt8](repeating: 0, count: chunk) }
            let ret: Int32 = out.withUnsafeMutableBytes { o in
                s.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self) + produced
                s.avail_out = uInt(o.count - produced)
                let r = inflate(&s, Z_NO_FLUSH)
                produced = o.count - Int(s.avail_out)
                return r
            }
            if ret == Z_STREAM_END { break }
            if ret == Z_BUF_ERROR && s.avail_in == 0 { throw fail("truncated (no end of stream)") }
            guard ret == Z_OK || ret == Z_BUF_ERROR else {
                throw fail("corrupt: \(s.msg.map { String(cString: $0) } ?? "zlib error \(ret)")")
            }
            if produced > outputLimit { throw fail("decompresses to more than \(outputLimit) bytes") }
        }
        out.removeSubrange(produced...)
        return out
    }

    private static func unzstd(_ input: UnsafeRawBufferPointer, _ fail: (String) -> FormatError) throws -> [UInt8] {
        guard let ctx = ZSTD_createDCtx() else { throw fail("zstd: cannot allocate a context") }
        defer { ZSTD_freeDCtx(ctx) }
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var out = [UInt8](), produced = 0
        let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
        if declared < UInt64(outputLimit) { out.reserveCapacity(Int(declared) + 1) }
        while true {
            if out.count - produced < chunk / 2 { out += [UInt8](repeating: 0, count: chunk) }
            let ret: Int = out.withUnsafeMutableBytes { o in
                var outBuf = ZSTD_outBuffer(dst: o.baseAddress, size: o.count, pos: produced)
                let r = ZSTD_decompressStream(ctx, &outBuf, &inBuf)
                produced = outBuf.pos
                return r
            }
            if ZSTD_isError(ret) != 0 { throw fail("corrupt: \(String(cString: ZSTD_getErrorName(ret)))") }
            if ret == 0 { break }  // end of the frame
            if inBuf.pos == inBuf.size && produced < out.count { throw fail("truncated (no end of frame)") }
            if produced > outputLimit { throw fail("decompresses to more than \(outputLimit) bytes") }
        }
        out.removeSubrange(produced...)
        return out
    }

    /// The legacy LZ4 format the kernel's `lz4 -l` build step writes: the
    /// magic, then blocks of (u32 compressed size, data), each decoding to at
    /// most 8 MiB. It has no end marker: it ends at the end of the input, at
    /// another magic number, or at a "size" that cannot be a block (the
    /// bzImage's appended length) — as the kernel's lib/decompress_unlz4.c reads it.
    private static func unlz4Legacy(_ input: UnsafeRawBufferPointer, _ fail: (String) -> FormatError) throws -> [UInt8] {
        let lz4 = try LibLZ4.load()
        let blockMax = 8 << 20
        var out = [UInt8](), at = 4, blocks = 0
        func u32(_ o: Int) -> UInt32 { input.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        while at + 4 <= input.count {
            let size = Int(u32(at))
            if size == 0x184c2102 { at += 4; continue }  // a concatenated stream
            let bound = LibLZ4.compressBound(blockMax)
            if size == 0 || size > bound || at + 4 + size > input.count {
                if blocks == 0 { throw fail("truncated or corrupt: first block of \(size) bytes does not fit") }
                break
            }
            let start = out.count
            out += [UInt8](repeating: 0, count: blockMax)
            let n: Int32 = out.withUnsafeMutableBytes { o in
                lz4.LZ4_decompress_safe(input.baseAddress!.advanced(by: at + 4).assumingMemoryBound(to: CChar.self),
                                    o.baseAddress!.advanced(by: start).assumingMemoryBound(to: CChar.self),
                                    Int32(size), Int32(blockMax))
            }
            guard n >= 0 else { throw fail("corrupt block at offset \(at)") }
            out.removeSubrange((start + Int(n))...)
            at += 4 + size
            blocks += 1
            if out.count > outputLimit { throw fail("decompresses to more than \(outputLimit) bytes") }
        }
        if blocks == 0 { throw fail("truncated: no blocks") }
        return out
    }

    private static func unxz(_ input: UnsafeRawBufferPointer, _ fail: (String) -> FormatError) throws -> [UInt8] {
        let xz = try LibLZMA.load()
        var s = lzma_stream()
        guard xz.lzma_stream_decoder(&s, UInt64.max, 0) == LZMA_OK else { throw fail("liblzma: cannot start the decoder") }
        defer { xz.lzma_end(&s) }
        s.next_in = input.baseAddress?.assumingMemoryBound(to: UInt8.self)
        s.avail_in = input.count
        var out = [UInt8](), produced = 0
        while true {
            if out.count - produced < chunk / 2 { out += [UInt8](repeating: 0, count: chunk) }
            let ret: lzma_ret = out.withUnsafeMutableBytes { o in
                s.next_out = o.baseAddress!.assumingMemoryBound(to: UInt8.self) + produced
                s.avail_out = o.count - produced
                let r = xz.lzma_code(&s, s.avail_in == 0 ? LZMA_FINISH : LZMA_RUN)
                produced = o.count - s.avail_out
                return r
            }
            if ret == LZMA_STREAM_END { break }
            switch ret {
            case LZMA_OK: break
            case LZMA_BUF_ERROR: throw fail("truncated (no end of stream)")
            case LZMA_DATA_ERROR: throw fail("corrupt data")
            case LZMA_FORMAT_ERROR: throw fail("not an xz stream")
            case LZMA_OPTIONS_ERROR: throw fail("unsupported options")
            default: throw fail("liblzma error \(ret.rawValue)")
            }
            if produced > outputLimit { throw fail("decompresses to more than \(outputLimit) bytes") }
        }
        out.removeSubrange(produced...)
        return out
    }
}
