import BPF
import InfraredObject

/// The build-time prelude: Ruby methods that record the file's declarations
/// into `$__ir`. Program declarations come from the `programKinds` table, so
/// adding a program type there is the only change needed here.
enum Prelude {
    /// The file name the prelude's frames carry (`caller`).
    static let path = "(infrared prelude)"
    /// FNV-1a of `text`: which text the bytecode in CMRuby/prelude_irep.c was compiled from.
    static let sourceHash: UInt64 = fnv1a(text)
    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    static let text: String = {
        var s = """
        $__ir = { license: nil, programs: [], classes: {}, section: nil, defs: [], structs: [], maps: [], params: [], globals: [], options: [] }
        class InfraredStructBuilder
          def initialize; @fields = []; end
          def fields; @fields; end
          def field(n, type, count = nil); @fields << [n.to_s, type.to_s, count, __ir_line(3)]; nil; end

        """
        for t in ScalarType.names {
            s += "  def \(t)(n, count = nil); field(n, :\(t), count); end\n"
        }
        s += """
        end
        module Kernel
          def license(s); $__ir[:license] = s.to_s; nil; end
          def license!(s); license(s); end
          def section!(s); $__ir[:section] = s.to_s; nil; end
          def __ir_line(depth = 2)
            (caller(depth, 1)[0] || "").split(":")[1].to_i
          end
          def param(name, type, default: 0); $__ir[:params] << [name.to_s, type.to_s, default, __ir_line]; nil; end
          def global(name, type, init = nil); $__ir[:globals] << [name.to_s, type.to_s, init, __ir_line]; nil; end
          def map(name, type, key: nil, value: nil, max_entries: nil, flags: nil)
            # A char array type is spelled [:char, N].
            ty = ->(t) { t.is_a?(Array) ? t.map { |x| x.is_a?(Integer) ? x : x.to_s } : t && t.to_s }
            $__ir[:maps] << { name: name.to_s, type: type.to_s, key: ty.(key), value: ty.(value),
                              max_entries: max_entries, flags: flags, line: __ir_line }
            nil
          end
          def struct(name, &blk)
            raise ArgumentError, "struct :#{name} needs a block: struct :#{name} do u32 :pid end" unless blk
            b = InfraredStructBuilder.new
            b.instance_eval(&blk)
            $__ir[:structs] << [name.to_s, b.fields, __ir_line]
            Object.const_set(name.to_sym, :"__infrared_struct_#{name}")
            nil
          end
          # User-space hooks run in the loader, not here: the compiler only notes them.
          def on_event(map, &blk); ($__ir[:hooks] ||= []) << ["on_event", map.to_s]; nil; end
          def every(seconds, &blk); ($__ir[:hooks] ||= []) << ["every", seconds.to_s]; nil; end
          def at_exit(&blk); ($__ir[:hooks] ||= []) << ["at_exit", ""]; nil; end
          def metric_labels(map, &blk); ($__ir[:hooks] ||= []) << ["metric_labels", map.to_s]; nil; end
          def before_load(&blk); ($__ir[:hooks] ||= []) << ["before_load", ""]; nil; end
          # A loader flag for the hooks only (Frontend/Options.swift checks it).
          def option(name = nil, type = :string, **opts)
            $__ir[:options] << [name, type, opts.map { |k, v| [k.to_s, v] }, __ir_line]
            nil
          end
          def __ir_program(kind, args, opts, blk)
            raise ArgumentError, "#{kind} needs a block: #{kind} ... do |ctx| ... end" unless blk
            $__ir[:programs] << { kind: kind, args: args, name: opts[:name], block: blk, opts: opts.map { |k, v| [k.to_s, v] } }
            nil
          end

        """
        for kind in programKinds {
            s += "  def \(kind.declaration)(*args, **opts, &blk); __ir_program(\"\(kind.declaration)\", args, opts, blk); end\n"
        }
        s += """
        end
        class Module
          def attr(name, type = nil)
            ($__ir[:classes][self.to_s] ||= []) << [name, type]
            nil
          end
        end
        class Object
          def self.method_added(m)
            $__ir[:defs] << [m, $__ir[:section]]
            $__ir[:section] = nil
          end
        end

        """
        return s
    }()
}

