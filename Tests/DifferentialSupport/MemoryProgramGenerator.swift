import Foundation

/// Random probe programs that touch memory, for differential testing of the
/// optimizer: stack structs of mixed widths, array and hash maps (update,
/// lookup, `+=`, delete), invariant helper calls (`cpu`, `get_numa_node_id`),
/// params, probe reads of known bytes (the test packet, read through
/// `cast(:iphdr, ctx.data + n)`), and loops over them.
///
/// Every case is produced twice from the same random choices: the BPF body
/// (compiled by Infrared as a `tc` program) and a model body that mruby runs
/// over `MemoryModel.prelude`, where the maps are Ruby Hash/Array objects and
/// 64-bit wraparound is spelled out (`add`, `sub`, `mul`, `shl`: mruby raises
/// on overflow, the BPF program wraps). Both leave the case's result in `r`.

/// A deterministic random source (SplitMix64), so a failing seed reproduces.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One generated case: the same program as BPF source and as model source.
public struct MemoryCase {
    public var bpf: String
    public var model: String
    /// Only literals: mruby's compiler would fold an operation on two of them.
    var constant = false
    public init(bpf: String, model: String) { self.bpf = bpf; self.model = model }
    init(literal: String) { bpf = literal; model = literal; constant = true }
}

/// The declarations every generated file shares, and what the model knows of them.
public enum MemoryModel {
    /// The struct `S`: one field of each width and signedness, C layout.
    public static let fields: [(name: String, size: Int, signed: Bool, offset: Int)] = [
        ("a", 1, false, 0), ("e", 1, true, 1), ("b", 2, false, 2), ("f", 2, true, 4),
        ("c", 4, false, 8), ("g", 4, true, 12), ("d", 8, false, 16), ("h", 8, true, 24),
    ]
    public static let structSize = 32
    /// `arr`: array, u32 index → s64, this many slots.
    public static let arraySlots = 8
    /// Params (`.rodata`): name, type, default.
    public static let params: [(name: String, type: String, value: Int64)] = [
        ("p8", "u8", 200), ("p16", "s16", -12345), ("p32", "u32", 4_000_000_000), ("p64", "s64", -1_234_567_890_123),
    ]

    /// The probe file's declarations (`out` has one slot per case).
    public static func declarations(cases: Int) -> String {
        var s = "license \"GPL\"\n"
        for p in params { s += "param :\(p.name), :\(p.type), default: \(p.value)\n" }
        s += "struct :S do\n"
        for f in fields { s += "  \(f.signed ? "s" : "u")\(f.size * 8) :\(f.name)\n" }
        s += "end\n"
        s += "map :arr, :array, value: :s64, max_entries: \(arraySlots)\n"
        s += "map :h, :hash, key: :u8, value: :s64, max_entries: 256\n"
        s += "map :hs, :hash, key: :u8, value: :S, max_entries: 256\n"
        s += "map :out, :array, value: :s64, max_entries: \(cases)\n"
        return s
    }

