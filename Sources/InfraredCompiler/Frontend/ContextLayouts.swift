#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import BPF
import InfraredBTF
import InfraredObject
import InfraredSupport

/// What each program type's context looks like to a body (`ctx.field`), and
/// the C type its function prototype declares.
enum ContextLayouts {
    /// Where tracepoint formats are read when the BTF has no
    /// `trace_event_raw_<event>` struct (syscall tracepoints).
    static var tracefsRoots = ["/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"]

    static func layout(for decl: ProgramDeclaration, btf: () throws -> KernelBTF, path: String,
                       sourceLines: [String] = []) throws -> (ContextLayout?, ProgramBTFSpec.CType) {
        if let seed = decl.seedContext { return (seed, scalarStruct(seed)) }
        if let source = decl.kind.btfArguments {
            let layout = try BTFArgumentLayout.layout(for: decl, source: source, btf: btf, path: path, sourceLines: sourceLines)
            return (layout, BTFArgumentLayout.contextType)
        }
        if decl.kind.declaration == "tracepoint" {
            return (try tracepoint(decl, btf: btf, path: path, sourceLines: sourceLines), .pointer(.void))
        }
        guard let name = decl.kind.contextStruct else { return (nil, .pointer(.void)) }
        if let uapi = ContextStruct.named(name) {
            // ABI structs (__sk_buff, xdp_md, …): the generated table, no kernel BTF.
            let layout = ContextLayout(structName: name, fields: uapi.fields.map {
                ContextField(name: $0.name, offset: $0.offset, size: $0.size, signed: $0.signed)
            }, size: uapi.size)
            return (layout, scalarStruct(layout))
        }
        let k = try btf()
        guard let s = try k.structLayout(named: name) else {
            throw Diagnostic(file: path, line: decl.line, column: 1, message: "the kernel BTF has no struct \(name) for `\(decl.kind.declaration)` programs",
                             hint: "pass --btf FILE with a kernel BTF that has it")
        }
        let fields = s.members.filter { !$0.isBitfield && [1, 2, 4, 8].contains($0.size) && $0.kind != .structure && $0.kind != .union && $0.arrayCount == nil }
            .map { ContextField(name: $0.name, offset: $0.byteOffset, size: $0.size, signed: $0.isSigned) }
        return (ContextLayout(structName: name, fields: fields, size: s.size), .pointer(.kernelStruct(name: name)))
    }

    /// A pointer to the struct of `layout`'s scalar fields: the context's type in the program's BTF.
    static func scalarStruct(_ layout: ContextLayout) -> ProgramBTFSpec.CType {
        .pointer(.structure(name: layout.structName, size: layout.size, members: layout.fields.map {
            .init(name: $0.name, type: .int(name: ScalarType.cIntegerName(size: $0.size, signed: $0.signed), size: $0.size, signed: $0.signed), offset: $0.offset)
        }))
    }

    /// A tracepoint's record: from BTF (`struct trace_event_raw_<event>`), else
    /// from tracefs's format file.
    /// Errors point at the `tracepoint` declaration's line, not its body's.
    static func tracepoint(_ decl: ProgramDeclaration, btf: () throws -> KernelBTF, path: String,
                           sourceLines: [String]) throws -> ContextLayout {
        let target = String(decl.section.dropFirst("tracepoint/".count))
        let parts = target.split(separator: "/").map(String.init)
        let line = decl.declarationLine
        let column = Declarations.column(of: "tracepoint", line: line, in: sourceLines)
        guard parts.count == 2 else {
            throw Diagnostic(file: path, line: line, column: column, message: "tracepoint \"\(target)\" must be CATEGORY/EVENT",
                             hint: "e.g. tracepoint \"sched/sched_process_exec\"")
        }
        if let layout = try tracepoint(category: parts[0], event: parts[1], kernel: btf) { return layout }
        if let denied = tracefsDenied(category: parts[0], event: parts[1]) {
            throw Diagnostic(file: path, line: line, column: column,
                             message: "cannot read tracepoint \(target)'s format: \(denied.path): \(denied.reason)",
                             hint: "the kernel's BTF does not describe this tracepoint and tracefs is not readable by this user: build as root")
        }
        throw Diagnostic(file: path, line: line, column: column, message: "no tracepoint \(target): neither the BTF (trace_event_raw_\(parts[1])) nor tracefs describe it",
                         hint: "list them with `infrared list 'tracepoint:\(parts[0]):*'`; mount tracefs if it is missing")
    }

    /// Whether a tracepoint target is a wildcard (`sched/sched_*`): `*`, `?` or `[…]` as in shell globs.
    static func isWildcard(_ target: String) -> Bool {
        // By bytes: these are ASCII (by characters, 18,000 instructions a program).
        target.utf8.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") }
    }

