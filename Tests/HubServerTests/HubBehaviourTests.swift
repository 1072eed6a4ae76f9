import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import NIOCore
import NIOPosix
import Testing

@Suite("Hub timeouts, filters, queries and slow subscribers", .serialized)
struct HubBehaviourTests {
    @Test func aSilentConnectionIsClosedAfterTheHandshakeTimeout() async throws {
        let hub = try await TestHub.start { $0.handshakeTimeout = .milliseconds(200) }
        defer { hub.removeFiles() }
        try await withTimeout {
            let goodbye = try await RawConnection.goodbye(port: hub.port, after: [])
            #expect(goodbye.code == .handshakeTimeout)
        }
        try await hub.stop()
    }

    @Test func idlePeersGetHeartbeatsAndSilentOnesAreDropped() async throws {
        // 500 ms, not less: the hub drops a peer silent for 3 intervals, and on a busy machine the test's own
        // SUBMIT after the handshake can take longer than 300 ms to go out.
        let hub = try await TestHub.start { $0.heartbeatInterval = .milliseconds(500) }
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                _ = try await desk.submit(Declarations.real("swindon"), requestID: 1)
                var heartbeats: [UInt64] = []
                while true {
                    guard let message = try await desk.receive() else { throw TestFailure("closed without goodbye") }
                    switch message {
                    case .heartbeat(let heartbeat): heartbeats.append(heartbeat.sequence)
                    case .goodbye(let goodbye):
                        #expect(goodbye.code == .idleTimeout)
                        #expect(!heartbeats.isEmpty, "heartbeats came while the desk was idle")
                        #expect(heartbeats.allSatisfy { $0 == 1 }, "each carries the latest sequence")
                        return
                    default: throw TestFailure("unexpected \(message)")
                    }
                }
            }
        }
        try await hub.stop()
    }

    @Test func queriesAnswerTheScoreboardAContestAndTheElection() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(
                    ["swindon", "bromsgrove", "mayor-of-bedford"].map { Declarations.real($0) })
                try await desk.send(.query(Query(requestID: 1, kind: .scoreboard)))
                guard case .scoreboard(let answer) = try await desk.next() else { throw TestFailure("no scoreboard") }
                let board = answer.scoreboard
                #expect(board.sequence == 3)
                #expect(board.contestsDeclared == 3)
                #expect(board.contestsTotal == 234)
                let lab = try #require(board.rows.first { $0.party == TestHub.election.party(code: "LAB") })
                let con = try #require(board.rows.first { $0.party == TestHub.election.party(code: "CON") })
                #expect(lab.councils == 1)
                #expect(lab.councilsChange == 1)
                #expect(con.councilsChange == -2, "lost Swindon to Labour and Bromsgrove to no overall control")
                #expect(con.mayors == 1)
                #expect(board.noOverallControl == 1)

                try await desk.send(.query(Query(requestID: 2, kind: .contest(Declarations.contest("swindon").id))))
                guard case .contest(let contest) = try await desk.next() else { throw TestFailure("no contest") }
                #expect(contest.record?.declared?.outcome == .gain)

                try await desk.send(.query(Query(requestID: 3, kind: .contest(ContestID(4242)))))
                guard case .reject(let reject) = try await desk.next() else { throw TestFailure("no rejection") }
                #expect(reject.code == .unknownContest)

                desk.useElectionCompression()
                try await desk.send(.query(Query(requestID: 4, kind: .election)))
                guard case .election(let election) = try await desk.next() else { throw TestFailure("no election") }
                #expect(election.digest == desk.welcome.electionDigest)
                let rebuilt = try Election(definition: election.definition)
                #expect(rebuilt.contests.count == 234)
                #expect(rebuilt.contest(slug: "castle-point") != nil)
            }
        }
        try await hub.stop()
    }

    @Test func aRegionFilterSeesItsContestsWithContiguousRanges() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let northWest = try #require(TestHub.election.region(id: "north-west"))
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot(.regions([northWest]))
                var replica = Replica()
                try replica.apply(snapshot)
                let slugs = Array(Declarations.councils.prefix(60))
                let expected = slugs.filter { Declarations.contest($0).region == northWest }.count
                #expect(expected > 0)
                try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                    _ = try await desk.submitPipelined(slugs.map { Declarations.real($0) })
                }
                var received = 0
                while replica.sequence < UInt64(slugs.count) {
                    guard case .deltaBatch(let batch) = try await subscriber.next() else {
                        throw TestFailure("expected deltas")
                    }
                    for event in batch.events {
                        #expect(TestHub.election.contest(event.record.contestID)?.region == northWest)
                    }
                    received += batch.events.count
                    try replica.apply(batch)  // throws on a gap or a checksum mismatch
                }
                #expect(received == expected)
            }
        }
        try await hub.stop()
    }

    /// One subscriber stops reading; another keeps up. The hub must keep serving the fast one everything, keep what
    /// it holds for the slow one bounded, and drop it after the stall time.
    @Test func aStalledSubscriberIsBoundedConflatedAndDropped() async throws {
        let limit = 8 * 1024
        let hub = try await TestHub.start {
            $0.subscriberByteLimit = limit
            $0.socketSendBufferBytes = 4 * 1024
            $0.stallTimeout = .seconds(2)
            // The fast subscriber sends no heartbeats; on a busy machine the test outlasts 3 default intervals.
            $0.heartbeatInterval = .seconds(60)
        }
        defer { hub.removeFiles() }
        try await withTimeout(60) {
            // The stalled subscriber: a small receive buffer, subscribes, then never reads again.
            let stalled = try await StalledSubscriber.connect(port: hub.port)
            defer { stalled.close() }
            let rounds = 40
            let total = UInt64(rounds * Declarations.councils.count)
            // The fast subscriber reads all the time, in its own task.
            async let fastCopy: Replica = HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) {
                fast in
                fast.useElectionCompression()
                try await fast.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                var replica = Replica()
                while replica.sequence < total {
                    switch try await fast.next() {
                    case .snapshot(let snapshot): try replica.apply(snapshot)
                    case .deltaBatch(let batch): try replica.apply(batch)
                    case let other: throw TestFailure("the fast subscriber got \(other)")
                    }
                }
                return replica
            }
            var largestPending = 0
            var sawConflation = false
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for round in 1...rounds {
                    let answers = try await desk.submitPipelined(
                        Declarations.councils.map {
                            round % 2 == 0
                                ? Declarations.real($0, revision: UInt32(round))
                                : Declarations.allTo($0, party: "CON", revision: UInt32(round))
                        })
                    #expect(answers.allSatisfy { if case .ack = $0 { true } else { false } })
                    let stats = try await hub.server.statistics()
                    largestPending = max(largestPending, stats.largestPendingBytes)
                    sawConflation = sawConflation || stats.conflatingSubscribers > 0
                }
            }
            let replica = try await fastCopy
            #expect(replica.sequence == total)
            #expect(sawConflation, "the stalled subscriber was switched to conflation")
            // Bounded: at most the limit plus one frame beyond it, whatever was submitted (40 x 218 declarations).
            #expect(largestPending <= limit + 32 * 1024)
            // After the stall time, it is dropped; the fast one has gone too (it finished), so none remain.
            let deadline = ContinuousClock.now + .seconds(10)
            var stats = try await hub.server.statistics()
            while stats.subscribers > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                stats = try await hub.server.statistics()
            }
            #expect(stats.subscribers == 0)
            // And its connection is closed, although its socket was full and the GOODBYE could not be written.
            while stats.openConnections > 0 && ContinuousClock.now < deadline + .seconds(5) {
                try await Task.sleep(for: .milliseconds(100))
                stats = try await hub.server.statistics()
            }
            #expect(stats.openConnections == 0)
        }
        try await hub.stop()
    }
}

