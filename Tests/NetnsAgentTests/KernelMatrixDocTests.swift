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
        let known = try Command.run(["git", "cat-file", "-e", "\(commit)^{commit}"], in: Self.root, timeout: .seconds(30))
        try #require(known.status == 0, "commit \(commit) is not in this checkout's history: \(known.errors)")
        let newer = try Subprocess.output(["git", "log", "--format=%h %s", "\(commit)..HEAD", "--", "bpf", "Sources"], in: Self.root)
        #expect(newer.isEmpty, """
            docs/kernels.md is older than the sources it vouches for: run `sudo scripts/kernel-matrix --write-docs` \
            and commit it. Changed since \(commit):
            \(newer)
            """)
        let summary = try #require(document.split(separator: "\n").last { $0.hasSuffix("failed") })
        #expect(summary.hasSuffix(" 0 failed"), "\(summary)")
        for suite in ["bullseye", "bookworm", "trixie", "sid"] {
            #expect(document.contains("| \(suite) |"), "the matrix covers \(suite)")
        }
    }
}
