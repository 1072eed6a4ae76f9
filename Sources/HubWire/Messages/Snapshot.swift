import ElectionModel
import NIOCore

public enum SnapshotReason: UInt8, Hashable, Sendable {
    case newSubscription = 1
    case resumeUnavailable = 2
    case fellBehind = 3
}

/// SNAPSHOT (spec 6.9): a subscriber's whole state at one sequence number, with its checksum.
public struct Snapshot: Hashable, Sendable {
    public var sequence: UInt64
    public var reason: SnapshotReason
    /// Ascending contest id.
    public var records: [ContestRecord]
    public var checksum: UInt64
    /// Specification 1.2 (section 6.17): the hub serves a rehearsal, so the results are test data. Encoded only when
    /// set; absent is live data.
    public var rehearsal = false
    public init(sequence: UInt64, reason: SnapshotReason, records: [ContestRecord], checksum: UInt64) {
        self.sequence = sequence
        self.reason = reason
        self.records = records
        self.checksum = checksum
    }
}

extension Snapshot: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(sequence)
        buffer.writeInteger(reason.rawValue)
        buffer.writeVarint(records.count)
        for record in records { RecordCodec.encode(record, into: &buffer) }
        buffer.writeInteger(checksum)
        if rehearsal { buffer.writeWireBool(true) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Snapshot {
        let sequence = try reader.varint("snapshot.sequence")
        let reason = try reader.enumeration("snapshot.reason", as: SnapshotReason.self)
        let count = try reader.count("snapshot.contests", max: WireLimits.maxSnapshotRecords)
        var records: [ContestRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let start = reader.position
            let record = try RecordCodec.decode(from: &reader)
            if let previous = records.last, previous.contestID >= record.contestID {
                throw reader.malformed("snapshot.contests are not in strictly ascending contest id", from: start)
            }
            records.append(record)
        }
        let checksum = try reader.u64("snapshot.checksum")
        let computed = StateChecksum(records: records).value
        guard checksum == computed else {
            throw reader.error(
                .checksumMismatch,
                "snapshot.checksum is 0x\(String(checksum, radix: 16)) but its records sum to 0x\(String(computed, radix: 16))"
            )
        }
        var snapshot = Snapshot(sequence: sequence, reason: reason, records: records, checksum: checksum)
        snapshot.rehearsal = try reader.rehearsalMarking("snapshot.rehearsal")
        return snapshot
    }
}
