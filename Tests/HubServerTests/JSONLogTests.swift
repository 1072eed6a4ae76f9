import Foundation
import HubServer
import HubWire
import Logging
import Synchronization
import Testing

/// `results-hub --log-format json` (issue 13): one JSON object a line, with the text logs' metadata keys; and
/// `--version` on every executable.
@Suite("JSON logs and versions")
struct JSONLogTests {
    /// The lines a `JSONLogHandler` writes, collected.
    final class Lines: Sendable {
        private let lines = Mutex<[Data]>([])
        var all: [Data] { lines.withLock { $0 } }

        func output() -> LogLineOutput {
            LogLineOutput { line in self.lines.withLock { $0.append(line) } }
        }
    }

    static func record(_ line: Data) throws -> [String: Any] {
        guard let record = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(String(decoding: line, as: UTF8.self))")
        }
        return record
    }

    @Test func aRecordIsOneLineOfJSONWithTheFieldsAndTheMetadata() throws {
        let lines = Lines()
        let output = lines.output()
        var logger = Logger(label: "results-hub") { label in
            JSONLogHandler(label: label, output: output, metadataProvider: nil)
        }
        logger.logLevel = .debug
        logger[metadataKey: "hub.port"] = "7400"
        let message = "desk \"north-west\" said:\nline two\ttabbed \\ and a \u{1} control, é"
        struct Failure: Error, CustomStringConvertible { var description = "disk \"full\"" }
        logger.warning(
            "\(message)", error: Failure(),
            metadata: ["desk": "north-west", "peer": "[IPv4]127.0.0.1/127.0.0.1:5000", "count": "3"])
        logger.trace("below the level: not written")

        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().firstIndex(of: UInt8(ascii: "\n")) == nil, "one line")
        let record = try Self.record(line)
        #expect(Set(record.keys) == ["timestamp", "level", "label", "message", "source", "metadata"])
        #expect(record["level"] as? String == "warning")
        #expect(record["label"] as? String == "results-hub")
        #expect(record["message"] as? String == message)
        #expect(record["source"] as? String == "HubServerTests")
        let metadata = try #require(record["metadata"] as? [String: String])
        #expect(
            metadata == [
                "hub.port": "7400", "desk": "north-west", "peer": "[IPv4]127.0.0.1/127.0.0.1:5000", "count": "3",
                "error.message": "disk \"full\"", "error.type": String(reflecting: Failure.self),
            ])
        // ISO 8601 in UTC with milliseconds, and now.
        let timestamp = try #require(record["timestamp"] as? String)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(timestamp)")
        let date = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(timestamp)
        #expect(abs(date.timeIntervalSinceNow) < 60)
        // Keys sorted, slashes as they are.
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix("{\"label\":\"results-hub\",\"level\":\"warning\",\"message\":"))
        #expect(text.contains("127.0.0.1/127.0.0.1"))
    }

    @Test func aRecordWithoutMetadataHasAnEmptyObject() throws {
        let lines = Lines()
        let output = lines.output()
        let logger = Logger(label: "plain") { JSONLogHandler(label: $0, output: output, metadataProvider: nil) }
        logger.info("started")
        let record = try Self.record(try #require(lines.all.first))
        #expect((record["metadata"] as? [String: String])?.isEmpty == true)
        #expect(record["message"] as? String == "started")
    }

    @Test func linesLoggedAtOnceFromManyThreadsStayWhole() async throws {
        let lines = Lines()
        let output = lines.output()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let logger = Logger(label: "task-\(task)") {
                        JSONLogHandler(label: $0, output: output, metadataProvider: nil)
                    }
                    for index in 0..<200 { logger.info("line \(index)", metadata: ["task": "\(task)"]) }
                }
            }
        }
        #expect(lines.all.count == 1600)
        for line in lines.all { _ = try Self.record(line) }
    }

    /// A real hub with `--log-format json`: everything on its standard error is a JSON record, from the first line
    /// to the last (its shutdown included).
    @Test func aHubWritesOnlyJSONLinesOnStandardError() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-json-logs")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await HubProcess.start(
            directory: directory + "/data", arguments: ["--log-format", "json", "--log-level", "debug"],
            asOrdinaryUser: true)
        let scoreboard = try await CommandRun.run(
            Executables.reporter, ["scoreboard", "--hub", "127.0.0.1:\(hub.port)"])
        #expect(scoreboard.status == 0, "\(scoreboard.errors)")
        hub.terminate()
        #expect(hub.process.terminationStatus == 0)
        let text = hub.standardError
        #expect(text.hasSuffix("\n"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count > 1, "\(text)")
        for line in lines {
            let record = try Self.record(Data(line.utf8))
            #expect(record["timestamp"] is String && record["level"] is String && record["message"] is String)
            #expect(record["metadata"] is [String: String], "\(line)")
        }
    }

    @Test func aHubThatCannotStartSaysWhyInJSONToo() async throws {
        let run = try await CommandRun.run(
            Executables.resultsHub, ["--log-format", "json", "--port", "0", "--election", "/nonexistent.json"])
        #expect(run.status == 1)
        let lines = run.errors.split(separator: "\n")
        #expect(lines.count == 1)
        let record = try Self.record(Data(try #require(lines.first).utf8))
        #expect(record["level"] as? String == "critical")
        #expect((record["message"] as? String)?.contains("/nonexistent.json") == true)
    }

    @Test func everyExecutableTellsItsVersionAndProtocol() async throws {
        #expect(ResultsHubVersion.currentWithProtocol == "\(ResultsHubVersion.current) (protocol 1)")
        let expected = ResultsHubVersion.currentWithProtocol + "\n"
        let hubLoad = Executables.directory.appendingPathComponent("hub-load").path
        for (binary, arguments) in [
            (Executables.resultsHub, ["--version"]), (Executables.resultsHub, ["serve", "--version"]),
            (Executables.resultsHub, ["desks", "list", "--version"]), (Executables.reporter, ["--version"]),
            (Executables.reporter, ["watch", "--version"]), (hubLoad, ["--version"]),
        ] {
            let run = try await CommandRun.run(binary, arguments)
            #expect(run.status == 0 && run.output == expected, "\(binary) \(arguments): \(run.output)\(run.errors)")
        }
        // Settings in the environment do not get in the way, even wrong ones.
        let run = try await CommandRun.run(
            Executables.resultsHub, ["--version"], environment: ["RESULTS_HUB_PORT": "x"])
        #expect(run.output == expected)
    }
}
