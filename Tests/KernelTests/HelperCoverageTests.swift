import Foundation
import XCTest
import BPF
import InfraredCompiler
import InfraredRuntime

/// Issue 4, "every helper is exercised": for each helper of `helperTable` a
/// probe file is generated that calls it by name, with an argument of the
/// right kind for each parameter of its prototype, from a program type that
/// may call it. Every file must compile; each object is then loaded, and the
/// helpers the kernel refuses are printed with the verifier's reason.
///
/// How arguments are chosen (`HelperCoverage.generate`):
/// - integers: small constants the helper accepts (sizes 8/16/…, flags 0);
/// - `map`: a declared map of the type the helper wants where the language
///   has one (ringbuf, perf_event_array, stack_trace, hash, array, …);
/// - the program's context (`void *ctx`, `struct __sk_buff *`, `xdp_md`, …): `ctx`;
/// - buffers and out-parameters: a stack struct `bN = Buf.new`;
/// - `const char *` (formats, names): a string literal;
/// - sockets, tasks, ring buffer records, dynptrs: values another helper
///   returns (released/submitted afterwards where the verifier tracks references);
/// - addresses in user memory: `user_string(ctx.arg(1))`; in kernel memory: `current_task`;
/// - other kernel objects (`struct file *`, …): `cast(:file, 0)`;
/// - callbacks: `nil` (the language has no function values).
///
/// Which program types may call a helper comes from the kernel
/// (`HelperAvailability`: bpftool's feature probe, and the same probe done
/// here, which reads this kernel's verifier message); the generator calls each
/// helper from a program kind whose type may call it. Every helper's outcome is
/// then determined and asserted: accepted; or refused for a reason of the
/// reviewed table `expectedRefusals` (helper, verifier fragment, why, and the
/// fact checked); or, when no program kind of the language may call it,
/// "program of this type cannot use helper". Any other outcome fails.
///
/// `HELPER_COVERAGE_DUMP=DIR` writes each generated probe file to DIR/<helper>.rb.
final class HelperCoverageTests: KernelTestCase {
    func testEveryHelperCompilesAndTheKernelJudgesEach() throws {
        let start = Date()
        let oracle = try HelperAvailability.measure(helpers: helperTable)
        var rows: [HelperCoverage.Row] = []
        var compileFailures: [(String, String)] = []
        var wrong: [String] = []
        for proto in helperTable {
            let (decl, expected) = HelperCoverage.plan(proto, oracle)
            let c = HelperCoverage.generate(proto, from: decl)
            if let dir = ProcessInfo.processInfo.environment["HELPER_COVERAGE_DUMP"] {
                try? c.source.write(toFile: "\(dir)/\(c.short).rb", atomically: true, encoding: .utf8)
            }
            var row = HelperCoverage.Row(helper: c.short, declaration: c.declarationName, result: .accepted, detail: "", expected: expected)
            let compiled: CompiledObject
            do {
                compiled = try Compiler.compile(source: c.source, path: "\(c.short).rb")
            } catch {
                if let reason = HelperCoverage.notExpressible[c.short] {
                    row.result = .notExpressible; row.detail = reason
                } else {
                    row.result = .compileError; row.detail = "\(error)"
                    compileFailures.append((c.short, "\(error)\n--- source ---\n\(c.source)"))
                }
                rows.append(row)
                continue
            }
            if HelperCoverage.notExpressible[c.short] != nil {
                XCTFail("\(c.short) is listed as not expressible but compiles: update the list")
            }
            do {
                let object = try LoadedObject(bytes: compiled.bytes)
                object.close()
            } catch let e as LoadError {
                row.result = .refused
                row.detail = HelperCoverage.reason(e)
            } catch {
                row.result = .refused
                row.detail = "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
            }
            if !expected.matches(row) {
                wrong.append("\(c.short) from \(decl.name): expected \(expected.summary), got \(row.result.rawValue)"
                             + (row.detail.isEmpty ? "" : ": \(row.detail)") + "\n--- source ---\n\(c.source)")
            }
            rows.append(row)
        }
        let elapsed = Date().timeIntervalSince(start)

        // The table, then the refusals grouped by reason.
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var out = "\nhelper coverage: \(helperTable.count) helpers\n"
        out += "oracle: \(oracle.bpftoolVersion), `bpftool -j feature probe kernel` \(String(format: "%.2f", oracle.bpftoolSeconds)) s, "
        out += oracle.bpftoolDiscriminates ? "its lists tell program types apart"
            : "its lists do not tell program types apart (\(Set(oracle.bpftoolLists.values.map(\.count)).sorted()) helpers per type): an upper bound only"
        out += String(format: "; direct probe of %d types × %d helpers %.2f s\n", oracle.probed.count, helperTable.count, oracle.probeSeconds)
        out += "  probed: " + oracle.probed.map(\.name).joined(separator: " ") + "\n"
        for (t, why) in oracle.notProbed.sorted(by: { $0.key < $1.key }) { out += "  not probed: \(t): \(why)\n" }
        out += pad("helper", 32) + pad("program", 32) + pad("result", 10) + "first verifier error / diagnostic — why\n"
        for r in rows {
            let why = r.expected.note.isEmpty ? "" : (r.detail.isEmpty ? "" : " — ") + r.expected.note
            out += pad(r.helper, 32) + pad(r.declaration, 32) + pad(r.result.rawValue, 10) + r.detail + why + "\n"
        }
        let count = { (k: HelperCoverage.Result) in rows.filter { $0.result == k }.count }
        let compiled = rows.count - count(.compileError) - count(.notExpressible)
        out += "\ncompiled \(compiled) / accepted \(count(.accepted)) / refused \(count(.refused)) / not expressible \(count(.notExpressible)) / compile errors \(count(.compileError))"
        out += String(format: " (%.1f s)\n", elapsed)
        out += "expected: " + Dictionary(grouping: rows, by: { $0.expected.category }).sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.count)" }.joined(separator: ", ") + "\n"
        out += "\nrefused, by reason:\n"
        let byReason = Dictionary(grouping: rows.filter { $0.result == .refused }, by: { HelperCoverage.normalized($0.detail) })
        for (reason, rs) in byReason.sorted(by: { ($0.value.count, $1.key) > ($1.value.count, $0.key) }) {
            out += "  [\(rs.count)] \(reason)\n      " + rs.map(\.helper).joined(separator: " ") + "\n"
        }
        out += "\nnot expressible in the language:" + (count(.notExpressible) == 0 ? " none\n" : "\n")
        for r in rows where r.result == .notExpressible { out += "  \(r.helper): \(r.detail)\n" }
        print(out)

