import ElectionDefaults
import ElectionModel
import Foundation
import HubClient
import HubJournal
import HubServer
import HubWire
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real hub on 127.0.0.1 and an ephemeral port, with its journal in a temporary directory.
final class TestHub: Sendable {
    static let election: Election = try! Election.england2023()
    static let nationalToken = "national-token-0123456789"
    static let northWestToken = "north-west-token-0123456789"

    let directory: String
    let port: Int
    let server: HubServer
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func credentials() -> [DeskCredential] {
        [
            DeskCredential(id: "national", token: nationalToken, regions: .all),
            DeskCredential(id: "north-west", token: northWestToken, regions: .some(["north-west"])),
        ]
    }

    static func configuration(directory: String, configure: (inout HubConfiguration) -> Void = { _ in }) throws
        -> HubConfiguration
    {
        var configuration = HubConfiguration(
            election: election, desks: try DeskDirectory(credentials: credentials(), election: election),
            dataDirectory: directory)
        configuration.port = 0
        configure(&configuration)
        return configuration
    }

    /// Starts a hub; `directory` reuses an earlier hub's journal (a restart).
    static func start(
        directory: String? = nil, port: Int = 0, configure: (inout HubConfiguration) -> Void = { _ in },
        store: (@Sendable (HubConfiguration, Logger) async throws -> any EventStore)? = nil, logger: Logger? = nil
    ) async throws -> TestHub {
        let directory =
            directory
            ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("results-hub-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configuration = try configuration(directory: directory) {
            $0.port = port
            configure(&$0)
        }
        let logger =
            logger
            ?? {
                var logger = Logger(label: "test-hub")
                logger.logLevel = .warning
                return logger
            }()
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let server = HubServer(
            configuration: configuration, logger: logger, onServerRunning: { continuation.yield($0) },
            storeFactory: store)
        let group = ServiceGroup(services: [server], logger: logger)
        let task = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next(), let port = address.port else {
            task.cancel()
            throw TestFailure("the hub did not start")
        }
        return TestHub(directory: directory, port: port, server: server, group: group, task: task)
    }

    private init(directory: String, port: Int, server: HubServer, group: ServiceGroup, task: Task<Void, any Error>) {
        self.directory = directory
        self.port = port
        self.server = server
        self.group = group
        self.task = task
    }

    /// Graceful shutdown, as on SIGTERM; returns once the hub has stopped.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func removeFiles() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    var journalPath: String { directory + "/journal.rhj" }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs `body` but fails instead of hanging if it takes longer than `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double = 20, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TestFailure("timed out after \(seconds) s")
        }
        let result = try await group.next()!
        group.cancelAll()
        return result
    }
}

extension Hello {
    static func desk(_ id: String = "national", token: String = TestHub.nationalToken) -> Hello {
        Hello(role: .desk, principal: id, secret: token, clientName: "hub-tests")
    }
    static let subscriber = Hello(role: .subscriber, principal: "graphics", secret: "", clientName: "hub-tests")
}

extension HubSession {
    /// The next message that is not a heartbeat.
    mutating func next() async throws -> HubMessage {
        while true {
            guard let message = try await receive() else { throw HubClientError.connectionLost }
            if case .heartbeat = message { continue }
            return message
        }
    }

    /// Sends every declaration before reading any answer (as a busy desk would), and returns the answers in order.
    mutating func submitPipelined(_ declarations: [Declaration]) async throws -> [HubMessage] {
        for (index, declaration) in declarations.enumerated() {
            try await send(.submit(Submit(requestID: UInt64(index), declaration: declaration)))
        }
        var answers: [HubMessage] = []
        while answers.count < declarations.count { answers.append(try await next()) }
        return answers
    }

    mutating func submit(_ declaration: Declaration, requestID: UInt64) async throws -> HubMessage {
        try await send(.submit(Submit(requestID: requestID, declaration: declaration)))
        return try await next()
    }

    mutating func useElectionCompression() {
        useCompression(dictionary: ElectionDefinition(TestHub.election).presetDictionary)
    }

    /// The preamble of most subscriber tests: inflate with the test election's dictionary, subscribe afresh, and
    /// read the snapshot, which must come first.
    mutating func subscribeForSnapshot(_ filter: SubscriptionFilter = .all) async throws -> Snapshot {
        useElectionCompression()
        try await send(.subscribe(Subscribe(filter: filter, resumeFrom: nil)))
        guard case .snapshot(let snapshot) = try await next() else { throw TestFailure("no snapshot") }
        return snapshot
    }
}

enum Declarations {
    static let desk = DeskIdentity(id: "national", scope: .all)

    static func contest(_ slug: String) -> Contest { TestHub.election.contest(slug: slug)! }

    /// The contest's real 2023 result when the data has one that adds up, else everything to one party.
    static func real(_ slug: String, revision: UInt32 = 1) -> Declaration {
        let contest = contest(slug)
        let seats =
            contest.reference?.seats ?? [PartyCount(party: PartyIndex(0), count: UInt32(contest.totalSeats ?? 1))]
        return Declaration(contestID: contest.id, revision: revision, seats: seats, declaredAt: 1_683_252_871_000)
    }

    static func allTo(_ slug: String, party: String, revision: UInt32 = 1) -> Declaration {
        let contest = contest(slug)
        return Declaration(
            contestID: contest.id, revision: revision,
            seats: [PartyCount(party: TestHub.election.party(code: party)!, count: UInt32(contest.totalSeats ?? 1))],
            declaredAt: 1_683_252_871_000 + UInt64(revision))
    }

    /// Councils whose real seats add up, for bulk submissions.
    static let councils: [String] = TestHub.election.contests.filter { contest in
        contest.kind == .council
            && contest.reference.map { ref in
                ref.seats.reduce(0) { $0 + Int($1.count) } == contest.totalSeats
            } ?? false
    }.map(\.slug)
}

extension FileJournal {
    /// The journal a hub with this configuration opens.
    static func open(for configuration: HubConfiguration, logger: Logger) async throws -> FileJournal {
        try await open(
            directory: configuration.dataDirectory,
            electionDigest: ElectionDefinition(configuration.election).digest, logger: logger)
    }
}
