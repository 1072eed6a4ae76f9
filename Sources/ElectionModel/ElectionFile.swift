import Foundation

/// The JSON form of an election that an operator writes (see README, "Defining an election").
/// Parties and regions are referred to by code and id here; the model turns them into indexes.
public struct ElectionFile: Codable, Hashable, Sendable {
    public struct PartyEntry: Codable, Hashable, Sendable {
        public var code: String
        public var name: String
        /// True for a bucket such as "Independents and others", which never controls a council.
        public var group: Bool?
    }
    public struct RegionEntry: Codable, Hashable, Sendable {
        public var id: String
        public var name: String
    }
    public struct CandidateEntry: Codable, Hashable, Sendable {
        public var name: String
        public var party: String?
    }
    public struct ReferenceEntry: Codable, Hashable, Sendable {
        public var seats: [String: Int]?
        public var candidateVotes: [Int]?
        public var turnoutPercent: Double?
    }
    public struct ContestEntry: Codable, Hashable, Sendable {
        public var id: UInt32
        public var slug: String
        public var name: String
        public var region: String
        public var kind: String
        public var councilType: String?
        /// The ONS GSS code, e.g. "E06000030".
        public var gssCode: String?
        public var totalSeats: Int?
        public var seatsUp: Int?
        /// A party code, "NOC", or absent when unknown.
        public var controlBefore: String?
        /// Councils only: the whole council's seats per party code before the election; absent when unknown.
        public var seatsBefore: [String: Int]?
        public var candidates: [CandidateEntry]?
        public var reference: ReferenceEntry?
    }

    public var id: String
    public var name: String
    public var date: String
    public var sources: String?
    /// What the compositions before are: their date and source, and how far to trust their sums.
    public var seatsBeforeNote: String?
    public var parties: [PartyEntry]
    public var regions: [RegionEntry]
    public var contests: [ContestEntry]
}

extension Election {
    /// Decodes and checks an election from the operator's JSON.
    public init(json: Data) throws(ElectionDefinitionError) {
        let file: ElectionFile
        do {
            file = try JSONDecoder().decode(ElectionFile.self, from: json)
        } catch let error as DecodingError {
            throw ElectionDefinitionError(message: "the JSON does not match the election format: \(error.summary)")
        } catch {
            throw ElectionDefinitionError(message: "the JSON could not be read: \(error)")
        }
        try self.init(file: file)
    }

    public init(file: ElectionFile) throws(ElectionDefinitionError) {
        let parties = file.parties.map { Party(code: $0.code, name: $0.name, isGroup: $0.group ?? false) }
        let regions = file.regions.map { Region(id: $0.id, name: $0.name) }
        var partyByCode: [String: PartyIndex] = [:]
        for (position, party) in parties.enumerated() {
            guard partyByCode.updateValue(PartyIndex(position), forKey: party.code) == nil else {
                throw ElectionDefinitionError(message: "the party code \(party.code) appears twice")
            }
        }
        var regionByID: [String: RegionIndex] = [:]
        for (position, region) in regions.enumerated() {
            guard regionByID.updateValue(RegionIndex(position), forKey: region.id) == nil else {
                throw ElectionDefinitionError(message: "the region id \(region.id) appears twice")
            }
        }
        var contests: [Contest] = []
        contests.reserveCapacity(file.contests.count)
        for entry in file.contests {
            let label = "contest \(entry.id) (\(entry.slug))"
            func fail(_ what: String) -> ElectionDefinitionError {
                ElectionDefinitionError(message: "\(label): \(what)")
            }
            guard let region = regionByID[entry.region] else { throw fail("unknown region \"\(entry.region)\"") }
            guard let kind = ContestKind.allCases.first(where: { $0.name == entry.kind }) else {
                throw fail("unknown kind \"\(entry.kind)\"; use \"council\" or \"mayoralty\"")
            }
            func party(_ code: String) throws(ElectionDefinitionError) -> PartyIndex {
                guard let index = partyByCode[code] else { throw fail("unknown party \"\(code)\"") }
                return index
            }
            var controlBefore: Control?
            switch entry.controlBefore {
            case nil: controlBefore = nil
            case "NOC"?: controlBefore = .noOverallControl
            case let code?: controlBefore = .party(try party(code))
            }
            var candidates: [Candidate] = []
            for candidate in entry.candidates ?? [] {
                candidates.append(Candidate(name: candidate.name, party: try candidate.party.map(party)))
            }
            var seatsBefore: [PartyCount]?
            if let known = entry.seatsBefore {
                var counts: [PartyCount] = []
                for (code, count) in known {
                    guard let count = UInt32(exactly: count) else {
                        throw fail("seats before for \(code) are \(count)")
                    }
                    if count > 0 { counts.append(PartyCount(party: try party(code), count: count)) }
                }
                seatsBefore = counts.sorted { $0.party < $1.party }
            }
            var reference: ReferenceResult?
            if let known = entry.reference, known.seats != nil || known.candidateVotes != nil {
                var seats: [PartyCount] = []
                for (code, count) in known.seats ?? [:] {
                    guard let count = UInt32(exactly: count) else {
                        throw fail("reference seats for \(code) are \(count)")
                    }
                    seats.append(PartyCount(party: try party(code), count: count))
                }
                if kind == .mayoralty, let votes = known.candidateVotes,
                    let top = votes.indices.max(by: { votes[$0] < votes[$1] }),
                    candidates.indices.contains(top), let winner = candidates[top].party
                {
                    seats = [PartyCount(party: winner, count: 1)]
                }
                var candidateVotes: [UInt32] = []
                for votes in known.candidateVotes ?? [] {
                    guard let votes = UInt32(exactly: votes) else { throw fail("reference candidate votes \(votes)") }
                    candidateVotes.append(votes)
                }
                let turnout = known.turnoutPercent.flatMap { UInt16(exactly: ($0 * 100).rounded()) }
                reference = ReferenceResult(
                    seats: seats.sorted { $0.party < $1.party }, candidateVotes: candidateVotes,
                    turnoutBasisPoints: turnout)
            }
            contests.append(
                Contest(
                    id: ContestID(entry.id), slug: entry.slug, name: entry.name, region: region, kind: kind,
                    totalSeats: entry.totalSeats, seatsUp: entry.seatsUp, controlBefore: controlBefore,
                    candidates: candidates, councilType: entry.councilType,
                    gssCode: entry.gssCode.flatMap { $0.isEmpty ? nil : $0 }, seatsBefore: seatsBefore,
                    reference: reference))
        }
        try self.init(
            id: file.id, name: file.name, date: file.date, sources: file.sources ?? "",
            seatsBeforeNote: file.seatsBeforeNote ?? "", parties: parties, regions: regions, contests: contests)
    }
}

extension DecodingError {
    /// One line saying where in the JSON the problem is.
    var summary: String {
        func path(_ context: Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch self {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "at \(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "at \(path(context)): missing key \"\(key.stringValue)\""
        @unknown default:
            return "\(self)"
        }
    }
}
