/// The types the probe language, its compiler, its loaders and its
/// skeletons share, each stated once: scalar types, map kinds and (in
/// ProgramKinds.swift) program kinds. The compiler→loader manifest
/// (InfraredObject's `Manifest`) carries them by name, so their `Codable`
/// form is that name (`"u32"`, `"ringbuf"`, `"perf_event"`).

/// A scalar type of the language (`:u32`, `:s64`, `:char`, `:bool`): what
/// params, globals, struct fields and map keys and values are made of.
public enum ScalarType: String, CaseIterable, Codable, Hashable, Sendable, CustomStringConvertible {
    case u8, u16, u32, u64, s8, s16, s32, s64
    /// `char`: one signed byte (`char name[N]` arrays are `chars` in the manifest).
    case char
    /// `_Bool`: one byte, 0 or 1.
    case bool

    /// The language's spelling (`u32`), also the manifest's.
    public var name: String { rawValue }
    public var description: String { rawValue }

    /// Size in bytes (and natural alignment).
    public var size: Int {
        switch self {
        case .u8, .s8, .char, .bool: return 1
        case .u16, .s16: return 2
        case .u32, .s32: return 4
        case .u64, .s64: return 8
        }
    }

    public var signed: Bool {
        switch self {
        case .s8, .s16, .s32, .s64, .char: return true
        case .u8, .u16, .u32, .u64, .bool: return false
        }
    }

    /// The C spelling used in BTF (`unsigned int`, `_Bool`).
    public var cName: String {
        switch self {
        case .char: return "char"
        case .bool: return "_Bool"
        default: return Self.cIntegerName(size: size, signed: signed)
        }
    }

    /// The integer type of `size` bytes (`u8`…`u64`, `s8`…`s64`), nil for other sizes.
    public static func integer(size: Int, signed: Bool) -> ScalarType? {
        allCases.first { $0 != .char && $0 != .bool && $0.size == size && $0.signed == signed }
    }

    /// The values a param of this type takes (`bool`: 0…1), the upper bound as UInt64 for `u64`.
    public var range: (min: Int64, max: UInt64) {
        if self == .bool { return (0, 1) }
        let bits = UInt64(8 * size)
        return signed ? (Int64.min >> Int64(64 - bits), UInt64(Int64.max) >> (64 - bits)) : (0, UInt64.max >> (64 - bits))
    }

    /// The C name of an integer of `size` bytes (`long long` for sizes C
    /// names no other way), as BTF spells kernel members the compiler copies.
    public static func cIntegerName(size: Int, signed: Bool) -> String {
        switch (size, signed) {
        case (1, false): return "unsigned char"
        case (1, true): return "signed char"
        case (2, false): return "unsigned short"
        case (2, true): return "short"
        case (4, false): return "unsigned int"
        case (4, true): return "int"
        case (8, false): return "unsigned long long"
        default: return "long long"
        }
    }

    /// The names, sorted, as messages list them.
    public static let names: [String] = allCases.map(\.name).sorted()
}

/// A map type of the language (`map :counts, :hash, …`) and the kernel map
/// type (`enum bpf_map_type`, generated) it is made of.
public enum MapKind: String, CaseIterable, Codable, Hashable, Sendable, CustomStringConvertible {
    case hash
    case lruHash = "lru_hash"
    case array
    case percpuHash = "percpu_hash"
    case percpuArray = "percpu_array"
    case ringbuf
    case perfEventArray = "perf_event_array"
    case stackTrace = "stack_trace"
    /// A log2 histogram: an array of buckets.
    case hist

    /// The language's spelling (`lru_hash`), also the manifest's.
    public var name: String { rawValue }
    public var description: String { rawValue }

    /// The kernel map type the object declares.
    public var mapType: MapType {
        switch self {
        case .hash: return .hash
        case .lruHash: return .lruHash
        case .array, .hist: return .array
        case .percpuHash: return .percpuHash
        case .percpuArray: return .percpuArray
        case .ringbuf: return .ringbuf
        case .perfEventArray: return .perfEventArray
        case .stackTrace: return .stackTrace
        }
    }

    /// One value per CPU.
    public var isPerCPU: Bool { self == .percpuHash || self == .percpuArray }

    /// Ring buffers and perf buffers: their records stream to user space.
    public var isRecordStream: Bool { self == .ringbuf || self == .perfEventArray }

    /// The names, sorted, as messages list them.
    public static let names: [String] = allCases.map(\.name).sorted()
}

public extension MapType {
    /// The kernel's name without `BPF_MAP_TYPE_`, lower case (`lru_percpu_hash`); nil for a type newer than the headers.
    var name: String? { Self.kernelNames[rawValue].map { String($0.dropFirst("BPF_MAP_TYPE_".count)).lowercased() } }
}

/// A program kind prints, and travels in the manifest, as its declaration (`"perf_event"`).
extension ProgramKind: Codable, CustomStringConvertible {
    public var description: String { declaration }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let name = try c.decode(String.self)
        guard let kind = ProgramKind.declared(name) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown program kind \(name)")
        }
        self = kind
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(declaration)
    }
}

/// CO-RE relocation kinds by family, as libbpf sorts them
/// (core_relo_is_field_based, _type_based, _enumval_based in relo_core.c).
public extension CoreRelocationKind {
    /// Field byte offset, byte size, exists, signed, lshift, rshift.
    var isFieldBased: Bool { rawValue <= 5 }
    /// Local/target type id, type exists, type size, type matches.
    var isTypeBased: Bool { [6, 7, 8, 9, 12].contains(rawValue) }
    /// Enum value exists, enum value.
    var isEnumValueBased: Bool { rawValue == 10 || rawValue == 11 }
}

extension CoreRelocationKind: CustomStringConvertible {
    /// libbpf's core_relo_kind_str spelling (`byte_off`), or `unknown(N)`.
    public var description: String {
        let names = ["byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64", "local_type_id",
                     "target_type_id", "type_exists", "type_size", "enumval_exists", "enumval_value", "type_matches"]
        return rawValue < names.count ? names[Int(rawValue)] : "unknown(\(rawValue))"
    }
}