        // The oracle itself: no unanswered probe of a type the language has, and
        // bpftool does not contradict it (it may only list more).
        for (t, h, errno) in oracle.inconclusive {
            XCTFail("direct probe of \(h) from \(t): load failed (errno \(errno)) with no verifier message")
        }
        for p in HelperCoverage.declarations where !oracle.probed.contains(where: { $0.type == p.programType }) {
            // lsm (a trampoline kind) cannot load where the kernel refuses BPF
            // trampolines; BTFProgramTests checks that refusal against clang's fentry.
            if p.usesTrampoline, try Support.kernelRefusesTrampolines() { continue }
            XCTFail("program type of `\(p.name)` was not probed: \(oracle.notProbed)")
        }
        for p in oracle.probed {
            guard let listed = oracle.bpftoolLists[p.name], !listed.isEmpty else { continue }
            let known = Set(oracle.bpftoolLists.values.flatMap { $0 })
            for h in helperTable where known.contains(h.name) && oracle.mayCall(h, from: p.type) && !listed.contains(h.name) {
                XCTFail("\(h.name): callable from \(p.name) by the direct probe, but bpftool does not list it")
            }
        }
        // Every program type of the language has a declaration the generator can use.
        XCTAssertEqual(Set(programKinds.map(\.programType).map(\.rawValue)), Set(HelperCoverage.declarations.map(\.programType.rawValue)),
                       "the generator must declare every program type of the language (Sources/BPF/ProgramKinds.swift)")
        // The reviewed refusals: each still needed, each fact still true.
        for (name, refusal) in HelperCoverage.expectedRefusals.sorted(by: { $0.key < $1.key }) {
            guard let proto = HelperPrototype.named(name) else { XCTFail("expected refusal for unknown helper \(name)"); continue }
            if !HelperCoverage.declarations.contains(where: { oracle.mayCall(proto, from: $0.programType) }) {
                XCTFail("\(name) is in expectedRefusals but no program kind of the language may call it: remove the entry")
            }
            if let broken = refusal.fact.check(proto, fragment: refusal.fragment) { XCTFail("\(name): the reason \"\(refusal.why)\" no longer holds: \(broken)") }
        }

        for (name, detail) in compileFailures {
            XCTFail("helper \(name) does not compile: \(detail)")
        }
        for w in wrong { XCTFail(w) }
        for name in HelperCoverage.mustLoad {
            let r = rows.first { $0.helper == name }
            XCTAssertEqual(r?.result, .accepted, "\(name) must load: \(r?.detail ?? "no such helper")")
        }
        // A refusal for one of these reasons means the generated call itself is
        // wrong (a size beyond its buffer, the wrong pointer, a leaked
        // reference): the generator's or the compiler's fault, not a limit of
        // the program type or of the language's map types.
        for r in rows where r.result == .refused {
            if let bad = HelperCoverage.generatorFaults.first(where: { r.detail.contains($0) }) {
                XCTFail("\(r.helper): refused for \"\(bad)\": \(r.detail)")
            }
        }
        XCTAssertLessThan(elapsed, 60, "the helper coverage test should take under a minute")
    }
}

