import ElectionModel
import HubClient
import HubJournal
import HubWire
import Logging

/// A relay hub's store: nothing of its own on disk; its events are its upstream hub's, copied through a subscription
/// whose every batch the client library verified against the upstream's checksum. It never appends: desks are sent
/// upstream (spec 6.18). Relays chain: a relay's upstream may be another relay.
public actor UpstreamStore: SharedEventStore {
    private let client: SubscriberClient
    /// The `host:port` desks are sent to.
    private let upstream: String
    private let logger: Logger
    private var closed = false

    public init(client: SubscriberClient, upstream: String, logger: Logger) {
        self.client = client
        self.upstream = upstream
        self.logger = logger
    }

    /// Nothing is stored here: the state comes from the upstream's first snapshot, reported by `coordinate`.
    public func recover<State: Sendable>(
        into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async throws(JournalError) -> (State, JournalRecovery) {
        guard !closed else { throw .closed }
        return (state, JournalRecovery(entryCount: 0, truncatedBytes: 0))
    }

    public func append(_ entries: [JournalEntry]) async throws(JournalError) {
        throw .writeFailed("a relay stores nothing: desks submit upstream at \(upstream)")
    }

    public func close() async throws(JournalError) {
        closed = true
    }

    /// The upstream's first copy, then `.following` the upstream, then every verified change: a batch that
    /// continues the copy event by event as entries, anything else (a conflated batch, a fresh snapshot) as a copy.
    public func coordinate(
        advertising address: @escaping @Sendable () async throws -> String,
        _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws {
        var latest: UInt64 = 0
        var following = false
        for try await update in client.updates() {
            let replica = update.replica
            switch update.kind {
            case .snapshot(let reason):
                let copied = replica.records.values.map { JournalEntry(sequence: replica.sequence, record: $0) }
                await report(
                    .copied(
                        copied.sorted { $0.record.contestID < $1.record.contestID }, through: replica.sequence,
                        whole: true))
                logger.info(
                    "relaying a copy of the upstream",
                    metadata: [
                        "upstream": "\(upstream)", "upstream.sequence": "\(replica.sequence)", "reason": "\(reason)",
                    ])
            case .changes(let records, let conflated):
                let continues =
                    !conflated && records.first?.sequence == latest + 1
                    && zip(records, records.dropFirst()).allSatisfy { $0.sequence + 1 == $1.sequence }
                    && records.last?.sequence == replica.sequence
                let entries = records.map { JournalEntry(sequence: $0.sequence, record: $0.record) }
                await report(continues ? .entries(entries) : .copied(entries, through: replica.sequence, whole: false))
            }
            latest = replica.sequence
            if !following {
                following = true
                await report(.following(leader: upstream))
            }
        }
    }
}
