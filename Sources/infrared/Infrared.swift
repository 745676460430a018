import ArgumentParser

/// `infrared`: compile Ruby probe files to BPF and run them.
@main
struct Infrared: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "infrared",
        abstract: "Write Linux BPF programs in Ruby.",
        subcommands: [Build.self, Disasm.self, BTFCommand.self, Run.self, Gen.self]
    )
}
