import Foundation
import NetnsCore
import Testing
@testable import NetnsKernel

extension RealKernel {
/// The kernel log reader on the real `/dev/kmsg`.
@Suite("Kernel log, for real")
struct KernelLogRealTests {
    @Test("on the real /dev/kmsg, a process's forged wait line arrives with the user facility and is refused")
    func forgedLine() throws {
        try requireRoot()
        let log = try KernelLog()
        let raw = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        try #require(raw >= 0)
        defer { close(raw) }
        lseek(raw, 0, SEEK_END)
        let marker = "netns-tracer-test-\(UUID().uuidString.prefix(8))"
        let forged = "<0>unregister_netdevice: waiting for \(marker) to become free. Usage count = 2\n"
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: "/dev/kmsg"))
        try writer.write(contentsOf: Data(forged.utf8))
        try writer.close()
        // The record is there, as the kernel stored it: with a facility other than the kernel's.
        var record = [UInt8](repeating: 0, count: 8192)
        var seen: String?
        for _ in 0..<1000 where seen == nil {
            let count = read(raw, &record, record.count)
            guard count > 0 else { break }
            let text = String(decoding: record[..<count], as: UTF8.self)
            if text.contains(marker) { seen = text }
        }
        let stored = try #require(seen, "the forged line was written to the kernel log")
        let priority = try #require(Int(stored.prefix { $0 != "," }))
        #expect(priority >> 3 != 0, "stored with a user facility: \(stored)")
        #expect(log.read(at: 1).allSatisfy { $0.device != marker }, "and the reader refuses it")
    }
}
}

extension RealKernel {
/// The agent reading a kernel log: here a file of the kernel's record format (the kernel's own
/// wait line cannot be provoked without a kernel bug: docs/research/teardown-waits.md §4).
@Suite("Device waits in a running agent")
struct DeviceWaitAgentTests {
    @Test("a wait logged while no namespace is stuck is counted as nobody's; an unreadable log leaves the agent running without it")
    func unattributed() async throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "netns-kmsg-\(getpid())").path
        FileManager.default.createFile(atPath: path, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let agent = try await RunningAgent(arguments: ["--kernel-log", path])
        #expect(try agent.metrics()["netns_tracer_kernel_log_read"] == 1)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try file.write(contentsOf: Data("""
            8,1,1,-;unregister_netdevice: waiting for lo to become free. Usage count = 2
            0,2,2,-;unregister_netdevice: waiting for lo to become free. Usage count = 2

            """.utf8))
        try file.close()
        try await eventually("the kernel's line is counted, the process's is not") {
            try agent.metrics()["netns_teardown_device_waits_total"] == 1
        }
        #expect(try agent.metrics()["netns_teardown_device_waits_unattributed_total"] == 1)
        #expect(try agent.namespaces().allSatisfy { $0.teardown == nil })
        await agent.stop()

        let blind = try await RunningAgent(arguments: ["--kernel-log", "/nonexistent/kmsg"])
        #expect(try blind.metrics()["netns_tracer_kernel_log_read"] == 0)
        await blind.stop()
    }
}
}
