/// Function prototypes in the kernel's BTF: what fentry/fexit/lsm programs
/// see as their arguments (a `BTF_KIND_FUNC`'s `FUNC_PROTO`), and what a BTF
/// tracepoint (`tp_btf`) passes (the `btf_trace_<event>` typedef).
extension KernelBTF {
    /// A function's parameters and return type, by BTF type id.
    public struct FunctionPrototype: Sendable, Hashable {
        public struct Parameter: Sendable, Hashable {
            /// The parameter's name ("" when the BTF does not name it).
            public var name: String
            public var typeID: UInt32
        }
        public var parameters: [Parameter]
        /// The return type's id; 0 is `void`.
        public var returnTypeID: UInt32
        /// Whether the prototype ends in `...` (a last parameter of type 0).
        public var isVariadic: Bool
    }

    /// The prototype of the kernel function called `name` (its `BTF_KIND_FUNC`),
    /// or nil when the BTF has no such function.
    public func functionPrototype(named name: String) throws -> FunctionPrototype? {
        guard let id = typeID(named: name, kind: .function) else { return nil }
        let f = try raw(id)
        return try prototype(f.type)
    }

    /// The arguments a BTF tracepoint program gets for `event`: the prototype
    /// of `typedef void (*btf_trace_<event>)(void *__data, proto)` without
    /// its first argument, as the kernel's btf_ctx_access skips it for
    /// `attach_btf_trace` programs. The typedef's parameters are unnamed, so
    /// the names come from the tracepoint's stub with the same prototype
    /// (`__probestub_<event>`, else `__traceiter_<event>` or
    /// `__bpf_trace_<event>`) when one has as many parameters; nil when the
    /// BTF has no such tracepoint.
    public func tracepointPrototype(named event: String) throws -> FunctionPrototype? {
        guard let id = typeID(named: "btf_trace_" + event, kind: .typedef) else { return nil }
        let (_, pointer) = try skipModifiers(try raw(id).type)
        guard pointer.kind == .pointer else { return nil }
        let (_, target) = try skipModifiers(pointer.type)
        guard target.kind == .functionProto, var proto = try prototype(pointer.type) else { return nil }
        guard !proto.parameters.isEmpty else { return nil }
        proto.parameters.removeFirst()
        if proto.parameters.contains(where: { $0.name.isEmpty }) {
            for stub in ["__probestub_", "__traceiter_", "__bpf_trace_"] {
                guard let named = try functionPrototype(named: stub + event),
                      named.parameters.count == proto.parameters.count + 1 else { continue }
                for i in proto.parameters.indices { proto.parameters[i].name = named.parameters[i + 1].name }
                break
            }
        }
        return proto
    }

    private func prototype(_ id: UInt32) throws -> FunctionPrototype? {
        let (_, p) = try skipModifiers(id)
        guard p.kind == .functionProto else { return nil }
        var params: [FunctionPrototype.Parameter] = []
        var variadic = false
        for i in 0..<p.vlen {
            let q = p.parameter(i)
            if q.type == 0 && i == p.vlen - 1 { variadic = true; continue }
            params.append(.init(name: name(q.nameOffset), typeID: q.type))
        }
        return FunctionPrototype(parameters: params, returnTypeID: p.type, isVariadic: variadic)
    }
}

extension KernelBTF {
    /// Whether pointer type `id` points at user memory: its target carries
    /// the `user` type tag (`char __user *`, in kernels built with
    /// btf_type_tag support). False when the BTF does not say.
    public func isUserPointer(_ id: UInt32) throws -> Bool {
        let (_, p) = try skipModifiers(id)
        guard p.kind == .pointer else { return false }
        var t = try raw(p.type), hops = 0
        while t.kind.isModifier && hops < 64 {
            if t.kind == .typeTag && name(t.nameOffset) == "user" { return true }
            t = try raw(t.type); hops += 1
        }
        return false
    }
}
