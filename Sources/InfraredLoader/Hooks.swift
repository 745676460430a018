import CInfraredHooks
#if canImport(Glibc)
import Glibc
#endif
import BPF

/// The probe file's user-space hooks (`on_event`, `every`, `at_exit`), run in
/// mruby inside the loader.
///
/// The loader runs the file's top level again — compiled to mruby bytecode
/// when the loader was built — after `RuntimePrelude`, where every
/// declaration is inert or defines an accessor: a map's name returns a
/// handle whose methods call back into the host (`__infrared_host`), a
/// param's name returns the value the command line gave, a global's name
/// reads it from the kernel, a `struct` becomes a Ruby `Struct` class, and
/// program declarations ignore their blocks. The hook declarations register
/// their blocks, which the event loop calls.
final class HookRuntime {
    private let vm: OpaquePointer
    /// Handles `__infrared_host(op, *args)`; returns a Ruby value or throws.
    var host: ((String, [HostValue]) throws -> HostValue)?

    /// Maps whose records an `on_event` block takes.
    private(set) var eventMaps: Set<String> = []
    /// `every N` periods, in registration order.
    private(set) var periods: [Double] = []
    private(set) var atExitCount = 0
    /// Maps whose keys a `metric_labels` block turns into metric labels.
    private(set) var labelMaps: [String] = []
    private(set) var beforeLoadCount = 0

    /// Set when a hook called `exit`.
    private(set) var exitStatus: Int32?

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        guard let vm = irh_open() else { throw Failure(description: "cannot start mruby") }
        self.vm = vm
        irh_set_host(vm, { ctx, vm, argc, argv in
            let runtime = Unmanaged<HookRuntime>.fromOpaque(ctx!).takeUnretainedValue()
            return runtime.dispatch(argc: Int(argc), argv: argv)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { irh_close(vm) }

    /// Compiles a probe file to mruby bytecode (RITE) with line numbers.
    static func compile(source: String, filename: String) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var length = 0
        var err = [CChar](repeating: 0, count: 2048)
        let rc = source.withCString { irh_compile($0, strlen($0), filename, &out, &length, &err, err.count) }
        guard rc == 0, let out else { throw Failure(description: String(cString: err)) }
        defer { irh_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: length))
    }

    /// Runs the prelude, then the file's top level, with `params` and the
    /// `option`s' values readable by name.
    /// `implicitMaps`: the implicit maps (`@name` in bodies), handles in the
    /// hooks as `@name` (instance variables of the top level's self).
    func runTopLevel(bytecode: [UInt8], params: [String: HostValue], options: [String: HostValue] = [:], implicitMaps: [String] = []) throws {
        let ai = irh_arena_save(vm)
        irh_set_global(vm, "$__irl_implicit", make(.array(implicitMaps.map { .string($0) })))
        for (global, values) in [("$__irl_params", params), ("$__irl_options", options)] {
            let hash = irh_hash(vm)
            for (k, v) in values { irh_hash_set(vm, hash, make(.string(k)), make(v)) }
            irh_set_global(vm, global, hash)
        }
        irh_arena_restore(vm, ai)
        var status: Int32 = 0
        var err = [CChar](repeating: 0, count: 2048)
        let prelude = RuntimePrelude.text
        if prelude.withCString({ irh_run_source(vm, $0, strlen($0), "(infrared runtime prelude)", &status, &err, err.count) }) < 0 {
            throw Failure(description: "runtime prelude: " + String(cString: err))
        }
        let rc = bytecode.withUnsafeBufferPointer { irh_run_bytecode(vm, $0.baseAddress, $0.count, &status, &err, err.count) }
        if rc < 0 { throw Failure(description: String(cString: err)) }
        if rc == 1 { exitStatus = status }
        eventMaps = Set(try call("__irl_event_maps", []).arrayOfStrings)
        if case .array(let ps) = try call("__irl_every_periods", []) {
            periods = ps.map { if case .float(let d) = $0 { return d }; if case .int(let i) = $0 { return Double(i) }; return 1 }
        }
        if case .int(let n) = try call("__irl_at_exit_count", []) { atExitCount = Int(n) }
        labelMaps = try call("__irl_label_maps", []).arrayOfStrings
        if case .int(let n) = try call("__irl_before_load_count", []) { beforeLoadCount = Int(n) }
    }

