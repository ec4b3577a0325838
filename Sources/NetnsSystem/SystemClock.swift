import Glibc

/// The host's clocks, in nanoseconds.
package enum SystemClock {
    /// CLOCK_MONOTONIC: the time base of every event the kernel side sends.
    package static func monotonic() -> UInt64 { read(CLOCK_MONOTONIC) }

    /// CLOCK_REALTIME: Unix time.
    package static func realtime() -> UInt64 { read(CLOCK_REALTIME) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
