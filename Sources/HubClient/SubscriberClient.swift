import ElectionModel
import Foundation
import HubWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

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
        while !Task.isCancelled {
            emit(.connecting(attempt: failures + 1))
            do {
                try await HubSession.connect(
                    host: address.host, port: address.port, hello: hello, group: group, timeout: timeout
                ) { session in
                    emit(.connected(session.welcome))
                    let deadline = session.link.deadline(timeout)
                    let current = try await deadline.bound(address: address, waitingFor: "the ELECTION definition") {
                        try await Self.election(cached: election, session: &session)
                    }
                    election = current
                    session.useCompression(dictionary: ElectionDefinition(current).presetDictionary)
                    try await session.send(.subscribe(Subscribe(filter: filter, resumeFrom: resumePoint)))
                    logger.info(
                        "subscribed",
                        metadata: [
                            "hub.address": "\(address)",
                            "subscription.resumeFrom": "\(resumePoint.map(String.init) ?? "none")",
                        ])
                    // Heartbeats both ways (spec 6.11), on a timer: a subscriber only receives, so it says it is alive
                    // once per interval whatever arrives, or the hub would drop it as idle.
                    let liveness = Liveness(sequence: replica.sequence)
                    let (interval, link) = (session.heartbeatInterval, session.link)
                    let ticker = Task { [reconnectAfterSilence] in
                        await liveness.tick(
                            every: interval, link: link, reconnectAfter: reconnectAfterSilence, emit: emit)
                    }
                    defer { ticker.cancel() }
                    while let message = try await session.receive() {
                        if liveness.heard() { emit(.heard) }
                        switch message {
                        case .snapshot(let snapshot):
                            try replica.apply(snapshot)
                            resumePoint = replica.sequence
                            liveness.applied(replica.sequence)
                            failures = 0
                            emit(
                                .update(
                                    ReplicaUpdate(
                                        kind: .snapshot(snapshot.reason), replica: replica, election: current)))
                        case .deltaBatch(let batch):
                            let changed = try replica.apply(batch)
                            resumePoint = replica.sequence
                            liveness.applied(replica.sequence)
                            failures = 0
                            emit(
                                .update(
                                    ReplicaUpdate(
                                        kind: .changes(changed, conflated: batch.conflated), replica: replica,
                                        election: current)))
                        case .goodbye(let goodbye):
                            throw HubClientError.closedByHub(goodbye)
                        default:
                            failures = 0
                            continue
                        }
                    }
                    if liveness.gaveUp {
                        throw HubClientError.timedOut(
                            address: "\(address)", waitingFor: "anything at all", after: reconnectAfterSilence)
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
                emit(.disconnected(error, retryIn: delay))
                try? await Task.sleep(for: delay)
            }
        }
        finish(nil)
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
    /// the state at `sequence` is not held here. Throws if the hub no longer retains them. Bounded by `timeout`.
    public func history(after sequence: UInt64, through last: UInt64) async throws -> [SequencedRecord] {
        guard sequence < last else { return [] }
        return try await HubSession.connect(
            host: address.host, port: address.port, hello: hello, group: group, timeout: timeout
        ) { session in
            let deadline = session.link.deadline(timeout)
            return try await deadline.bound(address: address, waitingFor: "the events after \(sequence)") {
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
                guard covered >= last else { throw HubClientError.connectionLost }
                return events
            }
        }
    }

    /// The hub's current results, verified, for a one-off listing. When the hub still retains every event it
    /// replays them from the start, so that each contest's latest sequence number is known (`sequences`); otherwise
    /// it sends a snapshot, which has none. Bounded by `timeout`.
    public func currentState() async throws -> CurrentState {
        try await HubSession.connect(
            host: address.host, port: address.port, hello: hello, group: group, timeout: timeout
        ) { session in
            let deadline = session.link.deadline(timeout)
            return try await deadline.bound(address: address, waitingFor: "the current results") {
                let election = try await Self.election(cached: nil, session: &session)
                let latest = session.welcome.latestSequence
                var replica = Replica()
                var sequences: [ContestID: UInt64]? = [:]
                // Nothing has happened yet, and the hub answers nothing to a resume from its latest sequence.
                guard latest > 0 else { return CurrentState(election: election, replica: replica, sequences: [:]) }
                session.useCompression(dictionary: ElectionDefinition(election).presetDictionary)
                try await session.send(.subscribe(Subscribe(filter: filter, resumeFrom: 0)))
                while replica.sequence < latest, let message = try await session.receive() {
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
                }
                guard replica.sequence >= latest else { throw HubClientError.connectionLost }
                return CurrentState(election: election, replica: replica, sequences: sequences)
            }
        }
    }

    /// The hub's election: fetched once; on a reconnect, the hub must still serve the same one. Its details (the
    /// compositions before) may have changed across a restart: then the definition is fetched again (spec 1.1).
    private static func election(cached: Election?, session: inout HubSession) async throws -> Election {
        let digest = session.welcome.electionDigest
        if let cached {
            let definition = ElectionDefinition(cached)
            guard definition.digest == digest else { throw ElectionMismatch() }
            let details = session.welcome.definitionDigest
            if details == nil || details == definition.definitionDigest { return cached }
        }
        try await session.send(.query(Query(requestID: 1, kind: .election)))
        while let message = try await session.receive() {
            switch message {
            case .election(let answer):
                guard answer.digest == digest else { throw ElectionMismatch() }
                return try Election(definition: answer.definition)
            case .goodbye(let goodbye):
                throw HubClientError.closedByHub(goodbye)
            default:
                continue
            }
        }
        throw HubClientError.connectionLost
    }
}

/// The hub's results at one point, as `SubscriberClient.currentState()` found them.
public struct CurrentState: Sendable {
    public var election: Election
    /// The verified copy; `replica.sequence` is the point it reflects.
    public var replica: Replica
    /// Each contest's latest sequence number, when the hub could replay every event (nil after a snapshot).
    public var sequences: [ContestID: UInt64]?
}

/// What the heartbeat timer and the reader share: when the hub was last heard, and the last sequence applied.
private final class Liveness: Sendable {
    private struct State {
        var lastHeard = ContinuousClock.now
        var lastHeardDate = Date()
        var silent = false
        var gaveUp = false
        var sequence: UInt64
    }
    private let state: Mutex<State>

    init(sequence: UInt64) { state = Mutex(State(sequence: sequence)) }

    /// Something arrived; true when it ends a silence that was reported.
    func heard() -> Bool {
        state.withLock { state in
            state.lastHeard = .now
            state.lastHeardDate = Date()
            let wasSilent = state.silent
            state.silent = false
            return wasSilent
        }
    }

    func applied(_ sequence: UInt64) { state.withLock { $0.sequence = sequence } }

    var gaveUp: Bool { state.withLock { $0.gaveUp } }

    /// Every interval: a HEARTBEAT with the last sequence applied; a silence of two intervals is reported, and one
    /// of `reconnectAfter` closes the connection so that the reader reconnects.
    func tick(
        every interval: Duration?, link: SessionLink, reconnectAfter: Duration,
        emit: @Sendable (SubscriberEvent) -> Void
    ) async {
        let interval = interval ?? reconnectAfter / 4
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
                try await link.sendHeartbeat(sequence: state.withLock { $0.sequence })
            } catch {
                return
            }
            enum Verdict {
                case fine
                case silent(Date)
                case giveUp
            }
            let verdict: Verdict = state.withLock {
                let quiet = ContinuousClock.now - $0.lastHeard
                if quiet >= reconnectAfter {
                    $0.gaveUp = true
                    return .giveUp
                }
                if quiet >= interval * 2 && !$0.silent {
                    $0.silent = true
                    return .silent($0.lastHeardDate)
                }
                return .fine
            }
            switch verdict {
            case .fine: continue
            case .silent(let since): emit(.silent(since: since))
            case .giveUp:
                link.close()
                return
            }
        }
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
