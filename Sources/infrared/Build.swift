import ArgumentParser

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Compile a probe file to a relocatable BPF ELF object.")
    @Argument(help: "The probe file (.rb).") var input: String
    func run() throws { throw ValidationError("build: not implemented yet") }
}
