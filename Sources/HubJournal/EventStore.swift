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

/// What recovery found in the store. The entries themselves went to the caller's `apply`, one at a time, so that
/// a restart never holds the whole journal in memory.
public struct JournalRecovery: Hashable, Sendable {
    /// How many entries were handed to `apply`: sequence numbers 1 ... `entryCount`, in order.
    public var entryCount: Int
    /// Bytes dropped from a torn tail, or by a repair (0 when the file was clean).
    public var truncatedBytes: Int

    public init(entryCount: Int, truncatedBytes: Int) {
        self.entryCount = entryCount
        self.truncatedBytes = truncatedBytes
    }

    /// The sequence number of the last entry (0 when none).
    public var lastSequence: UInt64 { UInt64(entryCount) }
}

/// Durable storage for the hub's events. `Sendable`, and asynchronous: a store does its blocking work (disk I/O,
/// or a database's round trips) on threads of its own, never on the caller's event loop or the cooperative pool.
/// Another store (a replicated database) can implement the same protocol.
///
/// The hub calls it from one serial owner: `recover` once, then one `append` at a time, then `close`. Calls that
/// overlap anyway are carried out one after the other, in no promised order.
public protocol EventStore: Sendable {
    /// Reads back what is stored, hands every entry to `apply` in sequence order (ascending and gapless from 1), and
    /// repairs a torn tail; call once, before the first append. Memory stays bounded whatever the store's size.
    ///
    /// `apply` runs wherever the store does its work (for `FileJournal`, the journal's own thread), one entry at a
    /// time, never concurrently. It works on `state`, which is handed over and handed back, so that it needs no
    /// shared mutable state: recovery returns the state after the last entry, with what it found.
    ///
    /// If `apply` throws, recovery stops there and throws `JournalError.replayFailed` naming the entry's sequence
    /// (and `apply`'s error), leaving the store unchanged. If recovery throws anything, the state is not returned:
    /// the entries already applied were not a consistent state.
    func recover<State: Sendable>(
        into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async throws(JournalError) -> (State, JournalRecovery)
    /// Appends the entries (ascending, continuing the stored sequence) and returns only once they are durable
    /// (written and fsynced). One call is one group commit: all entries share one fsync.
    ///
    /// When it throws, the entries were not acknowledged as durable and a partly written batch is cut off again, so
    /// the caller may retry the same entries later (e.g. once the disk has space again). As with any failed write,
    /// a crash before the retry may still bring some of them back on recovery: they were never acknowledged, and a
    /// desk's resubmission of them is then an idempotent duplicate.
    func append(_ entries: [JournalEntry]) async throws(JournalError)
    /// Flushes and closes, and stops the store's threads. Further calls fail.
    func close() async throws(JournalError)
}

/// What a store shared by several hubs tells its hub about who writes (`SharedEventStore.coordinate`).
public enum StoreRoleEvent: Sendable, Equatable {
    /// Another hub leads (at `leader`, `host:port`, when it is known): this hub does not append, serves subscribers
    /// and queries, and sends desks to the leader. Also the first event, and the one after this hub lost the lead.
    case following(leader: String?)
    /// Entries another hub appended, continuing the sequence from the last entry this hub has.
    case entries([JournalEntry])
    /// A relay's upstream copy jumped to `through`: these records, each with the sequence of its latest change,
    /// from a snapshot (`whole`: no other contest has a record) or a conflated batch (only these changed).
    case copied([JournalEntry], through: UInt64, whole: Bool)
    /// This hub now leads: it has every entry stored before it took the lead, and only it may append from now on.
    case leading
}

/// A store that several hubs share (`PostgresEventStore`): one of them, the leader, appends; the others follow what
/// it appends. Who leads is the store's decision, never the hubs' own: a hub appends only while the store says so.
public protocol SharedEventStore: EventStore {
    /// After `recover`: follows the store from the last entry recovered, reporting to `report` one event at a time
    /// and waiting for each, until cancelled or closed. It first reports `.following`, then entries as other
    /// hubs append them, and `.leading` once this hub takes the lead; a leader that loses the lead (its database
    /// session ended) reports `.following` again and follows from the last entry it stored. `advertising` gives the
    /// address desks are sent to while this hub leads (known once the hub listens).
    func coordinate(
        advertising address: @escaping @Sendable () async throws -> String,
        _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws
}