/// A field of a program's context, as the body reads it (`ctx.minor`).
struct ContextField: Hashable {
    var name: String
    var offset: Int
    var size: Int
    var signed: Bool
    /// How the field's value is used.
    enum Use: Hashable {
        case integer
        /// `__data_loc char[]`: a u32 whose low 16 bits are an offset from the
        /// record's start (tracepoint strings such as `filename`).
        case dataLocString
        /// A `char *` (user memory for syscall arguments, else kernel).
        case stringPointer(user: Bool)
        /// A pointer to a kernel struct (read further with CO-RE).
        case kernelPointer(String)
        /// `char NAME[size]` in the record itself (`comm`, `prev_comm`): a
        /// string of at most `size` bytes at the field's offset.
        case inlineChars
    }
    var use: Use = .integer
}

/// What the compiler knows about a program's context pointer.
struct ContextLayout {
    /// The C struct name (BTF), e.g. `Context` or `xdp_md`.
    var structName: String
    var fields: [ContextField]
    var size: Int
    /// For BTF-typed programs (fentry, fexit, tp_btf, lsm): the function or
    /// tracepoint whose arguments the fields are, for diagnostics.
    var argumentsOf: String? = nil
}

/// A program declared by the file.
struct ProgramDeclaration {
    var kind: ProgramKind
    var name: String
    var section: String
    var body: Irep
    /// The Proc value (block form), for reading top-level locals it captures.
    var procHandle: ir_value?
    var line: Int
    /// The line of the declaration itself (`tracepoint "…" do |ctx|`), for
    /// diagnostics about what it declares; `line` is its body's, which
    /// mruby gives as the block's `end` for a body that starts with an
    /// argument list, and which line info keeps.
    var declarationLine: Int
    /// Seed form: layout from a `class … attr … end`.
    var seedContext: ContextLayout?
    /// The declaration's positional arguments (`:cpu_clock`, a path…) and
    /// keyword options (`frequency: 99`), for loaders.
    var arguments: [String] = []
    var options: [String: String] = [:]

    /// The `probe` value in the body, as bpftrace names probes:
    /// `tracepoint:sched:sched_switch`, `kprobe:do_unlinkat`, `xdp`.
    var probe: String {
        let target = arguments.joined(separator: ":")
        let spelled = kind.declaration.hasSuffix("tracepoint") ? String(target.map { $0 == "/" ? ":" : $0 }) : target
        return spelled.isEmpty ? kind.declaration : kind.declaration + ":" + spelled
    }
}

/// Everything the top level declared.
struct Declarations {
    var license: String
    var programs: [ProgramDeclaration]
    /// Structs, maps, params and globals.
    var language: Language
    /// Top-level `def`s not claimed by `section!`: functions bodies may call (inlined).
    var functions: Set<String> = []
    /// `option` declarations: loader flags for the hooks.
    var options: [Manifest.Option] = []
    /// The hook declarations the top level ran (`on_event`, `every`, `at_exit`).
    var hooks: [String] = []
}

import CMRuby

extension Declarations {
    /// The line of a block-form declaration such as `tracepoint "…" do |ctx|`.
    /// mruby gives the call and the block's first instruction the line of the
    /// block's `end`, so it is found in the text: the nearest line at or
    /// before the body's first statement that names the declaration and is
    /// not a comment. Nil when there is none (a declaration made by a helper
    /// method, say); callers then use the body's line.
    static func declarationLine(kind: String, body: Irep, sourceLines: [String]) -> Int? {
        guard let code = try? decode(body.code) else { return nil }
        let first = code.map { body.line(at: $0.pc) }.filter { $0 > 0 }.min()
        guard var line = first, line <= sourceLines.count else { return nil }
        while line >= 1 {
            let text = sourceLines[line - 1].drop(while: { $0 == " " || $0 == "\t" })
            if !text.hasPrefix("#"), wordColumn(of: kind, line: line, in: sourceLines) != nil { return line }
            line -= 1
        }
        return nil
    }

