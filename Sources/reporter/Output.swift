import CSV
import ElectionModel
import Foundation
import HubClient
import HubWire
import TextTable

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

/// One contest and its current state, in one shape whether it is declared, undeclared or withdrawn: every key is
/// always present, `null` where it does not apply. `contest --json`, each element of `contests --json`, and each
/// line of `watch --json` (which adds `type`).
struct ContestJSON: Encodable {
    struct CandidateVotes: Encodable {
        var candidate: String
        var party: String?
        var votes: UInt32
    }

    var contest: String
    var name: String
    var region: String
    var kind: String
    /// Seats on the council (null when unknown); 1 for a mayoralty.
    var totalSeats: Int?
    var controlBefore: String?
    /// "undeclared", "declared" or "withdrawn".
    var status: String
    /// "declaration", "correction" (a declaration at a revision above 1) or "withdrawal"; null when undeclared.
    var event: String?
    var revision: UInt32?
    /// The sequence number of the event that made this record, when known.
    var sequence: UInt64?
    /// The sequence number of the hub's state this answer reflects.
    var asOf: UInt64?
    var control: String?
    var outcome: String?
    var headline: String
    /// A mayoralty's winning candidate, when the result names one.
    var winner: String?
    var seats: [String: UInt32]?
    var votes: [String: UInt32]?
    var candidateVotes: [CandidateVotes]?
    var turnout: Double?
    var declaredAt: UInt64?
    var withdrawnAt: UInt64?
    var desk: String?
    var reason: String?
    /// A declared council's seat changes against its composition before (see the election's note); null when
    /// the council has none or the contest is not declared.
    var seatChanges: [String: Int]?
    /// For tables, not encoded: the headline without the contest's name ("LAB hold", "withdrawn", "").
    var summary = ""

    init(contest: Contest, record: ContestRecord?, sequence: UInt64?, asOf: UInt64?, election: Election) {
        self.contest = contest.slug
        name = contest.name
        region = election.regions[contest.region.rawValue].id
        kind = contest.kind.name
        totalSeats = contest.kind == .mayoralty ? 1 : contest.totalSeats
        controlBefore = contest.controlBefore.map { election.code(of: $0) }
        self.sequence = sequence
        self.asOf = asOf
        guard let record else {
            status = "undeclared"
            headline = "\(contest.name): not declared yet"
            return
        }
        revision = record.revision
        event = election.eventName(of: record)
        headline = "\(contest.name): \(election.headline(for: record))"
        summary = record.declared == nil ? "withdrawn" : election.headline(for: record)
        func byCode(_ counts: [PartyCount]) -> [String: UInt32] {
            Dictionary(uniqueKeysWithValues: counts.map { (election.parties[$0.party.rawValue].code, $0.count) })
        }
        switch record.state {
        case .declared(let result):
            status = "declared"
            control = election.code(of: result.control)
            outcome = "\(result.outcome)"
            winner = election.winner(of: result, in: contest)?.name
            seats = byCode(result.seats)
            votes = result.votes.map(byCode)
            if let counts = result.candidateVotes, counts.count == contest.candidates.count {
                candidateVotes = zip(contest.candidates, counts).map {
                    CandidateVotes(
                        candidate: $0.name, party: $0.party.map { election.parties[$0.rawValue].code }, votes: $1)
                }
            }
            turnout = result.turnoutBasisPoints.map { Double($0) / 100 }
            declaredAt = result.declaredAt
            desk = result.deskID
            seatChanges = election.seatChanges(record).map { changes in
                Dictionary(uniqueKeysWithValues: changes.map { (election.parties[$0.party.rawValue].code, $0.change) })
            }
        case .withdrawn(let withdrawn):
            status = "withdrawn"
            withdrawnAt = withdrawn.withdrawnAt
            desk = withdrawn.deskID
            reason = withdrawn.reason
        }
    }

    private enum Keys: String, CodingKey {
        case contest, name, region, kind, totalSeats, controlBefore, status, event, revision, sequence, asOf
        case control, outcome, headline, winner, seats, votes, candidateVotes, turnout, declaredAt, withdrawnAt
        case desk, reason, seatChanges
    }

    /// Every key, `null` when empty: the same shape for every state.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(contest, forKey: .contest)
        try container.encode(name, forKey: .name)
        try container.encode(region, forKey: .region)
        try container.encode(kind, forKey: .kind)
        try container.encode(totalSeats, forKey: .totalSeats)
        try container.encode(controlBefore, forKey: .controlBefore)
        try container.encode(status, forKey: .status)
        try container.encode(event, forKey: .event)
        try container.encode(revision, forKey: .revision)
        try container.encode(sequence, forKey: .sequence)
        try container.encode(asOf, forKey: .asOf)
        try container.encode(control, forKey: .control)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(headline, forKey: .headline)
        try container.encode(winner, forKey: .winner)
        try container.encode(seats, forKey: .seats)
        try container.encode(votes, forKey: .votes)
        try container.encode(candidateVotes, forKey: .candidateVotes)
        try container.encode(turnout, forKey: .turnout)
        try container.encode(declaredAt, forKey: .declaredAt)
        try container.encode(withdrawnAt, forKey: .withdrawnAt)
        try container.encode(desk, forKey: .desk)
        try container.encode(reason, forKey: .reason)
        try container.encode(seatChanges, forKey: .seatChanges)
    }
}

