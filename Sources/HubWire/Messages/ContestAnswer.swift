import ElectionModel
import NIOCore

/// CONTEST (spec 6.14): the answer to a contest QUERY.
public struct ContestAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var sequence: UInt64
    public var record: ContestRecord?
    /// Protocol 1.1: the declared council result's seat changes against the composition before, parties whose seats
    /// changed in ascending party index; nil when there is nothing to compare (or from a 1.0 hub).
    public var seatChanges: [SeatChange]?
    /// Specification 1.2 (section 6.17): the hub serves a rehearsal, so the results are test data. Encoded only when
    /// set; absent is live data.
    public var rehearsal = false
    public init(requestID: UInt64, sequence: UInt64, record: ContestRecord?, seatChanges: [SeatChange]? = nil) {
        self.requestID = requestID
        self.sequence = sequence
        self.record = record
        self.seatChanges = seatChanges
    }
}

extension ContestAnswer: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        buffer.writeVarint(sequence)
        buffer.writeWireBool(record != nil)
        if let record { RecordCodec.encode(record, into: &buffer) }
        // Protocol 1.1 (spec 6.14).
        buffer.writeWireBool(seatChanges != nil)
        if let seatChanges {
            buffer.writeVarint(seatChanges.count)
            for entry in seatChanges {
                buffer.writeVarint(entry.party.rawValue)
                buffer.writeSignedVarint(Int64(entry.change))
            }
        }
        if rehearsal { buffer.writeWireBool(true) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> ContestAnswer {
        let requestID = try reader.varint("contest.requestID")
        let sequence = try reader.varint("contest.sequence")
        let present = try reader.bool("contest.present")
        let record = present ? try RecordCodec.decode(from: &reader) : nil
        // Protocol 1.1; a 1.0 hub's CONTEST ends here.
        var seatChanges: [SeatChange]?
        if reader.remaining > 0, try reader.bool("contest.seatChangesKnown") {
            let count = try reader.count("contest.seatChanges", max: WireLimits.maxSeatChanges)
            var changes: [SeatChange] = []
            changes.reserveCapacity(count)
            for _ in 0..<count {
                let start = reader.position
                let party = PartyIndex(Int(try reader.varint("seatChange.partyIndex", max: WireLimits.maxIndex)))
                let change = try reader.signedVarint("seatChange.change", max: WireLimits.maxChangeMagnitude)
                if let previous = changes.last, previous.party >= party {
                    throw reader.malformed(
                        "contest.seatChanges are not in strictly ascending party order", from: start)
                }
                guard change != 0 else { throw reader.malformed("contest.seatChanges lists a party with no change") }
                changes.append(SeatChange(party: party, change: Int(change)))
            }
            seatChanges = changes
        }
        var answer = ContestAnswer(requestID: requestID, sequence: sequence, record: record, seatChanges: seatChanges)
        answer.rehearsal = try reader.rehearsalMarking("contest.rehearsal")
        return answer
    }
}
