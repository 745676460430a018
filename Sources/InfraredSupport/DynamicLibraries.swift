#if canImport(Glibc)
import Glibc
#endif

// libdw (DWARF, InfraredDWARF), liblz4 and liblzma (InfraredCompression)
// are opened with dlopen the first time `from-dwarf` or an lz4/xz input
// needs them, instead of being linked. Everything that links InfraredBTF —
// including the static loader runner, which must need no shared library but
// libc — then links only libbpf, libelf, zlib and libzstd. The CLibDW and
// CCompression modules give the declarations (types, constants); the
// functions come through here.

/// A shared library opened with `dlopen`, and typed look-ups of its symbols —
/// or, in an executable that links the library itself and registered its
/// symbols (`LinkedSymbols`), those: a static executable cannot dlopen.
public final class DynamicLibrary: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer?
    public let name: String

    /// Opens the first of `names` that loads; `purpose` says in errors what needed it.
    public init(_ names: [String], purpose: String) throws {
        if LinkedSymbols.lookup != nil { handle = nil; name = names[0]; return }
        for n in names {
            if let h = dlopen(n, RTLD_NOW | RTLD_LOCAL) { handle = h; name = n; return }
        }
        let why = dlerror().map { String(cString: $0) } ?? "not found"
        throw FormatError(names[0], "cannot load it for \(purpose): \(why)")
    }

    /// The symbol `symbol` as a C function of type `T`.
    public func function<T>(_ symbol: String) throws -> T {
        let p: UnsafeRawPointer?
        if let handle { p = dlsym(handle, symbol).map { UnsafeRawPointer($0) } } else { p = LinkedSymbols.lookup?(symbol) }
        guard let p else { throw FormatError(name, "has no symbol \(symbol)") }
        return unsafeBitCast(p, to: T.self)
    }
}

/// The libdw, liblz4 and liblzma functions of an executable that links those
/// libraries (the static `infrared` CLI: Sources/CLinkedLibraries), by name.
/// Registered once at start-up, before any BTF is read; when set, nothing is
/// opened with dlopen.
public enum LinkedSymbols {
    nonisolated(unsafe) static var lookup: ((String) -> UnsafeRawPointer?)?
    public static func register(_ lookup: @escaping (String) -> UnsafeRawPointer?) { self.lookup = lookup }
}
