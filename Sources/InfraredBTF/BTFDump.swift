import CLibBPF
#if canImport(Glibc)
import Glibc
#endif

/// The two text forms of a BTF blob that `bpftool btf dump file FILE
/// format raw|c` prints, byte for byte as bpftool 7.1 prints them.
public enum BTFDump {
    /// `format raw`: one line per type (`[id] KIND 'name' fields…`), then a
    /// tab-indented line per member, enumerator, parameter or section
    /// variable. Mirrors `dump_btf_type` in bpftool's btf.c (v7.1).
    public static func raw(_ spec: BTFSpec) -> [UInt8] {
        var out = TextBuffer()
        out.reserve(spec.typeCount * 64)
        for id in 1..<spec.types.count { rawType(spec, BTFID(id), into: &out) }
        return out.bytes
    }

    /// bpftool's `btf_str`: "(anon)" for offset 0; our decoder guarantees a
    /// non-empty name for every non-zero offset, so "" means offset 0.
    private static func quoted(_ s: String) -> String { s.isEmpty ? "(anon)" : s }

    private static func rawType(_ spec: BTFSpec, _ id: BTFID, into o: inout TextBuffer) {
        let t = spec[id]
        o.append("["); o.append(id); o.append("] "); o.append(t.kind.description)
        o.append(" '"); o.append(quoted(t.name)); o.append("'")
        switch t {
        case .void: break
        case .int(let i):
            o.append(" size="); o.append(i.size); o.append(" bits_offset="); o.append(UInt32(i.bitOffset))
            o.append(" nr_bits="); o.append(UInt32(i.bits)); o.append(" encoding=")
            switch i.encoding.rawValue {
            case 0: o.append("(none)")
            case 1: o.append("SIGNED")
            case 2: o.append("CHAR")
            case 4: o.append("BOOL")
            default: o.append("UNKN")
            }
        case .pointer(let target), .const(let target), .volatile(let target), .restrict(let target),
             .typedef(_, let target), .typeTag(_, let target):
            o.append(" type_id="); o.append(target)
        case .array(let a):
            o.append(" type_id="); o.append(a.element); o.append(" index_type_id="); o.append(a.index)
            o.append(" nr_elems="); o.append(a.count)
        case .structure(let c), .union(let c):
            o.append(" size="); o.append(c.size); o.append(" vlen="); o.append(UInt32(c.members.count))
            for m in c.members {
                o.append("\n\t'"); o.append(quoted(m.name)); o.append("' type_id="); o.append(m.type)
                o.append(" bits_offset="); o.append(m.bitOffset)
                if m.bitfieldSize != 0 { o.append(" bitfield_size="); o.append(UInt32(m.bitfieldSize)) }
            }
        case .enumeration(let e):
            o.append(" encoding="); o.append(e.isSigned ? "SIGNED" : "UNSIGNED")
            o.append(" size="); o.append(e.size); o.append(" vlen="); o.append(UInt32(e.values.count))
            for v in e.values {
                o.append("\n\t'"); o.append(quoted(v.name)); o.append("' val=")
                if e.isSigned { o.append(Int64(Int32(truncatingIfNeeded: v.rawValue))) } else { o.append(UInt64(UInt32(truncatingIfNeeded: v.rawValue))) }
            }
        case .enumeration64(let e):
            o.append(" encoding="); o.append(e.isSigned ? "SIGNED" : "UNSIGNED")
            o.append(" size="); o.append(e.size); o.append(" vlen="); o.append(UInt32(e.values.count))
            for v in e.values {
                o.append("\n\t'"); o.append(quoted(v.name)); o.append("' val=")
                if e.isSigned { o.append(Int64(bitPattern: v.rawValue)); o.append("LL") } else { o.append(v.rawValue); o.append("ULL") }
            }
        case .forward(_, let isUnion):
            o.append(" fwd_kind="); o.append(isUnion ? "union" : "struct")
        case .function(let f):
            o.append(" type_id="); o.append(f.proto); o.append(" linkage=")
            o.append(["static", "global", "extern"][safe: Int(f.linkage)] ?? "(unknown)")
        case .functionProto(let p):
            o.append(" ret_type_id="); o.append(p.returnType); o.append(" vlen="); o.append(UInt32(p.parameters.count))
            for param in p.parameters {
                o.append("\n\t'"); o.append(quoted(param.name)); o.append("' type_id="); o.append(param.type)
            }
        case .variable(let v):
            o.append(" type_id="); o.append(v.type); o.append(", linkage=")
            o.append(["static", "global", "extern"][safe: Int(v.linkage)] ?? "(unknown)")
        case .dataSection(let d):
            o.append(" size="); o.append(d.size); o.append(" vlen="); o.append(UInt32(d.entries.count))
            for e in d.entries {
                o.append("\n\ttype_id="); o.append(e.type); o.append(" offset="); o.append(e.offset)
                o.append(" size="); o.append(e.size)
                // Every id is in range in a decoded spec, so bpftool's range check always passes.
                let vt = spec[e.type]
                o.append(" ("); o.append(vt.kind == .void ? "UNKNOWN" : vt.kind.description)
                o.append(" '"); o.append(quoted(vt.name)); o.append("')")
            }
        case .float(_, let size):
            o.append(" size="); o.append(size)
        case .declTag(_, let target, let component):
            o.append(" type_id="); o.append(target); o.append(" component_idx="); o.append(Int64(component))
        }
        o.append("\n")
    }

    // MARK: - format c

    /// The largest struct `format c` prints (see `c(_:)`).
    public static let maximumCStructSize: UInt32 = 16 << 20

