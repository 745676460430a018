import ArgumentParser
import InfraredBTF
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredLoader

/// `infrared run PROG.rb [LOADER OPTIONS]`: compile, load, attach and behave
/// as the file's loader would, without writing files.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Compile a probe file, then load, attach and run it as its loader would.",
        discussion: """
            Loader options follow the file: each param as --NAME VALUE (dasherized), --duration SECONDS, \
            --format text|json, --btf FILE, --metrics HOST:PORT, --cgroup PATH, --ifname IFACE. \
            `infrared run PROG.rb --help` lists the file's params.
            """)

    @Argument(help: "The probe file (.rb).") var input: String
    @Argument(parsing: .captureForPassthrough, help: "Loader options (see `infrared run PROG.rb --help`).")
    var loaderArguments: [String] = []

    func run() throws {
        let signals = Loader.blockTerminationSignals()
        // --btf also serves the compiler (context layouts), so it is read before the rest.
        var btf = KernelBTF.defaultPath
        for (i, a) in loaderArguments.enumerated() {
            if a == "--btf", i + 1 < loaderArguments.count { btf = loaderArguments[i + 1] }
            if a.hasPrefix("--btf=") { btf = String(a.dropFirst(6)) }
        }
        let probe = try reportingErrors { try ProbeBuilder.compile(path: input, btf: btf).probe }
        let status = Loader.run(probe: probe, arguments: loaderArguments, toolName: "infrared", usageName: "infrared run \(input)", signals: signals)
        if status != 0 { throw ExitCode(status) }
    }
}
