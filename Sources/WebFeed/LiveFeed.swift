import ElectionModel
import Foundation
import HubWire
import NIOCore
import Synchronization

/// The state of results-web's own subscription to the hub, as the page shows it.
public enum FeedStatus: Hashable, Sendable {
    /// Verified updates are arriving (or the hub is quiet but heard from).
    case live
    /// Not connected to the hub: connecting for the first time or again, since the given time.
    case reconnecting(since: Date)
    /// Connected, but nothing heard from the hub since the given time.
    case silent(since: Date)

    var json: ByteBuffer {
        var object = JSONObjectWriter(capacity: 64)
        switch self {
        case .live:
            object.field("since", raw: "null")
            object.field("state", raw: "\"live\"")
        case .reconnecting(let since):
            object.field("since", raw: "\"\(since.ISO8601Format())\"")
            object.field("state", raw: "\"reconnecting\"")
        case .silent(let since):
            object.field("since", raw: "\"\(since.ISO8601Format())\"")
            object.field("state", raw: "\"silent\"")
        }
        return object.finish()
    }
}

/// One client's events, until it is dropped, ended, or the feed closes.
public struct Subscription: AsyncSequence, Sendable {
    public typealias Element = WebEvent
    let id: UInt64
    let events: AsyncStream<WebEvent>

    public func makeAsyncIterator() -> AsyncStream<WebEvent>.Iterator { events.makeAsyncIterator() }
}

/// Why a client cannot have a stream.
public enum LiveFeedError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `Limits.maxClients` are connected.
    case tooManyClients(limit: Int)
    /// results-web is shutting down.
    case closed

    public var description: String {
        switch self {
        case .tooManyClients(let limit):
            return "results-web serves \(limit) streams at most (--max-clients), and has that many: try again shortly"
        case .closed: return "results-web is shutting down"
        }
    }
}

/// The live results shared by every browser: one writer (the hub subscription) applies updates to `LiveResults`;
/// each change's JSON is encoded once and the same bytes are queued for every client. A client's queue is bounded:
/// a client that does not keep up is dropped (its stream ends, and the browser reconnects and resumes from its last
/// event id), never the hub and never the other clients.
public final class LiveFeed: Sendable {
    public struct Limits: Sendable {
        /// Events queued for one client before it is dropped as too slow.
        public var eventsPerClient: Int
        public var maxClients: Int
        public var history: EventHistory.Limits
        public init(eventsPerClient: Int = 1024, maxClients: Int = 10_000, history: EventHistory.Limits = .init()) {
            self.eventsPerClient = eventsPerClient
            self.maxClients = maxClients
            self.history = history
        }
    }

    public struct Statistics: Hashable, Sendable {
        public var clients: Int
        /// Clients dropped because their queue was full.
        public var droppedSlowClients: Int
        public var sequence: UInt64
    }

    /// A client's queue, and how to cut its connection: a client whose writes block would otherwise never see its
    /// stream end.
    private struct Client {
        var continuation: AsyncStream<WebEvent>.Continuation
        var disconnect: @Sendable () -> Void

        func drop() {
            continuation.finish()
            disconnect()
        }
    }

    private struct State {
        /// Nil until the first snapshot brings the election and its results.
        var results: LiveResults?
        var feed: FeedStatus
        var clients: [UInt64: Client] = [:]
        var nextClientID: UInt64 = 0
        var droppedSlowClients = 0
        var closed = false
    }

    public let limits: Limits
    private let state: Mutex<State>

    public init(limits: Limits = .init(), now: Date = Date()) {
        self.limits = limits
        state = Mutex(State(feed: .reconnecting(since: now)))
    }

