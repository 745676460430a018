#if canImport(Glibc)
import Glibc
#endif

/// Raw BTF → `[BTFType]` (unmarshal).
///
/// Wire format (kernel Documentation/bpf/btf.rst, "2. BTF Type and String
/// Encoding"; `struct btf_header` in <linux/btf.h>):
///
///     header:  u16 magic 0xeB9F, u8 version 1, u8 flags 0, u32 hdr_len,
///              u32 type_off, type_len, str_off, str_len  (offsets from the header's end)
///     types:   struct btf_type {u32 name_off; u32 info; u32 size_or_type}
///              + kind-specific records, back to back; ids count from 1
///     strings: NUL-terminated, the first one empty (offset 0 is "")
///
/// Accepts what libbpf's `btf_parse_hdr` / `btf_parse_str_sec` /
/// `btf_parse_type_sec` accept (including the other byte order, as libbpf
/// swaps it), and additionally rejects what would make a later step
/// misbehave: a name offset outside the string section (or a non-zero one
/// naming the empty string), a type id that does not exist, and a chain of
/// typedefs/qualifiers/arrays/members that loops back on itself without
/// going through a pointer (the kernel's BTF verifier rejects all of these).
public enum BTFDecoder {
    static let magic: UInt16 = 0xeB9F
    static let headerSize = 24
    /// `BTF_MAX_STR_OFFSET`
    static let maxStringOffset = 0x7fff_ffff

    public static func decode(_ bytes: [UInt8], source: String) throws -> [BTFType] {
        try bytes.withUnsafeBytes { raw in
            var d = Decoder(raw: raw, source: source)
            return try d.decode()
        }
    }

    private struct Decoder {
        let raw: UnsafeRawBufferPointer
        let source: String
        var swapped = false
        var typesStart = 0, typesEnd = 0, stringsStart = 0, stringsLength = 0

        init(raw: UnsafeRawBufferPointer, source: String) { self.raw = raw; self.source = source }

        func fail(_ message: String) -> BTFFormatError { BTFFormatError(source, message) }

        @inline(__always) func u32(_ at: Int) -> UInt32 {
            let v = raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            return swapped ? v.byteSwapped : v
        }
        @inline(__always) func u16(_ at: Int) -> UInt16 {
            let v = raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)
            return swapped ? v.byteSwapped : v
        }

        mutating func decode() throws -> [BTFType] {
            try header()
            var types: [BTFType] = [.void]
            // Kernel BTF averages about 25 bytes a type.
            types.reserveCapacity((typesEnd - typesStart) / 20 + 1)
            var at = typesStart
            while at + 12 <= typesEnd {
                let (type, size) = try record(at, id: types.count)
                types.append(type)
                at += size
            }
            guard at == typesEnd else {
                throw fail("corrupt BTF: \(typesEnd - at) stray bytes at the end of the type section (after type \(types.count - 1))")
            }
            try checkReferences(types)
            return types
        }

        mutating func header() throws {
            guard raw.count >= headerSize else {
                throw fail(raw.count < 2 || !looksLikeBTF ? "neither BTF nor an ELF file (\(raw.count) bytes)"
                                                          : "truncated BTF: \(raw.count) bytes, shorter than the \(headerSize)-byte header")
            }
            let m = raw.loadUnaligned(fromByteOffset: 0, as: UInt16.self)
            if m == BTFDecoder.magic.byteSwapped {
                swapped = true
            } else if m != BTFDecoder.magic {
                throw fail("neither BTF (magic 0x\(String(m, radix: 16)), expected 0xeb9f) nor an ELF file")
            }
            guard raw[2] == 1 else { throw fail("unsupported BTF version \(raw[2]) (expected 1)") }
            guard raw[3] == 0 else { throw fail("unsupported BTF flags 0x\(String(raw[3], radix: 16))") }
            let hdrLen = Int(u32(4))
            guard hdrLen >= headerSize else { throw fail("corrupt BTF header: hdr_len \(hdrLen) is shorter than \(headerSize)") }
            guard !swapped || hdrLen == headerSize else {
                throw fail("BTF of the other byte order with a \(hdrLen)-byte header is not supported")
            }
            guard hdrLen <= raw.count else { throw fail("truncated BTF: hdr_len \(hdrLen) but only \(raw.count) bytes") }
            let typeOff = Int(u32(8)), typeLen = Int(u32(12)), strOff = Int(u32(16)), strLen = Int(u32(20))
            let available = raw.count - hdrLen
            guard strOff + strLen <= available else {
                throw fail("truncated BTF: the string section (\(strLen) bytes at \(strOff)) ends past the data (\(available) bytes after the header)")
            }
            guard typeOff + typeLen <= strOff else {
                throw fail("corrupt BTF header: type section (\(typeLen) bytes at \(typeOff)) overlaps the string section at \(strOff)")
            }
            guard typeOff % 4 == 0 else { throw fail("corrupt BTF header: type section offset \(typeOff) is not 4-byte aligned") }
            guard strLen > 0, strLen - 1 <= BTFDecoder.maxStringOffset else {
                throw fail("corrupt BTF: string section of \(strLen) bytes")
            }
            typesStart = hdrLen + typeOff; typesEnd = typesStart + typeLen
            stringsStart = hdrLen + strOff; stringsLength = strLen
            guard raw[stringsStart] == 0 else { throw fail("corrupt BTF: the string section does not start with an empty string") }
            guard raw[stringsStart + strLen - 1] == 0 else { throw fail("corrupt BTF: the string section does not end with NUL") }
        }

