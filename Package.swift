// swift-tools-version:5.9
// Infrared: Ruby → mruby bytecode → IR → BPF → ELF (+ BTF, BTF.ext).
//
// The pipeline is visible in the module list:
//   CMRuby           libmruby (compile the probe file, run its top level, expose ireps)
//   BPF              instructions, opcodes, helpers, program types (pure tables)
//   InfraredBTF      BTF model, reading kernel BTF and building program BTF (libbpf's btf API)
//   InfraredObject   relocatable BPF ELF writer/reader (libelf) and .BTF.ext
//   InfraredCompiler front end → IR → passes → codegen (pure: never calls bpf(2))
//   InfraredRuntime  the one module that talks to the kernel (libbpf open/load/attach/test-run)
//   infrared         the command line
import PackageDescription

let package = Package(
    name: "Infrared",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "infrared", targets: ["infrared"]),
        // The prebuilt program `infrared gen loader` copies and appends a probe to
        // (build it static: `make runner`).
        .executable(name: "infrared-runner", targets: ["infrared-runner"]),
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
        .target(name: "InfraredBTF", dependencies: ["CLibBPF", "CLibDW", "CCompression", "BPF"]),
        .target(name: "InfraredObject", dependencies: ["CLibBPF", "BPF", "InfraredBTF"]),
        .target(name: "InfraredCompiler", dependencies: ["CMRuby", "BPF", "InfraredBTF", "InfraredObject"]),
        .target(name: "InfraredRuntime", dependencies: ["CLibBPF", "BPF", "InfraredObject"]),
        // Loaders: the payload format, the loader's CLI, record printing, metrics,
        // and the user-space hooks run in mruby (CInfraredHooks).
        .target(
            name: "CInfraredHooks",
            cSettings: [.define("MRB_USE_RATIONAL"), .define("MRB_USE_COMPLEX")],
            linkerSettings: [.linkedLibrary("mruby"), .linkedLibrary("m")]
        ),
        .target(name: "CLoaderSupport"),
        .target(name: "InfraredLoader", dependencies: ["InfraredRuntime", "InfraredObject", "CInfraredHooks", "CLoaderSupport", "CLibBPF", "BPF"],
                linkerSettings: [.linkedLibrary("zstd")]),
        .executableTarget(name: "infrared-runner", dependencies: ["InfraredLoader"],
                          // What libdw.a and libelf.a need when the runner is linked statically.
                          linkerSettings: [.linkedLibrary("bz2"), .linkedLibrary("lzma"), .linkedLibrary("zstd"), .linkedLibrary("z")]),
        // Skeletons (`infrared gen skel`): C in bpftool's layout, and Swift.
        .target(name: "InfraredSkeleton", dependencies: ["CLibBPF", "BPF", "InfraredBTF", "InfraredObject", "InfraredLoader"]),
        // libdw, liblz4 and liblzma linked into the CLI, their functions handed to
        // InfraredBTF by name (the release CLI is a static executable: no dlopen).
        .target(name: "CLinkedLibraries",
                linkerSettings: [.linkedLibrary("dw"), .linkedLibrary("elf"), .linkedLibrary("lz4"), .linkedLibrary("lzma"),
                                 .linkedLibrary("bz2"), .linkedLibrary("zstd"), .linkedLibrary("z")]),
        .executableTarget(
            name: "infrared",
            dependencies: [
                "InfraredCompiler", "InfraredObject", "InfraredRuntime", "InfraredBTF",
                "InfraredLoader", "InfraredSkeleton", "CLinkedLibraries",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The readers behind `disasm`, `btf dump`, `btf extract` and `gen skel`, one call per
        // input: what the libFuzzer target (Fuzz/, Scripts/fuzz.sh) runs and the saved
        // crashers of Tests/Regressions/ are fed to (RegressionTests).
        .target(name: "InfraredFuzz", dependencies: ["CLibBPF", "InfraredBTF", "InfraredObject", "InfraredSkeleton"]),
        .testTarget(name: "RegressionTests", dependencies: ["InfraredFuzz", "InfraredCompiler"]),
        .testTarget(name: "CompilerTests", dependencies: ["InfraredCompiler", "InfraredObject", "BPF"]),
        // One pass at a time: IR text in, the pass, IR text out (as LLVM's and QBE's pass tests).
        .testTarget(name: "PassTests", dependencies: ["InfraredCompiler"]),
        .testTarget(name: "ObjectTests", dependencies: ["InfraredObject", "InfraredBTF", "BPF"]),
        .testTarget(name: "BTFTests", dependencies: ["InfraredBTF", "InfraredObject", "BPF"]),
        .testTarget(
            name: "KernelTests",
            dependencies: ["InfraredCompiler", "InfraredRuntime", "InfraredObject", "BPF"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "LoaderTests", dependencies: ["InfraredLoader", "InfraredSkeleton", "InfraredCompiler", "InfraredRuntime", "BPF"]),
    ]
)

// The libFuzzer executable exists only when INFRARED_LIBFUZZER is set (Scripts/fuzz.sh
// sets it and builds with -sanitize=fuzzer,address), so `swift build` and `make test`
// never build it: without the fuzzer runtime it has no `main`.
if Context.environment["INFRARED_LIBFUZZER"] != nil {
    package.targets.append(.executableTarget(name: "infrared-fuzz", dependencies: ["InfraredFuzz"], path: "Fuzz/infrared-fuzz"))
}