    /// Runs the `before_load` blocks; returns the params they set, by name.
    func beforeLoad() throws -> [String: HostValue] {
        var out: [String: HostValue] = [:]
        if case .hash(let pairs) = try call("__irl_before_load", []) {
            for (k, v) in pairs { if let n = k.stringValue { out[n] = v } }
        }
        return out
    }

    /// Hands a record to the `on_event` block of `map`.
    func event(map: String, structName: String?, value: Value) throws {
        _ = try call("__irl_event", [.string(map), structName.map { .string($0) } ?? .nil, Self.host(value)])
    }

    /// The `metric_labels` block of `map` on a key: a Hash of labels.
    @inline(never) func labels(map: String, key: HostValue) throws -> HostValue { try call("__irl_labels", [.string(map), key]) }

    func every(_ index: Int) throws { _ = try call("__irl_every", [.int(Int64(index))]) }
    func atExit() throws { _ = try call("__irl_at_exit", []) }

    /// Calls a top-level method with arguments; records an `exit`.
    @discardableResult
    private func call(_ method: String, _ args: [HostValue]) throws -> HostValue {
        let ai = irh_arena_save(vm)
        defer { irh_arena_restore(vm, ai) }
        let argv = args.map(make)
        var result = irh_nil()
        var status: Int32 = 0
        var err = [CChar](repeating: 0, count: 2048)
        let rc = argv.withUnsafeBufferPointer {
            irh_call(vm, irh_top_self(vm), method, Int32($0.count), $0.baseAddress, &result, &status, &err, err.count)
        }
        if rc < 0 { throw Failure(description: String(cString: err)) }
        if rc == 1 { exitStatus = status; return .nil }
        return read(result)
    }

    // MARK: values

    static func host(_ v: Value) -> HostValue {
        switch v {
        case .unsigned(let u): return u <= UInt64(Int64.max) ? .int(Int64(u)) : .float(Double(u))
        case .signed(let s): return .int(s)
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .bytes(let b): return .string(b.hexString)
        case .record(_, let fields): return .array(fields.map { host($0.1) })
        }
    }

    private func make(_ v: HostValue) -> irh_value {
        switch v {
        case .nil, .other: return irh_nil()
        case .bool(let b): return irh_bool(b ? 1 : 0)
        case .int(let i): return irh_int(vm, i)
        case .float(let d): return irh_float(vm, d)
        case .string(let s):
            var s = s
            return s.withUTF8 { irh_str(vm, $0.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, $0.count) }
        case .array(let items):
            let a = irh_array(vm)
            for item in items { irh_array_push(vm, a, make(item)) }
            return a
        case .hash(let pairs):
            let h = irh_hash(vm)
            for (k, v) in pairs { irh_hash_set(vm, h, make(k), make(v)) }
            return h
        }
    }

    private func read(_ v: irh_value) -> HostValue {
        switch Int(irh_type(v)) {
        case Int(IRH_NIL.rawValue): return .nil
        case Int(IRH_FALSE.rawValue): return .bool(false)
        case Int(IRH_TRUE.rawValue): return .bool(true)
        case Int(IRH_INT.rawValue): return .int(irh_to_int(v))
        case Int(IRH_FLOAT.rawValue): return .float(irh_to_float(v))
        case Int(IRH_STRING.rawValue), Int(IRH_SYMBOL.rawValue):
            var n = 0
            let p = irh_string(vm, v, &n)
            return .string(String(decoding: UnsafeRawBufferPointer(start: p, count: n), as: UTF8.self))
        case Int(IRH_ARRAY.rawValue):
            return .array((0..<irh_array_len(v)).map { read(irh_array_at(vm, v, $0)) })
        case Int(IRH_HASH.rawValue):
            let keys = irh_hash_keys(vm, v)
            return .hash((0..<irh_array_len(keys)).map { i in
                let k = irh_array_at(vm, keys, i)
                return (read(k), read(irh_hash_get(vm, v, k)))
            })
        default: return .other
        }
    }

