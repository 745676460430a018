#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredCompiler
import InfraredLoader
import InfraredPayload

/// Compiles a probe file into what a loader runs (`infrared run`, `gen loader`).
enum ProbeBuilder {
    /// The compiler's build-time prelude has no `on_event`/`every`/`at_exit`
    /// yet: a file with hooks gets inert definitions put in front of its
    /// first line (same line, so every line number stays right). Remove when
    /// the compiler's prelude defines them.
    static func compile(path: String, btf: String) throws -> (compiled: CompiledObject, probe: LoaderProbe) {
        guard let data = FileManager.default.contents(atPath: path), let source = String(data: data, encoding: .utf8) else {
            throw CLIError("cannot read \(path)")
        }
        var options = CompileOptions()
        options.btfPath = btf
        let compiled = try Compiler.compile(source: source, path: path, options: options)
        // The compiler ran the top level: the hooks it declared are in the manifest.
        let hooks = !compiled.manifest.declaredHooks.isEmpty
        let name = baseName(path)
        let manifestJSON = try JSONEncoder().encode(compiled.manifest)
        let manifest = try JSONDecoder().decode(LoaderManifest.self, from: manifestJSON)
        if let clash = LoaderCLI.checkParamNames(manifest) { throw CLIError("\(path): \(clash)") }
        let bytecode = hooks ? try LoaderProbe.hookBytecode(source: source, filename: URL(fileURLWithPath: path).lastPathComponent) : []
        return (compiled, LoaderProbe(name: name, object: compiled.bytes, manifest: manifest, bytecode: bytecode, source: source))
    }

    static func payload(_ probe: LoaderProbe) throws -> LoaderPayload {
        LoaderPayload(name: probe.name, object: probe.object, manifestJSON: Array(try JSONEncoder().encode(probe.manifest)),
                      bytecode: probe.bytecode, source: probe.source)
    }

    /// `execsnoop.rb` → `execsnoop`.
    static func baseName(_ path: String) -> String {
        var name = URL(fileURLWithPath: path).lastPathComponent
        for suffix in [".rb", ".bpf.o", ".o"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)); break }
        return name
    }
}
