import BPF

/// Writes an `ObjectFile` as a relocatable BPF ELF object (libelf), with
/// `.BTF` (libbpf's btf__add_* API) and a hand-written `.BTF.ext`.
public enum ObjectWriter {
    /// The object's bytes. Pure: no file is touched except reading
    /// `btf.kernelBTFPath` when `.kernelStruct` types are used.
    public static func write(_ object: ObjectFile) throws -> [UInt8] {
        fatalError("ObjectWriter.write: not implemented yet")
    }
}

/// An error reading or writing an object, with the section or step named.
public struct ObjectError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
