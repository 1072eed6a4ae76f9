import ElectionModel
import Foundation
import HubClient
import HubWire
import NIOCore
import NIOPosix

/// `hub-load compare`: the same workload through Redis pub/sub, Redis streams with an fsynced append-only file, and
/// a hub this tool starts, one after the other in one run, so that the hub's figures are read beside a baseline
/// measured on the same machine at the same time.
public struct CompareRunner: Sendable {
    let workload: CompareWorkload
    /// The hub's subscribers verify their copies (`LoadConfiguration.verify`).
    let verify: Bool
    /// Another `results-hub` (an earlier build) measured in the same run, for figures before and after a change.
    let baselineHub: URL?
    /// Each system is measured this many times, in turn, and each figure is the median of its runs.
    let runs: Int

    public init(workload: CompareWorkload, verify: Bool, baselineHub: URL? = nil, runs: Int = 1) {
        self.workload = workload
        self.verify = verify
        self.baselineHub = baselineHub
        self.runs = runs
    }

    public static let pubSubName = "Redis pub/sub"
    public static let streamsName = "Redis streams + AOF (fsync always)"
    public static let hubName = "ResultsHub"

    public static let baselineHubName = "ResultsHub before"

    public func run() async throws -> CompareReport {
        // Before anything starts: without the baseline there is nothing to compare with.
        _ = try RedisProcess.findExecutable()
        if let baselineHub, !FileManager.default.isExecutableFile(atPath: baselineHub.path) {
            throw LoadInputError("--baseline-hub \(baselineHub.path) is not an executable file")
        }
        var systems: [(name: String, measure: @Sendable () async throws -> SystemFigures)] = [
            (Self.pubSubName, { try await runRedis(.pubSub, .none, name: Self.pubSubName) }),
            (Self.streamsName, { try await runRedis(.streams, .appendOnlyFileSyncedAlways, name: Self.streamsName) }),
        ]
        if let baselineHub {
            systems.append(
                (Self.baselineHubName, { try await runHub(executable: baselineHub, name: Self.baselineHubName) }))
        }
        systems.append((Self.hubName, { try await runHub(executable: nil, name: Self.hubName) }))
        // In turn, run after run, so that what else the machine does spreads over every system alike.
        var measured = Array(repeating: [SystemFigures](), count: systems.count)
        for run in 1...runs {
            for (index, system) in systems.enumerated() {
                let label = runs > 1 ? "\(system.name) (run \(run) of \(runs))" : system.name
                FileHandle.standardError.write(Data("hub-load compare: \(label)\n".utf8))
                measured[index].append(try await system.measure())
            }
        }
        return CompareReport(
            date: ISO8601DateFormatter().string(from: Date()), cores: System.coreCount, workload: workload,
            hubCopiesVerified: verify, runs: runs, systems: measured.map(SystemFigures.median))
    }

    private func runRedis(
        _ mode: RedisLoad.Mode, _ durability: RedisProcess.Durability, name: String
    ) async throws -> SystemFigures {
        let group = MultiThreadedEventLoopGroup.singleton
        let redis = try await RedisProcess.start(durability: durability, group: group)
        do {
            let load = RedisLoad(mode: mode, workload: workload, port: redis.port, group: group)
            let figures = try await load.run(name: name) { redis.usage() }
            await redis.stop()
            return figures
        } catch {
            await redis.stop()
            throw error
        }
    }

    private func runHub(executable: URL?, name: String) async throws -> SystemFigures {
        let election = try ResultMaker.defaultElection()
        let configuration = LoadConfiguration(
            mode: .compare(
                duration: .milliseconds(Int64(workload.durationSeconds * 1000)), window: workload.window,
                rate: workload.rate, maxDeclarations: workload.maximumMessages),
            filters: Array(repeating: .all, count: workload.subscribers), hub: nil, desk: "national", token: nil,
            verify: verify, hubExecutable: executable)
        let report = try await LoadRunner(configuration: configuration, election: election).run()
        var problems = report.problems
        if report.conflatedBatches > 0 {
            problems.append("\(report.conflatedBatches) conflated batches: subscribers fell behind")
        }
        var cpu: Double?
        if let usage = report.hubUsage { cpu = usage.cpuSeconds - (usage.cpuSecondsAtStart ?? 0) }
        return SystemFigures(
            system: name, published: report.declarationsAccepted, deliveries: report.deliveries,
            expectedDeliveries: report.declarationsAccepted * workload.subscribers,
            publishesPerSecond: report.acceptedPerSecond, deliveriesPerSecond: report.deliveriesPerSecond,
            latencyMicros: report.deliveryLatencyMicros, ackLatencyMicros: report.ackLatencyMicros,
            serverCPUSeconds: cpu,
            serverPeakMemoryBytes: report.hubUsage?.peakMemoryBytes, problems: problems)
    }
}

