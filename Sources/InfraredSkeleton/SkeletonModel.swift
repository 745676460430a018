import BPF
import CLibBPF
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredBTF
import InfraredRuntime
import InfraredObject
#if canImport(Glibc)
import Glibc
#endif

/// What a skeleton is generated from: the object as libbpf opens it (no
/// kernel involved), read the way `bpftool gen skeleton` reads it
/// (bpftool/src/gen.c): maps and programs in libbpf's order, map idents
/// (`.rodata` → `rodata`), and the DATASEC layouts of the mmap-able
/// internal maps, with C declarations printed by libbpf's btf_dump.
public struct SkeletonModel {
    public struct MapInfo {
        /// libbpf's name (`counts`, `execcoun.rodata`).
        public var name: String
        /// The C/Swift member name (`counts`, `rodata`).
        public var ident: String
        public var isInternal: Bool
        public var isMmapable: Bool
        public var type: MapType
        public var keySize: Int
        public var valueSize: Int
        public var maxEntries: Int
        public var keyType: BTFShape?
        public var valueType: BTFShape?
        /// Initial contents of a data section's map (`.rodata` defaults).
        public var initialValue: [UInt8]?
    }
    public struct ProgramInfo {
        public var name: String
        public var section: String
    }
    public struct Variable {
        public var name: String
        public var ident: String
        public var offset: Int
        public var size: Int
        /// `\t\tunsigned int target_pid;` as btf_dump emits it (after the indentation).
        public var declaration: String
        public var shape: BTFShape
        public var isStatic: Bool
        public var alignment: Int
    }
    public struct Datasec {
        /// The map ident (`rodata`, `bss`, `data`, `rodata_str1_1`).
        public var ident: String
        /// Nil when the map has no DATASEC in BTF (bpftool emits an empty struct).
        public var variables: [Variable]?
    }

    public var name: String
    public var object: [UInt8]
    public var maps: [MapInfo]
    public var programs: [ProgramInfo]
    public var datasecs: [Datasec]
    /// Named structs of the object's BTF, for typed keys, values and records.
    public var structs: [String: BTFShape]
    /// The probe file's manifest, when the input was a probe file.
    public var manifest: Manifest?

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// `execsnoop-2` → `execsnoop_2` (bpftool's sanitize_identifier).
    public static func identifier(_ s: String) -> String {
        String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" })
    }

    /// `source` names the object in errors (default: `name`).
    public init(object: [UInt8], name: String, manifest: Manifest? = nil, source: String? = nil) throws {
        self.name = Self.identifier(name)
        self.object = object
        self.manifest = manifest
        try Self.check(object, name: source ?? self.name)
        // libbpf's view of the object (opened through the runtime's seam, never loaded).
        let view: (maps: [MapInfo], programs: [ProgramInfo], datasecs: [Datasec], structs: [String: BTFShape])
        do {
            view = try OpenedObject.inspect(object, name: self.name) { obj in
                let btf = bpf_object__btf(obj)
                let reader = btf.map { BTFReader(btf: $0) }

                var maps: [MapInfo] = []
                var map = bpf_object__next_map(obj, nil)
                while let m = map {
                    let name = String(cString: bpf_map__name(m))
                    let isInternal = bpf_map__is_internal(m)
                    // bpftool 7.1 (its libbpf) mmaps every internal map but .kconfig, string
                    // sections included; the system's libbpf 1.1.2 flags only those with
                    // variables. Follow bpftool, so the skeletons match it; libbpf leaves
                    // the pointer NULL for a map it did not mmap.
                    let mmapable = (bpf_map__map_flags(m) & UInt32(BPF_F_MMAPABLE)) != 0 || (isInternal && !name.contains(".kconfig"))
                    if let ident = Self.mapIdent(name: name, isInternal: isInternal) {
                        maps.append(MapInfo(name: name, ident: ident, isInternal: isInternal, isMmapable: mmapable, type: MapType(rawValue: bpf_map__type(m).rawValue),
                                            keySize: Int(bpf_map__key_size(m)), valueSize: Int(bpf_map__value_size(m)), maxEntries: Int(bpf_map__max_entries(m)),
                                            keyType: reader.flatMap { r in bpf_map__btf_key_type_id(m) == 0 ? nil : r.shape(bpf_map__btf_key_type_id(m)) },
                                            valueType: reader.flatMap { r in bpf_map__btf_value_type_id(m) == 0 ? nil : r.shape(bpf_map__btf_value_type_id(m)) },
                                            initialValue: Self.initialValue(m)))
                    }
                    map = bpf_object__next_map(obj, m)
                }
                var programs: [ProgramInfo] = []
                var prog = bpf_object__next_program(obj, nil)
                while let p = prog {
                    programs.append(ProgramInfo(name: String(cString: bpf_program__name(p)), section: String(cString: bpf_program__section_name(p))))
                    prog = bpf_object__next_program(obj, p)
                }
                var datasecs: [Datasec] = []
                var structs: [String: BTFShape] = [:]
                if let reader {
                    for m in maps where m.isInternal && m.isMmapable {
                        datasecs.append(Datasec(ident: m.ident, variables: try reader.datasec(ident: m.ident)))
                    }
                    structs = reader.namedStructs()
                } else {
                    for m in maps where m.isInternal && m.isMmapable { datasecs.append(Datasec(ident: m.ident, variables: nil)) }
                }
                return (maps, programs, datasecs, structs)
            }
        } catch let e as OpenedObject.OpenError {
            throw Failure(description: "libbpf cannot open the object: \(String(cString: strerror(e.errno.rawValue)))")
        }
        (maps, programs, datasecs, structs) = view
    }

