import Foundation
import HubClient
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
}
