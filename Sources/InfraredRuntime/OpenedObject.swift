/// An object opened by libbpf and not loaded, lent to `body` to read what
/// libbpf makes of it (maps with their flags and initial values, programs,
/// BTF) through libbpf's accessors: `infrared gen skel` builds its model
/// from this view so the skeleton matches bpftool's. Nothing reaches the
/// kernel; the object is closed when `body` returns.
public enum OpenedObject {
    /// libbpf refused to open the object (`bpf_object__open_mem` set `errno`).
    public struct OpenError: Error { public var errno: Errno }

    public static func inspect<T>(_ bytes: [UInt8], name: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        // libbpf keeps reading `bytes` (it does not copy them) until the object is closed.
        try bytes.withUnsafeBytes { raw in
            switch Sys.openObjectToInspect(raw, name: name) {
            case .failure(let e): throw OpenError(errno: e)
            case .success(let object):
                defer { Sys.closeObject(object) }
                return try body(object)
            }
        }
    }
}
