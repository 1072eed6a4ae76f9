/// The national picture: per party, councils controlled and councillors, and their changes; contests declared of
/// total. Derived from contest records and the election definition, never edited directly.
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
        /// Seats summed over the declared councils that have a composition before (`Scoreboard.councilsCompared`):
        /// the councillors the change is measured on.
        public var councillorsCompared: Int
        /// Seats now minus seats before, summed over the same councils. A council without a composition before
        /// counts in neither this nor `councillorsCompared`.
        public var councillorsChange: Int

        public init(
            party: PartyIndex, councils: Int, councilsChange: Int, councillors: Int, mayors: Int,
            councillorsCompared: Int = 0, councillorsChange: Int = 0
        ) {
            self.party = party
            self.councils = councils
            self.councilsChange = councilsChange
            self.councillors = councillors
            self.mayors = mayors
            self.councillorsCompared = councillorsCompared
            self.councillorsChange = councillorsChange
        }

        /// A row is shown when any of its figures is not zero (a party that lost every seat it had shows its loss).
        var isEmpty: Bool {
            councils == 0 && councilsChange == 0 && councillors == 0 && mayors == 0 && councillorsCompared == 0
                && councillorsChange == 0
        }
    }

    public var sequence: UInt64
    public var contestsDeclared: Int
    public var contestsTotal: Int
    public var noOverallControl: Int
    public var noOverallControlChange: Int
    /// Parties with anything to show, ascending party index.
    public var rows: [Row]
    /// Declared councils that have a composition before: the councils the councillor change is measured over.
    public var councilsCompared: Int
    /// Declared councils without a composition before, left out of the councillor change (and of
    /// `Row.councillorsCompared`).
    public var councilsNotCompared: Int

    public init(
        sequence: UInt64, contestsDeclared: Int, contestsTotal: Int, noOverallControl: Int,
        noOverallControlChange: Int, rows: [Row], councilsCompared: Int = 0, councilsNotCompared: Int = 0
    ) {
        self.sequence = sequence
        self.contestsDeclared = contestsDeclared
        self.contestsTotal = contestsTotal
        self.noOverallControl = noOverallControl
        self.noOverallControlChange = noOverallControlChange
        self.rows = rows
        self.councilsCompared = councilsCompared
        self.councilsNotCompared = councilsNotCompared
    }
}

/// How many seats one party gained (positive) or lost (negative) in a council.
public struct SeatChange: Hashable, Sendable {
    public var party: PartyIndex
    public var change: Int
    public init(party: PartyIndex, change: Int) {
        self.party = party
        self.change = change
    }
}

extension Election {
    /// A declared council result's seat changes against the council's composition before: the parties whose seats
    /// differ, ascending party index ("LAB +15, CON -22"). Nil when there is nothing to compare: the record is not
    /// a declared result, the contest is a mayoralty, or the council has no composition before.
    public func seatChanges(_ record: ContestRecord) -> [SeatChange]? {
        guard let result = record.declared, let contest = contest(record.contestID), contest.kind == .council,
            let before = contest.seatsBefore
        else { return nil }
        return Self.difference(after: result.seats, before: before)
    }

    /// `after - before` per party, both in ascending party order; parties with no change left out.
    static func difference(after: [PartyCount], before: [PartyCount]) -> [SeatChange] {
        var changes: [SeatChange] = []
        var a = after.makeIterator()
        var b = before.makeIterator()
        var nextAfter = a.next()
        var nextBefore = b.next()
        while nextAfter != nil || nextBefore != nil {
            let party = min(nextAfter?.party ?? PartyIndex(Int.max), nextBefore?.party ?? PartyIndex(Int.max))
            var change = 0
            if let entry = nextAfter, entry.party == party {
                change += Int(entry.count)
                nextAfter = a.next()
            }
            if let entry = nextBefore, entry.party == party {
                change -= Int(entry.count)
                nextBefore = b.next()
            }
            if change != 0 { changes.append(SeatChange(party: party, change: change)) }
        }
        return changes
    }

    /// "LAB +15, CON -22": gains first, largest first, then losses, largest first.
    public func describe(_ changes: [SeatChange]) -> String {
        guard !changes.isEmpty else { return "no change" }
        func key(_ entry: SeatChange) -> (Int, Int, Int) {
            (entry.change > 0 ? 0 : 1, -abs(entry.change), entry.party.rawValue)
        }
        return changes.sorted { key($0) < key($1) }
            .map { "\(parties[$0.party.rawValue].code) \($0.change > 0 ? "+" : "")\($0.change)" }
            .joined(separator: ", ")
    }
}

/// Keeps the scoreboard's sums up to date as records change, in O(parties in the record and in the council's
/// composition before) per change.
public struct ScoreboardTally: Sendable {
    private let election: Election
    private var rows: [Scoreboard.Row]
    private var contestsDeclared = 0
    private var noOverallControl = 0
    private var noOverallControlChange = 0
    private var councilsCompared = 0
    private var councilsNotCompared = 0

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
            rows: rows.filter { !$0.isEmpty }, councilsCompared: councilsCompared,
            councilsNotCompared: councilsNotCompared)
    }

    private mutating func add(_ record: ContestRecord, sign: Int) {
        guard let result = record.declared, let contest = election.contest(record.contestID) else { return }
        contestsDeclared += sign
        switch contest.kind {
        case .mayoralty:
            if case .party(let winner) = result.control { rows[winner.rawValue].mayors += sign }
        case .council:
            for entry in result.seats { rows[entry.party.rawValue].councillors += sign * Int(entry.count) }
            if let before = contest.seatsBefore {
                councilsCompared += sign
                for entry in result.seats {
                    rows[entry.party.rawValue].councillorsCompared += sign * Int(entry.count)
                    rows[entry.party.rawValue].councillorsChange += sign * Int(entry.count)
                }
                for entry in before { rows[entry.party.rawValue].councillorsChange -= sign * Int(entry.count) }
            } else {
                councilsNotCompared += sign
            }
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
