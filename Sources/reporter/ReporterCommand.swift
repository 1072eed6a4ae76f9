import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire
import Logging

@main
struct Reporter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reporter",
        abstract: "Submit, correct and withdraw results at a ResultsHub hub, and watch them arrive.",
        subcommands: [Submit.self, Withdraw.self, ScoreboardCommand.self, ContestCommand.self, Watch.self])
}

/// Options every subcommand shares.
struct HubOptions: ParsableArguments {
    @Option(help: "The hub's address, HOST:PORT.")
    var hub = "127.0.0.1:7400"

    @Option(help: "Desk id (or the environment variable RESULTS_HUB_DESK).")
    var desk: String?

    @Option(help: "Desk token (or the environment variable RESULTS_HUB_TOKEN).")
    var token: String?

    @Option(help: "Subscriber name, when the hub requires subscriber keys.")
    var subscriber = "reporter"

    @Option(help: "Subscriber key (or RESULTS_HUB_KEY), when the hub requires subscriber keys.")
    var key: String?

    @Flag(help: "Log connection details to standard error.")
    var verbose = false

    var address: HubAddress {
        get throws {
            guard let address = HubAddress(hub) else { throw ValidationError("--hub \(hub) is not HOST:PORT") }
            return address
        }
    }

    var logger: Logger {
        var logger = Logger(label: "reporter") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .critical
        return logger
    }

    var deskID: String? { desk ?? ProcessInfo.processInfo.environment["RESULTS_HUB_DESK"] }
    var deskToken: String? { token ?? ProcessInfo.processInfo.environment["RESULTS_HUB_TOKEN"] }
    var subscriberKey: String { key ?? ProcessInfo.processInfo.environment["RESULTS_HUB_KEY"] ?? "" }

    /// For queries: as the desk when credentials are given, else as an observer.
    func queryClient() throws -> DeskClient {
        if deskID != nil && deskToken != nil { return try deskClient() }
        return DeskClient(
            address: try address, observerName: subscriber, key: subscriberKey, clientName: "reporter", logger: logger)
    }

    func deskClient() throws -> DeskClient {
        guard let deskID else { throw ValidationError("name the desk: --desk ID or RESULTS_HUB_DESK") }
        guard let deskToken else { throw ValidationError("give the desk's token: --token TOKEN or RESULTS_HUB_TOKEN") }
        return DeskClient(
            address: try address, deskID: deskID, token: deskToken, clientName: "reporter", logger: logger)
    }
}

/// What a person sees when something fails: one line, and an exit code.
struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a client operation, turning client errors into messages a person can act on.
func explained<T>(_ address: HubAddress, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as HubClientError {
        switch error {
        case .unreachable(_, let reason): throw Failure("cannot reach the hub at \(address): \(reason)")
        case .closedByHub(let goodbye) where goodbye.code == .authenticationFailed:
            throw Failure(
                "the hub at \(address) refused the desk id and token, or subscriber name and key (authentication failed)"
            )
        default: throw Failure("\(error)")
        }
    }
}

extension Election {
    /// The contest for a slug, or a message suggesting close ones.
    func contest(named slug: String) throws -> Contest {
        if let contest = contest(slug: slug) { return contest }
        let close = slugs(closeTo: slug)
        throw Failure(
            "unknown contest \"\(slug)\"" + (close.isEmpty ? "" : "; did you mean: \(close.joined(separator: ", "))?"))
    }

    /// Parses "LAB=31,CON=22" into counts per party.
    func counts(_ text: String, what: String) throws -> [PartyCount] {
        var counts: [PartyCount] = []
        for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespaces).isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, let value = Int(pair[1]) else {
                throw Failure("\(what): \"\(item)\" is not PARTY=COUNT")
            }
            guard let party = party(code: pair[0].uppercased()) else {
                throw Failure(
                    "\(what): unknown party \"\(pair[0])\"; parties: \(parties.map(\.code).joined(separator: ", "))")
            }
            guard value >= 0 else {
                throw Failure("\(what): " + DeclarationError.negativeCount(party: pair[0], value: value).description)
            }
            guard let count = UInt32(exactly: value) else { throw Failure("\(what): \(value) is too large") }
            counts.append(PartyCount(party: party, count: count))
        }
        return counts
    }

    /// "LAB gain from CON", "NOC (CON lose)", "withdrawn".
    func headline(for record: ContestRecord) -> String {
        guard let contest = contest(record.contestID) else { return "contest \(record.contestID.rawValue)" }
        switch record.state {
        case .declared(let result): return headline(control: result.control, outcome: result.outcome, contest: contest)
        case .withdrawn: return "result withdrawn"
        }
    }
}

func ackLine(_ ack: Ack, contest: Contest, election: Election) -> String {
    let what: String
    switch ack.status {
    case .declared:
        what = election.headline(control: ack.control, outcome: ack.outcome, contest: contest)
    case .withdrawn:
        what = "result withdrawn"
    }
    if ack.duplicate {
        return
            "\(contest.slug): already accepted as sequence \(ack.sequence), revision \(ack.revision) (duplicate; nothing changed) — \(what)"
    }
    return "\(contest.slug): accepted as sequence \(ack.sequence), revision \(ack.revision) — \(what)"
}

func writeError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func jsonLine(_ value: some Encodable) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self)
}
