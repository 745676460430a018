import CLibBPF
import CLibDW
import InfraredBTF
import InfraredELF
import InfraredSupport
#if canImport(Glibc)
import Glibc
#endif

/// DWARF → BTF, through libdw: what `pahole -J` does for a user-space
/// binary or a separate `.debug` file.
///
/// Every compilation unit is walked in DIE order; each type DIE becomes the
/// BTF type of its kind (base types → INT/FLOAT, pointers and references →
/// PTR, qualifiers, typedefs, structs/unions with bitfields, enums (ENUM64
/// when wider than 4 bytes), arrays (one ARRAY per dimension), subroutine
/// types → FUNC_PROTO), each defined function → FUNC + FUNC_PROTO with
/// parameter names. The per-unit copies are then merged with libbpf's
/// `btf__dedup`, as pahole does.
///
/// Deliberate differences from pahole 1.24 (the test normalises them):
/// multi-dimensional arrays stay nested (`int m[3][4]` is ARRAY 3 of ARRAY 4;
/// pahole flattens it to ARRAY 12), floating-point types are always
/// BTF_KIND_FLOAT (pahole needs `--btf_gen_floats`), and array index types
/// are clang's `__ARRAY_SIZE_TYPE__`. Functions get `BTF_FUNC_STATIC`
/// linkage, as pahole gives them. Variables are not encoded (pahole only
/// encodes per-CPU variables, and only for vmlinux).
public enum DWARFConverter {
    public struct Options: Sendable {
        /// Merge identical types across compilation units (`btf__dedup`).
        public var deduplicate = true
        public init() {}
    }

    /// Converts the DWARF of the ELF file at `path`.
    public static func convert(path: String, options: Options = Options()) throws -> BTFSpec {
        try convert(bytes: readFile(path), source: path, options: options)
    }

    /// Converts the DWARF of ELF `bytes`; `source` names them in errors.
    public static func convert(bytes: [UInt8], source: String, options: Options = Options()) throws -> BTFSpec {
        // Our own checks first: libelf/libdw only ever see a well-formed section table.
        let file = try ELFFile(bytes: bytes, source: source)
        guard file.section(named: ".debug_info") != nil else {
            throw BTFFormatError(source, "no DWARF (.debug_info): build with -g, or give the separate .debug file")
        }
        if file.section(named: ".zdebug_info") != nil {
            throw BTFFormatError(source, "compressed .zdebug sections are not supported")
        }
        let dw = try LibDW.load()
        // libdwfl rather than a bare dwarf_begin_elf: in a relocatable object
        // (gcc -c) the DWARF's string and type offsets only become right
        // once .rela.debug_* are applied, which libdwfl does (as pahole relies on).
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        defer { image.deallocate() }
        image.copyBytes(from: bytes)
        var callbacks = Dwfl_Callbacks()
        callbacks.find_elf = castFunction(dw.findELF)
        // Read only this file: never look for separate debug info on this machine.
        callbacks.find_debuginfo = { _, _, _, _, _, _, _, _ in -1 }
        callbacks.section_address = castFunction(dw.sectionAddress)
        guard let dwfl = dw.dwfl_begin(&callbacks) else {
            throw BTFFormatError(source, "libdwfl: \(dw.dwflError())")
        }
        defer { dw.dwfl_end(dwfl) }
        guard let module = dw.dwfl_report_offline_memory(dwfl, "input", source, image.baseAddress!.assumingMemoryBound(to: CChar.self), bytes.count),
              dw.dwfl_report_end(dwfl, nil, nil) == 0 else {
            throw BTFFormatError(source, "libdwfl: \(dw.dwflError())")
        }
        var bias: Dwarf_Addr = 0
        guard let dwarf = dw.dwfl_module_getdwarf(module, &bias) else {
            throw BTFFormatError(source, "DWARF: \(dw.dwflError())")
        }

        var converter = Converter(dw: dw, dwarf: dwarf, source: source)
        converter.functionSymbols = try file.functionSymbols()
        var offset: Dwarf_Off = 0, next: Dwarf_Off = 0, headerSize = 0
        while true {
            let r = dw.dwarf_nextcu(dwarf, offset, &next, &headerSize, nil, nil, nil)
            if r == 1 { break }
            guard r == 0 else { throw converter.libdwError("reading the unit at offset \(offset)") }
            var cu = Dwarf_Die()
            guard dw.dwarf_offdie(dwarf, offset + Dwarf_Off(headerSize), &cu) != nil else {
                throw converter.libdwError("reading the unit DIE at offset \(offset)")
            }
            try converter.unit(&cu)
            offset = next
        }
        var spec = BTFSpec(types: converter.types, pointerSize: file.is64Bit ? 8 : 4, source: source)
        if options.deduplicate { spec = try deduplicated(spec) }
        return spec
    }