    /// A new client's events: the feed status, then the events after `lastEventID` when they are all held (a
    /// resume), or else the whole state (once there is one); then every event as it happens. When the client falls
    /// `Limits.eventsPerClient` events behind, or the feed closes, its stream ends and `disconnect` is called (it
    /// closes the connection, which a client that does not read would otherwise keep blocked).
    public func subscribe(lastEventID: UInt64?, disconnect: @escaping @Sendable () -> Void = {})
        throws(LiveFeedError) -> Subscription
    {
        let (stream, continuation) = AsyncStream.makeStream(
            of: WebEvent.self, bufferingPolicy: .bufferingOldest(limits.eventsPerClient))
        let limits = self.limits
        let id = try state.withLock { state throws(LiveFeedError) -> UInt64 in
            guard !state.closed else { throw .closed }
            guard state.clients.count < limits.maxClients else { throw .tooManyClients(limit: limits.maxClients) }
            let id = state.nextClientID
            state.nextClientID += 1
            continuation.yield(WebEvent(kind: .feed, id: nil, data: state.feed.json))
            if let results = state.results {
                let resumed = lastEventID.flatMap { results.events(after: $0, limit: limits.eventsPerClient - 1) }
                for event in resumed ?? [results.resyncEvent()] { continuation.yield(event) }
            }
            state.clients[id] = Client(continuation: continuation, disconnect: disconnect)
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.clients.removeValue(forKey: id) }
        }
        return Subscription(id: id, events: stream)
    }

    /// Ends a client's stream: its connection closed (a stream only notices that when it next writes).
    public func end(_ subscription: Subscription) {
        let client = state.withLock { $0.clients.removeValue(forKey: subscription.id) }
        client?.continuation.finish()
    }

    /// A whole new copy from the hub, of `election`.
    public func replaceAll(
        election: Election, records: some Sequence<ContestRecord>, sequence: UInt64, checksum: UInt64 = 0,
        rehearsal: Bool
    ) {
        let historyLimits = limits.history
        publish { state in
            if state.results?.election.id != election.id {
                state.results = LiveResults(election: election, historyLimits: historyLimits)
            }
            return [
                state.results!.replaceAll(with: records, sequence: sequence, checksum: checksum, rehearsal: rehearsal)
            ]
        }
    }

    /// One verified batch from the hub, continuing from the last snapshot or batch.
    public func apply(_ changes: [SequencedRecord], through sequence: UInt64, checksum: UInt64 = 0) {
        publish { state in state.results?.apply(changes, through: sequence, checksum: checksum) ?? [] }
    }

    /// The hub connection's state changed, or it is time to say it again (the page takes a feed that says nothing
    /// for a while as stale).
    public func setStatus(_ status: FeedStatus) {
        publish { state in
            state.feed = status
            return [WebEvent(kind: .feed, id: nil, data: status.json)]
        }
    }

    /// Ends every client's stream, and refuses new ones: results-web is shutting down. The streams end cleanly (a
    /// client that reads sees the end of the answer); the returned closure cuts the connections, for the caller to
    /// call once the clients have had a moment: one that does not read would otherwise hold the shutdown.
    @discardableResult
    public func close() -> @Sendable () -> Void {
        let clients = state.withLock { state in
            state.closed = true
            defer { state.clients.removeAll() }
            return Array(state.clients.values)
        }
        for client in clients { client.continuation.finish() }
        return { for client in clients { client.disconnect() } }
    }

    public var status: FeedStatus { state.withLock { $0.feed } }

    /// Reads the current results (the JSON API's bodies); nil before the first snapshot.
    public func read<T: Sendable>(_ body: (borrowing LiveResults) -> T) -> T? {
        state.withLock { state in state.results.map { body($0) } }
    }

    public var statistics: Statistics {
        state.withLock {
            Statistics(
                clients: $0.clients.count, droppedSlowClients: $0.droppedSlowClients,
                sequence: $0.results?.sequence ?? 0)
        }
    }

    /// Applies a change under the lock and queues its events for every client, in order. Clients whose queue is full
    /// are removed under the lock and dropped after it (finishing runs their termination handler, which locks).
    private func publish(_ change: (inout State) -> [WebEvent]) {
        let dropped = state.withLock { state -> [Client] in
            let events = change(&state)
            guard !events.isEmpty else { return [] }
            var dropped: [Client] = []
            for (id, client) in state.clients {
                for event in events {
                    if case .dropped = client.continuation.yield(event) {
                        state.clients.removeValue(forKey: id)
                        dropped.append(client)
                        break
                    }
                }
            }
            state.droppedSlowClients += dropped.count
            return dropped
        }
        for client in dropped { client.drop() }
    }
}
