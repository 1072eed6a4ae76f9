import ElectionModel
import HubTestSupport
import HubWire

/// Random but valid values for every message, spanning small and extreme numbers so that every varint width and
/// optional field is exercised.
struct RandomMessages {
    var rng: SplitMix64

    init(seed: UInt64) { rng = SplitMix64(seed: seed) }

    mutating func bool() -> Bool { rng.next() & 1 == 1 }

    /// Mostly small numbers, sometimes the largest the type allows.
    mutating func number(max: UInt64) -> UInt64 {
        switch rng.next() % 4 {
        case 0: return min(max, rng.next() % 128)
        case 1: return min(max, rng.next() % 70_000)
        case 2: return max
        default: return max == UInt64.max ? rng.next() : rng.next() % (max + 1)
        }
    }

    mutating func u32() -> UInt32 { UInt32(number(max: UInt64(UInt32.max))) }
    /// Contest ids, revisions, versions: never 0 on the wire.
    mutating func id() -> UInt32 { max(1, u32()) }
    mutating func u64() -> UInt64 { number(max: UInt64.max) }

    mutating func string(maxBytes: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz-0123456789 éü£🗳")
        var result = ""
        let length = Int(rng.next() % UInt64(min(maxBytes, 24) + 1))
        while result.utf8.count < length {
            let next = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            if result.utf8.count + String(next).utf8.count > maxBytes { break }
            result.append(next)
        }
        return result
    }

    mutating func partyCounts(ascending: Bool, positive: Bool) -> [PartyCount] {
        let count = Int(rng.next() % 8)
        var parties = Set<Int>()
        while parties.count < count { parties.insert(Int(rng.next() % 1024)) }
        var list = parties.map { PartyCount(party: PartyIndex($0), count: max(positive ? 1 : 0, u32())) }
        if ascending { list.sort { $0.party < $1.party } }
        return list
    }

    mutating func control() -> Control {
        bool() ? .noOverallControl : .party(PartyIndex(Int(rng.next() % 1024)))
    }

    mutating func record() -> ContestRecord {
        let contestID = ContestID(id())
        let revision = id()
        if rng.next() % 4 == 0 {
            return ContestRecord(
                contestID: contestID, revision: revision,
                state: .withdrawn(
                    WithdrawnResult(
                        withdrawnAt: u64(), deskID: string(maxBytes: 64), reason: string(maxBytes: 256))))
        }
        let result = DeclaredResult(
            control: control(), outcome: Outcome.allCases[Int(rng.next() % 5)],
            seats: partyCounts(ascending: true, positive: true),
            votes: bool() ? partyCounts(ascending: true, positive: false) : nil,
            turnoutBasisPoints: bool() ? UInt16(rng.next() % 10_001) : nil,
            candidateVotes: bool() ? (0..<Int(rng.next() % 6)).map { _ in u32() } : nil,
            declaredAt: u64(), deskID: string(maxBytes: 64))
        return ContestRecord(contestID: contestID, revision: revision, state: .declared(result))
    }

    mutating func declaration() -> Declaration {
        Declaration(
            contestID: ContestID(id()), revision: id(), seats: partyCounts(ascending: false, positive: false),
            votes: bool() ? partyCounts(ascending: false, positive: false) : nil,
            turnoutBasisPoints: bool() ? UInt16(number(max: UInt64(UInt16.max))) : nil,
            candidateVotes: bool() ? (0..<Int(rng.next() % 6)).map { _ in u32() } : nil, declaredAt: u64())
    }

    mutating func regions(max maximum: Int) -> [RegionIndex] {
        (0..<Int(1 + rng.next() % UInt64(maximum))).map { _ in RegionIndex(Int(rng.next() % 1024)) }
    }

    /// A definition, with 1.1 details (a note, GSS codes, compositions before) about half the time.
    mutating func definition() -> ElectionDefinition {
        var definition = coreDefinition()
        guard bool() else { return definition }
        definition.seatsBeforeNote = string(maxBytes: 1024)
        for position in definition.contests.indices {
            if bool() { definition.contests[position].gssCode = "E" + string(maxBytes: 15) }
            if bool() {
                // Parties of the definition, ascending, each with at least one seat.
                let parties = (0..<definition.parties.count).filter { _ in bool() }
                definition.contests[position].seatsBefore = (parties.isEmpty ? [0] : parties).map {
                    PartyCount(party: PartyIndex($0), count: max(1, u32()))
                }
            }
        }
        return definition
    }

    /// A change within the wire's bound, ±(2^32 - 1).
    mutating func change() -> Int {
        let magnitude = Int(u32())
        return bool() ? magnitude : -magnitude
    }

    mutating func coreDefinition() -> ElectionDefinition {
        ElectionDefinition(
            id: string(maxBytes: 64), name: string(maxBytes: 256), date: string(maxBytes: 32),
            parties: (0..<Int(1 + rng.next() % 5)).map { _ in
                .init(code: string(maxBytes: 16), name: string(maxBytes: 256), flags: bool() ? 1 : 0)
            },
            regions: (0..<Int(1 + rng.next() % 5)).map { _ in
                .init(id: string(maxBytes: 64), name: string(maxBytes: 256))
            },
            contests: (0..<Int(rng.next() % 6)).map { _ in
                .init(
                    id: u32(), slug: string(maxBytes: 64), name: string(maxBytes: 256),
                    regionIndex: rng.next() % 1024, kind: bool() ? .council : .mayoralty,
                    totalSeats: number(max: UInt64(UInt32.max)), seatsUp: number(max: UInt64(UInt32.max)),
                    previousControl: rng.next() % 1026,
                    candidates: (0..<Int(rng.next() % 4)).map { _ in
                        .init(name: string(maxBytes: 256), party: rng.next() % 1025)
                    })
            })
    }

