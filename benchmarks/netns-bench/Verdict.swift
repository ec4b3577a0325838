/// How a measurement is judged against its budget: by the interval it could be in, never by
/// one number. A row is `ok` only when the whole interval is within budget, `missed` when
/// the whole interval is outside, and `inconclusive` when the budget falls inside it (the
/// noise is wider than the difference the budget asks about).
struct Verdict: Equatable {
    enum Outcome: String { case ok, missed = "MISSED", inconclusive = "INCONCLUSIVE" }

    /// The budget's direction: at most (`<=`) or at least (`>=`) its limit.
    enum Direction: String { case atMost = "<=", atLeast = ">=" }

    var median: Double
    var low: Double
    var high: Double
    var outcome: Outcome

    /// Judges `samples` against `limit`. Six or more samples (pairs' ratios, repeated runs)
    /// get a 95 % percentile-bootstrap interval of their median; fewer, their whole range.
    init(samples: [Double], limit: Double, direction: Direction, resamples: Int = 10_000) throws(MeasurementError) {
        guard !samples.isEmpty else { throw .noSamples }
        guard samples.allSatisfy(\.isFinite), limit.isFinite else { throw .notANumber }
        median = Self.median(samples)
        if samples.count >= 6 {
            (low, high) = Self.bootstrapMedianInterval(samples, confidence: 0.95, resamples: resamples)
        } else {
            (low, high) = (samples.min()!, samples.max()!)
        }
        switch direction {
        case .atMost: outcome = high <= limit ? .ok : low > limit ? .missed : .inconclusive
        case .atLeast: outcome = low >= limit ? .ok : high < limit ? .missed : .inconclusive
        }
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The percentile bootstrap of the median: resample with replacement, take each
    /// resample's median, and read the interval off their distribution. Seeded, so a run's
    /// table can be recomputed from its samples.
    static func bootstrapMedianInterval(_ samples: [Double], confidence: Double, resamples: Int) -> (Double, Double) {
        var generator = SplitMix64(seed: 0x6E65_746E_7362_656E)
        var medians: [Double] = []
        medians.reserveCapacity(resamples)
        var resample = [Double](repeating: 0, count: samples.count)
        for _ in 0..<resamples {
            for index in resample.indices {
                resample[index] = samples[Int(generator.next() % UInt64(samples.count))]
            }
            medians.append(median(resample))
        }
        medians.sort()
        let tail = (1 - confidence) / 2
        let lowIndex = Int((tail * Double(resamples)).rounded(.down))
        let highIndex = min(resamples - 1, Int(((1 - tail) * Double(resamples)).rounded(.up)) - 1)
        return (medians[lowIndex], medians[highIndex])
    }
}

enum MeasurementError: Error, CustomStringConvertible {
    case noSamples, notANumber

    var description: String {
        switch self {
        case .noSamples: "no samples: the measurement produced no number"
        case .notANumber: "a sample or the limit is not a finite number"
        }
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