    /// Reads the object with our own checked readers before libbpf sees it.
    /// The system's libbpf 1.1.2 opens objects whose `.BTF` its btf_dump then
    /// crashes on, or whose name offsets lie outside the strings (found by
    /// fuzzing, Tests/Regressions/gen-skel/); the ELF reader, the BTF decoder
    /// (every id, name offset and size checked) and the `.BTF.ext` decoder
    /// refuse those with a message instead.
    static func check(_ object: [UInt8], name: String) throws {
        let elf = try ObjectReader(bytes: object, name: name)
        if let btf = elf.btf { _ = try BTFSpec(bytes: btf, source: "\(name) .BTF") }
        if let ext = elf.btfExt { _ = try BTFExt.decode(bytes: ext) }
    }

    static func initialValue(_ m: OpaquePointer) -> [UInt8]? {
        var size = 0
        guard let p = bpf_map__initial_value(m, &size) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: size))
    }

    /// bpftool's get_map_ident: a user map's name; an internal map's
    /// suffix from `.data`/`.rodata`/`.bss`/`.kconfig` on, without the dot.
    static func mapIdent(name: String, isInternal: Bool) -> String? {
        guard isInternal else { return name }
        for sfx in [".data", ".rodata", ".bss", ".kconfig"] {
            if let r = name.firstRange(of: sfx) { return identifier(String(name[name.index(after: r.lowerBound)...])) }
        }
        return nil
    }

    /// bpftool's get_datasec_ident.
    static func datasecIdent(_ section: String) -> String? {
        for pfx in [".data", ".rodata", ".bss", ".kconfig"] where section.hasPrefix(pfx) { return identifier(String(section.dropFirst())) }
        return nil
    }
}

/// A BTF type as the skeletons need it.
public indirect enum BTFShape: Equatable {
    case int(size: Int, signed: Bool, cName: String)
    case bool
    case char
    case array(BTFShape, count: Int)
    case structure(name: String, size: Int, fields: [(name: String, offset: Int, shape: BTFShape)])
    case enumeration(size: Int)
    case other(size: Int)

    public static func == (a: BTFShape, b: BTFShape) -> Bool {
        switch (a, b) {
        case (.int(let s1, let g1, let n1), .int(let s2, let g2, let n2)): return s1 == s2 && g1 == g2 && n1 == n2
        case (.bool, .bool), (.char, .char): return true
        case (.array(let e1, let c1), .array(let e2, let c2)): return e1 == e2 && c1 == c2
        case (.structure(let n1, let s1, let f1), .structure(let n2, let s2, let f2)):
            return n1 == n2 && s1 == s2 && f1.count == f2.count && zip(f1, f2).allSatisfy { $0.name == $1.name && $0.offset == $1.offset && $0.shape == $1.shape }
        case (.enumeration(let s1), .enumeration(let s2)), (.other(let s1), .other(let s2)): return s1 == s2
        default: return false
        }
    }

    public var size: Int {
        switch self {
        case .int(let s, _, _), .enumeration(let s), .other(let s), .structure(_, let s, _): return s
        case .bool, .char: return 1
        case .array(let e, let c): return e.size * c
        }
    }
}

/// Reads the object's BTF through libbpf's btf API.
final class BTFReader {
    let btf: OpaquePointer

    init(btf: OpaquePointer) { self.btf = btf }

    /// The string at `off`; "" when it is outside the strings (libbpf returns NULL).
    func name(_ off: UInt32) -> String { btf__name_by_offset(btf, off).map { String(cString: $0) } ?? "" }

