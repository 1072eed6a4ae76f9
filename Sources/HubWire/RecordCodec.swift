import ElectionModel
import NIOCore

/// Bit flags of a record's or declaration's `fields` varint (spec 4.2).
struct OptionalFields: OptionSet {
    var rawValue: UInt64
    static let votes = OptionalFields(rawValue: 1 << 0)
    static let turnout = OptionalFields(rawValue: 1 << 1)
    static let candidateVotes = OptionalFields(rawValue: 1 << 2)
    static let known: OptionalFields = [.votes, .turnout, .candidateVotes]

    init(rawValue: UInt64) { self.rawValue = rawValue }

    init(votes: Bool, turnout: Bool, candidateVotes: Bool) {
        self = []
        if votes { insert(.votes) }
        if turnout { insert(.turnout) }
        if candidateVotes { insert(.candidateVotes) }
    }

    static func read(_ reader: inout WireReader, _ field: StaticString) throws(WireError) -> OptionalFields {
        let fields = OptionalFields(rawValue: try reader.varint(field))
        guard known.isSuperset(of: fields) else { throw reader.malformed("\(field) has reserved bits set") }
        return fields
    }
}

/// A contest record's `status` (spec 4.2), and an ACK's.
public enum RecordStatus: UInt8, Hashable, Sendable {
    case declared = 1
    case withdrawn = 2
}

