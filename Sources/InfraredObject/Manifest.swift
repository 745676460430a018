import BPF

/// What a loader or skeleton needs to know about a compiled file besides
/// the object: each program's attach point, the params (CLI flags), the
/// maps and the layouts of the records and values they hold.
///
/// The compiler fills it (InfraredCompiler/Manifest.swift); loaders carry it
/// as JSON in their payload (written by `Encodable`) and read it with
/// ManifestReading.swift, so the runner links this model without linking
/// the compiler. Unknown JSON fields are ignored.
///
/// Typed with the language's shared types (BPF's `ScalarType`, `MapKind`,
/// `ProgramKind`), which travel as their names (`"u32"`, `"ringbuf"`,
/// `"perf_event"`); what follows from a type (its size, signedness) is not
/// written again.
public struct Manifest: Sendable, Codable, Equatable {
    public struct Program: Sendable, Codable, Equatable {
        public var name: String
        /// The language's declaration (`tracepoint`, `usdt`, `perf_event`, `cgroup_device`, …).
        public var kind: ProgramKind
        public var section: String
        /// Positional arguments of the declaration (`"sched/sched_process_exec"`, `:cpu_clock`).
        public var arguments: [String]
        /// Keyword options (`frequency: 99` → ["frequency": "99"]).
        public var options: [String: String]
        public var line: Int
        public init(name: String, kind: ProgramKind, section: String, arguments: [String], options: [String: String], line: Int) {
            self.name = name; self.kind = kind; self.section = section; self.arguments = arguments; self.options = options; self.line = line
        }
    }
    /// The type of a struct field or a map's key or value. In JSON, one
    /// string: the scalar's name, `chars`, or the struct's name (struct names
    /// are Ruby constants, so they never clash with the lowercase others).
    public enum DataType: Sendable, Codable, Hashable, CustomStringConvertible {
        case scalar(ScalarType)
        /// `char[N]`, N being the field's `count` (or its size).
        case chars
        /// A declared struct, by name.
        case structure(String)

        /// The type a name stands for.
        public init(_ name: String) {
            if let s = ScalarType(rawValue: name) { self = .scalar(s) }
            else if name == "chars" { self = .chars }
            else { self = .structure(name) }
        }
        public var name: String {
            switch self {
            case .scalar(let s): return s.name
            case .chars: return "chars"
            case .structure(let n): return n
            }
        }
        public var description: String { name }
        /// The scalar, if this is one.
        public var scalar: ScalarType? { if case .scalar(let s) = self { return s }; return nil }
        /// The struct's name, if this is one.
        public var structName: String? { if case .structure(let n) = self { return n }; return nil }

        public init(from decoder: Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(name)
        }
    }
    /// A scalar, a fixed array or a struct, as laid out in memory.
    public struct Field: Sendable, Codable, Equatable {
        public var name: String
        public var type: DataType
        public var offset: Int
        public var size: Int
        /// For `chars`: the array length.
        public var count: Int?
        public init(name: String, type: DataType, offset: Int, size: Int, count: Int?) {
            self.name = name; self.type = type; self.offset = offset; self.size = size; self.count = count
        }
        /// Whether a scalar field is signed (false for arrays and structs).
        public var signed: Bool { type.scalar?.signed ?? false }
    }
    public struct Struct: Sendable, Codable, Equatable {
        public var name: String
        public var size: Int
        public var fields: [Field]
        public init(name: String, size: Int, fields: [Field]) { self.name = name; self.size = size; self.fields = fields }
    }
    public struct Map: Sendable, Codable, Equatable {
        public var name: String
        public var kind: MapKind
        public var key: DataType?
        public var value: DataType?
        public var keySize: Int
        public var valueSize: Int
        public var maxEntries: Int?
        /// Internal maps (libbpf's USDT support) that tools should not print.
        public var isInternal: Bool
        /// For ringbuf and perf_event_array maps: the struct of their records
        /// (from `reserve(Event)` / `output(e)` in the bodies), if one.
        public var record: String?
        /// For an implicit map (`@name` in bodies): how it is written, so
        /// loaders merge its per-CPU values and print it as bpftrace does.
        public var implicit: Implicit?
        public init(name: String, kind: MapKind, key: DataType?, value: DataType?, keySize: Int, valueSize: Int, maxEntries: Int?,
                    isInternal: Bool, record: String? = nil, implicit: Implicit? = nil) {
            self.name = name; self.kind = kind; self.key = key; self.value = value; self.keySize = keySize
            self.valueSize = valueSize; self.maxEntries = maxEntries; self.isInternal = isInternal; self.record = record
            self.implicit = implicit
        }
    }
    /// An implicit map (`@name` in bodies): how it is written and how many
    /// key expressions its uses have (0: `@total`, whose one entry has key 0).
    public struct Implicit: Sendable, Codable, Equatable {
        public var aggregation: Aggregation
        public var keys: Int
        /// Per key part, the stack it names (`kstack`, `ustack`; nil for
        /// other parts); nil when no part is a stack. A kstack part is the
        /// s64 id `bpf_get_stackid` returned into the implied stack map
        /// `Implicit.kernelStackMap`; a ustack part is the tgid in the high
        /// 32 bits and the s32 id (into `Implicit.userStackMap`) in the low.
        /// A negative id (-EFAULT, -EEXIST…) is kept: no stack was recorded.
        public var stacks: [Stack?]?
        public enum Stack: String, Sendable, Codable, Equatable { case kernel, user }
        public static let kernelStackMap = "infrared_kstack", userStackMap = "infrared_ustack"
        public init(aggregation: Aggregation, keys: Int, stacks: [Stack?]? = nil) {
            self.aggregation = aggregation; self.keys = keys; self.stacks = stacks
        }
    }
    /// How an implicit map is written (bpftrace's map functions). Its value:
    /// a u64 for `store`, `sum` and the histograms' bucket counts (their
    /// key ends with the u64 bucket; `hist`: 0 for v < 0, 1 for 0, 2 + ⌊log2 v⌋
    /// above, as bpftrace 0.17; lhist: 0 below min, 1 + (v - min) / step,
    /// 1 + (max - min) / step from max); `{s64 value; u64 set}` for min and
    /// max; `{s64 total; u64 count}` for avg and stats.
    public enum Aggregation: Sendable, Codable, Equatable, Hashable {
        /// `@m[k] = v`: a plain hash map.
        case store
        /// `@m[k] += n`, `.count`, `.sum(v)`; per CPU, summed.
        case sum
        case min
        case max
        case avg
        case stats
        case hist
        case lhist(min: Int64, max: Int64, step: Int64)

