import ElectionModel
import HubWire
import NIOCore

/// A connected, authenticated client, as the machine knows it: a number the server chose.
public struct PeerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (lhs: PeerID, rhs: PeerID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "\(rawValue)" }
}

/// The desk an authenticated desk connection belongs to, and a number that changes whenever that desk's token (or
/// regions) change in the desk directory, so that a rotation closes the connections let in with the old one.
public struct DeskCredentialStamp: Hashable, Sendable {
    public var deskID: String
    public var credential: UInt64
    public init(deskID: String, credential: UInt64) {
        self.deskID = deskID
        self.credential = credential
    }
}

/// A desk whose connections must close: revoked (`keeping` nil), or given a new credential (`keeping` it: only
/// connections let in with another one close).
public struct DeskRevocation: Hashable, Sendable {
    public var deskID: String
    public var reason: String
    public var keeping: UInt64?
    public init(deskID: String, reason: String, keeping: UInt64?) {
        self.deskID = deskID
        self.reason = reason
        self.keeping = keeping
    }
}

/// The hub as a state machine: the state, the event log, every subscriber's flow, and the commit phase with its
/// queues. Inputs go in as method calls; what the hub must do comes out as `HubMachine.Action`s, which the server
/// carries out (writes, closes, appends to the store) and reports back (`commitSucceeded`, `written`). It does no
/// I/O and reads no clock, so the same inputs always give the same actions, and every rule is tested with plain
/// values (`Tests/HubCoreTests/HubMachineTests.swift`). Not `Sendable`: it holds the compressors' zlib streams,
/// so it has one owner (the server's engine). Recovery builds a `Recovery` value, which is.
///
/// Commit cycle: submissions are decided at once against the state, and the events they create are handed out in
/// one `append`; submissions that arrive while it is in flight queue up and form the next commit the moment it is
/// reported (no timer, so an idle hub commits a lone submission at once). Subscriptions and queries are answered
/// between commits, when the state equals what is durable, so that nobody ever sees an event that could still be
/// lost. A failed commit is reverted as if it never happened.
public struct HubMachine {
    public struct Configuration: Sendable {
        public var election: Election
        /// Events kept for resumes (`EventLog`); older resume points get a snapshot.
        public var retainedEvents: Int
        /// Revisions remembered for idempotent retries (`HubState`).
        public var retainedRevisions: Int
        /// Bytes a subscriber may have waiting in its socket before it is switched to conflation.
        public var subscriberByteLimit: Int
        /// How long a subscriber may stay conflating before it is dropped.
        public var stallTimeoutNanos: UInt64
        /// Resumes that missed more events than this get a snapshot instead: a long absence is cheaper to repair
        /// with a snapshot than with every event missed.
        public var maxResumeEvents: Int
        /// A rehearsal's hub: every message that carries results is marked as test data (spec 6.17).
        public var rehearsal: Bool

        public init(
            election: Election, retainedEvents: Int = 200_000, retainedRevisions: Int = 1_000_000,
            subscriberByteLimit: Int = 1 << 20, stallTimeoutNanos: UInt64 = 30_000_000_000,
            maxResumeEvents: Int = WireLimits.maxResumeReplayEvents, rehearsal: Bool = false
        ) {
            self.election = election
            self.retainedEvents = retainedEvents
            self.retainedRevisions = retainedRevisions
            self.subscriberByteLimit = subscriberByteLimit
            self.stallTimeoutNanos = stallTimeoutNanos
            self.maxResumeEvents = maxResumeEvents
            self.rehearsal = rehearsal
        }
    }

    /// A SUBMIT or WITHDRAW from a desk, decoded and authenticated.
    public struct Submission: Hashable, Sendable {
        public enum Kind: Hashable, Sendable {
            case declaration(Declaration)
            case withdrawal(Withdrawal)
        }
        public var peer: PeerID
        public var desk: DeskIdentity
        public var requestID: UInt64
        public var kind: Kind
        /// When the hub read it, in the server's clock (nanoseconds): the start of its ack latency.
        public var receivedNanos: UInt64

        public init(peer: PeerID, desk: DeskIdentity, requestID: UInt64, kind: Kind, receivedNanos: UInt64 = 0) {
            self.peer = peer
            self.desk = desk
            self.requestID = requestID
            self.kind = kind
            self.receivedNanos = receivedNanos
        }

        var contestID: ContestID {
            switch kind {
            case .declaration(let declaration): return declaration.contestID
            case .withdrawal(let withdrawal): return withdrawal.contestID
            }
        }
    }

