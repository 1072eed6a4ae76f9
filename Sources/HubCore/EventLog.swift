import ElectionModel
import HubWire
import NIOCore

/// An accepted event as delta batches need it: its sequence number, the record it set, and how it moved the state
/// checksum. Both the engine's fresh events and the log's retained ones are batched.
public protocol ChecksummedEvent {
    var sequence: UInt64 { get }
    var record: ContestRecord { get }
    /// `H(record) - H(the record it replaced)`.
    var checksumDelta: UInt64 { get }
}

extension HubEvent: ChecksummedEvent {}

/// An event as the log keeps it for resumes: what was replaced is not needed, since only events that are durable
/// (and so never reverted) are logged.
public struct LoggedEvent: ChecksummedEvent, Hashable, Sendable {
    public var sequence: UInt64
    public var record: ContestRecord
    public var checksumDelta: UInt64

    public init(sequence: UInt64, record: ContestRecord, checksumDelta: UInt64) {
        self.sequence = sequence
        self.record = record
        self.checksumDelta = checksumDelta
    }
}

/// The most recent events, kept so that a subscriber that reconnects can resume with exactly the events it missed.
/// Bounded: older events are dropped, and a resume from before the window gets a fresh snapshot instead.
///
/// Each event is kept as its record's wire encoding (`RecordCodec`: 33 bytes on average under `hub-load saturate`,
/// about 60 for a council with votes for 6 parties) and its checksum delta, in segments of consecutive events:
/// 45 bytes an event under that load, where keeping the `HubEvent`s (two records, each with its own arrays) took
/// 636, and 720 just before a compaction (`retained-memory` measures both). The sequence number is implicit (the
/// log is consecutive) and the contest id is the encoding's first field. Records are decoded only when a resume
/// reads them, and a resume reads at most a few thousand.
public struct EventLog: Sendable {
    public let capacity: Int
    /// Events per segment. Memory is freed a whole segment at a time, so the log holds up to `capacity` plus one
    /// segment of events; dropping old events costs O(1) amortised, and nothing is ever copied but the seal.
    let segmentCapacity: Int
    /// Oldest first. Every segment but the last is full, so an event's segment follows from its sequence number.
    private var segments: [Segment] = []
    /// How many of the newest events a resume may use: at most `capacity`.
    public private(set) var count = 0

    struct Segment: Sendable {
        let firstSequence: UInt64
        /// The records' encodings back to back.
        var records: ByteBuffer
        /// Where each record's encoding ends in `records`.
        var recordEnds: [UInt32] = []
        var checksumDeltas: [UInt64] = []

        init(firstSequence: UInt64, capacity: Int) {
            self.firstSequence = firstSequence
            // Enough for typical records; a segment of larger ones grows, and sealing trims the excess.
            self.records = ByteBufferAllocator().buffer(capacity: capacity * 64)
            recordEnds.reserveCapacity(capacity)
            checksumDeltas.reserveCapacity(capacity)
        }

        var lastSequence: UInt64 { firstSequence + UInt64(recordEnds.count) - 1 }

        /// Copies the encodings into a buffer of exactly their size: a full segment never grows again.
        mutating func seal() {
            var sealed = ByteBufferAllocator().buffer(capacity: records.readableBytes)
            sealed.writeImmutableBuffer(records)
            records = sealed
        }