    /// The spec after libbpf's `btf__dedup` (which also sorts nothing: ids
    /// keep their first-seen order).
    static func deduplicated(_ spec: BTFSpec) throws -> BTFSpec {
        let raw = spec.encoded()
        guard let btf = raw.withUnsafeBytes({ btf__new($0.baseAddress, UInt32($0.count)) }) else {
            throw BTFError(step: "btf__new(\(spec.source))", errno: errno)
        }
        defer { btf__free(btf) }
        let r = btf__dedup(btf, nil)
        guard r == 0 else { throw BTFError(step: "btf__dedup(\(spec.source))", errno: -r) }
        var size: UInt32 = 0
        guard let p = btf__raw_data(btf, &size) else { throw BTFError(step: "btf__raw_data", errno: errno) }
        var out = try BTFSpec(bytes: Array(UnsafeRawBufferPointer(start: p, count: Int(size))), source: spec.source)
        out.pointerSize = spec.pointerSize
        return out
    }

    private struct Converter {
        let dw: LibDW
        let dwarf: OpaquePointer
        let source: String
        /// Types so far (type 1 first); a converted DIE's id is its index + 1.
        var types: [BTFType] = []
        /// DIE offset → BTF id, for DIEs converted (or being converted).
        var ids: [Dwarf_Off: BTFID] = [:]
        /// This unit's `__ARRAY_SIZE_TYPE__`.
        var arrayIndexType: BTFID?
        /// `STT_FUNC` names of `.symtab`; nil when the file has none.
        var functionSymbols: Set<String>?
        /// Functions already encoded (each symbol once, from its first unit).
        var encodedFunctions: Set<String> = []

        init(dw: LibDW, dwarf: OpaquePointer, source: String) { self.dw = dw; self.dwarf = dwarf; self.source = source }

        func libdwError(_ what: String) -> BTFFormatError {
            BTFFormatError(source, "DWARF: \(what): \(dw.dwarfError())")
        }

        /// Moves `die` to its next sibling; false at the last one.
        func nextSibling(_ die: inout Dwarf_Die) -> Bool {
            var next = Dwarf_Die()
            guard dw.dwarf_siblingof(&die, &next) == 0 else { return false }
            die = next
            return true
        }

        mutating func add(_ t: BTFType) -> BTFID { types.append(t); return BTFID(types.count) }
        mutating func reserve() -> BTFID { add(.void) }
        mutating func set(_ id: BTFID, _ t: BTFType) { types[Int(id) - 1] = t }

        mutating func unit(_ cu: inout Dwarf_Die) throws {
            arrayIndexType = nil
            try walk(&cu, depth: 0)
        }