    public enum Action: Sendable {
        /// Make these events durable (one group commit), then report `commitSucceeded` or `commitFailed`. There is
        /// never more than one in flight.
        case append([HubEvent])
        /// Write these frames to the peer (answers; not counted against a subscriber's flow).
        case send(ByteBuffer, to: PeerID)
        /// Write this frame, encoded once, to each of these subscribers, and report `written` for each once its
        /// socket has taken it.
        case deliver(ByteBuffer, to: [PeerID])
        /// Write this GOODBYE and close the connection (after a grace period if the peer does not read).
        case close(PeerID, goodbye: ByteBuffer)
        /// Something an operator should read in the log, or count.
        case notice(Notice)
        /// Shutdown is complete: everything acked is durable and every peer was told.
        case stopped
    }

    public enum Notice: Hashable, Sendable {
        case subscribed(PeerID, filter: SubscriptionFilter, resumeFrom: UInt64?, sequence: UInt64)
        case caughtUp(PeerID, first: UInt64, last: UInt64, events: Int)
        case droppedStalledSubscriber(PeerID, pendingBytes: Int)
        /// A commit failed; `decision` says whether to log it (a run of failures is summarised).
        case storeFailed(events: Int, error: String, decision: RepeatedFailureLog.Decision)
        case storeRecovered(afterFailures: Int)
        /// Events another hub stored would not apply (the shared store holds what this election cannot): this hub's
        /// copy stops at the last one that did.
        case replicationFailed(String)
        /// Submissions answered, for the server's metrics.
        case answered(Answers)
    }

    /// How a group of submissions was answered.
    public struct Answers: Hashable, Sendable {
        /// For each new event acked: nanoseconds from when the hub read its submission to when it was durable.
        public var ackLatenciesNanos: [UInt64] = []
        /// Acked as duplicates of an event already stored.
        public var duplicates = 0
        /// Rejected, with the code of each.
        public var rejected: [ErrorCode] = []

        public init(ackLatenciesNanos: [UInt64] = [], duplicates: Int = 0, rejected: [ErrorCode] = []) {
            self.ackLatenciesNanos = ackLatenciesNanos
            self.duplicates = duplicates
            self.rejected = rejected
        }
    }

    /// Whether this hub stores submissions, or serves what another hub stores.
    public enum Role: Hashable, Sendable {
        /// Stores submissions: a hub on its own, or the leader of hubs sharing one store.
        case leader
        /// Serves subscribers and queries with events another hub stored (`replicated`), and sends desks to that
        /// hub: `leader` is its `host:port` when known (spec 6.18).
        case follower(leader: String?)
    }

    public let configuration: Configuration
    public private(set) var role: Role
    public private(set) var state: HubState
    public private(set) var log: EventLog
    /// The latest sequence number that is durable (what heartbeats and goodbyes report).
    public private(set) var durableSequence: UInt64
    public let definition: ElectionDefinition
    /// One codec per compression format, so that each batch is compressed once per format.
    private let codecs: Codecs

    private var peers: [PeerID: Peer] = [:]
    private var subscribers: [PeerID: Subscriber] = [:]
    /// Subscribers grouped by what they receive, in the order the groups formed, so that fan-out encodes each batch
    /// once per group and the order of actions does not depend on hashing.
    private var groups: [FanOutGroup] = []
    private var commitInFlight: Commit?
    private var queued: [Submission] = []
    /// Work that must wait until the state equals what is durable.
    private var deferred: [Deferred] = []
    /// Events another hub stored, reported while this hub's own commit was in flight (a leader stepping down):
    /// applied once that commit is decided.
    private var pendingReplicated: [(sequence: UInt64, record: ContestRecord)] = []
    /// A follower's subscribers resuming from further than it has read (they came from a hub that was ahead):
    /// started once it gets there, or sent `invalidResume` by the second `tick` (`seenByTick`) if it never does.
    private var awaitingResumes: [(peer: PeerID, subscription: Subscribe, seenByTick: Bool)] = []
    private var shuttingDown = false
    private var storeFailures = RepeatedFailureLog(intervalNanos: 10_000_000_000)

    private struct Peer: Sendable {
        var compression: CompressionFormat
        /// For a desk: which desk, and the credential it was let in with.
        var desk: DeskCredentialStamp?
    }

    private struct Subscriber: Sendable {
        var filter: SubscriptionFilter
        var compression: CompressionFormat
        var flow: SubscriberFlow
    }

    private struct FanOutGroup: Sendable {
        var filter: SubscriptionFilter
        var compression: CompressionFormat
        var members: [PeerID]
    }

