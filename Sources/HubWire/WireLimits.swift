/// Every size and count bound of the wire, in one place. The first group is the spec's section 9 (protocol 1):
/// changing one of those changes the protocol, and `Tools/vectors/resultshub_v1.py` and `Protocol/SPEC.md` change
/// with it. The later groups are this implementation's own bounds, named here so that nothing in the code is a bare
/// number.
public enum WireLimits {
    // MARK: Frames (spec 1, 9)

    /// The shortest frame `length`: it counts the type and flags bytes, so a frame with an empty payload is 2.
    public static let minFrameLength: UInt32 = 2
    /// Before WELCOME a peer is a stranger: the hub buffers at most this for one unauthenticated connection. A HELLO
    /// with the longest principal, secret and client name fits in well under 1 KiB.
    public static let maxFrameLengthBeforeHandshake: UInt32 = 4096
    /// After WELCOME, frames from a desk and from the hub; WELCOME tells the client this value.
    public static let maxFrameLength: UInt32 = 1_048_576
    /// A subscriber sends only small frames (SUBSCRIBE, QUERY, HEARTBEAT, GOODBYE), so the hub holds no more than
    /// this for one (spec 9).
    public static let maxSubscriberFrameLength: UInt32 = 4096
    /// A compressed payload may claim at most this many bytes inflated: the bound on what a compression bomb costs.
    public static let maxDecompressedLength: UInt32 = 4_194_304

    // MARK: Counts in a message (spec 9)

    /// Parties in `seats`, `votes` or a definition's `seatsBefore`: one entry per party, and no election has more.
    public static let maxPartyCounts = 256
    /// A mayoralty's `candidateVotes`.
    public static let maxCandidateVotes = 64
    /// Regions in a SUBSCRIBE filter: a subscriber that wants more subscribes to all.
    public static let maxFilterRegions = 64
    /// Events in one DELTA_BATCH: the hub batches per commit, far below this.
    public static let maxBatchEvents = 65_535
    /// Contest records in one SNAPSHOT: one per contest, and a definition has at most `maxDefinitionContests`.
    public static let maxSnapshotRecords = 65_535
    /// Rows of a SCOREBOARD (and of its 1.1 councillor rows): one per party.
    public static let maxScoreboardRows = 1024
    /// Seat changes in a CONTEST answer: one per party at most (protocol 1.1).
    public static let maxSeatChanges = 1024
    /// Parties, regions (and regions in WELCOME) in a definition: indexes are at most `maxIndex`.
    public static let maxDefinitionEntries = 1024
    /// Contests in a definition, and its 1.1 `contestDetails`.
    public static let maxDefinitionContests = 65_535
    /// Candidates of one contest in a definition.
    public static let maxCandidates = 64

    // MARK: Values (spec 3, 9)

    /// Party and region indexes: one below `maxDefinitionEntries`.
    public static let maxIndex: UInt64 = 1023
    /// `control`: 0 = no overall control, k + 1 = party index k.
    public static let maxControl: UInt64 = maxIndex + 1
    /// A definition's `previousControl`: 0 = unknown, 1 = no overall control, k + 2 = party index k.
    public static let maxPreviousControl: UInt64 = maxIndex + 2
    /// A definition's candidate `party`: 0 = none, k + 1 = party index k.
    public static let maxCandidateParty: UInt64 = maxIndex + 1
    /// Revisions, contest ids, seat and vote counts, scoreboard totals: they are 32-bit in the model.
    public static let maxCountValue: UInt64 = UInt64(UInt32.max)
    /// The magnitude of a councils, councillors or seat change (protocol 1.1): a change of 32-bit counts.
    public static let maxChangeMagnitude: Int64 = Int64(UInt32.max)
    /// Turnout in basis points, as the wire carries it (16-bit in the model). Over 10000 is then the hub's
    /// `invalidDeclaration` in a submitted declaration, and `malformedFrame` in a contest record.
    public static let maxWireTurnout: UInt64 = UInt64(UInt16.max)

    // MARK: Strings, in UTF-8 bytes (spec 9 and each message's table)

    public static let maxPrincipalBytes = 64
    public static let maxSecretBytes = 256
    /// Client, hub and election ids, slugs, region ids.
    public static let maxNameBytes = 64
    /// VERSION_RANGE, REJECT and GOODBYE messages.
    public static let maxMessageBytes = 1024
    /// Protocol 1.3: GOODBYE's `leader`, a `host:port` (a DNS name is at most 253 bytes).
    public static let maxAddressBytes = 261
    public static let maxDeskIDBytes = 64
    /// A withdrawal's reason.
    public static let maxReasonBytes = 256
    /// Election, party, region, contest and candidate names.
    public static let maxElectionNameBytes = 256
    public static let maxDateBytes = 32
    public static let maxPartyCodeBytes = 16
    /// Protocol 1.1 (spec 7.3.1); real GSS codes are 9 bytes.
    public static let maxGSSCodeBytes = 16
    /// Protocol 1.1 (spec 7.3.1).
    public static let maxSeatsBeforeNoteBytes = 1024

    // MARK: Compression (spec 8.1)

    /// The preset dictionary keeps only its last bytes past this: zlib's window is 32 KiB.
    public static let maxDictionaryBytes = 32_768

    // MARK: This implementation's bounds (not on the wire)

    /// How many of the offending bytes a `WireError` keeps: enough to recognise a field or a frame header in a log,
    /// bounded so that an error about a 1 MiB frame does not copy it.
    public static let maxOffendingBytes = 64

    // MARK: Hub-side bounds (not on the wire)

    /// Bytes the hub may hand a connection's socket that it has not written yet, answers included: a peer that
    /// stops reading while it keeps asking (queries, pipelined submissions) is closed here rather than growing the
    /// hub's memory. Subscribers are held to a much smaller flow bound before this (`subscriberByteLimit`).
    public static let maxPeerPendingOutboundBytes = 8 << 20
    /// A resume that missed more events than this gets a snapshot instead (reason resumeUnavailable): replaying
    /// more costs more than a snapshot of a typical election.
    public static let maxResumeReplayEvents = 8192
    /// A connection's buffered partial frame is copied into a right-sized buffer when its buffer is over four times
    /// its contents and over this capacity.
    public static let partialFrameCompactionCapacity = 4096
    /// A connection's buffer drops its read bytes once this many have been read.
    public static let partialFrameDiscardReadBytes = 65_536
    /// Sequence numbers one delta batch the hub cuts may cover (a replayed resume is cut into several), so that a
    /// batch stays well under the frame limit and under `maxBatchEvents`.
    public static let maxBatchSequenceSpan = 4096
    /// HELLOs with no common protocol version a connection may send before it is closed.
    public static let maxHelloAttempts = 3
}
