import ElectionModel
import Logging

/// One journalled event: the global sequence number and the contest record it set.
public struct JournalEntry: Hashable, Sendable {
    public var sequence: UInt64
    public var record: ContestRecord

    public init(sequence: UInt64, record: ContestRecord) {
        self.sequence = sequence
        self.record = record
    }
}

/// What recovery found in the store.
public struct JournalRecovery: Sendable {
    /// Every intact entry, ascending gapless sequence numbers starting at 1.
    public var entries: [JournalEntry]
    /// Bytes dropped from a torn or corrupt tail (0 when the file was clean).
    public var truncatedBytes: Int

    public init(entries: [JournalEntry], truncatedBytes: Int) {
        self.entries = entries
        self.truncatedBytes = truncatedBytes
    }
}

/// Durable storage for the hub's events. The hub calls it from one serial owner, off the event loops (the calls
/// block on disk I/O). Another store (a replicated database) can implement the same protocol.
public protocol EventStore: AnyObject {
    /// Reads back what is stored, repairing a torn tail; call once, before the first append.
    func recover() throws(JournalError) -> JournalRecovery
    /// Appends the entries (ascending, continuing the stored sequence) and returns only once they are durable
    /// (written and fsynced). One call is one group commit: all entries share one fsync.
    ///
    /// When it throws, the entries were not acknowledged as durable and a partly written batch is cut off again, so
    /// the caller may retry the same entries later (e.g. once the disk has space again). As with any failed write,
    /// a crash before the retry may still bring some of them back on recovery: they were never acknowledged, and a
    /// desk's resubmission of them is then an idempotent duplicate.
    func append(_ entries: [JournalEntry]) throws(JournalError)
    /// Flushes and closes. Further calls fail.
    func close() throws(JournalError)
}
