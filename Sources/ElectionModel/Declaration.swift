/// A result as a desk submits it. The desk id comes from the authenticated connection, not from the declaration.
public struct Declaration: Hashable, Sendable {
    public var contestID: ContestID
    /// 1 for the first declaration; a correction uses a higher revision.
    public var revision: UInt32
    /// Whole-council seats per party after the election. For a mayoralty, the winner's party with 1.
    public var seats: [PartyCount]
    public var votes: [PartyCount]?
    /// Turnout in basis points: 31.2% is 3120.
    public var turnoutBasisPoints: UInt16?
    /// Mayoralties: votes per candidate, in the election's candidate order.
    public var candidateVotes: [UInt32]?
    /// Milliseconds since the Unix epoch, as the desk gave it.
    public var declaredAt: UInt64

    public init(
        contestID: ContestID, revision: UInt32, seats: [PartyCount], votes: [PartyCount]? = nil,
        turnoutBasisPoints: UInt16? = nil, candidateVotes: [UInt32]? = nil, declaredAt: UInt64
    ) {
        self.contestID = contestID
        self.revision = revision
        self.seats = seats
        self.votes = votes
        self.turnoutBasisPoints = turnoutBasisPoints
        self.candidateVotes = candidateVotes
        self.declaredAt = declaredAt
    }
}

/// A desk's retraction of a contest's result. It takes a revision of its own, so it is idempotent like a declaration.
public struct Withdrawal: Hashable, Sendable {
    public var contestID: ContestID
    public var revision: UInt32
    public var withdrawnAt: UInt64
    public var reason: String

    public init(contestID: ContestID, revision: UInt32, withdrawnAt: UInt64, reason: String) {
        self.contestID = contestID
        self.revision = revision
        self.withdrawnAt = withdrawnAt
        self.reason = reason
    }
}

/// The current state of one contest: the canonical record the hub keeps, sends and checksums.
public struct ContestRecord: Hashable, Sendable {
    public var contestID: ContestID
    public var revision: UInt32
    public var state: State

    public enum State: Hashable, Sendable {
        case declared(DeclaredResult)
        case withdrawn(WithdrawnResult)
    }

    public init(contestID: ContestID, revision: UInt32, state: State) {
        self.contestID = contestID
        self.revision = revision
        self.state = state
    }

    public var declared: DeclaredResult? {
        if case .declared(let result) = state { return result }
        return nil
    }

    /// Whether two records say the same thing: the same result (seats, votes, turnout, candidate votes) or the same
    /// withdrawal reason. When and by which desk it was sent is not part of it, so that a desk retrying later, or
    /// from another machine, gets the original ack instead of a conflict. Zero counts do not count (spec 7.2).
    public func hasSameContent(as other: ContestRecord) -> Bool {
        guard contestID == other.contestID, revision == other.revision else { return false }
        return canonicalContent == other.canonicalContent
    }

    /// The record reduced to what makes two submissions the same (spec 7.2): no time or desk, no zero seat or vote
    /// counts (a record a hub of protocol 1.0 journalled may still have zero votes), and a vote list left empty
    /// is no vote list. Two records with the same content and revision have equal canonical contents.
    public var canonicalContent: ContestRecord {
        var content = self
        switch state {
        case .declared(var result):
            result.declaredAt = 0
            result.deskID = ""
            // Only when there is something to remove: a mutation copies the shared array even if it removes nothing.
            if result.seats.contains(where: { $0.count == 0 }) { result.seats.removeAll { $0.count == 0 } }
            if result.votes?.contains(where: { $0.count == 0 }) == true { result.votes?.removeAll { $0.count == 0 } }
            if result.votes?.isEmpty == true { result.votes = nil }
            content.state = .declared(result)
        case .withdrawn(var withdrawn):
            withdrawn.withdrawnAt = 0
            withdrawn.deskID = ""
            content.state = .withdrawn(withdrawn)
        }
        return content
    }
}

