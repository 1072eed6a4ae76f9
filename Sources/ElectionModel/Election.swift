public struct Party: Hashable, Sendable {
    /// Short code, e.g. "LAB".
    public var code: String
    public var name: String
    /// A bucket of independents and minor parties ("Independents and others"): counted on the scoreboard, but
    /// never in control of a council, since its members are not one party.
    public var isGroup: Bool
    public init(code: String, name: String, isGroup: Bool = false) {
        self.code = code
        self.name = name
        self.isGroup = isGroup
    }
}

public struct Region: Hashable, Sendable {
    /// Slug, e.g. "north-west". Default desks are named after regions.
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}

public enum ContestKind: UInt8, Hashable, Sendable, CaseIterable {
    /// A council: many seats, control by majority.
    case council = 1
    /// A single-winner race (a directly elected mayor).
    case mayoralty = 2

    public var name: String {
        switch self {
        case .council: return "council"
        case .mayoralty: return "mayoralty"
        }
    }
}

public struct Candidate: Hashable, Sendable {
    public var name: String
    public var party: PartyIndex?
    public init(name: String, party: PartyIndex?) {
        self.name = name
        self.party = party
    }
}

/// The real result a data set knows for a contest, used to replay an election night. Not part of the wire definition.
public struct ReferenceResult: Hashable, Sendable {
    public var seats: [PartyCount]
    public var candidateVotes: [UInt32]
    public var turnoutBasisPoints: UInt16?
    public init(seats: [PartyCount], candidateVotes: [UInt32], turnoutBasisPoints: UInt16?) {
        self.seats = seats
        self.candidateVotes = candidateVotes
        self.turnoutBasisPoints = turnoutBasisPoints
    }
}

public struct Contest: Hashable, Sendable {
    public var id: ContestID
    public var slug: String
    public var name: String
    public var region: RegionIndex
    public var kind: ContestKind
    /// Seats on the whole council; nil when the data set does not know it (then any positive total is accepted).
    /// Not used for a mayoralty, whose one seat is implied by its kind.
    public var totalSeats: Int?
    public var seatsUp: Int?
    /// Control before the election; nil when unknown.
    public var controlBefore: Control?
    /// Mayoralties only.
    public var candidates: [Candidate]
    public var councilType: String?
    /// The ONS GSS code (e.g. "E06000030" for Swindon), for joining other data such as maps; nil when unknown.
    public var gssCode: String?
    /// Councils only: the whole council's seats per party before the election, in ascending party order without
    /// zero counts; nil when unknown. Councillor changes are measured against it; it need not add up to `totalSeats`
    /// (a council can change size on new wards).
    public var seatsBefore: [PartyCount]?
    public var reference: ReferenceResult?

    public init(
        id: ContestID, slug: String, name: String, region: RegionIndex, kind: ContestKind, totalSeats: Int?,
        seatsUp: Int?, controlBefore: Control?, candidates: [Candidate] = [], councilType: String? = nil,
        gssCode: String? = nil, seatsBefore: [PartyCount]? = nil, reference: ReferenceResult? = nil
    ) {
        self.id = id
        self.slug = slug
        self.name = name
        self.region = region
        self.kind = kind
        self.totalSeats = totalSeats
        self.seatsUp = seatsUp
        self.controlBefore = controlBefore
        self.candidates = candidates
        self.councilType = councilType
        self.gssCode = gssCode
        self.seatsBefore = seatsBefore
        self.reference = reference
    }
}

/// Where each contest is in `Election.contests`, by id. When the ids are dense enough (the usual 1...N) it is an
/// array indexed by the raw id, so that the hub's several lookups per declaration index rather than hash.
public struct ContestPositions: Sendable {
    /// -1 where no contest has the id; empty when the ids are too sparse for an array.
    @usableFromInline let byRawID: [Int32]
    @usableFromInline let byID: [ContestID: Int]