    func shape(_ id: UInt32, depth: Int = 0) -> BTFShape {
        guard depth < 32, let t = btf__type_by_id(btf, id) else { return .other(size: 0) }
        let kind = Int32(btf_kind(t))
        switch kind {
        case Int32(1 /* BTF_KIND_INT */):
            let encoding = btf_int_encoding(t)
            let size = Int(t.pointee.size)
            let n = name(t.pointee.name_off)
            if encoding & UInt8(BTF_INT_BOOL) != 0 || n == "_Bool" { return .bool }
            if encoding & UInt8(BTF_INT_CHAR) != 0 || n == "char" { return .char }
            return .int(size: size, signed: encoding & UInt8(BTF_INT_SIGNED) != 0, cName: n)
        case Int32(8 /* BTF_KIND_TYPEDEF */), Int32(9 /* BTF_KIND_VOLATILE */), Int32(10 /* BTF_KIND_CONST */), Int32(11 /* BTF_KIND_RESTRICT */),
             Int32(18 /* BTF_KIND_TYPE_TAG */):
            return shape(t.pointee.type, depth: depth + 1)
        case Int32(3 /* BTF_KIND_ARRAY */):
            let a = btf_array(t)!.pointee
            return .array(shape(a.type, depth: depth + 1), count: Int(a.nelems))
        case Int32(4 /* BTF_KIND_STRUCT */):
            let members = btf_members(t)!
            var fields: [(name: String, offset: Int, shape: BTFShape)] = []
            for i in 0..<Int(btf_vlen(t)) {
                let m = members[i]
                fields.append((name(m.name_off), Int(btf_member_bit_offset(t, UInt32(i)) / 8), shape(m.type, depth: depth + 1)))
            }
            return .structure(name: name(t.pointee.name_off), size: Int(t.pointee.size), fields: fields)
        case Int32(6 /* BTF_KIND_ENUM */), Int32(19 /* BTF_KIND_ENUM64 */):
            return .enumeration(size: Int(t.pointee.size))
        default:
            let size = btf__resolve_size(btf, id)
            return .other(size: size > 0 ? Int(size) : 0)
        }
    }

    /// Named structs (not kernel types copied for CO-RE: those have no
    /// fields the object declared, but all are returned; callers pick by name).
    func namedStructs() -> [String: BTFShape] {
        var out: [String: BTFShape] = [:]
        for id in 1..<btf__type_cnt(btf) {
            guard let t = btf__type_by_id(btf, id), Int32(btf_kind(t)) == Int32(4 /* BTF_KIND_STRUCT */) else { continue }
            let n = name(t.pointee.name_off)
            if !n.isEmpty && out[n] == nil { out[n] = shape(id) }
        }
        return out
    }

    /// The variables of the DATASEC whose ident is `ident`, with their C
    /// declarations; nil when BTF has no such DATASEC.
    func datasec(ident: String) throws -> [SkeletonModel.Variable]? {
        var sec: UnsafePointer<btf_type>? = nil
        for id in 1..<btf__type_cnt(btf) {
            guard let t = btf__type_by_id(btf, id), Int32(btf_kind(t)) == Int32(15 /* BTF_KIND_DATASEC */) else { continue }
            if SkeletonModel.datasecIdent(name(t.pointee.name_off)) == ident { sec = t; break }
        }
        guard let sec else { return nil }
        let section = name(sec.pointee.name_off)
        let dumper = TypeDeclarations(btf: btf)
        let infos = btf_var_secinfos(sec)!
        var vars: [SkeletonModel.Variable] = []
        for i in 0..<Int(btf_vlen(sec)) {
            let info = infos[i]
            guard let v = btf__type_by_id(btf, info.type) else { continue }
            let varName = name(v.pointee.name_off)
            let ident = SkeletonModel.identifier(varName)
            let linkage = btf_var(v)!.pointee.linkage
            let typeID = v.pointee.type
            let declaration = try dumper.declaration(typeID, field: ident, stripMods: section != ".kconfig")
            vars.append(SkeletonModel.Variable(name: varName, ident: ident, offset: Int(info.offset), size: Int(info.size),
                                               declaration: declaration, shape: shape(typeID), isStatic: linkage == UInt32(BTF_VAR_STATIC),
                                               alignment: Int(btf__align_of(btf, typeID))))
        }
        return vars
    }
}

/// libbpf's btf_dump, printing type declarations into a string.
final class TypeDeclarations {
    private var dump: OpaquePointer?
    fileprivate var text = ""

    init(btf: OpaquePointer) {
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        dump = btf_dump__new(btf, { ctx, format, args in
            guard let ctx, let format, let args else { return }
            var buffer = [CChar](repeating: 0, count: 8192)
            _ = vsnprintf(&buffer, buffer.count, format, args)
            Unmanaged<TypeDeclarations>.fromOpaque(ctx).takeUnretainedValue().text += String(cString: buffer)
        }, ctx, nil)
    }

    deinit { if let dump { btf_dump__free(dump) } }

    func declaration(_ id: UInt32, field: String, stripMods: Bool) throws -> String {
        guard let dump else { throw SkeletonModel.Failure(description: "btf_dump__new failed") }
        text = ""
        var opts = btf_dump_emit_type_decl_opts()
        opts.sz = MemoryLayout<btf_dump_emit_type_decl_opts>.size
        opts.indent_level = 2
        opts.strip_mods = stripMods
        let rc = field.withCString { f -> Int32 in
            opts.field_name = f
            return btf_dump__emit_type_decl(dump, id, &opts)
        }
        guard rc == 0 else { throw SkeletonModel.Failure(description: "btf_dump__emit_type_decl(\(id)) failed: \(rc)") }
        return text
    }
}
