import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire

/// The scoreboard as JSON.
struct ScoreboardJSON: Encodable {
    struct Row: Encodable {
        var party: String
        var name: String
        var councils: Int
        var councilsChange: Int
        var councillors: Int
        var mayors: Int
        /// Seats over the declared councils with a composition before, and their change against it.
        var councillorsCompared: Int
        var councillorsChange: Int
    }
    var election: String
    var sequence: UInt64
    var contestsDeclared: Int
    var contestsTotal: Int
    var noOverallControl: Int
    var noOverallControlChange: Int
    var councilsCompared: Int
    var councilsNotCompared: Int
    /// What the compositions before are (the basis of every councillor change); nil when the election has none.
    var councillorChangeNote: String?
    var parties: [Row]

    init(_ board: Scoreboard, election: Election) {
        self.election = election.id
        sequence = board.sequence
        contestsDeclared = board.contestsDeclared
        contestsTotal = board.contestsTotal
        noOverallControl = board.noOverallControl
        noOverallControlChange = board.noOverallControlChange
        councilsCompared = board.councilsCompared
        councilsNotCompared = board.councilsNotCompared
        councillorChangeNote = election.seatsBeforeNote.isEmpty ? nil : election.seatsBeforeNote
        parties = board.rows.map {
            let party = election.parties[$0.party.rawValue]
            return Row(
                party: party.code, name: party.name, councils: $0.councils, councilsChange: $0.councilsChange,
                councillors: $0.councillors, mayors: $0.mayors, councillorsCompared: $0.councillorsCompared,
                councillorsChange: $0.councillorsChange)
        }
    }
}

/// One contest's record as JSON (also `watch --json`'s line).
struct RecordJSON: Encodable {
    var sequence: UInt64?
    var contest: String
    var name: String
    var region: String
    var revision: UInt32
    var status: String
    var control: String?
    var outcome: String?
    var headline: String
    var seats: [String: UInt32]?
    var votes: [String: UInt32]?
    var turnout: Double?
    var declaredAt: UInt64?
    var desk: String
    var reason: String?
    /// A declared council's seat changes against its composition before (see the election's note).
    var seatChanges: [String: Int]?

    init(_ record: ContestRecord, sequence: UInt64?, election: Election) {
        let contest = election.contest(record.contestID)!
        self.sequence = sequence
        self.contest = contest.slug
        name = contest.name
        region = election.regions[contest.region.rawValue].id
        revision = record.revision
        headline = "\(contest.name): \(election.headline(for: record))"
        func byCode(_ counts: [PartyCount]) -> [String: UInt32] {
            Dictionary(uniqueKeysWithValues: counts.map { (election.parties[$0.party.rawValue].code, $0.count) })
        }
        switch record.state {
        case .declared(let result):
            status = "declared"
            control = election.code(of: result.control)
            outcome = "\(result.outcome)"
            seats = byCode(result.seats)
            votes = result.votes.map(byCode)
            turnout = result.turnoutBasisPoints.map { Double($0) / 100 }
            declaredAt = result.declaredAt
            desk = result.deskID
            seatChanges = election.seatChanges(record).map { changes in
                Dictionary(uniqueKeysWithValues: changes.map { (election.parties[$0.party.rawValue].code, $0.change) })
            }
        case .withdrawn(let withdrawn):
            status = "withdrawn"
            declaredAt = withdrawn.withdrawnAt
            desk = withdrawn.deskID
            reason = withdrawn.reason
        }
    }
}

