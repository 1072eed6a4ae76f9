import ElectionModel
import NIOCore

/// The election as the wire carries it (spec 7.3): what a client needs to interpret indexes and measure changes,
/// without the data set's credits and reference results.
public struct ElectionDefinition: Hashable, Sendable {
    public struct PartyEntry: Hashable, Sendable {
        public var code: String
        public var name: String
        /// Bit 0: the party is a group that never controls a council.
        public var flags: UInt8
        public init(code: String, name: String, flags: UInt8) {
            self.code = code
            self.name = name
            self.flags = flags
        }
        public static let groupFlag: UInt8 = 1
    }
    public struct RegionEntry: Hashable, Sendable {
        public var id: String
        public var name: String
        public init(id: String, name: String) {
            self.id = id
            self.name = name
        }
    }
    public struct CandidateEntry: Hashable, Sendable {
        public var name: String
        /// 0 = none, k + 1 = party index k.
        public var party: UInt64
        public init(name: String, party: UInt64) {
            self.name = name
            self.party = party
        }
    }
    public struct ContestEntry: Hashable, Sendable {
        public var id: UInt32
        public var slug: String
        public var name: String
        public var regionIndex: UInt64
        public var kind: ContestKind
        /// 0 = unknown.
        public var totalSeats: UInt64
        /// 0 = unknown.
        public var seatsUp: UInt64
        /// 0 = unknown, 1 = NOC, k + 2 = party index k.
        public var previousControl: UInt64
        public var candidates: [CandidateEntry]
        /// Protocol 1.1 details (spec 7.3.1): the GSS code, and a council's seats per party before the election
        /// (ascending party index, no zero counts). Nil when not given.
        public var gssCode: String?
        public var seatsBefore: [PartyCount]?
        public init(
            id: UInt32, slug: String, name: String, regionIndex: UInt64, kind: ContestKind, totalSeats: UInt64,
            seatsUp: UInt64, previousControl: UInt64, candidates: [CandidateEntry], gssCode: String? = nil,
            seatsBefore: [PartyCount]? = nil
        ) {
            self.id = id
            self.slug = slug
            self.name = name
            self.regionIndex = regionIndex
            self.kind = kind
            self.totalSeats = totalSeats
            self.seatsUp = seatsUp
            self.previousControl = previousControl
            self.candidates = candidates
            self.gssCode = gssCode
            self.seatsBefore = seatsBefore
        }

        var hasDetails: Bool { gssCode != nil || seatsBefore != nil }
    }

    public var id: String
    public var name: String
    public var date: String
    public var parties: [PartyEntry]
    public var regions: [RegionEntry]
    public var contests: [ContestEntry]
    /// Protocol 1.1 (spec 7.3.1): what the compositions before are; empty when not given.
    public var seatsBeforeNote: String

    public init(
        id: String, name: String, date: String, parties: [PartyEntry], regions: [RegionEntry],
        contests: [ContestEntry], seatsBeforeNote: String = ""
    ) {
        self.id = id
        self.name = name
        self.date = date
        self.parties = parties
        self.regions = regions
        self.contests = contests
        self.seatsBeforeNote = seatsBeforeNote
    }

    /// Whether the definition has any 1.1 details (spec 7.3.1): a note, or any contest's GSS code or composition
    /// before. Without them its details section is empty.
    public var hasDetails: Bool { !seatsBeforeNote.isEmpty || contests.contains(where: \.hasDetails) }

