import ArgumentParser
import ClientOptions
import ElectionModel
import Foundation
import HubClient
import HubWire
import Logging
import Synchronization

@main
struct Reporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reporter",
        abstract: "Submit, correct and withdraw results at a ResultsHub hub, and watch them arrive.",
        version: ResultsHubVersion.currentWithProtocol,
        subcommands: [
            Submit.self, Withdraw.self, ScoreboardCommand.self, ContestCommand.self, ContestsCommand.self,
            Watch.self,
        ])
}

/// Options every subcommand shares.
struct HubOptions: ParsableArguments {
    @Option(
        help: """
            The hub's address, HOST:PORT or [IPv6]:PORT; for hubs that share a store, several separated by commas \
            (a desk is sent to the leader, and a watcher resumes at the next hub when one fails).
            """)
    var hub = "127.0.0.1:7400"

    @Option(help: "Desk id (or the environment variable RESULTS_HUB_DESK).")
    var desk: String?

    @Option(help: "Desk token (or the environment variable RESULTS_HUB_TOKEN).")
    var token: String?

    @Option(help: "Subscriber name, when the hub requires subscriber keys.")
    var subscriber = "reporter"

    @Option(help: "Subscriber key (or RESULTS_HUB_KEY), when the hub requires subscriber keys.")
    var key: String?

    @Option(help: "Seconds to wait for the hub (connecting, the handshake, each answer) before giving up.")
    var timeout: Double = 10

    @OptionGroup var clientTLS: HubClientTLSOptions

    @Flag(help: "Log connection details to standard error.")
    var verbose = false

    func validate() throws {
        for text in hub.split(separator: ",") where HubAddress(String(text)) == nil {
            throw ValidationError("--hub \(text) is not HOST:PORT or [IPv6]:PORT with a port from 1 to 65535")
        }
        try clientTLS.validate()
        guard timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout \(timeout) is not 0 to 3600 seconds")
        }
    }

    /// Checked by `validate()`.
    var addresses: [HubAddress] {
        let addresses = hub.split(separator: ",").compactMap { HubAddress(String($0)) }
        return (addresses.isEmpty ? [.default] : addresses).map { clientTLS.applied(to: $0) }
    }

    /// The first of `--hub`'s addresses.
    var address: HubAddress { addresses[0] }

    var timeLimit: Duration { .milliseconds(Int64((timeout * 1000).rounded())) }

    var logger: Logger {
        var logger = Logger(label: "reporter") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .critical
        return logger
    }

    var deskID: String? { desk ?? ProcessInfo.processInfo.environment["RESULTS_HUB_DESK"] }
    var deskToken: String? { token ?? ProcessInfo.processInfo.environment["RESULTS_HUB_TOKEN"] }
    var subscriberKey: String { key ?? ProcessInfo.processInfo.environment["RESULTS_HUB_KEY"] ?? "" }

    /// For commands that submit: a usage error, with the subcommand's usage, when the desk is not named.
    func validateDesk() throws {
        guard deskID != nil else { throw ValidationError("name the desk: --desk ID or RESULTS_HUB_DESK") }
        guard deskToken != nil else {
            throw ValidationError("give the desk's token: --token TOKEN or RESULTS_HUB_TOKEN")
        }
    }

    /// For queries: as the desk when credentials are given, else as an observer.
    func queryClient() -> DeskClient {
        if deskID != nil && deskToken != nil { return deskClient() }
        return DeskClient(
            address: address, observerName: subscriber, key: subscriberKey, clientName: "reporter", logger: logger,
            timeout: timeLimit)
    }

    /// Checked by `validateDesk()`.
    func deskClient() -> DeskClient {
        // Hubs of a cluster: enough attempts (about 6 s of backoff) to ride out a failover.
        DeskClient(
            addresses: addresses, deskID: deskID ?? "", token: deskToken ?? "", clientName: "reporter", logger: logger,
            attempts: addresses.count > 1 ? 6 : 3, timeout: timeLimit)
    }

    func subscriberClient(filter: SubscriptionFilter = .all) -> SubscriberClient {
        var client = SubscriberClient(
            address: address, name: subscriber, key: subscriberKey, filter: filter, logger: logger)
        client.otherAddresses = Array(addresses.dropFirst())
        client.timeout = timeLimit
        return client
    }
}

/// What a person sees when something fails: one line, and an exit code.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The one wording of each client failure, the same in every command.
func explanation(of error: any Error, at address: HubAddress) -> any Error {
    switch error {
    case HubClientError.unreachable(_, let reason):
        return Failure("cannot reach the hub at \(address): \(reason)")
    case HubClientError.closedByHub(let goodbye) where goodbye.code == .authenticationFailed:
        return Failure(
            "the hub at \(address) refused the desk id and token, or subscriber name and key (authentication failed)")
    case HubClientError.closedByHub(let goodbye):
        return Failure("the hub at \(address) closed the connection: \(goodbye.code.name): \(goodbye.message)")
    case let error as HubClientError:
        return Failure("\(error)")
    case let error as ElectionMismatch:
        return Failure("\(address): \(error)")
    default:
        return error
    }
}

/// Runs a client operation, turning client errors into messages a person can act on.
func explained<T>(_ address: HubAddress, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let rejection as HubRejection {
        throw rejection
    } catch {
        throw explanation(of: error, at: address)
    }
}

/// Whether the hub this run talks to serves a rehearsal (spec 6.17), from its WELCOME or its results: every output
/// then says so.
let rehearsalHub = Atomic<Bool>(false)

/// Notes that the hub serves a rehearsal when `marked`; it never goes back to live on one run.
func noteRehearsal(_ marked: Bool) {
    if marked { rehearsalHub.store(true, ordering: .relaxed) }
}

/// Notes the rehearsal marking of a desk or query client's hub (already connected: no round trip).
func noteRehearsal(of client: DeskClient) async {
    noteRehearsal((try? await client.welcome())?.rehearsal ?? false)
}

/// Everything the reporter writes to standard output. From a rehearsal hub, nothing may pass for real results: each
/// text line starts with "TEST", and each JSON object (a line, or each object of a JSON array) gains
/// `"rehearsal": true`.
func say(_ text: String) {
    print(rehearsalHub.load(ordering: .relaxed) ? markedAsTest(text) : text)
}

func markedAsTest(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
        guard line.first == "{" || line.first == "[",
            let value = try? JSONSerialization.jsonObject(with: Data(line.utf8))
        else { return line.isEmpty ? "" : "TEST  " + line }
        let marked: Any
        if let object = value as? [String: Any] {
            marked = object.merging(["rehearsal": true]) { _, new in new }
        } else if let array = value as? [Any] {
            marked = array.map { element -> Any in
                (element as? [String: Any]).map { $0.merging(["rehearsal": true]) { _, new in new } } ?? element
            }
        } else {
            return "TEST  " + line
        }
        let data = try? JSONSerialization.data(withJSONObject: marked, options: [.sortedKeys, .withoutEscapingSlashes])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "TEST  " + line
    }.joined(separator: "\n")
}

func writeError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func jsonLine(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
}

func fflushStandardOutput() {
    fflush(nil)
}

/// Milliseconds since the Unix epoch, now.
func nowMillis() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
