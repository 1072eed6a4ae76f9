import ElectionModel
import HubWire

/// An accepted event: the sequence number it got, the record it set, and the record it replaced (so that it can be
/// reverted if the store fails). The event log keeps less of it (`LoggedEvent`).
public struct HubEvent: Hashable, Sendable {
    public var sequence: UInt64
    public var record: ContestRecord
    public var previous: ContestRecord?
    /// The sequence number of the contest's previous change.
    public var previousSequence: UInt64?
    /// How this event moves the state checksum: `H(record) - H(previous)`, so that batch checksums can be walked
    /// back without hashing again.
    public var checksumDelta: UInt64

    init(
        sequence: UInt64, record: ContestRecord, previous: ContestRecord?, previousSequence: UInt64?,
        checksumDelta: UInt64
    ) {
        self.sequence = sequence
        self.record = record
        self.previous = previous
        self.previousSequence = previousSequence
        self.checksumDelta = checksumDelta
    }
}

/// What the state machine decided about one submission.
public enum SubmissionOutcome: Hashable, Sendable {
    /// A new event, applied with the next sequence number (not yet durable).
    case accepted(HubEvent)
    /// The same revision and content as an event already accepted: ack again with its original sequence number.
    case duplicate(sequence: UInt64, record: ContestRecord)
    case rejected(DeclarationError)
}

/// The hub's state: every contest's current record, the gapless sequence, the checksum and the scoreboard.
/// One serial owner drives it; it does no I/O, so every rule is unit-tested with plain values.
public struct HubState: Sendable {
    public let election: Election
    public private(set) var latestSequence: UInt64 = 0
    public private(set) var checksum = StateChecksum()
    private var records: ContestTable<ContestRecord>
    /// `H(record)` per contest, so that filtered checksums are sums of cached values.
    private var hashes: ContestTable<UInt64>
    /// The sequence number of each contest's latest change (conflated batches carry it).
    private var lastChange: ContestTable<UInt64>
    /// The latest accepted (contest, revision)s: their sequence numbers and a hash of their content, for idempotent
    /// resubmission of any earlier revision. A hash rather than the record keeps this to a few dozen bytes per event;
    /// past `retainedRevisions` the oldest are forgotten, so memory stays bounded however long the hub runs. A retry
    /// of a forgotten revision that is not the contest's current one is stale.
    private var remembered: RememberedRevisions
    public var retainedRevisions: Int { remembered.bound }
    private var tally: ScoreboardTally

    /// `H` of what makes two submissions the same (spec 7.2): the record without when and by whom it was sent, and
    /// without zero seat or vote counts (the model's `canonicalContent`, the rule `hasSameContent` compares by).
    static func contentHash(_ record: ContestRecord) -> UInt64 {
        StateHash.hash(record.canonicalContent)
    }

    /// - Parameter retainedRevisions: how many accepted revisions are remembered for idempotent retries, besides
    ///   each contest's current one (which is always recognised).
    public init(election: Election, retainedRevisions: Int = 1_000_000) {
        precondition(retainedRevisions > 0)
        self.election = election
        self.records = ContestTable(election: election)
        self.hashes = ContestTable(election: election)
        self.lastChange = ContestTable(election: election)
        self.remembered = RememberedRevisions(bound: retainedRevisions)
        self.tally = ScoreboardTally(election: election)
    }

    public func record(_ contest: ContestID) -> ContestRecord? { records[contest] }

    public func lastChange(of contest: ContestID) -> UInt64? { lastChange[contest] }

    public var scoreboard: Scoreboard { tally.scoreboard(sequence: latestSequence) }

    /// Validates a declaration from a desk and, if it is new, applies it with the next sequence number.
    public mutating func submit(_ declaration: Declaration, from desk: DeskIdentity) -> SubmissionOutcome {
        do {
            return try admit(try election.validate(declaration, from: desk))
        } catch {
            return .rejected(error)
        }
    }

    public mutating func withdraw(_ withdrawal: Withdrawal, from desk: DeskIdentity) -> SubmissionOutcome {
        do {
            return try admit(try election.validate(withdrawal, from: desk))
        } catch {
            return .rejected(error)
        }
    }

    private mutating func admit(_ record: ContestRecord) throws(DeclarationError) -> SubmissionOutcome {
        // The current revision is compared exactly (the model's rule); older remembered ones by their content hash.
        if let current = records[record.contestID], current.hasSameContent(as: record),
            let sequence = lastChange[record.contestID]
        {
            return .duplicate(sequence: sequence, record: current)
        }
        if let original = remembered.lookUp(contest: record.contestID, revision: record.revision),
            original.contentHash == Self.contentHash(record)
        {
            // Same content, so the same derived control and outcome as the original: ack with its sequence.
            return .duplicate(
                sequence: original.sequence,
                record: records[record.contestID].flatMap {
                    $0.revision == record.revision ? $0 : nil
                } ?? record)
        }
        _ = try election.admit(record, over: records[record.contestID])
        return .accepted(apply(record))
    }

