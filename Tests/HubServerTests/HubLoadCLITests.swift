import ElectionModel
import Foundation
import HubClient
import HubPostgres
import HubServer
import HubWire
import Testing

/// `hub-load` against a hub that is not its own.
@Suite("hub-load CLI", .serialized)
struct HubLoadCLITests {
    static var binary: String { Executables.directory.appendingPathComponent("hub-load").path }

    /// It wrote 73 made-up results into a hub that had real ones (watchers saw "Boston: BI gain from NOC"). Now it
    /// refuses before submitting anything, unless --force.
    @Test func aHubThatHoldsResultsIsRefusedBeforeAnythingIsSubmitted() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
            guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                throw TestFailure("no ack")
            }
        }
        let run = try await CommandRun.run(
            Self.binary,
            ["night", "--speed", "3600", "--hub", "127.0.0.1:\(hub.port)", "--token", TestHub.nationalToken])
        #expect(run.status != 0)
        #expect(run.errors.contains("already holds 1 events"), "\(run.errors)")
        #expect(run.errors.contains("--force"))
        #expect(try await hub.server.statistics().latestSequence == 1, "nothing was submitted")
        try await hub.stop()
    }

    /// An empty hub is loaded; its output is not a terminal, so the progress comes as whole lines, without `\r`.
    @Test func anEmptyHubIsLoadedWithPlainProgressLines() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let run = try await CommandRun.run(
            Self.binary,
            [
                "saturate", "--duration", "6s", "--desks", "1", "--subscribers", "1", "--pipeline", "4",
                "--max-declarations", "5000", "--hub", "127.0.0.1:\(hub.port)", "--token", TestHub.nationalToken,
            ])
        #expect(run.status == 0, "\(run.errors)")
        #expect(!run.errors.contains("\r"))
        #expect(run.output.contains("verified"))
        try await hub.stop()
    }

    /// `hub-load web` as an ordinary user: event streams on results-web while the night is replayed into the hub;
    /// every stream gets every change event once, in order, and ends on the same state. 100 streams here; `.ci/run`
    /// runs it with 1,000 after the tests, on its own, so that its load does not disturb the timing of others.
    @Test func eventStreamsEachReceiveEveryEventOfANight() async throws {
        let directory = try OrdinaryUser.makeDirectory("hub-load-web")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reportPath = directory + "/report.json"
        let run = try await CommandRun.run(
            Self.binary, ["web", "--clients", "100", "--speed", "2880", "--report", reportPath], asOrdinaryUser: true)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("verified      every stream received every change event once"), "\(run.output)")
        let data = try Data(contentsOf: URL(fileURLWithPath: reportPath))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let events = object?["events"] as? Int ?? 0
        #expect(events >= TestHub.election.contests.count)
        #expect(object?["deliveries"] as? Int == events * 100)
    }

    /// Hubs on PostgreSQL with relays, the leader killed during the load, then one hub with its file journal: both
    /// loaded, both verified.
    @Test func aClusterAndAFileJournalAreLoadedInOneRun() async throws {
        let (server, password) = try TestPostgres.server()
        let directory = try OrdinaryUser.makeDirectory("hub-load-cluster")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reportPath = directory + "/report.json"
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = password
        let run = try await CommandRun.run(
            Self.binary,
            [
                "cluster", "--store", server.description, "--followers", "1", "--relays", "1", "--desks", "2",
                "--subscribers", "2", "--duration", "3s", "--max-declarations", "3000", "--kill-leader-after", "1s",
                "--report", reportPath,
            ], environment: environment, asOrdinaryUser: true)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(run.output.contains("verified: cluster yes, file journal yes"), "\(run.output)")
        // The leader was killed a second in; the desks went on at the follower, and every ack was verified.
        #expect(run.output.contains("the leader was killed (kill -9) during the load"), "\(run.output)")
        let data = try Data(contentsOf: URL(fileURLWithPath: reportPath))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let cluster = object?["cluster"] as? [String: Any]
        #expect((cluster?["declarationsAccepted"] as? Int ?? 0) > 0)
        #expect(cluster?["verified"] as? Bool == true)
        #expect((cluster?["takeoverSeconds"] as? Double ?? 0) > 0)
        #expect((object?["fileJournal"] as? [String: Any])?["verified"] as? Bool == true)
    }
}
