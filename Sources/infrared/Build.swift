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
import InfraredLoader
import InfraredSupport

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "build", abstract: "Compile a probe file to a relocatable BPF ELF object.")
    @Argument(help: "The probe file (.rb).") var input: String
    @Option(name: .shortAndLong, help: "Output object (default: PROG.bpf.o beside the source).") var output: String?
    @Option(help: "Kernel BTF for context layouts (raw BTF or ELF with .BTF).") var btf: String = KernelBTF.defaultPath
    @Option(name: .customLong("dump-after"),
            help: ArgumentHelp("Print the IR to stderr after this pass (\(CompileOptions.dumpAfterNames.joined(separator: ", "))); repeatable.",
                               valueName: "pass"))
    var dumpAfter: [String] = []
    @Flag(name: .customLong("time-report"), help: "Print the wall time of each compiler stage to stderr.")
    var timeReport = false

    func run() throws {
        try Self.run(input: input, output: output, btf: btf, dumpAfter: dumpAfter, timeReport: timeReport)
    }

    static func run(input: String, output: String?, btf: String, dumpAfter: [String], timeReport: Bool) throws {
        try reportingErrors { try checkDumpAfter(dumpAfter) }
        var options = CompileOptions()
        options.btfPath = btf
        options.dumpAfter = Set(dumpAfter)
        options.timeReport = timeReport
        let out = output ?? defaultOutput(for: input)
        let compiled = try reportingErrors { try Compiler.compile(path: input, options: options) }
        for d in compiled.dumps { writeStandardError(d + "\n") }
        try reportingErrors { try AtomicFile.write(compiled.bytes, to: out) }
        if timeReport { writeStandardError(Self.timeReport(compiled.timings, wall: compiled.wallSeconds)) }
    }

    /// The usual `infrared build FILE [-o OUT] [--btf BTF] [--dump-after PASS]… [--time-report]`
    /// read directly, without swift-argument-parser: its reflection over the
    /// whole command tree costs more than compiling a small probe (about 1 ms of
    /// a 4 ms build, Benchmarks/run.sh). Nil for anything else (help, an unknown
    /// or repeated option, a missing value): the parser then handles it and
    /// reports errors as usual.
    static func quickParse(_ arguments: [String]) -> (() throws -> Void)? {
        guard arguments.first == "build" else { return nil }
        var input: String?, output: String?, btf: String?, dumpAfter: [String] = [], timeReport = false
        var i = 1
        while i < arguments.count {
            var a = arguments[i], value: String? = nil
            if a.hasPrefix("--"), let eq = a.firstIndex(of: "=") {
                value = String(a[a.index(after: eq)...]); a = String(a[..<eq])
            }
            func take() -> String? {
                if let value { return value }
                i += 1
                return i < arguments.count && !arguments[i].hasPrefix("-") ? arguments[i] : nil
            }
            switch a {
            case "-o", "--output":
                guard output == nil, !(a == "-o" && value != nil), let v = take() else { return nil }
                output = v
            case "--btf":
                guard btf == nil, let v = take() else { return nil }
                btf = v
            case "--dump-after":
                guard let v = take() else { return nil }
                dumpAfter.append(v)
            case "--time-report":
                guard value == nil, !timeReport else { return nil }
                timeReport = true
            default:
                guard input == nil, !a.hasPrefix("-"), value == nil else { return nil }
                input = a
            }
            i += 1
        }
        guard let input else { return nil }
        return { [output, btf, dumpAfter, timeReport] in
            try run(input: input, output: output, btf: btf ?? KernelBTF.defaultPath, dumpAfter: dumpAfter, timeReport: timeReport)
        }
    }

    /// Refuses a `--dump-after` name that is no pass (the compiler would print nothing for it).
    static func checkDumpAfter(_ names: [String]) throws {
        // Most builds name no pass (the list of them is 56 K instructions to make).
        guard !names.isEmpty else { return }
        let known = CompileOptions.dumpAfterNames
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw CLIError("unknown pass '\(unknown)' for --dump-after (passes: \(known.joined(separator: ", ")))")
        }
    }

    /// `--time-report`: one line a stage, slowest first, their total, and
    /// the wall time (less than the total when programs' back ends ran on
    /// several cores at once).
    static func timeReport(_ timings: [(stage: String, seconds: Double)], wall: Double) -> String {
        let total = timings.reduce(0) { $0 + $1.seconds }
        func ms(_ s: Double) -> String {
            let us = Int((s * 1e6).rounded())
            let text = "\(us / 1000).\(String(us % 1000 + 1000).dropFirst()) ms"
            return String(repeating: " ", count: max(0, 11 - text.count)) + text
        }
        var out = "time report (wall clock of each stage inside the compiler, summed over the programs' back ends, which run on all cores):\n"
        for t in timings.sorted(by: { $0.seconds > $1.seconds }) { out += "\(ms(t.seconds))  \(t.stage)\n" }
        return out + "\(ms(total))  total of the stages\n\(ms(wall))  wall clock\n"
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

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