    /// Applies a record journalled earlier (on recovery). Its sequence number must be the next one.
    @discardableResult
    public mutating func replay(sequence: UInt64, record: ContestRecord) throws(ReplayError) -> HubEvent {
        guard sequence == latestSequence + 1 else {
            throw ReplayError(message: "journal sequence \(sequence) does not follow \(latestSequence)")
        }
        guard election.contest(record.contestID) != nil else {
            throw ReplayError(
                message: "journal sequence \(sequence) names unknown contest \(record.contestID.rawValue)")
        }
        return apply(record)
    }

    @discardableResult
    mutating func apply(_ record: ContestRecord) -> HubEvent {
        latestSequence += 1
        let previous = records[record.contestID]
        let previousHash = hashes[record.contestID]
        let previousSequence = lastChange[record.contestID]
        set(record, for: record.contestID)
        let event = HubEvent(
            sequence: latestSequence, record: record, previous: previous, previousSequence: previousSequence,
            checksumDelta: hashes[record.contestID]! &- (previousHash ?? 0))
        lastChange[record.contestID] = latestSequence
        remembered.remember(
            RememberedRevisions.Revision(
                contest: record.contestID, revision: record.revision, contentHash: Self.contentHash(record)),
            sequence: latestSequence)
        return event
    }

    /// A relay's copy of its upstream (which verified it): the records it holds at `sequence`, each with the
    /// sequence number of its latest change, from a snapshot (`replacingAll`: contests not among them have no record)
    /// or a conflated batch (only these changed). Events in between are not known, so the gapless sequence jumps to
    /// `sequence`. Returns the contests whose record changed.
    @discardableResult
    public mutating func adopt(
        _ copied: [(sequence: UInt64, record: ContestRecord)], through sequence: UInt64, replacingAll: Bool
    ) -> [ContestID] {
        var changed: [ContestID] = []
        var given = Set<ContestID>()
        for (changeSequence, record) in copied where election.contest(record.contestID) != nil {
            given.insert(record.contestID)
            if records[record.contestID] != record {
                changed.append(record.contestID)
                set(record, for: record.contestID)
            }
            lastChange[record.contestID] = min(changeSequence, sequence)
        }
        if replacingAll {
            for contest in election.contests where !given.contains(contest.id) && records[contest.id] != nil {
                changed.append(contest.id)
                set(nil, for: contest.id)
                lastChange[contest.id] = nil
            }
        }
        latestSequence = sequence
        // The events in between are not known, so neither are their revisions: remembering starts again after the
        // jump (each contest's current revision is still recognised from its record).
        remembered = RememberedRevisions(bound: remembered.bound, after: sequence)
        return changed
    }

    /// Undoes the latest event: the store could not make it durable, so it never happened.
    public mutating func revert(_ event: HubEvent) {
        precondition(event.sequence == latestSequence, "only the latest event can be reverted")
        remembered.forgetNewest(sequence: event.sequence)
        set(event.previous, for: event.record.contestID)
        lastChange[event.record.contestID] = event.previousSequence
        latestSequence -= 1
    }

    private mutating func set(_ record: ContestRecord?, for contest: ContestID) {
        let old = records[contest]
        let newHash = record.map { StateHash.hash($0) }
        checksum.replace(oldHash: hashes[contest], newHash: newHash)
        tally.replace(old, with: record)
        records[contest] = record
        hashes[contest] = newHash
    }

    /// The checksum of the records a filter matches.
    public func checksum(for filter: SubscriptionFilter) -> UInt64 {
        if filter == .all { return checksum.value }
        var sum: UInt64 = 0
        for (position, hash) in hashes.values.enumerated() {
            if let hash, filter.matches(election.contests[position]) { sum &+= hash }
        }
        return sum
    }

    /// The state a subscriber starts from.
    public func snapshot(for filter: SubscriptionFilter, reason: SnapshotReason) -> Snapshot {
        let matching = election.contests.lazy.filter { filter.matches($0) }.compactMap { records[$0.id] }
        return Snapshot(
            sequence: latestSequence, reason: reason, records: Array(matching), checksum: checksum(for: filter))
    }

    /// A conflated batch covering `first...latestSequence`: the latest record of each changed contest that matches.
    public func conflatedBatch(
        first: UInt64, changed: some Sequence<ContestID>, filter: SubscriptionFilter
    ) -> DeltaBatch {
        let events =
            changed
            .filter { filter.matches($0, in: election) }
            .compactMap { contest in
                records[contest].map { SequencedRecord(sequence: lastChange[contest]!, record: $0) }
            }
            .sorted { $0.sequence < $1.sequence }
        return DeltaBatch(
            firstSequence: first, lastSequence: latestSequence, conflated: true, events: events,
            checksum: checksum(for: filter))
    }
}

public struct ReplayError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
