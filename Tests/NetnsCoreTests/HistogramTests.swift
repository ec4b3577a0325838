import Testing
@testable import NetnsCore

@Suite("Histogram")
struct HistogramTests {
    @Test("values land in the first bucket whose bound is not below them; +Inf takes the rest")
    func buckets() {
        var histogram = Histogram(upperBounds: [1, 5, 10])
        for value in [0.5, 1, 1.01, 5, 11, 100] { histogram.observe(value) }
        #expect(histogram.bucketCounts == [2, 2, 0, 2])
        #expect(histogram.cumulativeCounts == [2, 4, 4, 6])
        #expect(histogram.count == 6)
        #expect(abs(histogram.sum - 118.51) < 1e-9)
    }
}
