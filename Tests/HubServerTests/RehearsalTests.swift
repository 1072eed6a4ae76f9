import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import NIOHTTP1
import Testing

/// Rehearsal mode (spec 6.17): a rehearsal hub marks every message that carries results, its data directory is its
/// own, `reporter` says TEST on every output, and results-web marks every payload.
@Suite("Rehearsal", .serialized)
struct RehearsalTests {
    @Test func aRehearsalHubMarksEveryMessageThatCarriesResultsAndALiveHubNone() async throws {
        for rehearsal in [true, false] {
            let hub = try await TestHub.start { $0.rehearsal = rehearsal }
            defer { hub.removeFiles() }
            try await withTimeout {
                try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                    #expect(subscriber.welcome.rehearsal == rehearsal)
                    let snapshot = try await subscriber.subscribeForSnapshot()
                    #expect(snapshot.rehearsal == rehearsal)
                    try await ResultsWebTests.submit([Declarations.real("swindon")], to: hub)
                    guard case .deltaBatch(let batch) = try await subscriber.next() else {
                        throw TestFailure("expected a delta batch")
                    }
                    #expect(batch.rehearsal == rehearsal)
                }
                try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                    #expect(desk.welcome.rehearsal == rehearsal)
                    try await desk.send(.query(Query(requestID: 1, kind: .scoreboard)))
                    guard case .scoreboard(let scoreboard) = try await desk.next() else {
                        throw TestFailure("expected a scoreboard")
                    }
                    #expect(scoreboard.rehearsal == rehearsal)
                    #expect(scoreboard.scoreboard.contestsDeclared == 1)
                    try await desk.send(.query(Query(requestID: 2, kind: .contest(Declarations.contest("swindon").id))))
                    guard case .contest(let contest) = try await desk.next() else {
                        throw TestFailure("expected a contest")
                    }
                    #expect(contest.rehearsal == rehearsal)
                }
            }
            try await hub.stop()
        }
    }

    @Test func aRehearsalAndTheLiveNightNeverShareADataDirectory() async throws {
        let live = try OrdinaryUser.makeDirectory("results-hub-live")
        let rehearsal = try OrdinaryUser.makeDirectory("results-hub-rehearsal")
        defer {
            try? FileManager.default.removeItem(atPath: live)
            try? FileManager.default.removeItem(atPath: rehearsal)
        }
        // A live hub's journal; then a rehearsal pointed at it is refused, and writes nothing there.
        let liveHub = try await HubProcess.start(directory: live, asOrdinaryUser: true)
        liveHub.terminate()
        let refused = try await CommandRun.run(
            Executables.resultsHub, ["--rehearsal", "--port", "0", "--admin-port", "0", "--data", live],
            asOrdinaryUser: true)
        #expect(refused.status != 0)
        #expect(refused.errors.contains("holds a live journal; a rehearsal cannot use it"))
        #expect(!FileManager.default.fileExists(atPath: live + "/REHEARSAL"))

        // A rehearsal's directory is marked; the live hub refuses it.
        let rehearsalHub = try await HubProcess.start(
            directory: rehearsal, arguments: ["--rehearsal"], asOrdinaryUser: true)
        rehearsalHub.terminate()
        #expect(FileManager.default.fileExists(atPath: rehearsal + "/REHEARSAL"))
        let liveRefused = try await CommandRun.run(
            Executables.resultsHub, ["--port", "0", "--admin-port", "0", "--data", rehearsal], asOrdinaryUser: true)
        #expect(liveRefused.status != 0)
        #expect(liveRefused.errors.contains("holds a rehearsal's test data"))
        // And the rehearsal starts again on its own directory.
        let again = try await HubProcess.start(directory: rehearsal, arguments: ["--rehearsal"], asOrdinaryUser: true)
        again.terminate()
    }

    @Test func reporterSaysTestOnEveryOutputOfARehearsalHub() async throws {
        let hub = try await TestHub.start { $0.rehearsal = true }
        defer { hub.removeFiles() }
        let submit = try await ReporterCLITests.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"], port: hub.port)
        #expect(submit.status == 0)
        #expect(submit.output.hasPrefix("TEST  swindon: accepted as sequence 1"))
        let table = try await ReporterCLITests.reporter(["scoreboard"], port: hub.port, desk: false)
        #expect(table.status == 0)
        let lines = table.output.split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.hasPrefix("TEST") })
        let json = try await ReporterCLITests.reporter(["scoreboard", "--json"], port: hub.port, desk: false)
        let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        #expect(object?["rehearsal"] as? Bool == true)
        #expect(object?["contestsDeclared"] as? Int == 1)
        let contests = try await ReporterCLITests.reporter(["contests", "--json"], port: hub.port, desk: false)
        let list = try JSONSerialization.jsonObject(with: Data(contests.output.utf8)) as? [[String: Any]]
        #expect(list?.count == TestHub.election.contests.count)
        #expect(list?.allSatisfy { $0["rehearsal"] as? Bool == true } == true)

        // A live hub's output is unmarked.
        let liveHub = try await TestHub.start()
        defer { liveHub.removeFiles() }
        let live = try await ReporterCLITests.reporter(["scoreboard"], port: liveHub.port, desk: false)
        #expect(!live.output.contains("TEST"))
        try await liveHub.stop()
        try await hub.stop()
    }

    @Test func resultsWebMarksEveryPayloadOfARehearsal() async throws {
        let hub = try await TestHub.start { $0.rehearsal = true }
        defer { hub.removeFiles() }
        let web = try await TestWeb.start(hubPort: hub.port)
        try await withTimeout(60) {
            try await web.waitForSequence(0)
            try await ResultsWebTests.submit([Declarations.real("swindon")], to: hub)
            try await web.waitForSequence(1)
            for path in ["/v1/scoreboard", "/v1/contests", "/v1/contests/swindon", "/v1/election"] {
                let answer = try await HTTPTestClient.get(port: web.port, path)
                #expect(try ResultsWebTests.json(answer.body)["rehearsal"] as? Bool == true, "\(path)")
                #expect(answer.headers.first(name: "ETag")?.contains("rehearsal") == true, "\(path)")
            }
            let resync = try await HTTPTestClient.stream(port: web.port, "/v1/stream") { _, body in
                _ = try await body.nextEvent()
                return try #require(try await body.nextEvent())
            }
            #expect(resync.json["rehearsal"] as? Bool == true)
        }
        try await web.stop()
        try await hub.stop()
    }
}
