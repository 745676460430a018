#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredObject

/// `option :flamegraph, :string, help: "write an SVG flame graph to FILE", arg: "FILE"`:
/// a flag of the loader that only the file's hooks read (by name: `flamegraph`
/// is the String given, or nil). The BPF object does not change; the
/// declaration goes to the manifest, from which the loader makes the flag and
/// its `--help` line.
///
/// Types: `:string` (`--name VALUE`), `:int` (`--name N`, a 64-bit signed
/// integer), `:bool` (a switch: `--name`, or `--name=false`). Keywords:
/// `help:`, `arg:` (the placeholder `--help` shows), `default:` (of the
/// option's type; otherwise `nil`, or `false` for a switch).
extension Declarations {
    static let optionKeywords = ["help", "arg", "default"]

    static func options(ir: RubyValue, language: Language, path: String, sourceLines: [String]) throws -> [Manifest.Option] {
        var out: [Manifest.Option] = []
        for o in ir["options"]?.arrayValue ?? [] {
            let a = o.arrayValue
            guard a.count == 4 else { continue }
            let line = Int(a[3].intValue ?? 1)
            // mruby has no columns: the column is where `option` appears on its line.
            var column = 1
            if line >= 1, line <= sourceLines.count, let r = sourceLines[line - 1].firstRange(of: "option") {
                column = sourceLines[line - 1].distance(from: sourceLines[line - 1].startIndex, to: r.lowerBound) + 1
            }
            func fail(_ message: String, hint: String? = nil) -> Diagnostic {
                Diagnostic(file: path, line: line, column: column, message: message, hint: hint)
            }
            let example = "option :flamegraph, :string, help: \"write an SVG flame graph to FILE\", arg: \"FILE\""
            guard case .symbol(let name) = a[0], let first = name.first, first == "_" || ("a"..."z").contains(first),
                  name.allSatisfy({ $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }) else {
                throw fail("`option` needs a name, a Symbol like :flamegraph (lowercase letters, digits, _), not \(a[0])", hint: example)
            }
            guard let typeName = a[1].stringValue, case .symbol = a[1], let type = Manifest.OptionType(rawValue: typeName) else {
                throw fail("unknown type \(a[1]) for option :\(name)", hint: "option types: " + Manifest.OptionType.allCases.map { ":" + $0.rawValue }.joined(separator: " "))
            }
            var help: String? = nil, argument: String? = nil, defaultValue: String? = nil
            for kv in a[2].arrayValue {
                let pair = kv.arrayValue
                guard pair.count == 2, let key = pair[0].stringValue else { continue }
                let value = pair[1]
                switch key {
                case "help":
                    guard case .string(let s) = value else { throw fail("help: of option :\(name) must be a String, not \(value)") }
                    help = s
                case "arg":
                    guard case .string(let s) = value, !s.isEmpty, !s.contains(where: \.isWhitespace) else {
                        throw fail("arg: of option :\(name) must be a one-word String like \"FILE\", not \(value)")
                    }
                    guard type != .bool else { throw fail("option :\(name) is a :bool switch and takes no arg:") }
                    argument = s
                case "default":
                    switch (type, value) {
                    case (_, .nil): defaultValue = nil
                    case (.string, .string(let s)): defaultValue = s
                    case (.int, .int(let i)): defaultValue = String(i)
                    case (.bool, .true): defaultValue = "true"
                    case (.bool, .false): defaultValue = "false"
                    default:
                        let wants: [Manifest.OptionType: String] = [.string: "a String", .int: "an Integer", .bool: "true or false"]
                        let want = wants[type]!
                        throw fail("the default of option :\(name) must be \(want), not \(value)")
                    }
                default:
                    throw fail("unknown keyword `\(key):` for option :\(name)", hint: "option keywords: " + optionKeywords.map { $0 + ":" }.joined(separator: " "))
                }
            }
            let flag = name.replacing("_", with: "-")
            if Manifest.loaderFlags.contains(flag) {
                throw fail("option :\(name) would be the flag --\(flag), which the loader uses itself", hint: "rename the option")
            }
            if out.contains(where: { $0.name == name }) { throw fail("option :\(name) is declared twice") }
            if language.params[name] != nil || language.maps[name] != nil || language.globals[name] != nil {
                throw fail("option :\(name) has the name of a param, map or global", hint: "hooks read each by name: give the option a distinct name")
            }
            if language.paramOrder.contains(where: { $0.replacing("_", with: "-") == flag }) {
                throw fail("option :\(name) and a param would both be the flag --\(flag)", hint: "rename the option")
            }
            out.append(Manifest.Option(name: name, type: type, help: help, argument: argument, defaultValue: defaultValue, line: line))
        }
        return out
    }
}
