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

    public init(license: String, programs: [ProgramSection], stringLiterals: [UInt8], btf: ProgramBTFSpec,
                sourcePath: String, sourceLines: [String]) {
        self.license = license; self.programs = programs; self.stringLiterals = stringLiterals
        self.btf = btf; self.sourcePath = sourcePath; self.sourceLines = sourceLines
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

    public init(name: String, section: String, instructions: [Instruction], relocations: [Relocation], lines: [LineInfo], function: Int) {
        self.name = name; self.section = section; self.instructions = instructions
        self.relocations = relocations; self.lines = lines; self.function = function
    }
}

/// A relocation against an instruction of a program section.
public struct Relocation: Sendable, Hashable {
    public enum Target: Sendable, Hashable {
        /// An `ld_imm64` that loads the address of a string literal at this
        /// byte offset of `.rodata.str1.1` (relocation against the section
        /// symbol, offset in the instruction's imm, as clang emits it).
        case stringLiteral(offset: Int)
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
    }
    public struct Member: Sendable, Hashable {
        public var name: String
        public var type: CType
        public var offset: Int
        public init(name: String, type: CType, offset: Int) { self.name = name; self.type = type; self.offset = offset }
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
    public init(functions: [Function], kernelBTFPath: String? = nil) { self.functions = functions; self.kernelBTFPath = kernelBTFPath }
}