/// A declared result in canonical form: seats without zero counts, lists in ascending party order.
public struct DeclaredResult: Hashable, Sendable {
    public var control: Control
    public var outcome: Outcome
    public var seats: [PartyCount]
    public var votes: [PartyCount]?
    public var turnoutBasisPoints: UInt16?
    public var candidateVotes: [UInt32]?
    public var declaredAt: UInt64
    public var deskID: String

    public init(
        control: Control, outcome: Outcome, seats: [PartyCount], votes: [PartyCount]?, turnoutBasisPoints: UInt16?,
        candidateVotes: [UInt32]?, declaredAt: UInt64, deskID: String
    ) {
        self.control = control
        self.outcome = outcome
        self.seats = seats
        self.votes = votes
        self.turnoutBasisPoints = turnoutBasisPoints
        self.candidateVotes = candidateVotes
        self.declaredAt = declaredAt
        self.deskID = deskID
    }
}

public struct WithdrawnResult: Hashable, Sendable {
    public var withdrawnAt: UInt64
    public var deskID: String
    public var reason: String

    public init(withdrawnAt: UInt64, deskID: String, reason: String) {
        self.withdrawnAt = withdrawnAt
        self.deskID = deskID
        self.reason = reason
    }
}

/// Which regions a desk may submit for.
public enum RegionScope: Hashable, Sendable {
    case all
    case regions(Set<RegionIndex>)

    public func allows(_ region: RegionIndex) -> Bool {
        switch self {
        case .all: return true
        case .regions(let allowed): return allowed.contains(region)
        }
    }
}

/// The authenticated desk a submission comes from.
public struct DeskIdentity: Hashable, Sendable {
    public var id: String
    public var scope: RegionScope
    public init(id: String, scope: RegionScope) {
        self.id = id
        self.scope = scope
    }
}

/// How a valid submission relates to the contest's current record.
public enum Admission: Hashable, Sendable {
    /// A new event: first declaration, correction or withdrawal.
    case new
    /// The same revision with the same content: ack again, change nothing.
    case duplicate
}

/// Turnout is at most 100.00%.
public let maximumTurnoutBasisPoints: UInt16 = 10_000

extension Election {
    /// Checks a declaration against the election and the desk, and derives control and outcome.
    /// The order of the checks is the spec's (section 4.3); the first problem found is reported.
    public func validate(_ declaration: Declaration, from desk: DeskIdentity) throws(DeclarationError) -> ContestRecord
    {
        guard let contest = contest(declaration.contestID) else {
            throw .unknownContest(declaration.contestID)
        }
        guard desk.scope.allows(contest.region) else {
            throw .deskNotAllowed(desk: desk.id, contest: contest.slug, region: regions[contest.region.rawValue].id)
        }
        guard declaration.revision >= 1 else { throw .invalidRevision(contest: contest.slug) }
        let seats = try canonicalCounts(declaration.seats, in: contest)
        // Zero counts say nothing, for votes as for seats (spec 7.2): they are dropped, and a vote list left
        // empty is no vote list, so that the same result with and without "CON=0" is the same content.
        let votes = try declaration.votes.flatMap { counts throws(DeclarationError) in
            let canonical = try canonicalCounts(counts, in: contest)
            return canonical.isEmpty ? nil : canonical
        }
        if let turnout = declaration.turnoutBasisPoints, turnout > maximumTurnoutBasisPoints {
            throw .turnoutOutOfRange(contest: contest.slug, basisPoints: Int(turnout))
        }
        let seatTotal = seats.reduce(0) { $0 + Int($1.count) }
        switch contest.kind {
        case .council:
            if declaration.candidateVotes != nil { throw .candidateVotesForCouncil(contest: contest.slug) }
            if let expected = contest.totalSeats {
                guard seatTotal == expected else {
                    throw .seatsDoNotAddUp(contest: contest.slug, found: seatTotal, expected: expected)
                }
            } else if seatTotal == 0 {
                throw .seatsDoNotAddUp(contest: contest.slug, found: 0, expected: nil)
            }
        case .mayoralty:
            guard seats.count == 1, seatTotal == 1, let winner = seats.first?.party else {
                throw .notOneWinner(contest: contest.slug, found: seatTotal)
            }
            if let candidateVotes = declaration.candidateVotes {
                guard candidateVotes.count == contest.candidates.count else {
                    throw .candidateVotesMismatch(
                        contest: contest.slug, found: candidateVotes.count, expected: contest.candidates.count)
                }
                let top = candidateVotes.max() ?? 0
                let leaders = contest.candidates.indices.filter { candidateVotes[$0] == top }
                guard leaders.contains(where: { contest.candidates[$0].party == winner }) else {
                    let leaderParties = leaders.map {
                        contest.candidates[$0].party.map { parties[$0.rawValue].code } ?? "none"
                    }
                    throw .winnerMismatch(
                        contest: contest.slug, seatParty: parties[winner.rawValue].code,
                        topCandidateParty: leaderParties.joined(separator: "/"))
                }
            }
        }
        let control = self.control(of: contest, seats: seats)
        let result = DeclaredResult(
            control: control,
            outcome: .derive(after: control, before: contest.controlBefore),
            seats: seats, votes: votes, turnoutBasisPoints: declaration.turnoutBasisPoints,
            candidateVotes: declaration.candidateVotes, declaredAt: declaration.declaredAt, deskID: desk.id)
        return ContestRecord(contestID: contest.id, revision: declaration.revision, state: .declared(result))
    }

