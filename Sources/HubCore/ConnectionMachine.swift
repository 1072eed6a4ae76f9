import ElectionModel
import HubWire

/// One connection's protocol policy: the handshake (version, role, credentials) and then which messages its role
/// may send. Messages go in; what to do comes out as an `Action` that the server's connection handler carries
/// out. Plain values: no I/O, no clock, no channel.
public struct ConnectionMachine: Sendable {
    /// What the hub tells every client in WELCOME, and what subscriptions are checked against.
    public struct Context: Sendable {
        public var hubName: String
        public var electionID: String
        public var electionDigest: UInt64
        public var definitionDigest: UInt64
        public var heartbeatIntervalMillis: UInt32
        public var regionCount: Int
        /// The hub serves a rehearsal (spec 6.17): WELCOME says so.
        public var rehearsal: Bool

        public init(
            hubName: String, electionID: String, electionDigest: UInt64, definitionDigest: UInt64,
            heartbeatIntervalMillis: UInt32, regionCount: Int, rehearsal: Bool = false
        ) {
            self.hubName = hubName
            self.electionID = electionID
            self.electionDigest = electionDigest
            self.definitionDigest = definitionDigest
            self.heartbeatIntervalMillis = heartbeatIntervalMillis
            self.regionCount = regionCount
            self.rehearsal = rehearsal
        }
    }

    /// What a HELLO's credentials turned out to be.
    public enum Access: Hashable, Sendable {
        case desk(DeskIdentity)
        case subscriber
        case denied
    }

    public enum State: Hashable, Sendable {
        case awaitingHello(attempts: Int)
        case desk(DeskIdentity, CompressionFormat)
        case subscriber(CompressionFormat, subscribed: Bool)
        case closing
    }

    public enum Action: Hashable, Sendable {
        case none
        /// Write this message, uncompressed, on this connection.
        case answer(HubMessage)
        /// The handshake succeeded: the connection now speaks `role` with this compression and frame limit; write
        /// the WELCOME.
        case established(Welcome, role: ClientRole, maxFrameLength: UInt32)
        /// Hand to the hub (the handler gathers those of one read into one hand-over).
        case submit(HubMachine.Submission)
        case subscribe(Subscribe)
        case query(Query)
        /// The peer said GOODBYE: close without answering.
        case close
        /// Say GOODBYE with this code and reason, then close.
        case fail(ErrorCode, String)
        /// Someone speaks another protocol on this port: answer in that protocol so that its user reads why, then
        /// close.
        case refuseForeign(ForeignProtocol)
    }

    public let peer: PeerID
    public let context: Context
    public private(set) var state: State = .awaitingHello(attempts: 0)

    public init(peer: PeerID, context: Context) {
        self.peer = peer
        self.context = context
    }

    /// The compression the connection's frames use (none until the handshake).
    public var compression: CompressionFormat {
        switch state {
        case .desk(_, let compression), .subscriber(let compression, _): return compression
        case .awaitingHello, .closing: return .none
        }
    }

    public var isEstablished: Bool {
        switch state {
        case .desk, .subscriber: return true
        case .awaitingHello, .closing: return false
        }
    }

    /// A decoded message. `authenticate` is asked about a HELLO's credentials, `latestSequence` goes into WELCOME.
    public mutating func received(
        _ message: HubMessage, latestSequence: UInt64, authenticate: (Hello) -> Access
    ) -> Action {
        switch state {
        case .awaitingHello(let attempts):
            guard case .hello(let hello) = message else {
                return fail(.unexpectedMessage, "the first message must be HELLO, not \(message.type.specName)")
            }
            return handshake(hello, attempts: attempts, latestSequence: latestSequence, authenticate: authenticate)
        case .desk(let desk, _):
            return deskSent(message, desk: desk)
        case .subscriber(let compression, let subscribed):
            return subscriberSent(message, compression: compression, subscribed: subscribed)
        case .closing:
            return .none
        }
    }

    /// A frame that did not decode, or a framing error.
    public mutating func decodeFailed(_ error: WireError) -> Action {
        if let requestID = error.requestID {
            // The frame was whole and only a field of this request is wrong: the request fails, the connection and
            // the desk's other requests in flight do not (spec 6.4). A subscriber may not send it at all, whatever
            // its fields hold.
            switch state {
            case .desk:
                return .answer(.reject(Reject(requestID: requestID, code: error.code, message: error.message)))
            case .subscriber:
                return .answer(
                    .reject(
                        Reject(requestID: requestID, code: .unexpectedMessage, message: Self.subscriberCannotSubmit))
                )
            case .awaitingHello, .closing:
                break
            }
        }
        if let foreign = error.foreignProtocol, foreign != .unknown {
            guard !isClosing else { return .none }
            state = .closing
            return .refuseForeign(foreign)
        }
        return fail(error.code, error.message)
    }

