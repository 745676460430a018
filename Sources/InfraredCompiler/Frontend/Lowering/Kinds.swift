import BPF

// What a register holds (`Kind`), and the identities of possibly-nil pointers.

/// What a value held in an mruby register is, as far as code generation cares.
enum Kind: Equatable {
    /// Not assigned on any path seen yet (reads as nil).
    case unset
    /// A 64-bit integer. `unsigned64`: a u64 that compares unsigned;
    /// `nonNegative`: known ≥ 0 (unsigned division and modulo are exact).
    case int(unsigned64: Bool, nonNegative: Bool)
    /// true/false, held as 1/0.
    case bool
    case `nil`
    /// The program's context pointer.
    case context
    /// A string literal (only usable where a helper takes `const char *`).
    case string(String)
    case symbol(String)
    /// `self` of the body (receiver of helper calls).
    case selfObject
    /// A block literal (`BLOCK` instruction), child irep index.
    case block(Int)
    /// `size` in `bpf_trace_printk(fmt, size, …)`: the format's length.
    case formatSize
    /// Different kinds on different paths.
    case mixed
    /// A declared map (`counts`), usable as a receiver.
    case map(String)
    /// An implicit map (`@opens`) as a receiver (ImplicitMaps.swift).
    case implicitMap(String)
    /// `@lat[k]` as the receiver of an aggregation (`.hist(v)`): its key,
    /// built on the stack at `keyOffset` (a histogram's bucket at `bucketOffset`).
    case implicitEntry(String, keyOffset: Int, bucketOffset: Int)
    /// A declared struct's name (`Event`), for `Event.new` and `reserve(Event)`.
    case structType(String)
    /// A pointer (in the register) to memory of a known layout: a map value,
    /// a ring buffer record. `nullable` until checked; `id` identifies the
    /// value across copies so a check refines every copy.
    case pointer(ValueType, nullable: Bool, id: Int)
    /// A struct on the BPF stack at R10+offset (`Event.new`).
    /// `site` names the `Event.new` that made it (`Lowering.frameOffset` gives
    /// its stack offset): the analysis and the emission allocate stack in
    /// different orders, so an offset in a kind would be the analysis's.
    case frameObject(ValueType, site: Int)
    /// A typed kernel pointer (`current_task`, `cast(:sock, x)`), read with CO-RE.
    case kernel(String)
    /// A member path inside a kernel struct not yet read (embedded structs):
    /// the register holds the pointer to the root struct.
    case kernelPath(root: String, path: [String], type: String)
    /// `comm`: the task's name, written into a char array.
    case comm
    /// `kstack` / `ustack`: a stack id in the implied stack map, an implicit
    /// map's key part (layout: `Manifest.Implicit.stacks`).
    case stack(user: Bool)
    /// A C string in kernel or user memory, its address in the register:
    /// `capacity` is N for a `char[N]` array (a kernel struct member, a
    /// tracepoint's inline chars), nil for a `char *` of unknown length.
    case cString(user: Bool, capacity: Int?)
    /// A `char[N]` the program may read (a field of a stack struct, map
    /// value or record): the register holds its address. A string of at
    /// most N - 1 characters and its NUL (StringCompare.swift).
    case charArray(Int)
    /// A ring buffer record after `submit`/`discard`.
    case released
    /// An interpolated string (`"pid #{pid}"`, STRCAT), for `puts` (Print.swift).
    case text([TextPiece])

    static let signedInt = Kind.int(unsigned64: false, nonNegative: false)
    /// A u64 by type (`ktime_ns`, a :u64 value, their sums and differences).
    static let unsignedInt = Kind.int(unsigned64: true, nonNegative: true)

    func merged(with o: Kind) -> Kind {
        if self == o { return self }
        switch (self, o) {
        case (.unset, _): return o
        case (_, .unset): return self
        case (.int(let u1, let n1), .int(let u2, let n2)): return .int(unsigned64: u1 && u2, nonNegative: n1 && n2)
        case (.bool, .nil), (.nil, .bool): return .bool
        // A lookup's result where one path checked it and found nil and
        // another found a value (`if l && x && l.f`, or `l.f` after `if l`):
        // the register holds either, a pointer not known to be set.
        case (.nil, .pointer(let t, _, let id)), (.pointer(let t, _, let id), .nil): return .pointer(t, nullable: true, id: id)
        case (.pointer(let t1, _, let id1), .pointer(let t2, _, let id2)) where t1 == t2 && id1 == id2: return .pointer(t1, nullable: true, id: id1)
        case (.cString(let u1, let c1), .cString(let u2, let c2)) where u1 == u2: return .cString(user: u1, capacity: c1 == c2 ? c1 : nil)
        default: return .mixed
        }
    }