        /// The bpftrace function that writes it (`store` for `=`).
        public var functionName: String {
            switch self {
            case .store: return "store"
            case .sum: return "sum"
            case .min: return "min"
            case .max: return "max"
            case .avg: return "avg"
            case .stats: return "stats"
            case .hist: return "hist"
            case .lhist: return "lhist"
            }
        }
    }
    public struct Variable: Sendable, Codable, Equatable {
        public var name: String
        public var type: ScalarType
        /// Byte offset within its section, as the object writer placed it.
        public var offset: Int
        /// `.rodata` for params, `.data`/`.bss` for globals.
        public var section: DataVariable.Section
        public var defaultValue: Int64
        public init(name: String, type: ScalarType, offset: Int, section: DataVariable.Section, defaultValue: Int64) {
            self.name = name; self.type = type; self.offset = offset; self.section = section; self.defaultValue = defaultValue
        }
        public var size: Int { type.size }
        public var signed: Bool { type.signed }
    }
    /// The type of a loader option's value.
    public enum OptionType: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
        /// `--name VALUE`
        case string
        /// `--name N`, a 64-bit signed integer.
        case int
        /// A switch: `--name`, or `--name=false`.
        case bool
        public var description: String { rawValue }
    }
    /// A user-space-only option of the loader (`option :flamegraph, :string,
    /// help: "…"`): a flag `--flamegraph FILE` its hooks read by name; the
    /// BPF side never sees it.
    public struct Option: Sendable, Codable, Equatable {
        public var name: String
        public var type: OptionType
        public var help: String?
        /// The placeholder `--help` shows for the value (`FILE`); default the type's name.
        public var argument: String?
        /// The value when the flag is absent, as the flag would spell it; nil: `nil` in hooks.
        public var defaultValue: String?
        public var line: Int
        public init(name: String, type: OptionType, help: String?, argument: String?, defaultValue: String?, line: Int) {
            self.name = name; self.type = type; self.help = help; self.argument = argument; self.defaultValue = defaultValue; self.line = line
        }
    }
    /// What the loader's command line is made of besides params and options:
    /// its own flags, which neither may take (`--duration`…).
    public static let loaderFlags = ["duration", "format", "btf", "metrics", "metrics-prefix", "cgroup", "ifname", "pid", "frequency", "help", "quiet", "print-source"]

    public var license: String
    public var programs: [Program]
    public var structs: [Struct]
    public var maps: [Map]
    public var params: [Variable]
    public var globals: [Variable]
    /// Absent in manifests written before options existed.
    public var options: [Option]?
    /// The user-space hooks the top level declared, in order (`on_event`,
    /// `every`, `at_exit`): a loader runs the file's bytecode when there is
    /// one. Absent in manifests written before it was recorded.
    public var hooks: [String]?
    /// What the bodies' `puts`/`printf`/`exit` write to the implicit ring
    /// buffer (PrintFormat.swift); absent when no body prints.
    public var output: PrintOutput?
    /// True when a body calls `bpf_trace_printk` (`printk`): loaders show
    /// its lines from the trace pipe. Absent otherwise.
    public var printk: Bool?
    /// The fault counters of `Fault.variableName`, by slot; absent when no body
    /// can drop a record or fail a map update.
    public var faults: [Fault]?

    public init(license: String, programs: [Program], structs: [Struct], maps: [Map], params: [Variable], globals: [Variable],
                options: [Option] = [], hooks: [String] = [], output: PrintOutput? = nil) {
        self.license = license; self.programs = programs; self.structs = structs
        self.maps = maps; self.params = params; self.globals = globals; self.options = options; self.hooks = hooks
        self.output = output
    }

    /// The declared hooks (none when the manifest predates them).
    public var declaredHooks: [String] { hooks ?? [] }

    /// The declared options (none when the manifest predates them).
    public var declaredOptions: [Option] { options ?? [] }

    public func structNamed(_ name: String) -> Struct? { structs.first { $0.name == name } }
    public func mapNamed(_ name: String) -> Map? { maps.first { $0.name == name } }

    /// Maps whose records stream to user space as records (not the
    /// implicit map of `puts`/`printf`, which `output` describes).
    public var recordMaps: [Map] { maps.filter { $0.kind.isRecordStream && $0.name != output?.map } }

    /// The struct a ring buffer or perf buffer of this file carries, found by
    /// size: a record of `size` bytes is the declared struct of that size
    /// (perf records may carry up to 7 bytes of padding: the kernel aligns raw
    /// samples to 8 bytes). Nil when none fits.
    public func recordStruct(size: Int, perf: Bool) -> Struct? {
        if let exact = structs.first(where: { $0.size == size }) { return exact }
        guard perf else { return nil }
        return structs.filter { $0.size < size && size - $0.size < 8 }.max { $0.size < $1.size }
    }
}
