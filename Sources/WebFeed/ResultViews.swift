import ElectionModel
import Foundation

/// A contest as the JSON API and the page show it (`openapi.yaml`'s `Contest`): the election's facts about it and
/// its current record, with what a reader wants said in words (the headline, the seat changes). Absent values are
/// encoded as `null`, never left out, so that every contest has the same keys.
public struct ContestView: Encodable, Hashable, Sendable {
    public enum Status: String, Encodable, Sendable {
        case awaiting, declared, withdrawn
    }

    public var slug: String
    public var name: String
    public var region: String
    public var kind: String
    public var gss: String?
    public var totalSeats: Int?
    public var controlBefore: String?
    public var status: Status
    public var revision: UInt32?
    public var control: String?
    public var outcome: String?
    public var headline: String?
    public var seats: [String: UInt32]?
    public var seatChanges: [String: Int]?
    public var turnoutPercent: Double?
    public var declaredAt: String?
    public var withdrawnAt: String?
    public var withdrawnReason: String?

    public init(contest: Contest, record: ContestRecord?, in election: Election) {
        slug = contest.slug
        name = contest.name
        region = election.regions[contest.region.rawValue].id
        kind = contest.kind == .council ? "council" : "mayoralty"
        gss = contest.gssCode
        totalSeats = contest.totalSeats
        controlBefore = contest.controlBefore.map { election.code(of: $0) }
        revision = record?.revision
        switch record?.state {
        case nil:
            status = .awaiting
        case .withdrawn(let withdrawn)?:
            status = .withdrawn
            withdrawnReason = withdrawn.reason
            withdrawnAt = Self.timestamp(withdrawn.withdrawnAt)
        case .declared(let result)?:
            status = .declared
            control = election.code(of: result.control)
            outcome = Self.outcomeName(result.outcome)
            headline = election.newsHeadline(control: result.control, outcome: result.outcome, contest: contest)
            seats = Dictionary(
                uniqueKeysWithValues: result.seats.map { (election.parties[$0.party.rawValue].code, $0.count) })
            if let record, let changes = election.seatChanges(record) {
                seatChanges = Dictionary(
                    uniqueKeysWithValues: changes.map { (election.parties[$0.party.rawValue].code, $0.change) })
            }
            turnoutPercent = result.turnoutBasisPoints.map { Double($0) / 100 }
            declaredAt = Self.timestamp(result.declaredAt)
        }
    }

    enum CodingKeys: String, CodingKey {
        case slug, name, region, kind, gss, totalSeats, controlBefore, status, revision, control, outcome, headline
        case seats, seatChanges, turnoutPercent, declaredAt, withdrawnAt, withdrawnReason
    }

    public func encode(to encoder: any Encoder) throws {
        // `encode` of an optional writes null where the synthesized conformance would leave the key out.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(slug, forKey: .slug)
        try container.encode(name, forKey: .name)
        try container.encode(region, forKey: .region)
        try container.encode(kind, forKey: .kind)
        try container.encode(gss, forKey: .gss)
        try container.encode(totalSeats, forKey: .totalSeats)
        try container.encode(controlBefore, forKey: .controlBefore)
        try container.encode(status, forKey: .status)
        try container.encode(revision, forKey: .revision)
        try container.encode(control, forKey: .control)
        try container.encode(outcome, forKey: .outcome)
        try container.encode(headline, forKey: .headline)
        try container.encode(seats, forKey: .seats)
        try container.encode(seatChanges, forKey: .seatChanges)
        try container.encode(turnoutPercent, forKey: .turnoutPercent)
        try container.encode(declaredAt, forKey: .declaredAt)
        try container.encode(withdrawnAt, forKey: .withdrawnAt)
        try container.encode(withdrawnReason, forKey: .withdrawnReason)
    }

    static func outcomeName(_ outcome: Outcome) -> String {
        switch outcome {
        case .unknown: return "unknown"
        case .hold: return "hold"
        case .gain: return "gain"
        case .noChange: return "noChange"
        case .lostToNoOverallControl: return "lostToNoOverallControl"
        }
    }

