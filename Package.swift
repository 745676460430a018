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
        .target(name: "BPF"),
        .target(name: "InfraredBTF", dependencies: ["CLibBPF", "BPF"]),
        .target(name: "InfraredObject", dependencies: ["CLibBPF", "BPF", "InfraredBTF"]),
        .target(name: "InfraredCompiler", dependencies: ["CMRuby", "BPF", "InfraredBTF", "InfraredObject"]),
        .target(name: "InfraredRuntime", dependencies: ["CLibBPF", "BPF", "InfraredObject"]),
        .executableTarget(
            name: "infrared",
            dependencies: [
                "InfraredCompiler", "InfraredObject", "InfraredRuntime", "InfraredBTF",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CompilerTests", dependencies: ["InfraredCompiler", "InfraredObject", "BPF"]),
        .testTarget(name: "ObjectTests", dependencies: ["InfraredObject", "InfraredBTF", "BPF"]),
        .testTarget(
            name: "KernelTests",
            dependencies: ["InfraredCompiler", "InfraredRuntime", "InfraredObject", "BPF"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