        func event(at offset: Int) -> LoggedEvent {
            let start = offset == 0 ? 0 : Int(recordEnds[offset - 1])
            let end = Int(recordEnds[offset])
            var reader = WireReader(records.getSlice(at: records.readerIndex + start, length: end - start)!)
            let record: ContestRecord
            do {
                record = try RecordCodec.decode(from: &reader)
            } catch {
                // The journal depends on the same round trip: a record that does not decode could not be recovered
                // either, so this is a broken codec, not bad input.
                preconditionFailure("an event log record does not decode: \(error)")
            }
            return LoggedEvent(
                sequence: firstSequence + UInt64(offset), record: record, checksumDelta: checksumDeltas[offset])
        }
    }

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.segmentCapacity = min(capacity, 1024)
    }

    /// Events held, those older than the window included (they wait for their segment to be freed whole).
    var storedEvents: Int { segments.reduce(0) { $0 + $1.recordEnds.count } }

    /// The newest retained sequence number, or nil when the log is empty.
    private var newestSequence: UInt64? { segments.last?.lastSequence }

    /// The oldest sequence number a resume can start after, or nil when the log is empty.
    public var oldestResumePoint: UInt64? { newestSequence.map { $0 - UInt64(count) } }

    public mutating func append(_ event: some ChecksummedEvent) {
        if let newest = newestSequence { precondition(event.sequence == newest + 1, "events must be consecutive") }
        if segments.isEmpty || segments[segments.count - 1].recordEnds.count == segmentCapacity {
            if !segments.isEmpty { segments[segments.count - 1].seal() }
            segments.append(Segment(firstSequence: event.sequence, capacity: segmentCapacity))
        }
        let last = segments.count - 1
        RecordCodec.encode(event.record, into: &segments[last].records)
        segments[last].recordEnds.append(UInt32(segments[last].records.readableBytes))
        segments[last].checksumDeltas.append(event.checksumDelta)
        count = min(count + 1, capacity)
        // Drop the oldest segment once none of its events is within the window.
        if let oldestResumePoint, segments[0].lastSequence <= oldestResumePoint { segments.removeFirst() }
    }

    /// The events after `sequence` up to the newest, or nil when some of them are no longer retained.
    /// An empty collection means the caller is up to date. Each event is decoded when it is read.
    public func events(after sequence: UInt64) -> LoggedEvents? {
        guard let newest = newestSequence, let oldestResumePoint else { return sequence == 0 ? none(after: 0) : nil }
        if sequence >= newest { return sequence == newest ? none(after: newest) : nil }
        guard sequence >= oldestResumePoint else { return nil }
        return LoggedEvents(
            segments: segments, segmentCapacity: segmentCapacity, first: sequence + 1, count: Int(newest - sequence))
    }

    private func none(after sequence: UInt64) -> LoggedEvents {
        LoggedEvents(segments: [], segmentCapacity: segmentCapacity, first: sequence + 1, count: 0)
    }
}

/// Cuts consecutive events into delta batches for one filter.
public enum DeltaBatching {
    /// Batches covering every sequence number of `events` (which must be consecutive), at most `maxEvents`
    /// sequence numbers each, with the events the filter matches and the filter's checksum after each batch.
    /// `checksumAfter` is the filter's checksum after the last event: earlier checksums are found by walking back
    /// through the events, subtracting each record's hash and adding back the one it replaced.
    public static func batches<Events: Collection>(
        _ events: Events, filter: SubscriptionFilter, election: Election, checksumAfter: UInt64,
        maxEvents: Int = WireLimits.maxBatchSequenceSpan
    ) -> [DeltaBatch] where Events.Element: ChecksummedEvent {
        // Read once: the log's events are decoded as they are read.
        let all = Array(events)
        guard !all.isEmpty else { return [] }
        var checksumsAfter = [UInt64](repeating: 0, count: all.count)
        var running = checksumAfter
        for (offset, event) in all.enumerated().reversed() {
            checksumsAfter[offset] = running
            guard filter.matches(event.record.contestID, in: election) else { continue }
            running = running &- event.checksumDelta
        }
        var batches: [DeltaBatch] = []
        var chunkStart = 0
        while chunkStart < all.count {
            let chunkEnd = min(chunkStart + maxEvents, all.count)
            let chunk = all[chunkStart..<chunkEnd]
            let matching = chunk.filter { filter.matches($0.record.contestID, in: election) }
            batches.append(
                DeltaBatch(
                    firstSequence: chunk.first!.sequence, lastSequence: chunk.last!.sequence, conflated: false,
                    events: matching.map { SequencedRecord(sequence: $0.sequence, record: $0.record) },
                    checksum: checksumsAfter[chunkEnd - 1]))
            chunkStart = chunkEnd
        }
        return batches
    }
}

/// Consecutive events of the log, decoded on access. It shares the log's storage, so making one copies nothing.
public struct LoggedEvents: RandomAccessCollection, Sendable {
    private let segments: [EventLog.Segment]
    private let segmentCapacity: Int
    private let first: UInt64
    public let count: Int

    init(segments: [EventLog.Segment], segmentCapacity: Int, first: UInt64, count: Int) {
        self.segments = segments
        self.segmentCapacity = segmentCapacity
        self.first = first
        self.count = count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> LoggedEvent {
        precondition(position >= 0 && position < count, "index out of range")
        let fromStart = Int(first - segments[0].firstSequence) + position
        return segments[fromStart / segmentCapacity].event(at: fromStart % segmentCapacity)
    }
}
