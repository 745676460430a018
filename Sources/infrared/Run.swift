import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import InfraredBTF
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredLoader
import InfraredRuntime

/// `infrared run PROG.rb [LOADER OPTIONS]`, `infrared run -e 'CODE' […]` and
/// `infrared run - […]` (the probe on standard input): compile, load, attach
/// and behave as the file's loader would, without writing files.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compile a probe file, then load, attach and run it as its loader would.",
        usage: """
            infrared run PROG.rb [LOADER OPTIONS]
              infrared run -e 'CODE' [LOADER OPTIONS]
              infrared run - [LOADER OPTIONS] < PROG.rb
            """,
        discussion: """
            -e gives the whole probe file's text on the command line, `-` reads it from standard input; \
            compile errors then read `-e:LINE:COL` or `<stdin>:LINE:COL`. Loader options follow: each param \
            as --NAME VALUE (dasherized), --duration SECONDS, --format text|json, --btf FILE, \
            --metrics HOST:PORT, --cgroup PATH, --ifname IFACE. `infrared run PROG.rb --help` lists the \
            file's params.
            """)

    @Option(name: .customShort("e"), help: ArgumentHelp("The probe file's text itself.", valueName: "CODE"))
    var code: String?
    @Argument(parsing: .captureForPassthrough,
              help: ArgumentHelp("The probe file (.rb), or - for standard input (not with -e); then the loader options.",
                                 valueName: "PROG.rb|-"))
    var arguments: [String] = []

    /// The probe and the loader's arguments, from `-e` or the first argument.
    func split() throws -> (ProbeInput, [String]) {
        if let code { return (.inline(code), arguments) }
        guard let first = arguments.first, !first.hasPrefix("-") || first == "-" else {
            throw CLIError("give a probe file, - (standard input) or -e 'CODE' (see `infrared run --help`)")
        }
        return (first == "-" ? .standardInput : .file(first), Array(arguments.dropFirst()))
    }

    func run() throws {
        // The passthrough arguments take everything, `--help` too: before a
        // probe it is this command's help, after one the probe's (its params).
        if code == nil, let first = arguments.first, first == "--help" || first == "-h" {
            writeStandardOutput(Run.helpMessage() + "\n")
            return
        }
        let signals = Loader.blockTerminationSignals()
        var (input, loaderArguments) = try reportingErrors { try split() }
        // --embed-btf is the build's, not the loader's: taken out before the loader parses the rest.
        var embedBTF: [String] = []
        var rest: [String] = []
        var i = 0
        while i < loaderArguments.count {
            let a = loaderArguments[i]
            if a == "--embed-btf" {
                guard i + 1 < loaderArguments.count else { return try reportingErrors { throw CLIError("--embed-btf needs a FILE or DIR") } }
                embedBTF.append(loaderArguments[i + 1]); i += 2; continue
            }
            if a.hasPrefix("--embed-btf=") { embedBTF.append(String(a.dropFirst(12))); i += 1; continue }
            rest.append(a); i += 1
        }
        loaderArguments = rest
        // --btf also serves the compiler (context layouts), so it is read before the rest.
        var btf = KernelBTF.defaultPath
        for (i, a) in loaderArguments.enumerated() {
            if a == "--btf", i + 1 < loaderArguments.count { btf = loaderArguments[i + 1] }
            if a.hasPrefix("--btf=") { btf = String(a.dropFirst(6)) }
        }
        let probe = try reportingErrors {
            // On a kernel without BTF, the compiler reads context layouts from
            // the --embed-btf input of the running release (as the loader will relocate against it).
            var compileBTF = btf, scratch: String?
            if btf == KernelBTF.defaultPath, !BTFChoice.kernelHasBTF(), !embedBTF.isEmpty {
                let release = BTFChoice.runningRelease()
                let inputs = try embedBTF.flatMap(EmbedBTF.files).map { (path: $0, btf: try EmbedBTF.kernelBTF($0)) }
                _ = try BTFChoice.choose(btfOption: nil, kernelHasBTF: false, release: release, embedded: inputs.map(\.btf.release))
                if let mine = inputs.first(where: { $0.btf.release == release }) {
                    scratch = try writeScratch(mine.btf.btf.encoded(), name: "infrared-btf-\(release)")
                    compileBTF = scratch!
                }
            }
            defer { if let scratch { unlink(scratch) } }
            var probe = try ProbeBuilder.compile(input, btf: compileBTF).probe
            probe.embeddedBTF = try EmbedBTF.archive(object: probe.object, objectName: input.displayName, inputs: embedBTF)
            return probe
        }
        let status = Loader.run(probe: probe, arguments: loaderArguments, toolName: "infrared",
                                usageName: "infrared run \(input.usageName)", signals: signals)
        if status != 0 { throw ExitCode(status) }
    }
}

/// `bytes` in a new file under $TMPDIR (or /tmp), for a reader that takes a path.
func writeScratch(_ bytes: [UInt8], name: String) throws -> String {
    let dir = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array("\(dir)/\(name).XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw CLIError("cannot make a scratch file in \(dir): \(String(cString: strerror(errno)))") }
    let path = String(cString: template)
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { unlink(path); throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
        done += n
    }
    return path
}