/// A subscriber that sends HELLO and SUBSCRIBE and then never reads, with a small kernel receive buffer.
final class StalledSubscriber: Sendable {
    let channel: any Channel

    static func connect(port: Int) async throws -> StalledSubscriber {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .channelOption(.autoRead, value: false)
            .connect(host: "127.0.0.1", port: port).get()
        let codec = FrameCodec()
        try await channel.writeAndFlush(codec.encode(.hello(.subscriber))).get()
        try await channel.writeAndFlush(codec.encode(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))).get()
        return StalledSubscriber(channel: channel)
    }

    private init(channel: any Channel) { self.channel = channel }

    func close() { channel.close(promise: nil) }
}

@Suite("A subscriber that falls behind and catches up", .serialized)
struct CatchUpTests {
    @Test func itReceivesOneConflatedBatchAndEndsWithTheHubsChecksum() async throws {
        let hub = try await TestHub.start {
            $0.subscriberByteLimit = 8 * 1024
            $0.socketSendBufferBytes = 4 * 1024
            $0.stallTimeout = .seconds(60)
            // The paused subscriber sends no heartbeats; it must not be dropped as idle while it waits.
            $0.heartbeatInterval = .seconds(60)
        }
        defer { hub.removeFiles() }
        try await withTimeout(60) {
            let paused = try await PausedSubscriber.connect(port: hub.port)
            var sawConflated = false
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for round in 1...30 {
                    _ = try await desk.submitPipelined(
                        Declarations.councils.map {
                            round % 2 == 0
                                ? Declarations.real($0, revision: UInt32(round))
                                : Declarations.allTo($0, party: "LD", revision: UInt32(round))
                        })
                    let conflating = try await hub.server.statistics().conflatingSubscribers
                    sawConflated = sawConflated || conflating > 0
                }
            }
            #expect(sawConflated)
            let latest = try await hub.server.statistics().latestSequence
            paused.resume()
            let codec = FrameCodec(format: .deflate, dictionary: ElectionDefinition(TestHub.election).presetDictionary)
            var replica = Replica()
            var conflatedBatches = 0
            for try await frame in paused.frames {
                switch try codec.decode(frame) {
                case .welcome, .heartbeat: continue
                case .snapshot(let snapshot): try replica.apply(snapshot)
                case .deltaBatch(let batch):
                    if batch.conflated { conflatedBatches += 1 }
                    try replica.apply(batch)
                default: throw TestFailure("unexpected frame")
                }
                if replica.sequence == latest { break }
            }
            paused.close()
            #expect(conflatedBatches >= 1)
            #expect(replica.sequence == latest)
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                let snapshot = try await subscriber.subscribeForSnapshot()
                #expect(snapshot.checksum == replica.checksum.value)
            }
        }
        try await hub.stop()
    }
}

/// A subscriber that reads nothing until `resume()`, with a small kernel receive buffer, then hands over frames.
final class PausedSubscriber: Sendable {
    let channel: any Channel
    let frames: AsyncStream<Frame>

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = Frame
        let continuation: AsyncStream<Frame>.Continuation
        init(_ continuation: AsyncStream<Frame>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    }

    static func connect(port: Int) async throws -> PausedSubscriber {
        let (frames, continuation) = AsyncStream.makeStream(of: Frame.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .channelOption(.autoRead, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        ByteToMessageHandler(
                            FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)),
                        Collector(continuation),
                    ])
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let codec = FrameCodec()
        try await channel.writeAndFlush(codec.encode(.hello(.subscriber))).get()
        try await channel.writeAndFlush(codec.encode(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))).get()
        return PausedSubscriber(channel: channel, frames: frames)
    }

    private init(channel: any Channel, frames: AsyncStream<Frame>) {
        self.channel = channel
        self.frames = frames
    }

    func resume() { channel.setOption(.autoRead, value: true).whenComplete { _ in } }

    func close() { channel.close(promise: nil) }
}