    public init(_ election: Election) {
        self.init(
            id: election.id, name: election.name, date: election.date,
            parties: election.parties.map {
                PartyEntry(code: $0.code, name: $0.name, flags: $0.isGroup ? PartyEntry.groupFlag : 0)
            },
            regions: election.regions.map { RegionEntry(id: $0.id, name: $0.name) },
            contests: election.contests.map { contest in
                ContestEntry(
                    id: contest.id.rawValue, slug: contest.slug, name: contest.name,
                    regionIndex: UInt64(contest.region.rawValue), kind: contest.kind,
                    totalSeats: UInt64(contest.totalSeats ?? 0), seatsUp: UInt64(contest.seatsUp ?? 0),
                    previousControl: WireControl.previous(contest.controlBefore),
                    candidates: contest.candidates.map {
                        CandidateEntry(name: $0.name, party: $0.party.map { UInt64($0.rawValue) + 1 } ?? 0)
                    }, gssCode: contest.gssCode, seatsBefore: contest.seatsBefore)
            }, seatsBeforeNote: election.seatsBeforeNote)
    }

    /// The definition's bytes (spec 7.3): the core, then the 1.1 details section (empty when it has no details).
    public func encode(into buffer: inout ByteBuffer) {
        encodeCore(into: &buffer)
        encodeDetails(into: &buffer)
    }

    /// The details section of spec 7.3.1: the note, then one entry per contest when any contest has details.
    func encodeDetails(into buffer: inout ByteBuffer) {
        buffer.writeWireString(seatsBeforeNote)
        let any = contests.contains(where: \.hasDetails)
        buffer.writeVarint(any ? contests.count : 0)
        guard any else { return }
        for contest in contests {
            buffer.writeInteger(
                (contest.gssCode != nil ? Self.gssCodeBit : 0) | (contest.seatsBefore != nil ? Self.seatsBeforeBit : 0))
            if let code = contest.gssCode { buffer.writeWireString(code) }
            if let before = contest.seatsBefore { RecordCodec.writeCounts(before, into: &buffer) }
        }
    }

    static let gssCodeBit: UInt8 = 1
    static let seatsBeforeBit: UInt8 = 2

    /// The protocol 1.0 bytes (spec 7.3), which the election digest covers.
    public func encodeCore(into buffer: inout ByteBuffer) {
        buffer.writeWireString(id)
        buffer.writeWireString(name)
        buffer.writeWireString(date)
        buffer.writeVarint(parties.count)
        for party in parties {
            buffer.writeWireString(party.code)
            buffer.writeWireString(party.name)
            buffer.writeInteger(party.flags)
        }
        buffer.writeVarint(regions.count)
        for region in regions {
            buffer.writeWireString(region.id)
            buffer.writeWireString(region.name)
        }
        buffer.writeVarint(contests.count)
        for contest in contests {
            buffer.writeVarint(contest.id)
            buffer.writeWireString(contest.slug)
            buffer.writeWireString(contest.name)
            buffer.writeVarint(contest.regionIndex)
            buffer.writeInteger(contest.kind.rawValue)
            buffer.writeVarint(contest.totalSeats)
            buffer.writeVarint(contest.seatsUp)
            buffer.writeVarint(contest.previousControl)
            buffer.writeVarint(contest.candidates.count)
            for candidate in contest.candidates {
                buffer.writeWireString(candidate.name)
                buffer.writeVarint(candidate.party)
            }
        }
    }

