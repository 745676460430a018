import CCompression
import InfraredSupport

/// liblz4's block decoder (<lz4.h>).
struct LibLZ4 {
    let LZ4_decompress_safe: @convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, Int32, Int32) -> Int32

    private static let loaded: Result<LibLZ4, Error> = Result(catching: {
        let l = try DynamicLibrary(["liblz4.so.1", "liblz4.so"], purpose: "decompressing lz4 (Debian: liblz4-1)")
        return LibLZ4(LZ4_decompress_safe: try l.function("LZ4_decompress_safe"))
    })
    static func load() throws -> LibLZ4 { try loaded.get() }

    /// `LZ4_COMPRESSBOUND`
    static func compressBound(_ n: Int) -> Int { n + n / 255 + 16 }
}

/// liblzma's stream decoder (<lzma.h>).
struct LibLZMA {
    let lzma_stream_decoder: @convention(c) (UnsafeMutablePointer<lzma_stream>?, UInt64, UInt32) -> lzma_ret
    let lzma_code: @convention(c) (UnsafeMutablePointer<lzma_stream>?, lzma_action) -> lzma_ret
    let lzma_end: @convention(c) (UnsafeMutablePointer<lzma_stream>?) -> Void

    private static let loaded: Result<LibLZMA, Error> = Result(catching: {
        let l = try DynamicLibrary(["liblzma.so.5", "liblzma.so"], purpose: "decompressing xz (Debian: liblzma5)")
        return LibLZMA(lzma_stream_decoder: try l.function("lzma_stream_decoder"), lzma_code: try l.function("lzma_code"),
                       lzma_end: try l.function("lzma_end"))
    })
    static func load() throws -> LibLZMA { try loaded.get() }
}
