import ElectionModel
import HubWire
import Logging
import NIOCore
import NIOPosix

/// Why a client operation failed.
public enum HubClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The hub could not be reached at this address.
    case unreachable(address: String, reason: String)
    /// The hub closed the connection, saying why.
    case closedByHub(Goodbye)
    /// The connection ended without a goodbye.
    case connectionLost
    /// The hub does not speak a version this client speaks.
    case unsupportedVersion(VersionRange)
    /// The hub sent something this client cannot decode.
    case protocolViolation(WireError)
    /// The hub sent a message that makes no sense at this point.
    case unexpected(String)
    /// Nothing came from the hub within the bound the client set (a port that is not a hub, a paused hub).
    case timedOut(address: String, waitingFor: String, after: Duration)

    public var description: String {
        switch self {
        case .unreachable(let address, let reason): return "cannot reach the hub at \(address): \(reason)"
        case .closedByHub(let goodbye): return "the hub closed the connection: \(goodbye.code.name): \(goodbye.message)"
        case .connectionLost: return "the connection to the hub was lost"
        case .unsupportedVersion(let range):
            return
                "the hub speaks protocol versions \(range.minVersion) to \(range.maxVersion), this client \(ProtocolVersion.minimum) to \(ProtocolVersion.maximum)"
        case .protocolViolation(let error): return "the hub sent something invalid: \(error)"
        case .unexpected(let what): return "unexpected message from the hub: \(what)"
        case .timedOut(let address, let what, let duration):
            return
                "no answer from the hub at \(address) within \(duration.spoken) (waiting for \(what)); is results-hub running there, and not paused?"
        }
    }
}

/// One connection to a hub, used by one task: send messages, receive messages in order. `HubSession.connect`
/// performs the handshake; the session's codec then inflates what the hub compresses.
public struct HubSession: ~Copyable {
    private var inbound: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    private var codec: FrameCodec
    public private(set) var welcome: Welcome

    private init(
        inbound: NIOAsyncChannelInboundStream<Frame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        channel: any Channel, welcome: Welcome
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.channel = channel
        self.codec = FrameCodec()
        self.welcome = welcome
    }

    /// Connects, says HELLO, and runs `body` with the session; the connection is closed when `body` returns.
    /// `timeout` bounds connecting and the wait for the hub's answer to HELLO (`HubClientError.timedOut`); nil waits
    /// as long as TCP does.
    public static func connect<Result: Sendable>(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: Duration? = nil, _ body: (inout HubSession) async throws -> Result
    ) async throws -> Result {
        let address = HubAddress(host: host, port: port)
        let channel = try await FrameChannel.connect(to: address, group: group, timeout: timeout)
        let underlying = channel.channel
        return try await channel.executeThenClose { inbound, outbound in
            var session = HubSession(
                inbound: inbound.makeAsyncIterator(), outbound: outbound, channel: underlying,
                welcome: Welcome(
                    version: 0, hubName: "", electionID: "", electionDigest: 0, latestSequence: 0, compression: .none,
                    heartbeatIntervalMillis: 0, allRegions: false, regions: []))
            let deadline = session.link.deadline(timeout)
            try await deadline.bound(address: address, waitingFor: "its answer to HELLO") {
                try await session.handshake(hello)
            }
            return try await body(&session)
        }
    }

    /// For another task: heartbeats, and closing the connection.
    public var link: SessionLink { SessionLink(outbound: outbound, channel: channel) }

    /// The hub's heartbeat interval from WELCOME; nil when it asks for none.
    public var heartbeatInterval: Duration? {
        welcome.heartbeatIntervalMillis == 0 ? nil : .milliseconds(Int64(welcome.heartbeatIntervalMillis))
    }

    private mutating func handshake(_ hello: Hello) async throws {
        try await send(.hello(hello))
        welcome = try FrameChannel.welcome(from: try await receive())
    }

    /// Installs the compression the hub chose; the preset dictionary comes from the election definition.
    public mutating func useCompression(dictionary: [UInt8]) {
        codec = FrameCodec(format: welcome.compression, dictionary: dictionary)
    }

    public func send(_ message: HubMessage) async throws {
        try await outbound.write(codec.encode(message))
    }

    /// Sends raw bytes, for tests that speak to the hub out of turn.
    public func sendRaw(_ bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }

    /// The next message, or nil when the hub closed the connection.
    public mutating func receive() async throws -> HubMessage? {
        let frame: Frame?
        do {
            frame = try await inbound.next()
        } catch let error as WireError {
            throw HubClientError.protocolViolation(error)
        }
        guard let frame else { return nil }
        do {
            return try codec.decode(frame)
        } catch {
            throw HubClientError.protocolViolation(error)
        }
    }
}