        /// Converts every type and function DIE under `die`, in DIE order.
        mutating func walk(_ die: inout Dwarf_Die, depth: Int) throws {
            guard depth < 64 else { return }
            var child = Dwarf_Die()
            guard dw.dwarf_child(&die, &child) == 0 else { return }
            repeat {
                let tag = dw.dwarf_tag(&child)
                switch tag {
                case Int32(DW_TAG_subprogram):
                    try function(&child)
                    // Types local to the function (pahole encodes them too).
                    try walk(&child, depth: depth + 1)
                case Int32(DW_TAG_base_type), Int32(DW_TAG_pointer_type), Int32(DW_TAG_reference_type),
                     Int32(DW_TAG_rvalue_reference_type), Int32(DW_TAG_const_type), Int32(DW_TAG_volatile_type),
                     Int32(DW_TAG_restrict_type), Int32(DW_TAG_typedef), Int32(DW_TAG_structure_type),
                     Int32(DW_TAG_class_type), Int32(DW_TAG_union_type), Int32(DW_TAG_enumeration_type),
                     Int32(DW_TAG_array_type), Int32(DW_TAG_subroutine_type):
                    _ = try type(&child)
                    // Types declared inside a struct (C allows nesting).
                    if [Int32(DW_TAG_structure_type), Int32(DW_TAG_class_type), Int32(DW_TAG_union_type)].contains(tag) {
                        try walk(&child, depth: depth + 1)
                    }
                case Int32(DW_TAG_namespace), Int32(DW_TAG_lexical_block), Int32(DW_TAG_inlined_subroutine):
                    try walk(&child, depth: depth + 1)
                default:
                    break
                }
            } while nextSibling(&child)
        }

        // MARK: - Attributes

        func name(_ die: inout Dwarf_Die) -> String {
            guard let p = dw.dwarf_diename(&die) else { return "" }
            return String(cString: p)
        }

        func unsigned(_ die: inout Dwarf_Die, _ at: Int) -> UInt64? {
            var attr = Dwarf_Attribute(), v: Dwarf_Word = 0
            guard dw.dwarf_attr_integrate(&die, UInt32(at), &attr) != nil, dw.dwarf_formudata(&attr, &v) == 0 else { return nil }
            return v
        }

        func has(_ die: inout Dwarf_Die, _ at: Int) -> Bool { dw.dwarf_hasattr_integrate(&die, UInt32(at)) != 0 }

        /// The DIE `die`'s DW_AT_type refers to, or nil for `void`.
        func referenced(_ die: inout Dwarf_Die) -> Dwarf_Die? {
            var attr = Dwarf_Attribute(), target = Dwarf_Die()
            guard dw.dwarf_attr_integrate(&die, UInt32(DW_AT_type), &attr) != nil,
                  dw.dwarf_formref_die(&attr, &target) != nil else { return nil }
            return target
        }

        /// The BTF id of `die`'s DW_AT_type (0 for none).
        mutating func typeOf(_ die: inout Dwarf_Die) throws -> BTFID {
            guard var t = referenced(&die) else { return 0 }
            return try type(&t)
        }

        // MARK: - Types

