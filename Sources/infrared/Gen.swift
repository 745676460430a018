import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import InfraredBTF
import InfraredCompiler
import InfraredELF
import InfraredLoader
import InfraredPayload
import InfraredSkeleton
import InfraredSupport

/// `infrared gen …`: programs generated from a probe file.
struct Gen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gen",
        abstract: "Generate a single-binary loader or a skeleton from a probe file.",
        subcommands: [GenLoader.self, GenSkel.self]
    )
}

/// `infrared gen loader PROG.rb -o TOOL`
struct GenLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Build one self-contained, statically linked executable that loads and runs the probe.",
        discussion: """
            The tool is the prebuilt runner (`make runner` builds it; found beside this executable as \
            infrared-runner-static or infrared-runner, or from --runner or $INFRARED_RUNNER) with the \
            compiled object, its manifest and the file's hooks (as mruby bytecode) appended and sealed \
            with a CRC-32 the tool checks before it loads anything. No compiler runs at this moment.
            """)

    @Argument(help: "The probe file (.rb).") var input: String
    @Option(name: .shortAndLong, help: "The executable to write.") var output: String
    @Option(help: "The runner executable to build on (default: beside infrared, or $INFRARED_RUNNER).") var runner: String?
    @Option(help: "Kernel BTF for context layouts (raw BTF or ELF with .BTF).") var btf: String = KernelBTF.defaultPath
    @Option(name: .customLong("embed-btf"), help: ArgumentHelp(
        "Embed the minimal BTF this probe needs from a kernel's BTF (raw, .btf.xz, vmlinux or kernel image; a DIR: each in it), for kernels without /sys/kernel/btf/vmlinux. Repeatable.",
        valueName: "FILE|DIR"))
    var embedBTF: [String] = []
    @Flag(name: .customLong("allow-dynamic-runner"), help: "Accept a runner linked against shared libraries besides glibc's.")
    var allowDynamicRunner = false

    func run() throws {
        try reportingErrors {
            var (_, probe) = try ProbeBuilder.compile(path: input, btf: btf)
            probe.embeddedBTF = try EmbedBTF.archive(object: probe.object, objectName: input, inputs: embedBTF)
            let runnerPath = try RunnerLocator.find(explicit: runner)
            let runnerBytes = try RunnerLocator.read(runnerPath, allowDynamic: allowDynamicRunner)
            let payload = try ProbeBuilder.payload(probe).encoded()
            try AtomicFile.write(runnerBytes + payload, to: output)
            chmod(output, 0o755)
        }
    }
}

/// Finds and checks the runner `gen loader` builds on.
enum RunnerLocator {
    static func find(explicit: String?) throws -> String {
        if let explicit {
            guard FileManager.default.isExecutableFile(atPath: explicit) else { throw CLIError("--runner \(explicit): no such executable") }
            return explicit
        }
        if let env = ProcessInfo.processInfo.environment["INFRARED_RUNNER"], !env.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: env) else { throw CLIError("INFRARED_RUNNER=\(env): no such executable") }
            return env
        }
        let me = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        let dir = me.deletingLastPathComponent()
        for name in ["infrared-runner-static", "infrared-runner", "../libexec/infrared/infrared-runner"] {
            let path = dir.appendingPathComponent(name).standardizedFileURL.path
            if FileManager.default.isExecutableFile(atPath: path), (try? ELFLinkage.check(path)) != nil { return path }
        }
        throw CLIError("no static infrared runner beside \(me.path) (looked for infrared-runner-static, infrared-runner); build it with `make runner`, or pass --runner PATH")
    }

    static func read(_ path: String, allowDynamic: Bool) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read runner \(path)") }
        let bytes = [UInt8](data)
        if bytes.count >= LoaderPayload.trailerSize, Array(bytes.suffix(16)) == LoaderPayload.magic {
            throw CLIError("runner \(path) already carries a probe; use the bare runner")
        }
        if !allowDynamic {
            let needed = try ELFLinkage.needed(bytes, path: path)
            let foreign = needed.filter { !ELFLinkage.glibc.contains($0) }
            if !foreign.isEmpty {
                throw CLIError("runner \(path) needs shared libraries \(foreign.joined(separator: ", ")); build the static runner with `make runner` (or pass --allow-dynamic-runner)")
            }
        }
        return bytes
    }
}

/// What shared libraries an ELF executable needs (its DT_NEEDED entries).
enum ELFLinkage {
    /// glibc's own libraries: a loader may need these and nothing else.
    static let glibc: Set<String> = ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
                                     "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libresolv.so.2"]

    static func check(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        let needed = try needed([UInt8](data), path: path)
        guard needed.allSatisfy(glibc.contains) else { throw CLIError("\(path) is dynamically linked") }
        return needed
    }

    /// DT_NEEDED names, from the SHT_DYNAMIC section and the string table it
    /// links to (read with `ELFHandle`); none when libelf cannot read the
    /// section headers.
    static func needed(_ b: [UInt8], path: String) throws -> [String] {
        guard b.count > 64, b.starts(with: ELFFile.magic), b[4] == 2 else {
            throw CLIError("\(path) is not a 64-bit ELF executable")
        }
        guard let elf = ELFHandle(bytes: b), elf.isELF else { return [] }
        return elf.neededLibraries()
    }
}
