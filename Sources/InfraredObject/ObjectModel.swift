import BPF

/// What the compiler hands the object writer: everything needed to write a
/// relocatable BPF ELF object, and nothing about how ELF spells it.
///
/// Instruction indices count 8-byte slots (an `ld_imm64` is two).
public struct ObjectFile: Sendable {
    public var license: String
    public var programs: [ProgramSection]
    /// Contents of `.rodata.str1.1` (NUL-terminated string literals).
    public var stringLiterals: [UInt8]
    /// Program BTF as built by the compiler (types of the programs' functions,
    /// context structs, …). The writer adds what it owns (the `license`
    /// DATASEC, `.BTF.ext` strings) before serialising.
    public var btf: ProgramBTFSpec
    /// The Ruby source file the line info refers to (path as given to the compiler).
    public var sourcePath: String
    /// The source text, split in lines (index 0 is line 1), for line_info.
    public var sourceLines: [String]
    /// BTF-defined maps, written to `.maps` (libbpf's convention).
    public var maps: [MapDefinition]
    /// Global data: `param`s (`.rodata`), initialised `global`s (`.data`),
    /// zeroed `global`s (`.bss`).
    public var variables: [DataVariable]

    public init(license: String, programs: [ProgramSection], stringLiterals: [UInt8], btf: ProgramBTFSpec,
                sourcePath: String, sourceLines: [String], maps: [MapDefinition] = [], variables: [DataVariable] = []) {
        self.license = license; self.programs = programs; self.stringLiterals = stringLiterals
        self.btf = btf; self.sourcePath = sourcePath; self.sourceLines = sourceLines
        self.maps = maps; self.variables = variables
    }
}

/// One program: one ELF section holding one global function.
public struct ProgramSection: Sendable {
    /// Function symbol name (the BPF program name).
    public var name: String
    /// ELF section name (libbpf's convention, e.g. `cgroup/dev`).
    public var section: String
    public var instructions: [Instruction]
    public var relocations: [Relocation]
    /// Ruby source positions, in instruction order; each entry covers the
    /// instructions from its index up to the next entry's.
    public var lines: [LineInfo]
    /// Index into `btf.functions` of this program's function prototype.
    public var function: Int
    /// CO-RE relocations (`bpf_core_relo` records in `.BTF.ext`).
    public var coreRelocations: [CoreRelocation]

    public init(name: String, section: String, instructions: [Instruction], relocations: [Relocation], lines: [LineInfo], function: Int,
                coreRelocations: [CoreRelocation] = []) {
        self.name = name; self.section = section; self.instructions = instructions
        self.relocations = relocations; self.lines = lines; self.function = function
        self.coreRelocations = coreRelocations
    }
}

/// A relocation against an instruction of a program section.
public struct Relocation: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// An `ld_imm64` that loads the address of a string literal at this
        /// byte offset of `.rodata.str1.1` (relocation against the section
        /// symbol, offset in the instruction's imm, as clang emits it).
        case stringLiteral(offset: Int)
        /// An `ld_imm64` that loads a map (by `MapDefinition.name`): relocation
        /// against the map's symbol in `.maps`, imm 0 (libbpf turns it into
        /// BPF_PSEUDO_MAP_FD).
        case map(name: String)
        /// An `ld_imm64` that loads the address of a global variable (by
        /// `DataVariable.name`): relocation against the variable's symbol, imm 0
        /// (libbpf turns it into BPF_PSEUDO_MAP_VALUE + offset).
        case variable(name: String)
    }
    public var instruction: Int
    public var target: Target
    public init(instruction: Int, target: Target) { self.instruction = instruction; self.target = target }
}

/// A `bpf_line_info` record before string-table offsets are known.
public struct LineInfo: Sendable, Hashable {
    public var instruction: Int
    public var line: Int
    public var column: Int
    public init(instruction: Int, line: Int, column: Int) { self.instruction = instruction; self.line = line; self.column = column }
}

