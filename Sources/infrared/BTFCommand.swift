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
import InfraredDWARF
import InfraredKernelImage
import InfraredObject
import InfraredSupport

/// `infrared btf …`: read, write and transform BTF (see shared/spec/cli.md).
struct BTFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "btf",
        abstract: "Dump, extract, generate and minimise BTF.",
        subcommands: [Dump.self, Extract.self, FromDwarf.self, Min.self]
    )

    /// `infrared btf dump [FILE] [--format raw|c]`
    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dump",
            abstract: "Print BTF as bpftool does (`bpftool btf dump file FILE format raw|c`).")
        enum Format: String, ExpressibleByArgument, CaseIterable { case raw, c }
        @Argument(help: "Raw BTF, or an ELF file with a .BTF section.") var file: String = KernelBTF.defaultPath
        @Option(help: "raw (one line per type) or c (a vmlinux.h).") var format: Format = .raw

        func run() throws {
            let bytes: [UInt8] = try reportingErrors {
                let spec = try BTFSpec(path: file)
                return format == .raw ? BTFDump.raw(spec) : try BTFDump.c(spec)
            }
            writeAll(STDOUT_FILENO, bytes)
        }
    }

    /// `infrared btf extract VMLINUZ -o OUT.btf`
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "extract",
            abstract: "Extract the raw .BTF of a kernel image (gzip, zstd, lz4 or xz payload) or of a vmlinux ELF.")
        @Argument(help: "A compressed kernel image (vmlinuz) or a vmlinux ELF.") var image: String
        @Option(name: .shortAndLong, help: "Where to write the raw BTF.") var output: String
        @Option(name: .customLong("vmlinux"), help: "Also write the decompressed vmlinux ELF here.") var vmlinuxOutput: String?

        func run() throws {
            try reportingErrors {
                let kernel = try KernelImage(path: image)
                let btf = try kernel.btf()
                if let vmlinuxOutput { try AtomicFile.write(kernel.vmlinux, to: vmlinuxOutput) }
                try AtomicFile.write(btf, to: output)
            }
        }
    }

    /// `infrared btf from-dwarf ELF -o OUT.btf`
    struct FromDwarf: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "from-dwarf",
            abstract: "Generate BTF from an ELF file's DWARF (what `pahole -J` does), through libdw.")
        @Argument(help: "An ELF file with DWARF (built with -g), or a separate .debug file.") var elf: String
        @Option(name: .shortAndLong, help: "Where to write the raw BTF.") var output: String
        @Flag(name: .customLong("no-dedup"), help: "Keep each compilation unit's copy of its types (skip btf__dedup).")
        var noDedup = false

        func run() throws {
            try reportingErrors {
                var options = DWARFConverter.Options()
                options.deduplicate = !noDedup
                let spec = try DWARFConverter.convert(path: elf, options: options)
                try AtomicFile.write(spec.encoded(), to: output)
            }
        }
    }

    /// `infrared btf min OBJ --btf KERNEL.btf -o OUT.btf`
    struct Min: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "min",
            abstract: "The minimal BTF an object's CO-RE relocations need from a kernel (`bpftool gen min_core_btf`).")
        @Argument(help: "BPF objects with .BTF.ext CO-RE relocations.") var objects: [String]
        @Option(help: "The kernel's BTF (raw or ELF).") var btf: String = KernelBTF.defaultPath
        @Option(name: .shortAndLong, help: "Where to write the minimal raw BTF.") var output: String

        func validate() throws {
            if objects.isEmpty { throw ValidationError("give at least one BPF object") }
        }

        func run() throws {
            try reportingErrors {
                let target = try BTFSpec(path: btf)
                var minimizer = BTFCoreMinimizer(target: target)
                for path in objects {
                    try EmbedBTF.record(object: try readFile(path), name: path, into: &minimizer, requireRelocations: true)
                }
                try AtomicFile.write(minimizer.minimalBTF().encoded(), to: output)
            }
        }
    }
}
