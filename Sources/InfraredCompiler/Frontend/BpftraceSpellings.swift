/// bpftrace's spellings a newcomer types first, and what Infrared calls
/// them: the hint of the error a body (or the top level) gives for the name.
/// One table, used by the "undefined method" diagnostics of bodies and of
/// the top level; docs/language.md lists it for people ("Coming from
/// bpftrace").
enum BpftraceSpellings {
    /// Names that mean something else in bpftrace than a body method here.
    static let body: [String: String] = [
        "count": "bpftrace's count() is an aggregation on a named map here: `@calls[comm] += 1` (or `@calls[comm].count`)",
        "sum": "bpftrace's sum(v) is `@bytes[comm].sum(v)` here (min, max, avg, stats, hist, lhist likewise)",
        "min": "bpftrace's min(v) is `@m[k].min(v)` here",
        "max": "bpftrace's max(v) is `@m[k].max(v)` here",
        "avg": "bpftrace's avg(v) is `@m[k].avg(v)` here",
        "stats": "bpftrace's stats(v) is `@m[k].stats(v)` here",
        "hist": "bpftrace's hist(v) is `@m[k].hist(v)` here (or `@m.hist(v)` without a key)",
        "lhist": "bpftrace's lhist(v, min, max, step) is `@m[k].lhist(v, min, max, step)` here",
        "nsecs": "bpftrace's nsecs is `ktime_ns` here",
        "bswap": "bpftrace's bswap(x) is `ntohs(x)` (16 bits) or `ntohl(x)` (32 bits) here",
        "args": "bpftrace's args are the block's parameter here: `tracepoint(\"syscalls/sys_enter_openat\") { |ctx| … ctx.filename … }`",
        "retval": "bpftrace's retval is `ctx.ret` here (kretprobe, uretprobe, fexit)",
        "arg0": "bpftrace's arg0, arg1, … are `ctx.arg(0)`, `ctx.arg(1)`, … here",
        "arg1": "bpftrace's arg0, arg1, … are `ctx.arg(0)`, `ctx.arg(1)`, … here",
        "arg2": "bpftrace's arg0, arg1, … are `ctx.arg(0)`, `ctx.arg(1)`, … here",
        "arg3": "bpftrace's arg0, arg1, … are `ctx.arg(0)`, `ctx.arg(1)`, … here",
        "str": "bpftrace's str(p) is `user_string(p)` (user memory) or `kernel_string(p)` here",
        "curtask": "bpftrace's curtask is `current_task` here (CO-RE reads: `current_task.real_parent.tgid`)",
        "func": "bpftrace's func is `probe` here (the name of the probe that fired)",
        "delete": "bpftrace's delete(@m[k]) is `@m.delete(k)` here",
        "clear": "bpftrace's clear(@m) is `@m.clear` in a hook (`every`, `at_exit`)",
        "print": "maps print at exit by themselves; to print one sooner, `@m.print` in an `every N do … end` hook",
        "username": "`uid` is here; names are looked up in a hook",
        "cgroup": "bpftrace's cgroup is `get_current_cgroup_id` here",
        "elapsed": "bpftrace's elapsed has no builtin here: keep `ktime_ns` of the first event in a map",
    ]

    /// Top-level names: bpftrace's probe kinds and blocks.
    static let topLevel: [String: String] = [
        "interval": "bpftrace's interval probe is a hook here: `every 1 do … end` runs in user space each second",
        "profile": "bpftrace's profile:hz:99 is `perf_event(:cpu_clock, frequency: 99) { … }` here",
        "software": "bpftrace's software probes are `perf_event(:EVENT) { … }` here",
        "hardware": "bpftrace's hardware probes are `perf_event(:EVENT) { … }` here",
        "kfunc": "bpftrace's kfunc is `fentry(\"FUNCTION\") { |ctx| … }` here (kretfunc: `fexit`)",
        "kretfunc": "bpftrace's kretfunc is `fexit(\"FUNCTION\") { |ctx| … ctx.ret … }` here",
        "rawtracepoint": "bpftrace's rawtracepoint is `raw_tracepoint(\"NAME\") { |ctx| … }` here",
    ]

    /// The hint for an undefined name `name` in a body, if bpftrace has it.
    static func bodyHint(_ name: String) -> String? { body[name] }

    /// The hint for a top-level NoMethodError message (mruby's "undefined
    /// method 'NAME' (NoMethodError)"), if NAME is bpftrace's.
    static func topLevelHint(_ message: String) -> String? {
        undefinedName(message).flatMap { topLevel[$0] }
    }

    /// NAME of mruby's "undefined method 'NAME' (NoMethodError)".
    static func undefinedName(_ message: String) -> String? {
        guard message.contains("NoMethodError"), let open = message.firstIndex(of: "'") else { return nil }
        let rest = message[message.index(after: open)...]
        guard let close = rest.firstIndex(of: "'") else { return nil }
        return String(rest[..<close])
    }

    /// bpftrace's anonymous map `@[…]`, which Ruby cannot parse: the hint
    /// for a syntax error at `column` of `line` when the text there is `@[`.
    static func syntaxHint(_ line: Substring, column: Int) -> String? {
        let chars = Array(line)
        let i = column - 1
        // mruby reports the column at, just after, or (at a line's start) just before the `@`.
        for at in [i, i - 1, i + 1] where at >= 0 && at + 1 < chars.count && chars[at] == "@" && chars[at + 1] == "[" {
            return "bpftrace's anonymous map `@[…]` needs a name in Ruby: `@counts[comm] += 1`"
        }
        return nil
    }
}