    /// Checks a withdrawal against the election and the desk, and builds the record it leads to.
    public func validate(_ withdrawal: Withdrawal, from desk: DeskIdentity) throws(DeclarationError) -> ContestRecord {
        guard let contest = contest(withdrawal.contestID) else { throw .unknownContest(withdrawal.contestID) }
        guard desk.scope.allows(contest.region) else {
            throw .deskNotAllowed(desk: desk.id, contest: contest.slug, region: regions[contest.region.rawValue].id)
        }
        guard withdrawal.revision >= 1 else { throw .invalidRevision(contest: contest.slug) }
        let result = WithdrawnResult(withdrawnAt: withdrawal.withdrawnAt, deskID: desk.id, reason: withdrawal.reason)
        return ContestRecord(contestID: contest.id, revision: withdrawal.revision, state: .withdrawn(result))
    }

    /// Decides whether a validated record is a new event, a harmless resubmission, or a conflict (spec 4.4).
    public func admit(_ incoming: ContestRecord, over current: ContestRecord?) throws(DeclarationError) -> Admission {
        let slug = contest(incoming.contestID)?.slug ?? "\(incoming.contestID.rawValue)"
        if case .withdrawn = incoming.state {
            guard let current, current.declared != nil || current.revision == incoming.revision else {
                throw .nothingToWithdraw(contest: slug)
            }
        }
        guard let current else { return .new }
        if incoming.revision > current.revision { return .new }
        if incoming.revision == current.revision {
            guard incoming.hasSameContent(as: current) else {
                throw .revisionConflict(contest: slug, revision: incoming.revision)
            }
            return .duplicate
        }
        throw .staleRevision(contest: slug, submitted: incoming.revision, current: current.revision)
    }