    private struct Commit: Sendable {
        var events: [HubEvent]
        /// With when each submission was read, for its ack latency.
        var acks: [(peer: PeerID, ack: Ack, receivedNanos: UInt64)]
        /// Rejections decided against an event of this same commit: true only if the commit succeeds.
        var heldRejects: [(PeerID, Reject)]
    }

    private enum Deferred: Sendable {
        case subscribe(PeerID, Subscribe)
        case query(PeerID, Query)
        case shutdown
    }

    private struct Codecs {
        let plain = FrameCodec()
        let zlib: FrameCodec
        let deflate: FrameCodec

        init(dictionary: [UInt8]) {
            zlib = FrameCodec(format: .zlib, dictionary: dictionary)
            deflate = FrameCodec(format: .deflate, dictionary: dictionary)
        }

        subscript(format: CompressionFormat) -> FrameCodec {
            switch format {
            case .none: return plain
            case .zlib: return zlib
            case .deflate: return deflate
            }
        }
    }

    public init(configuration: Configuration, role: Role = .leader) {
        self.init(recovered: Recovery(configuration: configuration), role: role)
    }

    /// Starts from what recovery rebuilt: everything in it is durable.
    public init(recovered: Recovery, role: Role = .leader) {
        self.configuration = recovered.configuration
        self.role = role
        self.state = recovered.state
        self.log = recovered.log
        self.durableSequence = recovered.state.latestSequence
        self.definition = ElectionDefinition(configuration.election)
        self.codecs = Codecs(dictionary: definition.presetDictionary)
    }

    /// The events read back from the store on start, applied to a state and a resume log before the machine
    /// exists. A plain `Sendable` value, so that the store can rebuild it where it reads (the journal's thread).
    public struct Recovery: Sendable {
        public let configuration: Configuration
        public private(set) var state: HubState
        public private(set) var log: EventLog

        public init(configuration: Configuration) {
            self.configuration = configuration
            self.state = HubState(
                election: configuration.election, retainedRevisions: configuration.retainedRevisions)
            self.log = EventLog(capacity: configuration.retainedEvents)
        }

        /// The next stored event; its sequence number must follow the last one's.
        public mutating func apply(sequence: UInt64, record: ContestRecord) throws(ReplayError) {
            log.append(try state.replay(sequence: sequence, record: record))
        }
    }

    // MARK: Inputs

    /// A client finished its handshake; a desk says which desk and credential it authenticated with.
    public mutating func connected(
        _ peer: PeerID, compression: CompressionFormat, desk: DeskCredentialStamp? = nil
    ) -> [Action] {
        guard !shuttingDown else { return [goodbye(peer, code: .shuttingDown, "the hub is shutting down")] }
        if desk != nil, case .follower(let leader) = role { return [redirect(peer, to: leader)] }
        peers[peer] = Peer(compression: compression, desk: desk)
        return []
    }

    // MARK: Roles (hubs sharing a store)

    /// Another hub stores submissions now (at `leader`, when known): this one serves subscribers and queries with
    /// what it stores, and sends desks there, the connected ones at once. A commit in flight is still decided by
    /// the store; submissions queued behind it are dropped with their desks' connections (none was acked, and a
    /// desk resubmits to the leader).
    public mutating func follow(leader: String?) -> [Action] {
        role = .follower(leader: leader)
        queued.removeAll()
        var actions: [Action] = []
        for (id, peer) in peers.sorted(by: { $0.key < $1.key }) where peer.desk != nil {
            peers[id] = nil
            actions.append(redirect(id, to: leader))
        }
        return actions
    }

    /// This hub stores submissions from now on: its store has handed it every event stored before (`replicated`).
    public mutating func lead() {
        role = .leader
    }

    /// Events another hub stored, in sequence order, continuing from this hub's latest (those it has already are
    /// skipped): applied, and delivered to subscribers as if committed here.
    public mutating func replicated(_ entries: [(sequence: UInt64, record: ContestRecord)], now: UInt64) -> [Action] {
        guard commitInFlight == nil else {
            pendingReplicated.append(contentsOf: entries)
            return []
        }
        var actions: [Action] = []
        applyReplicated(entries, now: now, into: &actions)
        afterCommit(now: now, into: &actions)
        return actions
    }

