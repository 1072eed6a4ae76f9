import ElectionModel
import HubWire

/// A subscriber's copy of the hub's state, built from a snapshot and delta batches, checked against the hub's
/// checksum after every one of them. Any gap or mismatch throws: the copy is then not trusted, and the caller
/// resubscribes (resuming from `sequence`, the last point where the checksum matched).
public struct Replica: Sendable {
    public private(set) var records: [ContestID: ContestRecord] = [:]
    /// The last sequence number applied and verified.
    public private(set) var sequence: UInt64 = 0
    public private(set) var checksum = StateChecksum()
    public private(set) var hasSnapshot = false

    public init() {}

    public mutating func apply(_ snapshot: Snapshot) throws(ReplicaError) {
        var records: [ContestID: ContestRecord] = [:]
        for record in snapshot.records { records[record.contestID] = record }
        let checksum = StateChecksum(records: snapshot.records)
        guard checksum.value == snapshot.checksum else {
            throw ReplicaError(.checksumMismatch, "snapshot at \(snapshot.sequence) does not match its checksum")
        }
        self.records = records
        self.checksum = checksum
        self.sequence = snapshot.sequence
        self.hasSnapshot = true
    }

    /// Applies a batch that continues from `sequence`; returns the records it changed.
    @discardableResult
    public mutating func apply(_ batch: DeltaBatch) throws(ReplicaError) -> [SequencedRecord] {
        guard batch.firstSequence == sequence + 1 else {
            throw ReplicaError(
                .sequenceGap,
                "batch starts at \(batch.firstSequence) but the copy is at \(sequence): resume from \(sequence)")
        }
        var next = self
        for event in batch.events {
            next.checksum.replace(next.records[event.record.contestID], with: event.record)
            next.records[event.record.contestID] = event.record
        }
        guard next.checksum.value == batch.checksum else {
            throw ReplicaError(
                .checksumMismatch,
                "after batch \(batch.firstSequence)...\(batch.lastSequence) the copy's checksum differs from the hub's")
        }
        next.sequence = batch.lastSequence
        self = next
        return batch.events
    }
}

/// Why a subscriber's copy cannot take a snapshot or batch: the hub's data arrived intact (it is not a `WireError`),
/// but it does not continue or match the copy.
public struct ReplicaError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// A snapshot's or batch's checksum does not match the state the copy computes.
        case checksumMismatch
        /// A batch does not continue from the copy's last applied sequence number.
        case sequenceGap
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind): \(message)" }
}
