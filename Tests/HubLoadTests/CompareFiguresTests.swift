import Histogram
import Testing

@testable import HubLoad

/// `hub-load compare --runs N`: one system's runs become one set of figures.
@Suite struct CompareFiguresTests {
    static func latency(_ p50: UInt64, count: UInt64 = 10) -> LatencySummary {
        var summary = LatencySummary(Histogram<UInt64>(numberOfSignificantValueDigits: .three))
        summary.count = count
        summary.p50 = p50
        summary.p90 = p50 * 2
        summary.p99 = p50 * 3
        summary.p999 = p50 * 4
        summary.max = p50 * 5
        return summary
    }

    static func run(_ rate: Double, cpuSeconds: Double?, p50: UInt64, problems: [String] = []) -> SystemFigures {
        SystemFigures(
            system: "s", published: 1000, deliveries: problems.isEmpty ? 2000 : 1999, expectedDeliveries: 2000,
            publishesPerSecond: rate, deliveriesPerSecond: rate * 2, latencyMicros: latency(p50),
            ackLatencyMicros: latency(p50 / 2), serverCPUSeconds: cpuSeconds, serverPeakMemoryBytes: UInt64(rate),
            problems: problems)
    }

    @Test func eachFigureIsTheMedianOfItsRunsAndCountsAreSummed() {
        let figures = SystemFigures.median(of: [
            Self.run(300, cpuSeconds: 0.003, p50: 90), Self.run(100, cpuSeconds: 0.001, p50: 70),
            Self.run(200, cpuSeconds: 0.002, p50: 80),
        ])
        #expect(figures.publishesPerSecond == 200)
        #expect(figures.deliveriesPerSecond == 400)
        #expect(
            figures.latencyMicros.p50 == 80 && figures.latencyMicros.p999 == 320 && figures.latencyMicros.count == 30)
        #expect(figures.ackLatencyMicros.p50 == 40)
        #expect(abs((figures.cpuMicrosPerPublish ?? 0) - 2) < 1e-9)
        #expect(abs((figures.cpuMicrosPerDelivery ?? 0) - 1) < 1e-9)
        #expect(figures.serverPeakMemoryBytes == 200)
        #expect(figures.published == 3000 && figures.deliveries == 6000 && figures.expectedDeliveries == 6000)
        #expect(figures.lossless)
    }

    @Test func oneLossyRunMakesTheWholeLossyAndAnUnknownFigureStaysUnknown() {
        let figures = SystemFigures.median(of: [
            Self.run(100, cpuSeconds: nil, p50: 70), Self.run(200, cpuSeconds: 0.002, p50: 80, problems: ["gap"]),
        ])
        #expect(!figures.lossless)
        #expect(figures.problems == ["gap"])
        #expect(figures.cpuMicrosPerPublish == nil, "one run could not read the server's CPU")
        #expect(figures.publishesPerSecond == 100, "of two, the lower middle")
    }
}