    /// Milliseconds since the epoch as ISO 8601 in UTC, to the second.
    static func timestamp(_ milliseconds: UInt64) -> String {
        Date(timeIntervalSince1970: Double(milliseconds / 1000)).ISO8601Format()
    }
}

/// The national scoreboard as the JSON API shows it (`openapi.yaml`'s `Scoreboard`), party codes and names in place
/// of indexes.
public struct ScoreboardView: Encodable, Hashable, Sendable {
    public struct PartyRow: Encodable, Hashable, Sendable {
        public var code: String
        public var name: String
        public var councils: Int
        public var councilsChange: Int
        public var councillors: Int
        public var councillorsChange: Int
        public var mayors: Int
    }

    public struct NoOverallControl: Encodable, Hashable, Sendable {
        public var councils: Int
        public var change: Int
    }

    public var contestsDeclared: Int
    public var contestsTotal: Int
    public var noOverallControl: NoOverallControl
    public var parties: [PartyRow]
    public var councilsCompared: Int
    public var councilsNotCompared: Int

    public init(_ scoreboard: Scoreboard, in election: Election) {
        contestsDeclared = scoreboard.contestsDeclared
        contestsTotal = scoreboard.contestsTotal
        noOverallControl = NoOverallControl(
            councils: scoreboard.noOverallControl, change: scoreboard.noOverallControlChange)
        parties = scoreboard.rows.map { row in
            let party = election.parties[row.party.rawValue]
            return PartyRow(
                code: party.code, name: party.name, councils: row.councils, councilsChange: row.councilsChange,
                councillors: row.councillors, councillorsChange: row.councillorsChange, mayors: row.mayors)
        }
        councilsCompared = scoreboard.councilsCompared
        councilsNotCompared = scoreboard.councilsNotCompared
    }
}

/// The election's fixed facts (`GET /v1/election`).
public struct ElectionView: Encodable, Hashable, Sendable {
    public struct About: Encodable, Hashable, Sendable {
        public var id: String
        public var name: String
        public var date: String
    }

    public struct PartyEntry: Encodable, Hashable, Sendable {
        public var code: String
        public var name: String
        public var group: Bool
    }

    public struct RegionEntry: Encodable, Hashable, Sendable {
        public var id: String
        public var name: String
    }

    public var election: About
    public var parties: [PartyEntry]
    public var regions: [RegionEntry]
    public var seatsBeforeNote: String

    public init(_ election: Election) {
        self.election = About(id: election.id, name: election.name, date: election.date)
        parties = election.parties.map { PartyEntry(code: $0.code, name: $0.name, group: $0.isGroup) }
        regions = election.regions.map { RegionEntry(id: $0.id, name: $0.name) }
        seatsBeforeNote = election.seatsBeforeNote
    }
}

extension Election {
    /// The headline a newsroom writes: "Labour gain Swindon from Conservative", "Labour hold Sheffield",
    /// "No overall control in Bromsgrove (no change)", "Conservative lose Bromsgrove to no overall control".
    public func newsHeadline(control: Control, outcome: Outcome, contest: Contest) -> String {
        func name(_ control: Control) -> String {
            switch control {
            case .noOverallControl: return "no overall control"
            case .party(let party): return parties[party.rawValue].name
            }
        }
        let before = contest.controlBefore.map(name) ?? "unknown"
        switch (outcome, control) {
        case (.hold, _): return "\(name(control)) hold \(contest.name)"
        case (.gain, _): return "\(name(control)) gain \(contest.name) from \(before)"
        case (.noChange, _): return "No overall control in \(contest.name) (no change)"
        case (.lostToNoOverallControl, _): return "\(before) lose \(contest.name) to no overall control"
        case (.unknown, .noOverallControl): return "No overall control in \(contest.name)"
        case (.unknown, .party): return "\(name(control)) win \(contest.name)"
        }
    }
}
