import ElectionModel
import NIOCore

public struct SequencedRecord: Hashable, Sendable {
    public var sequence: UInt64
    public var record: ContestRecord
    public init(sequence: UInt64, record: ContestRecord) {
        self.sequence = sequence
        self.record = record
    }
}

/// DELTA_BATCH (spec 6.10): the records that changed over a range of sequence numbers, with the checksum after.
public struct DeltaBatch: Hashable, Sendable {
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var conflated: Bool
    /// Ascending sequence, each within first...last.
    public var events: [SequencedRecord]
    public var checksum: UInt64
    /// Specification 1.2 (section 6.17): the hub serves a rehearsal, so the results are test data. Encoded only when
    /// set; absent is live data.
    public var rehearsal = false
    public init(
        firstSequence: UInt64, lastSequence: UInt64, conflated: Bool, events: [SequencedRecord], checksum: UInt64
    ) {
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.conflated = conflated
        self.events = events
        self.checksum = checksum
    }
}

extension DeltaBatch: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(firstSequence)
        buffer.writeVarint(lastSequence)
        buffer.writeWireBool(conflated)
        buffer.writeVarint(events.count)
        for event in events {
            buffer.writeVarint(event.sequence - firstSequence)
            RecordCodec.encode(event.record, into: &buffer)
        }
        buffer.writeInteger(checksum)
        if rehearsal { buffer.writeWireBool(true) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> DeltaBatch {
        let first = try reader.varint("deltaBatch.firstSequence")
        guard first >= 1 else {
            throw reader.malformed("deltaBatch.firstSequence is 0; sequence numbers start at 1")
        }
        let last = try reader.varint("deltaBatch.lastSequence")
        guard last >= first else {
            throw reader.malformed("deltaBatch.lastSequence \(last) is below firstSequence \(first)")
        }
        let conflated = try reader.bool("deltaBatch.conflated")
        let count = try reader.count("deltaBatch.events", max: WireLimits.maxBatchEvents)
        var events: [SequencedRecord] = []
        events.reserveCapacity(count)
        for _ in 0..<count {
            let offset = try reader.varint("deltaBatch.sequenceOffset")
            guard offset <= last - first else {
                throw reader.malformed(
                    "deltaBatch.sequenceOffset \(offset) is outside the batch's range \(first)...\(last)")
            }
            let sequence = first + offset
            if let previous = events.last, previous.sequence >= sequence {
                throw reader.malformed("deltaBatch.events are not in strictly ascending sequence")
            }
            events.append(SequencedRecord(sequence: sequence, record: try RecordCodec.decode(from: &reader)))
        }
        let checksum = try reader.u64("deltaBatch.checksum")
        var batch = DeltaBatch(
            firstSequence: first, lastSequence: last, conflated: conflated, events: events, checksum: checksum)
        batch.rehearsal = try reader.rehearsalMarking("deltaBatch.rehearsal")
        return batch
    }
}
