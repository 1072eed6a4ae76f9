import HubWire
import Logging
import NIOCore
import NIOPosix

/// A long-lived connection for request and answer traffic: sends requests with fresh request ids and hands each
/// answer to whoever is waiting for it. Messages that are not answers (heartbeats) are dropped; a GOODBYE fails
/// every waiting request. It sends a HEARTBEAT every heartbeat interval the hub gave in WELCOME, whether or not
/// anything arrives, so that the hub never takes it for idle (spec 6.11). With a `timeout`, a request that gets no
/// answer in time fails with `HubClientError.timedOut` and the connection is closed.
actor HubConnection {
    let welcome: Welcome
    let address: HubAddress
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    private let timeout: Duration?
    private var waiting: [UInt64: Waiting] = [:]
    private var nextRequestID: UInt64 = 1
    private var closedBecause: (any Error)?
    private let plain = FrameCodec()

    private struct Waiting {
        var continuation: CheckedContinuation<HubMessage, any Error>
        var deadline: Scheduled<Void>?
    }

    var isOpen: Bool { closedBecause == nil }

    private init(
        welcome: Welcome, address: HubAddress, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: any Channel, timeout: Duration?
    ) {
        self.welcome = welcome
        self.address = address
        self.outbound = outbound
        self.channel = channel
        self.timeout = timeout
    }

    /// Connects and completes the handshake. `timeout` bounds connecting, the handshake, and later each request.
    static func open(
        address: HubAddress, hello: Hello, group: any EventLoopGroup, logger: Logger, timeout: Duration? = nil
    ) async throws -> HubConnection {
        let asyncChannel = try await FrameChannel.connect(to: address, group: group, timeout: timeout)
        let channel = asyncChannel.channel
        let (opened, openedContinuation) = AsyncStream.makeStream(of: Result<HubConnection, any Error>.self)
        Task {
            do {
                try await asyncChannel.executeThenClose { inbound, outbound in
                    var frames = inbound.makeAsyncIterator()
                    let codec = FrameCodec()
                    let deadline = SessionLink(outbound: outbound, channel: channel).deadline(timeout)
                    let welcome = try await deadline.bound(address: address, waitingFor: "its answer to HELLO") {
                        try await outbound.write(codec.encode(.hello(hello)))
                        return try FrameChannel.welcome(from: try await frames.next().map { try codec.decode($0) })
                    }
                    let connection = HubConnection(
                        welcome: welcome, address: address, outbound: outbound, channel: channel, timeout: timeout)
                    openedContinuation.yield(.success(connection))
                    let heartbeats = Task {
                        await Self.heartbeat(every: welcome.heartbeatIntervalMillis, through: outbound, logger: logger)
                    }
                    defer { heartbeats.cancel() }
                    do {
                        while let frame = try await frames.next() {
                            await connection.deliver(try codec.decode(frame))
                        }
                        await connection.fail(HubClientError.connectionLost)
                    } catch {
                        await connection.fail(Self.clientError(error))
                    }
                }
            } catch {
                openedContinuation.yield(.failure(Self.clientError(error)))
            }
            openedContinuation.finish()
        }
        var results = opened.makeAsyncIterator()
        guard let result = await results.next() else { throw HubClientError.connectionLost }
        return try result.get()
    }

    /// Sends a HEARTBEAT every interval until cancelled or the connection ends.
    static func heartbeat(
        every intervalMillis: UInt32, through outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, logger: Logger
    ) async {
        guard intervalMillis > 0 else { return }
        let frame = FrameCodec().encode(.heartbeat(Heartbeat(sequence: 0)))
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .milliseconds(Int64(intervalMillis)))
                try await outbound.write(frame)
            } catch {
                return
            }
            logger.trace("heartbeat sent")
        }
    }

    func request(_ make: (UInt64) -> HubMessage) async throws -> HubMessage {
        if let closedBecause { throw closedBecause }
        let requestID = nextRequestID
        nextRequestID += 1
        let message = make(requestID)
        let frame = plain.encode(message)
        let what = Self.answerName(message)
        return try await withCheckedThrowingContinuation { continuation in
            var deadline: Scheduled<Void>?
            if let timeout {
                deadline = channel.eventLoop.scheduleTask(in: timeout.timeAmount) {
                    Task { await self.expire(requestID, waitingFor: what, after: timeout) }
                }
            }
            waiting[requestID] = Waiting(continuation: continuation, deadline: deadline)
            Task { await self.write(frame, requestID: requestID) }
        }
    }

    private static func answerName(_ request: HubMessage) -> String {
        switch request {
        case .submit, .withdraw: return "its answer to \(request.type.specName)"
        case .query(let query):
            switch query.kind {
            case .scoreboard: return "the SCOREBOARD"
            case .contest: return "a CONTEST answer"
            case .election: return "the ELECTION definition"
            }
        default: return "its answer to \(request.type.specName)"
        }
    }

    /// No answer in time: the hub is not answering this connection, so nothing more is expected from it.
    private func expire(_ requestID: UInt64, waitingFor what: String, after timeout: Duration) {
        guard waiting[requestID] != nil else { return }
        let error = HubClientError.timedOut(address: "\(address)", waitingFor: what, after: timeout)
        if let waiting = waiting.removeValue(forKey: requestID) { waiting.continuation.resume(throwing: error) }
        fail(error)
        channel.close(promise: nil)
    }

    private func write(_ frame: ByteBuffer, requestID: UInt64) async {
        do {
            try await outbound.write(frame)
        } catch {
            if let waiting = waiting.removeValue(forKey: requestID) {
                waiting.deadline?.cancel()
                waiting.continuation.resume(throwing: HubClientError.connectionLost)
            }
        }
    }

    private func deliver(_ message: HubMessage) {
        let requestID: UInt64
        switch message {
        case .ack(let ack): requestID = ack.requestID
        case .reject(let reject): requestID = reject.requestID
        case .scoreboard(let answer): requestID = answer.requestID
        case .contest(let answer): requestID = answer.requestID
        case .election(let answer): requestID = answer.requestID
        case .goodbye(let goodbye):
            fail(HubClientError.closedByHub(goodbye))
            return
        default:
            // Heartbeats need no answer: this connection sends its own on a timer.
            return
        }
        if let waiting = waiting.removeValue(forKey: requestID) {
            waiting.deadline?.cancel()
            waiting.continuation.resume(returning: message)
        }
    }

    private func fail(_ error: any Error) {
        if closedBecause == nil { closedBecause = error }
        let pending = waiting
        waiting.removeAll()
        for waiting in pending.values {
            waiting.deadline?.cancel()
            waiting.continuation.resume(throwing: error)
        }
    }

    func close() {
        fail(HubClientError.connectionLost)
        channel.close(promise: nil)
    }

    static func clientError(_ error: any Error) -> any Error {
        if error is HubClientError { return error }
        if let wire = error as? WireError { return HubClientError.protocolViolation(wire) }
        return HubClientError.connectionLost
    }
}
