import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import Logging
import NIOCore
import Testing

@Suite("Client library", .serialized)
struct ClientLibraryTests {
    var logger: Logger {
        var logger = Logger(label: "client-tests")
        logger.logLevel = .critical
        return logger
    }

    @Test func aDeskGetsAcksAndTypedRejections() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), deskID: "national", token: TestHub.nationalToken,
            logger: logger)
        try await withTimeout {
            // Concurrent submissions on one connection are matched to their answers.
            let slugs = Array(Declarations.councils.prefix(20))
            let acks = try await withThrowingTaskGroup(of: Ack.self) { group in
                for slug in slugs { group.addTask { try await desk.submit(Declarations.real(slug)) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(acks.map(\.sequence)) == Set(1...20))
            do {
                _ = try await desk.submit(Declarations.allTo(slugs[0], party: "GRN", revision: 1))
                Issue.record("a conflicting revision was accepted")
            } catch let rejection as HubRejection {
                #expect(rejection.code == .revisionConflict)
                #expect(rejection.message.contains(slugs[0]))
            }
            let board = try await desk.scoreboard()
            #expect(board.contestsDeclared == 20)
            let election = try await desk.election()
            #expect(election.contests.count == 234)
        }
        await desk.close()
        try await hub.stop()
    }

    @Test func aSubscriberFollowsAcrossAHubRestartAndMatchesTheHub() async throws {
        let port = try freePort()
        let hub = try await TestHub.start(port: port)
        defer { hub.removeFiles() }
        var client = SubscriberClient(
            address: HubAddress(host: "127.0.0.1", port: port), name: "graphics", logger: logger)
        client.initialBackoff = .milliseconds(50)
        let updates = client.updates()
        let slugs = Array(Declarations.councils.prefix(30))
        let final = try await withTimeout(30) {
            var iterator = updates.makeAsyncIterator()
            guard let first = try await iterator.next(), case .snapshot = first.kind else {
                throw TestFailure("no snapshot")
            }
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(slugs.prefix(15).map { Declarations.real($0) })
            }
            var replica = first.replica
            while replica.sequence < 15 { replica = try await iterator.next()!.replica }
            try await hub.stop()
            let restarted = try await TestHub.start(directory: hub.directory, port: port)
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(slugs.dropFirst(15).map { Declarations.real($0) })
            }
            var sawSnapshotAgain = false
            while replica.sequence < 30 {
                let update = try await iterator.next()!
                if case .snapshot = update.kind { sawSnapshotAgain = true }
                replica = update.replica
            }
            #expect(!sawSnapshotAgain, "it resumed from its sequence rather than starting over")
            try await restarted.stop()
            return replica
        }
        #expect(final.records.count == 30)
    }

    /// Requests sent together go out in one write, in order: revisions 1, 2 and 3 of one contest in one batch are
    /// each accepted (none is stale), and the answers come back in the order given, matched by request id.
    @Test func requestsSentTogetherArriveInOrderAndAreAnsweredInOrder() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let address = HubAddress(host: "127.0.0.1", port: hub.port)
        try await withTimeout {
            try await HubConnection.connect(to: address, hello: .desk(), logger: logger) { connection, _ in
                let (first, second) = (Declarations.councils[0], Declarations.councils[1])
                let declarations = [
                    Declarations.real(first, revision: 1), Declarations.allTo(first, party: "LAB", revision: 2),
                    Declarations.real(first, revision: 3), Declarations.real(second),
                ]
                let pending = try await connection.send(
                    declarations.map { declaration in { .submit(Submit(requestID: $0, declaration: declaration)) } })
                #expect(pending.count == 4)
                let answers = try await pending.answers()
                let acks = answers.compactMap { answer -> Ack? in
                    if case .ack(let ack) = answer { return ack }
                    return nil
                }
                #expect(acks.count == 4, "\(answers)")
                #expect(acks.map(\.sequence) == [1, 2, 3, 4])
                #expect(acks.map(\.revision) == [1, 2, 3, 1])
                #expect(acks.allSatisfy { !$0.duplicate })
                let again = try await connection.send([
                    { .submit(Submit(requestID: $0, declaration: declarations[3])) }
                ]).answers()
                guard case .ack(let duplicate) = again.first else { throw TestFailure("no ack: \(again)") }
                #expect(duplicate.duplicate && duplicate.sequence == 4)
            }
        }
        try await hub.stop()
    }

    /// Each message comes with its frame's size on the wire: for a compressed batch, what the hub's codec makes of it.
    @Test func eventsCarryTheirFramesSizeOnTheWire() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let address = HubAddress(host: "127.0.0.1", port: hub.port)
        try await withTimeout {
            try await HubConnection.connect(to: address, hello: .subscriber, logger: logger) { connection, events in
                #expect(connection.welcome.compression != .none)
                let dictionary = ElectionDefinition(TestHub.election).presetDictionary
                connection.useCompression(dictionary: dictionary)
                try await connection.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                    _ = try await desk.submitPipelined(Declarations.councils.prefix(5).map { Declarations.real($0) })
                }
                let codec = FrameCodec(format: connection.welcome.compression, dictionary: dictionary)
                var delivered = 0
                for try await event in events {
                    guard case .message(let message, let frameBytes) = event else { continue }
                    if case .deltaBatch(let batch) = message {
                        #expect(frameBytes == codec.encode(message).readableBytes)
                        delivered += batch.events.count
                    }
                    if delivered == 5 { break }
                }
                #expect(delivered == 5)
            }
        }
        try await hub.stop()
    }
}
