#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BPF

/// A Swift skeleton: the counterpart of the C one for Swift programs, over
/// InfraredRuntime. One `public final class` named after the probe holds
/// the embedded object, typed params (`rodata`, set before `load()`),
/// struct types with `init(bytes:)`/`bytes`, maps with typed keys and
/// values, ring/perf buffers delivering decoded records to a callback or
/// as an `AsyncThrowingStream`, and the data sections (`bss`, `data`) as
/// value structs read and written while loaded. Every helper type is
/// nested in the class, so several skeletons can share a module.
public enum SwiftSkeleton {
    /// - Parameter embeddedBTF: minimal BTF per kernel release (`gen skel
    ///   --embed-btf`): `init` then relocates against the one of `uname -r`
    ///   when no `btfCustomPath` is given and the kernel has no BTF of its own.
    public static func generate(_ m: SkeletonModel, source: String? = nil, embeddedBTF: [(release: String, btf: [UInt8])] = []) -> String {
        SwiftSkeletonWriter(model: m, source: source, embeddedBTF: embeddedBTF).text()
    }
}

struct SwiftSkeletonWriter {
    let model: SkeletonModel
    let source: String?
    let cls: String
    let embeddedBTF: [(release: String, btf: [UInt8])]

    init(model: SkeletonModel, source: String?, embeddedBTF: [(release: String, btf: [UInt8])] = []) {
        self.model = model
        self.source = source
        self.embeddedBTF = embeddedBTF
        self.cls = Self.upperCamel(model.name)
    }

    static let keywords: Set<String> = ["class", "struct", "enum", "func", "let", "var", "if", "else", "for", "while", "in", "return", "default",
                                        "case", "switch", "break", "continue", "import", "init", "self", "Self", "type", "protocol", "extension",
                                        "static", "public", "private", "internal", "where", "is", "as", "repeat", "do", "catch", "try", "throw",
                                        "throws", "nil", "true", "false", "super", "operator", "subscript", "deinit", "guard", "defer", "inout", "Type"]

