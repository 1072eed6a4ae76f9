import Foundation
import Histogram

/// Percentiles of a latency histogram, in microseconds.
public struct LatencySummary: Codable, Hashable, Sendable {
    public var count: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64

    /// Several runs' summaries as one: each percentile the median of the runs' (the lower middle of an even
    /// count), the counts summed.
    public static func median(of runs: [LatencySummary]) -> LatencySummary {
        func middle(_ values: [UInt64]) -> UInt64 { values.sorted()[(values.count - 1) / 2] }
        var result = runs[0]
        result.count = runs.reduce(0) { $0 + $1.count }
        result.p50 = middle(runs.map(\.p50))
        result.p90 = middle(runs.map(\.p90))
        result.p99 = middle(runs.map(\.p99))
        result.p999 = middle(runs.map(\.p999))
        result.max = middle(runs.map(\.max))
        return result
    }

    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        let empty = count == 0
        p50 = empty ? 0 : histogram.valueAtPercentile(50)
        p90 = empty ? 0 : histogram.valueAtPercentile(90)
        p99 = empty ? 0 : histogram.valueAtPercentile(99)
        p999 = empty ? 0 : histogram.valueAtPercentile(99.9)
        max = empty ? 0 : histogram.max
    }

    /// "p50 212 us  p90 480 us  p99 1.20 ms  p99.9 3.10 ms  max 9.81 ms"
    public var text: String {
        [("p50", p50), ("p90", p90), ("p99", p99), ("p99.9", p999), ("max", max)]
            .map { "\($0.0) \(Self.format(micros: $0.1))" }.joined(separator: "  ")
    }

    public static func format(micros: UInt64) -> String {
        if micros < 1000 { return "\(micros) us" }
        if micros < 1_000_000 { return fixed(Double(micros) / 1000, 2) + " ms" }
        return fixed(Double(micros) / 1_000_000, 2) + " s"
    }
}

/// A number with `digits` decimals.
func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

/// 1234567 → "1.23M", 12345 → "12.3k".
func compact(_ value: Double) -> String {
    if value >= 1e6 { return fixed(value / 1e6, 2) + "M" }
    if value >= 1e4 { return fixed(value / 1e3, 1) + "k" }
    return fixed(value, value >= 100 ? 0 : 1)
}

/// The hub's resource use, when it ran as a child process.
public struct HubUsage: Codable, Hashable, Sendable {
    public var cpuSeconds: Double
    public var peakMemoryBytes: UInt64
    /// The resident set when the run ended (the hub still holding its history); absent in older reports.
    public var residentMemoryBytes: UInt64?
    /// CPU seconds when the load began (the start-up's share), when known: the load's own is the difference.
    public var cpuSecondsAtStart: Double?
    public init(cpuSeconds: Double, peakMemoryBytes: UInt64, residentMemoryBytes: UInt64? = nil) {
        self.cpuSeconds = cpuSeconds
        self.peakMemoryBytes = peakMemoryBytes
        self.residentMemoryBytes = residentMemoryBytes
    }
}

/// Everything a run measured and found: the `--report` JSON, and the summary printed.
public struct LoadReport: Codable, Sendable {
    public var mode: String
    public var hub: String
    public var cores: Int
    public var desks: Int
    public var subscribers: [String]
    public var pipeline: Int
    public var speed: Double?
    /// From the first submission until every desk had its last ack.
    public var loadSeconds: Double
    /// From the first submission until every subscriber had every event.
    public var deliverySeconds: Double
    public var declarationsAccepted: Int
    public var acceptedPerSecond: Double
    public var deliveries: Int
    public var deliveriesPerSecond: Double
    public var wireBytes: UInt64
    public var wireBytesPerDelivery: Double
    public var wireBytesMethod: String
    public var ackLatencyMicros: LatencySummary
    public var deliveryLatencyMicros: LatencySummary
    public var conflatedBatches: Int
    public var supersededDeliveries: Int
    public var hubUsage: HubUsage?
    /// With a leader killed during the load (`hub-load cluster --kill-leader-after`): from the kill to the next ack.
    public var takeoverSeconds: Double?
    public var verified: Bool
    /// Whether the subscribers' copies and checksums were verified too (not with `--no-verify`); absent: yes.
    public var copiesVerified: Bool?
    var verifiedCopies: Bool { copiesVerified ?? true }
    public var problems: [String]

    /// "all, region:north-west" or "4 × all".
    var filterCounts: String {
        let distinct = subscribers.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        return distinct.map { filter in
            let count = subscribers.filter { $0 == filter }.count
            return count == 1 ? filter : "\(count) × \(filter)"
        }.joined(separator: ", ")
    }

    public var summary: String {
        var lines = [
            "hub-load \(mode): \(desks) desks, \(subscribers.count) subscribers (\(filterCounts)), "
                + "pipeline \(pipeline)\(speed.map { ", speed \(fixed($0, 0))x" } ?? ""), hub \(hub), \(cores) cores",
            "accepted      \(declarationsAccepted) declarations in \(fixed(loadSeconds, 2)) s: \(compact(acceptedPerSecond))/s",
            "delivered     \(deliveries) records to subscribers in \(fixed(deliverySeconds, 2)) s: \(compact(deliveriesPerSecond))/s",
            "wire          \(fixed(wireBytesPerDelivery, 1)) B per delivered declaration (\(wireBytes) B; \(wireBytesMethod))",
            "submit→ack    \(ackLatencyMicros.text)",
            "submit→sub    \(deliveryLatencyMicros.text)",
        ]
        if conflatedBatches > 0 {
            lines.append(
                "conflation    \(conflatedBatches) conflated batches; \(supersededDeliveries) superseded records not delivered one by one"
            )
        }
        if let usage = hubUsage {
            let share =
                deliverySeconds > 0 ? " (\(fixed(100 * usage.cpuSeconds / deliverySeconds, 0))% of one core)" : ""
            let resident = usage.residentMemoryBytes.map {
                ", resident at the end \(fixed(Double($0) / 1_048_576, 1)) MiB"
            }
            lines.append(
                "hub           CPU \(fixed(usage.cpuSeconds, 2)) s\(share), peak memory \(fixed(Double(usage.peakMemoryBytes) / 1_048_576, 1)) MiB\(resident ?? "")"
            )
        }
        lines.append(
            verified
                ? (verifiedCopies
                    ? "verified      every acked declaration reached every matching subscriber in order, once; checksums equal the hub's"
                    : "checked       every acked declaration reached every matching subscriber in order, once (copies not verified: --no-verify)")
                : "FAILED        \(problems.count) problems:")
        lines += problems.map { "  - \($0)" }
        return lines.joined(separator: "\n")
    }
}