enum HelperCoverage {
    enum Result: String { case accepted, refused, compileError = "COMPILE ERROR", notExpressible = "not expressible" }
    struct Row { var helper: String; var declaration: String; var result: Result; var detail: String; var expected: Expectation }

    /// Helpers every Infrared user relies on: each must load.
    static let mustLoad = [
        "map_lookup_elem", "map_update_elem", "map_delete_elem", "probe_read_kernel", "probe_read_user",
        "ktime_get_ns", "trace_printk", "get_prandom_u32", "get_smp_processor_id", "get_current_pid_tgid",
        "get_current_uid_gid", "get_current_comm", "perf_event_output", "get_stackid", "get_current_task",
        "ringbuf_output", "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "skb_load_bytes", "redirect",
        "xdp_adjust_head",
    ]

    /// Verifier reasons that mean a generated call is malformed.
    static let generatorFaults = [
        "reference leak", "Unreleased reference", "invalid write to stack", "invalid read from stack", "invalid indirect read",
        "outside of the allowed memory range", "expected=ctx", "invalid mem access", "invalid access to", "!read_ok",
        "unbounded memory access", "invalid zero-sized read",
    ]

    /// Helpers the language cannot express, with the compiler's reason. Keep small.
    static let notExpressible: [String: String] = [:]

    // MARK: expected outcomes

    /// What the kernel must answer for one helper.
    struct Expectation {
        enum Kind { case accepted, reviewed(Refusal), noKind([String]), unknownHelper }
        var kind: Kind
        var category: String {
            switch kind {
            case .accepted: return "accepted"
            case .reviewed: return "refused (reviewed)"
            case .noKind: return "refused (no program kind of the language may call it)"
            case .unknownHelper: return "refused (unknown on this kernel)"
            }
        }
        var summary: String {
            switch kind {
            case .accepted: return "accepted"
            case .reviewed(let r): return "refused with \"\(r.fragment)\" (\(r.why))"
            case .noKind: return "refused with \"program of this type cannot use helper\" or \"unknown func\" (\(note))"
            case .unknownHelper: return "refused with \"invalid func\" or \"unknown func\" (unknown on this kernel)"
            }
        }
        var note: String {
            switch kind {
            case .accepted: return ""
            case .reviewed(let r): return r.why
            case .noKind(let types): return "no program kind of the language may call it (types: \(types.isEmpty ? "none of those probed" : types.joined(separator: ", ")))"
            case .unknownHelper: return "unknown on this kernel"
            }
        }
        func matches(_ row: Row) -> Bool {
            switch kind {
            case .accepted: return row.result == .accepted
            case .reviewed(let r): return row.result == .refused && row.detail.contains(r.fragment)
            case .noKind: return row.result == .refused
                && (row.detail.contains("program of this type cannot use helper") || row.detail.contains("unknown func"))
            case .unknownHelper: return row.result == .refused && (row.detail.contains("invalid func") || row.detail.contains("unknown func"))
            }
        }
    }

    /// A refusal the language cannot avoid, reviewed: the verifier's fragment, why, and the fact checked.
    struct Refusal { var fragment: String; var why: String; var fact: Fact }

    /// The fact of the language or the kernel a refusal follows from, checked each run.
    enum Fact {
        /// The helper needs a map of this type; checked: no `MapKind` of the language declares one.
        case mapType(MapType, String)
        /// A parameter takes a callback (the language has no function values: the generator passes `nil`);
        /// checked: the register the verifier names holds the prototype's `callback_fn`.
        case callback
        /// The map value must hold a kernel struct (`bpf_timer`, `bpf_spin_lock`); checked: the compiler refuses such a field.
        case mapValueField(String)
        /// The helper may sleep; checked: no program kind of the language is sleepable (a `.s` section).
        case sleepable
        /// The argument is a kind of kernel pointer the language has no way to make (per-CPU, kptr); the
        /// verifier's message names the type it wanted.
        case kernelPointer