    public static func decode(from reader: inout WireReader) throws(WireError) -> ElectionDefinition {
        let id = try reader.string("election.id", maxBytes: WireLimits.maxNameBytes)
        let name = try reader.string("election.name", maxBytes: WireLimits.maxElectionNameBytes)
        let date = try reader.string("election.date", maxBytes: WireLimits.maxDateBytes)
        var parties: [PartyEntry] = []
        let partyCount = try reader.count("election.parties", max: WireLimits.maxDefinitionEntries)
        parties.reserveCapacity(partyCount)
        for _ in 0..<partyCount {
            let code = try reader.string("party.code", maxBytes: WireLimits.maxPartyCodeBytes)
            let name = try reader.string("party.name", maxBytes: WireLimits.maxElectionNameBytes)
            let flags = try reader.u8("party.flags")
            guard flags & ~PartyEntry.groupFlag == 0 else {
                throw reader.malformed("party.flags has reserved bits set")
            }
            parties.append(PartyEntry(code: code, name: name, flags: flags))
        }
        var regions: [RegionEntry] = []
        let regionCount = try reader.count("election.regions", max: WireLimits.maxDefinitionEntries)
        regions.reserveCapacity(regionCount)
        for _ in 0..<regionCount {
            regions.append(
                RegionEntry(
                    id: try reader.string("region.id", maxBytes: WireLimits.maxNameBytes),
                    name: try reader.string("region.name", maxBytes: WireLimits.maxElectionNameBytes)))
        }
        var contests: [ContestEntry] = []
        let contestCount = try reader.count("election.contests", max: WireLimits.maxDefinitionContests)
        contests.reserveCapacity(contestCount)
        for _ in 0..<contestCount {
            let id = try reader.varint32("contest.id")
            let slug = try reader.string("contest.slug", maxBytes: WireLimits.maxNameBytes)
            let name = try reader.string("contest.name", maxBytes: WireLimits.maxElectionNameBytes)
            let region = try reader.varint("contest.regionIndex", max: WireLimits.maxIndex)
            let kind = try reader.enumeration("contest.kind", as: ContestKind.self)
            let totalSeats = try reader.varint("contest.totalSeats", max: WireLimits.maxCountValue)
            let seatsUp = try reader.varint("contest.seatsUp", max: WireLimits.maxCountValue)
            let previous = try reader.varint("contest.previousControl", max: WireLimits.maxPreviousControl)
            let candidateCount = try reader.count("contest.candidates", max: WireLimits.maxCandidates)
            var candidates: [CandidateEntry] = []
            candidates.reserveCapacity(candidateCount)
            for _ in 0..<candidateCount {
                candidates.append(
                    CandidateEntry(
                        name: try reader.string("candidate.name", maxBytes: WireLimits.maxElectionNameBytes),
                        party: try reader.varint("candidate.party", max: WireLimits.maxCandidateParty)))
            }
            contests.append(
                ContestEntry(
                    id: id, slug: slug, name: name, regionIndex: region, kind: kind, totalSeats: totalSeats,
                    seatsUp: seatsUp, previousControl: previous, candidates: candidates))
        }
        return ElectionDefinition(
            id: id, name: name, date: date, parties: parties, regions: regions, contests: contests)
    }

    /// Reads the 1.1 details section (spec 7.3.1) that follows the core (`decode(from:)`).
    public mutating func decodeDetails(from reader: inout WireReader) throws(WireError) {
        let note = try reader.string("election.seatsBeforeNote", maxBytes: WireLimits.maxSeatsBeforeNoteBytes)
        let countStart = reader.position
        let count = try reader.count("election.contestDetails", max: WireLimits.maxDefinitionContests)
        guard count == 0 || count == contests.count else {
            throw reader.malformed("election.contestDetails has \(count) entries for \(contests.count) contests")
        }
        var any = false
        for position in 0..<count {
            let fields = try reader.u8("contestDetail.fields")
            guard fields & ~(Self.gssCodeBit | Self.seatsBeforeBit) == 0 else {
                throw reader.malformed("contestDetail.fields has reserved bits set")
            }
            if fields & Self.gssCodeBit != 0 {
                let code = try reader.string("contestDetail.gssCode", maxBytes: WireLimits.maxGSSCodeBytes)
                guard !code.isEmpty else { throw reader.malformed("contestDetail.gssCode is empty") }
                contests[position].gssCode = code
            }
            if fields & Self.seatsBeforeBit != 0 {
                let beforeStart = reader.position
                let before = try RecordCodec.readCounts(&reader, "contestDetail.seatsBefore", canonical: true)
                guard !before.isEmpty, before.allSatisfy({ $0.count > 0 && $0.party.rawValue < parties.count }) else {
                    throw reader.malformed(
                        "contestDetail.seatsBefore is empty, lists a party with 0 seats or an unknown party",
                        from: beforeStart)
                }
                contests[position].seatsBefore = before
            }
            any = any || fields != 0
        }
        guard count == 0 || any else {
            throw reader.malformed(
                "election.contestDetails lists contests but none has a detail; the count must be 0", from: countStart)
        }
        seatsBeforeNote = note
    }

