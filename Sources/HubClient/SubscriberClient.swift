import ElectionModel
import Foundation
import HubWire
import Logging
import NIOCore
import NIOPosix

/// A change to the subscriber's copy of the results.
public struct ReplicaUpdate: Sendable {
    public enum Kind: Sendable {
        /// A whole new copy: the first snapshot, or a fresh one after the hub could not resume.
        case snapshot(SnapshotReason)
        /// The records changed by one batch, in sequence order.
        case changes([SequencedRecord], conflated: Bool)
    }

    public var kind: Kind
    /// The copy after the update, its checksum verified against the hub's.
    public var replica: Replica
    /// The election the copy is of (fetched from the hub once, checked against its digest).
    public var election: Election
    /// The hub serves a rehearsal: these results are test data, and a display must say so (spec 6.17).
    public var rehearsal: Bool
}

/// What happens to a subscription: its connection's state as well as its updates, for a display that must say
/// whether it is live.
public enum SubscriberEvent: Sendable {
    /// Connecting; `attempt` 1 is the first since the last successful connection.
    case connecting(attempt: Int)
    /// The hub answered the handshake and the subscription is being made (or resumed).
    case connected(Welcome)
    case update(ReplicaUpdate)
    /// Nothing has arrived from the hub since `since` (over two heartbeat intervals): the hub may be paused or
    /// unreachable. The connection is kept, so that a hub that comes back finds its subscriber still there.
    case silent(since: Date)
    /// Something arrived again after a silence.
    case heard
    /// The connection ended; the client connects again after `retryIn`.
    case disconnected(any Error, retryIn: Duration)
}

/// A broadcaster's live copy of the results: connects as a subscriber, receives the snapshot, then delta batches,
/// each verified against the hub's checksum. On any disconnect it reconnects with backoff and resumes from the last
/// verified sequence number; a gap or a checksum mismatch is never skipped: the copy is rebuilt from a resume or a
/// fresh snapshot. It sends a HEARTBEAT every heartbeat interval from WELCOME whether or not anything arrives, so that
/// a hub that pauses does not take its subscribers for idle. Logs through the `Logger` it is given; prints nothing.
public struct SubscriberClient: Sendable {
    public var address: HubAddress
    /// Other hubs serving the same store or upstream (spec 6.18): after a lost connection the client resumes at the
    /// next of `address` and these in turn, from the same sequence number (every hub of a cluster numbers alike).
    public var otherAddresses: [HubAddress] = []
    public var name: String
    public var key: String
    public var filter: SubscriptionFilter
    public var group: any EventLoopGroup
    public var logger: Logger
    /// Backoff between reconnection attempts: doubles from `initialBackoff` up to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(5)
    /// Bounds connecting, the handshake and fetching the election (then the client tries again), and the whole of
    /// `history` and `currentState`.
    public var timeout: Duration = .seconds(10)
    /// A connection that has heard nothing from the hub for this long is given up and made again.
    public var reconnectAfterSilence: Duration = .seconds(60)

    public init(
        address: HubAddress, name: String, key: String = "", filter: SubscriptionFilter = .all,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.address = address
        self.name = name
        self.key = key
        self.filter = filter
        self.group = group
        self.logger = logger
    }