        /// nil when the fact holds, else what broke it.
        func check(_ proto: HelperPrototype, fragment: String) -> String? {
            switch self {
            case .mapType(let t, let name):
                return MapKind.allCases.contains { $0.mapType == t } ? "the language declares a \(name) map now" : nil
            case .callback:
                guard let i = proto.parameters.firstIndex(where: { $0.name == "callback_fn" }) else { return "\(proto.name) takes no callback_fn" }
                return fragment.hasPrefix("R\(i + 1) ") ? nil : "callback_fn is R\(i + 1), the verifier's fragment names another register: \(fragment)"
            case .mapValueField(let type):
                // The same map value with a u64 field compiles; with the kernel struct the compiler refuses the field.
                func compile(_ t: String) -> String? {
                    let src = "license \"GPL\"\nstruct :V do\n  \(t) :f\nend\nmap :m, :array, value: :V, max_entries: 1\n"
                        + "kprobe \"do_sys_openat2\" do |ctx|\n  0\nend\n"
                    do { _ = try Compiler.compile(source: src, path: "field.rb"); return nil } catch { return "\(error)" }
                }
                if let e = compile("u64") { return "the check's own probe file does not compile: \(e)" }
                guard let e = compile(type) else { return "a struct field of type \(type) compiles" }
                return e.contains(type) ? nil : "a struct field of type \(type) is refused for another reason: \(e)"
            case .sleepable:
                let s = programKinds.filter { $0.section.contains(".s/") || $0.section.hasSuffix(".s") }
                return s.isEmpty ? nil : "sleepable kinds: \(s.map(\.declaration))"
            case .kernelPointer:
                return nil
            }
        }
    }

