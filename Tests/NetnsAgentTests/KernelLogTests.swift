import Foundation
import NetnsCore
import Testing
@testable import NetnsKernel

/// The kernel log reader: the wait line in every shape the kernel prints it, and nothing else.
@Suite("Kernel log (device waits)")
struct KernelLogTests {
    static func parse(_ line: String) -> (device: String, usageCount: Int32)? {
        KernelLog.deviceWait(inRecord: ArraySlice(line.utf8))
    }

    @Test("the wait line, as /dev/kmsg gives it, with or without the caller field", arguments: [
        ("0,48213,912345678,-;unregister_netdevice: waiting for lo to become free. Usage count = 2", "lo", 2),
        ("0,7,1000,-,caller=T1234;unregister_netdevice: waiting for eth0 to become free. Usage count = 1", "eth0", 1),
        ("0,9,1000,c;unregister_netdevice: waiting for syz_tun to become free. Usage count = -1", "syz_tun", -1),
        ("4,9,1000,-;unregister_netdevice: waiting for veth\\x2dab to become free. Usage count = 3", "veth\\x2dab", 3),
    ])
    func waitLine(line: String, device: String, count: Int32) {
        let parsed = Self.parse(line)
        #expect(parsed?.device == device && parsed?.usageCount == count, "\(line)")
    }

    @Test("anything else is not a wait: other facilities (a process's line), other text, broken lines", arguments: [
        "8,48213,912345678,-;unregister_netdevice: waiting for lo to become free. Usage count = 2",   // user: written to /dev/kmsg
        "12,1,1,-;unregister_netdevice: waiting for lo to become free. Usage count = 2",
        "0,1,1,-;unregister_netdevice: waiting for lo to become free.",
        "0,1,1,-;unregister_netdevice: waiting for  to become free. Usage count = 2",
        "0,1,1,-;unregister_netdevice: waiting for lo to become free. Usage count = many",
        "0,1,1,-;unregister_netdevice: waiting for a b to become free. Usage count = 2",
        "0,1,1,-;some other message",
        " SUBSYSTEM=net",
        "unregister_netdevice: waiting for lo to become free. Usage count = 2",
        "x,1,1,-;unregister_netdevice: waiting for lo to become free. Usage count = 2",
        "-8,1,1,-;unregister_netdevice: waiting for lo to become free. Usage count = 2",
    ])
    func notAWait(line: String) {
        #expect(Self.parse(line) == nil, "\(line)")
    }

    @Test("a file of records read as it grows, lines split across writes, from where it ended when opened")
    func readsAFile() throws {
        let path = FileManager.default.temporaryDirectory.appending(path: "netns-kmsg-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "0,1,1,-;unregister_netdevice: waiting for old to become free. Usage count = 9\n".write(toFile: path, atomically: false, encoding: .utf8)
        let log = try KernelLog(path: path)
        #expect(log.read(at: 5).isEmpty, "what was there before is not read")
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        try file.seekToEnd()
        try file.write(contentsOf: Data("0,2,2,-;unregister_netdevice: waiting for lo to become free. Usage c".utf8))
        #expect(log.read(at: 6).isEmpty)
        try file.write(contentsOf: Data("ount = 2\n8,3,3,-;unregister_netdevice: waiting for lo to become free. Usage count = 5\n".utf8))
        #expect(log.read(at: 7) == [DeviceWait(device: "lo", usageCount: 2, timestamp: 7, loggedAfter: 6)],
                "logged between the previous read and this one")
        #expect(log.read(at: 8).isEmpty)
        #expect { try KernelLog(path: "/nonexistent/kmsg") } throws: { "\($0)".contains("cannot open /nonexistent/kmsg") }
    }
}
