#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import InfraredCompiler
import InfraredLoader
import InfraredPayload

/// Where a probe's text comes from: a file, the command line (`run -e`) or
/// standard input (`run -`).
enum ProbeInput: Equatable {
    case file(String)
    case inline(String)
    case standardInput

    /// How diagnostics and line info name the text: the path, `-e` or `<stdin>`.
    var displayName: String {
        switch self {
        case .file(let path): return path
        case .inline: return "-e"
        case .standardInput: return "<stdin>"
        }
    }

    /// How `--help` spells the command after `infrared run`.
    var usageName: String {
        switch self {
        case .file(let path): return path
        case .inline: return "-e CODE"
        case .standardInput: return "-"
        }
    }

    /// The tool's name (object name, metrics prefix): the file's base name,
    /// `infrared` for a probe given inline or on standard input.
    var toolName: String {
        if case .file(let path) = self { return ProbeBuilder.baseName(path) }
        return "infrared"
    }

    /// The probe's text. A probe given inline or on standard input is a
    /// whole probe file; `license "GPL"` is already the default of every file.
    func text() throws -> String {
        switch self {
        case .file(let path): return try Compiler.source(path: path)
        case .inline(let code): return code
        case .standardInput:
            let bytes = try readToEnd(STDIN_FILENO, name: "standard input")
            guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("standard input is not UTF-8 text") }
            return text
        }
    }
}

/// All the bytes a file descriptor gives until end of file; `name` names it in errors.
func readToEnd(_ fd: Int32, name: String) throws -> [UInt8] {
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw CLIError("cannot read \(name): \(String(cString: strerror(errno)))") }
        guard n > 0 else { break }
        out += chunk[0..<n]
    }
    return out
}

/// Compiles a probe file into what a loader runs (`infrared run`, `gen loader`).
enum ProbeBuilder {
    static func compile(path: String, btf: String) throws -> (compiled: CompiledObject, probe: LoaderProbe) {
        try compile(.file(path), btf: btf)
    }

    /// Compiles the probe `input` gives; nothing is written to disk.
    static func compile(_ input: ProbeInput, btf: String) throws -> (compiled: CompiledObject, probe: LoaderProbe) {
        let source = try input.text()
        let path = input.displayName
        var options = CompileOptions()
        options.btfPath = btf
        let compiled = try Compiler.compile(source: source, path: path, options: options)
        // The compiler ran the top level: the hooks it declared are in the manifest.
        let hooks = !compiled.manifest.declaredHooks.isEmpty
        let manifestJSON = try JSONEncoder().encode(compiled.manifest)
        let manifest = try JSONDecoder().decode(LoaderManifest.self, from: manifestJSON)
        if let clash = LoaderCLI.checkParamNames(manifest) { throw CLIError("\(path): \(clash)") }
        let filename = if case .file = input { URL(fileURLWithPath: path).lastPathComponent } else { path }
        let bytecode = hooks ? try LoaderProbe.hookBytecode(source: source, filename: filename) : []
        return (compiled, LoaderProbe(name: input.toolName, object: compiled.bytes, manifest: manifest, bytecode: bytecode, source: source))
    }

    static func payload(_ probe: LoaderProbe) throws -> LoaderPayload {
        LoaderPayload(name: probe.name, object: probe.object, manifestJSON: Array(try JSONEncoder().encode(probe.manifest)),
                      bytecode: probe.bytecode, source: probe.source, embeddedBTF: probe.embeddedBTF)
    }

    /// `execsnoop.rb` → `execsnoop`.
    static func baseName(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".rb", ".bpf.o", ".o"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)); break }
        return name
    }
}
