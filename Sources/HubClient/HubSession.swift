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
        }
    }
}

/// One connection to a hub, used by one task: send messages, receive messages in order. `HubSession.connect`
/// performs the handshake; the session's codec then inflates what the hub compresses.
public struct HubSession: ~Copyable {
    private var inbound: NIOAsyncChannelInboundStream<Frame>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var codec: FrameCodec
    public private(set) var welcome: Welcome

    private init(
        inbound: NIOAsyncChannelInboundStream<Frame>.AsyncIterator, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>,
        welcome: Welcome
    ) {
        self.inbound = inbound
        self.outbound = outbound
        self.codec = FrameCodec()
        self.welcome = welcome
    }

    /// Connects, says HELLO, and runs `body` with the session; the connection is closed when `body` returns.
    public static func connect<Result: Sendable>(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ body: (inout HubSession) async throws -> Result
    ) async throws -> Result {
        let channel = try await FrameChannel.connect(to: HubAddress(host: host, port: port), group: group)
        return try await channel.executeThenClose { inbound, outbound in
            var session = HubSession(
                inbound: inbound.makeAsyncIterator(), outbound: outbound,
                welcome: Welcome(
                    version: 0, hubName: "", electionID: "", electionDigest: 0, latestSequence: 0, compression: .none,
                    heartbeatIntervalMillis: 0, allRegions: false, regions: []))
            try await session.handshake(hello)
            return try await body(&session)
        }
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
