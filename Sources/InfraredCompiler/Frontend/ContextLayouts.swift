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
    static func isWildcard(_ target: String) -> Bool { target.contains { "*?[".contains($0) } }

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
            let file = "\(root)/\(category)/\(event)/format"
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            let fields = parseFormat(text, userStrings: category == "syscalls")
            let layout = ContextLayout(structName: "\(category)_\(event)", fields: fields, size: 0)
            let pointers = text.split(separator: "\n").contains { line in
                guard let decl = line.split(separator: ";").first?.drop(while: \.isWhitespace), decl.hasPrefix("field:"),
                      !decl.hasPrefix("field:__data_loc") else { return false }
                return decl.contains("*") && !decl.contains("char *") && !decl.contains("char*")
            }
            return TracefsFormat(layout: layout, sufficient: pointers ? nil : layout)
        }
        return nil
    }

    /// Parses tracefs's `format` file (`field:const char * filename; offset:24; size:8; signed:0;`).
    static func parseFormat(_ text: String, userStrings: Bool) -> [ContextField] {
        var out: [ContextField] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ";").map { part -> String in
                var field = part.drop(while: \.isWhitespace)
                while field.last?.isWhitespace == true { field = field.dropLast() }
                return String(field)
            }
            guard parts.count >= 4, parts[0].hasPrefix("field:") else { continue }
            let decl = String(parts[0].dropFirst("field:".count))
            func num(_ s: String, _ key: String) -> Int? { s.hasPrefix(key + ":") ? Int(s.dropFirst(key.count + 1)) : nil }
            guard let offset = num(parts[1], "offset"), let size = num(parts[2], "size"), let signed = num(parts[3], "signed") else { continue }
            var name = decl.split(whereSeparator: { $0 == " " || $0 == "*" }).last.map(String.init) ?? ""
            if let b = name.firstIndex(of: "[") { name = String(name[..<b]) }
            guard !name.isEmpty, !name.hasPrefix("common_") else { continue }
            var f = ContextField(name: name, offset: offset, size: size, signed: signed != 0)
            if decl.hasPrefix("__data_loc") { f.use = .dataLocString; f.size = 4 }
            else if decl.contains("char *") || decl.contains("char*") { f.use = .stringPointer(user: userStrings) }
            else if decl.contains("[") {
                // `char comm[16]`: a string in the record; other arrays are left out.
                guard decl.hasPrefix("char "), size > 0 else { continue }
                f.use = .inlineChars
                out.append(f)
                continue
            }
            guard [1, 2, 4, 8].contains(f.size) else { continue }
            out.append(f)
        }
        return out
    }
}
