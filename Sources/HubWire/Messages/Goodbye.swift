import NIOCore

/// GOODBYE (spec 6.16): either side's last frame, with why.
public struct Goodbye: Hashable, Sendable {
    public var code: ErrorCode
    public var message: String
    public var lastSequence: UInt64
    /// Specification 1.3 (section 6.18): a hub that does not take submissions (a follower or a relay) turning a desk
    /// away names the hub that does, as `host:port`; empty when it knows of none just now. Encoded only when set.
    public var leader: String?

    public init(code: ErrorCode, message: String, lastSequence: UInt64, leader: String? = nil) {
        self.code = code
        self.message = message
        self.lastSequence = lastSequence
        self.leader = leader
    }
}

extension Goodbye: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(code.rawValue)
        buffer.writeWireString(message)
        buffer.writeVarint(lastSequence)
        if let leader { buffer.writeWireString(leader) }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Goodbye {
        let code = ErrorCode(rawValue: try reader.u16("goodbye.code"))
        let message = try reader.string("goodbye.message", maxBytes: WireLimits.maxMessageBytes)
        let lastSequence = try reader.varint("goodbye.lastSequence")
        // Protocol 1.3; a 1.2 hub's GOODBYE ends here.
        let leader =
            reader.remaining > 0 ? try reader.string("goodbye.leader", maxBytes: WireLimits.maxAddressBytes) : nil
        return Goodbye(code: code, message: message, lastSequence: lastSequence, leader: leader)
    }
}