        mutating func type(_ die: inout Dwarf_Die, depth: Int = 0) throws -> BTFID {
            let offset = dw.dwarf_dieoffset(&die)
            if let id = ids[offset] { return id }
            guard depth < 256 else { throw BTFFormatError(source, "DWARF: types nest too deep at DIE offset \(offset)") }
            let tag = Int(dw.dwarf_tag(&die))
            switch tag {
            case DW_TAG_base_type:
                let n = name(&die), size = UInt32(max(0, dw.dwarf_bytesize(&die)))
                let encoding = unsigned(&die, DW_AT_encoding) ?? 0
                let t: BTFType
                if encoding == UInt64(DW_ATE_float) || encoding == UInt64(DW_ATE_complex_float) {
                    t = [2, 4, 8, 12, 16].contains(size) ? .float(name: n, size: size) : .void
                } else if [1, 2, 4, 8, 16].contains(size) {
                    var e: BTFIntEncoding = []
                    if encoding == UInt64(DW_ATE_signed) || encoding == UInt64(DW_ATE_signed_char) { e = .signed }
                    if encoding == UInt64(DW_ATE_boolean) { e = .bool }
                    t = .int(BTFInt(name: n, size: size, encoding: e))
                } else {
                    t = .void
                }
                if case .void = t { ids[offset] = 0; return 0 }
                let id = add(t); ids[offset] = id; return id
            case DW_TAG_pointer_type, DW_TAG_reference_type, DW_TAG_rvalue_reference_type,
                 DW_TAG_const_type, DW_TAG_volatile_type, DW_TAG_restrict_type, DW_TAG_typedef:
                let id = reserve(); ids[offset] = id
                let target = try typeOf(&die)
                switch tag {
                case DW_TAG_const_type: set(id, .const(target: target))
                case DW_TAG_volatile_type: set(id, .volatile(target: target))
                case DW_TAG_restrict_type: set(id, .restrict(target: target))
                case DW_TAG_typedef: set(id, .typedef(name: name(&die), target: target))
                default: set(id, .pointer(target: target))
                }
                return id
            case DW_TAG_atomic_type:
                // BTF has no _Atomic: the atomic type is its underlying type.
                let target = try typeOf(&die)
                ids[offset] = target
                return target
            case DW_TAG_structure_type, DW_TAG_class_type, DW_TAG_union_type:
                let isUnion = tag == DW_TAG_union_type
                let id = reserve(); ids[offset] = id
                let n = name(&die)
                if has(&die, DW_AT_declaration) {
                    set(id, .forward(name: n, isUnion: isUnion))
                    return id
                }
                let c = BTFComposite(name: n, size: UInt32(max(0, dw.dwarf_bytesize(&die))), members: try members(&die))
                set(id, isUnion ? .union(c) : .structure(c))
                return id
            case DW_TAG_enumeration_type:
                let id = reserve(); ids[offset] = id
                set(id, try enumeration(&die))
                return id
            case DW_TAG_array_type:
                return try array(&die, offset: offset)
            case DW_TAG_subroutine_type:
                let id = reserve(); ids[offset] = id
                set(id, .functionProto(try prototype(&die, named: false)))
                return id
            default:
                // C++ pointers to members, unspecified types, …: void.
                ids[offset] = 0
                return 0
            }
        }

        mutating func members(_ die: inout Dwarf_Die) throws -> [BTFComposite.Member] {
            var out: [BTFComposite.Member] = []
            var child = Dwarf_Die()
            guard dw.dwarf_child(&die, &child) == 0 else { return out }
            repeat {
                guard dw.dwarf_tag(&child) == Int32(DW_TAG_member), !has(&child, DW_AT_external), !has(&child, DW_AT_declaration) else { continue }
                let type = try typeOf(&child)
                let bitSize = UInt64(max(0, dw.dwarf_bitsize(&child)))
                var bitOffset: UInt64
                if let dataBitOffset = unsigned(&child, DW_AT_data_bit_offset) {
                    bitOffset = dataBitOffset
                } else {
                    bitOffset = try memberLocation(&child) * 8
                    if let oldBitOffset = unsigned(&child, DW_AT_bit_offset) {
                        // DWARF 2/3: bits counted from the most significant bit
                        // of the storage unit (DW_AT_byte_size, else the type's).
                        var storage = dw.dwarf_bytesize(&child)
                        if storage <= 0, var t = referenced(&child) { storage = dw.dwarf_bytesize(&t) }
                        let unitBits = UInt64(max(0, storage)) * 8
                        if unitBits >= oldBitOffset + bitSize { bitOffset += unitBits - oldBitOffset - bitSize }
                    }
                }
                guard bitOffset <= 0x00ff_ffff || bitSize == 0, bitSize <= 255 else {
                    throw BTFFormatError(source, "DWARF: member '\(name(&child))' at bit \(bitOffset) (\(bitSize) bits) does not fit BTF")
                }
                out.append(BTFComposite.Member(name: name(&child), type: type, bitOffset: UInt32(truncatingIfNeeded: bitOffset),
                                               bitfieldSize: UInt8(bitSize)))
            } while nextSibling(&child)
            return out
        }

