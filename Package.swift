// swift-tools-version:5.9
// Infrared: Ruby → mruby bytecode → IR → BPF → ELF (+ BTF, BTF.ext).
//
// The pipeline is visible in the module list (each depends only on those above it):
//   InfraredSupport     whole-file reads, atomic writes, FormatError, libraries linked in or dlopen'd; JSON decoding and text search without Foundation (the runner)
//   InfraredELF         the one ELF reader (libelf): objects, kernels, executables, shared libraries
//   InfraredCompression gzip/zstd/lz4/xz decompression (kernel images, compressed BTF files), CRC-32
//   CMRuby              libmruby (compile the probe file, run its top level, expose ireps)
//   BPF                 instructions, opcodes, helpers, program types (pure tables)
//   InfraredBTF         the BTF model: reading, writing, dumping, CO-RE (kernel BTF, program BTF)
//   InfraredDWARF       DWARF → BTF (libdw; `btf from-dwarf`)
//   InfraredKernelImage vmlinux out of a bzImage/vmlinuz, and its .BTF (`btf extract`)
//   InfraredObject      relocatable BPF ELF writer/reader and .BTF.ext
//   InfraredCompiler    front end → IR → passes → codegen (pure: never calls bpf(2))
//   InfraredRuntime     the one module that talks to the kernel (libbpf open/load/attach/test-run)
//   InfraredPayload     the probe a loader carries (object, manifest, bytecode) and its CRC-32
//   InfraredMetrics     the `--metrics` HTTP server
//   InfraredProfile     stack symbolization (/proc maps, ELF symbols, kallsyms) and flame graphs
//   InfraredLoader      the loader's event loop, options, record printing, hooks (mruby)
//   InfraredSkeleton    `gen skel`: C and Swift skeletons
//   infrared            the command line; infrared-runner, the prebuilt loader
//   InfraredSkeletonPlugin  (Plugins/) SwiftPM build-tool plugin: `.rb` in a target → its Swift skeleton
// Tests/BTFTestSupport holds the kernel BTF fixtures' reader; Benchmarks/btf-bench the BTF workload.
import PackageDescription