        var looksLikeBTF: Bool {
            raw.count >= 2 && (raw.loadUnaligned(as: UInt16.self) == BTFDecoder.magic
                               || raw.loadUnaligned(as: UInt16.self) == BTFDecoder.magic.byteSwapped)
        }

        /// The string at `offset`; a non-zero offset must name a non-empty string.
        func string(_ offset: UInt32, _ what: @autoclosure () -> String) throws -> String {
            if offset == 0 { return "" }
            guard Int(offset) < stringsLength else {
                throw fail("corrupt BTF: \(what()) has name offset \(offset), past the string section (\(stringsLength) bytes)")
            }
            let start = stringsStart + Int(offset)
            let base = raw.baseAddress! + start
            // The section ends in NUL (checked), so memchr always finds one.
            let end = memchr(base, 0, stringsStart + stringsLength - start)!
            let length = end - UnsafeMutableRawPointer(mutating: base)
            guard length > 0 else { throw fail("corrupt BTF: \(what()) has name offset \(offset), which names the empty string") }
            guard let s = String(validating: UnsafeRawBufferPointer(start: base, count: length), as: UTF8.self) else {
                throw fail("corrupt BTF: \(what()) has a name at offset \(offset) that is not UTF-8")
            }
            return s
        }

        /// Decodes the record at `at`: the type and its size in bytes.
        func record(_ at: Int, id: Int) throws -> (BTFType, Int) {
            let nameOff = u32(at), info = u32(at + 4), sizeOrType = u32(at + 8)
            let kind = (info >> 24) & 0x1f, vlen = Int(info & 0xffff), kflag = info >> 31 == 1
            func what() -> String { "type [\(id)] \(BTFKind(rawValue: kind))" }
            let extra: Int
            switch kind {
            case 1: extra = 4
            case 3: extra = 12
            case 4, 5: extra = 12 * vlen
            case 6: extra = 8 * vlen
            case 19: extra = 12 * vlen
            case 13: extra = 8 * vlen
            case 14: extra = 4
            case 15: extra = 12 * vlen
            case 17: extra = 4
            case 2, 7, 8, 9, 10, 11, 12, 16, 18: extra = 0
            default: throw fail("corrupt BTF: type [\(id)] at offset \(at - typesStart) has unknown kind \(kind)")
            }
            let size = 12 + extra
            guard at + size <= typesEnd else {
                throw fail("truncated BTF: \(what()) (\(size) bytes at offset \(at - typesStart)) runs past the type section (\(typesEnd - typesStart) bytes)")
            }
            // Kinds that have no name must not name anything (the kernel's
            // verifier agrees; bpftool would print whatever it points at).
            if nameOff != 0, [2, 3, 9, 10, 11, 13].contains(kind) {
                throw fail("corrupt BTF: \(what()) is anonymous by kind but has name offset \(nameOff)")
            }
            let name = try string(nameOff, what())
            let body = at + 12
            let type: BTFType
            switch kind {
            case 1:
                let v = u32(body)
                let encoding = UInt8((v >> 24) & 0x0f), offset = UInt8((v >> 16) & 0xff), bits = UInt8(v & 0xff)
                type = .int(BTFInt(name: name, size: sizeOrType, encoding: BTFIntEncoding(rawValue: encoding),
                                   bitOffset: offset, bits: bits))
            case 2: type = .pointer(target: sizeOrType)
            case 3: type = .array(BTFArray(element: u32(body), index: u32(body + 4), count: u32(body + 8)))
            case 4, 5:
                var members: [BTFComposite.Member] = []
                members.reserveCapacity(vlen)
                for i in 0..<vlen {
                    let m = body + 12 * i, offset = u32(m + 8)
                    members.append(BTFComposite.Member(
                        name: try string(u32(m), "\(what()) member \(i)"), type: u32(m + 4),
                        bitOffset: kflag ? offset & 0x00ff_ffff : offset, bitfieldSize: kflag ? UInt8(offset >> 24) : 0))
                }
                let c = BTFComposite(name: name, size: sizeOrType, members: members, hasBitfieldEncoding: kflag)
                type = kind == 4 ? .structure(c) : .union(c)
            case 6, 19:
                var values: [BTFEnum.Value] = []
                values.reserveCapacity(vlen)
                let stride = kind == 6 ? 8 : 12
                for i in 0..<vlen {
                    let e = body + stride * i
                    let value = kind == 6 ? UInt64(u32(e + 4)) : UInt64(u32(e + 4)) | UInt64(u32(e + 8)) << 32
                    values.append(BTFEnum.Value(name: try string(u32(e), "\(what()) value \(i)"), rawValue: value))
                }
                let e = BTFEnum(name: name, size: sizeOrType, isSigned: kflag, values: values)
                type = kind == 6 ? .enumeration(e) : .enumeration64(e)
            case 7: type = .forward(name: name, isUnion: kflag)
            case 8: type = .typedef(name: name, target: sizeOrType)
            case 9: type = .volatile(target: sizeOrType)
            case 10: type = .const(target: sizeOrType)
            case 11: type = .restrict(target: sizeOrType)
            case 12: type = .function(BTFFunction(name: name, proto: sizeOrType, linkage: UInt16(vlen)))
            case 13:
                var params: [BTFFunctionProto.Parameter] = []
                params.reserveCapacity(vlen)
                for i in 0..<vlen {
                    let p = body + 8 * i
                    params.append(.init(name: try string(u32(p), "\(what()) parameter \(i)"), type: u32(p + 4)))
                }
                type = .functionProto(BTFFunctionProto(returnType: sizeOrType, parameters: params))
            case 14: type = .variable(BTFVariable(name: name, type: sizeOrType, linkage: u32(body)))
            case 15:
                var entries: [BTFDataSection.Entry] = []
                entries.reserveCapacity(vlen)
                for i in 0..<vlen {
                    let v = body + 12 * i
                    entries.append(.init(type: u32(v), offset: u32(v + 4), size: u32(v + 8)))
                }
                type = .dataSection(BTFDataSection(name: name, size: sizeOrType, entries: entries))
            case 16: type = .float(name: name, size: sizeOrType)
            case 17: type = .declTag(name: name, target: sizeOrType, componentIndex: Int32(bitPattern: u32(body)))
            default: type = .typeTag(name: name, target: sizeOrType)
            }
            return (type, size)
        }