    /// A block's entry kinds after one more incoming edge: the edge's kinds
    /// merged register by register into what the entry held, or the edge's
    /// own for the first edge in (the kind analysis and the one-pass
    /// lowering of a frame without loops merge alike).
    static func entry(_ held: [Kind]?, merging edge: [Kind]) -> [Kind] {
        held.map { zip($0, edge).map { $0.merged(with: $1) } } ?? edge
    }

    var rubyName: String {
        switch self {
        case .unset, .nil: return "nil"
        case .int: return "Integer"
        case .bool: return "true/false"
        case .context: return "the context"
        case .string: return "String"
        case .symbol: return "Symbol"
        case .selfObject: return "self"
        case .block: return "a block"
        case .formatSize: return "`size`"
        case .mixed: return "a value of different types on different paths"
        case .map(let n): return "map `\(n)`"
        case .implicitMap(let n): return "map `@\(n)`"
        case .implicitEntry(let n, _, _): return "an entry of map `@\(n)`"
        case .structType(let n): return "struct \(n)"
        case .pointer(let t, let n, _): return "\(n ? "a possibly-nil " : "a ")pointer to \(t)"
        case .frameObject(let t, _): return "a \(t) on the stack"
        case .kernel(let n): return "a struct \(n) pointer"
        case .kernelPath(let r, let p, _): return "\(r).\(p.joined(separator: "."))"
        case .comm: return "`comm`"
        case .stack(let user): return user ? "`ustack`" : "`kstack`"
        case .cString: return "a C string"
        case .charArray(let n): return "a char[\(n)]"
        case .released: return "a record already submitted or discarded"
        case .text: return "an interpolated String"
        }
    }
}

/// Possibly-nil pointers get an id when they are made (a map lookup, a
/// ring buffer reservation, a helper's socket), so a nil test refines every
/// copy; some are references the program must hand back.
struct PointerIdentities {
    /// The next id to hand out.
    var next = 1
    /// The references the program must hand back (ring buffer records,
    /// looked-up sockets), by id, with the line that acquired them.
    var acquired: [Int: (line: Int, what: String)] = [:]
    /// Ring buffer records by id, with their map: a nil test of one counts a
    /// lost record on its nil edge (`Fault`), the one place a drop shows.
    var ringRecords: [Int: String] = [:]

    /// The id of each site that makes a pointer (its result register and
    /// source position): the kind analysis lowers a block again each time its
    /// entry kinds change, and the emission once more, and each must give the
    /// site's pointer the same id — else the analysis merges one lookup's
    /// pointer with itself under two ids into "different types on different
    /// paths" (MemoryDifferentialTests met it: `w = h.lookup(k)` then
    /// `w ? w.value : 0` in a block reached twice).
    var sites: [Site: Int] = [:]
    struct Site: Hashable { var register: Int; var line: Int; var column: Int }

    /// The id of the pointer made at this site (one handed out at first sight).
    mutating func id(at register: VReg, _ loc: SourceLocation) -> Int {
        let site = Site(register: register.id, line: loc.line, column: loc.column)
        if let id = sites[site] { return id }
        defer { next += 1 }
        sites[site] = next
        return next
    }
}

extension Lowering {
    // MARK: Possibly-nil pointers

    /// Every register holding pointer `id` becomes non-nil (or nil).
    func refine(_ kinds: [Kind], id: Int, nonNil: Bool) -> [Kind] {
        kinds.map { k in
            if case .pointer(let t, _, let i) = k, i == id { return nonNil ? .pointer(t, nullable: false, id: i) : .nil }
            return k
        }
    }

    /// A possibly-nil pointer used without a check: the program returns 0 when
    /// it is nil (the language's rule), and every copy is known non-nil after.
    func ensureNonNil(_ reg: VReg, _ kinds: inout [Kind], _ k: Kind, _ loc: SourceLocation) -> Kind {
        guard case .pointer(let t, true, let id) = k else { return k }
        let bail = newBlock(), cont = newBlock()
        terminate(.branch(.eq, .reg(reg), .imm(0), then: bail, else: cont), loc)
        ir.current = bail
        if let map = pointers.ringRecords[id] { incrementFault(map: map, .lostRecords, loc) }
        terminate(.ret(.imm(0)), loc)
        ir.current = cont
        kinds = refine(kinds, id: id, nonNil: true)
        return .pointer(t, nullable: false, id: id)
    }
}

extension Lowering {
    /// Every register holding pointer `id` after it was handed back (`submit`,
    /// `discard`, `sk_release`).
    func released(_ kinds: [Kind], id: Int) -> [Kind] {
        kinds.map { if case .pointer(_, _, let i) = $0, i == id { return .released }; return $0 }
    }
}