let package = Package(
    name: "Infrared",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "infrared", targets: ["infrared"]),
        // The prebuilt program `infrared gen loader` copies and appends a probe to
        // (build it static: `make runner`).
        .executable(name: "infrared-runner", targets: ["infrared-runner"]),
        // What a Swift package uses to run its probe (bpf2go's model): the
        // build-tool plugin turns each `.rb` of a target into its Swift
        // skeleton at build time; the skeleton runs on InfraredRuntime.
        .library(name: "InfraredRuntime", targets: ["InfraredRuntime"]),
        .plugin(name: "InfraredSkeletonPlugin", targets: ["InfraredSkeletonPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "CMRuby",
            cSettings: [.define("MRB_USE_RATIONAL"), .define("MRB_USE_COMPLEX")],
            linkerSettings: [.linkedLibrary("mruby"), .linkedLibrary("m")]
        ),
        .systemLibrary(name: "CLibBPF", pkgConfig: "libbpf"),
        .systemLibrary(name: "CLibDW"),
        .systemLibrary(name: "CCompression"),
        .target(name: "BPF"),
        .target(name: "InfraredSupport"),
        .target(name: "InfraredELF", dependencies: ["CLibBPF", "InfraredSupport"]),
        .target(name: "InfraredCompression", dependencies: ["CCompression", "InfraredSupport"]),
        .target(name: "InfraredBTF", dependencies: ["CLibBPF", "BPF", "InfraredSupport", "InfraredELF", "InfraredCompression"]),
        .target(name: "InfraredDWARF", dependencies: ["CLibBPF", "CLibDW", "InfraredSupport", "InfraredELF", "InfraredBTF"]),
        .target(name: "InfraredKernelImage", dependencies: ["InfraredSupport", "InfraredELF", "InfraredCompression", "InfraredBTF"]),
        .target(name: "InfraredObject", dependencies: ["CLibBPF", "BPF", "InfraredSupport", "InfraredELF", "InfraredBTF"]),
        // The compiler's release build leaves out the run-time exclusivity checks
        // (4 % of a 1,000-update body's build, Benchmarks/scaling.sh); debug builds,
        // which every test runs, keep them.
        .target(name: "InfraredCompiler", dependencies: ["CMRuby", "BPF", "InfraredSupport", "InfraredBTF", "InfraredObject"],
                swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]),
        .target(name: "InfraredRuntime", dependencies: ["CLibBPF", "BPF", "InfraredSupport"]),
        // Loaders: the payload a loader carries, the `--metrics` server, stack
        // symbolization and flame graphs, and the loader itself (its CLI, event
        // loop, record printing, and the user-space hooks run in mruby: CInfraredHooks).
        .target(name: "InfraredPayload", dependencies: ["InfraredCompression", "InfraredSupport"]),
        .target(name: "InfraredMetrics"),
        .target(name: "InfraredProfile", dependencies: ["CLibBPF", "InfraredSupport", "InfraredELF"]),
        .target(
            name: "CInfraredHooks",
            cSettings: [.define("MRB_USE_RATIONAL"), .define("MRB_USE_COMPLEX")],
            linkerSettings: [.linkedLibrary("mruby"), .linkedLibrary("m")]
        ),
        .target(name: "CLoaderSupport"),
        .target(name: "InfraredLoader", dependencies: ["InfraredRuntime", "InfraredObject", "InfraredPayload", "InfraredMetrics", "InfraredCompression",
                                                       "InfraredProfile", "InfraredSupport", "CInfraredHooks", "CLoaderSupport", "BPF"],
                linkerSettings: [.linkedLibrary("zstd")]),
        .executableTarget(name: "infrared-runner", dependencies: ["InfraredLoader", "InfraredPayload"],
                          // What libdw.a and libelf.a need when the runner is linked statically.
                          linkerSettings: [.linkedLibrary("bz2"), .linkedLibrary("lzma"), .linkedLibrary("zstd"), .linkedLibrary("z")]),
        // Skeletons (`infrared gen skel`): C in bpftool's layout, and Swift.
        .target(name: "InfraredSkeleton", dependencies: ["CLibBPF", "BPF", "InfraredBTF", "InfraredObject", "InfraredRuntime"]),
        // libdw, liblz4 and liblzma linked into the CLI, their functions handed to
        // InfraredSupport's LinkedSymbols by name (the release CLI is a static executable: no dlopen).
        .target(name: "CLinkedLibraries",
                linkerSettings: [.linkedLibrary("dw"), .linkedLibrary("elf"), .linkedLibrary("lz4"), .linkedLibrary("lzma"),
                                 .linkedLibrary("bz2"), .linkedLibrary("zstd"), .linkedLibrary("z")]),
        .executableTarget(
            name: "infrared",
            dependencies: [
                "InfraredCompiler", "InfraredObject", "InfraredSupport", "InfraredELF", "InfraredBTF", "InfraredDWARF",
                "InfraredKernelImage", "InfraredPayload", "InfraredLoader", "InfraredSkeleton", "CLinkedLibraries",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The readers behind `disasm`, `btf dump`, `btf extract` and `gen skel`, one call per
        // input: what the libFuzzer target (Fuzz/, Scripts/fuzz.sh) runs and the saved
        // crashers of Tests/Regressions/ are fed to (RegressionTests).
        .target(name: "InfraredFuzz", dependencies: ["CLibBPF", "InfraredBTF", "InfraredKernelImage", "InfraredObject", "InfraredSkeleton"]),
        .plugin(name: "InfraredSkeletonPlugin", capability: .buildTool(), dependencies: ["infrared"]),
        .testTarget(name: "RegressionTests", dependencies: ["InfraredFuzz", "InfraredCompiler"]),
        .testTarget(name: "CompilerTests", dependencies: ["InfraredCompiler", "InfraredObject"]),
        // One pass at a time: IR text in, the pass, IR text out (as LLVM's and QBE's pass tests).
        .testTarget(name: "PassTests", dependencies: ["InfraredCompiler", "BPF", "DifferentialSupport"]),
        // Random probe programs over memory, maps and helpers, as BPF source and as
        // an mruby model (KernelTests' differential test, PassTests' translation validation).
        .target(name: "DifferentialSupport", path: "Tests/DifferentialSupport"),
        .testTarget(name: "ObjectTests", dependencies: ["InfraredObject", "InfraredBTF", "BPF"]),
        // The kernel BTF fixtures of BTF/ (Scripts/update-btf.sh), for the BTF tests.
        .target(name: "BTFTestSupport", dependencies: ["InfraredSupport", "InfraredCompression", "InfraredBTF"], path: "Tests/BTFTestSupport"),
        // `btf-bench`: load BTF and resolve member paths, timed (Benchmarks/btf-bench.sh).
        .executableTarget(name: "btf-bench", dependencies: ["InfraredBTF", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Benchmarks/btf-bench"),
        .testTarget(name: "BTFTests", dependencies: ["InfraredBTF", "InfraredDWARF", "InfraredKernelImage", "InfraredELF", "InfraredObject",
                                                     "BPF", "BTFTestSupport", "btf-bench"]),
        .testTarget(
            name: "KernelTests",
            dependencies: ["InfraredCompiler", "InfraredRuntime", "InfraredObject", "BPF", "DifferentialSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "LoaderTests", dependencies: ["InfraredLoader", "InfraredPayload", "InfraredCompression", "InfraredProfile", "InfraredRuntime", "InfraredObject", "InfraredCompiler"]),
    ]
)

// The libFuzzer executable exists only when INFRARED_LIBFUZZER is set (Scripts/fuzz.sh
// sets it and builds with -sanitize=fuzzer,address), so `swift build` and `make test`
// never build it: without the fuzzer runtime it has no `main`.
if Context.environment["INFRARED_LIBFUZZER"] != nil {
    package.targets.append(.executableTarget(name: "infrared-fuzz", dependencies: ["InfraredFuzz"], path: "Fuzz/infrared-fuzz"))
}