    /// The model's Ruby: wrapping arithmetic, the packet, `S`, the maps, and
    /// a dump of their final state (`dump`) in the format the test parses.
    public static func prelude(packet: [UInt8], cpu: Int, numaNode: Int) -> String {
        var s = """
        M32 = 0xffffffff
        MIN64 = -9223372036854775807 - 1
        # The signed 64-bit value whose halves are hi and lo (each 0...2**32).
        def mk(hi, lo)
          hi < 0x80000000 ? ((hi << 32) | lo) : (((hi - 0x100000000) << 32) | lo)
        end
        def hi32(x); (x >> 32) & M32; end
        def lo32(x); x & M32; end
        def add(a, b)
          lo = lo32(a) + lo32(b)
          mk((hi32(a) + hi32(b) + (lo >> 32)) & M32, lo & M32)
        end
        def sub(a, b); add(a, add(~b, 1)); end
        def limbs(x); [x & 0xffff, (x >> 16) & 0xffff, (x >> 32) & 0xffff, (x >> 48) & 0xffff]; end
        def mul(a, b)
          x = limbs(a); y = limbs(b); r = [0, 0, 0, 0]; carry = 0
          4.times do |k|
            t = carry
            (k + 1).times { |i| t += x[i] * y[k - i] }
            r[k] = t & 0xffff
            carry = t >> 16
          end
          mk((r[3] << 16) | r[2], (r[1] << 16) | r[0])
        end
        def shl(a, n)
          return a if n == 0
          return mk((lo32(a) << (n - 32)) & M32, 0) if n >= 32
          mk(((hi32(a) << n) | (lo32(a) >> (32 - n))) & M32, (lo32(a) << n) & M32)
        end
        # mruby 3.1 compares Integers beyond 62 bits wrongly (`-(2**63 - 1) > 1` is
        # true): compare by halves, each small.
        def cmp(a, b)
          ah = a >> 32; bh = b >> 32
          return ah <=> bh if ah != bh
          lo32(a) <=> lo32(b)
        end
        def eq(a, b); cmp(a, b) == 0; end
        def ne(a, b); cmp(a, b) != 0; end
        def lt(a, b); cmp(a, b) < 0; end
        def le(a, b); cmp(a, b) <= 0; end
        def gt(a, b); cmp(a, b) > 0; end
        def ge(a, b); cmp(a, b) >= 0; end
        def div(a, b); eq(b, -1) ? sub(0, a) : a / b; end
        def mod(a, b); eq(b, -1) ? 0 : a % b; end
        # Truncation to a field or key width, zero- or sign-extended back.
        def narrow(x, size, signed)
          return x if size == 8
          bits = size * 8
          v = x & ((1 << bits) - 1)
          signed && v >= (1 << (bits - 1)) ? v - (1 << bits) : v
        end

        """
        s += "PKT = [\(packet.map(String.init).joined(separator: ", "))]\n"
        s += """
        # Little-endian read of the packet (a probe read of known bytes).
        def rd(off, size, signed)
          return mk(rd(off + 4, 4, false), rd(off, 4, false)) if size == 8
          v = 0
          size.times { |i| v |= PKT[off + i] << (8 * i) }
          narrow(v, size, signed)
        end
        CPU = \(cpu)
        NUMA = \(numaNode)
        class Ctx; def len; \(packet.count); end; end

        """
        for p in params {
            let size = ["u8": 1, "s16": 2, "u32": 4, "s64": 8][p.type]!
            s += "def \(p.name); narrow(\(p.value), \(size), \(p.type.hasPrefix("s"))); end\n"
        }
        s += "class S\n  def initialize; \(fields.map { "@\($0.name) = 0" }.joined(separator: "; ")); end\n"
        for f in fields {
            s += "  def \(f.name); @\(f.name); end\n"
            s += "  def \(f.name)=(v); @\(f.name) = narrow(v, \(f.size), \(f.signed)); end\n"
        }
        s += "  def copy; o = S.new; \(fields.map { "o.\($0.name) = @\($0.name)" }.joined(separator: "; ")); o; end\n"
        s += "  def to_s; [\(fields.map { "@\($0.name)" }.joined(separator: ", "))].join(' '); end\nend\n"
        s += """
        class ArrayModel
          def initialize(n); @v = Array.new(n, 0); end
          def slot(k); i = k & M32; i < @v.size ? i : nil; end
          def [](k); i = slot(k); i ? @v[i] : 0; end
          def []=(k, x); i = slot(k); @v[i] = x if i; end
          def inc(k, x); i = slot(k); @v[i] = add(@v[i], x) if i; end
          def dump(tag); @v.each_with_index { |x, i| puts "#{tag} #{i} #{x}" }; end
        end
        class Ref
          def initialize(h, k); @h = h; @k = k; end
          def value; @h[@k]; end
        end
        class HashModel
          def initialize; @h = {}; end
          def [](k); @h[k & 255] || 0; end
          def []=(k, x); @h[k & 255] = x.is_a?(S) ? x.copy : x; end
          def inc(k, x); k &= 255; @h[k] = @h.key?(k) ? add(@h[k], x) : x; end
          def delete(k); @h.delete(k & 255); end
          def lookup(k); k &= 255; return nil unless @h.key?(k); v = @h[k]; v.is_a?(S) ? v : Ref.new(@h, k); end
          def dump(tag); @h.keys.sort.each { |k| puts "#{tag} #{k} #{@h[k]}" }; end
        end
        $arr = ArrayModel.new(\(arraySlots))
        $h = HashModel.new
        $hs = HashModel.new
        def arr; $arr; end
        def h; $h; end
        def hs; $hs; end

        """
        return s
    }
}

