import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import InfraredBTF
import InfraredCompiler
import InfraredObject

/// `infrared disasm OBJ|PROG.rb`: the object's programs in `llvm-objdump -d -r`
/// text, with the Ruby source line (from `.BTF.ext` line_info) above the
/// instructions it produced. A `.rb` input is compiled first, in memory.
struct Disasm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disasm",
        abstract: "Disassemble an object's programs with the Ruby source lines.",
        discussion: """
            The text is llvm-objdump's (`llvm-objdump -d -r`, LLVM 14); lines starting with \
            `; FILE:LINE: TEXT` show the source line of the instructions below them.
            """)

    @Argument(help: "A BPF object (.bpf.o) or a probe file (.rb).") var input: String
    @Option(help: "Kernel BTF for compiling a .rb input (raw BTF or ELF with .BTF).")
    var btf: String = KernelBTF.defaultPath
    @Flag(help: "Show 32-bit loads, stores and atomics with w registers (like llvm-objdump --mattr=+alu32).")
    var alu32 = false
    @Flag(name: .customLong("no-show-raw-insn"), help: "Leave out the instruction bytes.")
    var noShowRawInsn = false
    @Flag(name: .customLong("no-source"), help: "Leave out the source lines.")
    var noSource = false
    @Flag(name: .customLong("no-relocs"), help: "Leave out the relocation lines.")
    var noRelocs = false

    func run() throws {
        let object: ObjectReader = try reportingErrors {
            if input.hasSuffix(".rb") {
                var options = CompileOptions()
                options.btfPath = btf
                let compiled = try Compiler.compile(path: input, options: options)
                return try ObjectReader(bytes: compiled.bytes, name: input)
            }
            return try ObjectReader(path: input)
        }
        let options = Disassembler.Options(alu32: alu32, showRawBytes: !noShowRawInsn, showRelocations: !noRelocs,
                                           showSourceLines: !noSource)
        writeStandardOutput(Disassembler.listing(object, options: options))
    }
}