func scoreboardTable(_ board: Scoreboard, election: Election) -> String {
    func signed(_ value: Int) -> String { value > 0 ? "+\(value)" : "\(value)" }
    func pad(_ text: String, _ width: Int, right: Bool = true) -> String {
        let padding = String(repeating: " ", count: max(0, width - text.count))
        return right ? padding + text : text + padding
    }
    // Councillor change: only when the election has compositions before (issue 10).
    let compares = election.contests.contains { $0.seatsBefore != nil }
    var lines = [
        "\(election.name): \(board.contestsDeclared) of \(board.contestsTotal) contests declared (sequence \(board.sequence))",
        pad("party", 8, right: false) + pad("councils", 10) + pad("change", 8) + pad("councillors", 13)
            + (compares ? pad("change", 8) : "") + pad("mayors", 8),
    ]
    for row in board.rows.sorted(by: { ($0.councils, $0.councillors) > ($1.councils, $1.councillors) }) {
        let code = election.parties[row.party.rawValue].code
        lines.append(
            pad(code, 8, right: false) + pad("\(row.councils)", 10) + pad(signed(row.councilsChange), 8)
                + pad("\(row.councillors)", 13) + (compares ? pad(signed(row.councillorsChange), 8) : "")
                + pad("\(row.mayors)", 8))
    }
    lines.append(
        pad("NOC", 8, right: false) + pad("\(board.noOverallControl)", 10)
            + pad(signed(board.noOverallControlChange), 8))
    if compares {
        let declared = board.councilsCompared + board.councilsNotCompared
        var basis = "Councillor change: over \(board.councilsCompared) of the \(declared) declared councils."
        if board.councilsNotCompared == 1 {
            basis += " 1 has no composition before and is left out of it."
        } else if board.councilsNotCompared > 1 {
            basis += " \(board.councilsNotCompared) have no composition before and are left out of it."
        }
        lines.append("")
        lines += wrapped(basis + " " + election.seatsBeforeNote, width: 100)
    }
    return lines.joined(separator: "\n")
}

/// A paragraph cut into lines of at most `width` characters, at spaces.
func wrapped(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
        if !line.isEmpty && line.count + 1 + word.count > width {
            lines.append(line)
            line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
    }
    if !line.isEmpty { lines.append(line) }
    return lines
}

extension Reporter {
    struct ScoreboardCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scoreboard", abstract: "The national scoreboard: councils, councillors, mayors per party.")

        @OptionGroup var hub: HubOptions

        @Flag(help: "JSON instead of a table.")
        var json = false

        func run() async throws {
            let address = try hub.address
            let client = try hub.queryClient()
            defer { Task { await client.close() } }
            let (election, board) = try await explained(address) {
                (try await client.election(), try await client.scoreboard())
            }
            print(
                json ? jsonLine(ScoreboardJSON(board, election: election)) : scoreboardTable(board, election: election))
        }
    }

    struct ContestCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "contest", abstract: "One contest's current result.")

        @OptionGroup var hub: HubOptions

        @Argument(help: "Contest slug, e.g. swindon.")
        var slug: String

        @Flag(help: "JSON instead of text.")
        var json = false

        func run() async throws {
            let address = try hub.address
            let client = try hub.queryClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            let contest = try election.contest(named: slug)
            let answer = try await explained(address) { try await client.contest(contest.id) }
            guard let record = answer.record else {
                print(
                    json
                        ? "{\"contest\":\"\(contest.slug)\",\"status\":\"undeclared\"}"
                        : "\(contest.name): not declared yet (sequence \(answer.sequence))")
                return
            }
            let line = RecordJSON(record, sequence: nil, election: election)
            if json {
                print(jsonLine(line))
                return
            }
            var text = ["\(line.headline) (revision \(record.revision), \(line.status), desk \(line.desk))"]
            if let seats = line.seats {
                text.append(
                    "seats: "
                        + seats.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
                        .joined(separator: ", "))
            }
            if let changes = answer.seatChanges ?? election.seatChanges(record) {
                text.append("seat changes: \(election.describe(changes))")
                // The basis of the figure: the first sentence of the election's note on compositions before.
                if let basis = election.seatsBeforeNote.split(separator: ". ", maxSplits: 1).first {
                    text += wrapped(basis.hasSuffix(".") ? String(basis) : basis + ".", width: 98).map { "  " + $0 }
                }
            }
            if let turnout = line.turnout { text.append("turnout: \(turnout)%") }
            if let reason = line.reason, !reason.isEmpty { text.append("reason: \(reason)") }
            print(text.joined(separator: "\n"))
        }
    }
}
