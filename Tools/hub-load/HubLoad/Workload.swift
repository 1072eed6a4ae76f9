import ElectionDefaults
import ElectionModel
import HubWire

/// One thing a desk sends: a declaration or a withdrawal.
public enum Submission: Hashable, Sendable {
    case declare(Declaration)
    case withdraw(Withdrawal)

    public var key: EventKey {
        switch self {
        case .declare(let declaration): return EventKey(contest: declaration.contestID, revision: declaration.revision)
        case .withdraw(let withdrawal): return EventKey(contest: withdrawal.contestID, revision: withdrawal.revision)
        }
    }

    public func message(requestID: UInt64) -> HubMessage {
        switch self {
        case .declare(let declaration): return .submit(Submit(requestID: requestID, declaration: declaration))
        case .withdraw(let withdrawal): return .withdraw(WithdrawRequest(requestID: requestID, withdrawal: withdrawal))
        }
    }
}

/// A contest and revision: unique per event in a load run, so it ties a subscriber's record to the desk's send.
public struct EventKey: Hashable, Sendable, CustomStringConvertible {
    public var contest: ContestID
    public var revision: UInt32
    public init(contest: ContestID, revision: UInt32) {
        self.contest = contest
        self.revision = revision
    }
    public var description: String { "contest \(contest.rawValue) revision \(revision)" }
}

/// Valid results for the contests of an election, from the reference data where it adds up.
public struct ResultMaker: Sendable {
    public let election: Election

    public init(election: Election) { self.election = election }

    /// The embedded 2023 election.
    public static func defaultElection() throws -> Election { try Election.england2023() }

    /// The real result where the reference seats add up to the council's size; else every seat to the party in
    /// control before (CON if none). A council of unknown size gets the reference total, or 40.
    public func real(_ contest: Contest, revision: UInt32, at declaredAt: UInt64) -> Declaration {
        let reference = contest.reference
        switch contest.kind {
        case .mayoralty:
            let votes = reference?.candidateVotes ?? []
            let top = votes.indices.max { votes[$0] < votes[$1] }
            if votes.count == contest.candidates.count, let top, let party = contest.candidates[top].party {
                return Declaration(
                    contestID: contest.id, revision: revision, seats: [PartyCount(party: party, count: 1)],
                    turnoutBasisPoints: reference?.turnoutBasisPoints, candidateVotes: votes, declaredAt: declaredAt)
            }
            return allTo(contest, party: defaultParty(contest), revision: revision, at: declaredAt)
        case .council:
            let seats = reference?.seats ?? []
            let sum = seats.reduce(0) { $0 + Int($1.count) }
            if sum > 0 && sum == contest.totalSeats ?? sum {
                return Declaration(
                    contestID: contest.id, revision: revision, seats: seats,
                    turnoutBasisPoints: reference?.turnoutBasisPoints, declaredAt: declaredAt)
            }
            return allTo(contest, party: defaultParty(contest), revision: revision, at: declaredAt)
        }
    }

    /// Every seat to one party (a mayoralty: its one seat, without votes).
    public func allTo(_ contest: Contest, party: PartyIndex, revision: UInt32, at declaredAt: UInt64) -> Declaration {
        Declaration(
            contestID: contest.id, revision: revision,
            seats: [PartyCount(party: party, count: UInt32(size(of: contest)))],
            declaredAt: declaredAt)
    }

    /// A council's result that differs from `real`: one seat moved from the largest party to another.
    public func corrected(_ contest: Contest, revision: UInt32, at declaredAt: UInt64) -> Declaration {
        var declaration = real(contest, revision: revision, at: declaredAt)
        let winner = declaration.seats.max { $0.count < $1.count }!
        let other = otherParty(than: winner.party, in: contest)
        var seats = Dictionary(uniqueKeysWithValues: declaration.seats.map { ($0.party, $0.count) })
        seats[winner.party]! -= 1
        seats[other, default: 0] += 1
        declaration.seats = seats.map { PartyCount(party: $0.key, count: $0.value) }.sorted { $0.party < $1.party }
        return declaration
    }

