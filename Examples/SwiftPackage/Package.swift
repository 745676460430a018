// swift-tools-version:5.9
// A Swift tool whose probe is Ruby: Sources/execcount/execcount.rb becomes a
// typed Swift skeleton at build time (Infrared's build-tool plugin), compiled
// into the executable with the BPF object embedded.
//
//   swift build && sudo .build/debug/execcount --uid 1000 --seconds 5
import PackageDescription

let package = Package(
    name: "ExecCount",
    dependencies: [
        .package(name: "Infrared", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "execcount",
            dependencies: [.product(name: "InfraredRuntime", package: "Infrared")],
            exclude: [],
            plugins: [.plugin(name: "InfraredSkeletonPlugin", package: "Infrared")]
        ),
    ]
)
