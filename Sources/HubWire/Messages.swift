import ElectionModel

/// The type byte of a frame (spec 6).
public enum MessageType: UInt8, Hashable, Sendable, CaseIterable {
    case hello = 0x01
    case welcome = 0x02
    case versionRange = 0x03
    case submit = 0x10
    case withdraw = 0x11
    case ack = 0x12
    case reject = 0x13
    case subscribe = 0x20
    case snapshot = 0x21
    case deltaBatch = 0x22
    case heartbeat = 0x30
    case query = 0x31
    case scoreboard = 0x32
    case contest = 0x33
    case election = 0x34
    case goodbye = 0x3F

    /// The spec's upper-case name, e.g. "DELTA_BATCH".
    public var specName: String {
        switch self {
        case .hello: return "HELLO"
        case .welcome: return "WELCOME"
        case .versionRange: return "VERSION_RANGE"
        case .submit: return "SUBMIT"
        case .withdraw: return "WITHDRAW"
        case .ack: return "ACK"
        case .reject: return "REJECT"
        case .subscribe: return "SUBSCRIBE"
        case .snapshot: return "SNAPSHOT"
        case .deltaBatch: return "DELTA_BATCH"
        case .heartbeat: return "HEARTBEAT"
        case .query: return "QUERY"
        case .scoreboard: return "SCOREBOARD"
        case .contest: return "CONTEST"
        case .election: return "ELECTION"
        case .goodbye: return "GOODBYE"
        }
    }
}

/// Every message of protocol v1.
public enum HubMessage: Hashable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case versionRange(VersionRange)
    case submit(Submit)
    case withdraw(WithdrawRequest)
    case ack(Ack)
    case reject(Reject)
    case subscribe(Subscribe)
    case snapshot(Snapshot)
    case deltaBatch(DeltaBatch)
    case heartbeat(Heartbeat)
    case query(Query)
    case scoreboard(ScoreboardAnswer)
    case contest(ContestAnswer)
    case election(ElectionAnswer)
    case goodbye(Goodbye)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .welcome: return .welcome
        case .versionRange: return .versionRange
        case .submit: return .submit
        case .withdraw: return .withdraw
        case .ack: return .ack
        case .reject: return .reject
        case .subscribe: return .subscribe
        case .snapshot: return .snapshot
        case .deltaBatch: return .deltaBatch
        case .heartbeat: return .heartbeat
        case .query: return .query
        case .scoreboard: return .scoreboard
        case .contest: return .contest
        case .election: return .election
        case .goodbye: return .goodbye
        }
    }
}

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

public struct Submit: Hashable, Sendable {
    public var requestID: UInt64
    public var declaration: Declaration
    public init(requestID: UInt64, declaration: Declaration) {
        self.requestID = requestID
        self.declaration = declaration
    }
}

public struct WithdrawRequest: Hashable, Sendable {
    public var requestID: UInt64
    public var withdrawal: Withdrawal
    public init(requestID: UInt64, withdrawal: Withdrawal) {
        self.requestID = requestID
        self.withdrawal = withdrawal
    }
}

public enum RecordStatus: UInt8, Hashable, Sendable {
    case declared = 1
    case withdrawn = 2
}

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

/// Which contests a subscriber receives.
public enum SubscriptionFilter: Hashable, Sendable {
    case all
    /// Sorted, without duplicates.
    case regions([RegionIndex])
    case contestKind(ContestKind)

    public func matches(_ contest: Contest) -> Bool {
        switch self {
        case .all: return true
        case .regions(let regions): return regions.contains(contest.region)
        case .contestKind(let kind): return contest.kind == kind
        }
    }
}

public struct Subscribe: Hashable, Sendable {
    public var filter: SubscriptionFilter
    /// The last sequence number the client applied, when it resumes.
    public var resumeFrom: UInt64?
    public init(filter: SubscriptionFilter, resumeFrom: UInt64?) {
        self.filter = filter
        self.resumeFrom = resumeFrom
    }
}

public enum SnapshotReason: UInt8, Hashable, Sendable {
    case newSubscription = 1
    case resumeUnavailable = 2
    case fellBehind = 3
}

public struct Snapshot: Hashable, Sendable {
    public var sequence: UInt64
    public var reason: SnapshotReason
    /// Ascending contest id.
    public var records: [ContestRecord]
    public var checksum: UInt64
    public init(sequence: UInt64, reason: SnapshotReason, records: [ContestRecord], checksum: UInt64) {
        self.sequence = sequence
        self.reason = reason
        self.records = records
        self.checksum = checksum
    }
}

