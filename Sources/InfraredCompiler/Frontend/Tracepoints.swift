import InfraredBTF

/// One field of a tracepoint's record as a program body reads it (`ctx.NAME`).
public struct TracepointField: Sendable, Equatable {
    /// How the compiler treats the field's value.
    public enum Kind: Sendable, Equatable {
        /// An integer of `size` bytes, signed or not.
        case integer
        /// `__data_loc char[]`: a string stored in the record.
        case string
        /// A `char *`: a string in user memory (syscall arguments) or kernel memory.
        case stringPointer(user: Bool)
        /// A pointer to a kernel struct, read further with CO-RE (`ctx.prev.pid`).
        case structPointer(String)
        /// `char NAME[size]` in the record (`comm`): a string of at most `size` bytes.
        case chars
    }
    public var name: String
    public var offset: Int
    public var size: Int
    public var signed: Bool
    public var kind: Kind

    /// The field as `infrared list -v` prints it: `u32 pid`, `string filename`,
    /// `user char * filename`, `struct task_struct * prev`.
    public var description: String {
        switch kind {
        case .integer: return "\(signed ? "s" : "u")\(size * 8) \(name)"
        case .string: return "string \(name)"
        case .stringPointer(let user): return "\(user ? "user" : "kernel") char * \(name)"
        case .structPointer(let s): return "struct \(s) * \(name)"
        case .chars: return "char \(name)[\(size)]"
        }
    }
}

/// Tracepoints as the compiler sees them.
public enum Tracepoints {
    /// The fields `ctx` has in a `tracepoint "CATEGORY/EVENT"` body, from the
    /// same source the compiler reads (the BTF's `trace_event_raw_EVENT`,
    /// else tracefs's `format` file under `tracefsEvents`, default the usual
    /// mount points); nil when neither describes the tracepoint.
    public static func fields(category: String, event: String, kernel: KernelBTF,
                              tracefsEvents: [String]? = nil) throws -> [TracepointField]? {
        guard let layout = try ContextLayouts.tracepoint(category: category, event: event, kernel: { kernel },
                                                         tracefsRoots: tracefsEvents ?? ContextLayouts.tracefsRoots) else { return nil }
        return layout.fields.map { f in
            let kind: TracepointField.Kind
            switch f.use {
            case .integer: kind = .integer
            case .dataLocString: kind = .string
            case .stringPointer(let user): kind = .stringPointer(user: user)
            case .kernelPointer(let s): kind = .structPointer(s)
            case .inlineChars: kind = .chars
            }
            return TracepointField(name: f.name, offset: f.offset, size: f.size, signed: f.signed, kind: kind)
        }
    }
}