    /// The 1-based column where `word` starts on line `line` as a word of its
    /// own (not part of `raw_tracepoint`), or nil when it is not there.
    static func wordColumn(of word: String, line: Int, in lines: [String]) -> Int? {
        guard line >= 1, line <= lines.count else { return nil }
        let text = Array(lines[line - 1].utf8), w = Array(word.utf8)
        guard !w.isEmpty, text.count >= w.count else { return nil }
        func isWordByte(_ b: UInt8) -> Bool { b == UInt8(ascii: "_") || (b >= 48 && b <= 57) || (b | 0x20 >= 97 && b | 0x20 <= 122) }
        for i in 0...(text.count - w.count) where text[i..<i + w.count].elementsEqual(w) {
            if i > 0 && isWordByte(text[i - 1]) { continue }
            if i + w.count < text.count && isWordByte(text[i + w.count]) { continue }
            return i + 1
        }
        return nil
    }

    /// The 1-based column where `word` starts on line `line` (1 when it is not there).
    static func column(of word: String, line: Int, in lines: [String]) -> Int {
        wordColumn(of: word, line: line, in: lines) ?? 1
    }

    /// Reads `$__ir` after the file's top level has run.
    init(session: MRubySession, path: String, sourceLines: [String]) throws {
        let ir = session.global("$__ir")
        license = ir["license"]?.stringValue ?? "GPL"
        programs = []
        language = try Language(ir: ir, path: path, line: { _ in 1 })
        options = try Self.options(ir: ir, language: language, path: path, sourceLines: sourceLines)
        hooks = (ir["hooks"]?.arrayValue ?? []).compactMap { $0.arrayValue.first?.stringValue }
        var usedNames: [String: Int] = [:]
        func uniqueName(_ base: String) -> String {
            // Appended a character at a time: mapping them to strings and
            // joining those took the library's generic `joined()`, which
            // looked up a protocol witness at run time (0.19 M instructions,
            // 3 % of a one-program build).
            var name = ""
            for c in base { name.append(c.isLetter || c.isNumber || c == "_" ? c : "_") }
            if name.isEmpty || name.first!.isNumber { name = "prog_" + name }
            let n = usedNames[name, default: 0]
            usedNames[name] = n + 1
            return n == 0 ? name : "\(name)_\(n)"
        }

        // Block form.
        for p in ir["programs"]?.arrayValue ?? [] {
            guard let kindName = p["kind"]?.stringValue, let kind = ProgramKind.declared(kindName),
                  case .proc(let irep, let handle)? = p["block"] else { continue }
            let args = (p["args"]?.arrayValue ?? []).compactMap(\.stringValue)
            let line = irep.line(at: 0)
            let declarationLine = Self.declarationLine(kind: kindName, body: irep, sourceLines: sourceLines) ?? line
            var target: String? = nil
            if kind.takesTarget {
                guard !args.isEmpty else {
                    throw Diagnostic(file: path, line: declarationLine, column: Self.column(of: kindName, line: declarationLine, in: sourceLines),
                                     message: "`\(kindName)` needs an attach target",
                                     hint: "e.g. \(kindName) \"…\" do |ctx| … end")
                }
                // tracepoint "sched", "sched_process_exec" → sched/sched_process_exec; uprobe/usdt parts join with ':'.
                // (Joined by hand, as `uniqueName` does: the library's
                // `joined(separator:)` went through its unspecialised generic
                // form, a protocol-witness lookup at run time on every build.)
                let separator = kindName.hasSuffix("tracepoint") ? "/" : ":"
                target = args.dropFirst().reduce(into: args[0]) { $0 += separator + $1 }
            }
            let explicit = p["name"]?.stringValue
            let base = explicit ?? (target.map { String($0.split(whereSeparator: { "/:".contains($0) }).last ?? Substring(kindName)) } ?? kindName)
            var options: [String: String] = [:]
            for o in p["opts"]?.arrayValue ?? [] {
                let kv = o.arrayValue
                if kv.count == 2, let k = kv[0].stringValue { options[k] = kv[1].stringValue ?? kv[1].intValue.map(String.init) ?? kv[1].description }
            }
            if kindName == "tracepoint", let pattern = target, ContextLayouts.isWildcard(pattern) {
                // `tracepoint "sched/sched_*"`: one program per tracepoint tracefs has that matches.
                let matches = ContextLayouts.tracepoints(matching: pattern)
                guard !matches.isEmpty else {
                    throw Diagnostic(file: path, line: declarationLine, column: Self.column(of: kindName, line: declarationLine, in: sourceLines),
                                     message: "no tracepoint matches \"\(pattern)\"",
                                     hint: "list them with `infrared list 'tracepoint:\(String(pattern.map { $0 == "/" ? ":" : $0 }))'`; the pattern is CATEGORY/EVENT with * ? [...] as in shell globs, matched against tracefs")
                }
                for m in matches {
                    let event = String(m.split(separator: "/").last ?? Substring(m))
                    programs.append(ProgramDeclaration(kind: kind, name: uniqueName(explicit.map { "\($0)_\(event)" } ?? event), section: kind.sectionName(target: m),
                                                       body: irep, procHandle: handle, line: line, declarationLine: declarationLine, seedContext: nil,
                                                       arguments: [m], options: options))
                }
                continue
            }
            programs.append(ProgramDeclaration(kind: kind, name: uniqueName(base), section: kind.sectionName(target: target),
                                               body: irep, procHandle: handle, line: line, declarationLine: declarationLine, seedContext: nil,
                                               arguments: args, options: options))
        }

        // Seed form: `section!` then `def`, with `class X; attr :f, :type; end` describing the context.
        let classes = ir["classes"] ?? .hash([])
        for d in ir["defs"]?.arrayValue ?? [] {
            let pair = d.arrayValue
            guard pair.count == 2, let method = pair[0].stringValue else { continue }
            guard let section = pair[1].stringValue else { functions.insert(method); continue }
            guard let irep = session.methodIrep(method) else { continue }
            let line = irep.line(at: 0)
            guard let kind = ProgramKind.forSection(section) else {
                throw Diagnostic(file: path, line: line, column: 1, message: "unknown section \"\(section)\" for `def \(method)`",
                                 hint: "known sections: " + programKinds.map { $0.section + ($0.takesTarget ? "…" : "") }.joined(separator: ", "))
            }
            var layout: ContextLayout? = nil
            if case .hash(let pairs) = classes, let (k, v) = pairs.first {
                // The seed form has one context class; its attrs are the fields in order, naturally aligned.
                let cname = k.stringValue ?? "Context"
                var fields: [ContextField] = []
                var offset = 0, align = 1
                for attr in v.arrayValue {
                    let a = attr.arrayValue
                    guard a.count == 2, let fname = a[0].stringValue, let tname = a[1].stringValue else {
                        throw Diagnostic(file: path, line: line, column: 1, message: "`attr` in class \(cname) needs a name and a type",
                                         hint: "attr :minor, :u32")
                    }
                    guard let t = ScalarType(rawValue: tname) else {
                        throw Diagnostic(file: path, line: line, column: 1, message: "unknown type :\(tname) for attr :\(fname)",
                                         hint: "scalar types: " + ScalarType.names.map { ":" + $0 }.joined(separator: " "))
                    }
                    offset = (offset + t.size - 1) / t.size * t.size
                    fields.append(ContextField(name: fname, offset: offset, size: t.size, signed: t.signed))
                    offset += t.size; align = max(align, t.size)
                }
                layout = ContextLayout(structName: cname, fields: fields, size: (offset + align - 1) / align * align)
            }
            programs.append(ProgramDeclaration(kind: kind, name: uniqueName(method), section: section, body: irep,
                                               procHandle: nil, line: line, declarationLine: line, seedContext: layout))
        }
    }
}
