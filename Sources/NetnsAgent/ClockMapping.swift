import Glibc

/// Converts the kernel's CLOCK_MONOTONIC timestamps to wall-clock time for display.
public struct ClockMapping: Sendable, Hashable {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds, when the mapping was taken.
    public let realtimeOffset: Int64

    /// Creates a mapping with a known offset (tests, replays).
    public init(realtimeOffset: Int64) { self.realtimeOffset = realtimeOffset }

    /// Reads both clocks now.
    public static func now() -> ClockMapping {
        ClockMapping(realtimeOffset: Int64(clockNanoseconds(CLOCK_REALTIME)) - Int64(clockNanoseconds(CLOCK_MONOTONIC)))
    }

    /// The monotonic clock now, in nanoseconds (the events' time base).
    public static func monotonicNow() -> UInt64 { clockNanoseconds(CLOCK_MONOTONIC) }

    /// Unix time in nanoseconds for a monotonic timestamp.
    public func unixNanoseconds(_ monotonic: UInt64) -> Int64 { Int64(monotonic) + realtimeOffset }

    private static func clockNanoseconds(_ clock: clockid_t) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// Formats Unix nanoseconds as RFC 3339 in UTC with millisecond precision.
func rfc3339(unixNanoseconds: Int64) -> String {
    let milliseconds = unixNanoseconds / 1_000_000
    let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
    let millis = Int(milliseconds - seconds * 1000)
    let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    let secondOfDay = Int(seconds - days * 86_400)
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return "\(pad(Int(year), 4))-\(pad(Int(month), 2))-\(pad(Int(day), 2))T"
        + "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        + ".\(pad(millis, 3))Z"
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
