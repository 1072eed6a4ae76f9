import NIOCore

/// The latest change events, each linked to the sequence number before it, so that a client that last received
/// event `n` is sent exactly the events after `n`: no gap, no duplicate. Bounded in events and bytes; a client that
/// asks for what is no longer held gets nil (and then a resync).
public struct EventHistory: Sendable {
    public struct Limits: Sendable {
        public var maxEvents: Int
        public var maxBytes: Int
        public init(maxEvents: Int = 20_000, maxBytes: Int = 64 << 20) {
            self.maxEvents = maxEvents
            self.maxBytes = maxBytes
        }
    }

    private struct Entry {
        /// The sequence number a client is at before this event.
        var previous: UInt64
        var event: WebEvent
    }

    public let limits: Limits
    private var entries = CircularBuffer<Entry>()
    private var bytes = 0

    public init(limits: Limits) {
        self.limits = limits
    }

    public var count: Int { entries.count }

    /// Forgets every event: a client cannot resume across what comes next.
    mutating func reset() {
        entries.removeAll(keepingCapacity: true)
        bytes = 0
    }

    /// `event` follows `previous`, which must be the last event's id (or the sequence of the last reset).
    mutating func append(_ event: WebEvent, after previous: UInt64) {
        entries.append(Entry(previous: previous, event: event))
        bytes += event.size
        while entries.count > limits.maxEvents || (bytes > limits.maxBytes && entries.count > 1) {
            bytes -= entries.removeFirst().event.size
        }
    }

    /// The events after `sequence`, when `sequence` is where a held event starts from and there are at most
    /// `limit` of them.
    func events(after sequence: UInt64, limit: Int) -> [WebEvent]? {
        // `previous` ascends strictly: binary search for the entry that starts at `sequence`.
        var low = entries.startIndex
        var high = entries.endIndex
        while low < high {
            let middle = entries.index(low, offsetBy: entries.distance(from: low, to: high) / 2)
            if entries[middle].previous < sequence {
                low = entries.index(after: middle)
            } else {
                high = middle
            }
        }
        guard low < entries.endIndex, entries[low].previous == sequence else { return nil }
        guard entries.distance(from: low, to: entries.endIndex) <= limit else { return nil }
        return entries[low...].map(\.event)
    }
}
