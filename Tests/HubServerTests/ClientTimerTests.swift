import ElectionModel
import Foundation
import HubClient
import HubWire
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// A peer on real TCP that speaks just enough of the protocol to test clients against silence: it answers HELLO with
/// a WELCOME (or, as `.mute`, never writes a byte), optionally answers the ELECTION query, and then says nothing;
/// it records every message each connection sent.
final class QuietHub: Sendable {
    enum Mode: Sendable {
        /// Accepts connections and reads, but never writes: a port that is not a hub, or a hub that hangs.
        case mute
        /// Answers HELLO with a WELCOME giving this heartbeat interval, and the ELECTION query when asked to.
        case welcome(heartbeatMillis: UInt32, answerElection: Bool)
    }

    let port: Int
    private let channel: any Channel
    private let recorder: Recorder

    private init(port: Int, channel: any Channel, recorder: Recorder) {
        self.port = port
        self.channel = channel
        self.recorder = recorder
    }

    private final class Recorder: Sendable {
        let received = Mutex<[HubMessage]>([])
        let connections = Atomic<Int>(0)
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = Frame
        typealias OutboundOut = ByteBuffer
        let mode: Mode
        let recorder: Recorder
        let codec = FrameCodec()

        init(mode: Mode, recorder: Recorder) {
            self.mode = mode
            self.recorder = recorder
        }

        func channelActive(context: ChannelHandlerContext) {
            recorder.connections.add(1, ordering: .relaxed)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard let message = try? codec.decode(unwrapInboundIn(data)) else { return }
            recorder.received.withLock { $0.append(message) }
            guard case .welcome(let interval, let answerElection) = mode else { return }
            let election = TestHub.election
            switch message {
            case .hello:
                let welcome = Welcome(
                    version: 1, hubName: "quiet", electionID: election.id,
                    electionDigest: ElectionDefinition(election).digest, latestSequence: 0, compression: .none,
                    heartbeatIntervalMillis: interval, allRegions: true, regions: [])
                context.writeAndFlush(wrapOutboundOut(codec.encode(.welcome(welcome))), promise: nil)
            case .query(let query) where query.kind == .election && answerElection:
                let definition = ElectionDefinition(election)
                let answer = ElectionAnswer(
                    requestID: query.requestID, digest: definition.digest, definition: definition)
                context.writeAndFlush(wrapOutboundOut(codec.encode(.election(answer))), promise: nil)
            default:
                break
            }
        }
    }