    static func lowerCamel(_ s: String) -> String {
        let parts = s.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return "_" + s }
        var out = first.prefix(1).lowercased() + first.dropFirst()
        for p in parts.dropFirst() { out += p.prefix(1).uppercased() + p.dropFirst() }
        if out.first?.isNumber == true { out = "_" + out }
        return keywords.contains(out) ? "`\(out)`" : out
    }

    static func upperCamel(_ s: String) -> String {
        let parts = s.split(separator: "_", omittingEmptySubsequences: true)
        var out = parts.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        if out.isEmpty || out.first?.isNumber == true { out = "Probe" + out }
        return out
    }

    // MARK: types

    func swiftType(_ s: BTFShape) -> String {
        switch s {
        case .int(let size, let signed, _):
            switch size { case 1, 2, 4, 8: return (signed ? "Int" : "UInt") + String(size * 8); default: return "[UInt8]" }
        case .bool: return "Bool"
        case .char: return "Int8"
        case .enumeration(let size): return size == 8 ? "Int64" : size == 2 ? "Int16" : size == 1 ? "Int8" : "Int32"
        case .array(.char, _): return "String"
        case .array(let e, _) where isScalar(e): return "[\(swiftType(e))]"
        case .structure(let name, _, _) where !name.isEmpty: return Self.upperCamel(name)
        default: return "[UInt8]"
        }
    }

    func isScalar(_ s: BTFShape) -> Bool {
        switch s { case .int(let size, _, _): return [1, 2, 4, 8].contains(size); case .bool, .char, .enumeration: return true; default: return false }
    }

    func defaultValue(_ s: BTFShape) -> String {
        switch s {
        case .bool: return "false"
        case .array(.char, _): return "\"\""
        case .array(let e, let n) where isScalar(e): return "Array(repeating: \(defaultValue(e)), count: \(n))"
        case .structure(let name, _, _) where !name.isEmpty: return "\(Self.upperCamel(name))()"
        case _ where isScalar(s): return "0"
        default: return "[UInt8](repeating: 0, count: \(s.size))"
        }
    }

    /// The Swift literal of a value in `bytes` at `offset` (a section's initial
    /// contents), for scalars, strings and arrays of scalars; nil otherwise.
    func literal(_ s: BTFShape, _ bytes: [UInt8], _ offset: Int) -> String? {
        guard offset + s.size <= bytes.count else { return nil }
        func raw(_ o: Int, _ n: Int) -> UInt64 { (0..<n).reduce(UInt64(0)) { $0 | UInt64(bytes[o + $1]) << (8 * UInt64($1)) } }
        switch s {
        case .bool: return bytes[offset] != 0 ? "true" : "false"
        case .array(.char, let n):
            let text = String(decoding: bytes[offset..<offset + n].prefix { $0 != 0 }, as: UTF8.self)
            return "\"" + text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined() + "\""
        case .array(let e, let n) where isScalar(e):
            let items = (0..<n).compactMap { literal(e, bytes, offset + $0 * e.size) }
            return items.count == n ? "[" + items.joined(separator: ", ") + "]" : nil
        case .char, .enumeration, .int:
            guard isScalar(s) else { return nil }
            let v = raw(offset, s.size)
            let signed: Bool
            switch s { case .int(_, let sg, _): signed = sg; default: signed = true }
            guard signed else { return String(v) }
            let shift = UInt64(64 - 8 * s.size)
            return String(Int64(bitPattern: v << shift) >> Int64(shift))
        default: return nil
        }
    }

    func decode(_ s: BTFShape, _ b: String, _ o: String) -> String {
        switch s {
        case .bool: return "\(b)[\(o)] != 0"
        case .array(.char, let n): return "\(cls).string(\(b), \(o), \(n))"
        case .array(let e, let n) where isScalar(e):
            return "(0..<\(n)).map { \(decode(e, b, "\(o) + $0 * \(e.size)")) }"
        case .structure(let name, let size, _) where !name.isEmpty:
            return "\(Self.upperCamel(name))(bytes: Array(\(b)[\(o)..<\(o) + \(size)]))"
        case _ where isScalar(s): return "\(cls).integer(\(b), \(o)) as \(swiftType(s))"
        default: return "Array(\(b)[\(o)..<\(o) + \(s.size)])"
        }
    }

    func encode(_ s: BTFShape, _ v: String, _ b: String, _ o: String) -> String {
        switch s {
        case .bool: return "\(b)[\(o)] = \(v) ? 1 : 0"
        case .array(.char, let n): return "\(cls).put(string: \(v), &\(b), \(o), \(n))"
        case .array(let e, let n) where isScalar(e):
            return "for (i, x) in \(v).prefix(\(n)).enumerated() { \(encode(e, "x", b, "\(o) + i * \(e.size)")) }"
        case .structure(let name, let size, _) where !name.isEmpty:
            return "\(b).replaceSubrange(\(o)..<\(o) + \(size), with: \(v).bytes)"
        case _ where isScalar(s): return "\(cls).put(\(v), &\(b), \(o))"
        default: return "\(b).replaceSubrange(\(o)..<\(o) + min(\(s.size), \(v).count), with: \(v).prefix(\(s.size)))"
        }
    }

    // MARK: what to generate

    /// Structs reachable from map keys/values, records and data sections.
    func neededStructs(records: [String: BTFShape]) -> [BTFShape] {
        var order: [String] = []
        var found: [String: BTFShape] = [:]
        func visit(_ s: BTFShape?) {
            guard let s else { return }
            switch s {
            case .structure(let name, _, let fields) where !name.isEmpty:
                if found[name] != nil { return }
                for f in fields { visit(f.shape) }
                found[name] = s; order.append(name)
            case .array(let e, _): visit(e)
            default: break
            }
        }
        for map in model.maps where !map.isInternal { visit(map.keyType); visit(map.valueType) }
        for (_, r) in records.sorted(by: { $0.key < $1.key }) { visit(r) }
        for sec in model.datasecs { for v in sec.variables ?? [] { visit(v.shape) } }
        return order.map { found[$0]! }
    }

    /// The map types whose `Map`/`PerCPUMap` property names the type in its comment (`hash`, …); others say `type N`.
    static let namedMapTypes: Set<MapType> = [.hash, .array, .percpuHash, .percpuArray, .lruHash, .lruPercpuHash]

    /// The record struct of each ring/perf buffer: with a manifest, the one
    /// declared struct no map uses as key or value (the compiler does not
    /// record which struct a buffer carries); else raw bytes.
    func recordShapes() -> [String: BTFShape] {
        guard let manifest = model.manifest else { return [:] }
        let used = Set(manifest.maps.flatMap { [$0.key, $0.value].compactMap { $0?.structName } })
        let candidates = manifest.structs.filter { !used.contains($0.name) }
        guard candidates.count == 1, let shape = model.structs[candidates[0].name] else { return [:] }
        var out: [String: BTFShape] = [:]
        // The implicit map of `puts`/`printf` carries print records (raw bytes here), not the struct.
        for map in model.maps where (map.type == .ringbuf || map.type == .perfEventArray) && map.name != manifest.output?.map { out[map.name] = shape }
        return out
    }

    // MARK: text

    func text() -> String {
        var o: [String] = []
        o.append("// Generated by infrared gen skel --lang swift\(source.map { " from \($0)" } ?? ""). Do not edit.")
        o.append("//")
        o.append("// The probe `\(model.name)` as a Swift type over InfraredRuntime (the counterpart of")
        o.append("// bpftool's C skeleton): open, set `rodata`, load, attach; typed maps and records.")
        o.append("import Foundation")
        o.append("import InfraredRuntime")
        o.append("")
        o.append("public final class \(cls) {")
        o.append("    /// libbpf's object name (it prefixes the internal maps: `\(model.maps.first { $0.isInternal }?.name ?? "\(model.name).bss")`).")
        o.append("    public static let objectName = \"\(model.name)\"")
        o.append("    /// The loaded object: every runtime operation (`attachCgroup`, `testRun`, …).")
        o.append("    public let object: LoadedObject")
        let records = recordShapes()

        // rodata
        let rodata = model.datasecs.first { $0.ident == "rodata" }
        let rodataMap = model.maps.first { $0.isInternal && $0.ident == "rodata" }
        let rodataVars = (rodata?.variables ?? []).filter { !$0.isStatic }
        o.append("")
        o.append("    /// `.rodata`: params (`const volatile` globals), written into the object by `load()`.")
        o.append("    public struct Rodata: Equatable {")
        for v in rodataVars {
            let initial = rodataMap?.initialValue.flatMap { literal(v.shape, $0, v.offset) } ?? defaultValue(v.shape)
            o.append("        public var \(Self.lowerCamel(v.name)): \(swiftType(v.shape)) = \(initial)")
        }
        o.append("        public init() {}")
        o.append("    }")
        o.append("    public var rodata = Rodata()")

        // data sections other than rodata: value structs read/written while loaded
        for sec in model.datasecs where sec.ident != "rodata" {
            guard let map = model.maps.first(where: { $0.isInternal && $0.ident == sec.ident }) else { continue }
            let vars = (sec.variables ?? []).filter { !$0.isStatic }
            if vars.isEmpty { continue }
            var type = Self.upperCamel(sec.ident)
            if ["Data", "Map", "Maps", "Progs", "Rodata"].contains(type) { type += "Section" }
            o.append("")
            o.append("    /// `.\(sec.ident)`: globals, as one value (`\(Self.lowerCamel(sec.ident))()` reads it, `set\(type)(_:)` writes it).")
            o.append("    public struct \(type): Equatable {")
            for v in vars {
                let initial = map.initialValue.flatMap { literal(v.shape, $0, v.offset) } ?? defaultValue(v.shape)
                o.append("        public var \(Self.lowerCamel(v.name)): \(swiftType(v.shape)) = \(initial)")
            }
            o.append("        public init() {}")
            o.append("        public init(bytes b: [UInt8]) {")
            for v in vars { o.append("            \(Self.lowerCamel(v.name)) = \(decode(v.shape, "b", String(v.offset)))") }
            o.append("        }")
            o.append("        func write(into b: inout [UInt8]) {")
            for v in vars { o.append("            \(encode(v.shape, Self.lowerCamel(v.name), "b", String(v.offset)))") }
            o.append("        }")
            o.append("    }")
            o.append("    public func \(Self.lowerCamel(sec.ident))() throws -> \(type) {")
            o.append("        \(type)(bytes: try object.lookup(map: \"\(map.name)\", key: [0, 0, 0, 0]) ?? [UInt8](repeating: 0, count: \(map.valueSize)))")
            o.append("    }")
            o.append("    public func set\(type)(_ value: \(type)) throws {")
            o.append("        var b = try object.lookup(map: \"\(map.name)\", key: [0, 0, 0, 0]) ?? [UInt8](repeating: 0, count: \(map.valueSize))")
            o.append("        value.write(into: &b)")
            o.append("        try object.update(map: \"\(map.name)\", key: [0, 0, 0, 0], value: b)")
            o.append("    }")
        }

        // structs
        for s in neededStructs(records: records) {
            guard case .structure(let name, let size, let fields) = s else { continue }
            let type = Self.upperCamel(name)
            o.append("")
            o.append("    /// `struct \(name)` (\(size) bytes).")
            o.append("    public struct \(type): Equatable {")
            o.append("        public static let size = \(size)")
            for f in fields { o.append("        public var \(Self.lowerCamel(f.name)): \(swiftType(f.shape)) = \(defaultValue(f.shape))") }
            o.append("        public init() {}")
            if !fields.isEmpty {
                let params = fields.map { "\(Self.lowerCamel($0.name).replacing("`", with: "")): \(swiftType($0.shape)) = \(defaultValue($0.shape))" }
                o.append("        public init(\(params.joined(separator: ", "))) {")
                for f in fields {
                    let n = Self.lowerCamel(f.name)
                    o.append("            self.\(n) = \(n.replacing("`", with: ""))")
                }
                o.append("        }")
            }
            o.append("        /// Decodes the kernel's bytes (shorter input reads as zeros).")
            o.append("        public init(bytes input: [UInt8]) {")
            o.append("            let b = input.count >= \(size) ? input : input + [UInt8](repeating: 0, count: \(size) - input.count)")
            for f in fields { o.append("            \(Self.lowerCamel(f.name)) = \(decode(f.shape, "b", String(f.offset)))") }
            o.append("        }")
            o.append("        /// The kernel's layout.")
            o.append("        public var bytes: [UInt8] {")
            o.append("            var b = [UInt8](repeating: 0, count: \(size))")
            for f in fields { o.append("            \(encode(f.shape, Self.lowerCamel(f.name), "b", String(f.offset)))") }
            o.append("            return b")
            o.append("        }")
            o.append("    }")
        }

        // maps
        o.append("")
        o.append("    /// The object's maps, typed.")
        o.append("    public struct Maps {")
        var inits: [String] = []
        for map in model.maps where !map.isInternal {
            let prop = Self.lowerCamel(map.name)
            switch map.type {
            case .ringbuf, .perfEventArray:
                let record = records[map.name]
                let rtype = record.map(swiftType) ?? "[UInt8]"
                let decoder = record.map { "{ \(swiftType($0))(bytes: $0) }" } ?? "{ $0 }"
                let kind = map.type == .ringbuf ? "RingBuffer" : "PerfBuffer"
                o.append("        /// `\(map.name)`: records as `\(rtype)`.")
                o.append("        public let \(prop): \(kind)<\(rtype)>")
                inits.append("\(prop): \(kind)(object: object, name: \"\(map.name)\", decode: \(decoder))")
            case .stackTrace:
                o.append("        /// `\(map.name)`: stack id → return addresses.")
                o.append("        public let \(prop): Map<UInt32, [UInt64]>")
                inits.append("\(prop): Map(object: object, name: \"\(map.name)\", keySize: \(map.keySize), encodeKey: { var b = [UInt8](repeating: 0, count: 4); \(cls).put($0, &b, 0); return b }, decodeKey: { \(cls).integer($0, 0) as UInt32 }, encodeValue: { v in var b = [UInt8](repeating: 0, count: \(map.valueSize)); for (i, x) in v.prefix(\(map.valueSize / 8)).enumerated() { \(cls).put(x, &b, i * 8) }; return b }, decodeValue: { b in (0..<\(map.valueSize / 8)).map { \(cls).integer(b, $0 * 8) as UInt64 }.filter { $0 != 0 } })")
            default:
                let keyShape = map.keyType ?? .other(size: map.keySize)
                let valueShape = map.valueType ?? .other(size: map.valueSize)
                let perCPU = [MapType.percpuHash, .percpuArray, .lruPercpuHash].contains(map.type)
                let kt = swiftType(keyShape), vt = swiftType(valueShape)
                let kind = perCPU ? "PerCPUMap" : "Map"
                o.append("        /// `\(map.name)` (\(Self.namedMapTypes.contains(map.type) ? map.type.name ?? "" : "type \(map.type.rawValue)"), max \(map.maxEntries) entries).")
                o.append("        public let \(prop): \(kind)<\(kt), \(vt)>")
                inits.append("\(prop): \(kind)(object: object, name: \"\(map.name)\", keySize: \(map.keySize), encodeKey: { k in var b = [UInt8](repeating: 0, count: \(map.keySize)); \(encode(keyShape, "k", "b", "0")); return b }, decodeKey: { b in \(decode(keyShape, "b", "0")) }, encodeValue: { v in var b = [UInt8](repeating: 0, count: \(map.valueSize)); \(encode(valueShape, "v", "b", "0")); return b }, decodeValue: { b in \(decode(valueShape, "b", "0")) }\(perCPU ? ", valueSize: \(map.valueSize)" : ""))")
            }
        }
        o.append("    }")
        o.append("    public let maps: Maps")

        // programs
        o.append("")
        o.append("    /// The object's programs, by name.")
        o.append("    public struct Progs {")
        for p in model.programs { o.append("        /// Section `\(p.section)`.") ; o.append("        public let \(Self.lowerCamel(p.name)) = \"\(p.name)\"") }
        o.append("    }")
        o.append("    public let progs = Progs()")

        // lifecycle
        o += ["",
              "    /// Opens the embedded object (`NAME__open`); set `rodata`, then `load()`.",
              "    public init(btfCustomPath: String? = nil) throws {"]
        if embeddedBTF.isEmpty {
            o.append("        object = try LoadedObject.open(bytes: Self.elfBytes, options: LoadOptions(objectName: Self.objectName, btfCustomPath: btfCustomPath))")
        } else {
            o += ["        // btfCustomPath, else the kernel's own BTF, else the embedded one of `uname -r` (BTFChoice).",
                  "        let btf = try btfCustomPath ?? BTFChoice.customPath(embedded: Self.embeddedBTF, name: Self.objectName)",
                  "        object = try LoadedObject.open(bytes: Self.elfBytes, options: LoadOptions(objectName: Self.objectName, btfCustomPath: btf))"]
        }
        o += [
              "        let object = self.object",
              "        maps = Maps(\(inits.joined(separator: ",\n                    ")))",
              "    }",
              "",
              "    /// Writes `rodata` into the object, creates the maps and loads the programs (`NAME__load`).",
              "    public func load() throws {"]
        if let rodataMap, !rodataVars.isEmpty {
            o.append("        var b = [UInt8](repeating: 0, count: \(rodataMap.valueSize))")
            for v in rodataVars {
                o.append("        \(encode(v.shape, "rodata.\(Self.lowerCamel(v.name))", "b", String(v.offset)))")
                o.append("        try object.setInitialBytes(map: \".rodata\", offset: \(v.offset), bytes: Array(b[\(v.offset)..<\(v.offset + v.size)]))")
            }
        }
        o += ["        try object.load()",
              "    }",
              "",
              "    /// `NAME__open_and_load`.",
              "    public static func openAndLoad(rodata: Rodata = Rodata(), btfCustomPath: String? = nil) throws -> \(cls) {",
              "        let skeleton = try \(cls)(btfCustomPath: btfCustomPath)",
              "        skeleton.rodata = rodata",
              "        do { try skeleton.load() } catch { skeleton.destroy(); throw error }",
              "        return skeleton",
              "    }",
              "",
              "    /// Attaches every program libbpf can attach from its section (`NAME__attach`,",
              "    /// `bpf_object__attach_skeleton`); others (cgroup, XDP, tc, perf_event) through `object`.",
              "    public func attach() throws {",
              "        for program in object.programs {",
              "            do { try object.attach(program: program.name) } catch RuntimeError.cannotAutoAttach {",
              "                continue",
              "            } catch {",
              "                object.detachAll()",
              "                throw error",
              "            }",
              "        }",
              "    }",
              "",
              "    /// `NAME__detach`.",
              "    public func detach() { object.detachAll() }",
              "    /// `NAME__destroy`: detaches, unloads and frees everything.",
              "    public func destroy() { object.close() }",
              "    deinit { object.close() }"]

        o += helpers()
        o.append("")
        o.append("    /// The BPF object (`NAME__elf_bytes`), \(model.object.count) bytes.")
        o.append("    public static let elfBytes: [UInt8] = [")
        var line = "        "
        for (i, b) in model.object.enumerated() {
            line += "0x" + String(b, radix: 16).leftPadded(2) + ","
            if i % 16 == 15 { o.append(line); line = "        " } else { line += " " }
        }
        if line.trimmingCharacters() != "" { o.append(line) }
        o.append("    ]")
        if !embeddedBTF.isEmpty {
            o.append("")
            o.append("    /// Minimal BTF of the kernels given to `infrared gen skel --embed-btf`, by release.")
            o.append("    public static let embeddedBTF: [(release: String, btf: [UInt8])] = [")
            for b in embeddedBTF {
                o.append("        (\"\(b.release)\", [" + b.btf.map { "0x" + String($0, radix: 16).leftPadded(2) }.joined(separator: ", ") + "]),")
            }
            o.append("    ]")
        }
        o.append("}")
        o.append("")
        return o.joined(separator: "\n")
    }

    func helpers() -> [String] {
        """

            // MARK: helpers

            static func integer<T: FixedWidthInteger>(_ b: [UInt8], _ o: Int) -> T {
                var v = T.zero
                for i in 0..<MemoryLayout<T>.size where o + i < b.count { v |= T(truncatingIfNeeded: b[o + i]) << (8 * i) }
                return v
            }
            static func put<T: FixedWidthInteger>(_ v: T, _ b: inout [UInt8], _ o: Int) {
                for i in 0..<MemoryLayout<T>.size where o + i < b.count { b[o + i] = UInt8(truncatingIfNeeded: v >> (8 * i)) }
            }
            static func string(_ b: [UInt8], _ o: Int, _ n: Int) -> String {
                let end = min(o + n, b.count)
                guard o < end else { return "" }
                return String(decoding: b[o..<end].prefix { $0 != 0 }, as: UTF8.self)
            }
            static func put(string s: String, _ b: inout [UInt8], _ o: Int, _ n: Int) {
                let bytes = Array(s.utf8.prefix(max(n - 1, 0)))
                for i in 0..<n where o + i < b.count { b[o + i] = i < bytes.count ? bytes[i] : 0 }
            }

            /// A map with typed keys and values.
            public struct Map<Key, Value> {
                let object: LoadedObject
                public let name: String
                let keySize: Int
                let encodeKey: (Key) -> [UInt8]
                let decodeKey: ([UInt8]) -> Key
                let encodeValue: (Value) -> [UInt8]
                let decodeValue: ([UInt8]) -> Value
                public func lookup(_ key: Key) throws -> Value? { try object.lookup(map: name, key: encodeKey(key)).map(decodeValue) }
                public func update(_ key: Key, _ value: Value, flags: UInt64 = 0) throws {
                    try object.update(map: name, key: encodeKey(key), value: encodeValue(value), flags: flags)
                }
                public func delete(_ key: Key) throws { try object.delete(map: name, key: encodeKey(key)) }
                public func keys() throws -> [Key] { try object.keys(map: name).map(decodeKey) }
                public func entries() throws -> [(key: Key, value: Value)] {
                    try object.keys(map: name).compactMap { k in try object.lookup(map: name, key: k).map { (decodeKey(k), decodeValue($0)) } }
                }
            }

            /// A per-CPU map: one value per possible CPU.
            public struct PerCPUMap<Key, Value> {
                let object: LoadedObject
                public let name: String
                let keySize: Int
                let encodeKey: (Key) -> [UInt8]
                let decodeKey: ([UInt8]) -> Key
                let encodeValue: (Value) -> [UInt8]
                let decodeValue: ([UInt8]) -> Value
                let valueSize: Int
                func split(_ b: [UInt8]) -> [Value] {
                    let stride = (valueSize + 7) & ~7
                    return stride == 0 ? [] : (0..<(b.count / stride)).map { decodeValue(Array(b[$0 * stride..<$0 * stride + valueSize])) }
                }
                public func lookup(_ key: Key) throws -> [Value]? { try object.lookup(map: name, key: encodeKey(key)).map(split) }
                public func delete(_ key: Key) throws { try object.delete(map: name, key: encodeKey(key)) }
                public func keys() throws -> [Key] { try object.keys(map: name).map(decodeKey) }
            }

            /// A ring buffer's records, decoded.
            public struct RingBuffer<Record> {
                let object: LoadedObject
                public let name: String
                let decode: ([UInt8]) -> Record
                /// A reader that calls `handler` for each record during `poll`/`consume`.
                public func reader(_ handler: @escaping (Record) -> Void) throws -> RingBufferReader {
                    let decode = self.decode
                    return try RingBufferReader(object: object, map: name) { handler(decode($0)) }
                }
                /// The records as an async sequence, polled on a thread of its own until
                /// the consumer stops iterating.
                public func records(pollMilliseconds: Int32 = 100) -> AsyncThrowingStream<Record, Error> {
                    let object = self.object, name = self.name, decode = self.decode
                    return AsyncThrowingStream { continuation in
                        let stop = StopFlag()
                        continuation.onTermination = { _ in stop.set() }
                        let thread = Thread {
                            do {
                                let reader = try RingBufferReader(object: object, map: name) { continuation.yield(decode($0)) }
                                while !stop.isSet { try reader.poll(timeoutMs: pollMilliseconds) }
                                continuation.finish()
                            } catch { continuation.finish(throwing: error) }
                        }
                        thread.start()
                    }
                }
            }

            /// A perf event array's records, decoded.
            public struct PerfBuffer<Record> {
                let object: LoadedObject
                public let name: String
                let decode: ([UInt8]) -> Record
                public func reader(_ handler: @escaping (_ cpu: Int, _ record: Record) -> Void) throws -> PerfBufferReader {
                    let decode = self.decode
                    return try PerfBufferReader(object: object, map: name) { handler($0, decode($1)) }
                }
                public func records(pollMilliseconds: Int32 = 100) -> AsyncThrowingStream<Record, Error> {
                    let object = self.object, name = self.name, decode = self.decode
                    return AsyncThrowingStream { continuation in
                        let stop = StopFlag()
                        continuation.onTermination = { _ in stop.set() }
                        let thread = Thread {
                            do {
                                let reader = try PerfBufferReader(object: object, map: name) { continuation.yield(decode($1)) }
                                while !stop.isSet { try reader.poll(timeoutMs: pollMilliseconds) }
                                continuation.finish()
                            } catch { continuation.finish(throwing: error) }
                        }
                        thread.start()
                    }
                }
            }

            final class StopFlag: @unchecked Sendable {
                private let lock = NSLock()
                private var value = false
                func set() { lock.lock(); value = true; lock.unlock() }
                var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
            }
        """.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
    func trimmingCharacters() -> String { String(drop { $0 == " " }) }
}
