import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import NIOCore
import NIOPosix
import Testing

@Suite("Hub over real TCP", .serialized)
struct HubServerTests {
    @Test func aSubmissionReachesASubscriberAfterItsAck() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot()
                #expect(snapshot.sequence == 0)
                #expect(snapshot.records.isEmpty)
                var replica = Replica()
                try replica.apply(snapshot)

                let ack = try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                    try await desk.submit(Declarations.real("swindon"), requestID: 7)
                }
                guard case .ack(let accepted) = ack else { throw TestFailure("expected an ack, got \(ack)") }
                #expect(accepted.requestID == 7)
                #expect(accepted.sequence == 1)
                #expect(accepted.duplicate == false)
                #expect(accepted.outcome == .gain)
                #expect(accepted.control == .party(TestHub.election.party(code: "LAB")!))

                guard case .deltaBatch(let batch) = try await subscriber.next() else { throw TestFailure("no delta") }
                #expect(batch.firstSequence == 1)
                #expect(batch.lastSequence == 1)
                #expect(batch.events.map(\.record.contestID) == [Declarations.contest("swindon").id])
                try replica.apply(batch)
                #expect(replica.sequence == 1)
            }
        }
        try await hub.stop()
    }

    @Test func resubmissionIsAckedAgainWithTheOriginalSequence() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                guard case .ack(let first) = try await desk.submit(Declarations.real("bromsgrove"), requestID: 1),
                    case .ack(let second) = try await desk.submit(Declarations.real("swindon"), requestID: 2),
                    case .ack(let again) = try await desk.submit(Declarations.real("bromsgrove"), requestID: 3)
                else { throw TestFailure("expected acks") }
                #expect(first.sequence == 1)
                #expect(second.sequence == 2)
                #expect(again.sequence == 1)
                #expect(again.duplicate)
                #expect(again.requestID == 3)
                #expect(first.control == .noOverallControl, "no overall control in Bromsgrove")
                #expect(first.outcome == .lostToNoOverallControl, "the Conservatives held it before")
                // A correction is a new event.
                guard
                    case .ack(let correction) = try await desk.submit(
                        Declarations.allTo("bromsgrove", party: "CON", revision: 2), requestID: 4)
                else { throw TestFailure("expected an ack") }
                #expect(correction.sequence == 3)
                #expect(correction.duplicate == false)
            }
        }
        try await hub.stop()
    }

    @Test func everyRejectionNamesTheProblem() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            let swindon = Declarations.contest("swindon")
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                func rejection(_ declaration: Declaration) async throws -> Reject {
                    guard case .reject(let reject) = try await desk.submit(declaration, requestID: 99) else {
                        throw TestFailure("expected a rejection")
                    }
                    return reject
                }
                var unknown = Declarations.real("swindon")
                unknown.contestID = ContestID(9999)
                var reject = try await rejection(unknown)
                #expect(reject.code == .unknownContest)
                #expect(reject.message.contains("9999"))

                var short = Declarations.real("swindon")
                short.seats[0].count -= 1
                reject = try await rejection(short)
                #expect(reject.code == .seatsDoNotAddUp)
                #expect(
                    reject.message
                        == "swindon: seats add up to \(swindon.totalSeats! - 1), but the council has \(swindon.totalSeats!) seats"
                )

                var party = Declarations.real("swindon")
                party.seats.append(PartyCount(party: PartyIndex(500), count: 0))
                reject = try await rejection(party)
                #expect(reject.code == .unknownParty)

                var twice = Declarations.real("swindon")
                twice.seats.append(twice.seats[0])
                reject = try await rejection(twice)
                #expect(reject.code == .invalidDeclaration)

                guard case .ack = try await desk.submit(Declarations.real("swindon", revision: 2), requestID: 1) else {
                    throw TestFailure("expected an ack")
                }
                reject = try await rejection(Declarations.allTo("swindon", party: "CON", revision: 2))
                #expect(reject.code == .revisionConflict)
                reject = try await rejection(Declarations.allTo("swindon", party: "CON", revision: 1))
                #expect(reject.code == .staleRevision)
                #expect(reject.message.contains("current revision is 2"))

                try await desk.send(
                    .withdraw(
                        WithdrawRequest(
                            requestID: 5,
                            withdrawal: Withdrawal(
                                contestID: Declarations.contest("arun").id, revision: 1, withdrawnAt: 1, reason: ""))))
                guard case .reject(let nothing) = try await desk.next() else {
                    throw TestFailure("expected a rejection")
                }
                #expect(nothing.code == .nothingToWithdraw)
            }
            // A desk outside its region.
            try await HubSession.connect(
                host: "127.0.0.1", port: hub.port, hello: .desk("north-west", token: TestHub.northWestToken)
            ) { desk in
                guard case .reject(let reject) = try await desk.submit(Declarations.real("swindon"), requestID: 3)
                else {
                    throw TestFailure("expected a rejection")
                }
                #expect(reject.code == .deskNotAllowed)
                #expect(reject.message == "desk north-west may not submit for swindon, which is in region south-west")
            }
            // A wrong token: goodbye at the handshake.
            do {
                try await HubSession.connect(
                    host: "127.0.0.1", port: hub.port, hello: .desk(token: "wrong-token-0123456789")
                ) { _ in }
                Issue.record("a wrong token was accepted")
            } catch let HubClientError.closedByHub(goodbye) {
                #expect(goodbye.code == .authenticationFailed)
                #expect(!goodbye.message.contains("wrong-token"))
            }
            // A subscriber cannot submit.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                guard case .reject(let reject) = try await subscriber.submit(Declarations.real("arun"), requestID: 4)
                else {
                    throw TestFailure("expected a rejection")
                }
                #expect(reject.code == .unexpectedMessage)
            }
        }
        try await hub.stop()
    }

    @Test func subscriberKeysWhenConfigured() async throws {
        let hub = try await TestHub.start {
            $0.subscriberKeys = try? SubscriberKeys(entries: [
                .init(name: "bbc-graphics", key: "bbc-key-0123456789abcdef")
            ])
        }
        defer { hub.removeFiles() }
        try await withTimeout {
            for (name, key) in [("bbc-graphics", "wrong-key-0123456789"), ("unknown", "bbc-key-0123456789abcdef")] {
                do {
                    try await HubSession.connect(
                        host: "127.0.0.1", port: hub.port,
                        hello: Hello(role: .subscriber, principal: name, secret: key, clientName: "tests")
                    ) { _ in }
                    Issue.record("\(name) was let in with a wrong key")
                } catch let HubClientError.closedByHub(goodbye) {
                    #expect(goodbye.code == .authenticationFailed)
                    #expect(!goodbye.message.contains(key))
                }
            }
            try await HubSession.connect(
                host: "127.0.0.1", port: hub.port,
                hello: Hello(
                    role: .subscriber, principal: "bbc-graphics", secret: "bbc-key-0123456789abcdef",
                    clientName: "tests")
            ) { session in
                #expect(session.welcome.version == 1)
            }
        }
        try await hub.stop()
    }

    @Test func resumeAfterADisconnectMissesNothing() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let councils = Array(Declarations.councils.prefix(40))
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for (index, slug) in councils.prefix(10).enumerated() {
                    _ = try await desk.submit(Declarations.real(slug), requestID: UInt64(index))
                }
            }
            // Subscribe, read a little, disconnect.
            var replica = Replica()
            replica = try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) {
                subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot()
                var replica = Replica()
                try replica.apply(snapshot)
                return replica
            }
            #expect(replica.sequence == 10)
            // While it is away: new declarations and a correction and a withdrawal.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for (index, slug) in councils.dropFirst(10).enumerated() {
                    _ = try await desk.submit(Declarations.real(slug), requestID: UInt64(index))
                }
                _ = try await desk.submit(Declarations.allTo(councils[0], party: "LD", revision: 2), requestID: 100)
                try await desk.send(
                    .withdraw(
                        WithdrawRequest(
                            requestID: 101,
                            withdrawal: Withdrawal(
                                contestID: Declarations.contest(councils[1]).id, revision: 2, withdrawnAt: 5,
                                reason: "recount"))))
                guard case .ack(let withdrawn) = try await desk.next() else { throw TestFailure("no ack") }
                #expect(withdrawn.status == .withdrawn)
                #expect(withdrawn.sequence == 42)
            }
            let resumed = replica
            let final = try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) {
                subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: resumed.sequence)))
                var replica = resumed
                var seen: [UInt64] = []
                while replica.sequence < 42 {
                    guard case .deltaBatch(let batch) = try await subscriber.next() else {
                        throw TestFailure("expected deltas")
                    }
                    seen += batch.events.map(\.sequence)
                    try replica.apply(batch)
                }
                #expect(seen == Array(11...42), "exactly the events after 10, once each")
                return replica
            }
            // The copy's checksum equals the hub's, as a fresh snapshot says.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot()
                #expect(snapshot.sequence == 42)
                #expect(snapshot.checksum == final.checksum.value)
            }
        }
        try await hub.stop()
    }

    @Test func aRestartReplaysEveryAckedDeclaration() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let councils = Array(Declarations.councils.prefix(25))
        let acked = try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                var acked: [ContestID: UInt64] = [:]
                for (index, slug) in councils.enumerated() {
                    guard case .ack(let ack) = try await desk.submit(Declarations.real(slug), requestID: UInt64(index))
                    else {
                        throw TestFailure("expected an ack")
                    }
                    acked[ack.contestID] = ack.sequence
                }
                return acked
            }
        }
        try await hub.stop()

        let restarted = try await TestHub.start(directory: hub.directory)
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: restarted.port, hello: .subscriber) { subscriber in
                #expect(subscriber.welcome.latestSequence == UInt64(councils.count))
                let snapshot = try await subscriber.subscribeForSnapshot()
                #expect(Set(snapshot.records.map(\.contestID)) == Set(acked.keys))
                var replica = Replica()
                try replica.apply(snapshot)
            }
            // Idempotency survives the restart.
            try await HubSession.connect(host: "127.0.0.1", port: restarted.port, hello: .desk()) { desk in
                guard case .ack(let again) = try await desk.submit(Declarations.real(councils[3]), requestID: 1) else {
                    throw TestFailure("expected an ack")
                }
                #expect(again.duplicate)
                #expect(again.sequence == acked[Declarations.contest(councils[3]).id])
            }
        }
        try await restarted.stop()
    }

    @Test func aTornJournalTailIsDroppedAndTheRestServed() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for (index, slug) in Declarations.councils.prefix(5).enumerated() {
                    _ = try await desk.submit(Declarations.real(slug), requestID: UInt64(index))
                }
            }
        }
        try await hub.stop()
        // As if the hub crashed while writing its last record, before acking it: the record is cut short.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: hub.journalPath))
        let size = try handle.seekToEnd()
        try handle.truncate(atOffset: size - 3)
        try handle.close()

        let restarted = try await TestHub.start(directory: hub.directory)
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: restarted.port, hello: .desk()) { desk in
                #expect(desk.welcome.latestSequence == 4)
                // The torn record was never acked, so the desk's retry is a new event with the next sequence number.
                guard
                    case .ack(let retry) = try await desk.submit(
                        Declarations.real(Declarations.councils[4]), requestID: 9)
                else {
                    throw TestFailure("expected an ack")
                }
                #expect(retry.sequence == 5)
            }
        }
        try await restarted.stop()
    }

    @Test func gracefulShutdownSaysGoodbye() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                guard case .snapshot = try await subscriber.next() else { throw TestFailure("no snapshot") }
                async let stopped: Void = hub.stop()
                guard case .goodbye(let goodbye) = try await subscriber.next() else { throw TestFailure("no goodbye") }
                #expect(goodbye.code == .shuttingDown)
                try await stopped
            }
        }
    }

    @Test func foreignProtocolsGetAClearAnswer() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            let http = try await RawConnection.exchange(
                port: hub.port, send: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(String(decoding: http, as: UTF8.self).hasPrefix("HTTP/1.1 400 Bad Request"))
            let tls = try await RawConnection.exchange(
                port: hub.port, send: [0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 0])
            #expect(tls == ForeignProtocolAnswer.tlsAlert)
            let huge = try await RawConnection.goodbye(port: hub.port, after: [0x00, 0x00, 0xFF, 0xFF, 0x01, 0x00])
            #expect(huge.code == .frameTooLarge)
        }
        try await hub.stop()
    }
}