    /// Known parties, each at most once; zero counts dropped, ascending party order.
    private func canonicalCounts(_ counts: [PartyCount], in contest: Contest) throws(DeclarationError) -> [PartyCount] {
        // Desks normally send the canonical order already: known parties, strictly ascending, so none twice. Then
        // the list is kept as it is (without zeros), with no set and no sort.
        var ascending = true
        var previous = -1
        for entry in counts {
            let party = entry.party.rawValue
            guard party > previous, party < parties.count else {
                ascending = false
                break
            }
            previous = party
        }
        if ascending { return counts.contains { $0.count == 0 } ? counts.filter { $0.count > 0 } : counts }
        var seen = Set<PartyIndex>()
        for entry in counts {
            guard parties.indices.contains(entry.party.rawValue) else {
                throw .unknownParty(contest: contest.slug, party: "#\(entry.party.rawValue)")
            }
            guard seen.insert(entry.party).inserted else {
                throw .duplicateParty(contest: contest.slug, party: parties[entry.party.rawValue].code)
            }
        }
        return counts.filter { $0.count > 0 }.sorted { $0.party < $1.party }
    }
}

/// Why a declaration or withdrawal is refused. Each case names what is wrong so that a desk can act on it.
public enum DeclarationError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownContest(ContestID)
    case unknownParty(contest: String, party: String)
    case duplicateParty(contest: String, party: String)
    case negativeCount(party: String, value: Int)
    case turnoutOutOfRange(contest: String, basisPoints: Int)
    /// `expected` is nil when the council's size is unknown and no seats were given.
    case seatsDoNotAddUp(contest: String, found: Int, expected: Int?)
    /// A mayoralty's declaration must give its one seat to one party (the winner's); `found` seats were given.
    case notOneWinner(contest: String, found: Int)
    case candidateVotesMismatch(contest: String, found: Int, expected: Int)
    case candidateVotesForCouncil(contest: String)
    case winnerMismatch(contest: String, seatParty: String, topCandidateParty: String)
    case invalidRevision(contest: String)
    case staleRevision(contest: String, submitted: UInt32, current: UInt32)
    case revisionConflict(contest: String, revision: UInt32)
    case deskNotAllowed(desk: String, contest: String, region: String)
    case nothingToWithdraw(contest: String)

    public var description: String {
        switch self {
        case .unknownContest(let id):
            return "unknown contest: no contest has id \(id.rawValue)"
        case .unknownParty(let contest, let party):
            return "\(contest): unknown party \(party)"
        case .duplicateParty(let contest, let party):
            return "\(contest): party \(party) is listed more than once"
        case .negativeCount(let party, let value):
            return "\(party): count \(value) is negative"
        case .turnoutOutOfRange(let contest, let basisPoints):
            return "\(contest): turnout \(Double(basisPoints) / 100)% is over 100%"
        case .seatsDoNotAddUp(let contest, let found, let expected?):
            return "\(contest): seats add up to \(found), but the council has \(expected) seats"
        case .seatsDoNotAddUp(let contest, let found, nil):
            return "\(contest): seats add up to \(found); a declaration needs at least one seat"
        case .notOneWinner(let contest, let found):
            return
                "\(contest): a mayoralty has one winner: give the winner's party the one seat (\(found) seats were given)"
        case .candidateVotesMismatch(let contest, let found, let expected):
            return "\(contest): \(found) candidate vote counts given, but the contest has \(expected) candidates"
        case .candidateVotesForCouncil(let contest):
            return "\(contest): candidate votes are for mayoralties; give party votes for a council"
        case .winnerMismatch(let contest, let seatParty, let topCandidateParty):
            return "\(contest): the seat is given to \(seatParty), but the most votes went to \(topCandidateParty)"
        case .invalidRevision(let contest):
            return "\(contest): revision 0 is invalid; the first declaration is revision 1"
        case .staleRevision(let contest, let submitted, let current):
            return "\(contest): revision \(submitted) is stale; the current revision is \(current)"
        case .revisionConflict(let contest, let revision):
            return "\(contest): revision \(revision) was already accepted with different content; "
                + "submit a correction as revision \(revision + 1)"
        case .deskNotAllowed(let desk, let contest, let region):
            return "desk \(desk) may not submit for \(contest), which is in region \(region)"
        case .nothingToWithdraw(let contest):
            return "\(contest): there is no declared result to withdraw"
        }
    }
}
