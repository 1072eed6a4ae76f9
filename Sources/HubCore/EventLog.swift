import ElectionModel
import HubWire

/// The most recent events, kept so that a subscriber that reconnects can resume with exactly the events it missed.
/// Bounded: older events are dropped, and a resume from before the window gets a fresh snapshot instead.
public struct EventLog: Sendable {
    public let capacity: Int
    private var events: [HubEvent] = []
    private var start = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    public var count: Int { events.count - start }

    /// The oldest sequence number a resume can start after, or nil when the log is empty.
    public var oldestResumePoint: UInt64? { start < events.count ? events[start].sequence - 1 : nil }

    public mutating func append(_ event: HubEvent) {
        if let last = events.last { precondition(event.sequence == last.sequence + 1, "events must be consecutive") }
        events.append(event)
        if count > capacity {
            start += count - capacity
            // Compact occasionally so that dropping old events is amortised O(1).
            if start >= capacity {
                events.removeFirst(start)
                start = 0
            }
        }
    }

    /// Removes the newest event (its commit failed).
    public mutating func removeLast(_ event: HubEvent) {
        precondition(events.last == event)
        events.removeLast()
        start = min(start, events.count)
    }

    /// The events after `sequence` up to the newest, or nil when some of them are no longer retained.
    /// An empty slice means the caller is up to date.
    public func events(after sequence: UInt64) -> ArraySlice<HubEvent>? {
        guard let newest = events.last else { return sequence == 0 ? [] : nil }
        if sequence >= newest.sequence { return sequence == newest.sequence ? [] : nil }
        let oldest = events[start].sequence
        guard sequence + 1 >= oldest else { return nil }
        return events[(start + Int(sequence + 1 - oldest))...]
    }
}

/// Cuts consecutive events into delta batches for one filter.
public enum DeltaBatching {
    /// Batches covering every sequence number of `events` (which must be consecutive), at most `maxEvents`
    /// sequence numbers each, with the events the filter matches and the filter's checksum after each batch.
    /// `checksumAfter` is the filter's checksum after the last event: earlier checksums are found by walking back
    /// through the events, subtracting each record's hash and adding back the one it replaced.
    public static func batches(
        _ events: ArraySlice<HubEvent>, filter: SubscriptionFilter, election: Election, checksumAfter: UInt64,
        maxEvents: Int = 4096
    ) -> [DeltaBatch] {
        guard !events.isEmpty else { return [] }
        var checksumsAfter = [UInt64](repeating: 0, count: events.count)
        var running = checksumAfter
        for (offset, event) in events.enumerated().reversed() {
            checksumsAfter[offset] = running
            guard let contest = election.contest(event.record.contestID), filter.matches(contest) else { continue }
            running = running &- event.checksumDelta
        }
        var batches: [DeltaBatch] = []
        var chunkStart = 0
        let all = Array(events)
        while chunkStart < all.count {
            let chunkEnd = min(chunkStart + maxEvents, all.count)
            let chunk = all[chunkStart..<chunkEnd]
            let matching = chunk.filter { event in
                election.contest(event.record.contestID).map { filter.matches($0) } ?? false
            }
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
