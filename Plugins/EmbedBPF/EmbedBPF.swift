import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` with the toolchain's clang and embeds the objects as Swift
/// source, so the executable carries its BPF programs and needs no files beside it. A target
/// with `*.bpf.c` files of its own (the tests' programs) gets those instead, built against the
/// same headers.
@main
struct EmbedBPF: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDirectory = context.package.directoryURL.appending(path: "bpf")
        func files(in directory: URL) throws -> [URL] {
            try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
                .sorted { $0.lastPathComponent < $1.lastPathComponent }
        }
        let shared = try files(in: bpfDirectory)
        let own = try files(in: target.directoryURL).filter { $0.lastPathComponent.hasSuffix(".bpf.c") }
        let programs = own.isEmpty ? shared.filter { $0.lastPathComponent.hasSuffix(".bpf.c") } : own
        let headers = shared.filter { $0.pathExtension == "h" }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedBPFObjects.swift")
        let clang = try context.tool(named: "clang")
        let embed = try context.tool(named: "bpf-embed")
        return [
            .buildCommand(
                displayName: "Compiling and embedding \(programs.count) BPF programs",
                executable: embed.url,
                arguments: [clang.url.path, output.path, "-I\(bpfDirectory.path)"] + programs.map(\.path),
                inputFiles: programs + headers,
                outputFiles: [output]
            )
        ]
    }
}
