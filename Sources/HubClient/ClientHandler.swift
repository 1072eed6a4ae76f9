import Foundation
import HubWire
import Logging
import NIOCore
import Synchronization

/// What goes through the connection's one writer.
enum ClientOutbound: Sendable {
    case hello(Hello, EventLoopPromise<Welcome>)
    case send(HubMessage)
    case request(@Sendable (UInt64) -> HubMessage, EventLoopPromise<HubMessage>)
}

/// The connection's reader, request table and heartbeat timer, on its event loop: every frame read is decoded here
/// once; answers complete their requests; the rest goes on to the owner.
final class ClientHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias InboundOut = HubConnection.Event
    typealias OutboundIn = ClientOutbound
    typealias OutboundOut = ByteBuffer

    /// What the connection's handle reads or sets off the event loop.
    final class Shared: Sendable {
        let heartbeatSequence = Atomic<UInt64>(0)
        let isOpen = Atomic<Bool>(true)
        /// Why the connection failed, when it was more than the connection ending (a TLS failure): for a HELLO
        /// whose write fails because the connection closed first.
        let failure = Mutex<HubClientError?>(nil)

        /// The error a request that could not be written fails with.
        var closedReason: HubClientError { failure.withLock { $0 } ?? .connectionLost }
    }

    private struct Pending {
        var answer: EventLoopPromise<HubMessage>
        var timeout: Scheduled<Void>?
    }

    private enum Phase {
        case connected
        case greeting(EventLoopPromise<Welcome>, timeout: Scheduled<Void>?)
        case open
        case closed(any Error)
    }

    private let address: HubAddress
    private let configuration: HubConnection.Configuration
    private let shared: Shared
    private let logger: Logger
    private var codec = FrameCodec()
    private var phase = Phase.connected
    private var pending: [UInt64: Pending] = [:]
    private var nextRequestID: UInt64 = 1
    private var context: ChannelHandlerContext?
    private var timer: RepeatedTask?
    private var lastHeard = NIODeadline.now()
    private var lastHeardDate = Date()
    private var silent = false

    init(address: HubAddress, configuration: HubConnection.Configuration, shared: Shared, logger: Logger) {
        self.address = address
        self.configuration = configuration
        self.shared = shared
        var logger = logger
        logger[metadataKey: "hub.address"] = "\(address)"
        self.logger = logger
    }

    func useCompression(format: CompressionFormat, dictionary: [UInt8]) {
        codec = FrameCodec(format: format, dictionary: dictionary)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(HubClientError.connectionLost)
        self.context = nil
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastHeard = context.eventLoop.now
        lastHeardDate = Date()
        if silent {
            silent = false
            if configuration.deliversMessages { context.fireChannelRead(wrapInboundOut(.heard)) }
        }
        let message: HubMessage
        do {
            message = try codec.decode(frame)
        } catch {
            closeBecause(HubClientError.protocolViolation(error), context: context)
            return
        }
        switch phase {
        case .greeting(let greeted, let timeout):
            timeout?.cancel()
            do {
                let welcome = try FrameChannel.welcome(from: message)
                phase = .open
                startTimer(welcome: welcome, context: context)
                greeted.succeed(welcome)
            } catch {
                phase = .closed(error)
                greeted.fail(error)
                context.close(promise: nil)
            }
            return
        case .connected:
            // A hub at its connection limit says GOODBYE before it reads our HELLO: that is the answer to it.
            if case .goodbye(let goodbye) = message { fail(HubClientError.closedByHub(goodbye)) }
            return
        case .closed:
            return
        case .open:
            break
        }
        if let requestID = Self.answeredRequest(message), let waiting = pending.removeValue(forKey: requestID) {
            waiting.timeout?.cancel()
            waiting.answer.succeed(message)
            return
        }
        if case .goodbye(let goodbye) = message {
            logger.debug("the hub said goodbye", metadata: ["goodbye.code": "\(goodbye.code.name)"])
            fail(HubClientError.closedByHub(goodbye))
        }
        if configuration.deliversMessages {
            let bytes = Frame.headerLength + frame.payload.readableBytes
            context.fireChannelRead(wrapInboundOut(.message(message, frameBytes: bytes)))
        }
    }

    private static func answeredRequest(_ message: HubMessage) -> UInt64? {
        switch message {
        case .ack(let ack): return ack.requestID
        case .reject(let reject): return reject.requestID
        case .scoreboard(let answer): return answer.requestID
        case .contest(let answer): return answer.requestID
        case .election(let answer): return answer.requestID
        default: return nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(HubClientError.connectionLost)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let error =
            (error as? WireError).map { HubClientError.protocolViolation($0) }
            ?? address.tls?.explain(error, address: address) ?? error
        fail(Self.clientError(error))
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Ends the connection for `error`, which the owner's `events` end with.
    private func closeBecause(_ error: HubClientError, context: ChannelHandlerContext) {
        fail(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    /// Fails every waiting request (and a handshake in progress) with `error`; nothing more is sent.
    private func fail(_ error: any Error) {
        shared.isOpen.store(false, ordering: .releasing)
        if let error = error as? HubClientError, error != .connectionLost {
            shared.failure.withLock { $0 = $0 ?? error }
        }
        timer?.cancel()
        timer = nil
        switch phase {
        case .greeting(let greeted, let timeout):
            timeout?.cancel()
            greeted.fail(error)
        case .closed:
            return
        case .connected, .open:
            break
        }
        phase = .closed(error)
        let waiting = pending
        pending.removeAll()
        for request in waiting.values {
            request.timeout?.cancel()
            request.answer.fail(error)
        }
    }

    static func clientError(_ error: any Error) -> any Error {
        if error is HubClientError { return error }
        if let wire = error as? WireError { return HubClientError.protocolViolation(wire) }
        return HubClientError.connectionLost
    }

    // MARK: Writing

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .hello(let hello, let greeted):
            guard case .connected = phase else {
                let error: any Error
                if case .closed(let reason) = phase { error = reason } else { error = HubClientError.connectionLost }
                greeted.fail(error)
                promise?.fail(error)
                return
            }
            phase = .greeting(greeted, timeout: schedule(after: configuration.connectTimeout, "its answer to HELLO"))
            context.write(wrapOutboundOut(codec.encode(.hello(hello))), promise: promise)
        case .send(let message):
            context.write(wrapOutboundOut(codec.encode(message)), promise: promise)
        case .request(let make, let answer):
            if case .closed(let error) = phase {
                answer.fail(error)
                promise?.fail(error)
                return
            }
            guard pending.count < configuration.maxPendingRequests else {
                answer.fail(HubClientError.tooManyRequests(limit: configuration.maxPendingRequests))
                promise?.succeed()
                return
            }
            let requestID = nextRequestID
            nextRequestID += 1
            let message = make(requestID)
            let timeout = schedule(after: configuration.requestTimeout, Self.answerName(message))
            pending[requestID] = Pending(answer: answer, timeout: timeout)
            context.write(wrapOutboundOut(codec.encode(message)), promise: promise)
        }
    }

    /// After `duration`, nothing has answered: the connection fails with `timedOut` and is closed.
    private func schedule(after duration: Duration?, _ what: String) -> Scheduled<Void>? {
        guard let duration, let context else { return nil }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let address = address
        return context.eventLoop.scheduleTask(in: duration.timeAmount) {
            let handler = bound.value
            guard let context = handler.context else { return }
            handler.logger.debug("no answer in time", metadata: ["waiting.for": "\(what)"])
            handler.closeBecause(
                .timedOut(address: "\(address)", waitingFor: what, after: duration), context: context)
        }
    }

    private static func answerName(_ request: HubMessage) -> String {
        switch request {
        case .query(let query):
            switch query.kind {
            case .scoreboard: return "the SCOREBOARD"
            case .contest: return "a CONTEST answer"
            case .election: return "the ELECTION definition"
            }
        default: return "its answer to \(request.type.specName)"
        }
    }

    // MARK: The heartbeat timer

    /// One timer per connection: a HEARTBEAT every interval; with `giveUpAfterSilence`, the silence checks too
    /// (every quarter of it when the hub asks for no heartbeats).
    private func startTimer(welcome: Welcome, context: ChannelHandlerContext) {
        let interval: Duration
        if welcome.heartbeatIntervalMillis > 0
            && (configuration.sendsHeartbeats || configuration.giveUpAfterSilence != nil)
        {
            interval = .milliseconds(Int64(welcome.heartbeatIntervalMillis))
        } else if let giveUp = configuration.giveUpAfterSilence {
            interval = giveUp / 4
        } else {
            return
        }
        lastHeard = context.eventLoop.now
        lastHeardDate = Date()
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(
            initialDelay: interval.timeAmount, delay: interval.timeAmount
        ) { _ in
            bound.value.tick(interval: interval)
        }
    }

    private func tick(interval: Duration) {
        guard let context, case .open = phase else { return }
        if configuration.sendsHeartbeats {
            let sequence = shared.heartbeatSequence.load(ordering: .relaxed)
            context.writeAndFlush(
                wrapOutboundOut(codec.encode(.heartbeat(Heartbeat(sequence: sequence)))), promise: nil)
            logger.trace("heartbeat sent", metadata: ["heartbeat.sequence": "\(sequence)"])
        }
        guard let giveUp = configuration.giveUpAfterSilence else { return }
        // The loop's clock, so that silence is measured on the same clock as the timer (and an
        // `EmbeddedEventLoop`'s virtual time drives it in tests).
        let quiet = context.eventLoop.now - lastHeard
        if quiet >= giveUp.timeAmount {
            logger.info("nothing from the hub; closing the connection", metadata: ["silence": "\(giveUp.spoken)"])
            closeBecause(
                .timedOut(address: "\(address)", waitingFor: "anything at all", after: giveUp), context: context)
        } else if quiet >= (interval * 2).timeAmount && !silent {
            silent = true
            context.fireChannelRead(wrapInboundOut(.silent(since: lastHeardDate)))
            context.fireChannelReadComplete()
        }
    }
}