    mutating func message(_ type: MessageType) -> HubMessage {
        switch type {
        case .hello:
            let low = UInt32(1 + rng.next() % 5)
            return .hello(
                Hello(
                    minVersion: low, maxVersion: low + UInt32(rng.next() % 3), role: bool() ? .desk : .subscriber,
                    principal: string(maxBytes: 64), secret: string(maxBytes: 256),
                    compression: CompressionSupport(rawValue: UInt8(rng.next() % 4)), clientName: string(maxBytes: 64)))
        case .welcome:
            let allRegions = bool()
            return .welcome(
                Welcome(
                    version: id(), hubName: string(maxBytes: 64), electionID: string(maxBytes: 64),
                    electionDigest: u64(), latestSequence: u64(),
                    compression: CompressionFormat(rawValue: UInt8(rng.next() % 3))!, maxFrameLength: u32(),
                    maxDecompressedLength: u32(), heartbeatIntervalMillis: u32(), allRegions: allRegions,
                    regions: allRegions || bool() ? [] : regions(max: 10), definitionDigest: u64()))
        case .versionRange:
            let low = id()
            return .versionRange(
                VersionRange(minVersion: low, maxVersion: max(low, u32()), message: string(maxBytes: 1024)))
        case .submit:
            return .submit(Submit(requestID: u64(), declaration: declaration()))
        case .withdraw:
            return .withdraw(
                WithdrawRequest(
                    requestID: u64(),
                    withdrawal: Withdrawal(
                        contestID: ContestID(id()), revision: id(), withdrawnAt: u64(), reason: string(maxBytes: 256))))
        case .ack:
            let declared = bool()
            return .ack(
                Ack(
                    requestID: u64(), sequence: u64(), duplicate: bool(), contestID: ContestID(id()), revision: id(),
                    status: declared ? .declared : .withdrawn, control: declared ? control() : .noOverallControl,
                    outcome: declared ? Outcome.allCases[Int(rng.next() % 5)] : .unknown))
        case .reject:
            return .reject(
                Reject(
                    requestID: u64(), code: ErrorCode(rawValue: UInt16(number(max: 65535))),
                    message: string(maxBytes: 1024)))
        case .subscribe:
            let filter: SubscriptionFilter
            switch rng.next() % 3 {
            case 0: filter = .all
            case 1: filter = .regions(regions(max: 64))
            default: filter = .contestKind(bool() ? .council : .mayoralty)
            }
            return .subscribe(Subscribe(filter: filter, resumeFrom: bool() ? u64() : nil))
        case .snapshot:
            var records: [ContestRecord] = []
            var nextID: UInt32 = 1
            for _ in 0..<Int(rng.next() % 6) {
                var record = record()
                nextID += UInt32(1 + rng.next() % 1000)
                record.contestID = ContestID(nextID)
                records.append(record)
            }
            return .snapshot(
                Snapshot(
                    sequence: u64(), reason: SnapshotReason(rawValue: UInt8(1 + rng.next() % 3))!, records: records,
                    checksum: StateChecksum(records: records).value))
        case .deltaBatch:
            let first = max(1, number(max: UInt64.max / 2))
            let span = number(max: 1_000_000)
            var sequences = Set<UInt64>()
            for _ in 0..<Int(rng.next() % 6) { sequences.insert(first + rng.next() % (span + 1)) }
            let events = sequences.sorted().map { SequencedRecord(sequence: $0, record: record()) }
            return .deltaBatch(
                DeltaBatch(
                    firstSequence: first, lastSequence: first + span, conflated: bool(), events: events, checksum: u64()
                ))
        case .heartbeat:
            return .heartbeat(Heartbeat(sequence: u64()))
        case .query:
            let kind: Query.Kind
            switch rng.next() % 3 {
            case 0: kind = .scoreboard
            case 1: kind = .contest(ContestID(id()))
            default: kind = .election
            }
            return .query(Query(requestID: u64(), kind: kind))
        case .scoreboard:
            var party = 0
            var rows: [Scoreboard.Row] = []
            for _ in 0..<Int(rng.next() % 6) {
                party += Int(1 + rng.next() % 50)
                rows.append(
                    Scoreboard.Row(
                        party: PartyIndex(party), councils: Int(u32()),
                        councilsChange: Int(Int32(truncatingIfNeeded: u64())),
                        councillors: Int(u32()), mayors: Int(u32()), councillorsCompared: Int(u32()),
                        councillorsChange: change()))
            }
            return .scoreboard(
                ScoreboardAnswer(
                    requestID: u64(),
                    scoreboard: Scoreboard(
                        sequence: u64(), contestsDeclared: Int(u32()), contestsTotal: Int(u32()),
                        noOverallControl: Int(u32()), noOverallControlChange: Int(Int32(truncatingIfNeeded: u64())),
                        rows: rows, councilsCompared: Int(u32()), councilsNotCompared: Int(u32()))))
        case .contest:
            var seatChanges: [SeatChange]?
            if bool() {
                seatChanges = partyCounts(ascending: true, positive: true).map {
                    SeatChange(party: $0.party, change: bool() ? Int($0.count) : -Int($0.count))
                }
            }
            return .contest(
                ContestAnswer(
                    requestID: u64(), sequence: u64(), record: bool() ? record() : nil, seatChanges: seatChanges))
        case .election:
            let definition = definition()
            return .election(ElectionAnswer(requestID: u64(), digest: definition.digest, definition: definition))
        case .goodbye:
            return .goodbye(
                Goodbye(
                    code: ErrorCode(rawValue: UInt16(number(max: 65535))), message: string(maxBytes: 1024),
                    lastSequence: u64(), leader: bool() ? string(maxBytes: WireLimits.maxAddressBytes) : nil))
        }
    }
}