    /// Applies what another hub stored and delivers it; what `replicated` does between commits.
    private mutating func applyReplicated(
        _ entries: [(sequence: UInt64, record: ContestRecord)], now: UInt64, into actions: inout [Action]
    ) {
        var events: [HubEvent] = []
        for entry in entries where entry.sequence > state.latestSequence {
            do {
                events.append(try state.replay(sequence: entry.sequence, record: entry.record))
            } catch {
                actions.append(.notice(.replicationFailed(error.message)))
                break
            }
        }
        guard !events.isEmpty else { return }
        durableSequence = events.last!.sequence
        for event in events { log.append(event) }
        fanOut(events, now: now, into: &actions)
        startReachedResumes(into: &actions)
    }

    /// Subscribers that resumed from ahead of this follower, now that it got there.
    private mutating func startReachedResumes(into actions: inout [Action]) {
        let reached = awaitingResumes.filter { $0.subscription.resumeFrom! <= durableSequence }
        awaitingResumes.removeAll { $0.subscription.resumeFrom! <= durableSequence }
        for waiting in reached { startSubscription(waiting.peer, waiting.subscription, into: &actions) }
    }

    /// A relay's upstream copy jumped (its first snapshot, a fresh one, or a conflated batch): the state takes the
    /// copied records through `sequence`. After a conflated batch every subscriber gets one conflated batch from
    /// where it was (spec 11); after a snapshot, whose records carry no sequence numbers of their own, a snapshot
    /// with reason 3 (`fellBehind`, spec 6.9). Resumes from before `sequence` get a snapshot. A copy that goes back
    /// (the upstream's store was replaced) sends every subscriber `invalidResume`.
    public mutating func adopt(
        _ copied: [(sequence: UInt64, record: ContestRecord)], through sequence: UInt64, replacingAll: Bool,
        now: UInt64
    ) -> [Action] {
        var actions: [Action] = []
        let first = state.latestSequence + 1
        if sequence < state.latestSequence {
            for id in subscribers.keys.sorted() {
                removeSubscriber(id)
                peers[id] = nil
                actions.append(
                    goodbye(
                        id, code: .invalidResume,
                        "the upstream hub went back from \(state.latestSequence) to \(sequence); subscribe afresh"))
            }
        }
        let changed = state.adopt(copied, through: sequence, replacingAll: replacingAll)
        durableSequence = sequence
        log = EventLog(capacity: configuration.retainedEvents)
        if replacingAll {
            for group in groups {
                let snapshot = state.snapshot(for: group.filter, reason: .fellBehind)
                let frame = codecs[group.compression].encode(marked(.snapshot(snapshot)))
                let members = group.members.filter { subscribers[$0] != nil }
                for id in members {
                    // Whatever it was sent or was conflating before, it starts again from this snapshot.
                    subscribers[id]!.flow = SubscriberFlow(
                        byteLimit: configuration.subscriberByteLimit, delivered: sequence)
                    subscribers[id]!.flow.wrote(bytes: frame.readableBytes)
                }
                if !members.isEmpty { actions.append(.deliver(frame, to: members)) }
            }
        } else if sequence >= first {
            for group in groups {
                let batch = state.conflatedBatch(first: first, changed: changed, filter: group.filter)
                let frame = codecs[group.compression].encode(marked(.deltaBatch(batch)))
                var receivers: [PeerID] = []
                for id in group.members where subscribers[id] != nil {
                    if case .write = subscribers[id]!.flow.offer(batch, bytes: frame.readableBytes, nowNanos: now) {
                        receivers.append(id)
                    }
                }
                if !receivers.isEmpty { actions.append(.deliver(frame, to: receivers)) }
            }
        }
        startReachedResumes(into: &actions)
        afterCommit(now: now, into: &actions)
        return actions
    }

    private func redirect(_ peer: PeerID, to leader: String?) -> Action {
        let message =
            leader.map { "this hub does not take submissions: submit to the leader at \($0)" }
            ?? "this hub does not take submissions, and no leader is known just now: try again in a moment"
        return .close(
            peer,
            goodbye: codecs.plain.encode(
                .goodbye(
                    Goodbye(
                        code: .unexpectedMessage, message: message, lastSequence: durableSequence, leader: leader ?? "")
                )
            ))
    }

    /// Desks were revoked, or their tokens rotated, in the desk directory: each of their connections that holds a
    /// credential other than the one kept is closed with GOODBYE authenticationFailed and the reason. Acks still
    /// owed to them are dropped with the connection (the events stay; a retry is a duplicate).
    public mutating func desksRevoked(_ revocations: [DeskRevocation]) -> [Action] {
        guard !revocations.isEmpty else { return [] }
        var byDesk: [String: DeskRevocation] = [:]
        for revocation in revocations { byDesk[revocation.deskID] = revocation }
        var actions: [Action] = []
        for (id, peer) in peers.sorted(by: { $0.key < $1.key }) {
            guard let desk = peer.desk, let revocation = byDesk[desk.deskID],
                revocation.keeping != desk.credential
            else { continue }
            peers[id] = nil
            removeSubscriber(id)
            actions.append(goodbye(id, code: .authenticationFailed, revocation.reason))
        }
        return actions
    }

