import ElectionModel
import Histogram

/// What a subscriber received in one DELTA_BATCH, reduced to what the check needs.
public struct ReceivedBatch: Sendable {
    public var first: UInt64
    public var last: UInt64
    public var conflated: Bool
    /// In the order received.
    public var events: [(sequence: UInt64, key: EventKey)]

    public init(first: UInt64, last: UInt64, conflated: Bool = false, events: [(sequence: UInt64, key: EventKey)]) {
        self.first = first
        self.last = last
        self.conflated = conflated
        self.events = events
    }
}

/// The record of a run: every acked event by sequence number, and what each subscriber received. It checks that
/// every acked event reached every subscriber whose filter matches it, once, in order, with no gap, and measures
/// submit-to-receipt latency. No I/O; times are passed in (nanoseconds on one monotonic clock).
///
/// A conflated batch (spec 11) legitimately leaves out the events it supersedes: within its range only the latest
/// event of each contest is expected. Those skipped are counted, not reported as problems.
public struct DeliveryLedger: Sendable {
    struct Slot {
        var key: EventKey?
        var sentAt: UInt64 = 0
        var acked = false
        var deliveries: UInt32 = 0
    }

    struct Subscriber {
        var matches: @Sendable (ContestID) -> Bool
        var applied: UInt64
        var conflatedRanges: [ClosedRange<UInt64>] = []
    }

    /// The sequence number before the run's first event.
    public let base: UInt64
    private var slots: [Slot] = []
    private var subscribers: [Subscriber]
    /// Receipts whose ack (with the send time) had not yet been seen: sequence → receipt times.
    private var waitingForAck: [UInt64: [UInt64]] = [:]
    private var problemList: [String] = []
    public private(set) var problemCount = 0
    public private(set) var ackedCount = 0
    public private(set) var deliveredCount = 0
    public private(set) var conflatedBatches = 0
    /// Submit-to-receipt latency, microseconds.
    public private(set) var deliveryLatency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)

    public static let maxProblemsKept = 20

    public init(base: UInt64, filters: [@Sendable (ContestID) -> Bool]) {
        self.base = base
        self.subscribers = filters.map { Subscriber(matches: $0, applied: base) }
    }

    public var problems: [String] {
        problemCount > problemList.count
            ? problemList + ["… and \(problemCount - problemList.count) more problems"] : problemList
    }

    /// The sequence each subscriber has applied up to.
    public var applied: [UInt64] { subscribers.map(\.applied) }

    /// The sequence the slowest subscriber has applied up to (`base` without subscribers).
    /// With no subscribers, the last acked sequence: nothing is behind.
    public var slowestApplied: UInt64 {
        subscribers.isEmpty ? base + UInt64(ackedCount) : subscribers.reduce(UInt64.max) { min($0, $1.applied) }
    }

    private mutating func problem(_ text: String) {
        problemCount += 1
        if problemList.count < Self.maxProblemsKept { problemList.append(text) }
    }

    /// The slot for a sequence number of this run, created on first sight.
    private mutating func slotIndex(_ sequence: UInt64) -> Int? {
        guard sequence > base else { return nil }
        let index = Int(sequence - base - 1)
        if index >= slots.count { slots.append(contentsOf: repeatElement(Slot(), count: index - slots.count + 1)) }
        return index
    }

    /// Records `key` for a slot, or reports that it differs from what was recorded before.
    private mutating func claim(_ index: Int, _ key: EventKey, by whom: String) {
        if let known = slots[index].key, known != key {
            problem("sequence \(base + UInt64(index) + 1): \(whom) says \(key), earlier \(known)")
        } else {
            slots[index].key = key
        }
    }

    /// The hub acked `key` as `sequence`; the desk had sent it at `sentAt`.
    public mutating func acked(sequence: UInt64, key: EventKey, sentAt: UInt64) {
        guard let index = slotIndex(sequence) else {
            return problem("ack of \(key) has sequence \(sequence), before the run")
        }
        guard !slots[index].acked else { return problem("sequence \(sequence) was acked twice") }
        claim(index, key, by: "the ack")
        slots[index].acked = true
        slots[index].sentAt = sentAt
        ackedCount += 1
        for receivedAt in waitingForAck.removeValue(forKey: sequence) ?? [] { recordLatency(sentAt, receivedAt) }
    }

    private mutating func recordLatency(_ sentAt: UInt64, _ receivedAt: UInt64) {
        deliveryLatency.record(receivedAt >= sentAt ? (receivedAt - sentAt) / 1000 : 0)
    }

    /// Subscriber `subscriber` received `batch` at `receivedAt`.
    public mutating func received(_ batch: ReceivedBatch, by subscriber: Int, at receivedAt: UInt64) {
        let who = "subscriber \(subscriber)"
        let applied = subscribers[subscriber].applied
        if batch.first <= applied {
            problem("\(who): batch \(batch.first)...\(batch.last) repeats sequences up to \(applied) (duplicate)")
        } else if batch.first > applied + 1 {
            problem("\(who): gap, batch starts at \(batch.first) after \(applied)")
        }
        if batch.conflated {
            conflatedBatches += 1
            subscribers[subscriber].conflatedRanges.append(batch.first...batch.last)
        }
        var previous: UInt64 = 0
        for (sequence, key) in batch.events {
            guard (batch.first...batch.last).contains(sequence), sequence > previous else {
                problem("\(who): event \(sequence) (\(key)) out of order in batch \(batch.first)...\(batch.last)")
                continue
            }
            previous = sequence
            guard subscribers[subscriber].matches(key.contest) else {
                problem("\(who): received \(key), which its filter excludes")
                continue
            }
            guard let index = slotIndex(sequence) else { continue }
            claim(index, key, by: who)
            slots[index].deliveries += 1
            deliveredCount += 1
            if slots[index].acked {
                recordLatency(slots[index].sentAt, receivedAt)
            } else {
                waitingForAck[sequence, default: []].append(receivedAt)
            }
        }
        subscribers[subscriber].applied = max(applied, batch.last)
    }

    /// After the run: every sequence up to `last` acked, and delivered exactly once to each subscriber whose filter
    /// matches it (apart from events a conflated batch superseded). Returns the number of superseded deliveries.
    @discardableResult
    public mutating func finish(last: UInt64) -> Int {
        var superseded = [Int](repeating: 0, count: slots.count)
        for (number, subscriber) in subscribers.enumerated() {
            if subscriber.applied != last {
                problem("subscriber \(number) reached sequence \(subscriber.applied), not the last acked \(last)")
            }
            for range in subscriber.conflatedRanges where range.lowerBound > base {
                var latest: [ContestID: Int] = [:]
                for index in slotIndex(range.lowerBound)!...slotIndex(range.upperBound)! {
                    guard let key = slots[index].key, subscriber.matches(key.contest) else { continue }
                    if let earlier = latest.updateValue(index, forKey: key.contest) { superseded[earlier] += 1 }
                }
            }
        }
        let lastIndex = last > base ? slotIndex(last)! : -1
        if slots.count > lastIndex + 1 { problem("events after the last acked sequence \(last) were received") }
        for index in 0..<(lastIndex + 1) {
            let sequence = base + UInt64(index) + 1
            guard let key = slots[index].key, slots[index].acked else {
                problem("sequence \(sequence) was never acked to a desk of this run")
                continue
            }
            let matching = subscribers.filter { $0.matches(key.contest) }.count - superseded[index]
            if slots[index].deliveries != matching {
                problem(
                    "sequence \(sequence) (\(key)) reached \(slots[index].deliveries) subscribers, expected \(matching)"
                )
            }
        }
        return superseded.reduce(0, +)
    }
}
