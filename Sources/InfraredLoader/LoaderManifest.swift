/// What a loader knows about its probe besides the object: the compiler's
/// `Manifest` (InfraredCompiler/Manifest.swift) as it travels in a loader's
/// payload, as JSON. Declared again here, field for field, so the runner
/// does not link the compiler; unknown fields are ignored when decoding.
public struct LoaderManifest: Sendable, Codable, Equatable {
    public struct Program: Sendable, Codable, Equatable {
        public var name: String
        /// The language's declaration (`tracepoint`, `perf_event`, `cgroup_device`, …).
        public var kind: String
        public var section: String
        public var arguments: [String]
        public var options: [String: String]
        public var line: Int
    }
    public struct Field: Sendable, Codable, Equatable {
        public var name: String
        /// `u8…u64`, `s8…s64`, `char`, `bool`, `chars` (char[count]) or a struct name.
        public var type: String
        public var offset: Int
        public var size: Int
        public var signed: Bool
        public var count: Int?
    }
    public struct Struct: Sendable, Codable, Equatable {
        public var name: String
        public var size: Int
        public var fields: [Field]
    }
    public struct Map: Sendable, Codable, Equatable {
        public var name: String
        /// `hash`, `lru_hash`, `array`, `percpu_hash`, `percpu_array`, `ringbuf`,
        /// `perf_event_array`, `stack_trace`, `hist`.
        public var kind: String
        public var key: String?
        public var value: String?
        public var keySize: Int
        public var valueSize: Int
        public var maxEntries: Int?
        public var isInternal: Bool
    }
    public struct Variable: Sendable, Codable, Equatable {
        public var name: String
        public var type: String
        public var size: Int
        public var signed: Bool
        public var offset: Int
        /// `.rodata` for params, `.data`/`.bss` for globals.
        public var section: String
        public var defaultValue: Int64
    }
    public var license: String
    public var programs: [Program]
    public var structs: [Struct]
    public var maps: [Map]
    public var params: [Variable]
    public var globals: [Variable]

    public func structNamed(_ name: String) -> Struct? { structs.first { $0.name == name } }
    public func mapNamed(_ name: String) -> Map? { maps.first { $0.name == name } }

    /// Maps whose records stream to user space.
    public var recordMaps: [Map] { maps.filter { $0.kind == "ringbuf" || $0.kind == "perf_event_array" } }

    /// The struct a ring buffer or perf buffer of this file carries, found by
    /// size: the manifest does not say which struct a `reserve`/`output` put
    /// in which map, so a record of `size` bytes is the declared struct of
    /// that size (perf records may carry up to 7 bytes of padding: the kernel
    /// aligns raw samples to 8 bytes). Nil when none fits.
    public func recordStruct(size: Int, perf: Bool) -> Struct? {
        if let exact = structs.first(where: { $0.size == size }) { return exact }
        guard perf else { return nil }
        return structs.filter { $0.size < size && size - $0.size < 8 }.max { $0.size < $1.size }
    }
}