    func size(of contest: Contest) -> Int {
        if contest.kind == .mayoralty { return 1 }
        let referenceSum = contest.reference?.seats.reduce(0) { $0 + Int($1.count) } ?? 0
        return contest.totalSeats ?? (referenceSum > 0 ? referenceSum : 40)
    }

    func defaultParty(_ contest: Contest) -> PartyIndex {
        if contest.kind == .mayoralty, let party = contest.candidates.compactMap(\.party).first { return party }
        if case .party(let party)? = contest.controlBefore { return party }
        return election.party(code: "CON") ?? PartyIndex(0)
    }

    /// A party other than `party`: for a mayoralty another candidate's.
    func otherParty(than party: PartyIndex, in contest: Contest) -> PartyIndex {
        if contest.kind == .mayoralty, let other = contest.candidates.compactMap(\.party).first(where: { $0 != party })
        {
            return other
        }
        return PartyIndex((party.rawValue + 1) % election.parties.count)
    }
}

/// Saturation: desk `desk` of `desks` owns contests desk, desk + desks, … and submits them in turn, each round with
/// the next revision, alternating the real result and everything to one party so that every record changes.
public struct SaturationWorkload: Sendable {
    private let maker: ResultMaker
    private let contests: [Contest]
    private var count = 0

    public init(election: Election, desk: Int, desks: Int) {
        precondition(desks > 0 && desk >= 0 && desk < min(desks, election.contests.count))
        self.maker = ResultMaker(election: election)
        self.contests = stride(from: desk, to: election.contests.count, by: desks).map { election.contests[$0] }
    }

    public mutating func next() -> Submission {
        let contest = contests[count % contests.count]
        let revision = UInt32(count / contests.count + 1)
        count += 1
        let declaredAt = NightSchedule.startMillis + UInt64(revision)
        if revision % 2 == 1 { return .declare(maker.real(contest, revision: revision, at: declaredAt)) }
        let party = maker.otherParty(than: maker.defaultParty(contest), in: contest)
        return .declare(maker.allTo(contest, party: party, revision: revision, at: declaredAt))
    }
}

/// The 2023 night replayed: every contest declared once, at a time between 00:30 and 08:30, by its region's desk;
/// three councils corrected (revision 2) and one result withdrawn (revision 2), each later than its declaration.
public struct NightSchedule: Sendable {
    public struct Entry: Hashable, Sendable {
        /// Milliseconds after the night's start.
        public var at: UInt64
        public var region: RegionIndex
        public var submission: Submission
    }

    /// 2023-05-05 00:30 BST, in milliseconds since the Unix epoch.
    public static let startMillis: UInt64 = 1_683_243_000_000
    public static let lengthMillis: UInt64 = 8 * 3600 * 1000
    public static let corrections = 3

    /// Ascending time.
    public let entries: [Entry]

    public init(election: Election, seed: UInt64 = 2023) {
        var random = SplitMix64(seed: seed)
        let maker = ResultMaker(election: election)
        var entries: [Entry] = election.contests.map { contest in
            let at = random.next() % Self.lengthMillis
            let declaration = maker.real(contest, revision: 1, at: Self.startMillis + at)
            return Entry(at: at, region: contest.region, submission: .declare(declaration))
        }
        var councils = entries.indices.filter { election.contests[$0].kind == .council }
        for index in 0...Self.corrections {
            let pick = councils.remove(at: Int(random.next() % UInt64(councils.count)))
            let first = entries[pick]
            let contest = election.contests[pick]
            let at = first.at + (Self.lengthMillis - first.at) / 2
            let submission: Submission =
                index < Self.corrections
                ? .declare(maker.corrected(contest, revision: 2, at: Self.startMillis + at))
                : .withdraw(
                    Withdrawal(
                        contestID: contest.id, revision: 2, withdrawnAt: Self.startMillis + at,
                        reason: "returning officer declared the wrong ward totals"))
            entries.append(Entry(at: at, region: first.region, submission: submission))
        }
        self.entries = entries.sorted { $0.order < $1.order }
    }
}

extension NightSchedule.Entry {
    /// Time, then revision (a correction at the same millisecond still comes after its declaration), then contest.
    var order: (UInt64, UInt32, UInt32) { (at, submission.key.revision, submission.key.contest.rawValue) }
}

/// A small, seedable generator so that a night is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
