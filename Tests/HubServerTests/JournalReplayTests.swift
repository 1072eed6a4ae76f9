import ElectionModel
import Foundation
import HubJournal
import HubServer
import HubWire
import Logging
import Testing

/// The hub replays the journal entry by entry as recovery reads it; an entry it cannot replay stops the start with a
/// journal error naming the entry's sequence.
@Suite("Journal replay at start")
struct JournalReplayTests {
    @Test func anEntryTheElectionCannotReplayStopsTheStartNamingItsSequence() async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("results-hub-replay-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = try TestHub.configuration(directory: directory)
        let known = try #require(TestHub.election.contests.first)
        let unknown = ContestID(4_000_000_001)
        #expect(TestHub.election.contest(unknown) == nil)
        let withdrawn = ContestRecord.State.withdrawn(WithdrawnResult(withdrawnAt: 1, deskID: "national", reason: ""))
        let journal = try await FileJournal.open(
            directory: directory, electionDigest: ElectionDefinition(TestHub.election).digest,
            logger: Logger(label: "test"))
        _ = try await journal.recover(into: ()) { _, _ in }
        try await journal.append([
            JournalEntry(sequence: 1, record: ContestRecord(contestID: known.id, revision: 1, state: withdrawn)),
            JournalEntry(sequence: 2, record: ContestRecord(contestID: unknown, revision: 1, state: withdrawn)),
        ])
        try await journal.close()

        var logger = Logger(label: "test-hub")
        logger.logLevel = .critical
        let server = HubServer(configuration: configuration, logger: logger)
        let error = await #expect(throws: JournalError.self) { try await server.run() }
        guard case .replayFailed(2, let reason) = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(reason.contains("unknown contest 4000000001"))
    }
}