    static func start(_ mode: Mode) async throws -> QuietHub {
        let recorder = Recorder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(
                            FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)))
                    try channel.pipeline.syncOperations.addHandler(Handler(mode: mode, recorder: recorder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return QuietHub(port: channel.localAddress!.port!, channel: channel, recorder: recorder)
    }

    var connectionCount: Int { recorder.connections.load(ordering: .relaxed) }

    func count(_ matching: (HubMessage) -> Bool) -> Int {
        recorder.received.withLock { $0.filter(matching).count }
    }

    var heartbeats: Int {
        count {
            if case .heartbeat = $0 { return true }
            return false
        }
    }

    /// Waits (bounded) until `condition` holds.
    func wait(until condition: @Sendable @escaping () -> Bool, seconds: Double = 10) async throws {
        try await withTimeout(seconds) {
            while !condition() { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    func stop() async throws {
        try await channel.close()
    }
}

/// The client library against silence: heartbeats on a timer, bounded waits, and the subscriber's connection state.
@Suite("HubClient timers", .serialized)
struct ClientTimerTests {
    var logger: Logger {
        var logger = Logger(label: "client-timer-tests")
        logger.logLevel = .critical
        return logger
    }

    /// A desk connection heartbeats every interval from WELCOME although nothing at all arrives after WELCOME.
    @Test func aDeskConnectionHeartbeatsOnATimerWhileNothingArrives() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 100, answerElection: false))
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), deskID: "national", token: "t", logger: logger)
        let welcome = try await withTimeout { try await desk.welcome() }
        #expect(welcome.heartbeatIntervalMillis == 100)
        try await hub.wait(until: { hub.heartbeats >= 3 })
        #expect(hub.connectionCount == 1)
        await desk.close()
        try await hub.stop()
    }

    /// A subscriber heartbeats on a timer while the hub sends nothing (no snapshot, no heartbeat), reports the
    /// silence, and keeps the connection: a paused hub finds it still there.
    @Test func aSubscriberHeartbeatsOnATimerAndReportsTheSilence() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 100, answerElection: true))
        let client = SubscriberClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), name: "graphics", logger: logger)
        let silent = Atomic<Bool>(false)
        let events = Task {
            for try await event in client.events() {
                if case .silent = event { silent.store(true, ordering: .relaxed) }
            }
        }
        defer { events.cancel() }
        let subscribes: @Sendable () -> Int = {
            hub.count {
                if case .subscribe = $0 { return true }
                return false
            }
        }
        // Its SUBSCRIBE too: on a busy machine the silence (2 intervals of 100 ms) can come while the client is
        // still fetching the election, before it subscribes.
        try await hub.wait(until: { hub.heartbeats >= 3 && silent.load(ordering: .relaxed) && subscribes() >= 1 })
        #expect(hub.connectionCount == 1, "the silence did not make it reconnect")
        #expect(subscribes() == 1)
        try await hub.stop()
    }

    /// A request the hub never answers fails within the client's timeout, naming what it waited for.
    @Test func aRequestWithoutAnAnswerTimesOut() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 5000, answerElection: false))
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), observerName: "graphics", logger: logger,
            // 1 s, not 300 ms: the same timeout bounds the handshake, which took longer on a busy machine.
            timeout: .seconds(1))
        let started = ContinuousClock.now
        await #expect(
            throws: HubClientError.timedOut(
                address: "127.0.0.1:\(hub.port)", waitingFor: "the ELECTION definition", after: .seconds(1))
        ) {
            try await withTimeout { try await desk.election() }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        await desk.close()
        try await hub.stop()
    }

    /// A port that accepts and never answers: the handshake is bounded too.
    @Test func aHandshakeWithoutAnAnswerTimesOut() async throws {
        let hub = try await QuietHub.start(.mute)
        let address = HubAddress(host: "127.0.0.1", port: hub.port)
        let desk = DeskClient(address: address, deskID: "national", token: "t", logger: logger, timeout: .seconds(0.3))
        await #expect(
            throws: HubClientError.timedOut(
                address: "\(address)", waitingFor: "its answer to HELLO", after: .seconds(0.3))
        ) {
            try await withTimeout { try await desk.scoreboard() }
        }
        #expect(hub.connectionCount == 1, "a timeout is not retried")
        await desk.close()
        try await hub.stop()
    }

    /// `history` waits on a subscription: it heartbeats meanwhile, so that a slow answer is not taken for idleness,
    /// and its bound still ends the wait.
    @Test func historyHeartbeatsWhileItWaits() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 100, answerElection: true))
        var client = SubscriberClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), name: "graphics", logger: logger)
        client.timeout = .seconds(1)
        let bounded = client
        await #expect(
            throws: HubClientError.timedOut(
                address: "127.0.0.1:\(hub.port)", waitingFor: "the events after 0", after: .seconds(1))
        ) {
            try await withTimeout { try await bounded.history(after: 0, through: 5) }
        }
        #expect(hub.heartbeats >= 3)
        try await hub.stop()
    }

    /// The request table is bounded: one request more than it holds fails at once, and the connection serves on.
    @Test func theRequestTableIsBounded() async throws {
        let hub = try await QuietHub.start(.welcome(heartbeatMillis: 5000, answerElection: true))
        var configuration = HubConnection.Configuration()
        configuration.maxPendingRequests = 2
        try await HubConnection.connect(
            to: HubAddress(host: "127.0.0.1", port: hub.port), hello: .desk(), configuration: configuration,
            logger: logger
        ) { connection, _ in
            let declaration = Declarations.real("swindon")
            let waiting = (0..<2).map { _ in
                Task { try await connection.request { .submit(Submit(requestID: $0, declaration: declaration)) } }
            }
            try await hub.wait(until: {
                hub.count {
                    if case .submit = $0 { return true }
                    return false
                } == 2
            })
            await #expect(throws: HubClientError.tooManyRequests(limit: 2)) {
                try await connection.request { .submit(Submit(requestID: $0, declaration: declaration)) }
            }
            connection.close()
            for request in waiting {
                await #expect(throws: HubClientError.connectionLost) { try await request.value }
            }
        }
        try await hub.stop()
    }
}