    /// `format c`: the types as C declarations (a `vmlinux.h`), written by
    /// libbpf's `btf_dump__dump_type` for every id in order, between the
    /// header and footer lines bpftool's `dump_btf_c` prints around them.
    ///
    /// Debian's bpftool 7.1 is statically linked with the libbpf of Linux
    /// 6.1.192's tools/lib/bpf, whose BTF-to-C dumper differs from the shared
    /// libbpf 1.1.2 we link in exactly two ways (diff the two btf_dump.c):
    /// 1.1.2 adds ` __attribute__((mode(byte)))` / `((mode(word)))` after
    /// 1- and 8-byte enums (libbpf commit e6e0e3fd), and prints an empty
    /// parameter list as `()` where 6.1.192 has the backported `(void)`
    /// (libbpf commit 205e86de). `CPrinter` undoes both, at the level of
    /// the dumper's print calls, so the text is bpftool's.
    public static func c(_ spec: BTFSpec) throws -> [UInt8] {
        // libbpf pads a struct out to its size with `long: 64;` lines: a
        // 25 kB file declaring a 2 GB struct would print 250 M lines (bpftool
        // does). No kernel struct comes near the limit.
        for (id, t) in spec.types.enumerated() {
            guard case .structure(let c) = t, c.size > maximumCStructSize else { continue }
            throw BTFFormatError(spec.source, "type [\(id)] STRUCT '\(c.name)' is \(c.size) bytes: `format c` would pad it out with ~\(c.size / 8) lines and refuses structs over \(maximumCStructSize >> 20) MiB (`format raw` prints it)")
        }
        let raw = spec.encoded()
        guard let btf = raw.withUnsafeBytes({ btf__new($0.baseAddress, UInt32($0.count)) }) else {
            throw BTFError(step: "btf__new(\(spec.source))", errno: errno)
        }
        defer { btf__free(btf) }
        btf__set_pointer_size(btf, spec.pointerSize)

        let printer = try CPrinter()
        let callback: btf_dump_printf_fn_t = { ctx, fmt, args in
            Unmanaged<CPrinter>.fromOpaque(ctx!).takeUnretainedValue().print(fmt!, args!)
        }
        guard let dumper = btf_dump__new(btf, callback, Unmanaged.passUnretained(printer).toOpaque(), nil) else {
            throw BTFError(step: "btf_dump__new(\(spec.source))", errno: errno)
        }
        defer { btf_dump__free(dumper) }
        printer.write(cHeader)
        for id in 1..<UInt32(spec.types.count) {
            let r = btf_dump__dump_type(dumper, id)
            if r < 0 { throw BTFError(step: "btf_dump__dump_type(\(id)) in \(spec.source)", errno: -r) }
        }
        printer.write(cFooter)
        return printer.finish()
    }

    /// Collects the dumper's output in memory (`open_memstream`), dropping
    /// libbpf 1.1.2's enum mode attributes and turning an empty parameter
    /// list's `(` `)` print pair into `(void)` (see `c(_:)`).
    private final class CPrinter {
        private var memory: UnsafeMutablePointer<CChar>?
        private var length = 0
        private var stream: UnsafeMutablePointer<FILE>?
        /// A "(" held back in case ")" follows.
        private var pendingOpen = false

        init() throws {
            guard let s = open_memstream(&memory, &length) else { throw BTFError(step: "open_memstream", errno: errno) }
            stream = s
        }

        deinit {
            if let stream { fclose(stream) }
            free(memory)
        }

        func print(_ fmt: UnsafePointer<CChar>, _ args: CVaListPointer) {
            // The attributes and parentheses are printed as formats without arguments.
            if strcmp(fmt, " __attribute__((mode(byte)))") == 0 || strcmp(fmt, " __attribute__((mode(word)))") == 0 { return }
            if pendingOpen {
                pendingOpen = false
                fputs(strcmp(fmt, ")") == 0 ? "(void" : "(", stream)
            }
            if strcmp(fmt, "(") == 0 {
                pendingOpen = true
                return
            }
            vfprintf(stream, fmt, args)
        }

        func write(_ s: String) { fputs(s, stream) }

        func finish() -> [UInt8] {
            if pendingOpen { fputs("(", stream); pendingOpen = false }
            fclose(stream)
            stream = nil
            guard let memory else { return [] }
            return Array(UnsafeRawBufferPointer(start: memory, count: length))
        }
    }

    /// The lines bpftool's `dump_btf_c` prints before the types…
    static let cHeader = """
        #ifndef __VMLINUX_H__
        #define __VMLINUX_H__

        #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
        #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
        #endif


        """
    /// …and after them.
    static let cFooter = """
        #ifndef BPF_NO_PRESERVE_ACCESS_INDEX
        #pragma clang attribute pop
        #endif

        #endif /* __VMLINUX_H__ */

        """
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}

/// An append-only byte buffer with allocation-free decimal formatting: the
/// raw dump of a kernel's BTF is millions of lines.
struct TextBuffer {
    var bytes: [UInt8] = []
    mutating func reserve(_ n: Int) { bytes.reserveCapacity(n) }
    mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }
    mutating func append(_ v: UInt32) { append(UInt64(v)) }
    mutating func append(_ v: UInt64) {
        var n = v, count = 1
        while n >= 10 { n /= 10; count += 1 }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(48, count: count))
        var x = v
        bytes.withUnsafeMutableBufferPointer { b in
            var i = start + count - 1
            repeat { b[i] = UInt8(48 + x % 10); x /= 10; i -= 1 } while x > 0
        }
    }
    mutating func append(_ v: Int64) {
        if v < 0 { bytes.append(45); append(UInt64(v.magnitude)) } else { append(UInt64(v)) }
    }
}