    /// Refusals of helpers some program kind of the language may call, each
    /// for a reason the language cannot avoid. Any other refusal fails the test.
    static let expectedRefusals: [String: Refusal] = [
        "tail_call": Refusal(fragment: "expected prog array map for tail call",
                             why: "needs a map of type prog_array, which the language cannot declare", fact: .mapType(.progArray, "prog_array")),
        "skb_under_cgroup": Refusal(fragment: "cannot pass map_type 2 into func bpf_skb_under_cgroup",
                                    why: "needs a map of type cgroup_array, which the language cannot declare", fact: .mapType(.cgroupArray, "cgroup_array")),
        "current_task_under_cgroup": Refusal(fragment: "cannot pass map_type 2 into func bpf_current_task_under_cgroup",
                                             why: "needs a map of type cgroup_array, which the language cannot declare", fact: .mapType(.cgroupArray, "cgroup_array")),
        "redirect_map": Refusal(fragment: "cannot pass map_type 2 into func bpf_redirect_map",
                                why: "needs a map of type devmap/cpumap/xskmap, which the language cannot declare", fact: .mapType(.devmap, "devmap")),
        "get_local_storage": Refusal(fragment: "cannot pass map_type 2 into func bpf_get_local_storage",
                                     why: "needs a map of type cgroup_storage, which the language cannot declare", fact: .mapType(.cgroupStorage, "cgroup_storage")),
        "map_push_elem": Refusal(fragment: "cannot pass map_type 1 into func bpf_map_push_elem",
                                 why: "needs a map of type queue/stack, which the language cannot declare", fact: .mapType(.queue, "queue")),
        "map_pop_elem": Refusal(fragment: "cannot pass map_type 1 into func bpf_map_pop_elem",
                                why: "needs a map of type queue/stack, which the language cannot declare", fact: .mapType(.queue, "queue")),
        "map_peek_elem": Refusal(fragment: "cannot pass map_type 1 into func bpf_map_peek_elem",
                                 why: "needs a map of type queue/stack/bloom_filter, which the language cannot declare", fact: .mapType(.queue, "queue")),
        "sk_storage_get": Refusal(fragment: "cannot pass map_type 1 into func bpf_sk_storage_get",
                                  why: "needs a map of type sk_storage, which the language cannot declare", fact: .mapType(.skStorage, "sk_storage")),
        "sk_storage_delete": Refusal(fragment: "cannot pass map_type 1 into func bpf_sk_storage_delete",
                                     why: "needs a map of type sk_storage, which the language cannot declare", fact: .mapType(.skStorage, "sk_storage")),
        "task_storage_get": Refusal(fragment: "cannot pass map_type 1 into func bpf_task_storage_get",
                                    why: "needs a map of type task_storage, which the language cannot declare", fact: .mapType(.taskStorage, "task_storage")),
        "task_storage_delete": Refusal(fragment: "cannot pass map_type 1 into func bpf_task_storage_delete",
                                       why: "needs a map of type task_storage, which the language cannot declare", fact: .mapType(.taskStorage, "task_storage")),
        // BPF_MAP_TYPE_CGRP_STORAGE (32) is newer than the generated headers.
        "cgrp_storage_get": Refusal(fragment: "cannot pass map_type 1 into func bpf_cgrp_storage_get",
                                    why: "needs a map of type cgrp_storage, which the language cannot declare", fact: .mapType(MapType(rawValue: 32), "cgrp_storage")),
        "cgrp_storage_delete": Refusal(fragment: "cannot pass map_type 1 into func bpf_cgrp_storage_delete",
                                       why: "needs a map of type cgrp_storage, which the language cannot declare", fact: .mapType(MapType(rawValue: 32), "cgrp_storage")),
        "spin_lock": Refusal(fragment: "has no valid bpf_spin_lock",
                             why: "needs a bpf_spin_lock in a map value: the language's struct fields are scalars", fact: .mapValueField("bpf_spin_lock")),
        "spin_unlock": Refusal(fragment: "has no valid bpf_spin_lock",
                               why: "needs a bpf_spin_lock in a map value: the language's struct fields are scalars", fact: .mapValueField("bpf_spin_lock")),
        "timer_init": Refusal(fragment: "has no valid bpf_timer",
                              why: "needs a bpf_timer in a map value: the language's struct fields are scalars", fact: .mapValueField("bpf_timer")),
        "timer_start": Refusal(fragment: "has no valid bpf_timer",
                               why: "needs a bpf_timer in a map value: the language's struct fields are scalars", fact: .mapValueField("bpf_timer")),
        "timer_cancel": Refusal(fragment: "has no valid bpf_timer",
                                why: "needs a bpf_timer in a map value: the language's struct fields are scalars", fact: .mapValueField("bpf_timer")),
        "timer_set_callback": Refusal(fragment: "has no valid bpf_timer",
                                      why: "needs a bpf_timer in a map value (and takes a callback): the language has neither", fact: .mapValueField("bpf_timer")),
        "for_each_map_elem": Refusal(fragment: "R2 type=scalar expected=func", why: "takes a callback: the language has no function values", fact: .callback),
        "find_vma": Refusal(fragment: "R3 type=scalar expected=func", why: "takes a callback: the language has no function values", fact: .callback),
        "loop": Refusal(fragment: "R2 type=scalar expected=func", why: "takes a callback: the language has no function values", fact: .callback),
        "user_ringbuf_drain": Refusal(fragment: "R2 type=scalar expected=func",
                                      why: "takes a callback (and a user_ringbuf map): the language has no function values", fact: .callback),
        "copy_from_user": Refusal(fragment: "helper call might sleep in a non-sleepable prog",
                                  why: "may sleep: no program kind of the language is sleepable", fact: .sleepable),
        "copy_from_user_task": Refusal(fragment: "helper call might sleep in a non-sleepable prog",
                                       why: "may sleep: no program kind of the language is sleepable", fact: .sleepable),
        "per_cpu_ptr": Refusal(fragment: "expected=percpu_ptr_",
                               why: "needs a per-CPU kernel pointer (a __percpu ksym): the language has no ksyms", fact: .kernelPointer),
        "this_cpu_ptr": Refusal(fragment: "expected=percpu_ptr_",
                                why: "needs a per-CPU kernel pointer (a __percpu ksym): the language has no ksyms", fact: .kernelPointer),
        // Reached from tp_btf (the tracing declaration) since the language has it:
        "skb_output": Refusal(fragment: "R1 type=ctx expected=ptr_",
                              why: "needs a BTF-typed struct sk_buff pointer (a tp_btf argument of an skb tracepoint); the generator's tp_btf is sched_switch and passes ctx",
                              fact: .kernelPointer),
        "xdp_output": Refusal(fragment: "R1 type=ctx expected=ptr_",
                              why: "needs a BTF-typed struct xdp_buff pointer (a tp_btf argument of an xdp tracepoint); the generator's tp_btf is sched_switch and passes ctx",
                              fact: .kernelPointer),
        "sock_from_file": Refusal(fragment: "R1 type=scalar expected=ptr_",
                                  why: "needs a BTF-typed struct file pointer (an fentry/lsm argument such as file_open's ctx.file); the generator passes an Integer",
                                  fact: .kernelPointer),
        "d_path": Refusal(fragment: "helper call is not allowed in probe",
                          why: "only fentry/fexit/lsm programs on functions of the kernel's d_path allowlist may call it; the generator's tracing declaration is tp_btf",
                          fact: .kernelPointer),
        "kptr_xchg": Refusal(fragment: "has no valid kptr",
                             why: "needs a __kptr field in a map value: the language cannot tag a field", fact: .kernelPointer),
    ]

    /// The declaration to call a helper from and what the kernel must answer:
    /// the pattern's declaration when its program type may call the helper, else
    /// the first declaration whose type may, else (no kind may) the pattern's.
    static func plan(_ proto: HelperPrototype, _ oracle: HelperAvailability) -> (Declaration, Expectation) {
        let short = proto.name.hasPrefix("bpf_") ? String(proto.name.dropFirst(4)) : proto.name
        let preferred = declaration(for: short)
        if oracle.unknown.contains(proto.id) { return (preferred, Expectation(kind: .unknownHelper)) }
        let chosen = oracle.mayCall(proto, from: preferred.programType) ? preferred
            : declarations.first { oracle.mayCall(proto, from: $0.programType) }
        guard let chosen else { return (preferred, Expectation(kind: .noKind(oracle.callers[proto.id] ?? []))) }
        if let r = expectedRefusals[short] { return (chosen, Expectation(kind: .reviewed(r))) }
        return (chosen, Expectation(kind: .accepted))
    }

