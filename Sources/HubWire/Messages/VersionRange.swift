import NIOCore

/// VERSION_RANGE (spec 6.3): the hub's answer to a HELLO whose versions it does not speak.
public struct VersionRange: Hashable, Sendable {
    public var minVersion: UInt32
    public var maxVersion: UInt32
    public var message: String
    public init(minVersion: UInt32, maxVersion: UInt32, message: String) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.message = message
    }
}

extension VersionRange: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(minVersion)
        buffer.writeVarint(maxVersion)
        buffer.writeWireString(message)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> VersionRange {
        let start = reader.position
        let minVersion = try reader.nonZeroVarint32("versionRange.minVersion")
        let maxVersion = try reader.varint32("versionRange.maxVersion")
        guard minVersion <= maxVersion else {
            throw reader.malformed("versionRange \(minVersion)...\(maxVersion) is not a valid range", from: start)
        }
        return VersionRange(
            minVersion: minVersion, maxVersion: maxVersion,
            message: try reader.string("versionRange.message", maxBytes: WireLimits.maxMessageBytes))
    }
}
