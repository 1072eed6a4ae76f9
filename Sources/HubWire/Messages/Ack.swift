import ElectionModel
import NIOCore

/// ACK (spec 6.6): the hub accepted a SUBMIT or WITHDRAW, durably.
public struct Ack: Hashable, Sendable {
    public var requestID: UInt64
    public var sequence: UInt64
    public var duplicate: Bool
    public var contestID: ContestID
    public var revision: UInt32
    public var status: RecordStatus
    /// No overall control (wire 0) when withdrawn.
    public var control: Control
    /// `.unknown` when withdrawn.
    public var outcome: Outcome

    public init(
        requestID: UInt64, sequence: UInt64, duplicate: Bool, contestID: ContestID, revision: UInt32,
        status: RecordStatus, control: Control, outcome: Outcome
    ) {
        self.requestID = requestID
        self.sequence = sequence
        self.duplicate = duplicate
        self.contestID = contestID
        self.revision = revision
        self.status = status
        self.control = control
        self.outcome = outcome
    }

    /// The ack for an accepted record.
    public init(requestID: UInt64, sequence: UInt64, duplicate: Bool, record: ContestRecord) {
        let declared = record.declared
        self.init(
            requestID: requestID, sequence: sequence, duplicate: duplicate, contestID: record.contestID,
            revision: record.revision, status: declared == nil ? .withdrawn : .declared,
            control: declared?.control ?? .noOverallControl, outcome: declared?.outcome ?? .unknown)
    }
}

extension Ack: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        buffer.writeVarint(sequence)
        buffer.writeWireBool(duplicate)
        buffer.writeVarint(contestID.rawValue)
        buffer.writeVarint(revision)
        buffer.writeInteger(status.rawValue)
        buffer.writeVarint(WireControl.encode(control))
        buffer.writeInteger(outcome.rawValue)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Ack {
        let requestID = try reader.varint("ack.requestID")
        let sequence = try reader.varint("ack.sequence")
        let duplicate = try reader.bool("ack.duplicate")
        let contestID = ContestID(try reader.nonZeroVarint32("ack.contestID"))
        let revision = try reader.nonZeroVarint32("ack.revision")
        let status = try reader.enumeration("ack.status", as: RecordStatus.self)
        let controlStart = reader.position
        let control = WireControl.decode(try reader.varint("ack.control", max: WireLimits.maxControl))
        let outcome = try reader.enumeration("ack.outcome", as: Outcome.self)
        guard status == .declared || (control == .noOverallControl && outcome == .unknown) else {
            throw reader.malformed("ack.control and ack.outcome must be 0 for a withdrawal", from: controlStart)
        }
        return Ack(
            requestID: requestID, sequence: sequence, duplicate: duplicate, contestID: contestID,
            revision: revision, status: status, control: control, outcome: outcome)
    }
}