    /// The `CATEGORY/EVENT` names tracefs has (an `EVENT/format` file under
    /// `CATEGORY`) that match the glob `pattern`, sorted; from the first of
    /// `tracefsRoots` that lists any category, the roots the formats come from.
    static func tracepoints(matching pattern: String, tracefsRoots: [String] = ContextLayouts.tracefsRoots) -> [String] {
        let parts = pattern.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return [] }
        let files = FileManager.default
        for root in tracefsRoots {
            guard let categories = try? files.contentsOfDirectory(atPath: root), !categories.isEmpty else { continue }
            var out: [String] = []
            for c in categories where fnmatch(parts[0], c, 0) == 0 {
                guard let events = try? files.contentsOfDirectory(atPath: "\(root)/\(c)") else { continue }
                for e in events where fnmatch(parts[1], e, 0) == 0 && files.fileExists(atPath: "\(root)/\(c)/\(e)/format") {
                    out.append("\(c)/\(e)")
                }
            }
            return out.sorted()
        }
        return []
    }

    /// The first tracefs `format` file of `category/event` that exists but
    /// this user may not read (tracefs is often root's alone), and why.
    static func tracefsDenied(category: String, event: String) -> (path: String, reason: String)? {
        for root in tracefsRoots {
            let path = "\(root)/\(category)/\(event)/format"
            if access(path, R_OK) != 0, errno == EACCES || errno == EPERM {
                return (path, String(cString: strerror(errno)))
            }
        }
        return nil
    }

    /// The record of tracepoint `category/event` (nil when neither the BTF
    /// nor tracefs describe it): what `ctx.FIELD` reads, and what
    /// `infrared list -v` prints (`Tracepoints.fields`). tracefs's format
    /// file is read first: when none of its fields needs a BTF type (a
    /// pointer to something other than char), it gives the same fields as
    /// the BTF's `trace_event_raw_<event>` (TracepointLayoutTests compares
    /// every tracepoint of the running kernel) and the kernel BTF is not
    /// opened at all; otherwise the BTF, else the format as it is.
    static func tracepoint(category: String, event: String, kernel k: () throws -> KernelBTF,
                           tracefsRoots: [String] = ContextLayouts.tracefsRoots) throws -> ContextLayout? {
        let format = tracefsLayout(category: category, event: event, tracefsRoots: tracefsRoots)
        if let fast = format?.sufficient { return fast }
        if let layout = try btfTracepointLayout(category: category, event: event, kernel: try k()) { return layout }
        return format?.layout
    }

    /// The BTF's `trace_event_raw_<event>`, as a context.
    static func btfTracepointLayout(category: String, event: String, kernel k: KernelBTF) throws -> ContextLayout? {
        let userStrings = category == "syscalls"
        guard let s = try k.structLayout(named: "trace_event_raw_\(event)") else { return nil }
        var fields: [ContextField] = []
        for m in s.members where !m.isBitfield {
            if m.name.hasPrefix("__data_loc_") {
                fields.append(ContextField(name: String(m.name.dropFirst("__data_loc_".count)), offset: m.byteOffset, size: 4, signed: false, use: .dataLocString))
                continue
            }
            if m.arrayCount != nil, m.size > 0, try k.resolve(m.typeID).targetName == "char" {
                fields.append(ContextField(name: m.name, offset: m.byteOffset, size: m.size, signed: false, use: .inlineChars))
                continue
            }
            guard [1, 2, 4, 8].contains(m.size), m.arrayCount == nil, m.kind != .structure, m.kind != .union else { continue }
            var f = ContextField(name: m.name, offset: m.byteOffset, size: m.size, signed: m.isSigned)
            if m.kind == .pointer {
                let r = try k.resolve(m.typeID)
                if r.targetKind == .int && r.targetSize == 1 { f.use = .stringPointer(user: userStrings) }
                else if let t = r.targetName, !t.isEmpty, r.targetKind == .structure { f.use = .kernelPointer(t) }
            }
            fields.append(f)
        }
        return ContextLayout(structName: "trace_event_raw_\(event)", fields: fields, size: s.size)
    }

    /// A tracepoint's record from tracefs's format file: `layout` as the
    /// format gives it, and `sufficient`, the same, when no field needs the
    /// BTF (nil when one is a non-char pointer, whose target struct only the
    /// BTF knows). It is named `CATEGORY_EVENT` (in diagnostics only: a
    /// tracepoint's context has no type in the object's BTF).
    struct TracefsFormat {
        var layout: ContextLayout
        var sufficient: ContextLayout?
    }

    static func tracefsLayout(category: String, event: String, tracefsRoots: [String] = ContextLayouts.tracefsRoots) -> TracefsFormat? {
        for root in tracefsRoots {
            guard let text = try? readFile("\(root)/\(category)/\(event)/format") else { continue }
            let (fields, pointers) = parseFormat(bytes: text, userStrings: category == "syscalls")
            let layout = ContextLayout(structName: "\(category)_\(event)", fields: fields, size: 0)
            return TracefsFormat(layout: layout, sufficient: pointers ? nil : layout)
        }
        return nil
    }

    /// Parses tracefs's `format` file (`field:const char * filename; offset:24; size:8; signed:0;`).
    static func parseFormat(_ text: String, userStrings: Bool) -> [ContextField] {
        parseFormat(bytes: Array(text.utf8), userStrings: userStrings).fields
    }

    /// The fields, and whether a field (not a `__data_loc`) is a pointer to
    /// something other than char. Over the bytes: this runs in every build
    /// of a tracepoint, where String's generic splitting cost ~0.2 ms.
    static func parseFormat(bytes text: [UInt8], userStrings: Bool) -> (fields: [ContextField], nonCharPointer: Bool) {
        var out: [ContextField] = []
        var pointers = false
        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0d }
        func trimmed(_ r: Range<Int>) -> Range<Int> {
            var lo = r.lowerBound, hi = r.upperBound
            while lo < hi, isSpace(text[lo]) { lo += 1 }
            while hi > lo, isSpace(text[hi - 1]) { hi -= 1 }
            return lo..<hi
        }
        func has(_ r: Range<Int>, prefix: String) -> Bool {
            let p = Array(prefix.utf8)
            return r.count >= p.count && text[r.lowerBound..<(r.lowerBound + p.count)].elementsEqual(p)
        }
        func contains(_ r: Range<Int>, _ needle: String) -> Bool {
            let n = Array(needle.utf8)
            guard r.count >= n.count else { return false }
            return (r.lowerBound...(r.upperBound - n.count)).contains { text[$0..<($0 + n.count)].elementsEqual(n) }
        }
        /// `key:N` → N.
        func number(_ r: Range<Int>, _ key: String) -> Int? {
            guard has(r, prefix: key + ":") else { return nil }
            var i = r.lowerBound + key.utf8.count + 1, negative = false, value = 0, digits = 0
            if i < r.upperBound, text[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            while i < r.upperBound, (0x30...0x39).contains(text[i]) { value = value * 10 + Int(text[i] - 0x30); i += 1; digits += 1 }
            guard digits > 0, i == r.upperBound else { return nil }
            return negative ? -value : value
        }
        var lineStart = 0
        while lineStart < text.count {
            let lineEnd = text[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? text.count
            defer { lineStart = lineEnd + 1 }
            // The line's `;`-separated parts, trimmed (empty parts dropped, as `split` does).
            var parts: [Range<Int>] = []
            var partStart = lineStart
            for i in lineStart...lineEnd where i == lineEnd || text[i] == UInt8(ascii: ";") {
                if i > partStart { parts.append(trimmed(partStart..<i)) }
                partStart = i + 1
            }
            guard let first = parts.first, has(first, prefix: "field:") else { continue }
            let decl = (first.lowerBound + 6)..<first.upperBound
            if !has(decl, prefix: "__data_loc"), contains(decl, "*"), !contains(decl, "char *"), !contains(decl, "char*") { pointers = true }
            guard parts.count >= 4, let offset = number(parts[1], "offset"), let size = number(parts[2], "size"),
                  let signed = number(parts[3], "signed") else { continue }
            // The name: the declaration's last word after a space or `*`, up to a `[`.
            var nameStart = decl.upperBound
            while nameStart > decl.lowerBound, text[nameStart - 1] != 0x20, text[nameStart - 1] != UInt8(ascii: "*") { nameStart -= 1 }
            var nameEnd = nameStart
            while nameEnd < decl.upperBound, text[nameEnd] != UInt8(ascii: "[") { nameEnd += 1 }
            let name = String(decoding: text[nameStart..<nameEnd], as: UTF8.self)
            guard !name.isEmpty, !name.hasPrefix("common_") else { continue }
            var f = ContextField(name: name, offset: offset, size: size, signed: signed != 0)
            if has(decl, prefix: "__data_loc") { f.use = .dataLocString; f.size = 4 }
            // `const char * filename` is a string; `const char *const * argv`
            // an address (of the pointers: `user_read(:u64, ctx.argv)`).
            else if contains(decl, "char *") || contains(decl, "char*") {
                if text[decl].lazy.filter({ $0 == UInt8(ascii: "*") }).count == 1 { f.use = .stringPointer(user: userStrings) }
            }
            else if contains(decl, "[") {
                // `char comm[16]`: a string in the record; other arrays are left out.
                guard has(decl, prefix: "char "), size > 0 else { continue }
                f.use = .inlineChars
                out.append(f)
                continue
            }
            guard [1, 2, 4, 8].contains(f.size) else { continue }
            out.append(f)
        }
        return (out, pointers)
    }
}
