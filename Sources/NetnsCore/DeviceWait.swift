/// The kernel waiting for a network device's last references before it can finish
/// unregistering it: its log line "unregister_netdevice: waiting for DEV to become free. Usage
/// count = N", printed while the wait lasts (every 10 s, or `net.core.netdev_unregister_timeout_secs`
/// since 5.18), one line per waiting device. It is what keeps a cleanup batch, and every
/// namespace released behind it, from finishing: the "waiting for lo to become free" outage.
public struct DeviceWait: Sendable, Hashable {
    /// Where the agent learnt of the wait.
    public enum Source: UInt8, Sendable, Hashable {
        /// The kernel's log, read from `/dev/kmsg`.
        case kmsg = 1

        /// The name `/namespaces` shows.
        public var name: String {
            switch self {
            case .kmsg: "kmsg"
            }
        }
    }

    /// The device's name as the kernel printed it (at most `maxDeviceBytes`).
    public var device: String
    /// The kernel's "Usage count": references still held (on 5.13 and later, one of them is
    /// the device's own).
    public var usageCount: Int32
    /// When the agent learnt of it (CLOCK_MONOTONIC nanoseconds).
    public var timestamp: UInt64
    /// The earliest the kernel can have logged it: the agent's previous look at the log.
    public var loggedAfter: UInt64
    public var source: Source

    /// The longest device name kept: the kernel's are 15 bytes, escaped ones up to four times that.
    public static let maxDeviceBytes = 64

    public init(device: String, usageCount: Int32, timestamp: UInt64, loggedAfter: UInt64? = nil, source: Source = .kmsg) {
        self.device = device
        self.usageCount = usageCount
        self.timestamp = timestamp
        self.loggedAfter = min(loggedAfter ?? timestamp, timestamp)
        self.source = source
    }
}

/// What a namespace's teardown waits for: the device of the latest wait seen while it was
/// stuck, since when, and when last seen.
public struct TeardownWaitingFor: Sendable, Hashable {
    public var device: String
    public var usageCount: Int32
    /// When a wait for this device was first seen while the namespace was stuck.
    public var since: UInt64
    /// When the latest line about it was seen.
    public var lastSeen: UInt64
    public var source: DeviceWait.Source
}