    /// The updates, until the consumer stops iterating or the task is cancelled. Errors that reconnecting cannot
    /// fix (wrong key, unsupported version, a different election) end the sequence with that error.
    public func updates() -> AsyncThrowingStream<ReplicaUpdate, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                await run { event in
                    if case .update(let update) = event { continuation.yield(update) }
                } finish: {
                    continuation.finish(throwing: $0)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The updates and the connection's state, as `updates()` but with every connection event.
    public func events() -> AsyncThrowingStream<SubscriberEvent, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                await run {
                    continuation.yield($0)
                } finish: {
                    continuation.finish(throwing: $0)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private var hello: Hello { Hello(role: .subscriber, principal: name, secret: key, clientName: "HubClient") }

    private func run(
        _ emit: @escaping @Sendable (SubscriberEvent) -> Void, finish: @Sendable ((any Error)?) -> Void
    ) async {
        var replica = Replica()
        var resumePoint: UInt64?
        var election: Election?
        var failures = 0
        let addresses = [address] + otherAddresses
        var current = 0
        // Heartbeats both ways (spec 6.11), on the connection's timer: a subscriber only receives, so it says it is
        // alive once per interval whatever arrives, or the hub would drop it as idle. A long silence reconnects.
        let configuration = HubConnection.Configuration(
            connectTimeout: timeout, requestTimeout: timeout, giveUpAfterSilence: reconnectAfterSilence)
        while !Task.isCancelled {
            emit(.connecting(attempt: failures + 1))
            do {
                let address = addresses[current]
                try await HubConnection.connect(
                    to: address, hello: hello, configuration: configuration, group: group, logger: logger
                ) { connection, events in
                    emit(.connected(connection.welcome))
                    connection.setHeartbeatSequence(replica.sequence)
                    let current = try await Self.election(cached: election, connection: connection)
                    election = current
                    connection.useCompression(dictionary: ElectionDefinition(current).presetDictionary)
                    try await connection.send(.subscribe(Subscribe(filter: filter, resumeFrom: resumePoint)))
                    logger.info(
                        "subscribed",
                        metadata: [
                            "hub.address": "\(address)",
                            "subscription.resumeFrom": "\(resumePoint.map(String.init) ?? "none")",
                        ])
                    for try await event in events {
                        let message: HubMessage
                        switch event {
                        case .silent(let since):
                            emit(.silent(since: since))
                            continue
                        case .heard:
                            emit(.heard)
                            continue
                        case .message(let received, _):
                            message = received
                        }
                        switch message {
                        case .snapshot(let snapshot):
                            try replica.apply(snapshot)
                            resumePoint = replica.sequence
                            connection.setHeartbeatSequence(replica.sequence)
                            failures = 0
                            emit(
                                .update(
                                    ReplicaUpdate(
                                        kind: .snapshot(snapshot.reason), replica: replica, election: current,
                                        rehearsal: connection.welcome.rehearsal || snapshot.rehearsal)))
                        case .deltaBatch(let batch):
                            let changed = try replica.apply(batch)
                            resumePoint = replica.sequence
                            connection.setHeartbeatSequence(replica.sequence)
                            failures = 0
                            emit(
                                .update(
                                    ReplicaUpdate(
                                        kind: .changes(changed, conflated: batch.conflated), replica: replica,
                                        election: current, rehearsal: connection.welcome.rehearsal || batch.rehearsal)))
                        case .goodbye(let goodbye):
                            throw HubClientError.closedByHub(goodbye)
                        default:
                            failures = 0
                            continue
                        }
                    }
                }
                throw HubClientError.connectionLost
            } catch {
                if Task.isCancelled { break }
                if Self.isPermanent(error) {
                    finish(error)
                    return
                }
                switch error {
                case HubClientError.closedByHub(let goodbye) where goodbye.code == .invalidResume:
                    replica = Replica()
                    resumePoint = nil
                case let mismatch as ReplicaError where mismatch.kind == .checksumMismatch:
                    // The copy cannot be trusted: start again from a snapshot.
                    logger.warning("checksum mismatch; taking a fresh snapshot", metadata: ["error": "\(mismatch)"])
                    replica = Replica()
                    resumePoint = nil
                default:
                    break
                }
                failures += 1
                let delay = min(maximumBackoff, initialBackoff * (1 << min(failures - 1, 16)))
                let lost = addresses[current]
                current = (current + 1) % addresses.count
                logger.info(
                    "connection lost; reconnecting",
                    metadata: [
                        "hub.address": "\(lost)", "hub.next": "\(addresses[current])", "error": "\(error)",
                        "retry.in": "\(delay)",
                        "resume.from": "\(resumePoint.map(String.init) ?? "snapshot")",
                    ])
                emit(.disconnected(error, retryIn: delay))
                try? await Task.sleep(for: delay)
            }
        }
        finish(nil)
    }

    /// Errors that reconnecting cannot fix.
    private static func isPermanent(_ error: any Error) -> Bool {
        switch error {
        case HubClientError.closedByHub(let goodbye):
            return goodbye.code == .authenticationFailed || goodbye.code == .notThisProtocol
        case HubClientError.unsupportedVersion, HubClientError.tls: return true
        default: return error is ElectionMismatch
        }
    }

    /// The events after `sequence` up to `through`, from the hub's retained log (for showing what happened while a
    /// watcher was away). Their ranges are checked to be contiguous; their intermediate checksums cannot be, since
    /// the state at `sequence` is not held here. Throws if the hub no longer retains them. Bounded by `timeout`.
    public func history(after sequence: UInt64, through last: UInt64) async throws -> [SequencedRecord] {
        guard sequence < last else { return [] }
        return try await oneOff(waitingFor: "the events after \(sequence)") { connection, events in
            let election = try await Self.election(cached: nil, connection: connection)
            connection.useCompression(dictionary: ElectionDefinition(election).presetDictionary)
            try await connection.send(.subscribe(Subscribe(filter: filter, resumeFrom: sequence)))
            var records: [SequencedRecord] = []
            var covered = sequence
            for try await event in events {
                guard case .message(let message, _) = event else { continue }
                switch message {
                case .deltaBatch(let batch):
                    guard batch.firstSequence == covered + 1 else {
                        throw ReplicaError(
                            .sequenceGap, "history batch starts at \(batch.firstSequence), expected \(covered + 1)")
                    }
                    records += batch.events.filter { $0.sequence <= last }
                    covered = batch.lastSequence
                case .snapshot:
                    throw HistoryUnavailable(after: sequence)
                case .goodbye(let goodbye):
                    throw HubClientError.closedByHub(goodbye)
                default:
                    continue
                }
                if covered >= last { return records }
            }
            throw HubClientError.connectionLost
        }
    }

    /// The hub's current results, verified, for a one-off listing. When the hub still retains every event it
    /// replays them from the start, so that each contest's latest sequence number is known (`sequences`); otherwise
    /// it sends a snapshot, which has none. Bounded by `timeout`.
    public func currentState() async throws -> CurrentState {
        try await oneOff(waitingFor: "the current results") { connection, events in
            let election = try await Self.election(cached: nil, connection: connection)
            let latest = connection.welcome.latestSequence
            var replica = Replica()
            var sequences: [ContestID: UInt64]? = [:]
            // Nothing has happened yet, and the hub answers nothing to a resume from its latest sequence.
            let rehearsal = connection.welcome.rehearsal
            guard latest > 0 else {
                return CurrentState(election: election, replica: replica, sequences: [:], rehearsal: rehearsal)
            }
            connection.useCompression(dictionary: ElectionDefinition(election).presetDictionary)
            try await connection.send(.subscribe(Subscribe(filter: filter, resumeFrom: 0)))
            for try await event in events {
                guard case .message(let message, _) = event else { continue }
                switch message {
                case .deltaBatch(let batch):
                    for event in try replica.apply(batch) {
                        sequences?[event.record.contestID] = event.sequence
                    }
                case .snapshot(let snapshot):
                    try replica.apply(snapshot)
                    sequences = nil
                case .goodbye(let goodbye):
                    throw HubClientError.closedByHub(goodbye)
                default:
                    continue
                }
                if replica.sequence >= latest {
                    return CurrentState(
                        election: election, replica: replica, sequences: sequences, rehearsal: rehearsal)
                }
            }
            throw HubClientError.connectionLost
        }
    }

    /// A connection for one answer: connecting and the handshake bounded by `timeout`, and then the whole of `body`
    /// by `timeout` again. It heartbeats on its timer meanwhile, so that a slow answer is not taken for idleness.
    private func oneOff<T: Sendable>(
        waitingFor what: String, _ body: (HubConnection, HubConnection.Events) async throws -> T
    ) async throws -> T {
        try await HubConnection.connect(
            to: address, hello: hello, configuration: HubConnection.Configuration(connectTimeout: timeout),
            group: group,
            logger: logger
        ) { connection, events in
            try await connection.deadline(timeout).bound(address: address, waitingFor: what) {
                try await body(connection, events)
            }
        }
    }

    /// The hub's election: fetched once; on a reconnect, the hub must still serve the same one. Its details (the
    /// compositions before) may have changed across a restart: then the definition is fetched again (spec 1.1).
    private static func election(cached: Election?, connection: HubConnection) async throws -> Election {
        let digest = connection.welcome.electionDigest
        if let cached {
            let definition = ElectionDefinition(cached)
            guard definition.digest == digest else { throw ElectionMismatch() }
            let details = connection.welcome.definitionDigest
            if details == nil || details == definition.definitionDigest { return cached }
        }
        guard
            case .election(let answer) = try await connection.request({ .query(Query(requestID: $0, kind: .election)) })
        else {
            throw HubClientError.unexpected("not an ELECTION")
        }
        guard answer.digest == digest else { throw ElectionMismatch() }
        return try Election(definition: answer.definition)
    }
}

/// The hub's results at one point, as `SubscriberClient.currentState()` found them.
public struct CurrentState: Sendable {
    public var election: Election
    /// The verified copy; `replica.sequence` is the point it reflects.
    public var replica: Replica
    /// Each contest's latest sequence number, when the hub could replay every event (nil after a snapshot).
    public var sequences: [ContestID: UInt64]?
    /// The hub serves a rehearsal: these results are test data (spec 6.17).
    public var rehearsal: Bool
}

/// The hub no longer keeps the events after this sequence number.
public struct HistoryUnavailable: Error, CustomStringConvertible {
    public var after: UInt64
    public var description: String { "the hub no longer retains the events after sequence \(after)" }
}

/// The hub now serves a different election than the copy was made of.
public struct ElectionMismatch: Error, CustomStringConvertible {
    public var description: String { "the hub serves a different election than this copy was built from" }
}