    init(_ byID: [ContestID: Int]) {
        let largest = Int(byID.keys.map(\.rawValue).max() ?? 0)
        if largest <= max(4 * byID.count, 4096) {
            var byRawID = [Int32](repeating: -1, count: largest + 1)
            for (id, position) in byID { byRawID[Int(id.rawValue)] = Int32(position) }
            self.byRawID = byRawID
            self.byID = [:]
        } else {
            self.byRawID = []
            self.byID = byID
        }
    }

    @inlinable
    public func position(_ id: ContestID) -> Int? {
        guard byRawID.isEmpty else {
            let raw = Int(id.rawValue)
            guard raw < byRawID.count, byRawID[raw] >= 0 else { return nil }
            return Int(byRawID[raw])
        }
        return byID[id]
    }
}

/// One election: its parties, regions and contests, with lookups. Built once and shared read-only.
public struct Election: Sendable {
    public let id: String
    public let name: String
    public let date: String
    /// Credits for the data; not part of the wire definition.
    public let sources: String
    /// What the councils' compositions before the election are (their date and source, how far to trust their sums);
    /// empty when none is given. Part of the wire definition, so that every display of a councillor change can say it.
    public let seatsBeforeNote: String
    public let parties: [Party]
    public let regions: [Region]
    /// Ascending contest id.
    public let contests: [Contest]

    /// Where each contest is in `contests`.
    public let contestPositions: ContestPositions
    private let contestPositionBySlug: [String: Int]
    private let partyIndexByCode: [String: PartyIndex]
    private let regionIndexByID: [String: RegionIndex]

    /// Checks the definition is coherent and builds the lookups.
    public init(
        id: String, name: String, date: String, sources: String = "", seatsBeforeNote: String = "",
        parties: [Party], regions: [Region], contests: [Contest]
    ) throws(ElectionDefinitionError) {
        func fail(_ message: String) -> ElectionDefinitionError { ElectionDefinitionError(message: message) }
        guard !id.isEmpty else { throw fail("the election has an empty id") }
        guard !parties.isEmpty else { throw fail("the election has no parties") }
        guard !regions.isEmpty else { throw fail("the election has no regions") }
        guard !contests.isEmpty else { throw fail("the election has no contests") }
        guard seatsBeforeNote.utf8.count <= Election.maxSeatsBeforeNoteBytes else {
            throw fail("seatsBeforeNote is longer than \(Election.maxSeatsBeforeNoteBytes) bytes")
        }
        var partyIndexByCode: [String: PartyIndex] = [:]
        for (position, party) in parties.enumerated() {
            guard !party.code.isEmpty, party.code != "NOC" else {
                throw fail("party \(position + 1) has the code \"\(party.code)\", which is reserved or empty")
            }
            guard partyIndexByCode.updateValue(PartyIndex(position), forKey: party.code) == nil else {
                throw fail("the party code \(party.code) appears twice")
            }
        }
        var regionIndexByID: [String: RegionIndex] = [:]
        for (position, region) in regions.enumerated() {
            guard !region.id.isEmpty else { throw fail("region \(position + 1) has an empty id") }
            guard regionIndexByID.updateValue(RegionIndex(position), forKey: region.id) == nil else {
                throw fail("the region id \(region.id) appears twice")
            }
        }
        let sorted = contests.sorted { $0.id < $1.id }
        var byID: [ContestID: Int] = [:]
        var bySlug: [String: Int] = [:]
        for (position, contest) in sorted.enumerated() {
            let label = "contest \(contest.id.rawValue) (\(contest.slug))"
            guard contest.id.rawValue > 0 else { throw fail("\(label) has id 0; ids start at 1") }
            guard byID.updateValue(position, forKey: contest.id) == nil else {
                throw fail("the contest id \(contest.id.rawValue) appears twice")
            }
            guard !contest.slug.isEmpty, bySlug.updateValue(position, forKey: contest.slug) == nil else {
                throw fail("the contest slug \"\(contest.slug)\" is empty or appears twice")
            }
            guard regions.indices.contains(contest.region.rawValue) else { throw fail("\(label) has no valid region") }
            if let total = contest.totalSeats, total <= 0 { throw fail("\(label) has \(total) seats") }
            if let up = contest.seatsUp, up < 0 || up > (contest.totalSeats ?? Int.max) {
                throw fail("\(label) has \(up) seats up, outside 0...\(contest.totalSeats ?? up)")
            }
            if let code = contest.gssCode, code.isEmpty || code.utf8.count > Election.maxGSSCodeBytes {
                throw fail("\(label) has the GSS code \"\(code)\"; give 1 to \(Election.maxGSSCodeBytes) bytes or none")
            }
            switch contest.kind {
            case .council:
                guard contest.candidates.isEmpty else { throw fail("\(label) is a council but lists candidates") }
                if case .party(let party)? = contest.controlBefore, parties.indices.contains(party.rawValue),
                    parties[party.rawValue].isGroup
                {
                    throw fail(
                        "\(label) is a council whose control before is \(parties[party.rawValue].code), a group; "
                            + "a group never controls a council (use NOC)")
                }
                if let before = contest.seatsBefore {
                    guard !before.isEmpty else { throw fail("\(label) has an empty composition before") }
                    for (position, entry) in before.enumerated() {
                        guard parties.indices.contains(entry.party.rawValue) else {
                            throw fail("\(label) has seats before for an unknown party #\(entry.party.rawValue)")
                        }
                        guard entry.count > 0, position == 0 || before[position - 1].party < entry.party else {
                            throw fail(
                                "\(label): the composition before must list each party once, in party order, "
                                    + "without zero counts")
                        }
                    }
                }
            case .mayoralty:
                guard contest.seatsBefore == nil else {
                    throw fail("\(label) is a mayoralty; only a council has a composition before")
                }
                guard !contest.candidates.isEmpty else { throw fail("\(label) is a mayoralty with no candidates") }
                guard contest.candidates.count <= Election.maxCandidates else {
                    throw fail("\(label) has more than \(Election.maxCandidates) candidates")
                }
            }
        }
        self.id = id
        self.name = name
        self.date = date
        self.sources = sources
        self.seatsBeforeNote = seatsBeforeNote
        self.parties = parties
        self.regions = regions
        self.contests = sorted
        self.contestPositions = ContestPositions(byID)
        self.contestPositionBySlug = bySlug
        self.partyIndexByCode = partyIndexByCode
        self.regionIndexByID = regionIndexByID
    }