    /// The election digest (spec 7.3): `H` of the core bytes, as in protocol 1.0, so that a 1.0 client still checks
    /// it, and a journal names its election by it whatever the details.
    public var digest: UInt64 {
        var buffer = ByteBufferAllocator().buffer(capacity: 16_384)
        encodeCore(into: &buffer)
        return StateHash.hash(buffer.readableBytesView)
    }

    /// The definition digest (spec 7.3.1): `H` of all the definition's bytes, core and details section.
    public var definitionDigest: UInt64 {
        var buffer = ByteBufferAllocator().buffer(capacity: 16_384)
        encode(into: &buffer)
        return StateHash.hash(buffer.readableBytesView)
    }

    /// The preset dictionary both sides derive (spec 8.1).
    public var presetDictionary: [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 1024)
        buffer.writeBytes(0..<64 as Range<UInt8>)
        for region in regions { buffer.writeWireString(region.id) }
        for party in parties { buffer.writeWireString(party.code) }
        buffer.writeWireString("national")
        let bytes = Array(buffer.readableBytesView)
        return bytes.count > WireLimits.maxDictionaryBytes
            ? Array(bytes.suffix(WireLimits.maxDictionaryBytes)) : bytes
    }
}

extension Election {
    /// Rebuilds an election from the definition a hub sent (without credits or reference results).
    public init(definition: ElectionDefinition) throws(ElectionDefinitionError) {
        let partyCount = definition.parties.count
        func party(_ raw: UInt64, offset: UInt64) throws(ElectionDefinitionError) -> PartyIndex {
            let index = raw - offset
            guard index < UInt64(partyCount) else {
                throw ElectionDefinitionError(message: "party index \(index) is outside the \(partyCount) parties")
            }
            return PartyIndex(Int(index))
        }
        var contests: [Contest] = []
        for entry in definition.contests {
            var before: Control?
            switch entry.previousControl {
            case 0: before = nil
            case 1: before = .noOverallControl
            default: before = .party(try party(entry.previousControl, offset: 2))
            }
            var candidates: [Candidate] = []
            for candidate in entry.candidates {
                candidates.append(
                    Candidate(
                        name: candidate.name, party: candidate.party == 0 ? nil : try party(candidate.party, offset: 1))
                )
            }
            contests.append(
                Contest(
                    id: ContestID(entry.id), slug: entry.slug, name: entry.name,
                    region: RegionIndex(Int(entry.regionIndex)),
                    kind: entry.kind, totalSeats: entry.totalSeats == 0 ? nil : Int(entry.totalSeats),
                    seatsUp: entry.seatsUp == 0 ? nil : Int(entry.seatsUp), controlBefore: before,
                    candidates: candidates, gssCode: entry.gssCode, seatsBefore: entry.seatsBefore))
        }
        try self.init(
            id: definition.id, name: definition.name, date: definition.date,
            seatsBeforeNote: definition.seatsBeforeNote,
            parties: definition.parties.map {
                Party(code: $0.code, name: $0.name, isGroup: $0.flags & ElectionDefinition.PartyEntry.groupFlag != 0)
            },
            regions: definition.regions.map { Region(id: $0.id, name: $0.name) }, contests: contests)
    }
}

/// The wire numbers for control (spec 3).
enum WireControl {
    static func encode(_ control: Control) -> UInt64 {
        switch control {
        case .noOverallControl: return 0
        case .party(let index): return UInt64(index.rawValue) + 1
        }
    }

    static func decode(_ raw: UInt64) -> Control {
        raw == 0 ? .noOverallControl : .party(PartyIndex(Int(raw - 1)))
    }

    static func previous(_ control: Control?) -> UInt64 {
        switch control {
        case nil: return 0
        case .noOverallControl?: return 1
        case .party(let index)?: return UInt64(index.rawValue) + 2
        }
    }
}
