import ArgumentParser

struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Disassemble an object's programs with the Ruby source lines.")
    @Argument(help: "A BPF object (.bpf.o) or a probe file (.rb).") var input: String
    func run() throws { throw ValidationError("disasm: not implemented yet") }
}
