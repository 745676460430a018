import BPF
import InfraredBTF
import InfraredObject

/// The context of a BTF-typed program (fentry, fexit, tp_btf, lsm): the
/// kernel hands it an array of u64 slots, one per argument of the traced
/// function (a struct passed by value takes one slot per 8 bytes), and for
/// fexit the return value in the slot after them. The kernel's
/// btf_ctx_access types each slot from the function's BTF prototype, so
/// `ctx.NAME` is a load of the slot: integers at their declared size and
/// signedness, pointers to structs as `PTR_TO_BTF_ID` kernel pointers read
/// further with CO-RE like `current_task`.
enum BTFArgumentLayout {
    /// The prototype a declaration's arguments come from, found as the
    /// kernel's bpf_check_attach_target finds it, and the name diagnostics
    /// give it (`do_unlinkat`, `LSM hook file_open`, `tracepoint sched_switch`).
    static func prototype(_ source: BTFArguments, target: String, kernel: KernelBTF) throws -> KernelBTF.FunctionPrototype? {
        switch source {
        case .function(let prefix, _): return try kernel.functionPrototype(named: prefix + target)
        case .tracepoint: return try kernel.tracepointPrototype(named: target)
        }
    }

    /// The context layout of `decl`, whose kind has BTF arguments; a target
    /// the kernel's BTF does not have is an error at the declaration.
    static func layout(for decl: ProgramDeclaration, source: BTFArguments, btf: () throws -> KernelBTF, path: String,
                       sourceLines: [String]) throws -> ContextLayout {
        let kind = decl.kind.declaration
        let target = String(decl.section.dropFirst(decl.kind.section.count))
        let line = decl.declarationLine
        func failure(_ message: String, hint: String?) -> Diagnostic {
            Diagnostic(file: path, line: line, column: Declarations.column(of: kind, line: line, in: sourceLines), message: message, hint: hint)
        }
        if case .tracepoint = source, target.contains("/") || target.contains(":") {
            let event = target.split(whereSeparator: { "/:".contains($0) }).last.map(String.init) ?? target
            throw failure("tp_btf takes the tracepoint's event name alone, not \"\(target)\"", hint: "tp_btf \"\(event)\" do |ctx| … end")
        }
        let kernel = try btf()
        guard let proto = try prototype(source, target: target, kernel: kernel) else {
            switch source {
            case .function(let prefix, _) where !prefix.isEmpty:
                throw failure("no LSM hook '\(target)' in BTF (no kernel function \(prefix)\(target))",
                              hint: "list the hooks with `infrared list 'fentry:\(prefix)*'`; pass --btf FILE for another kernel")
            case .function:
                throw failure("no kernel function '\(target)' in BTF",
                              hint: "list the kernel's BTF functions with `infrared list 'fentry:*\(target)*'`; pass --btf FILE for another kernel")
            case .tracepoint:
                throw failure("no BTF tracepoint '\(target)' (no btf_trace_\(target) in BTF)",
                              hint: "list tracepoints with `infrared list 'tracepoint:*:*\(target)*'`; pass --btf FILE for another kernel")
            }
        }
        if proto.isVariadic {
            throw failure("'\(target)' takes variable arguments (`...`): the kernel cannot attach \(kind) programs to it", hint: nil)
        }
        var fields: [ContextField] = []
        var slot = 0
        for (i, p) in proto.parameters.enumerated() {
            let name = p.name.isEmpty ? "arg\(i)" : p.name
            let (field, slots) = try argument(name, typeID: p.typeID, slot: slot, kernel: kernel)
            if let field { fields.append(field) }
            slot += slots
        }
        if case .function(_, true) = source, proto.returnTypeID != 0 {
            let (field, _) = try argument("ret", typeID: proto.returnTypeID, slot: slot, kernel: kernel)
            if let field { fields.append(field) }
        }
        return ContextLayout(structName: target, fields: fields, size: 8 * slot, argumentsOf: target)
    }

    /// The field for one argument at `slot`, and how many slots it takes;
    /// nil for a value the language cannot hold (a struct passed by value, a float).
    static func argument(_ name: String, typeID: UInt32, slot: Int, kernel: KernelBTF) throws -> (ContextField?, Int) {
        let t = try kernel.resolve(typeID)
        let offset = 8 * slot
        switch t.kind {
        case .int, .enumeration, .enumeration64:
            guard [1, 2, 4, 8].contains(t.size) else { return (nil, max(1, (t.size + 7) / 8)) }
            // Enum signedness is in the BTF's kflag, which `resolve` reports for ints only;
            // kernel enums used as arguments are non-negative.
            return (ContextField(name: name, offset: offset, size: t.size, signed: t.kind == .int && t.isSigned), 1)
        case .pointer:
            var f = ContextField(name: name, offset: offset, size: 8, signed: false)
            if (t.targetKind == .structure || t.targetKind == .union), let s = t.targetName, !s.isEmpty {
                f.use = .kernelPointer(s)
            } else if t.targetKind == .int, t.targetSize == 1 {
                f.use = .stringPointer(user: try kernel.isUserPointer(typeID))
            }
            return (f, 1)
        case .structure, .union:
            return (nil, max(1, (t.size + 7) / 8))
        default:
            return (nil, 1)
        }
    }

    /// A u64 array: what the program's BTF says the context points at (libbpf's `BPF_PROG` takes `unsigned long long *ctx`).
    static let contextType: ProgramBTFSpec.CType = .pointer(.int(name: "unsigned long long", size: 8, signed: false))
}
