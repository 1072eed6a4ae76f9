import ElectionDefaults
import ElectionModel
import Foundation
import HubWire

/// The data every benchmark and `compression-sizes` use: the embedded 4 May 2023 English local elections and
/// declarations built from their real results. Everything here is deterministic, so byte counts repeat exactly.
public enum Fixtures {
    /// The default election, as the hub embeds it (`ElectionDefaults`, a product of the main package).
    public static let election: Election = {
        do {
            return try Election.england2023()
        } catch {
            fatalError("cannot load the embedded default election: \(error)")
        }
    }()

    public static let definition = ElectionDefinition(election)
    /// The preset dictionary both ends derive from the definition (spec 8.1).
    public static let dictionary = definition.presetDictionary

    /// The desk the real-data records come from: allowed everywhere.
    public static let nationalDesk = DeskIdentity(id: "national", scope: .all)

    /// 4 May 2023 23:00 BST, in milliseconds since the Unix epoch: the night's first declaration time.
    public static let nightStart: UInt64 = 1_683_237_600_000

    // MARK: The typical declaration

    /// The README's typical council declaration: Swindon, 6 parties with seats and votes, turnout 31.2%, from the
    /// south-west desk (the same as the main package's `EncodedSizeTests`, so the byte counts can be checked there).
    public static let typicalDeclaration: Declaration = {
        let contest = election.contest(slug: "swindon")!
        let parties = ["CON", "LAB", "LD", "GRN", "IND", "TUSC"].map { election.party(code: $0)! }
        let seats: [UInt32] = [20, 31, 3, 1, 2, 0]
        let votes: [UInt32] = [24_811, 31_034, 6_120, 5_208, 2_650, 388]
        return Declaration(
            contestID: contest.id, revision: 1,
            seats: zip(parties, seats).map { PartyCount(party: $0, count: $1) },
            votes: zip(parties, votes).map { PartyCount(party: $0, count: $1) },
            turnoutBasisPoints: 3120, declaredAt: 1_683_252_871_000)
    }()

    public static let typicalRecord: ContestRecord = {
        do {
            return try election.validate(typicalDeclaration, from: DeskIdentity(id: "south-west", scope: .all))
        } catch {
            fatalError("the typical declaration does not validate: \(error)")
        }
    }()

    /// SUBMIT as the desk sends it.
    public static let typicalSubmit = Submit(requestID: 1, declaration: typicalDeclaration)

    /// DELTA_BATCH with that one record, as every subscriber gets it.
    public static let typicalDelta = DeltaBatch(
        firstSequence: 1234, lastSequence: 1234, conflated: false,
        events: [SequencedRecord(sequence: 1234, record: typicalRecord)],
        checksum: StateChecksum(records: [typicalRecord]).value)

    // MARK: The whole night, from the real results

    /// One first declaration per contest (234), in contest-id order: the real seats (`contest.reference`) and turnout
    /// where they add up to the council's size, else every seat to party 0; a mayoralty gives its winner the seat,
    /// with the candidates' votes where the data has all of them.
    public static let nightDeclarations: [Declaration] = election.contests.enumerated().map { position, contest in
        let declaredAt = nightStart + UInt64(position) * 61_000
        if let reference = contest.reference {
            let candidateVotes =
                contest.kind == .mayoralty && reference.candidateVotes.count == contest.candidates.count
                ? reference.candidateVotes : nil
            let real = Declaration(
                contestID: contest.id, revision: 1, seats: reference.seats,
                turnoutBasisPoints: reference.turnoutBasisPoints, candidateVotes: candidateVotes,
                declaredAt: declaredAt)
            if (try? election.validate(real, from: nationalDesk)) != nil { return real }
        }
        let seats = contest.kind == .mayoralty ? 1 : UInt32(contest.totalSeats ?? 1)
        return Declaration(
            contestID: contest.id, revision: 1, seats: [PartyCount(party: PartyIndex(0), count: seats)],
            declaredAt: declaredAt)
    }

    /// How many of `nightDeclarations` carry the real seats (the rest give every seat to party 0).
    public static let realDeclarationCount: Int = zip(election.contests, nightDeclarations).count {
        contest, declaration in
        contest.reference.map { $0.seats == declaration.seats } ?? false
    }

    /// The records the hub makes of `nightDeclarations` (desk "national").
    public static let nightRecords: [ContestRecord] = nightDeclarations.map { declaration in
        do {
            return try election.validate(declaration, from: nationalDesk)
        } catch {
            fatalError("a night declaration does not validate: \(error)")
        }
    }

    /// The councils' records with the real seat counts, in contest-id order: the source of the delta batches.
    public static let realCouncilRecords: [ContestRecord] = zip(election.contests, nightRecords).compactMap {
        contest, record in
        guard contest.kind == .council, let reference = contest.reference,
            record.declared?.seats == reference.seats
        else { return nil }
        return record
    }

    /// A DELTA_BATCH of `count` consecutive events (sequence 1001 onwards) with real council results.
    public static func deltaBatch(count: Int, offset: Int = 0) -> DeltaBatch {
        let records = Array(realCouncilRecords[offset..<(offset + count)])
        let first: UInt64 = 1001 + UInt64(offset)
        return DeltaBatch(
            firstSequence: first, lastSequence: first + UInt64(count) - 1, conflated: false,
            events: records.enumerated().map {
                SequencedRecord(sequence: first + UInt64($0.offset), record: $0.element)
            },
            checksum: StateChecksum(records: records).value)
    }

    public static let delta64 = deltaBatch(count: 64)

    /// The full SNAPSHOT a new subscriber gets once every contest has declared: 230 councils and 4 mayoralties.
    public static let fullSnapshot = Snapshot(
        sequence: UInt64(nightRecords.count), reason: .newSubscription, records: nightRecords,
        checksum: StateChecksum(records: nightRecords).value)

    // MARK: Corrections without end

    /// The council declarations of `nightDeclarations` (230), in contest-id order.
    public static let councilDeclarations: [Declaration] = zip(election.contests, nightDeclarations).filter {
        $0.0.kind == .council
    }.map(\.1)

    /// The `index`th of an endless run of valid corrections after `nightDeclarations`: cycling over the councils,
    /// each round with the next revision (2, 3, ...) and a later declaration time, so that every one is accepted by a
    /// state that holds the ones before it.
    public static func correction(_ index: Int) -> Declaration {
        var correction = councilDeclarations[index % councilDeclarations.count]
        correction.revision = UInt32(2 + index / councilDeclarations.count)
        correction.declaredAt += 3_600_000 + UInt64(index) * 1_000
        return correction
    }
}