/// Program BTF in a form independent of libbpf: the writer turns it into
/// `.BTF` through libbpf's `btf__add_*` API.
public struct ProgramBTFSpec: Sendable {
    /// A C type as the programs' BTF needs it.
    public indirect enum CType: Sendable, Hashable {
        case void
        /// An integer: name (`unsigned int`), size in bytes, signed.
        case int(name: String, size: Int, signed: Bool)
        case pointer(CType)
        /// A struct with members (name, type, byte offset). `size` in bytes.
        case structure(name: String, size: Int, members: [Member])
        /// A struct known only by name (forward declaration).
        case forwardStruct(name: String)
        case array(CType, count: Int)
        /// A struct (or union) of the kernel's BTF, copied with the types it
        /// refers to (pointers to structs become forward declarations) from
        /// `ProgramBTFSpec.kernelBTFPath`, as clang emits `struct xdp_md` in full.
        case kernelStruct(name: String)
        /// An enum: name, size in bytes, enumerators.
        case enumeration(name: String, size: Int, values: [EnumValue])
    }
    public struct EnumValue: Sendable, Hashable {
        public var name: String
        public var value: Int64
        public init(name: String, value: Int64) { self.name = name; self.value = value }
    }
    public struct Member: Sendable, Hashable {
        public var name: String
        public var type: CType
        /// Byte offset (for a bitfield: of the byte holding its first bit).
        public var offset: Int
        /// For a bitfield: its offset in bits from the struct's start, and its width.
        public var bitOffset: Int?
        public var bitfieldSize: Int
        public init(name: String, type: CType, offset: Int, bitOffset: Int? = nil, bitfieldSize: Int = 0) {
            self.name = name; self.type = type; self.offset = offset; self.bitOffset = bitOffset; self.bitfieldSize = bitfieldSize
        }
    }
    /// A global function (a program): `returnType name(params…)`.
    public struct Function: Sendable, Hashable {
        public var name: String
        public var returnType: CType
        public var parameters: [(name: String, type: CType)]
        public init(name: String, returnType: CType, parameters: [(name: String, type: CType)]) {
            self.name = name; self.returnType = returnType; self.parameters = parameters
        }
        public static func == (a: Function, b: Function) -> Bool {
            a.name == b.name && a.returnType == b.returnType && a.parameters.map(\.name) == b.parameters.map(\.name)
                && a.parameters.map(\.type) == b.parameters.map(\.type)
        }
        public func hash(into h: inout Hasher) { h.combine(name) }
    }
    public var functions: [Function]
    /// Where `.kernelStruct` types are copied from (raw BTF or ELF with `.BTF`).
    public var kernelBTFPath: String?
    /// Types emitted by name for CO-RE (minimal local copies of kernel
    /// structs holding just the members the programs access, as
    /// `.structure`; enums as `.enumeration`) and for declared structs.
    public var localTypes: [CType]
    public init(functions: [Function], kernelBTFPath: String? = nil, localTypes: [CType] = []) {
        self.functions = functions; self.kernelBTFPath = kernelBTFPath; self.localTypes = localTypes
    }
}

/// A BTF-defined map: `struct { __uint(type, …); __type(key, …); … } name SEC(".maps");`
public struct MapDefinition: Sendable, Hashable {
    public var name: String
    /// `enum bpf_map_type` value.
    public var type: UInt32
    /// Key and value types; `nil` where the map type has none in BTF
    /// (ringbuf; perf_event_array uses `keySize`/`valueSize` instead).
    public var key: ProgramBTFSpec.CType?
    public var value: ProgramBTFSpec.CType?
    /// `__uint(key_size, …)` / `__uint(value_size, …)` when there is no type.
    public var keySize: Int?
    public var valueSize: Int?
    public var maxEntries: Int?
    public var flags: UInt32?
    public init(name: String, type: UInt32, key: ProgramBTFSpec.CType? = nil, value: ProgramBTFSpec.CType? = nil,
                keySize: Int? = nil, valueSize: Int? = nil, maxEntries: Int? = nil, flags: UInt32? = nil) {
        self.name = name; self.type = type; self.key = key; self.value = value
        self.keySize = keySize; self.valueSize = valueSize; self.maxEntries = maxEntries; self.flags = flags
    }
}

/// A global variable in `.rodata` (`const volatile`, set before load),
/// `.data` (initialised) or `.bss` (zeroed).
public struct DataVariable: Sendable, Hashable {
    public enum Section: String, Sendable, Hashable, Codable { case rodata = ".rodata", data = ".data", bss = ".bss" }
    public var name: String
    public var type: ProgramBTFSpec.CType
    public var section: Section
    /// Initial bytes (`size` of the type; zeros for `.bss`).
    public var initialValue: [UInt8]
    public init(name: String, type: ProgramBTFSpec.CType, section: Section, initialValue: [UInt8]) {
        self.name = name; self.type = type; self.section = section; self.initialValue = initialValue
    }
}

/// A CO-RE relocation as the compiler knows it: the local struct by name and
/// the access path by member names; the writer turns the path into the
/// access string (`0:3:1`) against the local type it emits, and that into a
/// `.BTF.ext` record (`BTFExt.CoreRelo`, read back as `BTFCoreRelocation`).
/// The IR holds these too, `instruction` 0 until code is emitted.
public struct CoreRelocation: Sendable, Hashable {
    public var kind: CoreRelocationKind
    /// The instruction's index in its program.
    public var instruction: Int
    /// The root type (a struct/union in `ProgramBTFSpec.localTypes`, or for
    /// enum relocations an enum there), by name.
    public var rootType: String
    /// Member names from the root (each may be an array index written as a
    /// decimal string). Empty for type relocations; for enum value
    /// relocations, one element: the enumerator name.
    public var path: [String]
    public init(kind: CoreRelocationKind, instruction: Int, rootType: String, path: [String]) {
        self.kind = kind; self.instruction = instruction; self.rootType = rootType; self.path = path
    }
}