/// The contest record (spec 4.2), used by snapshots, deltas, contest answers and the checksum.
public enum RecordCodec {
    public static func encode(_ record: ContestRecord, into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximumSize(record)) { memory in
            var writer = RawWriter(memory)
            write(record, to: &writer)
            return writer.count
        }
    }

    /// Calls `body` with the record's bytes, encoded on the stack (or in a temporary allocation when large): for
    /// hashing a record without a buffer of its own.
    static func withEncoded<Result>(_ record: ContestRecord, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeTemporaryAllocation(byteCount: maximumSize(record), alignment: 1) { memory in
            var writer = RawWriter(memory)
            write(record, to: &writer)
            return body(UnsafeRawBufferPointer(rebasing: memory[..<writer.count]))
        }
    }

    /// At least the bytes `write` takes: 10 per varint, each count entry two varints, each string its UTF-8 bytes.
    static func maximumSize(_ record: ContestRecord) -> Int {
        switch record.state {
        case .declared(let result):
            return 8 * 10 + 20 * (result.seats.count + (result.votes?.count ?? 0)) + 3 * 10
                + 10 * (result.candidateVotes?.count ?? 0) + result.deskID.utf8.count
        case .withdrawn(let withdrawn):
            return 7 * 10 + withdrawn.deskID.utf8.count + withdrawn.reason.utf8.count
        }
    }

    static func write(_ record: ContestRecord, to writer: inout RawWriter) {
        writer.varint(record.contestID.rawValue)
        writer.varint(record.revision)
        switch record.state {
        case .declared(let result):
            writer.byte(RecordStatus.declared.rawValue)
            writer.varint(WireControl.encode(result.control))
            writer.byte(result.outcome.rawValue)
            let fields = OptionalFields(
                votes: result.votes != nil, turnout: result.turnoutBasisPoints != nil,
                candidateVotes: result.candidateVotes != nil)
            writer.varint(fields.rawValue)
            writeCounts(result.seats, to: &writer)
            if let votes = result.votes { writeCounts(votes, to: &writer) }
            if let turnout = result.turnoutBasisPoints { writer.varint(turnout) }
            if let candidateVotes = result.candidateVotes { writeCandidateVotes(candidateVotes, to: &writer) }
            writer.varint(result.declaredAt)
            writer.string(result.deskID)
        case .withdrawn(let withdrawn):
            writer.byte(RecordStatus.withdrawn.rawValue)
            writer.varint(withdrawn.withdrawnAt)
            writer.string(withdrawn.deskID)
            writer.string(withdrawn.reason)
        }
    }

    static func writeCounts(_ counts: [PartyCount], to writer: inout RawWriter) {
        writer.varint(counts.count)
        for entry in counts {
            writer.varint(entry.party.rawValue)
            writer.varint(entry.count)
        }
    }

    public static func decode(from reader: inout WireReader) throws(WireError) -> ContestRecord {
        let contestID = ContestID(try reader.nonZeroVarint32("record.contestID"))
        let revision = try reader.nonZeroVarint32("record.revision")
        let rawStatus = try reader.u8("record.status")
        switch RecordStatus(rawValue: rawStatus) {
        case .declared:
            let control = WireControl.decode(try reader.varint("record.control", max: WireLimits.maxControl))
            let outcome = try reader.enumeration("record.outcome", as: Outcome.self)
            let fields = try OptionalFields.read(&reader, "record.fields")
            let seatsStart = reader.position
            let seats = try readCounts(&reader, "record.seats", canonical: true)
            guard seats.allSatisfy({ $0.count > 0 }) else {
                throw reader.malformed("record.seats lists a party with 0 seats", from: seatsStart)
            }
            let votes = fields.contains(.votes) ? try readCounts(&reader, "record.votes", canonical: true) : nil
            var turnout: UInt16?
            if fields.contains(.turnout) {
                let value = try reader.varint("record.turnout", max: WireLimits.maxWireTurnout)
                guard value <= UInt64(maximumTurnoutBasisPoints) else {
                    throw reader.malformed("record.turnout \(value) is over 10000 basis points")
                }
                turnout = UInt16(value)
            }
            let candidateVotes =
                fields.contains(.candidateVotes) ? try readCandidateVotes(&reader, "record.candidateVotes") : nil
            let declaredAt = try reader.varint("record.declaredAt")
            let deskID = try reader.string("record.deskID", maxBytes: WireLimits.maxDeskIDBytes)
            let result = DeclaredResult(
                control: control, outcome: outcome, seats: seats, votes: votes, turnoutBasisPoints: turnout,
                candidateVotes: candidateVotes, declaredAt: declaredAt, deskID: deskID)
            return ContestRecord(contestID: contestID, revision: revision, state: .declared(result))
        case .withdrawn:
            let withdrawnAt = try reader.varint("record.withdrawnAt")
            let deskID = try reader.string("record.deskID", maxBytes: WireLimits.maxDeskIDBytes)
            let reason = try reader.string("record.reason", maxBytes: WireLimits.maxReasonBytes)
            let result = WithdrawnResult(withdrawnAt: withdrawnAt, deskID: deskID, reason: reason)
            return ContestRecord(contestID: contestID, revision: revision, state: .withdrawn(result))
        case nil:
            throw reader.malformed("record.status \(rawStatus) is unknown")
        }
    }

    static func writeCounts(_ counts: [PartyCount], into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 10 + 20 * counts.count) { memory in
            var writer = RawWriter(memory)
            writeCounts(counts, to: &writer)
            return writer.count
        }
    }

    /// `canonical`: strictly ascending party indexes, and (for seats) no zero counts — as records require.
    static func readCounts(
        _ reader: inout WireReader, _ field: StaticString, canonical: Bool
    ) throws(WireError) -> [PartyCount] {
        let count = try reader.count(field, max: WireLimits.maxPartyCounts)
        var counts: [PartyCount] = []
        counts.reserveCapacity(count)
        for _ in 0..<count {
            let party = PartyIndex(Int(try reader.varint(field, max: WireLimits.maxIndex)))
            let value = UInt32(try reader.varint(field, max: WireLimits.maxCountValue))
            if canonical, let previous = counts.last, previous.party >= party {
                throw reader.malformed("\(field) is not in strictly ascending party order")
            }
            counts.append(PartyCount(party: party, count: value))
        }
        return counts
    }

    static func writeCandidateVotes(_ votes: [UInt32], into buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 10 + 10 * votes.count) { memory in
            var writer = RawWriter(memory)
            writeCandidateVotes(votes, to: &writer)
            return writer.count
        }
    }

    static func writeCandidateVotes(_ votes: [UInt32], to writer: inout RawWriter) {
        writer.varint(votes.count)
        for value in votes { writer.varint(value) }
    }

    static func readCandidateVotes(_ reader: inout WireReader, _ field: StaticString) throws(WireError) -> [UInt32] {
        let count = try reader.count(field, max: WireLimits.maxCandidateVotes)
        var votes: [UInt32] = []
        votes.reserveCapacity(count)
        for _ in 0..<count { votes.append(try reader.varint32(field)) }
        return votes
    }
}