/// Generates case bodies. Integer locals `a b c r`, structs `s t` (`S`), and
/// one lookup pointer at a time; values read from u64 storage are used as
/// `(x + k)` (which is signed, as the model's Integers are).
public struct MemoryProgramGenerator {
    var rng: SplitMix64
    public init(rng: inout SplitMix64) { self.rng = SplitMix64(seed: rng.next()) }
    private let vars = ["a", "b", "c", "r"]
    /// Nesting of `times` loops: their counters, usable as leaves.
    private var loopCounters: [String] = []
    private var lookups = 0

    mutating func int(_ r: ClosedRange<Int64>) -> Int64 { Int64.random(in: r, using: &rng) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 10_000) / 10_000 < p }
    private func same(_ s: String) -> MemoryCase { MemoryCase(bpf: s, model: s) }

    mutating func literal() -> String {
        switch rng.next() % 10 {
        case 0: return String(int(-(1 << 40)...(1 << 40)))
        case 1: return String(int(-3...3))
        case 2: return pick(["9223372036854775807", "-9223372036854775807", "4294967295", "2147483647"])
        default: return String(int(-1000...1000))
        }
    }

    /// A probe read of the packet: `cast(:iphdr, ctx.data + OFF).FIELD` (or a
    /// timespec64 for 8-byte reads), OFF a constant or a loop counter times 4.
    mutating func packetRead(size wanted: Int? = nil) -> MemoryCase {
        let iphdr: [(String, Int, Int, Bool)] = [("tos", 1, 1, false), ("tot_len", 2, 2, false), ("id", 4, 2, false), ("frag_off", 6, 2, false),
                                                  ("ttl", 8, 1, false), ("protocol", 9, 1, false), ("check", 10, 2, false),
                                                  ("saddr", 12, 4, false), ("daddr", 16, 4, false)]
        let timespec: [(String, Int, Int, Bool)] = [("tv_sec", 0, 8, true), ("tv_nsec", 8, 8, true)]
        var choices = iphdr.map { ("iphdr", 20, $0) } + timespec.map { ("timespec64", 16, $0) }
        if let wanted { choices = choices.filter { $0.2.2 == wanted } }
        let (type, typeSize, (field, fieldOffset, size, signed)) = pick(choices)
        // 64-byte packet: with a counter j < 4, the offset is j*4 + base.
        if let j = loopCounters.last, chance(0.5) {
            let base = int(0...Int64(64 - typeSize - 12))
            return MemoryCase(bpf: "cast(:\(type), ctx.data + \(j) * 4 + \(base)).\(field)",
                              model: "rd(\(j) * 4 + \(base + Int64(fieldOffset)), \(size), \(signed))")
        }
        let off = int(0...Int64(64 - typeSize))
        return MemoryCase(bpf: "cast(:\(type), ctx.data + \(off)).\(field)", model: "rd(\(off + Int64(fieldOffset)), \(size), \(signed))")
    }

    mutating func field(_ s: String) -> MemoryCase {
        let f = pick(MemoryModel.fields)
        if f.size == 8 && !f.signed {
            let k = pick(["0", "1", String(int(-1000...1000))])
            return MemoryCase(bpf: "(\(s).\(f.name) + \(k))", model: "add(\(s).\(f.name), \(k))")
        }
        return same("\(s).\(f.name)")
    }

    mutating func leaf() -> MemoryCase {
        // Each probe read and map read takes stack (448 bytes in all): few of them.
        switch rng.next() % 20 {
        case 0, 1, 2, 3, 16, 17, 18: return same(pick(vars))
        case 4, 5, 19: return MemoryCase(literal: literal())
        case 6: return same(pick(MemoryModel.params).name)
        case 7: return MemoryCase(bpf: "cpu", model: "CPU")
        case 8: return MemoryCase(bpf: "get_numa_node_id", model: "NUMA")
        case 9: return same("ctx.len")
        case 10: return field(pick(["s", "t"]))
        case 11: let k = key(); return MemoryCase(bpf: "arr[\(k.bpf)]", model: "arr[\(k.model)]")
        case 12: let k = key(); return MemoryCase(bpf: "h[\(k.bpf)]", model: "h[\(k.model)]")
        case 13: return packetRead()
        case 14: return chance(0.5) ? packetRead() : same(pick(vars))
        default: return loopCounters.isEmpty ? same(pick(vars)) : same(pick(loopCounters))
        }
    }

    /// A map key: small constants, masked expressions, packet bytes.
    mutating func key() -> MemoryCase {
        switch rng.next() % 6 {
        case 0, 1: return same(String(int(0...9)))
        case 2: let e = expr(1); return MemoryCase(bpf: "(\(e.bpf) & 7)", model: "(\(e.model) & 7)")
        case 3: let e = expr(1); return MemoryCase(bpf: "(\(e.bpf) & 255)", model: "(\(e.model) & 255)")
        case 4: return packetRead(size: 1)
        default: return loopCounters.isEmpty ? same(String(int(0...9))) : same(pick(loopCounters))
        }
    }

    /// A variable in place of a constant operand. mruby 3.1's compiler folds
    /// operations on literals, and folds wrongly when an operand is a negative
    /// value below -65535 (it reads OP_LOADI32's operand without its sign:
    /// `(-70000) + 1` is 4294897297 in mruby 3.1, and so in the BPF program
    /// compiled from its bytecode). No operation here has constant operands only.
    mutating func unfolded(_ x: MemoryCase, unless other: MemoryCase? = nil) -> MemoryCase {
        guard x.constant, other?.constant ?? true else { return x }
        return same(pick(vars))
    }

    mutating func expr(_ depth: Int = 3) -> MemoryCase {
        if depth == 0 || chance(0.25) { return leaf() }
        var x = expr(depth - 1)
        switch rng.next() % 12 {
        case 0, 1, 2, 3:
            var y = expr(depth - 1)
            y = unfolded(y, unless: x)
            let op = pick(["+", "-", "*", "&", "|", "^"])
            let fn = ["+": "add", "-": "sub", "*": "mul"][op]
            return MemoryCase(bpf: "(\(x.bpf) \(op) \(y.bpf))", model: fn.map { "\($0)(\(x.model), \(y.model))" } ?? "(\(x.model) \(op) \(y.model))")
        case 4:
            let y = unfolded(expr(depth - 1))
            let op = pick(["/", "%"])
            return MemoryCase(bpf: "(\(x.bpf) \(op) (\(y.bpf) | 1))", model: "\(op == "/" ? "div" : "mod")(\(x.model), (\(y.model) | 1))")
        case 5:
            x = unfolded(x)
            let n = int(0...40)
            return MemoryCase(bpf: "((\(x.bpf) & 16777215) << \(n))", model: "shl((\(x.model) & 16777215), \(n))")
        case 6:
            x = unfolded(x)
            let n = int(0...63)
            return MemoryCase(bpf: "(\(x.bpf) >> \(n))", model: "(\(x.model) >> \(n))")
        case 7: x = unfolded(x); return MemoryCase(bpf: "(-\(x.bpf))", model: "sub(0, \(x.model))")
        case 8: x = unfolded(x); return MemoryCase(bpf: "(~\(x.bpf))", model: "(~\(x.model))")
        case 9:
            let c = cond(depth - 1), y = expr(depth - 1)
            return MemoryCase(bpf: "(\(c.bpf) ? \(x.bpf) : \(y.bpf))", model: "(\(c.model) ? \(x.model) : \(y.model))")
        case 10:
            x = unfolded(x)
            let d = pick(["3", "7", "-5", "16", "1", "-1"])
            return MemoryCase(bpf: "(\(x.bpf) / \(d))", model: "div(\(x.model), \(d))")
        default:
            x = unfolded(x)
            let d = pick(["3", "7", "-5", "16", "1000", "-1"])
            return MemoryCase(bpf: "(\(x.bpf) % \(d))", model: "mod(\(x.model), \(d))")
        }
    }

    mutating func cond(_ depth: Int = 2) -> MemoryCase {
        if depth > 0 && chance(0.3) {
            let x = cond(depth - 1)
            switch rng.next() % 3 {
            case 0: let y = cond(depth - 1); return MemoryCase(bpf: "(\(x.bpf) && \(y.bpf))", model: "(\(x.model) && \(y.model))")
            case 1: let y = cond(depth - 1); return MemoryCase(bpf: "(\(x.bpf) || \(y.bpf))", model: "(\(x.model) || \(y.model))")
            default: return MemoryCase(bpf: "!\(x.bpf)", model: "!\(x.model)")
            }
        }
        // Never `x < 0`, `x >= 0`, `0 > x` or `0 <= x` (a compile error when x is
        // unsigned: always false or true): the side that would be 0 is odd.
        var x = expr(1), y = expr(1)
        let op = pick(["==", "!=", "<", "<=", ">", ">="])
        if op == "<" || op == ">=" { y = MemoryCase(bpf: "(\(y.bpf) | 1)", model: "(\(y.model) | 1)") }
        if op == ">" || op == "<=" { x = MemoryCase(bpf: "(\(x.bpf) | 1)", model: "(\(x.model) | 1)") }
        let fn = ["==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"][op]!
        return MemoryCase(bpf: "(\(x.bpf) \(op) \(y.bpf))", model: "\(fn)(\(x.model), \(y.model))")
    }

    private func indent(_ c: MemoryCase) -> MemoryCase {
        func i(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") }
        return MemoryCase(bpf: i(c.bpf), model: i(c.model))
    }
    private func lines(_ cs: [MemoryCase]) -> MemoryCase {
        MemoryCase(bpf: cs.map(\.bpf).joined(separator: "\n"), model: cs.map(\.model).joined(separator: "\n"))
    }

    /// A memory statement: struct fields (masked stores, copies between
    /// fields), map updates, `+=`, deletes, lookups.
    mutating func memoryStatement(_ depth: Int) -> MemoryCase {
        switch rng.next() % 12 {
        case 0, 1:
            let s = pick(["s", "t"]), f = pick(MemoryModel.fields), e = expr()
            if f.size < 8 && chance(0.5) {
                // A mask covering the field: narrow-stores drops it.
                let mask = ["1": "255", "2": "65535", "4": "4294967295"][String(f.size)]!
                return MemoryCase(bpf: "\(s).\(f.name) = \(e.bpf) & \(mask)", model: "\(s).\(f.name) = \(e.model) & \(mask)")
            }
            return MemoryCase(bpf: "\(s).\(f.name) = \(e.bpf)", model: "\(s).\(f.name) = \(e.model)")
        case 2:
            // A field copied to a field no wider (unsigned-loads: a signed load only stored).
            let from = pick(MemoryModel.fields)
            let to = pick(MemoryModel.fields.filter { $0.size <= from.size })
            let (a, b) = pick([("s", "t"), ("t", "s"), ("s", "s")])
            return same("\(b).\(to.name) = \(a).\(from.name)")
        case 3:
            let k = key(), e = expr()
            return MemoryCase(bpf: "arr[\(k.bpf)] = \(e.bpf)", model: "arr[\(k.model)] = \(e.model)")
        case 4:
            let k = key(), e = expr()
            return MemoryCase(bpf: "arr[\(k.bpf)] += \(e.bpf)", model: "arr.inc(\(k.model), \(e.model))")
        case 5:
            let k = key(), e = expr()
            return MemoryCase(bpf: "h[\(k.bpf)] = \(e.bpf)", model: "h[\(k.model)] = \(e.model)")
        case 6:
            let k = key(), e = expr()
            return MemoryCase(bpf: "h[\(k.bpf)] += \(e.bpf)", model: "h.inc(\(k.model), \(e.model))")
        case 7:
            let k = key()
            return MemoryCase(bpf: "h.delete(\(k.bpf))", model: "h.delete(\(k.model))")
        case 8:
            let k = key(), s = pick(["s", "t"])
            return MemoryCase(bpf: "hs[\(k.bpf)] = \(s)", model: "hs[\(k.model)] = \(s)")
        case 9 where lookups == 0 && depth > 0:
            // A struct value in a map, read and written through the lookup pointer.
            lookups += 1
            let k = key(), f = pick(MemoryModel.fields), e = expr(2), v = pick(vars), read = field("q")
            return lines([MemoryCase(bpf: "q = hs.lookup(\(k.bpf))", model: "q = hs.lookup(\(k.model))"),
                          same("if q"),
                          MemoryCase(bpf: "  q.\(f.name) = \(e.bpf)", model: "  q.\(f.name) = \(e.model)"),
                          MemoryCase(bpf: "  \(v) = \(read.bpf)", model: "  \(v) = \(read.model)"),
                          same("end")])
        case 10 where lookups == 0 && depth > 0:
            // An integer value in a map, read through the lookup pointer when there is one.
            lookups += 1
            let k = key(), v = pick(vars), z = int(-5...5)
            return lines([MemoryCase(bpf: "w = h.lookup(\(k.bpf))", model: "w = h.lookup(\(k.model))"),
                          same("\(v) = w ? w.value : \(z)")])
        default:
            let v = pick(vars), e = expr()
            return MemoryCase(bpf: "\(v) = \(e.bpf)", model: "\(v) = \(e.model)")
        }
    }

    mutating func statement(_ depth: Int) -> MemoryCase {
        let v = pick(vars)
        switch depth == 0 ? 0 : rng.next() % 10 {
        case 0, 1, 2, 3: return memoryStatement(depth)
        case 4:
            let c1 = cond(), c2 = cond(), s1 = indent(statement(depth - 1)), s2 = indent(statement(depth - 1)), s3 = indent(statement(depth - 1))
            return lines([MemoryCase(bpf: "if \(c1.bpf)", model: "if \(c1.model)"), s1,
                          MemoryCase(bpf: "elsif \(c2.bpf)", model: "elsif \(c2.model)"), s2, same("else"), s3, same("end")])
        case 5:
            let c = cond(), s = indent(statement(depth - 1))
            return lines([MemoryCase(bpf: "unless \(c.bpf)", model: "unless \(c.model)"), s, same("end")])
        case 6:
            let e = expr(2), c = cond(1)
            return MemoryCase(bpf: "\(v) = \(e.bpf) if \(c.bpf)", model: "\(v) = \(e.model) if \(c.model)")
        case 7:
            // A loop over memory: the counter indexes maps and the packet.
            let n = int(0...4), j = "j\(loopCounters.count)"
            loopCounters.append(j)
            let body = (0..<Int(int(1...2))).map { _ in indent(statement(depth - 1)) }
            loopCounters.removeLast()
            return lines([same("\(n).times do |\(j)|")] + body + [same("end")])
        case 8:
            let k = int(0...5), e = expr(1)
            let i = "i\(depth)"
            return lines([same("\(i) = 0"), same("while \(i) < \(k)"),
                          MemoryCase(bpf: "  \(v) = \(v) ^ (\(i) * \(e.bpf))", model: "  \(v) = \(v) ^ mul(\(i), \(e.model))"),
                          same("  \(i) += 1"), same("end")])
        default:
            let a = int(-3...3), b = int(4...6), e1 = expr(1), e2 = expr(1), e3 = expr(1)
            return lines([same("case \(v) & 7"),
                          MemoryCase(bpf: "when \(a) then \(v) = \(e1.bpf)", model: "when \(a) then \(v) = \(e1.model)"),
                          MemoryCase(bpf: "when \(b), \(b + 1) then \(v) = \(e2.bpf)", model: "when \(b), \(b + 1) then \(v) = \(e2.model)"),
                          MemoryCase(bpf: "else \(v) = \(e3.bpf)", model: "else \(v) = \(e3.model)"), same("end")])
        }
    }

    /// A generous estimate of the stack a body's lowering allocates: 8 bytes
    /// a probe read or lookup, 16 a map access (key and value), the two structs.
    static func stackEstimate(_ bpf: String) -> Int {
        func count(_ s: String) -> Int { bpf.components(separatedBy: s).count - 1 }
        return 8 * count("cast(") + 8 * count(".lookup(") + 16 * (count("arr[") + count("h[")) + 2 * MemoryModel.structSize
    }

    /// A whole body: locals from the context and constants, structs `s` and
    /// `t`, statements, and the result in `r`.
    public mutating func body() -> MemoryCase {
        lookups = 0
        let k = int(-50...50), z = int(0...5000)
        var out: [MemoryCase] = [
            MemoryCase(bpf: "a = ctx.len * \(k) - \(z)", model: "a = sub(mul(ctx.len, \(k)), \(z))"),
            same("b = ctx.len - \(int(0...200))"), same("c = \(literal())"), same("r = ctx.len"),
            same("s = S.new"), same("t = S.new"),
        ]
        for _ in 0..<Int(int(2...6)) { out.append(statement(2)) }
        let e = expr()
        out.append(MemoryCase(bpf: "r = \(e.bpf)", model: "r = \(e.model)"))
        // The compiler gives each probe read, map key and value its own stack
        // slot (448 bytes in all): statements past the budget are left out.
        while Self.stackEstimate(out.map(\.bpf).joined(separator: "\n")) > 360 && out.count > 7 { out.remove(at: out.count - 2) }
        let all = lines(out)
        func indent2(_ s: String) -> String { s.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") }
        return MemoryCase(bpf: indent2(all.bpf), model: indent2(all.model))
    }
}
