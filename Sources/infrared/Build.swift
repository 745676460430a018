import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import InfraredCompiler

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Compile a probe file to a relocatable BPF ELF object.")
    @Argument(help: "The probe file (.rb).") var input: String
    @Option(name: .shortAndLong, help: "Output object (default: PROG.bpf.o beside the source).") var output: String?
    @Option(help: "Kernel BTF for context layouts (raw BTF or ELF with .BTF).") var btf: String = "/sys/kernel/btf/vmlinux"
    @Option(name: .customLong("dump-after"), help: "Print the IR after this pass (lower, simplify-cfg, const-prop, copy-prop, fuse-compare, dce); repeatable.")
    var dumpAfter: [String] = []

    func run() throws {
        var options = CompileOptions()
        options.btfPath = btf
        options.dumpAfter = Set(dumpAfter)
        let out = output ?? Self.defaultOutput(for: input)
        let compiled = try reportingErrors { try Compiler.compile(path: input, options: options) }
        for d in compiled.dumps { writeStandardError(d + "\n") }
        try reportingErrors { try writeAtomically(compiled.bytes, to: out) }
    }

    static func defaultOutput(for input: String) -> String {
        (input.hasSuffix(".rb") ? String(input.dropLast(3)) : input) + ".bpf.o"
    }
}

/// Runs `body`; user errors are printed as the CLI contract says
/// (`FILE:LINE:COL: error: …` or `infrared: error: …`) and exit with 1.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let d as Diagnostic {
        writeStandardError(d.description + "\n")
        throw ExitCode(1)
    } catch let e as ExitCode {
        throw e
    } catch {
        writeStandardError("infrared: error: \(error)\n")
        throw ExitCode(1)
    }
}

/// Writes to a temporary file beside `path`, then renames: never a half-written output.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    do {
        try Data(bytes).write(to: tmp)
        if rename(tmp.path, url.path) != 0 {
            let e = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw CLIError("cannot write \(path): \(e)")
        }
    } catch let e as CLIError {
        throw e
    } catch {
        try? FileManager.default.removeItem(at: tmp)
        throw CLIError("cannot write \(path): \(error)")
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