    // MARK: program types

    /// A program declaration of the language; its program type from `programKinds`.
    struct Declaration {
        var name: String; var header: String; var returns: String
        var programType: ProgramType
        /// fentry/fexit/lsm: loads only where the kernel provides BPF trampolines.
        var usesTrampoline: Bool
        init(name: String, header: String, returns: String) {
            let kind = String(name.prefix { $0 != " " })
            self.name = name; self.header = header; self.returns = returns
            self.programType = ProgramKind.declared(kind)!.programType
            self.usesTrampoline = ProgramKind.declared(kind)!.usesTrampoline
        }
    }
    static let kprobe = Declaration(name: "kprobe do_sys_openat2", header: "kprobe \"do_sys_openat2\" do |ctx|", returns: "0")
    static let tracepoint = Declaration(name: "tracepoint sched/sched_switch", header: "tracepoint \"sched/sched_switch\" do |ctx|", returns: "0")
    static let rawTracepoint = Declaration(name: "raw_tracepoint sched_switch", header: "raw_tracepoint \"sched_switch\" do |ctx|", returns: "0")
    static let perfEvent = Declaration(name: "perf_event cpu_clock", header: "perf_event :cpu_clock, frequency: 99 do |ctx|", returns: "0")
    static let tc = Declaration(name: "tc ingress", header: "tc :ingress do |ctx|", returns: "0")
    static let socketFilter = Declaration(name: "socket_filter", header: "socket_filter do |ctx|", returns: "0")
    static let xdp = Declaration(name: "xdp", header: "xdp do |ctx|", returns: "2")
    static let cgroupDevice = Declaration(name: "cgroup_device", header: "cgroup_device do |ctx|", returns: "1")
    static let tpBtf = Declaration(name: "tp_btf sched_switch", header: "tp_btf \"sched_switch\" do |ctx|", returns: "0")
    static let lsm = Declaration(name: "lsm file_open", header: "lsm \"file_open\" do |ctx|", returns: "0")
    /// One declaration per program type of the language, in the order a helper
    /// whose pattern's type may not call it looks for another.
    static let declarations = [kprobe, tracepoint, rawTracepoint, perfEvent, tc, socketFilter, xdp, cgroupDevice, tpBtf, lsm]

    /// Name patterns (without `bpf_`) → the declaration a helper prefers to be
    /// called from (first match wins, the default is a kprobe): the kind whose
    /// context its arguments are written for, and a spread over the language's
    /// kinds (socket_filter, tracepoint, raw_tracepoint, perf_event, …). Only a
    /// preference: `plan` uses it when the kernel lets its program type call the
    /// helper, else the first of `declarations` that may. Helpers only the
    /// language's missing program types may call (sock_ops, sk_msg, sysctl, lirc,
    /// LSM, iterators, struct_ops…) stay on it; the kernel's refusal is then
    /// the expected answer.
    static let declarationPatterns: [(String, Declaration)] = [
        ("^get_stackid$", tracepoint),
        ("^get_stack$", rawTracepoint),
        ("^(perf_prog_read_value|read_branch_records)$", perfEvent),
        ("^ktime_get_coarse_ns$", socketFilter),                         // every program type but tracing ones
        ("^(get_local_storage|get_retval|set_retval)$", cgroupDevice),
        ("^(xdp_|redirect_map$)", xdp),
        ("^(skb_load_bytes|skb_load_bytes_relative|get_socket_uid|get_socket_cookie)$", socketFilter),
        ("^(skb_|l3_csum|l4_csum|csum_|clone_redirect|get_cgroup_classid|get_route_realm|get_hash_recalc|set_hash|redirect|"
            + "sk_|skc_|tcp_|get_listener_sock|fib_lookup|check_mtu|lwt_|get_netns_cookie|tail_call|msg_|sock_map_|sock_hash_|sock_ops_|"
            + "setsockopt|getsockopt|bind$|"
            + "sysctl_|rc_|load_hdr_opt|store_hdr_opt|reserve_hdr_opt)", tc),
    ]

    static func declaration(for short: String) -> Declaration {
        for (pattern, d) in declarationPatterns where short.range(of: pattern, options: .regularExpression) != nil { return d }
        return kprobe
    }

    // MARK: maps