        /// Every referenced id exists, and no chain of non-pointer
        /// references loops (libbpf's dumper and size resolver would recurse
        /// forever on one).
        func checkReferences(_ types: [BTFType]) throws {
            let count = types.count
            for (id, t) in types.enumerated() where id > 0 {
                for r in t.referencedTypes where Int(r) >= count {
                    throw fail("corrupt BTF: type [\(id)] \(t.kind) refers to type \(r), but there are only \(count - 1) types")
                }
            }
            // Two kinds of loops that C cannot write and that send libbpf's
            // dumper and alignment code into endless recursion: one that never
            // goes through a pointer (a struct containing itself, a typedef
            // naming itself), and one that never goes through a struct or
            // union member (a pointer to a prototype returning that pointer).
            try checkAcyclic(types, skipping: { if case .pointer = $0 { return true }; return false },
                             what: "without a pointer")
            try checkAcyclic(types, skipping: { $0.kind.isComposite }, what: "without a struct or union")
        }

        /// Iterative DFS; edges out of types for which `skipping` is true are ignored.
        func checkAcyclic(_ types: [BTFType], skipping: (BTFType) -> Bool, what: String) throws {
            let count = types.count
            var state = [UInt8](repeating: 0, count: count)  // 0 new, 1 on the stack, 2 done
            var stack: [(id: Int, edges: [BTFID], next: Int)] = []
            func edges(_ t: BTFType) -> [BTFID] {
                switch t {
                case .int, .float, .enumeration, .enumeration64, .forward, .void: return []
                default: return skipping(t) ? [] : t.referencedTypes
                }
            }
            for root in 1..<max(count, 1) where state[root] == 0 {
                state[root] = 1
                stack.append((root, edges(types[root]), 0))
                while !stack.isEmpty {
                    let top = stack.count - 1
                    let (id, e, next) = stack[top]
                    if next < e.count {
                        stack[top].next += 1
                        let n = Int(e[next])
                        if n == 0 || state[n] == 2 { continue }
                        if state[n] == 1 {
                            throw fail("corrupt BTF: type [\(n)] \(types[n].kind) refers to itself through type [\(id)] \(types[id].kind) \(what)")
                        }
                        state[n] = 1
                        stack.append((n, edges(types[n]), 0))
                    } else {
                        state[id] = 2
                        stack.removeLast()
                    }
                }
            }
        }
    }

    /// Sizes the kernel's BTF verifier insists on, and members and array
    /// elements of a known size: libbpf's dumper divides by alignments
    /// computed from these, so a zero there is a crash, not an error.
    static func checkShapes(_ spec: BTFSpec) throws {
        func fail(_ id: Int, _ m: String) -> BTFFormatError {
            BTFFormatError(spec.source, "corrupt BTF: type [\(id)] \(spec.types[id].kind) \(m)")
        }
        let aligned = alignable(spec)
        for (id, t) in spec.types.enumerated() where id > 0 {
            switch t {
            case .int(let i):
                guard [1, 2, 4, 8, 16].contains(i.size) else { throw fail(id, "has size \(i.size)") }
                guard Int(i.bitOffset) + Int(i.bits) <= Int(i.size) * 8 else { throw fail(id, "has \(i.bits) bits at offset \(i.bitOffset) in \(i.size) bytes") }
                guard [0, 1, 2, 4].contains(i.encoding.rawValue) else { throw fail(id, "has encoding \(i.encoding.rawValue)") }
            case .enumeration(let e), .enumeration64(let e):
                guard [1, 2, 4, 8].contains(e.size) else { throw fail(id, "has size \(e.size)") }
            case .float(_, let size):
                guard [2, 4, 8, 12, 16].contains(size) else { throw fail(id, "has size \(size)") }
            case .structure(let c), .union(let c):
                for (i, m) in c.members.enumerated() {
                    guard m.type != 0, spec.size(of: m.type) != nil else {
                        throw fail(id, "member \(i) '\(m.name)' has type [\(m.type)] of no size")
                    }
                    guard aligned[Int(m.type)] else {
                        throw fail(id, "member \(i) '\(m.name)' has type [\(m.type)], a \(spec.types[Int(m.type)].kind) that is or holds a VAR, DATASEC, FUNC or DECL_TAG where a data type belongs")
                    }
                    // The kernel's btf_struct_check_meta: "Member bits_offset exceeds its struct size".
                    // (libbpf's btf_dump pads up to such an offset: gigabytes of `long: 64;`.)
                    guard (UInt64(m.bitOffset) + 7) / 8 <= UInt64(c.size) else {
                        throw fail(id, "member \(i) '\(m.name)' at bit offset \(m.bitOffset) lies past the end of its \(c.size) bytes")
                    }
                }
            case .array(let a):
                guard a.element != 0, spec.size(of: a.element) != nil, spec.size(of: BTFID(id)) != nil else {
                    throw fail(id, "has elements of type [\(a.element)] of no size, or is too large")
                }
                guard aligned[Int(a.element)] else {
                    throw fail(id, "has elements of type [\(a.element)], a \(spec.types[Int(a.element)].kind) that is or holds a VAR, DATASEC, FUNC or DECL_TAG where a data type belongs")
                }
            default: break
            }
        }
    }

    /// Which types libbpf's `btf__align_of` gives an alignment: integers,
    /// enums, floats and pointers, and typedefs, qualifiers, type tags,
    /// arrays and structs/unions made only of those. For anything else it
    /// returns 0 (a VAR, DECL_TAG, FUNC, DATASEC… where a member or element
    /// type belongs, which `size(of:)` looks through), and btf_dump divides
    /// by it (found by fuzzing: SIGFPE in `bpftool btf dump format c` too).
    /// Iterative, memoised; `checkReferences` has ruled out loops here.
    static func alignable(_ spec: BTFSpec) -> [Bool] {
        let types = spec.types
        var state = [UInt8](repeating: 0, count: types.count)  // 0 new, 1 open, 2 yes, 3 no
        func children(_ t: BTFType) -> [BTFID]? {
            switch t {
            case .int, .enumeration, .enumeration64, .float, .pointer: return []
            case .typedef(_, let x), .volatile(let x), .const(let x), .restrict(let x), .typeTag(_, let x): return [x]
            case .array(let a): return [a.element]
            case .structure(let c), .union(let c): return c.members.map(\.type)
            default: return nil
            }
        }
        for root in types.indices where state[root] == 0 {
            guard let rootKids = children(types[root]) else { state[root] = 3; continue }
            var stack: [(id: Int, kids: [BTFID], next: Int)] = [(root, rootKids, 0)]
            state[root] = 1
            while let (id, kids, next) = stack.last {
                if next < kids.count {
                    stack[stack.count - 1].next += 1
                    let k = Int(kids[next])
                    if state[k] == 0 {
                        if let grandKids = children(types[k]) { state[k] = 1; stack.append((k, grandKids, 0)) } else { state[k] = 3 }
                    }
                    continue
                }
                // Every child done (an open one would be a loop: not alignable).
                state[id] = kids.allSatisfy({ state[Int($0)] == 2 }) ? 2 : 3
                stack.removeLast()
            }
        }
        return state.map { $0 == 2 }
    }
}