/// Everything `hub-load compare` measured: the `--report` JSON, and the table printed.
public struct CompareReport: Codable, Sendable {
    public var date: String
    public var cores: Int
    public var workload: CompareWorkload
    public var hubCopiesVerified: Bool
    /// Runs of each system; each figure is the median of its runs.
    public var runs: Int
    /// Redis pub/sub, Redis streams + AOF, the baseline hub if one was given, ResultsHub, in that order.
    public var systems: [SystemFigures]
    /// Every system delivered every message to every subscriber, once, in order.
    public var lossless: Bool

    public init(
        date: String, cores: Int, workload: CompareWorkload, hubCopiesVerified: Bool, runs: Int,
        systems: [SystemFigures]
    ) {
        self.date = date
        self.cores = cores
        self.workload = workload
        self.hubCopiesVerified = hubCopiesVerified
        self.runs = runs
        self.systems = systems
        self.lossless = systems.allSatisfy(\.lossless)
    }

    /// A markdown table: a row per figure, a column per system, then the hub's figure divided by each Redis one's.
    public var table: String {
        let shape =
            workload.rate.map { "paced at \(compact($0))/s" } ?? "saturated (as fast as the window allows)"
        var lines = [
            "hub-load compare: 1 publisher, \(workload.subscribers) subscribers, window \(workload.window), \(shape) "
                + "for \(fixed(workload.durationSeconds, 1)) s; 200-byte messages for Redis, declarations for the hub "
                + "(subscribers' copies \(hubCopiesVerified ? "verified" : "not verified: --no-verify")); "
                + "\(runs > 1 ? "median of \(runs) runs of each, in turn; " : "")\(cores) cores, \(date)",
            "",
        ]
        let names = systems.map(\.system)
        let redisNames = systems.dropLast().map {
            "hub ÷ \($0.system.replacingOccurrences(of: "Redis ", with: "").replacingOccurrences(of: "ResultsHub ", with: ""))"
        }
        lines.append("| figure | " + (names + redisNames).joined(separator: " | ") + " | better |")
        lines.append("|" + String(repeating: " --- |", count: names.count + redisNames.count + 2))
        func row(_ label: String, better: String, _ value: (SystemFigures) -> Double?, _ format: (Double) -> String) {
            let values = systems.map(value)
            let hub = values.last ?? nil
            let ratios = values.dropLast().map { redis -> String in
                guard let hub, let redis, redis > 0 else { return "–" }
                return fixed(hub / redis, 2) + "x"
            }
            let cells = values.map { $0.map(format) ?? "–" } + ratios
            lines.append("| \(label) | " + cells.joined(separator: " | ") + " | \(better) |")
        }
        let higher = "higher"
        let lower = "lower"
        row("publishes/s", better: higher, { $0.publishesPerSecond }, compact)
        row("deliveries/s", better: higher, { $0.deliveriesPerSecond }, compact)
        row("latency p50, µs", better: lower, { $0.latencyMicros.count > 0 ? Double($0.latencyMicros.p50) : nil }) {
            fixed($0, 0)
        }
        row("latency p99, µs", better: lower, { $0.latencyMicros.count > 0 ? Double($0.latencyMicros.p99) : nil }) {
            fixed($0, 0)
        }
        row("latency p99.9, µs", better: lower, { $0.latencyMicros.count > 0 ? Double($0.latencyMicros.p999) : nil }) {
            fixed($0, 0)
        }
        row("ack p50, µs", better: lower, { $0.ackLatencyMicros.count > 0 ? Double($0.ackLatencyMicros.p50) : nil }) {
            fixed($0, 0)
        }
        row("ack p99, µs", better: lower, { $0.ackLatencyMicros.count > 0 ? Double($0.ackLatencyMicros.p99) : nil }) {
            fixed($0, 0)
        }
        row("server CPU per publish, µs", better: lower, { $0.cpuMicrosPerPublish }) { fixed($0, 2) }
        row("server CPU per delivery, µs", better: lower, { $0.cpuMicrosPerDelivery }) { fixed($0, 2) }
        row("server peak memory, MiB", better: lower, { $0.serverPeakMemoryBytes.map { Double($0) / 1_048_576 } }) {
            fixed($0, 1)
        }
        let delivered = systems.map { "\($0.deliveries) of \($0.expectedDeliveries)" }
        lines.append(
            "| delivered (published × subscribers) | " + delivered.joined(separator: " | ")
                + String(repeating: " | ", count: redisNames.count) + " | all |")
        let lossless = systems.map { $0.lossless ? "yes" : "NO" }
        lines.append(
            "| lossless | " + lossless.joined(separator: " | ") + String(repeating: " | ", count: redisNames.count)
                + " | yes |")
        lines.append("")
        lines.append(
            "Latency: publish (or submit) to receipt by a subscriber. Ack: from writing a publish (PUBLISH, XADD, SUBMIT) "
                + "to reading the server's answer to it (for the streams and the hub, once it is fsynced). Server CPU: utime + stime of the server process "
                + "during the load (/proc/PID/stat); per publish and per delivery it is the same total divided. "
                + "Peak memory: the server's VmHWM.")
        for system in systems where !system.problems.isEmpty {
            lines.append("\(system.system): \(system.problems.count) problems:")
            lines += system.problems.map { "  - \($0)" }
        }
        return lines.joined(separator: "\n")
    }
}
