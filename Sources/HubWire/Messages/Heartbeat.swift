import NIOCore

/// HEARTBEAT (spec 6.11): either side, when it has sent nothing for an interval.
public struct Heartbeat: Hashable, Sendable {
    public var sequence: UInt64
    public init(sequence: UInt64) { self.sequence = sequence }
}

extension Heartbeat: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(sequence)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Heartbeat {
        Heartbeat(sequence: try reader.varint("heartbeat.sequence"))
    }
}