    /// A client's connection closed, for whatever reason.
    public mutating func disconnected(_ peer: PeerID) {
        peers[peer] = nil
        awaitingResumes.removeAll { $0.peer == peer }
        removeSubscriber(peer)
    }

    /// Submissions read from connections: decided now, acked once durable.
    public mutating func submit(_ submissions: [Submission]) -> [Action] {
        guard !shuttingDown else {
            return submissions.map { submission in
                .send(
                    encodeRejection(submission.requestID, .storeUnavailable, Self.shutdownMessage), to: submission.peer)
            }
        }
        if case .follower(let leader) = role {
            let message =
                "this hub no longer stores submissions: submit to the leader\(leader.map { " at \($0)" } ?? "")"
            return submissions.map { .send(encodeRejection($0.requestID, .storeUnavailable, message), to: $0.peer) }
        }
        queued.append(contentsOf: submissions)
        var actions: [Action] = []
        if commitInFlight == nil { startCommit(into: &actions) }
        return actions
    }

    /// The `append` in flight is durable.
    public mutating func commitSucceeded(now: UInt64) -> [Action] {
        guard let commit = commitInFlight else { preconditionFailure("no commit in flight") }
        commitInFlight = nil
        var actions: [Action] = []
        if let failures = storeFailures.succeeded() {
            actions.append(.notice(.storeRecovered(afterFailures: failures)))
        }
        durableSequence = commit.events.last!.sequence
        for event in commit.events { log.append(event) }
        sendAnswers(
            commit.acks.map { ($0.peer, .ack($0.ack)) } + commit.heldRejects.map { ($0, .reject($1)) },
            ackLatenciesNanos: commit.acks.compactMap { $0.ack.duplicate ? nil : now &- $0.receivedNanos },
            into: &actions)
        fanOut(commit.events, now: now, into: &actions)
        afterCommit(now: now, into: &actions)
        return actions
    }

    /// The `append` in flight failed: its events never happened, and their desks are told so.
    public mutating func commitFailed(_ error: String, now: UInt64) -> [Action] {
        guard let commit = commitInFlight else { preconditionFailure("no commit in flight") }
        commitInFlight = nil
        for event in commit.events.reversed() { state.revert(event) }
        var actions: [Action] = [
            .notice(
                .storeFailed(
                    events: commit.events.count, error: error, decision: storeFailures.failed(nowNanos: now)))
        ]
        let message =
            "the journal could not store this: \(error); nothing was acked (submit again once the hub can store)"
        let unavailable =
            commit.acks.map { ($0.peer, $0.ack.requestID) } + commit.heldRejects.map { ($0, $1.requestID) }
        sendAnswers(
            unavailable.map { peer, requestID in
                (peer, .reject(Reject(requestID: requestID, code: .storeUnavailable, message: message)))
            }, into: &actions)
        afterCommit(now: now, into: &actions)
        return actions
    }

    /// A subscriber asks for the state, from the start or resuming after a sequence number.
    public mutating func subscribe(_ peer: PeerID, _ subscription: Subscribe) -> [Action] {
        var actions: [Action] = []
        whenDurable(.subscribe(peer, subscription), into: &actions)
        return actions
    }

    public mutating func query(_ peer: PeerID, _ query: Query) -> [Action] {
        var actions: [Action] = []
        whenDurable(.query(peer, query), into: &actions)
        return actions
    }

    /// A subscriber's socket took `bytes` of what it was handed in a `deliver`.
    public mutating func written(bytes: Int, to peer: PeerID) -> [Action] {
        guard subscribers[peer] != nil else { return [] }
        subscribers[peer]!.flow.drained(bytes: bytes)
        var actions: [Action] = []
        if commitInFlight == nil { catchUp(peer, into: &actions) }
        return actions
    }

