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
    /// This many requests already wait for answers on the connection.
    case tooManyRequests(limit: Int)
    /// TLS to the hub failed: a certificate not signed by the CA trusted, not for the host, a hub without TLS.
    case tls(address: String, reason: String)

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
        case .tooManyRequests(let limit): return "\(limit) requests already wait for answers on this connection"
        case .tls(let address, let reason): return "TLS with the hub at \(address) failed: \(reason)"
        }
    }
}

/// One connection to a hub, used by one task: send messages, receive every message in order, answers included (a
/// `HubConnection` that makes no requests and sends no heartbeats of its own). `HubSession.connect` performs the
/// handshake; `useCompression` then inflates what the hub compresses.
public struct HubSession: ~Copyable {
    public let connection: HubConnection
    private var events: HubConnection.Events.AsyncIterator

    public var welcome: Welcome { connection.welcome }

    private init(connection: HubConnection, events: HubConnection.Events.AsyncIterator) {
        self.connection = connection
        self.events = events
    }

    /// Connects, says HELLO, and runs `body` with the session; the connection is closed when `body` returns.
    /// `timeout` bounds connecting and the wait for the hub's answer to HELLO (`HubClientError.timedOut`); nil waits
    /// as long as TCP does.
    public static func connect<Result: Sendable>(
        host: String, port: Int, hello: Hello, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        timeout: Duration? = nil, logger: Logger = Logger(label: "HubSession"),
        _ body: (inout HubSession) async throws -> Result
    ) async throws -> Result {
        let configuration = HubConnection.Configuration(connectTimeout: timeout, sendsHeartbeats: false)
        return try await HubConnection.connect(
            to: HubAddress(host: host, port: port), hello: hello, configuration: configuration, group: group,
            logger: logger
        ) { connection, events in
            var session = HubSession(connection: connection, events: events.makeAsyncIterator())
            return try await body(&session)
        }
    }

    /// The hub's heartbeat interval from WELCOME; nil when it asks for none.
    public var heartbeatInterval: Duration? { connection.heartbeatInterval }

    /// Installs the compression the hub chose; the preset dictionary comes from the election definition.
    public func useCompression(dictionary: [UInt8]) {
        connection.useCompression(dictionary: dictionary)
    }

    public func send(_ message: HubMessage) async throws {
        try await connection.send(message)
    }

    /// The next message, or nil when the hub closed the connection.
    public mutating func receive() async throws -> HubMessage? {
        while let event = try await events.next() {
            if case .message(let message, _) = event { return message }
        }
        return nil
    }
}