public struct SequencedRecord: Hashable, Sendable {
    public var sequence: UInt64
    public var record: ContestRecord
    public init(sequence: UInt64, record: ContestRecord) {
        self.sequence = sequence
        self.record = record
    }
}

public struct DeltaBatch: Hashable, Sendable {
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var conflated: Bool
    /// Ascending sequence, each within first...last.
    public var events: [SequencedRecord]
    public var checksum: UInt64
    public init(
        firstSequence: UInt64, lastSequence: UInt64, conflated: Bool, events: [SequencedRecord], checksum: UInt64
    ) {
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.conflated = conflated
        self.events = events
        self.checksum = checksum
    }
}

public struct Heartbeat: Hashable, Sendable {
    public var sequence: UInt64
    public init(sequence: UInt64) { self.sequence = sequence }
}

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

public struct ScoreboardAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var scoreboard: Scoreboard
    public init(requestID: UInt64, scoreboard: Scoreboard) {
        self.requestID = requestID
        self.scoreboard = scoreboard
    }
}

public struct ContestAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var sequence: UInt64
    public var record: ContestRecord?
    /// Protocol 1.1: the declared council result's seat changes against the composition before, parties whose seats
    /// changed in ascending party index; nil when there is nothing to compare (or from a 1.0 hub).
    public var seatChanges: [SeatChange]?
    public init(requestID: UInt64, sequence: UInt64, record: ContestRecord?, seatChanges: [SeatChange]? = nil) {
        self.requestID = requestID
        self.sequence = sequence
        self.record = record
        self.seatChanges = seatChanges
    }
}

public struct ElectionAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var digest: UInt64
    public var definition: ElectionDefinition
    public init(requestID: UInt64, digest: UInt64, definition: ElectionDefinition) {
        self.requestID = requestID
        self.digest = digest
        self.definition = definition
    }
}

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

/// Versions this code speaks, and the negotiation of spec 5.
public enum ProtocolVersion {
    public static let minimum: UInt32 = 1
    public static let maximum: UInt32 = 1

    /// The highest version in both ranges, or nil when they do not overlap.
    public static func negotiate(clientMin: UInt32, clientMax: UInt32) -> UInt32? {
        let high = min(clientMax, maximum)
        return high >= max(clientMin, minimum) ? high : nil
    }

    /// What a hub answers to a HELLO whose range it does not speak.
    public static var rangeAnswer: VersionRange {
        VersionRange(
            minVersion: minimum, maxVersion: maximum,
            message: "this hub speaks ResultsHub protocol versions \(minimum) to \(maximum)")
    }
}

/// The limits of spec 9.
public enum WireLimits {
    public static let maxFrameLengthBeforeHandshake: UInt32 = 4096
    public static let maxFrameLength: UInt32 = 1_048_576
    /// A subscriber sends only small frames (SUBSCRIBE, QUERY, HEARTBEAT, GOODBYE), so the hub holds no more than
    /// this for one (spec 9).
    public static let maxSubscriberFrameLength: UInt32 = 4096
    public static let maxDecompressedLength: UInt32 = 4_194_304
    public static let maxPartyCounts = 256
    public static let maxCandidateVotes = 64
    public static let maxFilterRegions = 64
    public static let maxBatchEvents = 65_535
    public static let maxSnapshotRecords = 65_535
    public static let maxScoreboardRows = 1024
    public static let maxIndex: UInt64 = 1023
    public static let maxPrincipalBytes = 64
    public static let maxSecretBytes = 256
    public static let maxNameBytes = 64
    public static let maxMessageBytes = 1024
    public static let maxDeskIDBytes = 64
    public static let maxReasonBytes = 256
    public static let maxElectionNameBytes = 256
    public static let maxDateBytes = 32
    public static let maxPartyCodeBytes = 16
    public static let maxDefinitionEntries = 1024
    public static let maxDefinitionContests = 65_535
    public static let maxCandidates = 64
    /// Protocol 1.1 (spec 7.3.1).
    public static let maxGSSCodeBytes = 16
    public static let maxSeatsBeforeNoteBytes = 1024
    /// Seat changes in a CONTEST answer: one per party at most.
    public static let maxSeatChanges = 1024
}
