import PackagePlugin

/// For each `.rb` probe file in a target, `infrared gen skel --lang swift`
/// at build time: the target compiles the typed skeleton (params, maps,
/// records, async record streams) with the object embedded, as bpf2go does
/// for Go. Only a changed `.rb` (or a changed `infrared`) builds it again.
/// The probe is compiled against the build machine's kernel BTF
/// (/sys/kernel/btf/vmlinux); the skeleton relocates it on the target's (CO-RE).
@main
struct InfraredSkeletonPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let infrared = try context.tool(named: "infrared")
        return module.sourceFiles.filter { $0.path.extension == "rb" }.map { file in
            let output = context.pluginWorkDirectory.appending("\(file.path.stem).skel.swift")
            return .buildCommand(displayName: "Infrared skeleton for \(file.path.lastComponent)",
                                 executable: infrared.path,
                                 arguments: ["gen", "skel", file.path.string, "--lang", "swift", "-o", output.string],
                                 inputFiles: [file.path], outputFiles: [output])
        }
    }
}
