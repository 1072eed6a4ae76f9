import ElectionModel
import Foundation
import HubClient
import HubJournal
import HubServer
import HubWire
import Logging
import Synchronization
import Testing

/// `rm hub-data/journal.rhj` (or a file renamed over it) while the hub runs: the hub must stop acknowledging, since a
/// restart would not read what it writes, and say why; it keeps serving what it has.
@Suite("Journal deleted or replaced under a running hub", .serialized)
struct JournalReplacedTests {
    /// Keeps the journal's log lines, so that the test can check the one line that explains the rejections.
    final class JournalLog: Sendable {
        private let storage = Mutex<[(level: Logger.Level, message: String)]>([])
        var lines: [(level: Logger.Level, message: String)] { storage.withLock { $0 } }

        var logger: Logger {
            Logger(label: "journal") { _ in Handler(log: self) }
        }

        struct Handler: LogHandler {
            let log: JournalLog
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace
            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }
            func log(event: LogEvent) {
                log.storage.withLock { $0.append((event.level, event.message.description)) }
            }
        }
    }

    private func startHub(log: JournalLog) async throws -> TestHub {
        try await TestHub.start(store: { configuration, _ in
            try await FileJournal.open(
                directory: configuration.dataDirectory,
                electionDigest: ElectionDefinition(configuration.election).digest, logger: log.logger)
        })
    }

    @Test func submissionsAfterTheJournalIsDeletedAreRejectedAsStoreUnavailable() async throws {
        let log = JournalLog()
        let hub = try await startHub(log: log)
        defer { hub.removeFiles() }
        let port = hub.port
        let journalPath = hub.journalPath
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                guard case .ack(let first) = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                    throw TestFailure("no ack")
                }
                #expect(first.sequence == 1)
                try FileManager.default.removeItem(atPath: journalPath)

                let expected = JournalError.journalDeleted(path: journalPath).description
                for requestID: UInt64 in [2, 3] {
                    guard
                        case .reject(let reject) = try await desk.submit(
                            Declarations.real("arun"), requestID: requestID)
                    else {
                        throw TestFailure("acked into a journal that is no longer at its path")
                    }
                    #expect(reject.code == .storeUnavailable)
                    #expect(reject.message.contains(expected), "the rejection says why: \(reject.message)")
                }
                // Still serving what it has: queries answer, and the rejected event never happened.
                try await desk.send(.query(Query(requestID: 4, kind: .scoreboard)))
                guard case .scoreboard(let board) = try await desk.next() else { throw TestFailure("no scoreboard") }
                #expect(board.scoreboard.sequence == 1)
                #expect(board.scoreboard.contestsDeclared == 1)
            }
        }
        let journalLines = log.lines.filter { $0.level >= .error }
        #expect(journalLines.count == 1, "one line from the journal, when it is detected")
        #expect(
            journalLines.first?.message.contains(JournalError.journalDeleted(path: journalPath).description) == true)
        #expect(!FileManager.default.fileExists(atPath: journalPath), "nothing was written to the path behind it")
        try await hub.stop()
    }

    @Test func submissionsAfterAFileIsRenamedOverTheJournalAreRejected() async throws {
        let hub = try await startHub(log: JournalLog())
        defer { hub.removeFiles() }
        let port = hub.port
        let journalPath = hub.journalPath
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                    throw TestFailure("no ack")
                }
                // A copy of the journal renamed over it, as a careless restore from a backup would do.
                let copy = try Data(contentsOf: URL(fileURLWithPath: journalPath))
                try copy.write(to: URL(fileURLWithPath: journalPath + ".copy"))
                #expect(rename(journalPath + ".copy", journalPath) == 0)
                guard case .reject(let reject) = try await desk.submit(Declarations.real("arun"), requestID: 2) else {
                    throw TestFailure("acked into a journal that was replaced")
                }
                #expect(reject.code == .storeUnavailable)
                #expect(reject.message.contains(JournalError.journalReplaced(path: journalPath).description))
            }
        }
        try await hub.stop()
    }
}
