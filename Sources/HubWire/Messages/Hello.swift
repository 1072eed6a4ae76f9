import NIOCore

public enum ClientRole: UInt8, Hashable, Sendable {
    case desk = 1
    case subscriber = 2
}

/// Which compressed formats a client can inflate (HELLO).
public struct CompressionSupport: OptionSet, Hashable, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let zlib = CompressionSupport(rawValue: 1 << 0)
    public static let deflate = CompressionSupport(rawValue: 1 << 1)
    public static let all: CompressionSupport = [.zlib, .deflate]
}

/// HELLO (spec 6.1): the client's first frame.
public struct Hello: Hashable, Sendable {
    public static let magic: [UInt8] = Array("RHUB".utf8)
    public var minVersion: UInt32
    public var maxVersion: UInt32
    public var role: ClientRole
    public var principal: String
    public var secret: String
    public var compression: CompressionSupport
    public var clientName: String

    public init(
        minVersion: UInt32 = ProtocolVersion.minimum, maxVersion: UInt32 = ProtocolVersion.maximum, role: ClientRole,
        principal: String, secret: String, compression: CompressionSupport = .all, clientName: String
    ) {
        self.minVersion = minVersion
        self.maxVersion = maxVersion
        self.role = role
        self.principal = principal
        self.secret = secret
        self.compression = compression
        self.clientName = clientName
    }
}

extension Hello: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(Hello.magic)
        buffer.writeVarint(minVersion)
        buffer.writeVarint(maxVersion)
        buffer.writeInteger(role.rawValue)
        buffer.writeWireString(principal)
        buffer.writeWireString(secret)
        buffer.writeInteger(compression.rawValue)
        buffer.writeWireString(clientName)
    }

    /// After the magic, an error carries no bytes: the principal and secret are within any later field's first bytes.
    static func decode(from reader: inout WireReader) throws(WireError) -> Hello {
        let magic = try reader.bytes(Hello.magic.count, "hello.magic")
        guard magic.readableBytesView.elementsEqual(Hello.magic) else {
            throw WireError(
                .notThisProtocol(.unknown), "HELLO does not start with the magic RHUB",
                offendingBytes: magic.readableBytesView)
        }
        do throws(WireError) {
            return try decodeAfterMagic(from: &reader)
        } catch {
            throw error.redacted()
        }
    }

    private static func decodeAfterMagic(from reader: inout WireReader) throws(WireError) -> Hello {
        let versionsStart = reader.position
        let minVersion = try reader.varint32("hello.minVersion")
        let maxVersion = try reader.varint32("hello.maxVersion")
        guard minVersion >= 1, minVersion <= maxVersion else {
            throw reader.malformed(
                "hello versions \(minVersion)...\(maxVersion) are not a valid range", from: versionsStart)
        }
        let role = try reader.enumeration("hello.role", as: ClientRole.self)
        let principal = try reader.string("hello.principal", maxBytes: WireLimits.maxPrincipalBytes)
        let secret = try reader.string("hello.secret", maxBytes: WireLimits.maxSecretBytes)
        // Unknown bits are formats of later versions: HELLO must parse across versions, so they are ignored.
        let compression = CompressionSupport(rawValue: try reader.u8("hello.compression")).intersection(.all)
        let clientName = try reader.string("hello.clientName", maxBytes: WireLimits.maxNameBytes)
        return Hello(
            minVersion: minVersion, maxVersion: maxVersion, role: role, principal: principal, secret: secret,
            compression: compression, clientName: clientName)
    }
}
