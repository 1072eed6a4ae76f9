import NIOCore

/// GOODBYE (spec 6.16): either side's last frame, with why.
public struct Goodbye: Hashable, Sendable {
    public var code: ErrorCode
    public var message: String
    public var lastSequence: UInt64
    public init(code: ErrorCode, message: String, lastSequence: UInt64) {
        self.code = code
        self.message = message
        self.lastSequence = lastSequence
    }
}

extension Goodbye: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(code.rawValue)
        buffer.writeWireString(message)
        buffer.writeVarint(lastSequence)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Goodbye {
        Goodbye(
            code: ErrorCode(rawValue: try reader.u16("goodbye.code")),
            message: try reader.string("goodbye.message", maxBytes: WireLimits.maxMessageBytes),
            lastSequence: try reader.varint("goodbye.lastSequence"))
    }
}
