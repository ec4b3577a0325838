import Glibc
import NetnsSystem

/// Converts the kernel's CLOCK_MONOTONIC timestamps to wall-clock time for display.
public struct ClockMapping: Sendable, Hashable {
    /// CLOCK_REALTIME minus CLOCK_MONOTONIC, in nanoseconds, when the mapping was taken.
    public let realtimeOffset: Int64

    /// Creates a mapping with a known offset (tests, replays).
    public init(realtimeOffset: Int64) { self.realtimeOffset = realtimeOffset }

    /// Reads both clocks now.
    public static func now() -> ClockMapping {
        ClockMapping(realtimeOffset: Int64(SystemClock.realtime()) - Int64(SystemClock.monotonic()))
    }

    /// The monotonic clock now, in nanoseconds (the events' time base).
    public static func monotonicNow() -> UInt64 { SystemClock.monotonic() }

    /// Unix time in nanoseconds for a monotonic timestamp.
    public func unixNanoseconds(_ monotonic: UInt64) -> Int64 { Int64(monotonic) + realtimeOffset }
}

/// A UTC date and time, to the millisecond.
struct CivilTime: Equatable {
    var year, month, day, hour, minute, second, millisecond: Int

    /// The UTC civil time of Unix nanoseconds (Howard Hinnant's days-from-civil inverse).
    init(unixNanoseconds: Int64) {
        let milliseconds = unixNanoseconds >= 0 ? unixNanoseconds / 1_000_000 : (unixNanoseconds - 999_999) / 1_000_000
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        millisecond = Int(milliseconds - seconds * 1000)
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        month = Int(mp < 10 ? mp + 3 : mp - 9)
        year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        hour = secondOfDay / 3600
        minute = secondOfDay / 60 % 60
        second = secondOfDay % 60
    }

    /// The length of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static let rfc3339Length = 24

    /// Writes `YYYY-MM-DDTHH:MM:SS.mmmZ` as `rfc3339Length` ASCII bytes at `destination`.
    func writeRFC3339(to destination: UnsafeMutableRawPointer) {
        var offset = 0
        func digits(_ value: Int, _ width: Int) {
            var value = value
            for index in stride(from: width - 1, through: 0, by: -1) {
                destination.storeBytes(of: UInt8(value % 10) + UInt8(ascii: "0"), toByteOffset: offset + index, as: UInt8.self)
                value /= 10
            }
            offset += width
        }
        func separator(_ character: Unicode.Scalar) {
            destination.storeBytes(of: UInt8(ascii: character), toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
        digits(year, 4); separator("-"); digits(month, 2); separator("-"); digits(day, 2); separator("T")
        digits(hour, 2); separator(":"); digits(minute, 2); separator(":"); digits(second, 2)
        separator("."); digits(millisecond, 3); separator("Z")
    }
}
