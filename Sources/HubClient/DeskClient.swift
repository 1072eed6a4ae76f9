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
///
/// Hubs that share a store (spec 6.18): given several addresses, the client tries the next when one is unreachable;
/// a hub that does not take submissions names the leader in its GOODBYE, and the client goes there and resubmits
/// (at most `maxRedirects` times in a row, so that two misconfigured hubs cannot bounce it forever).
public actor DeskClient {
    /// The hub the client talks to now: the first address, then wherever it was sent or had to go.
    public private(set) var address: HubAddress
    /// The addresses it was given, tried in turn when the current one is unreachable.
    public let addresses: [HubAddress]
    public static let maxRedirects = 5
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
        self.init(
            addresses: [address], deskID: deskID, token: token, clientName: clientName, group: group, logger: logger,
            attempts: attempts, timeout: timeout)
    }

    /// A desk of a cluster: `addresses` are its hubs (at least one), any of them; the leader is found from them.
    public init(
        addresses: [HubAddress], deskID: String, token: String, clientName: String = "HubClient",
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger, attempts: Int = 3,
        timeout: Duration? = nil
    ) {
        precondition(!addresses.isEmpty, "a desk client needs a hub address")
        self.address = addresses[0]
        self.addresses = addresses
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
        self.addresses = [address]
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
        var redirects = 0
        var attempt = 0
        // Addresses found unreachable since one answered: one attempt is a round over all of them.
        var unreachable = 0
        while attempt < attempts {
            defer { attempt += 1 }
            if redirects > 0 && attempt == 0 {
                // Redirected: a short pause, growing, so that hubs naming each other cannot make it spin.
                try await Task.sleep(for: .milliseconds(20 * redirects))
            } else if attempt > 0 {
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
                    moveToNextAddress()
                    unreachable += 1
                    // The other addresses first, before this counts as an attempt.
                    if unreachable % addresses.count != 0 { attempt -= 1 }
                    continue
                }
                if case .closedByHub(let goodbye) = error, let leader = goodbye.leader {
                    try await follow(leader, redirects: &redirects, attempt: &attempt, goodbye)
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
                if case .closedByHub(let goodbye) = error, let leader = goodbye.leader {
                    try await follow(leader, redirects: &redirects, attempt: &attempt, goodbye)
                }
                lastError = error
            }
        }
        throw lastError
    }

    /// A hub that takes no submissions sent the desk to `leader` (spec 6.18): go there, without counting it as a
    /// failed attempt; with no leader known (a failover under way), try the next address after the usual wait.
    private func follow(
        _ leader: String, redirects: inout Int, attempt: inout Int, _ goodbye: Goodbye
    ) async throws {
        connection?.close()
        connection = nil
        guard !leader.isEmpty else {
            // No leader just now (a failover): the next address after half a second (spec 6.18), as an attempt.
            try await Task.sleep(for: .milliseconds(500))
            moveToNextAddress()
            return
        }
        redirects += 1
        guard redirects <= Self.maxRedirects else {
            throw HubClientError.unexpected(
                "sent from hub to hub \(Self.maxRedirects) times without reaching one that takes submissions (last: \(goodbye.message))"
            )
        }
        guard var next = HubAddress(leader) else {
            throw HubClientError.unexpected("the hub sent the desk to \"\(leader)\", which is not a host:port")
        }
        next.tls = address.tls
        logger.info("sent to the leader", metadata: ["hub.address": "\(address)", "hub.leader": "\(next)"])
        address = next
        attempt -= 1
    }

    /// The next of the addresses given, after the one in use (or the first, after a redirect elsewhere).
    private func moveToNextAddress() {
        guard addresses.count > 1 else { return }
        connection = nil
        let index = addresses.firstIndex(of: address).map { ($0 + 1) % addresses.count } ?? 0
        address = addresses[index]
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
