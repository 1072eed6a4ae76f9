import Foundation
import Testing

/// `hub-load compare`: Redis (pub/sub, streams + AOF) and a hub, one after the other, in one short run.
@Suite("hub-load compare")
struct HubLoadCompareTests {
    /// Where Debian installs redis-server; the comparison cannot run without it, so its absence fails the test.
    static let redisServer = "/usr/bin/redis-server"

    @Test func everySystemIsMeasuredAndDeliversEveryMessage() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.redisServer) else {
            throw TestFailure(
                "redis-server is not installed (\(Self.redisServer)): hub-load compare needs it; run Tools/setup.sh")
        }
        let run = try await CommandRun.run(
            HubLoadCLITests.binary, ["compare", "--duration", "2s", "--subscribers", "2", "--window", "2000"],
            asOrdinaryUser: true)
        #expect(run.status == 0, "\(run.output)\n\(run.errors)")
        let rows = run.output.split(separator: "\n").map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let header = try #require(rows.first { $0.first == "figure" }, "no table in: \(run.output)")
        #expect(Array(header[1...3]) == ["Redis pub/sub", "Redis streams + AOF (fsync always)", "ResultsHub"])
        let publishes = try #require(rows.first { $0.first == "publishes/s" })
        for (column, value) in publishes[1...3].enumerated() {
            #expect(!value.isEmpty && value != "–" && value != "0.0", "\(header[column + 1]) publishes/s: \(value)")
        }
        let lossless = try #require(rows.first { $0.first == "lossless" })
        #expect(Array(lossless[1...3]) == ["yes", "yes", "yes"], "\(run.output)")
        let delivered = try #require(rows.first { $0.first == "delivered (published × subscribers)" })
        for value in delivered[1...3] {
            let numbers = value.split(separator: " ").compactMap { Int($0) }
            #expect(numbers.count == 2 && numbers[0] == numbers[1] && numbers[0] > 0, "delivered: \(value)")
        }
    }

    /// The ingest row (no subscribers) with a baseline hub in the same run: here the same build, so both columns
    /// must be there and measured, and the JSON report says whether every system was lossless.
    @Test func noSubscribersWithABaselineHub() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.redisServer) else {
            throw TestFailure(
                "redis-server is not installed (\(Self.redisServer)): hub-load compare needs it; run Tools/setup.sh")
        }
        let directory = try OrdinaryUser.makeDirectory("compare")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reportFile = URL(fileURLWithPath: directory).appendingPathComponent("compare.json")
        let baseline = Executables.directory.appendingPathComponent("results-hub")
        let run = try await CommandRun.run(
            HubLoadCLITests.binary,
            [
                "compare", "--duration", "1s", "--subscribers", "0", "--baseline-hub", baseline.path, "--report",
                reportFile.path,
            ], asOrdinaryUser: true)
        #expect(run.status == 0, "\(run.output)\n\(run.errors)")
        let rows = run.output.split(separator: "\n").map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let header = try #require(rows.first { $0.first == "figure" }, "no table in: \(run.output)")
        #expect(
            Array(header[1...4]) == [
                "Redis pub/sub", "Redis streams + AOF (fsync always)", "ResultsHub before", "ResultsHub",
            ])
        let publishes = try #require(rows.first { $0.first == "publishes/s" })
        for value in publishes[1...4] {
            #expect(Double(value.replacingOccurrences(of: "k", with: "")) ?? 0 > 0, "\(value)")
        }
        let latency = try #require(rows.first { $0.first == "latency p50, µs" })
        #expect(Array(latency[1...4]) == ["–", "–", "–", "–"], "no deliveries, so no latency: \(latency)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: reportFile)) as? [String: Any]
        #expect(json?["lossless"] as? Bool == true)
        let systems = json?["systems"] as? [[String: Any]] ?? []
        #expect(
            systems.map { $0["system"] as? String } == [
                "Redis pub/sub", "Redis streams + AOF (fsync always)", "ResultsHub before", "ResultsHub",
            ])
        #expect(systems.allSatisfy { $0["lossless"] as? Bool == true && ($0["published"] as? Int ?? 0) > 0 })
    }
}
