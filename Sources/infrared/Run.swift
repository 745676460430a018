import ArgumentParser
import InfraredBTF
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredLoader

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
        let (input, loaderArguments) = try reportingErrors { try split() }
        // --btf also serves the compiler (context layouts), so it is read before the rest.
        var btf = KernelBTF.defaultPath
        for (i, a) in loaderArguments.enumerated() {
            if a == "--btf", i + 1 < loaderArguments.count { btf = loaderArguments[i + 1] }
            if a.hasPrefix("--btf=") { btf = String(a.dropFirst(6)) }
        }
        let probe = try reportingErrors { try ProbeBuilder.compile(input, btf: btf).probe }
        let status = Loader.run(probe: probe, arguments: loaderArguments, toolName: "infrared",
                                usageName: "infrared run \(input.usageName)", signals: signals)
        if status != 0 { throw ExitCode(status) }
    }
}
