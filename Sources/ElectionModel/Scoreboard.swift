/// The national picture: per party, councils controlled and councillors; contests declared of total.
/// Derived from contest records, never edited directly.
public struct Scoreboard: Hashable, Sendable {
    public struct Row: Hashable, Sendable {
        public var party: PartyIndex
        /// Declared councils the party controls.
        public var councils: Int
        /// Councils gained minus councils lost, against control before (unknown control before counts as neither).
        public var councilsChange: Int
        /// Seats summed over declared councils.
        public var councillors: Int
        /// Declared mayoralties won.
        public var mayors: Int

        public init(party: PartyIndex, councils: Int, councilsChange: Int, councillors: Int, mayors: Int) {
            self.party = party
            self.councils = councils
            self.councilsChange = councilsChange
            self.councillors = councillors
            self.mayors = mayors
        }

        var isEmpty: Bool { councils == 0 && councilsChange == 0 && councillors == 0 && mayors == 0 }
    }

    public var sequence: UInt64
    public var contestsDeclared: Int
    public var contestsTotal: Int
    public var noOverallControl: Int
    public var noOverallControlChange: Int
    /// Parties with anything to show, ascending party index.
    public var rows: [Row]

    public init(
        sequence: UInt64, contestsDeclared: Int, contestsTotal: Int, noOverallControl: Int,
        noOverallControlChange: Int, rows: [Row]
    ) {
        self.sequence = sequence
        self.contestsDeclared = contestsDeclared
        self.contestsTotal = contestsTotal
        self.noOverallControl = noOverallControl
        self.noOverallControlChange = noOverallControlChange
        self.rows = rows
    }
}

/// Keeps the scoreboard's sums up to date as records change, in O(parties in the record) per change.
public struct ScoreboardTally: Sendable {
    private let election: Election
    private var rows: [Scoreboard.Row]
    private var contestsDeclared = 0
    private var noOverallControl = 0
    private var noOverallControlChange = 0

    public init(election: Election) {
        self.election = election
        self.rows = election.parties.indices.map {
            Scoreboard.Row(party: PartyIndex($0), councils: 0, councilsChange: 0, councillors: 0, mayors: 0)
        }
    }

    /// Builds the tally for a whole set of records.
    public init(election: Election, records: some Sequence<ContestRecord>) {
        self.init(election: election)
        for record in records { replace(nil, with: record) }
    }

    /// Applies a record change: `old` is the contest's previous record (nil if none), `new` its record now.
    public mutating func replace(_ old: ContestRecord?, with new: ContestRecord?) {
        if let old { add(old, sign: -1) }
        if let new { add(new, sign: 1) }
    }

    public func scoreboard(sequence: UInt64) -> Scoreboard {
        Scoreboard(
            sequence: sequence, contestsDeclared: contestsDeclared, contestsTotal: election.contests.count,
            noOverallControl: noOverallControl, noOverallControlChange: noOverallControlChange,
            rows: rows.filter { !$0.isEmpty })
    }

    private mutating func add(_ record: ContestRecord, sign: Int) {
        guard let result = record.declared, let contest = election.contest(record.contestID) else { return }
        contestsDeclared += sign
        switch contest.kind {
        case .mayoralty:
            if case .party(let winner) = result.control { rows[winner.rawValue].mayors += sign }
        case .council:
            for entry in result.seats { rows[entry.party.rawValue].councillors += sign * Int(entry.count) }
            switch result.control {
            case .noOverallControl: noOverallControl += sign
            case .party(let party): rows[party.rawValue].councils += sign
            }
            guard let before = contest.controlBefore, before != result.control else { return }
            switch before {
            case .noOverallControl: noOverallControlChange -= sign
            case .party(let loser): rows[loser.rawValue].councilsChange -= sign
            }
            switch result.control {
            case .noOverallControl: noOverallControlChange += sign
            case .party(let winner): rows[winner.rawValue].councilsChange += sign
            }
        }
    }
}