/// A `watch --json` line: a contest's shape with what the line is (`change` or `state`), and whether a change came
/// in a conflated batch.
struct WatchLineJSON: Encodable {
    var type: String
    var conflated: Bool
    var contest: ContestJSON

    private enum Keys: String, CodingKey { case type, conflated }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(type, forKey: .type)
        try container.encode(conflated, forKey: .conflated)
        try contest.encode(to: encoder)
    }
}

/// The line `watch --json` writes before the state of every contest: after a gap (the hub sent a fresh snapshot),
/// and with `--initial` at the start.
struct ResyncJSON: Encodable {
    var type = "resync"
    /// "initial", "resumeUnavailable", "fellBehind" or "newSubscription" (the copy was started again).
    var reason: String
    /// The sequence number of the state that follows.
    var sequence: UInt64
    /// How many `state` lines follow: one per contest the watch covers.
    var contests: Int
}

/// A signed change: "+3", "−2" is written "-2", "0".
func signed(_ value: Int) -> String { value > 0 ? "+\(value)" : "\(value)" }

/// A scoreboard row for the table.
private struct BoardRow {
    var party: String
    var councils: String
    var change: String
    var councillors: String
    var councillorsChange: String
    var mayors: String
}

/// The title line: "English local elections, 4 May 2023: 1 of 234 contests declared (sequence 1)".
func scoreboardTitle(_ board: Scoreboard, scope: String) -> String {
    "\(scope): \(board.contestsDeclared) of \(board.contestsTotal) contests declared (sequence \(board.sequence))"
}

/// The scoreboard as a title and a table.
func scoreboardTable(_ board: Scoreboard, election: Election, scope: String? = nil) -> String {
    // Councillor change: only when the election has compositions before.
    let compares = election.contests.contains { $0.seatsBefore != nil }
    var rows = board.rows.sorted { ($0.councils, $0.councillors) > ($1.councils, $1.councillors) }.map {
        BoardRow(
            party: election.parties[$0.party.rawValue].code, councils: "\($0.councils)",
            change: signed($0.councilsChange), councillors: "\($0.councillors)",
            councillorsChange: signed($0.councillorsChange), mayors: "\($0.mayors)")
    }
    rows.append(
        BoardRow(
            party: "NOC", councils: "\(board.noOverallControl)", change: signed(board.noOverallControlChange),
            councillors: "", councillorsChange: "", mayors: ""))
    let table = TextTable<BoardRow> {
        [
            Column(title: "party", value: $0.party),
            Column(title: "councils", value: $0.councils, align: .right),
            Column(title: "change", value: $0.change, align: .right),
            Column(title: "councillors", value: $0.councillors, align: .right),
        ]
            + (compares ? [Column(title: "change", value: $0.councillorsChange, align: .right)] : [])
            + [Column(title: "mayors", value: $0.mayors, align: .right)]
    }
    var text = scoreboardTitle(board, scope: scope ?? election.name) + "\n" + render(table, rows)
    if compares {
        let declared = board.councilsCompared + board.councilsNotCompared
        var basis = "Councillor change: over \(board.councilsCompared) of the \(declared) declared councils."
        if board.councilsNotCompared == 1 {
            basis += " 1 has no composition before and is left out of it."
        } else if board.councilsNotCompared > 1 {
            basis += " \(board.councilsNotCompared) have no composition before and are left out of it."
        }
        text += "\n\n" + wrapped(basis + " " + election.seatsBeforeNote, width: 100).joined(separator: "\n")
    }
    return text
}

/// A table in the plain "simple" style (a header, a rule, the rows), without a trailing newline.
func render<Row>(_ table: TextTable<Row>, _ rows: [Row]) -> String {
    var text = table.string(for: rows, style: Simple.self) ?? ""
    while text.hasSuffix("\n") { text.removeLast() }
    return text.split(separator: "\n", omittingEmptySubsequences: false).map {
        String($0.reversed().drop(while: { $0 == " " }).reversed())
    }.joined(separator: "\n")
}

/// Rows of text as CSV (quoted where needed), with a final newline.
func csvText(_ rows: [[String]]) throws -> String {
    let stream = OutputStream(toMemory: ())
    let writer = try CSVWriter(stream: stream)
    for row in rows { try writer.write(row: row) }
    writer.stream.close()
    guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else { return "" }
    return String(decoding: data, as: UTF8.self) + "\n"
}
