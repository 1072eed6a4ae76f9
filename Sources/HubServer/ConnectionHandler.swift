import ElectionModel
import HubCore
import HubWire
import Logging
import Metrics
import NIOCore

/// One client connection: decodes frames, feeds them to its `ConnectionMachine` (handshake and role policy), and
/// carries out what it answers: writes on this connection, or hands work to the engine.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = ByteBuffer

    private var machine: ConnectionMachine
    private let configuration: HubConfiguration
    private let engine: HubEngine
    private let reader: FrameReader
    private let metrics: HubMetrics
    private var logger: Logger
    private var handshakeTimer: Scheduled<Void>?
    private let plain = FrameCodec()
    /// The negotiated compression's codec once the handshake is done.
    private var codec = FrameCodec()
    /// Submissions decoded from the current read, handed to the engine together when the read completes.
    private var submissions: [HubMachine.Submission] = []
    private var clientName = ""
    /// The desk and credential this connection authenticated with, for the engine (revocations close it).
    private var deskStamp: DeskCredentialStamp?

    init(
        id: PeerID, configuration: HubConfiguration, engine: HubEngine, reader: FrameReader, metrics: HubMetrics,
        logger: Logger
    ) {
        self.metrics = metrics
        self.machine = ConnectionMachine(peer: id, context: engine.context)
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
            handler.carryOut(handler.machine.handshakeTimedOut(), context: context)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        engine.disconnected(machine.peer)
        logger.debug("disconnected")
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let action: ConnectionMachine.Action
        do {
            let message = try codec.decode(unwrapInboundIn(data))
            action = machine.received(message, latestSequence: engine.latestDurableSequence) { authenticate($0) }
        } catch {
            action = machine.decodeFailed(error)
        }
        carryOut(action, context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushSubmissions()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event as? IdleStateHandler.IdleStateEvent {
        case .write?: carryOut(machine.writeIdle(latestSequence: engine.latestDurableSequence), context: context)
        case .read?: carryOut(machine.readIdle(), context: context)
        default: context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let wireError = error as? WireError else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            close(context: context)
            return
        }
        carryOut(machine.decodeFailed(wireError), context: context)
    }

    /// Checks a HELLO's credentials, and names the connection in the log after them. Never the secret; and a name
    /// only if someone has it, since an unknown one may be a secret typed into the wrong field.
    private func authenticate(_ hello: Hello) -> ConnectionMachine.Access {
        clientName = PeerText.loggable(hello.clientName)
        switch hello.role {
        case .desk:
            // The directory in force now: a reload (SIGHUP) may have replaced the one the hub started with.
            let desks = engine.desks.directoryInForce
            guard let (desk, credential) = desks.authenticate(deskID: hello.principal, token: hello.secret) else {
                let offered =
                    desks.deskIDs.contains(hello.principal)
                    ? hello.principal : PeerText.unknown(hello.principal, "desk id")
                logger.warning("authentication failed", metadata: ["desk.id": "\(offered)"])
                return .denied
            }
            logger[metadataKey: "desk.id"] = "\(desk.id)"
            deskStamp = DeskCredentialStamp(deskID: desk.id, credential: credential)
            return .desk(desk)
        case .subscriber:
            if let keys = configuration.subscriberKeys, !keys.authenticate(name: hello.principal, key: hello.secret) {
                let offered =
                    keys.names.contains(hello.principal)
                    ? PeerText.loggable(hello.principal) : PeerText.unknown(hello.principal, "subscriber name")
                logger.warning("authentication failed", metadata: ["subscriber.name": "\(offered)"])
                return .denied
            }
            logger[metadataKey: "subscriber.name"] = "\(PeerText.loggable(hello.principal))"
            return .subscriber
        }
    }

    private func carryOut(_ action: ConnectionMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .answer(let message):
            // A request refused before it reaches the engine: a field the codec refused, or a subscriber submitting.
            if case .reject(let reject) = message { metrics.rejected(reject.code) }
            context.writeAndFlush(wrapOutboundOut(plain.encode(message)), promise: nil)
        case .established(let welcome, let role, let maxFrameLength):
            handshakeTimer?.cancel()
            reader.handshakeCompleted(maxFrameLength: maxFrameLength)
            codec = FrameCodec(format: welcome.compression, dictionary: engine.presetDictionary)
            // Made after `authenticate` named the desk or subscriber, so that the engine's logs about it say which.
            let connection = PeerConnection(id: machine.peer, channel: context.channel, logger: logger)
            engine.connected(connection, compression: welcome.compression, desk: deskStamp)
            context.writeAndFlush(wrapOutboundOut(plain.encode(.welcome(welcome))), promise: nil)
            logger.info(
                "handshake complete",
                metadata: [
                    "client.name": "\(clientName)", "client.role": "\(role)",
                    "client.compression": "\(welcome.compression)",
                ])
        case .submit(var submission):
            submission.receivedNanos = NIODeadline.now().uptimeNanoseconds
            submissions.append(submission)
        case .subscribe(let subscription):
            engine.subscribe(machine.peer, subscription)
        case .query(let query):
            // After the submissions read before it, so that a desk's query sees its own earlier submissions.
            flushSubmissions()
            engine.query(machine.peer, query)
        case .close:
            close(context: context)
        case .fail(let code, let message):
            logger.info(
                "closing the connection",
                metadata: [
                    "goodbye.code": "\(code.name)",
                    "goodbye.reason": "\(PeerText.loggable(message, maxCharacters: 1024))",
                ])
            let goodbye = Goodbye(code: code, message: message, lastSequence: engine.latestDurableSequence)
            closeAfter(plain.encode(.goodbye(goodbye)), on: context.channel)
        case .refuseForeign(.tls):
            logger.info("rejected a TLS ClientHello: this port speaks the ResultsHub protocol in plain TCP")
            closeAfter(ByteBuffer(bytes: ForeignProtocolAnswer.tlsAlert), on: context.channel)
        case .refuseForeign(.http):
            logger.info("rejected an HTTP request: this port speaks the ResultsHub protocol")
            closeAfter(ByteBuffer(bytes: ForeignProtocolAnswer.httpResponse), on: context.channel)
        case .refuseForeign(.unknown):
            close(context: context)
        }
    }

    private func flushSubmissions() {
        guard !submissions.isEmpty else { return }
        engine.submit(submissions)
        submissions.removeAll(keepingCapacity: true)
    }

    private func close(context: ChannelHandlerContext) {
        // Submissions read before the peer's GOODBYE still go to the engine (their acks cannot be delivered).
        flushSubmissions()
        context.close(promise: nil)
    }
}