    /// Time passes: subscribers that stayed conflating past the stall timeout are dropped.
    public mutating func tick(now: UInt64) -> [Action] {
        var actions: [Action] = []
        let expired = awaitingResumes.filter(\.seenByTick)
        awaitingResumes = awaitingResumes.filter { !$0.seenByTick }.map { ($0.peer, $0.subscription, true) }
        for waiting in expired where peers[waiting.peer] != nil {
            peers[waiting.peer] = nil
            actions.append(
                goodbye(
                    waiting.peer, code: .invalidResume,
                    "resume from \(waiting.subscription.resumeFrom!) is after this hub's latest sequence \(durableSequence), and it did not get there; subscribe afresh"
                ))
        }
        for id in subscribers.keys.sorted()
        where subscribers[id]!.flow.isStalled(nowNanos: now, stallNanos: configuration.stallTimeoutNanos) {
            let flow = subscribers[id]!.flow
            removeSubscriber(id)
            peers[id] = nil
            actions.append(.notice(.droppedStalledSubscriber(id, pendingBytes: flow.pendingBytes)))
            actions.append(
                goodbye(
                    id, code: .slowConsumer,
                    "you did not read for \(configuration.stallTimeoutNanos / 1_000_000_000) s; resume from \(flow.delivered)"
                ))
        }
        return actions
    }

    /// Stops taking submissions; once the commit in flight is reported, rejects what is queued, says goodbye to
    /// every peer and reports `stopped`.
    public mutating func shutdown() -> [Action] {
        guard !shuttingDown else { return [] }
        shuttingDown = true
        var actions: [Action] = []
        whenDurable(.shutdown, into: &actions)
        return actions
    }

    // MARK: What the server reads

    /// What the machine holds at `nowNanos`. A subscriber counts as stalled once it has been conflating for half
    /// the stall timeout (it is dropped at the whole).
    public func statistics(nowNanos: UInt64) -> Statistics {
        let flows = subscribers.values.map(\.flow)
        return Statistics(
            latestSequence: state.latestSequence, peers: peers.count, subscribers: flows.count,
            conflatingSubscribers: flows.filter { $0.mode != .live }.count,
            stalledSubscribers: flows.filter {
                $0.isStalled(nowNanos: nowNanos, stallNanos: configuration.stallTimeoutNanos / 2)
            }.count,
            largestPendingBytes: flows.map(\.pendingBytes).max() ?? 0,
            totalPendingBytes: flows.reduce(0) { $0 + $1.pendingBytes }, role: role)
    }

    public struct Statistics: Hashable, Sendable {
        public var latestSequence: UInt64
        public var peers: Int
        public var subscribers: Int
        /// Conflating, stalled included.
        public var conflatingSubscribers: Int
        public var stalledSubscribers: Int
        public var largestPendingBytes: Int
        public var totalPendingBytes: Int
        /// Whether this hub stores submissions now, or which hub does.
        public var role: Role
    }

    // MARK: Commit cycle

    private static let shutdownMessage = "the hub is shutting down; nothing was stored"

    private mutating func startCommit(into actions: inout [Action]) {
        guard !queued.isEmpty else { return }
        let submissions = queued
        queued.removeAll(keepingCapacity: true)
        var commit = Commit(events: [], acks: [], heldRejects: [])
        var answersNow: [(PeerID, HubMessage)] = []
        for submission in submissions {
            let outcome: SubmissionOutcome
            switch submission.kind {
            case .declaration(let declaration): outcome = state.submit(declaration, from: submission.desk)
            case .withdrawal(let withdrawal): outcome = state.withdraw(withdrawal, from: submission.desk)
            }
            switch outcome {
            case .accepted(let event):
                commit.events.append(event)
                commit.acks.append(
                    (
                        submission.peer,
                        Ack(
                            requestID: submission.requestID, sequence: event.sequence, duplicate: false,
                            record: event.record),
                        submission.receivedNanos
                    ))
            case .duplicate(let sequence, let record):
                let ack = Ack(requestID: submission.requestID, sequence: sequence, duplicate: true, record: record)
                // A duplicate of an event still in this commit is only true once the commit is.
                if sequence <= durableSequence {
                    answersNow.append((submission.peer, .ack(ack)))
                } else {
                    commit.acks.append((submission.peer, ack, submission.receivedNanos))
                }
            case .rejected(let error):
                let reject = Reject(requestID: submission.requestID, code: error.code, message: error.description)
                let contest = submission.contestID
                if commit.events.contains(where: { $0.record.contestID == contest }) {
                    // Decided against an event of this same commit, which is not durable yet: answer with the
                    // commit, since a failed commit would make this rejection wrong.
                    commit.heldRejects.append((submission.peer, reject))
                } else {
                    answersNow.append((submission.peer, .reject(reject)))
                }
            }
        }
        sendAnswers(answersNow, into: &actions)
        guard !commit.events.isEmpty else { return }
        commitInFlight = commit
        actions.append(.append(commit.events))
    }

