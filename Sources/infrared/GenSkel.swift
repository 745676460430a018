import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredBTF
import InfraredCompiler
import InfraredLoader
import InfraredSkeleton
import InfraredSupport

/// `infrared gen skel PROG.rb|OBJ [--lang c|swift] [--name NAME] [-o FILE]`
struct GenSkel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "skel",
        abstract: "Generate a skeleton that embeds the object: C (bpftool gen skeleton's API) or Swift.")
    enum Language: String, ExpressibleByArgument, CaseIterable { case c, swift }

    @Argument(help: "A probe file (.rb) or a BPF object.") var input: String
    @Option(help: "c (default) or swift.") var lang: Language = .c
    @Option(help: "The skeleton's name (default: the file's base name).") var name: String?
    @Option(name: .shortAndLong, help: "Where to write it (default: standard output).") var output: String?
    @Option(help: "Kernel BTF for compiling a .rb input.") var btf: String = KernelBTF.defaultPath
    @Option(name: .customLong("embed-btf"), help: ArgumentHelp(
        "Embed the minimal BTF the object needs from a kernel's BTF (as gen loader --embed-btf); the skeleton's open then uses the one of uname -r on kernels without BTF. Repeatable.",
        valueName: "FILE|DIR"))
    var embedBTF: [String] = []

    func run() throws {
        try reportingErrors {
            let object: [UInt8]
            var manifest: LoaderManifest? = nil
            if input.hasSuffix(".rb") {
                let probe = try ProbeBuilder.compile(path: input, btf: btf).probe
                object = probe.object
                manifest = probe.manifest
            } else {
                guard let data = FileManager.default.contents(atPath: input) else { throw CLIError("cannot read \(input)") }
                object = [UInt8](data)
            }
            let skelName = name ?? ProbeBuilder.baseName(input)
            let model = try SkeletonModel(object: object, name: skelName, manifest: manifest, source: input)
            let source = URL(fileURLWithPath: input).lastPathComponent
            let btfs = try EmbedBTF.embedded(object: object, objectName: input, inputs: embedBTF).entries.map { (release: $0.release, btf: $0.btf) }
            let text = lang == .c ? CSkeleton.generate(model, source: source, embeddedBTF: btfs) : SwiftSkeleton.generate(model, source: source, embeddedBTF: btfs)
            if let output { try AtomicFile.write(Array(text.utf8), to: output) } else { writeStandardOutput(text) }
        }
    }
}