    public mutating func handshakeTimedOut() -> Action {
        guard case .awaitingHello = state else { return .none }
        return fail(.handshakeTimeout, "no HELLO within the handshake timeout")
    }

    /// Nothing was written for a heartbeat interval.
    public func writeIdle(latestSequence: UInt64) -> Action {
        isEstablished ? .answer(.heartbeat(Heartbeat(sequence: latestSequence))) : .none
    }

    /// Nothing was read for three heartbeat intervals.
    public mutating func readIdle() -> Action {
        isEstablished ? fail(.idleTimeout, "nothing received for 3 heartbeat intervals") : .none
    }

    // MARK: Rules

    static let subscriberCannotSubmit = "a subscriber cannot submit; connect as a desk"
    static let subscriberCannotWithdraw = "a subscriber cannot withdraw; connect as a desk"

    private var isClosing: Bool { state == .closing }

    private mutating func fail(_ code: ErrorCode, _ message: String) -> Action {
        guard !isClosing else { return .none }
        state = .closing
        return .fail(code, message)
    }

    private mutating func handshake(
        _ hello: Hello, attempts: Int, latestSequence: UInt64, authenticate: (Hello) -> Access
    ) -> Action {
        guard let version = ProtocolVersion.negotiate(clientMin: hello.minVersion, clientMax: hello.maxVersion) else {
            guard attempts < WireLimits.maxHelloAttempts else {
                return fail(.unsupportedVersion, ProtocolVersion.rangeAnswer.message)
            }
            state = .awaitingHello(attempts: attempts + 1)
            return .answer(.versionRange(ProtocolVersion.rangeAnswer))
        }
        let compression = CompressionFormat.choose(from: hello.compression)
        var welcome = Welcome(
            version: version, hubName: context.hubName, electionID: context.electionID,
            electionDigest: context.electionDigest, latestSequence: latestSequence, compression: compression,
            heartbeatIntervalMillis: context.heartbeatIntervalMillis, allRegions: false, regions: [],
            definitionDigest: context.definitionDigest)
        welcome.rehearsal = context.rehearsal
        switch (hello.role, authenticate(hello)) {
        case (.desk, .desk(let desk)):
            switch desk.scope {
            case .all: welcome.allRegions = true
            case .regions(let regions): welcome.regions = regions.sorted()
            }
            state = .desk(desk, compression)
            return .established(welcome, role: .desk, maxFrameLength: WireLimits.maxFrameLength)
        case (.subscriber, .subscriber):
            state = .subscriber(compression, subscribed: false)
            return .established(welcome, role: .subscriber, maxFrameLength: WireLimits.maxSubscriberFrameLength)
        default:
            return fail(.authenticationFailed, "authentication failed")
        }
    }

    private mutating func deskSent(_ message: HubMessage, desk: DeskIdentity) -> Action {
        switch message {
        case .submit(let submit):
            return .submit(
                HubMachine.Submission(
                    peer: peer, desk: desk, requestID: submit.requestID, kind: .declaration(submit.declaration)))
        case .withdraw(let request):
            return .submit(
                HubMachine.Submission(
                    peer: peer, desk: desk, requestID: request.requestID, kind: .withdrawal(request.withdrawal)))
        case .subscribe:
            return fail(.unexpectedMessage, "a desk cannot subscribe; connect as a subscriber")
        default:
            return eitherRoleSent(message, role: "a desk")
        }
    }

    /// What desks and subscribers alike may send.
    private mutating func eitherRoleSent(_ message: HubMessage, role: String) -> Action {
        switch message {
        case .query(let query):
            return .query(query)
        case .heartbeat:
            return .none
        case .goodbye:
            state = .closing
            return .close
        default:
            return fail(.unexpectedMessage, "\(role) does not send \(message.type.specName)")
        }
    }

    private mutating func subscriberSent(
        _ message: HubMessage, compression: CompressionFormat, subscribed: Bool
    ) -> Action {
        switch message {
        case .subscribe(let subscribe):
            guard !subscribed else { return fail(.unexpectedMessage, "SUBSCRIBE was already sent on this connection") }
            if case .regions(let regions) = subscribe.filter,
                let unknown = regions.first(where: { Int($0.rawValue) >= context.regionCount })
            {
                return fail(.malformedFrame, "subscribe names region index \(unknown.rawValue), which does not exist")
            }
            state = .subscriber(compression, subscribed: true)
            return .subscribe(subscribe)
        case .submit(let submit):
            return .answer(
                .reject(
                    Reject(requestID: submit.requestID, code: .unexpectedMessage, message: Self.subscriberCannotSubmit))
            )
        case .withdraw(let request):
            return .answer(
                .reject(
                    Reject(
                        requestID: request.requestID, code: .unexpectedMessage, message: Self.subscriberCannotWithdraw))
            )
        default:
            return eitherRoleSent(message, role: "a subscriber")
        }
    }
}