/// Sends raw bytes and collects everything the hub answers until it closes the connection.
enum RawConnection {
    /// The GOODBYE the hub sends to `bytes` sent on a fresh connection.
    static func goodbye(port: Int, after bytes: [UInt8]) async throws -> Goodbye {
        let answer = try await exchange(port: port, send: bytes)
        var buffer = ByteBuffer(bytes: answer)
        var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
        let codec = FrameCodec()
        while let frame = try decoder.decode(buffer: &buffer) {
            if case .goodbye(let goodbye) = try codec.decode(frame) { return goodbye }
        }
        throw TestFailure("no GOODBYE in \(answer.count) bytes")
    }

    static func exchange(port: Int, send bytes: [UInt8]) async throws -> [UInt8] {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            // The hub may already have answered and closed (a timeout, a refusal): what it sent is still read.
            if !bytes.isEmpty { try? await outbound.write(ByteBuffer(bytes: bytes)) }
            var received: [UInt8] = []
            do {
                for try await chunk in inbound { received += chunk.readableBytesView }
            } catch {
                // A reset after the hub's answer: keep what arrived.
            }
            return received
        }
    }
}

extension RawConnection {
    /// A connection that says HELLO and then may write any bytes at all, for tests that speak to the hub out of
    /// turn: `sendRaw` writes bytes as they are, `send` a well-formed message, `next` reads the next message that is
    /// not a heartbeat.
    struct Session {
        fileprivate var inbound: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
        fileprivate let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        private let codec = FrameCodec()

        func sendRaw(_ bytes: ByteBuffer) async throws {
            try await outbound.write(bytes)
        }

        func send(_ message: HubMessage) async throws {
            try await outbound.write(codec.encode(message))
        }

        mutating func next() async throws -> HubMessage {
            while let frame = try await inbound.next() {
                let message = try codec.decode(frame)
                if case .heartbeat = message { continue }
                return message
            }
            throw HubClientError.connectionLost
        }
    }

    /// Connects, says HELLO, checks the WELCOME, and runs `body`; the connection is closed when `body` returns.
    static func session<Result: Sendable>(
        port: Int, hello: Hello, _ body: (inout Session) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(
                            FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)))
                    return try NIOAsyncChannel<Frame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var session = Session(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            try await session.send(.hello(hello))
            guard case .welcome = try await session.next() else { throw TestFailure("no WELCOME") }
            return try await body(&session)
        }
    }
}
