import Testing
@testable import netns_bench

@Suite("Benchmark verdicts")
struct VerdictTests {
    @Test("no samples is an error, never ok")
    func empty() {
        #expect(throws: MeasurementError.noSamples) { try Verdict(samples: [], limit: 2, direction: .atMost) }
        #expect(throws: MeasurementError.notANumber) { try Verdict(samples: [1, .nan], limit: 2, direction: .atMost) }
    }

    @Test("ok only when the whole interval is within budget")
    func intervals() throws {
        // A median under budget whose interval reaches above it: not ok.
        let noisy = [-3.0, -1.0, 0.5, 1.5, 1.8, 2.5, 3.5, 4.5, 6.0]
        let judged = try Verdict(samples: noisy, limit: 2, direction: .atMost)
        #expect(judged.median < 2 && judged.high > 2)
        #expect(judged.outcome == .inconclusive)
        let tight = [0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
        #expect(try Verdict(samples: tight, limit: 2, direction: .atMost).outcome == .ok)
        let over = [4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5]
        #expect(try Verdict(samples: over, limit: 2, direction: .atMost).outcome == .missed)
        #expect(try Verdict(samples: [2_500_000, 2_600_000, 2_400_000], limit: 2_000_000, direction: .atLeast).outcome == .ok)
        #expect(try Verdict(samples: [1_900_000, 2_100_000], limit: 2_000_000, direction: .atLeast).outcome == .inconclusive)
        #expect(try Verdict(samples: [0], limit: 0, direction: .atMost).outcome == .ok)
        #expect(try Verdict(samples: [1], limit: 0, direction: .atMost).outcome == .missed)
    }

    @Test("the bootstrap interval holds the median, lies within the samples, and is reproducible")
    func bootstrap() throws {
        let samples = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
        let first = try Verdict(samples: samples, limit: 10, direction: .atMost)
        let again = try Verdict(samples: samples, limit: 10, direction: .atMost)
        #expect(first == again)
        #expect(first.median == 4)
        #expect(first.low <= first.median && first.median <= first.high)
        #expect(first.low >= 1 && first.high <= 9)
        #expect(first.high - first.low < 8, "narrower than the whole range")
    }
}
