import Foundation
import PackagePlugin

/// Writes the git commit the package is built from into the target, as
/// `BuildInfo.revision` ("unknown" outside a git checkout, as in a source tarball).
///
/// The commit is read from `.git` here, when the build is planned, and passed to the command
/// as an argument: a new commit changes the command, so only then is the file written again.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let revision = Self.revision(of: context.package.directoryURL) ?? "unknown"
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildRevision.swift")
        let source = "extension BuildInfo {\n    /// The git commit built.\n    public static let revision = \"\(revision)\"\n}\n"
        return [
            .buildCommand(
                displayName: "Recording the build's git revision (\(revision.prefix(12)))",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", "printf '%s' \"$1\" >\"$2\"", "sh", source, output.path],
                outputFiles: [output]
            )
        ]
    }

    /// HEAD's commit, from the files git keeps (no git binary needed): a detached HEAD holds
    /// it, a branch's is in its loose ref or in `packed-refs`.
    static func revision(of package: URL) -> String? {
        var gitDirectory = package.appending(path: ".git")
        // A worktree or submodule: `.git` is a file naming the directory.
        if let pointer = try? String(contentsOf: gitDirectory, encoding: .utf8), pointer.hasPrefix("gitdir: ") {
            let path = pointer.dropFirst("gitdir: ".count).trimmingCharacters(in: .whitespacesAndNewlines)
            gitDirectory = path.hasPrefix("/") ? URL(fileURLWithPath: path) : package.appending(path: path)
        }
        guard let head = try? String(contentsOf: gitDirectory.appending(path: "HEAD"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        else { return nil }
        guard head.hasPrefix("ref: ") else { return isCommit(head) ? head : nil }
        let reference = String(head.dropFirst("ref: ".count))
        if let loose = try? String(contentsOf: gitDirectory.appending(path: reference), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), isCommit(loose) {
            return loose
        }
        let packed = (try? String(contentsOf: gitDirectory.appending(path: "packed-refs"), encoding: .utf8)) ?? ""
        for line in packed.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[1] == reference, isCommit(String(fields[0])) { return String(fields[0]) }
        }
        return nil
    }

    static func isCommit(_ text: String) -> Bool {
        (text.count == 40 || text.count == 64) && text.allSatisfy(\.isHexDigit)
    }
}