        /// DW_AT_data_member_location: a constant, or the expression
        /// `DW_OP_plus_uconst N` older compilers write.
        func memberLocation(_ die: inout Dwarf_Die) throws -> UInt64 {
            var attr = Dwarf_Attribute()
            guard dw.dwarf_attr_integrate(&die, UInt32(DW_AT_data_member_location), &attr) != nil else { return 0 }
            var v: Dwarf_Word = 0
            if dw.dwarf_formudata(&attr, &v) == 0 { return v }
            var ops: UnsafeMutablePointer<Dwarf_Op>?, count = 0
            if dw.dwarf_getlocation(&attr, &ops, &count) == 0, count == 1, let op = ops?.pointee,
               op.atom == UInt8(DW_OP_plus_uconst) || op.atom == UInt8(DW_OP_constu) {
                return op.number
            }
            throw BTFFormatError(source, "DWARF: member '\(name(&die))' has a location BTF cannot express")
        }

        mutating func enumeration(_ die: inout Dwarf_Die) throws -> BTFType {
            let n = name(&die)
            let size = UInt32(max(0, dw.dwarf_bytesize(&die)))
            // Signed if the underlying type is, else if any value is negative.
            var signed: Bool?
            if var base = referenced(&die) {
                while [Int32(DW_TAG_typedef), Int32(DW_TAG_const_type), Int32(DW_TAG_volatile_type)].contains(dw.dwarf_tag(&base)),
                      let next = referenced(&base) { base = next }
                if let e = unsigned(&base, DW_AT_encoding) {
                    signed = e == UInt64(DW_ATE_signed) || e == UInt64(DW_ATE_signed_char)
                }
            }
            var values: [BTFEnum.Value] = []
            var anyNegative = false
            var child = Dwarf_Die()
            if dw.dwarf_child(&die, &child) == 0 {
                repeat {
                    guard dw.dwarf_tag(&child) == Int32(DW_TAG_enumerator) else { continue }
                    var attr = Dwarf_Attribute()
                    var raw: UInt64 = 0
                    if dw.dwarf_attr(&child, UInt32(DW_AT_const_value), &attr) != nil {
                        let form = dw.dwarf_whatform(&attr)
                        if form == UInt32(DW_FORM_sdata) || form == UInt32(DW_FORM_implicit_const) {
                            var s: Dwarf_Sword = 0
                            _ = dw.dwarf_formsdata(&attr, &s)
                            if s < 0 { anyNegative = true }
                            raw = UInt64(bitPattern: Int64(s))
                        } else {
                            var u: Dwarf_Word = 0
                            _ = dw.dwarf_formudata(&attr, &u)
                            raw = u
                            // A fixed-size form of a signed enum: sign-extend from the enum's size.
                            if signed == true, size < 8, size > 0, u >> (UInt64(size) * 8 - 1) & 1 == 1 {
                                raw = u | ~((1 << (UInt64(size) * 8)) - 1)
                                anyNegative = true
                            }
                        }
                    }
                    values.append(BTFEnum.Value(name: name(&child), rawValue: raw))
                } while nextSibling(&child)
            }
            let isSigned = signed ?? anyNegative
            if size > 4 {
                return .enumeration64(BTFEnum(name: n, size: size, isSigned: isSigned, values: values))
            }
            let narrowed = values.map { BTFEnum.Value(name: $0.name, rawValue: UInt64(UInt32(truncatingIfNeeded: $0.rawValue))) }
            return .enumeration(BTFEnum(name: n, size: size == 0 ? 4 : size, isSigned: isSigned, values: narrowed))
        }

