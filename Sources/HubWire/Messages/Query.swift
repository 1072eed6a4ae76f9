import ElectionModel
import NIOCore

/// QUERY (spec 6.12): a subscriber asks for the scoreboard, one contest, or the election.
public struct Query: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case scoreboard
        case contest(ContestID)
        case election
    }
    public var requestID: UInt64
    public var kind: Kind
    public init(requestID: UInt64, kind: Kind) {
        self.requestID = requestID
        self.kind = kind
    }
}

extension Query: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        switch kind {
        case .scoreboard:
            buffer.writeInteger(UInt8(1))
        case .contest(let id):
            buffer.writeInteger(UInt8(2))
            buffer.writeVarint(id.rawValue)
        case .election:
            buffer.writeInteger(UInt8(3))
        }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Query {
        let requestID = try reader.varint("query.requestID")
        let rawKind = try reader.u8("query.kind")
        switch rawKind {
        case 1: return Query(requestID: requestID, kind: .scoreboard)
        case 2:
            return Query(
                requestID: requestID, kind: .contest(ContestID(try reader.nonZeroVarint32("query.contestID"))))
        case 3: return Query(requestID: requestID, kind: .election)
        default: throw reader.malformed("query.kind \(rawKind) is unknown")
        }
    }
}
