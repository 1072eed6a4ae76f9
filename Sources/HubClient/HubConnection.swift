import Foundation
import HubWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// One connection to a hub, the core that every client is built on (`DeskClient`, `SubscriberClient`, `HubSession`,
/// the reporter and hub-load). It does the handshake; reads every frame in one place (a channel handler on the
/// connection's event loop); hands each answer (ACK, REJECT, SCOREBOARD, CONTEST, ELECTION) to the request that waits
/// for it, matched by request id; passes everything else (snapshots, batches, heartbeats, a GOODBYE, answers to
/// requests it did not make) to its owner in the order it arrived, as `events`, with each frame's size on the wire;
/// sends a HEARTBEAT every interval the hub gave in WELCOME (spec 6.11); and writes every frame through one ordered
/// writer. Everything it holds is bounded: the requests waiting (`Configuration.maxPendingRequests`) and what waits
/// for the owner to read it (`Configuration.inboundBuffer`, after which it stops reading from the socket).
public struct HubConnection: Sendable {
    /// How a connection behaves.
    public struct Configuration: Sendable {
        /// Bounds connecting and the hub's answer to HELLO (`HubClientError.timedOut`); nil connects within 5 s and
        /// waits for the answer as long as TCP does.
        public var connectTimeout: Duration?
        /// Bounds each request: one without an answer in time fails with `HubClientError.timedOut`, and the
        /// connection, from which nothing more is expected, is closed. Nil waits as long as TCP does.
        public var requestTimeout: Duration?
        /// Sends a HEARTBEAT every heartbeat interval from WELCOME, whatever arrives, so that the hub never takes
        /// this connection for idle.
        public var sendsHeartbeats = true
        /// Passes messages that answer no request to `events`; when false they are dropped (a desk that only makes
        /// requests), and the connection still reads.
        public var deliversMessages = true
        /// With a value, `events` reports a silence of two heartbeat intervals (`.silent`) and its end (`.heard`),
        /// and a silence this long ends the connection with `HubClientError.timedOut`.
        public var giveUpAfterSilence: Duration?
        /// At most this many requests wait for answers; one more fails with `HubClientError.tooManyRequests`.
        public var maxPendingRequests = 4096
        /// Messages held for the owner before the connection stops reading from the socket (NIO's watermarks).
        public var inboundBuffer: ClosedRange<Int> = 2...10

        public init(
            connectTimeout: Duration? = nil, requestTimeout: Duration? = nil, sendsHeartbeats: Bool = true,
            deliversMessages: Bool = true, giveUpAfterSilence: Duration? = nil
        ) {
            self.connectTimeout = connectTimeout
            self.requestTimeout = requestTimeout
            self.sendsHeartbeats = sendsHeartbeats
            self.deliversMessages = deliversMessages
            self.giveUpAfterSilence = giveUpAfterSilence
        }
    }

    /// What the connection passes to its owner, in order.
    public enum Event: Sendable {
        /// A message that answers no request of this connection; `frameBytes` is its frame's size on the wire,
        /// header included (compressed, when it was).
        case message(HubMessage, frameBytes: Int)
        /// Nothing has arrived since `since`, over two heartbeat intervals (only with `giveUpAfterSilence`).
        case silent(since: Date)
        /// Something arrived again after a silence.
        case heard
    }

    /// What the owner reads: the connection's events, until the hub closes it (or an error, a `HubClientError`
    /// where the client can name one).
    public typealias Events = NIOAsyncChannelInboundStream<Event>

    public let address: HubAddress
    public let welcome: Welcome
    let channel: any Channel
    private let outbound: NIOAsyncChannelOutboundWriter<ClientOutbound>
    private let handler: NIOLoopBound<ClientHandler>
    private let shared: ClientHandler.Shared

    /// The hub's heartbeat interval from WELCOME; nil when it asks for none.
    public var heartbeatInterval: Duration? {
        welcome.heartbeatIntervalMillis == 0 ? nil : .milliseconds(Int64(welcome.heartbeatIntervalMillis))
    }

    /// False once the hub closed the connection, said GOODBYE, or a request timed out.
    public var isOpen: Bool { shared.isOpen.load(ordering: .acquiring) }

    /// Connects, says HELLO, and runs `body` with the connection and its events; the connection is closed when
    /// `body` returns.
    public static func connect<Result: Sendable>(
        to address: HubAddress, hello: Hello, configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
        _ body: (HubConnection, Events) async throws -> Result
    ) async throws -> Result {
        let shared = ClientHandler.Shared()
        let asyncChannel = try await FrameChannel.connect(
            to: address, group: group, configuration: configuration, shared: shared, logger: logger)
        let channel = asyncChannel.channel
        let handler: NIOLoopBound<ClientHandler>
        do {
            handler = try await channel.eventLoop.submit {
                NIOLoopBound(
                    try channel.pipeline.syncOperations.handler(type: ClientHandler.self), eventLoop: channel.eventLoop)
            }.get()
        } catch {
            // The connection already closed (its handlers are gone): a TLS failure says why.
            throw shared.closedReason
        }
        return try await asyncChannel.executeThenClose { inbound, outbound in
            let greeted = channel.eventLoop.makePromise(of: Welcome.self)
            do {
                try await outbound.write(.hello(hello, greeted))
                Self.failIfClosedMeanwhile(greeted, channel: channel) { shared.closedReason }
            } catch {
                greeted.fail(shared.closedReason)
            }
            let welcome = try await greeted.futureResult.get()
            let connection = HubConnection(
                address: address, welcome: welcome, channel: channel, outbound: outbound, handler: handler,
                shared: shared)
            return try await body(connection, inbound)
        }
    }

