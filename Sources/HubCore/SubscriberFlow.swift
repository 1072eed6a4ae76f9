import ElectionModel
import HubWire

/// Delivery to one subscriber, bounded in bytes: while the subscriber keeps up, each batch is written; once the
/// bytes waiting for its socket exceed the bound, further batches are not queued, only the contests they changed
/// are remembered (conflation), and when the socket drains one conflated batch brings the subscriber up to date.
/// A subscriber that stays conflating past the stall time is dropped. Memory per subscriber is therefore at most
/// the byte bound plus one set of contest ids, however long it stalls.
public struct SubscriberFlow: Sendable {
    public enum Mode: Hashable, Sendable {
        case live
        /// Batches from `first` on were skipped; `changed` are the contests they touched.
        case conflating(first: UInt64, changed: Set<ContestID>, sinceNanos: UInt64)
    }

    public enum Decision: Hashable, Sendable {
        case write
        case skip
    }

    public let byteLimit: Int
    /// The last sequence number covered by what was handed to the socket.
    public private(set) var delivered: UInt64
    /// Bytes handed to the socket and not yet written by it.
    public private(set) var pendingBytes = 0
    public private(set) var mode: Mode = .live

    public init(byteLimit: Int, delivered: UInt64) {
        self.byteLimit = byteLimit
        self.delivered = delivered
    }

    /// Bytes written outside the batch flow (a snapshot, an answer) still count against the bound.
    public mutating func wrote(bytes: Int) { pendingBytes += bytes }

    /// A new batch for this subscriber, continuing its sequence.
    public mutating func offer(_ batch: DeltaBatch, bytes: Int, nowNanos: UInt64) -> Decision {
        precondition(batch.firstSequence == delivered + 1 || mode != .live, "batches must be contiguous")
        switch mode {
        case .live where pendingBytes + bytes <= byteLimit || pendingBytes == 0:
            pendingBytes += bytes
            delivered = batch.lastSequence
            return .write
        case .live:
            mode = .conflating(
                first: batch.firstSequence, changed: Set(batch.events.map(\.record.contestID)), sinceNanos: nowNanos)
            return .skip
        case .conflating(let first, var changed, let since):
            changed.formUnion(batch.events.map(\.record.contestID))
            mode = .conflating(first: first, changed: changed, sinceNanos: since)
            return .skip
        }
    }

    /// The socket wrote `bytes` of what it was handed.
    public mutating func drained(bytes: Int) {
        pendingBytes = max(0, pendingBytes - bytes)
    }

    /// When conflating and the socket has drained to half the bound: the range start and contests for one
    /// conflated batch. The caller builds it, writes it, and reports it with `caughtUp`.
    public var catchUp: (first: UInt64, changed: Set<ContestID>)? {
        guard case .conflating(let first, let changed, _) = mode, pendingBytes <= byteLimit / 2 else { return nil }
        return (first, changed)
    }

    public mutating func caughtUp(through sequence: UInt64, bytes: Int) {
        mode = .live
        delivered = sequence
        pendingBytes += bytes
    }

    /// True when the subscriber has been conflating for longer than `stallNanos`.
    public func isStalled(nowNanos: UInt64, stallNanos: UInt64) -> Bool {
        guard case .conflating(_, _, let since) = mode else { return false }
        return nowNanos >= since && nowNanos - since >= stallNanos
    }
}
