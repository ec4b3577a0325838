import Foundation
import Testing

/// docs/kernels.md says which kernels every probe set was proven on. It is written by
/// `scripts/kernel-matrix --write-docs`, never by the tests; a full `scripts/kernel-matrix`
/// (part of `scripts/test`, so of CI) re-proves it on the code checked out, failing unless it
/// tested exactly the cells listed. This checks what the document itself must say.
@Suite("Kernel matrix document")
struct KernelMatrixDocTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("docs/kernels.md names the committed sources it ran, covers 5.10 to the newest, and every cell passed")
    func current() throws {
        let document = try String(contentsOf: Self.root.appending(path: "docs/kernels.md"), encoding: .utf8)
        let lines = document.split(separator: "\n")
        let line = try #require(lines.first { $0.hasPrefix("Last run:") }, "no 'Last run:' line")
        #expect(!line.contains("uncommitted"), "the matrix ran on uncommitted sources: \(line)")
        #expect(line.contains("commit "), "no commit in: \(line)")
        let cells = lines.filter { $0.hasPrefix("| ") && !$0.hasPrefix("| suite") && !$0.hasPrefix("| ---") }
        #expect(cells.count >= 20, "\(cells.count) cells")
        for cell in cells {
            #expect(cell.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }[3] == "pass", "\(cell)")
        }
        let summary = try #require(lines.last { $0.hasSuffix("failed") })
        #expect(summary == "\(cells.count) passed, 0 failed", "\(summary)")
        for suite in ["bullseye", "bookworm", "trixie", "sid"] {
            #expect(document.contains("| \(suite) |"), "the matrix covers \(suite)")
        }
        #expect(document.contains("| 5.10."), "the oldest kernel is 5.10 LTS")
    }
}
