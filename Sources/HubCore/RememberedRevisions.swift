import ElectionModel

/// Every accepted (contest, revision) still remembered, with its sequence number and the hash of its content, so
/// that a retry of any earlier revision is acked with its original sequence number. The oldest are forgotten first,
/// past `bound`, so that memory stays bounded however long the hub runs.
///
/// 23.7 bytes per remembered revision under `hub-load saturate` (16 in the ring by sequence, the rest in the
/// contests' rings, which are up to half empty), where a dictionary keyed by (contest, revision) plus an order array
/// took 59, and 67 once the order array had been compacted (`retained-memory` measures both).
///
/// It relies on how the hub's sequence works: every accepted event is remembered, in sequence order, so the
/// remembered revisions are a gapless run of sequence numbers and one ring indexed by sequence holds them; only the
/// latest is ever reverted; and each contest's revisions rise with its sequence numbers, so a contest's own
/// sequence numbers, in order, are also in revision order and a revision is found by binary search.
struct RememberedRevisions: Sendable {
    struct Revision: Hashable, Sendable {
        var contest: ContestID
        var revision: UInt32
        var contentHash: UInt64
    }

    let bound: Int
    /// The remembered revisions by sequence number: offset 0 is the oldest remembered sequence.
    private var bySequence: RingBuffer<Revision>
    /// The sequence number of the newest remembered revision: the hub's latest sequence, so that the remembered
    /// run is `newestSequence - count + 1 ... newestSequence`.
    private(set) var newestSequence: UInt64 = 0
    /// Each contest's remembered sequence numbers in ascending order, as their low 32 bits: 4 bytes instead of 8,
    /// and exact because the remembered run is shorter than 2^32 (checked in `remember`), so one 32-bit value
    /// names one sequence number in it. Contests with none have no entry.
    private var sequencesByContest: [ContestID: RingBuffer<UInt32>] = [:]

    /// - Parameter newestSequence: the sequence number before the first one to remember (the hub starts at 0).
    init(bound: Int, after newestSequence: UInt64 = 0) {
        precondition(bound > 0)
        self.bound = bound
        self.newestSequence = newestSequence
        self.bySequence = RingBuffer(
            placeholder: Revision(contest: ContestID(0), revision: 0, contentHash: 0), maximumCapacity: bound)
    }

    var count: Int { bySequence.count }

    /// Remembers the revision accepted as the next sequence number, forgetting the oldest one past the bound.
    mutating func remember(_ revision: Revision, sequence: UInt64) {
        precondition(sequence == newestSequence + 1, "revisions are remembered in sequence order, without gaps")
        if bySequence.count == bound { forgetOldest() }
        precondition(
            bySequence.count < Int(UInt32.max), "the remembered run must stay shorter than 2^32 sequence numbers")
        var sequences = sequencesByContest.removeValue(forKey: revision.contest) ?? RingBuffer(placeholder: 0)
        // A revision at or below one remembered for the contest does not come from a submission (those only rise);
        // a replayed journal could hold one. The later event wins, as it would in a dictionary, and the ones it
        // shadows stop being found, which keeps the contest's remembered revisions in ascending order.
        while let newest = sequences.last, self.revision(at: expand(newest)).revision >= revision.revision {
            sequences.removeLast()
        }
        sequences.append(UInt32(truncatingIfNeeded: sequence))
        sequencesByContest[revision.contest] = sequences
        bySequence.append(revision)
        newestSequence = sequence
    }

    /// Forgets the revision of the latest sequence number (its event was reverted).
    mutating func forgetNewest(sequence: UInt64) {
        precondition(sequence == newestSequence && sequence > 0, "only the latest event can be reverted")
        newestSequence -= 1
        // With a bound of 1 the reverted event may be the only one remembered, or already forgotten.
        guard !bySequence.isEmpty else { return }
        let revision = bySequence.removeLast()
        guard var sequences = sequencesByContest.removeValue(forKey: revision.contest) else { return }
        if sequences.last == UInt32(truncatingIfNeeded: sequence) { sequences.removeLast() }
        if !sequences.isEmpty { sequencesByContest[revision.contest] = sequences }
    }

    /// The sequence number and content hash a contest's revision was accepted with, if it is remembered.
    func lookUp(contest: ContestID, revision: UInt32) -> (sequence: UInt64, contentHash: UInt64)? {
        guard let sequences = sequencesByContest[contest], let newest = sequences.last else { return nil }
        // Most submissions are new revisions, above every remembered one: one look instead of a binary search.
        guard revision <= self.revision(at: expand(newest)).revision else { return nil }
        let offset = sequences.partitioningIndex { self.revision(at: expand($0)).revision < revision }
        guard offset < sequences.count else { return nil }
        let sequence = expand(sequences[offset])
        let found = self.revision(at: sequence)
        guard found.revision == revision else { return nil }
        return (sequence, found.contentHash)
    }

    private var oldestSequence: UInt64 { newestSequence + 1 - UInt64(bySequence.count) }

    private func revision(at sequence: UInt64) -> Revision { bySequence[Int(sequence - oldestSequence)] }

    /// The remembered sequence number whose low 32 bits are `low`.
    private func expand(_ low: UInt32) -> UInt64 {
        let oldest = oldestSequence
        return oldest + UInt64(low &- UInt32(truncatingIfNeeded: oldest))
    }

    private mutating func forgetOldest() {
        let oldest = oldestSequence
        let revision = bySequence.removeFirst()
        // The contest's oldest remembered sequence is this one, unless a replayed revision shadowed it.
        guard var sequences = sequencesByContest.removeValue(forKey: revision.contest) else { return }
        if sequences.first == UInt32(truncatingIfNeeded: oldest) { sequences.removeFirst() }
        if !sequences.isEmpty { sequencesByContest[revision.contest] = sequences }
    }
}
