import ElectionModel
import HubCore
import HubWire
import Logging
import NIOCore

/// One client connection: the handshake (version, role, token), then the messages its role allows. Decoded frames
/// come from `FrameReader`; work that touches the state goes to the engine.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHello(attempts: Int)
        case desk(Peer, DeskIdentity, FrameCodec)
        case subscriber(Peer, FrameCodec, subscribed: Bool)
        case closing
    }

    private static let maxHelloAttempts = 3

    private let id: UInt64
    private let configuration: HubConfiguration
    private let engine: HubEngine
    private let reader: FrameReader
    private var logger: Logger
    private var state: State = .awaitingHello(attempts: 0)
    private var handshakeTimer: Scheduled<Void>?
    private let plain = FrameCodec()
    /// Submissions decoded from the current read, handed to the engine together when the read completes.
    private var pendingSubmissions: [HubEngine.PendingRequest] = []

    init(id: UInt64, configuration: HubConfiguration, engine: HubEngine, reader: FrameReader, logger: Logger) {
        self.id = id
        self.configuration = configuration
        self.engine = engine
        self.reader = reader
        self.logger = logger
        self.logger[metadataKey: "connection.id"] = "\(id)"
    }

    func channelActive(context: ChannelHandlerContext) {
        if let address = context.remoteAddress { logger[metadataKey: "connection.peer"] = "\(address)" }
        logger.debug("connected")
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: configuration.handshakeTimeout) {
            let (handler, context) = loopBound.value
            guard case .awaitingHello = handler.state else { return }
            handler.fail(context: context, code: .handshakeTimeout, message: "no HELLO within the handshake timeout")
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        engine.unregister(id)
        logger.debug("disconnected")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let message: HubMessage
        do {
            message = try codec.decode(frame)
        } catch {
            if let requestID = error.requestID {
                // The frame was whole and only a field of this request is wrong: the request fails, the
                // connection and the desk's other requests in flight do not (spec 6.4). A subscriber may not send
                // it at all, whatever its fields hold.
                switch state {
                case .desk:
                    reject(requestID, code: error.code, error.message, context: context)
                    return
                case .subscriber:
                    reject(requestID, code: .unexpectedMessage, Self.subscriberCannotSubmit, context: context)
                    return
                case .awaitingHello, .closing:
                    break
                }
            }
            handle(error, context: context)
            return
        }
        switch state {
        case .awaitingHello(let attempts):
            guard case .hello(let hello) = message else {
                fail(
                    context: context, code: .unexpectedMessage,
                    message: "the first message must be HELLO, not \(message.type.specName)")
                return
            }
            handshake(hello, attempts: attempts, context: context)
        case .desk(let peer, let desk, _):
            handleDesk(message, peer: peer, desk: desk, context: context)
        case .subscriber(let peer, let codec, let subscribed):
            handleSubscriber(message, peer: peer, codec: codec, subscribed: subscribed, context: context)
        case .closing:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushSubmissions()
        context.fireChannelReadComplete()
    }

    private func flushSubmissions() {
        guard !pendingSubmissions.isEmpty else { return }
        engine.submit(pendingSubmissions)
        pendingSubmissions.removeAll(keepingCapacity: true)
    }

    private var codec: FrameCodec {
        switch state {
        case .desk(_, _, let codec), .subscriber(_, let codec, _): return codec
        case .awaitingHello, .closing: return plain
        }
    }

    private func handshake(_ hello: Hello, attempts: Int, context: ChannelHandlerContext) {
        guard let version = ProtocolVersion.negotiate(clientMin: hello.minVersion, clientMax: hello.maxVersion) else {
            if attempts >= Self.maxHelloAttempts {
                fail(context: context, code: .unsupportedVersion, message: ProtocolVersion.rangeAnswer.message)
            } else {
                state = .awaitingHello(attempts: attempts + 1)
                context.writeAndFlush(
                    wrapOutboundOut(plain.encode(.versionRange(ProtocolVersion.rangeAnswer))), promise: nil)
            }
            return
        }
        let compression = CompressionFormat.choose(from: hello.compression)
        let connectionCodec = FrameCodec(format: compression, dictionary: engine.presetDictionary)
        let peer = Peer(id: id, channel: context.channel, compression: compression, logger: logger)
        var welcome = Welcome(
            version: version, hubName: configuration.hubName, electionID: configuration.election.id,
            electionDigest: engine.electionDigest, latestSequence: engine.latestDurableSequence,
            compression: compression,
            heartbeatIntervalMillis: UInt32(configuration.heartbeatInterval.nanoseconds / 1_000_000),
            allRegions: false, regions: [], definitionDigest: engine.definitionDigest)
        switch hello.role {
        case .desk:
            guard let desk = configuration.desks.authenticate(deskID: hello.principal, token: hello.secret) else {
                // Never the token; and a desk id only if a desk has it, since an unknown one may be a token typed
                // into the wrong field.
                let offered =
                    configuration.desks.deskIDs.contains(hello.principal)
                    ? hello.principal : PeerText.unknown(hello.principal, "desk id")
                logger.warning("authentication failed", metadata: ["desk.id": "\(offered)"])
                fail(context: context, code: .authenticationFailed, message: "authentication failed")
                return
            }
            switch desk.scope {
            case .all: welcome.allRegions = true
            case .regions(let regions): welcome.regions = regions.sorted()
            }
            logger[metadataKey: "desk.id"] = "\(desk.id)"
            state = .desk(peer, desk, connectionCodec)
        case .subscriber:
            if let keys = configuration.subscriberKeys, !keys.authenticate(name: hello.principal, key: hello.secret) {
                // A name only if a subscriber has it: an unknown one may be a key typed into the wrong field.
                let offered =
                    keys.names.contains(hello.principal)
                    ? PeerText.loggable(hello.principal) : PeerText.unknown(hello.principal, "subscriber name")
                logger.warning("authentication failed", metadata: ["subscriber.name": "\(offered)"])
                fail(context: context, code: .authenticationFailed, message: "authentication failed")
                return
            }
            logger[metadataKey: "subscriber.name"] = "\(PeerText.loggable(hello.principal))"
            state = .subscriber(peer, connectionCodec, subscribed: false)
        }
        handshakeTimer?.cancel()
        reader.handshakeCompleted(
            maxFrameLength: hello.role == .desk ? WireLimits.maxFrameLength : WireLimits.maxSubscriberFrameLength)
        engine.register(peer)
        context.writeAndFlush(wrapOutboundOut(plain.encode(.welcome(welcome))), promise: nil)
        logger.info(
            "handshake complete",
            metadata: [
                "client.name": "\(PeerText.loggable(hello.clientName))", "client.compression": "\(compression)",
            ])
    }

    private func handleDesk(_ message: HubMessage, peer: Peer, desk: DeskIdentity, context: ChannelHandlerContext) {
        switch message {
        case .submit(let submit):
            pendingSubmissions.append(
                .init(peer: peer, desk: desk, requestID: submit.requestID, kind: .declaration(submit.declaration)))
        case .withdraw(let request):
            pendingSubmissions.append(
                .init(peer: peer, desk: desk, requestID: request.requestID, kind: .withdrawal(request.withdrawal)))
        case .query(let query):
            flushSubmissions()
            engine.answer(query, for: peer)
        case .heartbeat:
            break
        case .goodbye:
            close(context: context)
        case .subscribe:
            fail(
                context: context, code: .unexpectedMessage, message: "a desk cannot subscribe; connect as a subscriber")
        default:
            fail(context: context, code: .unexpectedMessage, message: "a desk does not send \(message.type.specName)")
        }
    }

    private func handleSubscriber(
        _ message: HubMessage, peer: Peer, codec: FrameCodec, subscribed: Bool, context: ChannelHandlerContext
    ) {
        switch message {
        case .subscribe(let subscribe):
            guard !subscribed else {
                fail(
                    context: context, code: .unexpectedMessage, message: "SUBSCRIBE was already sent on this connection"
                )
                return
            }
            if case .regions(let regions) = subscribe.filter,
                let unknown = regions.first(where: { $0.rawValue >= configuration.election.regions.count })
            {
                fail(
                    context: context, code: .malformedFrame,
                    message: "subscribe names region index \(unknown.rawValue), which does not exist")
                return
            }
            state = .subscriber(peer, codec, subscribed: true)
            engine.subscribe(peer, to: subscribe)
        case .query(let query):
            engine.answer(query, for: peer)
        case .heartbeat:
            break
        case .goodbye:
            close(context: context)
        case .submit(let submit):
            reject(submit.requestID, code: .unexpectedMessage, Self.subscriberCannotSubmit, context: context)
        case .withdraw(let request):
            reject(request.requestID, code: .unexpectedMessage, Self.subscriberCannotWithdraw, context: context)
        default:
            fail(
                context: context, code: .unexpectedMessage,
                message: "a subscriber does not send \(message.type.specName)")
        }
    }

    private static let subscriberCannotSubmit = "a subscriber cannot submit; connect as a desk"
    private static let subscriberCannotWithdraw = "a subscriber cannot withdraw; connect as a desk"

    private func reject(_ requestID: UInt64, code: ErrorCode, _ message: String, context: ChannelHandlerContext) {
        let frame = plain.encode(.reject(Reject(requestID: requestID, code: code, message: message)))
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch (idle, state) {
        case (.write, .desk), (.write, .subscriber):
            let heartbeat = Heartbeat(sequence: engine.latestDurableSequence)
            context.writeAndFlush(wrapOutboundOut(plain.encode(.heartbeat(heartbeat))), promise: nil)
        case (.read, .desk), (.read, .subscriber):
            fail(context: context, code: .idleTimeout, message: "nothing received for 3 heartbeat intervals")
        default:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        handle(error, context: context)
    }

    private func handle(_ error: any Error, context: ChannelHandlerContext) {
        guard let wireError = error as? WireError else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            close(context: context)
            return
        }
        switch wireError.kind {
        case .notThisProtocol(.tls):
            logger.info("rejected a TLS ClientHello: this port speaks the ResultsHub protocol in plain TCP")
            answerForeign(ForeignProtocolAnswer.tlsAlert, context: context)
        case .notThisProtocol(.http):
            logger.info("rejected an HTTP request: this port speaks the ResultsHub protocol")
            answerForeign(ForeignProtocolAnswer.httpResponse, context: context)
        default:
            fail(context: context, code: wireError.code, message: wireError.message)
        }
    }

    private func answerForeign(_ bytes: [UInt8], context: ChannelHandlerContext) {
        state = .closing
        closeAfter(ByteBuffer(bytes: bytes), on: context.channel)
    }

    /// Says GOODBYE with the code and reason, then closes.
    private func fail(context: ChannelHandlerContext, code: ErrorCode, message: String) {
        guard !isClosing else { return }
        state = .closing
        logger.info(
            "closing the connection",
            metadata: [
                "goodbye.code": "\(code.name)", "goodbye.reason": "\(PeerText.loggable(message, maxCharacters: 1024))",
            ])
        let goodbye = Goodbye(code: code, message: message, lastSequence: engine.latestDurableSequence)
        closeAfter(plain.encode(.goodbye(goodbye)), on: context.channel)
    }

    private var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    private func close(context: ChannelHandlerContext) {
        // Submissions read before the peer's GOODBYE still go to the engine (their acks cannot be delivered).
        flushSubmissions()
        state = .closing
        context.close(promise: nil)
    }
}
