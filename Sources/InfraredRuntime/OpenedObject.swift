/// An object opened by libbpf and not loaded, lent to `body` to read what
/// libbpf makes of it (maps with their flags and initial values, programs,
/// BTF) through libbpf's accessors: `infrared gen skel` builds its model
/// from this view so the skeleton matches bpftool's. Nothing reaches the
/// kernel; the object is closed when `body` returns.
public enum OpenedObject {
    /// libbpf refused to open the object (`bpf_object__open_mem` set `errno`).
    public struct OpenError: Error { public var errno: Errno }

    public static func inspect<T>(_ bytes: [UInt8], name: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        let opened = bytes.withUnsafeBytes { Sys.openObjectToInspect($0, name: name) }
        switch opened {
        case .failure(let e): throw OpenError(errno: e)
        case .success(let object):
            defer { Sys.closeObject(object) }
            return try body(object)
        }
    }
}
