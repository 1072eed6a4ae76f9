import ElectionModel
import NIOCore

/// The format the hub uses for the frames it compresses (WELCOME).
public enum CompressionFormat: UInt8, Hashable, Sendable {
    case none = 0
    /// RFC 1950 with the preset dictionary.
    case zlib = 1
    /// RFC 1951 raw deflate with the preset dictionary.
    case deflate = 2

    /// The hub's choice: raw deflate if offered (smallest), else zlib, else none.
    public static func choose(from offered: CompressionSupport) -> CompressionFormat {
        if offered.contains(.deflate) { return .deflate }
        if offered.contains(.zlib) { return .zlib }
        return .none
    }
}

/// WELCOME (spec 6.2): the hub's answer to an accepted HELLO.
public struct Welcome: Hashable, Sendable {
    public var version: UInt32
    public var hubName: String
    public var electionID: String
    public var electionDigest: UInt64
    public var latestSequence: UInt64
    public var compression: CompressionFormat
    public var maxFrameLength: UInt32
    public var maxDecompressedLength: UInt32
    public var heartbeatIntervalMillis: UInt32
    public var allRegions: Bool
    public var regions: [RegionIndex]
    /// Protocol 1.1: `H` of the whole definition, details included (spec 7.3.1); nil from a 1.0 hub.
    public var definitionDigest: UInt64?
    /// Specification 1.2 (section 6.17): the hub serves a rehearsal: every result it sends is test data. Encoded only
    /// when set (after `definitionDigest`, which a 1.2 hub always sends); absent is a live hub.
    public var rehearsal = false

    public init(
        version: UInt32, hubName: String, electionID: String, electionDigest: UInt64, latestSequence: UInt64,
        compression: CompressionFormat, maxFrameLength: UInt32 = WireLimits.maxFrameLength,
        maxDecompressedLength: UInt32 = WireLimits.maxDecompressedLength, heartbeatIntervalMillis: UInt32,
        allRegions: Bool, regions: [RegionIndex], definitionDigest: UInt64? = nil
    ) {
        self.version = version
        self.hubName = hubName
        self.electionID = electionID
        self.electionDigest = electionDigest
        self.latestSequence = latestSequence
        self.compression = compression
        self.maxFrameLength = maxFrameLength
        self.maxDecompressedLength = maxDecompressedLength
        self.heartbeatIntervalMillis = heartbeatIntervalMillis
        self.allRegions = allRegions
        self.regions = regions
        self.definitionDigest = definitionDigest
    }
}

extension Welcome: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(version)
        buffer.writeWireString(hubName)
        buffer.writeWireString(electionID)
        buffer.writeInteger(electionDigest)
        buffer.writeVarint(latestSequence)
        buffer.writeInteger(compression.rawValue)
        buffer.writeVarint(maxFrameLength)
        buffer.writeVarint(maxDecompressedLength)
        buffer.writeVarint(heartbeatIntervalMillis)
        buffer.writeWireBool(allRegions)
        buffer.writeVarint(regions.count)
        for region in regions { buffer.writeVarint(region.rawValue) }
        if let definitionDigest {
            buffer.writeInteger(definitionDigest)
            if rehearsal { buffer.writeWireBool(true) }
        }
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Welcome {
        let version = try reader.nonZeroVarint32("welcome.version")
        let hubName = try reader.string("welcome.hubName", maxBytes: WireLimits.maxNameBytes)
        let electionID = try reader.string("welcome.electionID", maxBytes: WireLimits.maxNameBytes)
        let digest = try reader.u64("welcome.electionDigest")
        let latest = try reader.varint("welcome.latestSequence")
        let compression = try reader.enumeration("welcome.compression", as: CompressionFormat.self)
        let maxFrame = try reader.varint32("welcome.maxFrameLength")
        let maxDecompressed = try reader.varint32("welcome.maxDecompressedLength")
        let heartbeat = try reader.varint32("welcome.heartbeatIntervalMillis")
        let allRegions = try reader.bool("welcome.allRegions")
        let regionCount = try reader.count("welcome.regions", max: WireLimits.maxDefinitionEntries)
        var regions: [RegionIndex] = []
        regions.reserveCapacity(regionCount)
        guard !(allRegions && regionCount > 0) else {
            throw reader.malformed("welcome.regions is not empty but allRegions is set")
        }
        for _ in 0..<regionCount {
            regions.append(RegionIndex(Int(try reader.varint("welcome.regions", max: WireLimits.maxIndex))))
        }
        // Protocol 1.1; a 1.0 hub's WELCOME ends here.
        let definitionDigest = reader.remaining > 0 ? try reader.u64("welcome.definitionDigest") : nil
        var welcome = Welcome(
            version: version, hubName: hubName, electionID: electionID, electionDigest: digest,
            latestSequence: latest, compression: compression, maxFrameLength: maxFrame,
            maxDecompressedLength: maxDecompressed, heartbeatIntervalMillis: heartbeat, allRegions: allRegions,
            regions: regions, definitionDigest: definitionDigest)
        welcome.rehearsal = try reader.rehearsalMarking("welcome.rehearsal")
        return welcome
    }
}
