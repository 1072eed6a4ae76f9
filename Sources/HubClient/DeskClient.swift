import ElectionModel
import HubWire
import Logging
import NIOCore
import NIOPosix

/// A rejection from the hub: the request was understood and refused, with the spec's code and a message naming
/// what is wrong.
public struct HubRejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var description: String { "\(code.name): \(message)" }

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}

/// A desk's connection to the hub: submit declarations and withdrawals and get each one's ack (only sent once the
/// hub has it durably), or a `HubRejection`. Requests may be issued concurrently; answers are matched by request id.
/// If the connection drops before an answer arrives, the client reconnects and resubmits, which is safe because
/// resubmitting the same declaration is idempotent. With a `timeout`, every wait on the hub (connecting, the
/// handshake, each answer) is bounded and ends in `HubClientError.timedOut`, which is not retried.
public actor DeskClient {
    public let address: HubAddress
    private let hello: Hello
    private let group: any EventLoopGroup
    private let logger: Logger
    private let attempts: Int
    private let timeout: Duration?
    private var connection: HubConnection?

    public init(
        address: HubAddress, deskID: String, token: String, clientName: String = "HubClient",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger, attempts: Int = 3,
        timeout: Duration? = nil
    ) {
        self.address = address
        self.hello = Hello(role: .desk, principal: deskID, secret: token, compression: [], clientName: clientName)
        self.group = group
        self.logger = logger
        self.attempts = max(1, attempts)
        self.timeout = timeout
    }

    /// A client for queries only (scoreboard, contest, election), connected as a subscriber, so that it needs no
    /// desk token. Submissions through it are rejected by the hub.
    public init(
        address: HubAddress, observerName: String, key: String = "", clientName: String = "HubClient",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger, timeout: Duration? = nil
    ) {
        self.address = address
        self.hello = Hello(
            role: .subscriber, principal: observerName, secret: key, compression: [], clientName: clientName)
        self.group = group
        self.logger = logger
        self.attempts = 3
        self.timeout = timeout
    }

    /// What the hub said in its WELCOME (connects if needed).
    public func welcome() async throws -> Welcome {
        try await connected().welcome
    }

    public func submit(_ declaration: Declaration) async throws -> Ack {
        try await acknowledged { .submit(Submit(requestID: $0, declaration: declaration)) }
    }

    public func withdraw(_ withdrawal: Withdrawal) async throws -> Ack {
        try await acknowledged { .withdraw(WithdrawRequest(requestID: $0, withdrawal: withdrawal)) }
    }

    public func scoreboard() async throws -> Scoreboard {
        guard case .scoreboard(let answer) = try await request({ .query(Query(requestID: $0, kind: .scoreboard)) })
        else {
            throw HubClientError.unexpected("not a SCOREBOARD")
        }
        return answer.scoreboard
    }

    /// The contest's current record (nil if none yet) and the sequence number it reflects.
    public func contest(_ id: ContestID) async throws -> ContestAnswer {
        guard case .contest(let answer) = try await request({ .query(Query(requestID: $0, kind: .contest(id))) }) else {
            throw HubClientError.unexpected("not a CONTEST")
        }
        return answer
    }

    /// The election the hub serves (to turn slugs and party codes into ids).
    public func election() async throws -> Election {
        guard case .election(let answer) = try await request({ .query(Query(requestID: $0, kind: .election)) }) else {
            throw HubClientError.unexpected("not an ELECTION")
        }
        return try Election(definition: answer.definition)
    }

    public func close() async {
        connection?.close()
        connection = nil
    }

    private func acknowledged(_ make: @escaping @Sendable (UInt64) -> HubMessage) async throws -> Ack {
        guard case .ack(let ack) = try await request(make) else { throw HubClientError.unexpected("not an ACK") }
        return ack
    }

    private func request(_ make: @escaping @Sendable (UInt64) -> HubMessage) async throws -> HubMessage {
        var lastError: any Error = HubClientError.connectionLost
        for attempt in 0..<attempts {
            if attempt > 0 {
                try await Task.sleep(for: .milliseconds(100 << min(attempt, 5)))
                logger.info(
                    "retrying after a lost connection",
                    metadata: ["hub.address": "\(address)", "attempt": "\(attempt + 1)"])
            }
            let connection: HubConnection
            do {
                connection = try await connected()
            } catch let error as HubClientError {
                if case .unreachable = error {
                    lastError = error
                    continue
                }
                throw error
            }
            do {
                let answer = try await connection.request(make)
                if case .reject(let reject) = answer {
                    let rejection = HubRejection(code: reject.code, message: reject.message)
                    // Nothing was stored; the same submission may go through in a moment (the spec says: submit again).
                    if reject.code == .storeUnavailable && attempt + 1 < attempts {
                        lastError = rejection
                        continue
                    }
                    throw rejection
                }
                return answer
            } catch let error as HubClientError where Self.isRetryable(error) {
                if self.connection?.channel === connection.channel { self.connection = nil }
                lastError = error
            }
        }
        throw lastError
    }

    /// A lost connection, or one the hub closed for a reason that a new connection fixes (a restart, idleness).
    private static func isRetryable(_ error: HubClientError) -> Bool {
        switch error {
        case .connectionLost: return true
        case .closedByHub(let goodbye):
            return goodbye.code.isConnectionError && goodbye.code != .authenticationFailed
                && goodbye.code != .unsupportedVersion
        default: return false
        }
    }

    private func connected() async throws -> HubConnection {
        if let connection, connection.isOpen { return connection }
        let fresh = try await HubConnection.open(
            to: address, hello: hello,
            configuration: HubConnection.Configuration(connectTimeout: timeout, requestTimeout: timeout),
            group: group, logger: logger)
        connection = fresh
        return fresh
    }
}