    static let mapDeclarations: [String: String] = [
        "h": "map :h, :hash, key: :u32, value: :u64, max_entries: 16",
        "a": "map :a, :array, value: :u64, max_entries: 4",
        "pa": "map :pa, :percpu_array, value: :u64, max_entries: 1",
        "rb": "map :rb, :ringbuf, max_entries: 4096",
        "perf": "map :perf, :perf_event_array",
        "stacks": "map :stacks, :stack_trace, max_entries: 16",
    ]

    /// The map a helper's `map` argument gets: the type it needs where the
    /// language declares it, else the closest (the verifier then names the map type it wanted).
    static func map(for short: String) -> String {
        if short.hasPrefix("ringbuf_") || short == "user_ringbuf_drain" { return "rb" }
        if ["perf_event_output", "perf_event_read", "perf_event_read_value", "skb_output", "xdp_output"].contains(short) { return "perf" }
        if short == "get_stackid" { return "stacks" }
        if short == "map_lookup_percpu_elem" { return "pa" }
        if ["tail_call", "redirect_map", "current_task_under_cgroup", "skb_under_cgroup", "get_local_storage"].contains(short) { return "a" }
        return "h"
    }

    // MARK: arguments

    struct Generated { var short: String; var declarationName: String; var source: String }

    /// Context pointer types of program types (`struct __sk_buff *`, …).
    static let contextTypes = ["__sk_buff", "xdp_md", "pt_regs", "bpf_perf_event_data", "bpf_sock_ops", "sk_msg_md",
                               "bpf_sock_addr", "bpf_sysctl", "sk_reuseport_md"]
    /// Kernel objects passed as typed kernel pointers.
    static let kernelObjects = ["inode", "file", "path", "cgroup", "linux_binprm", "seq_file"]

    /// Scalar arguments by parameter name (helper-specific ones first).
    static func scalar(_ short: String, _ p: HelperPrototype.Parameter, lastString: String?) -> String {
        switch (short, p.name) {
        case (_, "fmt_size"), (_, "name_sz"), (_, "s1_sz"): return String((lastString ?? "").utf8.count + 1)
        case ("perf_event_read_value", "buf_size"), ("perf_prog_read_value", "buf_size"): return "24"   // sizeof(struct bpf_perf_event_value)
        case ("fib_lookup", "plen"): return "64"                       // sizeof(struct bpf_fib_lookup)
        case ("redirect_neigh", "plen"): return "20"                   // sizeof(struct bpf_redir_neigh)
        case ("get_ns_current_pid_tgid", "size"): return "8"           // sizeof(struct bpf_pidns_info)
        case ("bind", "addr_len"): return "16"
        case ("strtol", "buf_len"), ("strtoul", "buf_len"): return String((lastString ?? "").utf8.count)
        case (_, "tuple_size"): return "12"                            // struct bpf_sock_tuple, ipv4
        case (_, "iph_len"), (_, "th_len"): return "20"
        case (_, "size_of_buf"): return "16"
        case (_, "nr_loops"), (_, "ifindex"): return "1"
        case (_, let n) where ["size", "len", "sz", "buf_len", "data_len", "str_size", "optlen", "param_len",
                               "btf_ptr_size", "ptr_size", "buf_size", "from_size", "to_size", "attr_size", "plen", "addr_len"].contains(n):
            return "8"
        default: return "0"
        }
    }