        /// One ARRAY per DW_TAG_subrange_type, the outermost first.
        mutating func array(_ die: inout Dwarf_Die, offset: Dwarf_Off) throws -> BTFID {
            var counts: [UInt32] = []
            var child = Dwarf_Die()
            if dw.dwarf_child(&die, &child) == 0 {
                repeat {
                    guard dw.dwarf_tag(&child) == Int32(DW_TAG_subrange_type) else { continue }
                    if let c = unsigned(&child, DW_AT_count) {
                        counts.append(UInt32(clamping: c))
                    } else if has(&child, DW_AT_upper_bound) {
                        var attr = Dwarf_Attribute(), u: Dwarf_Word = 0
                        _ = dw.dwarf_attr(&child, UInt32(DW_AT_upper_bound), &attr)
                        let lower = unsigned(&child, DW_AT_lower_bound) ?? 0
                        if dw.dwarf_formudata(&attr, &u) == 0, u != UInt64.max, u >= lower {
                            counts.append(UInt32(clamping: u - lower + 1))
                        } else {
                            counts.append(0)  // a variable-length array
                        }
                    } else {
                        counts.append(0)  // a flexible array member
                    }
                } while nextSibling(&child)
            }
            if counts.isEmpty { counts = [0] }
            // Reserve the outermost id first so a self-reference resolves.
            let ids = counts.map { _ in reserve() }
            self.ids[offset] = ids[0]
            let element = try typeOf(&die)
            let index = indexType()
            var inner = element
            for (id, count) in zip(ids, counts).reversed() {
                set(id, .array(BTFArray(element: inner, index: index, count: count)))
                inner = id
            }
            return ids[0]
        }

        mutating func indexType() -> BTFID {
            if let t = arrayIndexType { return t }
            let id = add(.int(BTFInt(name: "__ARRAY_SIZE_TYPE__", size: 4)))
            arrayIndexType = id
            return id
        }

        /// The prototype of a subroutine type or function: return type and
        /// DW_TAG_formal_parameter children (`...` for DW_TAG_unspecified_parameters).
        mutating func prototype(_ die: inout Dwarf_Die, named: Bool) throws -> BTFFunctionProto {
            let ret = try typeOf(&die)
            var params: [BTFFunctionProto.Parameter] = []
            var child = Dwarf_Die()
            if dw.dwarf_child(&die, &child) == 0 {
                repeat {
                    switch dw.dwarf_tag(&child) {
                    case Int32(DW_TAG_formal_parameter):
                        params.append(.init(name: named ? name(&child) : "", type: try typeOf(&child)))
                    case Int32(DW_TAG_unspecified_parameters):
                        params.append(.init(name: "", type: 0))
                    default: break
                    }
                } while nextSibling(&child)
            }
            return BTFFunctionProto(returnType: ret, parameters: params)
        }

        /// A function becomes a FUNC_PROTO and a FUNC when pahole 1.24's
        /// `btf_encoder__encode_cu` would encode it: not a declaration, every
        /// parameter named, and — when the file has a symbol table — named
        /// like one of its `STT_FUNC` symbols and not encoded yet, otherwise
        /// external (DW_AT_external).
        mutating func function(_ die: inout Dwarf_Die) throws {
            guard !has(&die, DW_AT_declaration) else { return }
            let n = name(&die)
            guard !n.isEmpty else { return }
            if let functionSymbols {
                guard functionSymbols.contains(n), !encodedFunctions.contains(n) else { return }
            } else {
                guard has(&die, DW_AT_external) else { return }
            }
            // A concrete instance of an inline function keeps its parameters
            // in the abstract origin; read them from there.
            var decl = die
            var attr = Dwarf_Attribute(), origin = Dwarf_Die()
            if dw.dwarf_attr(&die, UInt32(DW_AT_abstract_origin), &attr) != nil, dw.dwarf_formref_die(&attr, &origin) != nil {
                decl = origin
            }
            guard allParametersNamed(&decl) else { return }
            encodedFunctions.insert(n)
            let proto = add(.functionProto(try prototype(&decl, named: true)))
            _ = add(.function(BTFFunction(name: n, proto: proto, linkage: UInt16(BTFFunctionLinkage.static.rawValue))))
        }

        /// pahole's `ftype__has_arg_names`.
        func allParametersNamed(_ die: inout Dwarf_Die) -> Bool {
            var child = Dwarf_Die()
            guard dw.dwarf_child(&die, &child) == 0 else { return true }
            repeat {
                if dw.dwarf_tag(&child) == Int32(DW_TAG_formal_parameter), name(&child).isEmpty { return false }
            } while nextSibling(&child)
            return true
        }
    }
}

/// `unsafeBitCast` of a symbol to the C function type the context wants.
private func castFunction<T>(_ p: UnsafeMutableRawPointer) -> T { unsafeBitCast(p, to: T.self) }
