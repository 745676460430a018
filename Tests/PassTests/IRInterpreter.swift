import BPF
@testable import InfraredCompiler

/// Runs an `IRFunction` on a model machine, for translation validation: the
/// same function before and after a pass, on the same inputs, must end the
/// same way (return value, memory written outside the stack, map contents,
/// records output). The compiler never runs this; it lives with the tests.
///
/// The machine's memory is flat and total: every 64-bit address reads a byte
/// that is a hash of the run's seed and the address until something writes
/// it, so pointers read from random context bytes can be followed like any
/// other (a pass may drop a dead load; no run faults on one). Regions sit at
/// fixed addresses: the stack below `framePointer`, the context at
/// `contextAddress`, each map, global and string at an address derived from
/// its name, map values at an address derived from map and key.
struct IRInterpreter {
    /// A map's shape, from the object the program was compiled into.
    struct MapShape { var keySize: Int; var valueSize: Int; var isArray: Bool; var maxEntries: Int }

    /// One run's inputs: the seed behind every byte not written and every
    /// helper result, and a context pattern.
    struct Input: CustomStringConvertible {
        var seed: UInt64
        /// 0: random context bytes; 1: small numbers (0…7); 2: zeros.
        var contextPattern: Int
        var description: String { "seed \(String(seed, radix: 16)), context \(["random", "small", "zero"][contextPattern])" }
    }

    /// How a run ended, and what it left that a pass must preserve.
    struct Outcome {
        enum End: Equatable { case returned(Int64), trapped(String), outOfSteps }
        var end: End
        /// Bytes written outside the stack (context, packet, map values, globals, records).
        var memory: [UInt64: UInt8]
        /// Map keys whose presence the run changed: (map, key bytes) → present.
        var presence: [MapKey: Bool]
        /// What output helpers were handed (records submitted, printk, …), in order.
        var output: [String]
        var steps: Int
    }
    struct MapKey: Hashable { var map: String; var key: [UInt8] }

    static let framePointer: UInt64 = 0x7F00_0000_0000
    static let contextAddress: UInt64 = 0x5000_0000_0000
    static let stackBytes: UInt64 = 512

    var maps: [String: MapShape]
    var stepLimit = 200_000

    // MARK: Helpers by name (ids from the BPF module's table).

    static func id(_ name: String) -> Int32 { HelperPrototype.named(name)!.id }
    static let lookup = id("map_lookup_elem"), update = id("map_update_elem"), delete = id("map_delete_elem")
    static let probeReads = Set(["probe_read", "probe_read_kernel", "probe_read_user"].map(id))
    static let probeReadStrings = Set(["probe_read_str", "probe_read_kernel_str", "probe_read_user_str"].map(id))
    /// The helpers reuse-invariant-calls may merge: one value per run.
    static let invariant = Set(["get_current_pid_tgid", "get_current_uid_gid", "get_current_task", "get_current_task_btf",
                                "get_current_cgroup_id", "get_smp_processor_id", "get_numa_node_id"].map(id))
    static let comm = id("get_current_comm")
    static let reserve = id("ringbuf_reserve"), submit = id("ringbuf_submit"), discard = id("ringbuf_discard")
    static let ringbufOutput = id("ringbuf_output"), perfOutput = id("perf_event_output"), printk = id("trace_printk")