    /// `__infrared_host(op, *args)` from Ruby: never throws through C; a
    /// failure becomes a RuntimeError raised once this returns.
    private func dispatch(argc: Int, argv: UnsafePointer<irh_value>?) -> irh_value {
        guard argc >= 1, let argv else { irh_host_fail(vm, "__infrared_host needs an operation"); return irh_nil() }
        let args = (0..<argc).map { read(argv[$0]) }
        guard case .string(let op) = args[0] else { irh_host_fail(vm, "__infrared_host: bad operation"); return irh_nil() }
        do {
            guard let host else { throw Failure(description: "no host") }
            return make(try host(op, Array(args.dropFirst())))
        } catch {
            irh_host_fail(vm, "\(error)")
            return irh_nil()
        }
    }
}

extension HostValue {
    var arrayOfStrings: [String] {
        if case .array(let a) = self { return a.compactMap(\.stringValue) }
        return []
    }
}

/// The Ruby that runs before the probe file in the loader (see `HookRuntime`).
enum RuntimePrelude {
    /// The scalar types, in declaration order: struct field methods and what `__irl_wrap` treats as scalars.
    static let scalarTypes = ScalarType.allCases.map(\.name)

    static let text: String = {
        var s = """
        class InfraredExit < Exception
          attr_reader :status
          def initialize(status = 0); @status = status; super("exit"); end
        end
        module Kernel
          def exit(status = 0)
            raise InfraredExit.new(status == true ? 0 : (status == false ? 1 : status.to_i))
          end
          # Names for numbers programs record (HookHelpers.swift); nil when unknown.
          def ksym(addr); __infrared_host("ksym", addr); end
          def syscall_name(id); __infrared_host("syscall_name", id); end
          def cgroup_path(id); __infrared_host("cgroup_path", id); end
        end
        $__irl_hooks = { event: {}, every: [], at_exit: [], labels: {}, before_load: [] }
        $__irl_key_types = {}
        $__irl_params_set = {}
        $__irl_loading = false
        # The process --pid names, for before_load hooks that look into it (a runtime's symbols and version).
        module Target
          # The --pid value, or nil.
          def self.pid; __infrared_host("target_pid"); end
          # The file the process maps that `name` names (a path, or a short name: "libruby"), or nil.
          def self.library(name); __infrared_host("target_library", name.to_s); end
          # Where the process has `symbol` of the mapped file `path` (a variable or function), or nil.
          def self.address(path, symbol); __infrared_host("target_address", path.to_s, symbol.to_s); end
          # The C string at `address` in the process (at most `limit` bytes), or nil.
          def self.read_string(address, limit = 256); __infrared_host("target_read_string", address, limit); end
        end
        $__irl_structs = {}
        class InfraredStructBuilder
          def initialize; @fields = []; end
          def fields; @fields; end
          def field(n, type, count = nil); @fields << [n.to_sym, type.to_s, count]; nil; end

        """
        for t in scalarTypes { s += "  def \(t)(n, count = nil); field(n, :\(t), count); end\n" }
        s += """
        end
        def __irl_wrap(type, v)
          s = $__irl_structs[type]
          return v unless s && v.is_a?(Array)
          klass, fields = s
          args = []
          fields.each_with_index { |f, i| args << __irl_wrap(f[1], v[i]) }
          klass.new(*args)
        end
        def __irl_unwrap(v)
          if v.is_a?(Struct)
            v.to_a.map { |x| __irl_unwrap(x) }
          else
            v
          end
        end
        # A map declared by the file: `name[k]`, `name[k] = v`, `delete`, `each`, `to_h`, `clear`, `print`.
        class InfraredMap
          include Enumerable
          attr_reader :name, :kind
          def initialize(name, kind, key, value)
            @name = name; @kind = kind; @key = key; @value = value
          end
          def [](k); __irl_wrap(@value, __infrared_host("map_get", @name, __irl_unwrap(k))); end
          def []=(k, v); __infrared_host("map_set", @name, __irl_unwrap(k), __irl_unwrap(v)); v; end
          def delete(k)
            v = self[k]
            __infrared_host("map_delete", @name, __irl_unwrap(k))
            v
          end
          def each(&blk)
            return to_enum(:each) unless blk
            __infrared_host("map_entries", @name).each { |kv| blk.call(__irl_wrap(@key, kv[0]), __irl_wrap(@value, kv[1])) }
            self
          end
          def each_pair(&blk); each(&blk); end
          def to_h
            h = {}
            each { |k, v| h[k] = v }
            h
          end
          def keys; to_h.keys; end
          def values; to_h.values; end
          def size; __infrared_host("map_entries", @name).size; end
          def length; size; end
          def empty?; size == 0; end
          def key?(k); !__infrared_host("map_get", @name, __irl_unwrap(k)).nil?; end
          def include?(k); key?(k); end
          def clear; __infrared_host("map_clear", @name); self; end
          # Prints the map as the loader does at exit (hist maps as histograms).
          # `print(top: 10)`: the 10 largest entries only (bpftrace's `print(@m, 10)`).
          def print(top: nil); __infrared_host("map_print", @name, top); nil; end
          def to_s; __infrared_host("map_format", @name); end
          # Stack maps: the frames of stack `id` leaf first, as function names
          # (kernel stacks; with `pid`, user stacks of that process), "[unknown]"
          # for what cannot be named; [] for a negative id (no stack recorded).
          def symbols(id, pid = nil); __infrared_host("stack_symbols", @name, id, pid); end
          # Stack maps: reads process `pid`'s memory map now (once), so its user
          # stacks can still be named after it exits.
          def remember(pid); __infrared_host("stack_remember", @name, pid); nil; end
          # Stack maps: the instruction pointers of stack `id`, leaf first.
          def addresses(id); __infrared_host("stack_addresses", @name, id); end
          def inspect; "#<map #{@name} (#{@kind})>"; end
        end
        # Flame graphs from folded stacks: `folded` maps "comm;root;...;leaf" to a sample count.
        module FlameGraph
          # Writes a self-contained SVG to `path` atomically; returns `path`.
          def self.write(path, folded, title: "Flame Graph")
            __infrared_host("flamegraph_write", path.to_s, folded.to_h, title.to_s)
            path
          end
          # The SVG document as a String.
          def self.svg(folded, title: "Flame Graph"); __infrared_host("flamegraph_svg", folded.to_h, title.to_s); end
        end
        class Module
          # The seed form's `attr :minor, :u32` describes a context: inert here.
          alias __irl_attr_reader attr_reader
          def attr(*names)
            return nil if names.size == 2 && names[1].is_a?(Symbol) && \(scalarTypes.map { ":" + $0 }).include?(names[1])
            __irl_attr_reader(*names)
          end
        end
        module Kernel
          def license(*a); nil; end
          def license!(*a); nil; end
          def section!(*a); nil; end
          # A param reads its value; a before_load hook may set it (`self.name = v`), for the load.
          def param(name, type, default: 0)
            n = name.to_s
            Object.send(:define_method, name.to_sym) { $__irl_params[n] }
            Object.send(:define_method, :"#{n}=") do |v|
              raise "param #{n} is set before the programs load: in a before_load block" unless $__irl_loading
              $__irl_params[n] = v
              $__irl_params_set[n] = v
            end
            nil
          end
          # A loader flag for the hooks: `flamegraph` reads its value (nil when not given).
          def option(name, type = :string, **opts)
            n = name.to_s
            Object.send(:define_method, name.to_sym) { $__irl_options[n] }
            nil
          end
          def global(name, type, init = nil)
            n = name.to_s
            Object.send(:define_method, name.to_sym) { __infrared_host("global_get", n) }
            Object.send(:define_method, :"#{n}=") { |v| __infrared_host("global_set", n, v) }
            nil
          end
          def map(name, kind, key: nil, value: nil, max_entries: nil, flags: nil)
            m = InfraredMap.new(name.to_s, kind.to_s, key && key.to_s, value && value.to_s)
            $__irl_key_types[name.to_s] = kind == :hist ? :hist : (key && key.to_s)
            Object.send(:define_method, name.to_sym) { m }
            nil
          end
          def struct(name, &blk)
            b = InfraredStructBuilder.new
            b.instance_eval(&blk) if blk
            fields = b.fields
            klass = fields.empty? ? Class.new : Struct.new(*fields.map { |f| f[0] })
            Object.const_set(name.to_sym, klass)
            $__irl_structs[name.to_s] = [klass, fields]
            nil
          end
          def on_event(map, &blk)
            raise ArgumentError, "on_event :#{map} needs a block: on_event :#{map} do |e| ... end" unless blk
            $__irl_hooks[:event][map.to_s] = blk
            nil
          end
          def every(seconds, &blk)
            raise ArgumentError, "every needs a block: every 1 do ... end" unless blk
            raise ArgumentError, "every needs a positive number of seconds" unless seconds.is_a?(Numeric) && seconds > 0
            $__irl_hooks[:every] << [seconds.to_f, blk]
            nil
          end
          def metric_labels(map, &blk)
            raise ArgumentError, "metric_labels :#{map} needs a block" unless blk
            $__irl_hooks[:labels][map.to_s.sub("@", "")] = blk
            nil
          end
          def at_exit(&blk)
            raise ArgumentError, "at_exit needs a block" unless blk
            $__irl_hooks[:at_exit] << blk
            blk
          end
          # Runs once before the object is loaded: it may set params and read the --pid process.
          def before_load(&blk)
            raise ArgumentError, "before_load needs a block" unless blk
            $__irl_hooks[:before_load] << blk
            nil
          end

        """
        for kind in programKinds {
            s += "  def \(kind.declaration)(*args, **opts, &blk); nil; end\n"
        }
        s += """
        end
        def __irl_event_maps; $__irl_hooks[:event].keys; end
        def __irl_every_periods; $__irl_hooks[:every].map { |p| p[0] }; end
        def __irl_at_exit_count; $__irl_hooks[:at_exit].size; end
        def __irl_label_maps
          $__irl_hooks[:labels].keys.each do |n|
            k = $__irl_key_types[n]
            raise ArgumentError, "metric_labels :#{n}: no map #{n} has keys to label" unless k || ($__irl_implicit || []).include?(n)
            raise ArgumentError, "metric_labels :#{n}: a hist map's keys are its buckets" if k == :hist
          end
        end
        def __irl_labels(map, key)
          h = $__irl_hooks[:labels][map].call(__irl_wrap($__irl_key_types[map], key))
          raise TypeError, "metric_labels :#{map} gave #{h.inspect}, not a Hash" unless h.is_a?(Hash)
          h
        end
        def __irl_before_load_count; $__irl_hooks[:before_load].size; end
        def __irl_before_load
          $__irl_loading = true
          $__irl_hooks[:before_load].each { |b| b.call }
          $__irl_loading = false
          $__irl_params_set
        end
        def __irl_event(map, type, values); $__irl_hooks[:event][map].call(__irl_wrap(type, values)); nil; end
        def __irl_every(i); $__irl_hooks[:every][i][1].call; nil; end
        # Ruby runs at_exit blocks in reverse order of registration.
        def __irl_at_exit; $__irl_hooks[:at_exit].reverse_each { |b| b.call }; nil; end
        # Implicit maps (`@opens` in bodies): `@opens` in the hooks too.
        ($__irl_implicit || []).each { |n| instance_variable_set(:"@#{n}", InfraredMap.new(n, "implicit", nil, nil)) }

        """
        return s
    }()
}
