import ElectionModel
import HubWire
import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing

@testable import HubClient

/// The client's `ClientHandler` on an `EmbeddedChannel`: frames from the "hub" are written inbound, what the client
/// sends is read outbound, and the embedded loop's virtual clock drives the heartbeat and silence timer.
@Suite struct ClientHandlerTests {
    static let address = HubAddress(host: "hub.test", port: 7400)

    /// Passes events on and records every error that reaches it.
    final class ErrorRecorder: ChannelInboundHandler {
        typealias InboundIn = HubConnection.Event
        typealias InboundOut = HubConnection.Event
        var errors: [any Error] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.fireChannelRead(data)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            errors.append(error)
        }
    }

    /// What a future holds now, without waiting for it.
    final class Outcome<Value: Sendable>: Sendable {
        private let result = Mutex<Result<Value, any Error>?>(nil)

        init(_ future: EventLoopFuture<Value>) {
            future.whenComplete { result in self.result.withLock { $0 = result } }
        }

        var isPending: Bool { result.withLock { $0 == nil } }

        var value: Value? {
            result.withLock { result -> Value? in
                guard case .success(let value)? = result else { return nil }
                return value
            }
        }

        var error: (any Error)? {
            result.withLock { result -> (any Error)? in
                guard case .failure(let error)? = result else { return nil }
                return error
            }
        }
    }

    /// A connected channel with a `ClientHandler` (and an `ErrorRecorder` after it) that has done its handshake.
    struct Harness {
        let channel: EmbeddedChannel
        let shared = ClientHandler.Shared()
        let recorder = ErrorRecorder()
        let welcome: Welcome

        var loop: EmbeddedEventLoop { channel.embeddedEventLoop }
        var isOpen: Bool { shared.isOpen.load(ordering: .relaxed) }

        init(configuration: HubConnection.Configuration = .init(), heartbeatMillis: UInt32 = 1000) throws {
            channel = EmbeddedChannel()
            let handler = ClientHandler(
                address: ClientHandlerTests.address, configuration: configuration, shared: shared,
                logger: Logger(label: "ClientHandlerTests"))
            try channel.pipeline.syncOperations.addHandlers(handler, recorder)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7400)).wait()

            let greeted = channel.eventLoop.makePromise(of: Welcome.self)
            let greeting = Outcome(greeted.futureResult)
            let hello = Hello(role: .desk, principal: "national", secret: "secret", clientName: "tests")
            try channel.writeOutbound(ClientOutbound.hello(hello, greeted))
            welcome = Welcome(
                version: ProtocolVersion.maximum, hubName: "test hub", electionID: "test", electionDigest: 1,
                latestSequence: 0, compression: .none, heartbeatIntervalMillis: heartbeatMillis, allRegions: true,
                regions: [])
            guard try sent() == [.hello(hello)], greeting.isPending else {
                throw HandshakeFailed()
            }
            try receive(.welcome(welcome))
            guard greeting.value == welcome else { throw HandshakeFailed() }
        }

        struct HandshakeFailed: Error {}

        /// The hub sends `message`; returns the size of its frame.
        @discardableResult
        func receive(_ message: HubMessage) throws -> Int {
            let bytes = FrameCodec().encode(message)
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            var buffer = bytes
            let frame = try #require(try decoder.decode(buffer: &buffer))
            try channel.writeInbound(frame)
            return bytes.readableBytes
        }

        /// Every message the client has written since the last call, in order.
        func sent() throws -> [HubMessage] {
            var messages: [HubMessage] = []
            let codec = FrameCodec()
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                while let frame = try decoder.decode(buffer: &buffer) { messages.append(try codec.decode(frame)) }
                #expect(buffer.readableBytes == 0)
            }
            return messages
        }

        /// Every event passed on to the owner since the last call, in order.
        func events() throws -> [HubConnection.Event] {
            var events: [HubConnection.Event] = []
            while let event = try channel.readInbound(as: HubConnection.Event.self) { events.append(event) }
            return events
        }

        /// Sends a QUERY for the scoreboard through the request table; its answer's outcome.
        func query(_ kind: Query.Kind = .scoreboard) -> Outcome<HubMessage> {
            let answer = channel.eventLoop.makePromise(of: HubMessage.self)
            let outcome = Outcome(answer.futureResult)
            channel.writeAndFlush(
                ClientOutbound.request({ .query(Query(requestID: $0, kind: kind)) }, answer), promise: nil)
            return outcome
        }

        /// The request ids of the QUERYs written since the last call.
        func sentRequestIDs() throws -> [UInt64] {
            try sent().compactMap { message -> UInt64? in
                guard case .query(let query) = message else { return nil }
                return query.requestID
            }
        }
    }

    static func reject(_ requestID: UInt64, _ message: String = "no") -> HubMessage {
        .reject(Reject(requestID: requestID, code: .unknownContest, message: message))
    }

    static func message(_ event: HubConnection.Event) -> (HubMessage, Int)? {
        if case .message(let message, let frameBytes) = event { (message, frameBytes) } else { nil }
    }

    // MARK: Handshake

    @Test func helloIsWrittenAndWelcomeCompletesTheHandshake() throws {
        // The harness's initialiser checks the HELLO written and the WELCOME's delivery to its promise.
        let harness = try Harness()
        #expect(harness.isOpen)
        // The WELCOME is the handshake's, not an event for the owner.
        #expect(try harness.events().isEmpty)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func anythingButWelcomeFailsTheHandshake() throws {
        let channel = EmbeddedChannel()
        let handler = ClientHandler(
            address: Self.address, configuration: .init(), shared: ClientHandler.Shared(),
            logger: Logger(label: "ClientHandlerTests"))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7400)).wait()
        let greeted = channel.eventLoop.makePromise(of: Welcome.self)
        let greeting = Outcome(greeted.futureResult)
        try channel.writeOutbound(
            ClientOutbound.hello(Hello(role: .subscriber, principal: "p", secret: "s", clientName: "c"), greeted))
        let goodbye = Goodbye(code: .authenticationFailed, message: "who are you?", lastSequence: 0)
        var frame = FrameCodec().encode(.goodbye(goodbye))
        var decoder = FrameDecoder(detectingProtocol: false)
        try channel.writeInbound(try #require(try decoder.decode(buffer: &frame)))
        #expect(greeting.error as? HubClientError == .closedByHub(goodbye))
        #expect(!channel.isActive)
    }

    /// A hub at its connection limit says GOODBYE as soon as the connection is up, before it reads the HELLO: the
    /// HELLO then fails with that goodbye, not with a lost connection.
    @Test func aGoodbyeBeforeTheHelloIsTheAnswerToIt() throws {
        let channel = EmbeddedChannel()
        let handler = ClientHandler(
            address: Self.address, configuration: .init(), shared: ClientHandler.Shared(),
            logger: Logger(label: "ClientHandlerTests"))
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 7400)).wait()
        let goodbye = Goodbye(code: .tooManyConnections, message: "the hub is at its connection limit", lastSequence: 0)
        var frame = FrameCodec().encode(.goodbye(goodbye))
        var decoder = FrameDecoder(detectingProtocol: false)
        try channel.writeInbound(try #require(try decoder.decode(buffer: &frame)))
        let greeted = channel.eventLoop.makePromise(of: Welcome.self)
        let greeting = Outcome(greeted.futureResult)
        _ = try? channel.writeOutbound(
            ClientOutbound.hello(Hello(role: .desk, principal: "p", secret: "s", clientName: "c"), greeted))
        #expect(greeting.error as? HubClientError == .closedByHub(goodbye))
    }

    // MARK: Requests

    @Test func answersCompleteTheRequestWithTheirID() throws {
        let harness = try Harness()
        let first = harness.query()
        let second = harness.query(.election)
        let third = harness.query(.contest(ContestID(7)))
        let ids = try harness.sentRequestIDs()
        #expect(ids.count == 3)
        #expect(Set(ids).count == 3)

        // Answered out of order: each answer goes to its own request.
        try harness.receive(Self.reject(ids[1], "second"))
        #expect(first.isPending)
        #expect(second.value == Self.reject(ids[1], "second"))
        #expect(third.isPending)

        try harness.receive(Self.reject(ids[2], "third"))
        try harness.receive(Self.reject(ids[0], "first"))
        #expect(first.value == Self.reject(ids[0], "first"))
        #expect(third.value == Self.reject(ids[2], "third"))
        // Answers are not events.
        #expect(try harness.events().isEmpty)
    }

    @Test func anAnswerToNoRequestIsDeliveredAsAMessage() throws {
        let harness = try Harness()
        let waiting = harness.query()
        let id = try #require(try harness.sentRequestIDs().first)
        let bytes = try harness.receive(Self.reject(id + 100))
        #expect(waiting.isPending)
        let delivered = try harness.events().compactMap(Self.message)
        #expect(delivered.map(\.0) == [Self.reject(id + 100)])
        #expect(delivered.map(\.1) == [bytes])
        // An answer is taken once: the same id again is no longer a request's.
        try harness.receive(Self.reject(id))
        try harness.receive(Self.reject(id))
        #expect(waiting.value == Self.reject(id))
        #expect(try harness.events().compactMap(Self.message).map(\.0) == [Self.reject(id)])
    }

    @Test func theRequestTableIsBounded() throws {
        var configuration = HubConnection.Configuration()
        configuration.maxPendingRequests = 2
        let harness = try Harness(configuration: configuration)
        let first = harness.query()
        let second = harness.query()
        let third = harness.query()
        #expect(third.error as? HubClientError == .tooManyRequests(limit: 2))
        // Only the two that fit were sent.
        let ids = try harness.sentRequestIDs()
        #expect(ids.count == 2)
        #expect(first.isPending)
        #expect(second.isPending)

        // An answer makes room for one more.
        try harness.receive(Self.reject(ids[0]))
        #expect(first.value != nil)
        let fourth = harness.query()
        #expect(fourth.isPending)
        let fourthIDs = try harness.sentRequestIDs()
        #expect(fourthIDs.count == 1)
        #expect(!ids.contains(fourthIDs[0]))
        #expect(harness.query().error as? HubClientError == .tooManyRequests(limit: 2))
        #expect(harness.isOpen)
    }

    @Test func aRequestWithoutAnAnswerInTimeClosesTheConnection() throws {
        let harness = try Harness(
            configuration: .init(requestTimeout: .seconds(5), sendsHeartbeats: false), heartbeatMillis: 0)
        let waiting = harness.query()
        harness.loop.advanceTime(by: .milliseconds(4999))
        #expect(waiting.isPending)
        #expect(harness.channel.isActive)
        harness.loop.advanceTime(by: .milliseconds(1))
        guard case .timedOut(_, let waitingFor, let after)? = waiting.error as? HubClientError else {
            Issue.record("expected timedOut, got \(String(describing: waiting.error))")
            return
        }
        #expect(waitingFor == "the SCOREBOARD")
        #expect(after == .seconds(5))
        #expect(!harness.channel.isActive)
        #expect(!harness.isOpen)
        #expect(harness.recorder.errors.count == 1)
    }

    @Test func anAnsweredRequestDoesNotTimeOut() throws {
        let harness = try Harness(
            configuration: .init(requestTimeout: .seconds(5), sendsHeartbeats: false), heartbeatMillis: 0)
        let waiting = harness.query()
        let id = try #require(try harness.sentRequestIDs().first)
        harness.loop.advanceTime(by: .seconds(4))
        try harness.receive(Self.reject(id))
        harness.loop.advanceTime(by: .seconds(60))
        #expect(waiting.value == Self.reject(id))
        #expect(harness.channel.isActive)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func goodbyeFailsWaitingRequestsAndIsDelivered() throws {
        let harness = try Harness()
        let waiting = harness.query()
        let goodbye = Goodbye(code: .shuttingDown, message: "bye", lastSequence: 9)
        let bytes = try harness.receive(.goodbye(goodbye))
        #expect(waiting.error as? HubClientError == .closedByHub(goodbye))
        #expect(!harness.isOpen)
        let delivered = try harness.events().compactMap(Self.message)
        #expect(delivered.map(\.0) == [.goodbye(goodbye)])
        #expect(delivered.map(\.1) == [bytes])
        // Nothing more can wait for an answer.
        #expect(harness.query().error as? HubClientError == .closedByHub(goodbye))
    }

    @Test func theConnectionEndingFailsWaitingRequests() throws {
        let harness = try Harness()
        let waiting = harness.query()
        harness.channel.pipeline.fireChannelInactive()
        #expect(waiting.error as? HubClientError == .connectionLost)
        #expect(!harness.isOpen)
    }

    @Test func anUndecodableFrameIsAProtocolViolation() throws {
        let harness = try Harness()
        let waiting = harness.query()
        try harness.channel.writeInbound(Frame(type: 0x7E, flags: 0, payload: ByteBuffer()))
        guard case .protocolViolation(let wire)? = waiting.error as? HubClientError else {
            Issue.record("expected protocolViolation, got \(String(describing: waiting.error))")
            return
        }
        #expect(wire.kind == .unknownMessageType)
        #expect(harness.recorder.errors.count == 1)
        #expect(!harness.channel.isActive)
    }

    // MARK: Other messages

    @Test func unsolicitedMessagesAreDeliveredInOrderWithTheirFrameSizes() throws {
        let harness = try Harness()
        let messages: [HubMessage] = [
            .heartbeat(Heartbeat(sequence: 5)),
            .heartbeat(Heartbeat(sequence: 300_000)),
            Self.reject(77, String(repeating: "x", count: 200)),
            .heartbeat(Heartbeat(sequence: 6)),
        ]
        var sizes: [Int] = []
        for message in messages { sizes.append(try harness.receive(message)) }
        let delivered = try harness.events().compactMap(Self.message)
        #expect(delivered.map(\.0) == messages)
        #expect(delivered.map(\.1) == sizes)
        // Header (6 bytes) plus payload: a varint 5 is one byte.
        #expect(sizes[0] == Frame.headerLength + 1)
        #expect(Set(sizes).count == 3)
    }

    @Test func withoutDeliveryOnlyRequestsAreAnswered() throws {
        let harness = try Harness(configuration: .init(deliversMessages: false))
        let waiting = harness.query()
        let id = try #require(try harness.sentRequestIDs().first)
        try harness.receive(.heartbeat(Heartbeat(sequence: 1)))
        try harness.receive(Self.reject(id))
        #expect(waiting.value == Self.reject(id))
        #expect(try harness.events().isEmpty)
    }

    // MARK: The heartbeat timer

    @Test func aHeartbeatIsWrittenEveryInterval() throws {
        let harness = try Harness(heartbeatMillis: 1000)
        harness.shared.heartbeatSequence.store(42, ordering: .relaxed)
        harness.loop.advanceTime(by: .milliseconds(999))
        #expect(try harness.sent().isEmpty)
        harness.loop.advanceTime(by: .milliseconds(1))
        #expect(try harness.sent() == [.heartbeat(Heartbeat(sequence: 42))])

        // What arrives does not hold the heartbeat back; the sequence is read afresh each time.
        harness.shared.heartbeatSequence.store(43, ordering: .relaxed)
        harness.loop.advanceTime(by: .milliseconds(500))
        try harness.receive(.heartbeat(Heartbeat(sequence: 1)))
        #expect(try harness.sent().isEmpty)
        harness.loop.advanceTime(by: .milliseconds(500))
        #expect(try harness.sent() == [.heartbeat(Heartbeat(sequence: 43))])

        harness.loop.advanceTime(by: .seconds(3))
        #expect(try harness.sent().count == 3)
        #expect(harness.channel.isActive)
    }

    @Test func noHeartbeatWhenTheHubAsksForNone() throws {
        let harness = try Harness(heartbeatMillis: 0)
        harness.loop.advanceTime(by: .seconds(600))
        #expect(try harness.sent().isEmpty)
        #expect(harness.channel.isActive)
    }

    @Test func noHeartbeatWhenTheClientSendsNone() throws {
        let harness = try Harness(configuration: .init(sendsHeartbeats: false), heartbeatMillis: 1000)
        harness.loop.advanceTime(by: .seconds(600))
        #expect(try harness.sent().isEmpty)
        #expect(harness.channel.isActive)
    }

    @Test func heartbeatsStopWhenTheConnectionCloses() throws {
        let harness = try Harness(heartbeatMillis: 1000)
        harness.loop.advanceTime(by: .seconds(1))
        #expect(try harness.sent().count == 1)
        harness.channel.pipeline.fireChannelInactive()
        harness.loop.advanceTime(by: .seconds(10))
        #expect(try harness.sent().isEmpty)
    }

    // MARK: Silence

    @Test func silenceIsReportedThenEndsTheConnection() throws {
        let harness = try Harness(
            configuration: .init(sendsHeartbeats: false, giveUpAfterSilence: .seconds(10)), heartbeatMillis: 1000)
        let waiting = harness.query()
        #expect(try harness.sentRequestIDs().count == 1)

        // One interval of silence is not yet worth reporting; two are.
        harness.loop.advanceTime(by: .seconds(1))
        #expect(try harness.events().isEmpty)
        harness.loop.advanceTime(by: .seconds(1))
        let silent = try harness.events()
        #expect(silent.count == 1)
        if case .silent = silent.first {} else { Issue.record("expected .silent, got \(silent)") }
        // Reported once per silence.
        harness.loop.advanceTime(by: .seconds(3))
        #expect(try harness.events().isEmpty)

        // Something arrives: the silence is over, and the message follows.
        let heartbeat = HubMessage.heartbeat(Heartbeat(sequence: 3))
        try harness.receive(heartbeat)
        let heard = try harness.events()
        #expect(heard.count == 2)
        if case .heard = heard.first {} else { Issue.record("expected .heard, got \(heard)") }
        #expect(heard.last.flatMap(Self.message)?.0 == heartbeat)
        #expect(try harness.sent().isEmpty)

        // Ten seconds of silence from that message (at 5 s) end the connection, at the tick at 15 s.
        harness.loop.advanceTime(by: .milliseconds(9_900))
        #expect(harness.channel.isActive)
        #expect(waiting.isPending)
        harness.loop.advanceTime(by: .milliseconds(100))
        #expect(!harness.channel.isActive)
        #expect(!harness.isOpen)
        guard case .timedOut(_, let waitingFor, let after)? = waiting.error as? HubClientError else {
            Issue.record("expected timedOut, got \(String(describing: waiting.error))")
            return
        }
        #expect(waitingFor == "anything at all")
        #expect(after == .seconds(10))
        #expect(harness.recorder.errors.count == 1)
    }

    @Test func aHubThatKeepsTalkingIsNeverSilent() throws {
        let harness = try Harness(
            configuration: .init(sendsHeartbeats: false, giveUpAfterSilence: .seconds(3)), heartbeatMillis: 1000)
        for sequence in 0..<30 {
            harness.loop.advanceTime(by: .milliseconds(1500))
            try harness.receive(.heartbeat(Heartbeat(sequence: UInt64(sequence))))
        }
        let events = try harness.events()
        #expect(events.count == 30)
        #expect(events.allSatisfy { Self.message($0) != nil })
        #expect(harness.channel.isActive)
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func withoutHeartbeatsFromTheHubSilenceIsCheckedEveryQuarter() throws {
        // The hub asks for no heartbeats: the timer runs every quarter of the give-up bound.
        let harness = try Harness(
            configuration: .init(sendsHeartbeats: false, giveUpAfterSilence: .seconds(8)), heartbeatMillis: 0)
        // Silent after two checks (4 s).
        harness.loop.advanceTime(by: .milliseconds(3999))
        #expect(try harness.events().isEmpty)
        harness.loop.advanceTime(by: .milliseconds(1))
        #expect(try harness.events().count == 1)
        harness.loop.advanceTime(by: .milliseconds(3999))
        #expect(harness.channel.isActive)
        harness.loop.advanceTime(by: .milliseconds(1))
        #expect(!harness.channel.isActive)
        #expect(try harness.sent().isEmpty)
    }
}