    func run(_ f: IRFunction, _ input: Input) -> Outcome {
        var m = Machine(seed: input.seed, maps: maps)
        // The context: 512 bytes of the chosen pattern, as if the kernel wrote them before the run.
        for i in 0..<UInt64(512) {
            let h = Machine.hash(input.seed ^ 0xC0_11EC7, i)
            switch input.contextPattern {
            case 1: m.initial[Self.contextAddress + i] = UInt8(h % 8)
            case 2: m.initial[Self.contextAddress + i] = 0
            default: break
            }
        }
        var regs = [Int64](repeating: 0, count: max(f.vregCount, 1))
        regs[f.context.id] = Int64(bitPattern: Self.contextAddress)
        var block = 0, steps = 0
        func value(_ o: Operand) -> Int64 { switch o { case .imm(let v): return v; case .reg(let r): return regs[r.id] } }
        func finish(_ end: Outcome.End) -> Outcome {
            var memory: [UInt64: UInt8] = [:]
            for (a, b) in m.written where !(a >= Self.framePointer - Self.stackBytes && a < Self.framePointer) { memory[a] = b }
            return Outcome(end: end, memory: memory, presence: m.presence, output: m.output, steps: steps)
        }
        while true {
            guard block < f.blocks.count else { return finish(.trapped("jump to missing block b\(block)")) }
            for (insn, _) in f.blocks[block].instructions {
                steps += 1
                if steps > stepLimit { return finish(.outOfSteps) }
                switch insn {
                case .move(let d, let a): regs[d.id] = value(a)
                case .binary(let op, let d, let a, let b): regs[d.id] = op.fold(value(a), value(b))
                case .neg(let d, let a): regs[d.id] = 0 &- value(a)
                case .setcc(let c, let d, let a, let b): regs[d.id] = c.evaluate(value(a), value(b)) ? 1 : 0
                case .load(let d, let base, let off, let size, let signed):
                    // A load from kernel memory (through a BTF pointer) that
                    // faults reads 0, as the probe read it replaces would.
                    let a = UInt64(bitPattern: regs[base.id] &+ Int64(off))
                    regs[d.id] = m.faults(a) ? 0 : m.load(a, size, signed)
                case .loadFrame(let d, let off, let size, let signed):
                    regs[d.id] = m.load(Self.framePointer &+ UInt64(bitPattern: Int64(off)), size, signed)
                case .store(let base, let off, let v, let size):
                    m.store(UInt64(bitPattern: regs[base.id] &+ Int64(off)), size, value(v))
                case .storeFrame(let off, let v, let size):
                    m.store(Self.framePointer &+ UInt64(bitPattern: Int64(off)), size, value(v))
                case .atomicAdd(let base, let off, let v, let size):
                    let a = UInt64(bitPattern: regs[base.id] &+ Int64(off))
                    m.store(a, size, m.load(a, size, false) &+ regs[v.id])
                case .stringAddress(let d, let off): regs[d.id] = Int64(bitPattern: 0x6C00_0000_0000 + UInt64(off))
                case .mapAddress(let d, let name): regs[d.id] = Int64(bitPattern: Machine.mapAddress(name.string))
                case .variableAddress(let d, let name): regs[d.id] = Int64(bitPattern: 0x6800_0000_0000 + (Machine.fnv(name.string) & 0xFFFF_FFFF) << 8)
                case .frameAddress(let d, let off): regs[d.id] = Int64(bitPattern: Self.framePointer &+ UInt64(bitPattern: Int64(off)))
                case .coreConstant(let d, let v, _): regs[d.id] = v
                case .call(let d, let helper, let args):
                    let r = m.call(helper, args.map(value))
                    if let d { regs[d.id] = r }
                }
            }
            steps += 1
            switch f.blocks[block].terminator {
            case .jump(let t): block = t
            case .branch(let c, let a, let b, let t, let e): block = c.evaluate(value(a), value(b)) ? t : e
            case .ret(let a): return finish(.returned(value(a)))
            case .unreachable: return finish(.trapped("reached `unreachable` in b\(block)"))
            }
            if steps > stepLimit { return finish(.outOfSteps) }
        }
    }

