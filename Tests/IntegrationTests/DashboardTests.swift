import Foundation
import NetnsClient
import NetnsExposition
import Testing

extension RealKernel {
/// `GET /` in a real browser: Debian's chromium, headless, driven through the DevTools
/// protocol by `Tests/browser/drive.py`.
@Suite("The page, in a real browser")
struct DashboardTests {
    static let driver = repositoryRoot.appending(path: "Tests/browser/drive.py").path

    @Test("with 10,000 namespaces in its history, the page draws the newest lives, lists the leak with its holder, and follows /events")
    func page() async throws {
        let agent = try await RunningAgent(arguments: ["--orphaned-after", "1", "--holder-scan-interval", "0.3",
                                                       "--freed-history", "20000"])
        try StressTests.churn(processes: 2, each: 5_000)
        let name = Host.uniqueName("nt-page")
        try Host.must(["ip", "netns", "add", name])
        defer { _ = try? Host.run(["ip", "netns", "del", name]) }
        let pinned = try #require(Host.inode("/run/netns/\(name)"))
        try await eventually("the pin is an orphaned leak", timeout: .seconds(30)) {
            try agent.namespaces().contains { $0.inum == pinned && $0.leak?.kind == "orphaned" }
        }
        #expect(try agent.namespaces().count >= 10_000)

        // The browser follows /events until a namespace made after it connected is freed.
        let screenshot = FileManager.default.temporaryDirectory.appending(path: "netns-page-\(getpid()).png").path
        defer { try? FileManager.default.removeItem(atPath: screenshot) }
        let report = FileManager.default.temporaryDirectory.appending(path: "netns-page-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let browser = try Host.start(["sh", "-c", "exec python3 \"$0\" \"$1\" --until \"$2\" --report \"$3\" --screenshot \"$4\" --timeout 90 >\"$5\"",
                                      Self.driver, "http://127.0.0.1:\(agent.port)/",
                                      "document.body.dataset.stream == 'open' && document.getElementById('events').textContent.includes(' freed ')",
                                      """
                                      ({namespaces: +document.body.dataset.namespaces, bars: +document.body.dataset.bars,
                                        leaks: +document.body.dataset.leaks, events: document.getElementById('events').textContent,
                                        leakRows: [...document.querySelectorAll('#leaks tr')].map(r => r.textContent),
                                        cards: Object.fromEntries([...document.querySelectorAll('.card')].map(c => [c.dataset.card, c.querySelector('.n').textContent])),
                                        elements: document.getElementsByTagName('*').length})
                                      """, screenshot, report])
        defer { Host.stop(browser) }
        try await eventually("the page follows the stream", timeout: .seconds(60)) {
            try agent.metrics()["netns_tracer_event_stream_clients"] == 1
        }
        let holder = try Host.start(["unshare", "--net", "sleep", "1"])
        var made: UInt32 = 0
        try await eventually("a namespace is made") {
            made = Host.netnsInode(pid: holder.processIdentifier) ?? 0
            return made != 0 && made != Host.ownNetnsInode
        }
        try Host.wait(for: browser, timeout: .seconds(120))
        #expect(browser.terminationStatus == 0, "the page saw the free within the time")

        struct Report: Decodable {
            var namespaces: Int, bars: Int, leaks: Int, events: String, leakRows: [String], cards: [String: String], elements: Int
        }
        let page = try JSONDecoder().decode(Report.self, from: Data(contentsOf: URL(fileURLWithPath: report)))
        #expect(page.namespaces >= 10_000, "every namespace /namespaces lists is in the page's model")
        #expect(page.bars == 120, "the newest 120 lives are drawn, on one canvas")
        #expect(page.elements < 1_500, "no element per namespace: \(page.elements)")
        #expect(page.leaks >= 1)
        #expect(page.leakRows.contains { $0.contains(String(pinned)) && $0.contains("orphaned") && $0.contains("/run/netns/\(name)") },
                "\(page.leakRows)")
        let lines = page.events.split(separator: "\n")
        #expect(lines.contains { $0.contains(" created ") && $0.contains(String(made)) }, "\(page.events)")
        #expect(lines.contains { $0.contains(" freed ") && $0.contains(String(made)) }, "\(page.events)")
        #expect(Int(page.cards["leaking"] ?? "") ?? 0 >= 1 && Int(page.cards["created"] ?? "") ?? 0 >= 10_000, "\(page.cards)")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 10_000, "a screenshot of \(png.count) bytes")

        // Anything but a browser still gets the list of endpoints.
        let plain = try agent.client.get("/")
        #expect(plain.hasPrefix("netns-tracer: GET /metrics"))
        await agent.stop()
    }
}
}
