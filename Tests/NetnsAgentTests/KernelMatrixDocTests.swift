import Foundation
import Testing

/// docs/kernels.md says which kernels every probe set was proven on, for one commit. It is
/// written by `scripts/kernel-matrix --write-docs`, never by the tests; this flags it once the
/// BPF programs or the agent have changed since the commit it names.
@Suite("Kernel matrix document")
struct KernelMatrixDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("docs/kernels.md names a commit no older than the BPF programs and the agent, and every cell passed")
    func current() throws {
        let document = try String(contentsOf: Self.root.appending(path: "docs/kernels.md"), encoding: .utf8)
        let line = try #require(document.split(separator: "\n").first { $0.hasPrefix("Last run:") }, "no 'Last run:' line")
        #expect(!line.contains("uncommitted"), "the matrix ran on uncommitted sources: \(line)")
        let commit = try #require(line.split(separator: " ").drop { $0 != "commit" }.dropFirst().first.map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: ".,"))
        }, "no commit in: \(line)")
        // The trees the run tested, by content hash: any checkout can compare them (a shallow
        // clone has no history to look the commit up in).
        let tested = try #require(document.split(separator: "\n").first { $0.hasPrefix("Sources tested:") },
                                  "no 'Sources tested:' line")
        for directory in ["bpf", "Sources"] {
            let current = try Subprocess.output(["git", "rev-parse", "HEAD:\(directory)"], in: Self.root)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(tested.contains("\(directory) tree \(current)"), """
                docs/kernels.md is older than \(directory)/ (tree \(current) now; tested: \(tested)): run \
                `sudo scripts/kernel-matrix --write-docs` and commit it (last run at commit \(commit))
                """)
        }
        let summary = try #require(document.split(separator: "\n").last { $0.hasSuffix("failed") })
        #expect(summary.hasSuffix(" 0 failed"), "\(summary)")
        for suite in ["bullseye", "bookworm", "trixie", "sid"] {
            #expect(document.contains("| \(suite) |"), "the matrix covers \(suite)")
        }
    }
}
