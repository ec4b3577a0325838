/// A cumulative histogram with fixed upper bounds, as Prometheus exposes one.
public struct Histogram: Sendable, Hashable {
    /// Upper bounds of the buckets, ascending; `+Inf` is implicit.
    public let upperBounds: [Double]
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    public private(set) var bucketCounts: [UInt64]
    /// The sum of all observed values.
    public private(set) var sum: Double = 0
    /// How many values were observed.
    public private(set) var count: UInt64 = 0

    /// Creates an empty histogram with the given (ascending) upper bounds.
    public init(upperBounds: [Double]) {
        precondition(zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 },
                     "histogram bounds must be ascending")
        self.upperBounds = upperBounds
        self.bucketCounts = Array(repeating: 0, count: upperBounds.count + 1)
    }

    /// Records one value.
    public mutating func observe(_ value: Double) {
        let index = upperBounds.firstIndex { value <= $0 } ?? upperBounds.count
        bucketCounts[index] += 1
        sum += value
        count += 1
    }

    /// Cumulative counts per upper bound, ending with `+Inf`, as the exposition format wants.
    public var cumulativeCounts: [UInt64] {
        var running: UInt64 = 0
        return bucketCounts.map { running += $0; return running }
    }
}

extension Histogram {
    /// Bounds for namespace lifetimes: from a container that fails at once to one that runs
    /// for a week.
    public static let lifetimeBounds: [Double] = [
        0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21_600, 86_400, 604_800,
    ]
    /// Bounds for a cleanup_net batch: milliseconds normally, minutes when a device is stuck.
    public static let cleanupBounds: [Double] = [
        0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
    ]
}