    private mutating func afterCommit(now: UInt64, into actions: inout [Action]) {
        if !pendingReplicated.isEmpty {
            let entries = pendingReplicated
            pendingReplicated.removeAll()
            applyReplicated(entries, now: now, into: &actions)
        }
        let work = deferred
        deferred.removeAll()
        for item in work { perform(item, into: &actions) }
        for id in subscribers.keys.sorted() { catchUp(id, into: &actions) }
        if !shuttingDown { startCommit(into: &actions) }
    }

    private mutating func whenDurable(_ work: Deferred, into actions: inout [Action]) {
        if commitInFlight != nil { deferred.append(work) } else { perform(work, into: &actions) }
    }

    private mutating func perform(_ work: Deferred, into actions: inout [Action]) {
        switch work {
        case .subscribe(let peer, let subscription): startSubscription(peer, subscription, into: &actions)
        case .query(let peer, let query): answer(query, for: peer, into: &actions)
        case .shutdown: finishShutdown(into: &actions)
        }
    }

    private mutating func finishShutdown(into actions: inout [Action]) {
        sendAnswers(
            queued.map {
                (
                    $0.peer,
                    .reject(Reject(requestID: $0.requestID, code: .storeUnavailable, message: Self.shutdownMessage))
                )
            },
            into: &actions)
        queued.removeAll()
        for peer in peers.keys.sorted() {
            actions.append(goodbye(peer, code: .shuttingDown, "the hub is shutting down"))
        }
        peers.removeAll()
        subscribers.removeAll()
        groups.removeAll()
        actions.append(.stopped)
    }

    // MARK: Answers

    private func encodeRejection(_ requestID: UInt64, _ code: ErrorCode, _ message: String) -> ByteBuffer {
        codecs.plain.encode(.reject(Reject(requestID: requestID, code: code, message: message)))
    }

    private func goodbye(_ peer: PeerID, code: ErrorCode, _ message: String) -> Action {
        .close(
            peer,
            goodbye: codecs.plain.encode(
                .goodbye(Goodbye(code: code, message: message, lastSequence: durableSequence))))
    }

    /// Answers to submissions: one buffer and one write per peer, rather than a write (and a system call) per
    /// answer; then what they were, for the metrics.
    private func sendAnswers(
        _ messages: [(PeerID, HubMessage)], ackLatenciesNanos: [UInt64] = [], into actions: inout [Action]
    ) {
        guard !messages.isEmpty else { return }
        var order: [PeerID] = []
        var buffers: [PeerID: ByteBuffer] = [:]
        var answers = Answers(ackLatenciesNanos: ackLatenciesNanos)
        for (peer, message) in messages {
            switch message {
            case .ack(let ack) where ack.duplicate: answers.duplicates += 1
            case .reject(let reject): answers.rejected.append(reject.code)
            default: break
            }
            var frame = codecs.plain.encode(message)
            if buffers[peer] == nil {
                order.append(peer)
                buffers[peer] = frame
            } else {
                buffers[peer]!.writeBuffer(&frame)
            }
        }
        for peer in order { actions.append(.send(buffers[peer]!, to: peer)) }
        actions.append(.notice(.answered(answers)))
    }

    private func answer(_ query: Query, for peer: PeerID, into actions: inout [Action]) {
        let election = configuration.election
        let message: HubMessage
        switch query.kind {
        case .scoreboard:
            message = .scoreboard(ScoreboardAnswer(requestID: query.requestID, scoreboard: state.scoreboard))
        case .contest(let id):
            guard election.contest(id) != nil else {
                actions.append(
                    .send(
                        encodeRejection(
                            query.requestID, .unknownContest, "unknown contest: no contest has id \(id.rawValue)"),
                        to: peer))
                return
            }
            let record = state.record(id)
            message = .contest(
                ContestAnswer(
                    requestID: query.requestID, sequence: state.latestSequence, record: record,
                    seatChanges: record.flatMap { election.seatChanges($0) }))
        case .election:
            // The definition is large: compressed when the peer chose compression.
            let answer = ElectionAnswer(requestID: query.requestID, digest: definition.digest, definition: definition)
            actions.append(.send(codecs[peers[peer]?.compression ?? .none].encode(.election(answer)), to: peer))
            return
        }
        actions.append(.send(codecs.plain.encode(marked(message)), to: peer))
    }

    /// `message` as this hub sends it: marked as test data when the hub serves a rehearsal (spec 6.17).
    private func marked(_ message: HubMessage) -> HubMessage {
        configuration.rehearsal ? message.markedAsRehearsal() : message
    }

    // MARK: Subscribers