    /// What differs between two outcomes (nil: the same). Memory and maps
    /// are compared on every address and key either run touched.
    static func difference(_ a: Outcome, _ b: Outcome, seed: UInt64, maps: [String: MapShape]) -> String? {
        if a.end != b.end { return "ended \(a.end) before, \(b.end) after" }
        for addr in Set(a.memory.keys).union(b.memory.keys).sorted() {
            let x = a.memory[addr] ?? Machine.defaultByte(seed, addr), y = b.memory[addr] ?? Machine.defaultByte(seed, addr)
            if x != y { return "byte at 0x\(String(addr, radix: 16)): \(x) before, \(y) after" }
        }
        for k in Set(a.presence.keys).union(b.presence.keys) {
            let initial = Machine.initiallyPresent(seed, k, maps[k.map])
            if (a.presence[k] ?? initial) != (b.presence[k] ?? initial) { return "map \(k.map) key \(k.key): present \(a.presence[k] ?? initial) before, \(b.presence[k] ?? initial) after" }
        }
        if a.output != b.output { return "output \(a.output) before, \(b.output) after" }
        return nil
    }
}

/// One run's mutable state.
private struct Machine {
    let seed: UInt64
    let maps: [String: IRInterpreter.MapShape]
    var initial: [UInt64: UInt8] = [:]
    var written: [UInt64: UInt8] = [:]
    var presence: [IRInterpreter.MapKey: Bool] = [:]
    var output: [String] = []
    var calls: [Int32: UInt64] = [:]
    var reservations: [UInt64: Int] = [:]
    var nextReservation: UInt64 = 0x7400_0000_0000

    init(seed: UInt64, maps: [String: IRInterpreter.MapShape]) { self.seed = seed; self.maps = maps }

