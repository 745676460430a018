import BPF

// The arguments of BTF-typed programs (fentry, fexit, tp_btf, lsm) are
// context fields (Frontend/BTFArgumentLayout.swift lays them out); what is
// here are the diagnostics for what they do not have.

extension Lowering {
    /// `ctx.NAME` that is not an argument of `function`.
    func noSuchArgument(_ name: String, of function: String, layout: ContextLayout, irep: Irep, insn: MInstruction) -> Diagnostic {
        let kind = declaration.kind.declaration
        let names = layout.fields.map(\.name)
        let what = kind == "tp_btf" ? "tracepoint \(function)" : kind == "lsm" ? "LSM hook \(function)" : function
        return error(irep, insn, "\(what) has no argument `\(name)`",
                     hint: names.isEmpty ? "it takes no arguments this compiler can read" : "arguments: " + names.joined(separator: ", "),
                     symbol: name)
    }

    /// `ctx.ret` or `ctx.arg(n)` in a BTF-typed program: arguments go by
    /// name, and only fexit has the return value (of a non-void function).
    func btfArgumentCall(_ n: Int, irep: Irep, insn: MInstruction) -> Diagnostic {
        let kind = declaration.kind.declaration
        let names = (context?.fields ?? []).map(\.name)
        let listed = names.isEmpty ? nil : "arguments: " + names.joined(separator: ", ")
        guard n < 0 else {
            return error(irep, insn, "\(kind) programs read their arguments by name, not by number", hint: listed, symbol: "arg")
        }
        if case .function(_, true)? = declaration.kind.btfArguments {
            return error(irep, insn, "\(context?.argumentsOf ?? "the function") returns void: there is no `ctx.ret`", hint: listed, symbol: "ret")
        }
        return error(irep, insn, "`ctx.ret` is only available in fexit programs, not \(kind)",
                     hint: "use `fexit \"\(context?.argumentsOf ?? "…")\" do |ctx| … ctx.ret … end` for the return value", symbol: "ret")
    }
}
