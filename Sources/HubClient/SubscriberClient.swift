import ElectionModel
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
}

/// A broadcaster's live copy of the results: connects as a subscriber, receives the snapshot, then delta batches,
/// each verified against the hub's checksum. On any disconnect it reconnects with backoff and resumes from the last
/// verified sequence number; a gap or a checksum mismatch is never skipped: the copy is rebuilt from a resume or a
/// fresh snapshot. Logs through the `Logger` it is given; prints nothing.
public struct SubscriberClient: Sendable {
    public var address: HubAddress
    public var name: String
    public var key: String
    public var filter: SubscriptionFilter
    public var group: any EventLoopGroup
    public var logger: Logger
    /// Backoff between reconnection attempts: doubles from `initialBackoff` up to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(5)

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
            let task = Task { await run(continuation) }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func run(_ continuation: AsyncThrowingStream<ReplicaUpdate, any Error>.Continuation) async {
        var replica = Replica()
        var resumePoint: UInt64?
        var election: Election?
        var failures = 0
        let hello = Hello(role: .subscriber, principal: name, secret: key, clientName: "HubClient")
        while !Task.isCancelled {
            do {
                try await HubSession.connect(host: address.host, port: address.port, hello: hello, group: group) {
                    session in
                    let current = try await Self.election(cached: election, session: &session)
                    election = current
                    session.useCompression(dictionary: ElectionDefinition(current).presetDictionary)
                    try await session.send(.subscribe(Subscribe(filter: filter, resumeFrom: resumePoint)))
                    // Heartbeats both ways (spec 6.11): a subscriber only receives, so it says it is alive at least
                    // once per interval, or the hub would drop it as idle while results stream in.
                    let heartbeatInterval = Duration.milliseconds(
                        Int64(max(session.welcome.heartbeatIntervalMillis, 100)))
                    var lastSent = ContinuousClock.now
                    logger.info(
                        "subscribed",
                        metadata: [
                            "hub.address": "\(address)",
                            "subscription.resumeFrom": "\(resumePoint.map(String.init) ?? "none")",
                        ])
                    while let message = try await session.receive() {
                        if ContinuousClock.now - lastSent >= heartbeatInterval {
                            try await session.send(.heartbeat(Heartbeat(sequence: replica.sequence)))
                            lastSent = ContinuousClock.now
                        }
                        switch message {
                        case .snapshot(let snapshot):
                            try replica.apply(snapshot)
                            resumePoint = replica.sequence
                            failures = 0
                            continuation.yield(
                                ReplicaUpdate(kind: .snapshot(snapshot.reason), replica: replica, election: current))
                        case .deltaBatch(let batch):
                            let changed = try replica.apply(batch)
                            resumePoint = replica.sequence
                            failures = 0
                            continuation.yield(
                                ReplicaUpdate(
                                    kind: .changes(changed, conflated: batch.conflated), replica: replica,
                                    election: current))
                        case .goodbye(let goodbye):
                            throw HubClientError.closedByHub(goodbye)
                        default:
                            continue
                        }
                    }
                }
                throw HubClientError.connectionLost
            } catch {
                if Task.isCancelled { break }
                if Self.isPermanent(error) {
                    continuation.finish(throwing: error)
                    return
                }
                switch error {
                case HubClientError.closedByHub(let goodbye) where goodbye.code == .invalidResume:
                    replica = Replica()
                    resumePoint = nil
                case let wire as WireError where wire.kind == .checksumMismatch:
                    // The copy cannot be trusted: start again from a snapshot.
                    logger.warning("checksum mismatch; taking a fresh snapshot", metadata: ["error": "\(wire)"])
                    replica = Replica()
                    resumePoint = nil
                default:
                    break
                }
                failures += 1
                let delay = min(maximumBackoff, initialBackoff * (1 << min(failures - 1, 16)))
                logger.info(
                    "connection lost; reconnecting",
                    metadata: [
                        "hub.address": "\(address)", "error": "\(error)", "retry.in": "\(delay)",
                        "resume.from": "\(resumePoint.map(String.init) ?? "snapshot")",
                    ])
                try? await Task.sleep(for: delay)
            }
        }
        continuation.finish()
    }

    /// Errors that reconnecting cannot fix.
    private static func isPermanent(_ error: any Error) -> Bool {
        switch error {
        case HubClientError.closedByHub(let goodbye): return goodbye.code == .authenticationFailed
        case HubClientError.unsupportedVersion: return true
        default: return error is ElectionMismatch
        }
    }

    /// The events after `sequence` up to `through`, from the hub's retained log (for showing what happened while a
    /// watcher was away). Their ranges are checked to be contiguous; their intermediate checksums cannot be, since
    /// the state at `sequence` is not held here. Throws if the hub no longer retains them.
    public func history(after sequence: UInt64, through last: UInt64) async throws -> [SequencedRecord] {
        guard sequence < last else { return [] }
        let hello = Hello(role: .subscriber, principal: name, secret: key, clientName: "HubClient")
        return try await HubSession.connect(host: address.host, port: address.port, hello: hello, group: group) {
            session in
            let election = try await Self.election(cached: nil, session: &session)
            session.useCompression(dictionary: ElectionDefinition(election).presetDictionary)
            try await session.send(.subscribe(Subscribe(filter: filter, resumeFrom: sequence)))
            var events: [SequencedRecord] = []
            var covered = sequence
            while covered < last, let message = try await session.receive() {
                switch message {
                case .deltaBatch(let batch):
                    guard batch.firstSequence == covered + 1 else {
                        throw WireError(
                            .sequenceGap, "history batch starts at \(batch.firstSequence), expected \(covered + 1)")
                    }
                    events += batch.events.filter { $0.sequence <= last }
                    covered = batch.lastSequence
                case .snapshot:
                    throw HistoryUnavailable(after: sequence)
                case .goodbye(let goodbye):
                    throw HubClientError.closedByHub(goodbye)
                default:
                    continue
                }
            }
            return events
        }
    }

    /// The hub's election: fetched once; on a reconnect, the hub must still serve the same one.
    private static func election(cached: Election?, session: inout HubSession) async throws -> Election {
        let digest = session.welcome.electionDigest
        if let cached, ElectionDefinition(cached).digest == digest { return cached }
        if cached != nil { throw ElectionMismatch() }
        try await session.send(.query(Query(requestID: 1, kind: .election)))
        while let message = try await session.receive() {
            guard case .election(let answer) = message else { continue }
            guard answer.digest == digest else { throw ElectionMismatch() }
            return try Election(definition: answer.definition)
        }
        throw HubClientError.connectionLost
    }
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