    static func hash(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a &+ b &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    static func fnv(_ s: String) -> UInt64 { s.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 } }
    static func fnv(_ bytes: [UInt8]) -> UInt64 { bytes.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 } }
    static func defaultByte(_ seed: UInt64, _ addr: UInt64) -> UInt8 { UInt8(truncatingIfNeeded: hash(seed, addr)) }
    static func mapAddress(_ name: String) -> UInt64 { 0x6000_0000_0000 + (fnv(name) & 0xFFFF_FFFF) << 8 }
    static func valueAddress(_ map: String, _ key: [UInt8]) -> UInt64 { 0x7000_0000_0000 + (hash(fnv(map), fnv(key)) & 0xFF_FFFF_FFFF) << 6 }
    static func initiallyPresent(_ seed: UInt64, _ k: IRInterpreter.MapKey, _ shape: IRInterpreter.MapShape?) -> Bool {
        guard let shape else { return false }
        if shape.isArray {
            var index: UInt64 = 0
            for (i, b) in k.key.prefix(4).enumerated() { index |= UInt64(b) << (8 * i) }
            return index < UInt64(shape.maxEntries)
        }
        return hash(seed ^ fnv(k.map), fnv(k.key)) & 1 == 1
    }

    func byte(_ a: UInt64) -> UInt8 { written[a] ?? initial[a] ?? Self.defaultByte(seed, a) }
    func bytes(_ a: UInt64, _ n: Int) -> [UInt8] { (0..<n).map { byte(a &+ UInt64($0)) } }
    mutating func write(_ a: UInt64, _ bs: [UInt8]) { for (i, b) in bs.enumerated() { written[a &+ UInt64(i)] = b } }

    func load(_ a: UInt64, _ size: Int, _ signed: Bool) -> Int64 {
        var v: UInt64 = 0
        for i in 0..<size { v |= UInt64(byte(a &+ UInt64(i))) << (8 * i) }
        if signed && size < 8 && v >> (size * 8 - 1) & 1 == 1 { v |= ~((1 << UInt64(size * 8)) - 1) }
        return Int64(bitPattern: v)
    }
    mutating func store(_ a: UInt64, _ size: Int, _ v: Int64) {
        write(a, (0..<size).map { UInt8(truncatingIfNeeded: UInt64(bitPattern: v) >> (8 * $0)) })
    }

    func mapName(at address: Int64) -> String? {
        maps.keys.first { Self.mapAddress($0) == UInt64(bitPattern: address) }
    }
    /// Whether a probe read from this address faults (by page, from the seed;
    /// never the stack, the context or a map value, which the kernel would read).
    func faults(_ a: UInt64) -> Bool {
        if a >= 0x5000_0000_0000 && a < 0x8000_0000_0000 { return false }
        return Self.hash(seed ^ 0xFA17, a >> 12) % 4 == 0
    }
    func present(_ k: IRInterpreter.MapKey) -> Bool { presence[k] ?? Self.initiallyPresent(seed, k, maps[k.map]) }

    /// A helper call, modelled: maps, probe reads, invariant ids, ring buffer
    /// records and output; any other helper gives a value that depends on the
    /// run's seed and how many times it was called.
    mutating func call(_ helper: Int32, _ args: [Int64]) -> Int64 {
        typealias I = IRInterpreter
        func addr(_ i: Int) -> UInt64 { UInt64(bitPattern: args[i]) }
        switch helper {
        case I.lookup, I.update, I.delete:
            guard let name = mapName(at: args[0]), let shape = maps[name] else { return 0 }
            let k = I.MapKey(map: name, key: bytes(addr(1), shape.keySize))
            let value = Self.valueAddress(name, k.key)
            switch helper {
            case I.lookup: return present(k) ? Int64(bitPattern: value) : 0
            case I.update:
                let flags = args[3]
                if shape.isArray && !Self.initiallyPresent(seed, k, shape) { return -7 }   // E2BIG
                if flags == 1 && present(k) { return -17 }                              // BPF_NOEXIST: EEXIST
                if flags == 2 && !present(k) { return -2 }                              // BPF_EXIST: ENOENT
                write(value, bytes(addr(2), shape.valueSize))
                presence[k] = true
                return 0
            default:
                if shape.isArray { return -22 }
                guard present(k) else { return -2 }
                presence[k] = false
                return 0
            }
        case _ where I.probeReads.contains(helper):
            let n = max(0, Int(args[1]))
            // A quarter of the pages fault: the helper zeroes the buffer and
            // returns -EFAULT (forward-probe-reads counts on the zeroing).
            if faults(addr(2)) { write(addr(0), [UInt8](repeating: 0, count: n)); return -14 }
            write(addr(0), bytes(addr(2), n))
            return 0
        case _ where I.probeReadStrings.contains(helper):
            let n = max(0, Int(args[1]))
            guard n > 0 else { return 0 }
            if faults(addr(2)) { write(addr(0), [UInt8](repeating: 0, count: n)); return -14 }
            var s = bytes(addr(2), n - 1)
            if let z = s.firstIndex(of: 0) { s = Array(s[..<z]) }
            write(addr(0), s + [0])
            return Int64(s.count + 1)
        case _ where I.invariant.contains(helper):
            return Int64(bitPattern: Self.hash(seed, UInt64(helper)) & 0x7FFF_FFFF_FFFF)
        case I.comm:
            write(addr(0), (0..<max(0, Int(args[1]))).map { $0 < 4 ? Array("ruby".utf8)[$0] : 0 })
            return 0
        case I.reserve:
            let a = nextReservation
            nextReservation += 0x1_0000
            reservations[a] = Int(args[1])
            return Int64(bitPattern: a)
        case I.submit, I.discard:
            let size = reservations[addr(0)] ?? 0
            output.append("\(helper == I.submit ? "submit" : "discard") \(bytes(addr(0), size))")
            return 0
        case I.ringbufOutput:
            output.append("ringbuf_output \(mapName(at: args[0]) ?? "?") \(bytes(addr(1), max(0, min(4096, Int(args[2])))))")
            return 0
        case I.perfOutput:
            output.append("perf_event_output \(mapName(at: args[1]) ?? "?") \(bytes(addr(3), max(0, min(4096, Int(args[4])))))")
            return 0
        case I.printk:
            output.append("printk \(bytes(addr(0), max(0, min(256, Int(args[1]))))) \(args.dropFirst(2).map(String.init))")
            return 0
        default:
            let n = calls[helper, default: 0]
            calls[helper] = n + 1
            return Int64(bitPattern: Self.hash(seed ^ UInt64(helper), n) & 0xFFFF)
        }
    }
}