    /// Most candidates a mayoralty may have (the wire's limit).
    public static let maxCandidates = 64
    /// Longest GSS code (the wire's limit; real ones are 9 bytes).
    public static let maxGSSCodeBytes = 16
    /// Longest note on the compositions before (the wire's limit).
    public static let maxSeatsBeforeNoteBytes = 1024

    public func contest(_ id: ContestID) -> Contest? {
        contestPositions.position(id).map { contests[$0] }
    }

    public func hasContest(_ id: ContestID) -> Bool { contestPositions.position(id) != nil }

    public func contest(slug: String) -> Contest? {
        contestPositionBySlug[slug].map { contests[$0] }
    }

    public func party(code: String) -> PartyIndex? { partyIndexByCode[code] }

    public func region(id: String) -> RegionIndex? { regionIndexByID[id] }

    public func party(_ index: PartyIndex) -> Party? {
        parties.indices.contains(index.rawValue) ? parties[index.rawValue] : nil
    }

    /// Slugs closest to a mistyped one, for "did you mean" messages.
    public func slugs(closeTo slug: String, limit: Int = 3) -> [String] {
        let scored = contests.map { ($0.slug, EditDistance.between($0.slug, slug)) }
        let threshold = max(2, slug.count / 3)
        return scored.filter { $0.1 <= threshold || $0.0.hasPrefix(slug) }
            .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .prefix(limit).map(\.0)
    }
}

/// What is wrong with an election definition, in words an operator can act on.
public struct ElectionDefinitionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { "invalid election definition: \(message)" }
}

enum EditDistance {
    /// Levenshtein distance over Unicode scalars.
    static func between(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars)
        let b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