    private mutating func startSubscription(_ peer: PeerID, _ subscription: Subscribe, into actions: inout [Action]) {
        guard let compression = peers[peer]?.compression else { return }
        let filter = subscription.filter
        let latest = state.latestSequence
        let codec = codecs[compression]
        var frames: [ByteBuffer]
        if let from = subscription.resumeFrom {
            if from > latest, case .follower = role {
                awaitingResumes.append((peer, subscription, false))
                return
            }
            guard from <= latest else {
                peers[peer] = nil
                actions.append(
                    goodbye(
                        peer, code: .invalidResume,
                        "resume from \(from) is after the hub's latest sequence \(latest); subscribe afresh"))
                return
            }
            if from == latest {
                // Up to date: nothing to send but the fact (spec 6.8, 1.1). A batch cannot cover no sequence
                // number, so the answer is a heartbeat at the latest sequence, sent at once.
                frames = [codecs.plain.encode(.heartbeat(Heartbeat(sequence: latest)))]
            } else if let missed = log.events(after: from), missed.count <= configuration.maxResumeEvents {
                frames = DeltaBatching.batches(
                    missed, filter: filter, election: configuration.election, checksumAfter: state.checksum(for: filter)
                ).map { codec.encode(marked(.deltaBatch($0))) }
            } else {
                frames = [codec.encode(marked(.snapshot(state.snapshot(for: filter, reason: .resumeUnavailable))))]
            }
        } else {
            frames = [codec.encode(marked(.snapshot(state.snapshot(for: filter, reason: .newSubscription))))]
        }
        // One subscription per peer (`ConnectionMachine` refuses a second SUBSCRIBE); a second replaces the first.
        removeSubscriber(peer)
        var flow = SubscriberFlow(byteLimit: configuration.subscriberByteLimit, delivered: latest)
        for frame in frames {
            flow.wrote(bytes: frame.readableBytes)
            actions.append(.deliver(frame, to: [peer]))
        }
        subscribers[peer] = Subscriber(filter: filter, compression: compression, flow: flow)
        if let index = groups.firstIndex(where: { $0.filter == filter && $0.compression == compression }) {
            groups[index].members.append(peer)
        } else {
            groups.append(FanOutGroup(filter: filter, compression: compression, members: [peer]))
        }
        actions.append(
            .notice(.subscribed(peer, filter: filter, resumeFrom: subscription.resumeFrom, sequence: latest)))
    }

    private mutating func removeSubscriber(_ peer: PeerID) {
        guard let subscriber = subscribers.removeValue(forKey: peer) else { return }
        guard
            let index = groups.firstIndex(where: {
                $0.filter == subscriber.filter && $0.compression == subscriber.compression
            })
        else { return }
        groups[index].members.removeAll { $0 == peer }
        if groups[index].members.isEmpty { groups.remove(at: index) }
    }

    private mutating func fanOut(_ events: [HubEvent], now: UInt64, into actions: inout [Action]) {
        for group in groups {
            let batches = DeltaBatching.batches(
                events[...], filter: group.filter, election: configuration.election,
                checksumAfter: state.checksum(for: group.filter))
            let codec = codecs[group.compression]
            for batch in batches {
                // Encoded and compressed once; the same buffer goes to every subscriber in the group.
                let frame = codec.encode(marked(.deltaBatch(batch)))
                var receivers: [PeerID] = []
                receivers.reserveCapacity(group.members.count)
                for id in group.members {
                    guard subscribers[id] != nil else { continue }
                    switch subscribers[id]!.flow.offer(batch, bytes: frame.readableBytes, nowNanos: now) {
                    case .write: receivers.append(id)
                    case .skip: break
                    }
                }
                if !receivers.isEmpty { actions.append(.deliver(frame, to: receivers)) }
            }
        }
    }

    /// A conflating subscriber whose socket has drained gets the latest record of every contest it missed.
    private mutating func catchUp(_ id: PeerID, into actions: inout [Action]) {
        guard let subscriber = subscribers[id], let pending = subscriber.flow.catchUp else { return }
        let batch = state.conflatedBatch(first: pending.first, changed: pending.changed, filter: subscriber.filter)
        let frame = codecs[subscriber.compression].encode(marked(.deltaBatch(batch)))
        subscribers[id]!.flow.caughtUp(through: batch.lastSequence, bytes: frame.readableBytes)
        actions.append(
            .notice(
                .caughtUp(id, first: batch.firstSequence, last: batch.lastSequence, events: batch.events.count)))
        actions.append(.deliver(frame, to: [id]))
    }
}