    /// The probe file for one helper.
    static func generate(_ proto: HelperPrototype, from decl: Declaration) -> Generated {
        let short = proto.name.hasPrefix("bpf_") ? String(proto.name.dropFirst(4)) : proto.name
        var maps: [String] = []
        var prelude: [String] = [], epilogue: [String] = []
        var buffers = 0
        func buffer() -> String { buffers += 1; prelude.append("b\(buffers) = Buf.new"); return "b\(buffers)" }
        func useMap(_ m: String) -> String { if !maps.contains(m) { maps.append(m) }; return m }
        var needSock = false, needTask = false
        var lastString: String? = nil
        var args: [String] = []

        for p in proto.parameters {
            let t = p.cType
            if p.kind == .scalar { args.append(scalar(short, p, lastString: lastString)); continue }
            // Pointers.
            if ["map", "ringbuf", "prog_array_map"].contains(p.name) { args.append(useMap(map(for: short))); continue }
            if p.name == "callback_fn" { args.append("nil"); continue }
            if contextTypes.contains(where: { t.contains($0) }) || (p.name == "ctx" && short != "user_ringbuf_drain")
                || ["skb", "bpf_socket"].contains(p.name) {
                args.append("ctx"); continue
            }
            if t.contains("bpf_dynptr") {
                switch short {
                case "dynptr_from_mem": prelude.append("d = Buf.new")
                case "ringbuf_reserve_dynptr": prelude.append("d = Buf.new"); epilogue.append("ringbuf_discard_dynptr(d, 0)")
                case "ringbuf_submit_dynptr", "ringbuf_discard_dynptr":
                    prelude += ["d = Buf.new", "ringbuf_reserve_dynptr(\(useMap("rb")), 8, 0, d)"]
                default: prelude += ["d = Buf.new", "m = \(useMap("a")).lookup(0)", "dynptr_from_mem(m, 8, 0, d)"]
                }
                args.append("d"); continue
            }
            if short.hasPrefix("ringbuf_"), p.name == "data", short != "ringbuf_output" {
                // A record: reserved first.
                prelude.append("e = ringbuf_reserve(\(useMap("rb")), 16, 0)")
                args.append("e"); continue
            }
            // Memory the verifier wants in a map value (dynptr_from_mem's data,
            // bpf_timer, bpf_spin_lock, kptrs): a value of the array map.
            if (short == "dynptr_from_mem" && p.name == "data") || t.contains("bpf_timer") || t.contains("bpf_spin_lock") || p.name == "map_value" {
                if !prelude.contains("v = a.lookup(0)") { _ = useMap("a"); prelude.append("v = a.lookup(0)") }
                args.append("v"); continue
            }
            if t.contains("task_struct") { needTask = true; args.append("task"); continue }
            if t.contains("struct bpf_sock *") || ["sk", "sock", "tp"].contains(p.name) { needSock = true; args.append("s"); continue }
            if p.name == "unsafe_ptr" || p.name == "user_ptr" || (short == "probe_write_user" && p.name == "dst") {
                args.append(short.contains("kernel") || short == "probe_read" || short == "probe_read_str" ? "current_task" : "user_string(ctx.arg(1))")
                continue
            }
            if let k = kernelObjects.first(where: { t == "struct \($0) *" || (p.name == $0 && t == "void *") }) {
                args.append("cast(:\(k), 0)"); continue
            }
            if t.contains("char") && (t.hasPrefix("const") || p.name == "fmt" || p.name == "name") {
                let s: String
                switch p.name {
                case "fmt": s = proto.parameters.contains { $0.name == "data" } ? "n %d\\n" : "hi\\n"
                case "buf": s = "42"
                case "s1": s = "abc"
                case "name": s = "bpf_prog_put"
                default: s = "ab"
                }
                lastString = s.replacingOccurrences(of: "\\n", with: "\n")
                args.append("\"\(s)\""); continue
            }
            args.append(buffer())
        }

        if needTask { prelude.insert("task = get_current_task_btf", at: 0) }
        if needSock {
            let t = buffer()
            prelude.append("s = sk_lookup_tcp(ctx, \(t), 12, 0, 0)")
            if short != "sk_release" { epilogue.append("sk_release(s)") }
        }
        // Results that hold a reference the verifier wants released.
        switch short {
        case "sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp": epilogue.append("sk_release(r)")
        case "ringbuf_reserve": epilogue.append("ringbuf_submit(r, 0)")
        default: break
        }

        var lines = ["license \"GPL\"", "", "struct :Buf do", "  char :data, 64", "end"]
        lines += maps.map { mapDeclarations[$0]! }
        lines += ["", decl.header]
        lines += prelude.map { "  " + $0 }
        lines.append("  r = \(proto.name)(\(args.joined(separator: ", ")))")
        lines += epilogue.map { "  " + $0 }
        lines += ["  \(decl.returns)", "end", ""]
        return Generated(short: short, declarationName: decl.name, source: lines.joined(separator: "\n"))
    }

    // MARK: reasons

    /// The verifier's reason: the log's last line that is not its summary.
    static func reason(_ e: LoadError) -> String {
        guard let log = e.verifierLog else {
            return "\(e)".split(separator: "\n").first.map(String.init) ?? "\(e)"
        }
        let summary = ["processed ", "verification time", "stack depth", "-- END PROG LOAD LOG --"]
        // The kernel may end the reason without a newline before its summary.
        let lines = log.replacingOccurrences(of: "processed ", with: "\nprocessed ")
            .split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { l in !l.isEmpty && !summary.contains { l.hasPrefix($0) } }
        return lines.last ?? "(empty verifier log)"
    }

    /// A reason with helper names, registers and numbers masked, for grouping.
    static func normalized(_ s: String) -> String {
        s.replacingOccurrences(of: "bpf_[a-z0-9_]+#[0-9]+", with: "bpf_…", options: .regularExpression)
            .replacingOccurrences(of: "R[0-9]+", with: "R#", options: .regularExpression)
            .replacingOccurrences(of: "#[0-9]+", with: "#N", options: .regularExpression)
            .replacingOccurrences(of: "[0-9]+", with: "N", options: .regularExpression)
    }
}
