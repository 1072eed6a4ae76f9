import NIOCore

/// REJECT (spec 6.7): the hub refused one SUBMIT or WITHDRAW; the connection stays.
public struct Reject: Hashable, Sendable {
    public var requestID: UInt64
    public var code: ErrorCode
    public var message: String
    public init(requestID: UInt64, code: ErrorCode, message: String) {
        self.requestID = requestID
        self.code = code
        self.message = message
    }
}

extension Reject: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        buffer.writeInteger(code.rawValue)
        buffer.writeWireString(message)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Reject {
        Reject(
            requestID: try reader.varint("reject.requestID"),
            code: ErrorCode(rawValue: try reader.u16("reject.code")),
            message: try reader.string("reject.message", maxBytes: WireLimits.maxMessageBytes))
    }
}