    /// Connects and says HELLO; the connection lives until `close()`, the hub closing it, or an error. Messages that
    /// answer no request are dropped: this is for requests only.
    public static func open(
        to address: HubAddress, hello: Hello, configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) async throws -> HubConnection {
        var configuration = configuration
        configuration.deliversMessages = false
        let (opened, continuation) = AsyncStream.makeStream(of: Swift.Result<HubConnection, any Error>.self)
        // The connection's one task: it holds the connection open, reading until the connection ends.
        Task { [configuration] in
            do {
                try await connect(to: address, hello: hello, configuration: configuration, group: group, logger: logger)
                { connection, events in
                    continuation.yield(.success(connection))
                    for try await _ in events {}
                }
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        var results = opened.makeAsyncIterator()
        guard let result = await results.next() else { throw HubClientError.connectionLost }
        return try result.get()
    }

    /// Sends a message (in order with every other frame this connection writes).
    public func send(_ message: HubMessage) async throws {
        do {
            try await outbound.write(.send(message))
        } catch {
            throw HubClientError.connectionLost
        }
    }

    /// Sends the request `make` builds with a fresh request id, and returns the hub's answer to it (ACK or REJECT
    /// for a SUBMIT or WITHDRAW, the answer to a QUERY). A GOODBYE, the connection ending or the request timing out
    /// fail it with a `HubClientError`; cancelling the waiting task fails it with `CancellationError`.
    public func request(_ make: @escaping @Sendable (UInt64) -> HubMessage) async throws -> HubMessage {
        let answer = channel.eventLoop.makePromise(of: HubMessage.self)
        // A connection the hub closed with a GOODBYE fails the request with it (a follower's, naming the leader).
        let shared = self.shared
        do {
            try await outbound.write(.request(make, answer))
            Self.failIfClosedMeanwhile(answer, channel: channel) { shared.closedReason }
        } catch {
            answer.fail(shared.closedReason)
        }
        // A cancelled wait ends at once; the request stays in the table until its answer comes or the connection ends.
        return try await withTaskCancellationHandler {
            try await answer.futureResult.get()
        } onCancel: {
            answer.fail(CancellationError())
        }
    }

    /// Sends several requests in one write (one flush, one hop to the connection's event loop) and returns at once,
    /// with what their answers will be: a desk that keeps many in flight sends from one task, in order, and waits
    /// for the answers (`PendingAnswers.answers()`) elsewhere. The same failures as `request`.
    public func send(_ makes: [@Sendable (UInt64) -> HubMessage]) async throws -> PendingAnswers {
        let answers = makes.map { _ in channel.eventLoop.makePromise(of: HubMessage.self) }
        let shared = self.shared
        do {
            try await outbound.write(contentsOf: zip(makes, answers).map { ClientOutbound.request($0, $1) })
            for answer in answers { Self.failIfClosedMeanwhile(answer, channel: channel) { shared.closedReason } }
        } catch {
            for answer in answers { answer.fail(shared.closedReason) }
        }
        return PendingAnswers(promises: answers)
    }

    /// The answers to requests sent together (`send(_:)`), in the order sent.
    public struct PendingAnswers: Sendable {
        let promises: [EventLoopPromise<HubMessage>]

        public var count: Int { promises.count }

        /// Waits for every answer; cancelling the waiting task fails those not yet come with `CancellationError`.
        public func answers() async throws -> [HubMessage] {
            try await withTaskCancellationHandler {
                var results: [HubMessage] = []
                results.reserveCapacity(promises.count)
                for promise in promises { results.append(try await promise.futureResult.get()) }
                return results
            } onCancel: {
                for promise in promises { promise.fail(CancellationError()) }
            }
        }
    }

    /// A frame the writer handed on just as the connection closed is dropped before `ClientHandler` sees it, so
    /// nothing would ever complete its promise. This runs on the loop after that hand-over: if the connection is
    /// closed by then, the promise fails (a no-op when the handler already completed it).
    static func failIfClosedMeanwhile<Value>(
        _ promise: EventLoopPromise<Value>, channel: any Channel,
        reason: @escaping @Sendable () -> HubClientError = { .connectionLost }
    ) {
        channel.eventLoop.execute {
            if !channel.isActive { promise.fail(reason()) }
        }
    }

    /// Installs the compression the hub chose; the preset dictionary comes from the election definition. It applies
    /// to every frame written or read after this call.
    public func useCompression(dictionary: [UInt8]) {
        let (handler, format) = (self.handler, welcome.compression)
        channel.eventLoop.execute { handler.value.useCompression(format: format, dictionary: dictionary) }
    }

    /// The sequence number the heartbeats carry from now on (a subscriber's last applied sequence).
    public func setHeartbeatSequence(_ sequence: UInt64) {
        shared.heartbeatSequence.store(sequence, ordering: .relaxed)
    }

    /// Closes the connection: waiting requests fail, and `events` ends.
    public func close() {
        channel.close(promise: nil)
    }

    /// Closes the connection after `duration` unless the deadline is cancelled first.
    func deadline(_ duration: Duration?) -> Deadline {
        Deadline(duration, on: channel)
    }
}
