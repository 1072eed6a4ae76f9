import ElectionModel
import HubCore
import HubJournal
import HubWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A connected, authenticated client as the engine sees it.
final class Peer: Sendable {
    let id: UInt64
    let channel: any Channel
    let compression: CompressionFormat
    let logger: Logger
    /// Bytes handed to the socket and not yet written: a peer that stops reading while it keeps asking (queries,
    /// pipelined submissions) is closed at `outboundLimit` instead of growing the hub's memory.
    private let pendingBytes = Atomic<Int>(0)
    static let outboundLimit = 8 << 20

    init(id: UInt64, channel: any Channel, compression: CompressionFormat, logger: Logger) {
        self.id = id
        self.channel = channel
        self.compression = compression
        self.logger = logger
    }

    func send(_ frame: ByteBuffer) -> EventLoopFuture<Void> {
        let bytes = frame.readableBytes
        guard pendingBytes.add(bytes, ordering: .relaxed).newValue <= Self.outboundLimit else {
            pendingBytes.subtract(bytes, ordering: .relaxed)
            logger.warning(
                "closing a connection that does not read its answers",
                metadata: ["connection.outboundLimit": "\(Self.outboundLimit)"])
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.outputClosed)
        }
        let written = channel.writeAndFlush(frame)
        written.whenComplete { _ in self.pendingBytes.subtract(bytes, ordering: .relaxed) }
        return written
    }
}

/// Sends a last frame and closes the connection: as soon as the frame is written, or after `grace` if the peer is
/// not reading (its socket is full), so that a stalled peer never keeps its connection, or a shutdown, waiting.
@discardableResult
func closeAfter(_ frame: ByteBuffer, on channel: any Channel, grace: TimeAmount = .seconds(1)) -> EventLoopFuture<Void>
{
    channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
    channel.eventLoop.scheduleTask(in: grace) { channel.close(promise: nil) }
    return channel.closeFuture
}

/// The one serial writer. It owns the state, assigns sequence numbers, journals with group commit, acks once
/// durable, and fans the same encoded batch out to every subscriber with the same filter and compression.
///
/// All of its state is confined to `loop`: public entry points hop there. Commit cycle: submissions that arrive
/// while a commit is being fsynced queue up and form the next commit the moment it finishes (no timer, so an idle
/// hub commits a lone submission at once). Subscriptions and queries are answered between commits, when the state
/// equals what is durable, so that nobody ever sees an event that could still be lost.
final class HubEngine: @unchecked Sendable {
    let loop: any EventLoop
    private let configuration: HubConfiguration
    private var state: HubState
    private var log: EventLog
    private let store: any EventStore
    /// Where a commit's task runs: this engine's loop, not the cooperative pool.
    private let storeCallExecutor: EventLoopTaskExecutor
    private let logger: Logger
    private let definition: ElectionDefinition
    private let digest: UInt64
    /// `H` of the whole definition, 1.1 details included (WELCOME's `definitionDigest`).
    let definitionDigest: UInt64
    /// One codec per compression format, so that each batch is compressed once per format.
    private let codecs: [CompressionFormat: FrameCodec]

    private var commitInFlight = false
    private var queued: [PendingRequest] = []
    private var deferred: [() -> Void] = []
    private var subscribers: [UInt64: Subscriber] = [:]
    private var peers: [UInt64: Peer] = [:]
    private var shuttingDown = false
    private var stallCheck: RepeatedTask?
    private var storeFailures = RepeatedFailureLog(intervalNanos: 10_000_000_000)
    /// Read by heartbeats on any loop.
    let durableSequence: Atomic<UInt64>

    struct PendingRequest {
        enum Kind {
            case declaration(Declaration)
            case withdrawal(Withdrawal)
        }
        var peer: Peer
        var desk: DeskIdentity
        var requestID: UInt64
        var kind: Kind

        var contestID: ContestID {
            switch kind {
            case .declaration(let declaration): return declaration.contestID
            case .withdrawal(let withdrawal): return withdrawal.contestID
            }
        }
    }

    private struct Subscriber {
        var peer: Peer
        var filter: SubscriptionFilter
        var flow: SubscriberFlow
    }

    private struct PendingAck {
        var peer: Peer
        var ack: Ack
    }

    private struct PendingReject {
        var peer: Peer
        var reject: Reject
    }

    init(
        loop: any EventLoop, configuration: HubConfiguration, state: HubState, log: EventLog, store: any EventStore,
        logger: Logger
    ) {
        self.loop = loop
        self.configuration = configuration
        self.state = state
        self.log = log
        self.store = store
        self.storeCallExecutor = EventLoopTaskExecutor(loop)
        self.logger = logger
        self.definition = ElectionDefinition(configuration.election)
        self.digest = definition.digest
        self.definitionDigest = definition.definitionDigest
        let dictionary = definition.presetDictionary
        self.codecs = [
            .none: FrameCodec(), .zlib: FrameCodec(format: .zlib, dictionary: dictionary),
            .deflate: FrameCodec(format: .deflate, dictionary: dictionary),
        ]
        self.durableSequence = Atomic(state.latestSequence)
    }

    var electionDigest: UInt64 { digest }
    /// The latest sequence number that is durable (what heartbeats and goodbyes report).
    var latestDurableSequence: UInt64 { durableSequence.load(ordering: .relaxed) }
    var presetDictionary: [UInt8] { definition.presetDictionary }

    // MARK: Entry points (any thread)

    func start() {
        loop.execute {
            let interval = TimeAmount.nanoseconds(
                max(configurationMinimum, self.configuration.stallTimeout.nanoseconds / 4))
            self.stallCheck = self.loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.dropStalledSubscribers()
            }
        }
    }

    func register(_ peer: Peer) {
        loop.execute {
            if self.shuttingDown {
                self.sayGoodbye(to: peer, code: .shuttingDown, message: "the hub is shutting down")
                return
            }
            self.peers[peer.id] = peer
        }
    }

    func unregister(_ peerID: UInt64) {
        loop.execute {
            self.peers[peerID] = nil
            self.subscribers[peerID] = nil
        }
    }

    /// Submissions read from one connection in one go: one hop to the engine for all of them.
    func submit(_ requests: [PendingRequest]) {
        loop.execute {
            guard !self.shuttingDown else {
                for request in requests {
                    self.reject(
                        request, code: .storeUnavailable, message: "the hub is shutting down; nothing was stored")
                }
                return
            }
            self.queued.append(contentsOf: requests)
            if !self.commitInFlight { self.startCommit() }
        }
    }

    func subscribe(_ peer: Peer, to subscription: Subscribe) {
        loop.execute { self.whenDurable { self.startSubscription(peer, subscription) } }
    }

    func answer(_ query: Query, for peer: Peer) {
        loop.execute { self.whenDurable { self.answerQuery(query, peer: peer) } }
    }

    /// Stops taking submissions, lets the commit in flight finish (so everything acked is on disk), says goodbye
    /// to every peer and closes them.
    func shutdown() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            self.shuttingDown = true
            self.stallCheck?.cancel()
            self.whenDurable {
                for request in self.queued {
                    self.reject(
                        request, code: .storeUnavailable, message: "the hub is shutting down; nothing was stored")
                }
                self.queued.removeAll()
                let closing = self.peers.values.map { peer in
                    self.sayGoodbye(to: peer, code: .shuttingDown, message: "the hub is shutting down")
                }
                self.peers.removeAll()
                self.subscribers.removeAll()
                EventLoopFuture.andAllComplete(closing, on: self.loop).cascade(to: promise)
            }
        }
        return promise.futureResult
    }

    func statistics() -> EventLoopFuture<HubStatistics> {
        loop.submit {
            let flows = self.subscribers.values.map(\.flow)
            return HubStatistics(
                latestSequence: self.state.latestSequence, peers: self.peers.count, subscribers: flows.count,
                conflatingSubscribers: flows.filter { $0.mode != .live }.count,
                largestPendingBytes: flows.map(\.pendingBytes).max() ?? 0,
                totalPendingBytes: flows.reduce(0) { $0 + $1.pendingBytes })
        }
    }

    // MARK: Commit cycle (on loop)

    /// Resumes that missed more events than this get a snapshot instead (reason resumeUnavailable).
    static let maxResumeEvents = 8192

    private func whenDurable(_ work: @escaping () -> Void) {
        if commitInFlight { deferred.append(work) } else { work() }
    }

    private func startCommit() {
        loop.assertInEventLoop()
        guard !queued.isEmpty else { return }
        let requests = queued
        queued.removeAll(keepingCapacity: true)
        var events: [HubEvent] = []
        var acks: [PendingAck] = []
        var answersNow: [(Peer, HubMessage)] = []
        var heldRejects: [PendingReject] = []
        defer { sendGrouped(answersNow) }
        let durable = durableSequence.load(ordering: .relaxed)
        for request in requests {
            let outcome: SubmissionOutcome
            switch request.kind {
            case .declaration(let declaration): outcome = state.submit(declaration, from: request.desk)
            case .withdrawal(let withdrawal): outcome = state.withdraw(withdrawal, from: request.desk)
            }
            switch outcome {
            case .accepted(let event):
                events.append(event)
                acks.append(
                    PendingAck(
                        peer: request.peer,
                        ack: Ack(
                            requestID: request.requestID, sequence: event.sequence, duplicate: false,
                            record: event.record)))
            case .duplicate(let sequence, let record):
                let ack = Ack(requestID: request.requestID, sequence: sequence, duplicate: true, record: record)
                if sequence <= durable {
                    answersNow.append((request.peer, .ack(ack)))
                } else {
                    acks.append(PendingAck(peer: request.peer, ack: ack))
                }
            case .rejected(let error):
                let reject = Reject(requestID: request.requestID, code: error.code, message: error.description)
                let contest = request.contestID
                if events.contains(where: { $0.record.contestID == contest }) {
                    // Decided against an event of this same commit, which is not durable yet: answer with the
                    // commit, since a failed commit would make this rejection wrong.
                    heldRejects.append(PendingReject(peer: request.peer, reject: reject))
                } else {
                    answersNow.append((request.peer, .reject(reject)))
                }
            }
        }
        guard !events.isEmpty else { return }
        commitInFlight = true
        let entries = events.map { JournalEntry(sequence: $0.sequence, record: $0.record) }
        let store = self.store
        let appended = loop.makePromise(of: Void.self)
        Task(executorPreference: storeCallExecutor) {
            do {
                try await store.append(entries)
                appended.succeed()
            } catch {
                appended.fail(error)
            }
        }
        appended.futureResult.whenComplete { [events, acks, heldRejects] result in
            self.finishCommit(events: events, acks: acks, heldRejects: heldRejects, result: result)
        }
    }

    private func finishCommit(
        events: [HubEvent], acks: [PendingAck], heldRejects: [PendingReject], result: Result<Void, any Error>
    ) {
        loop.assertInEventLoop()
        commitInFlight = false
        switch result {
        case .success:
            if let failures = storeFailures.succeeded() {
                logger.notice("journal writes succeed again after \(failures) failed commits")
            }
            durableSequence.store(events.last!.sequence, ordering: .relaxed)
            for event in events { log.append(event) }
            sendGrouped(
                acks.map { ($0.peer, HubMessage.ack($0.ack)) } + heldRejects.map { ($0.peer, .reject($0.reject)) })
            fanOut(events)
        case .failure(let error):
            for event in events.reversed() { state.revert(event) }
            switch storeFailures.failed(nowNanos: NIODeadline.now().uptimeNanoseconds) {
            case .logFirst:
                logger.error(
                    "journal write failed; \(events.count) submissions rejected as storeUnavailable",
                    metadata: ["journal.error": "\(error)"])
            case .logSummary(let suppressed):
                logger.error(
                    "journal writes still failing: \(suppressed) more failed commits since the last line; the latest rejected \(events.count) submissions",
                    metadata: ["journal.error": "\(error)"])
            case .silent:
                break
            }
            let message =
                "the journal could not store this: \(error); nothing was acked (submit again once the hub can store)"
            let unavailable =
                acks.map { ($0.peer, $0.ack.requestID) } + heldRejects.map { ($0.peer, $0.reject.requestID) }
            sendGrouped(
                unavailable.map { peer, requestID in
                    (peer, .reject(Reject(requestID: requestID, code: .storeUnavailable, message: message)))
                })
        }
        let work = deferred
        deferred.removeAll()
        for item in work { item() }
        catchUpDrainedSubscribers()
        if !queued.isEmpty { startCommit() }
    }

    private func reject(_ request: PendingRequest, code: ErrorCode, message: String) {
        send(.reject(Reject(requestID: request.requestID, code: code, message: message)), to: request.peer)
    }

    private func send(_ message: HubMessage, to peer: Peer) {
        _ = peer.send(codecs[.none]!.encode(message))
    }

    /// Many answers: one buffer and one write per peer, rather than a write (and a system call) per answer.
    private func sendGrouped(_ messages: [(Peer, HubMessage)]) {
        var buffers: [UInt64: (Peer, ByteBuffer)] = [:]
        let codec = codecs[.none]!
        for (peer, message) in messages {
            var frame = codec.encode(message)
            if buffers[peer.id] == nil {
                buffers[peer.id] = (peer, frame)
            } else {
                buffers[peer.id]!.1.writeBuffer(&frame)
            }
        }
        for (peer, buffer) in buffers.values { _ = peer.send(buffer) }
    }

    // MARK: Subscribers (on loop, state durable)

    private func startSubscription(_ peer: Peer, _ subscription: Subscribe) {
        guard peers[peer.id] != nil else { return }
        let filter = subscription.filter
        let latest = state.latestSequence
        var frames: [ByteBuffer] = []
        let codec = codecs[peer.compression]!
        if let from = subscription.resumeFrom {
            guard from <= latest else {
                sayGoodbye(
                    to: peer, code: .invalidResume,
                    message: "resume from \(from) is after the hub's latest sequence \(latest); subscribe afresh")
                return
            }
            // A long absence is cheaper to repair with a snapshot than with every event missed.
            if from == latest {
                // Up to date: nothing to send but the fact (spec 6.8, 1.1). A batch cannot cover no sequence
                // number, so the answer is a heartbeat at the latest sequence, sent at once.
                frames = [codecs[.none]!.encode(.heartbeat(Heartbeat(sequence: latest)))]
            } else if let missed = log.events(after: from), missed.count <= Self.maxResumeEvents {
                let batches = DeltaBatching.batches(
                    missed, filter: filter, election: configuration.election, checksumAfter: state.checksum(for: filter)
                )
                frames = batches.map { codec.encode(.deltaBatch($0)) }
            } else {
                frames = [codec.encode(.snapshot(state.snapshot(for: filter, reason: .resumeUnavailable)))]
            }
        } else {
            frames = [codec.encode(.snapshot(state.snapshot(for: filter, reason: .newSubscription)))]
        }
        var flow = SubscriberFlow(byteLimit: configuration.subscriberByteLimit, delivered: latest)
        for frame in frames {
            flow.wrote(bytes: frame.readableBytes)
            write(frame, to: peer)
        }
        subscribers[peer.id] = Subscriber(peer: peer, filter: filter, flow: flow)
        peer.logger.info(
            "subscribed",
            metadata: [
                "subscription.filter": "\(filter)",
                "subscription.resumeFrom": "\(subscription.resumeFrom.map(String.init) ?? "none")",
                "subscription.sequence": "\(latest)",
            ])
    }

    /// Writes to a subscriber and counts the bytes until the socket has taken them.
    private func write(_ frame: ByteBuffer, to peer: Peer) {
        let bytes = frame.readableBytes
        peer.send(frame).hop(to: loop).whenComplete { result in
            // A failed write means the connection is closing: nothing drained, and nothing to catch up.
            guard case .success = result, self.subscribers[peer.id] != nil else { return }
            self.subscribers[peer.id]!.flow.drained(bytes: bytes)
            if !self.commitInFlight { self.catchUp(peer.id) }
        }
    }

    private func fanOut(_ events: [HubEvent]) {
        guard !subscribers.isEmpty else { return }
        struct GroupKey: Hashable {
            var filter: SubscriptionFilter
            var compression: CompressionFormat
        }
        var groups: [GroupKey: [UInt64]] = [:]
        for (id, subscriber) in subscribers {
            groups[GroupKey(filter: subscriber.filter, compression: subscriber.peer.compression), default: []].append(
                id)
        }
        let now = NIODeadline.now().uptimeNanoseconds
        for (key, ids) in groups {
            let batches = DeltaBatching.batches(
                events[...], filter: key.filter, election: configuration.election,
                checksumAfter: state.checksum(for: key.filter))
            let codec = codecs[key.compression]!
            for batch in batches {
                // Encoded and compressed once; the same buffer goes to every subscriber in the group.
                let frame = codec.encode(.deltaBatch(batch))
                for id in ids {
                    guard subscribers[id] != nil else { continue }
                    switch subscribers[id]!.flow.offer(batch, bytes: frame.readableBytes, nowNanos: now) {
                    case .write: write(frame, to: subscribers[id]!.peer)
                    case .skip: break
                    }
                }
            }
        }
    }

    private func catchUpDrainedSubscribers() {
        for id in subscribers.keys { catchUp(id) }
    }

    /// A conflating subscriber whose socket has drained gets the latest record of every contest it missed.
    private func catchUp(_ id: UInt64) {
        guard let subscriber = subscribers[id], subscriber.peer.channel.isActive, let pending = subscriber.flow.catchUp
        else { return }
        let batch = state.conflatedBatch(first: pending.first, changed: pending.changed, filter: subscriber.filter)
        let frame = codecs[subscriber.peer.compression]!.encode(.deltaBatch(batch))
        subscribers[id]!.flow.caughtUp(through: batch.lastSequence, bytes: frame.readableBytes)
        subscriber.peer.logger.info(
            "slow subscriber caught up with a conflated batch",
            metadata: [
                "batch.first": "\(batch.firstSequence)", "batch.last": "\(batch.lastSequence)",
                "batch.events": "\(batch.events.count)",
            ])
        write(frame, to: subscriber.peer)
    }

    private func dropStalledSubscribers() {
        let now = NIODeadline.now().uptimeNanoseconds
        let stall = UInt64(configuration.stallTimeout.nanoseconds)
        for (id, subscriber) in subscribers where subscriber.flow.isStalled(nowNanos: now, stallNanos: stall) {
            subscribers[id] = nil
            peers[id] = nil
            subscriber.peer.logger.warning(
                "dropping a subscriber that stopped reading",
                metadata: ["subscriber.pendingBytes": "\(subscriber.flow.pendingBytes)"])
            sayGoodbye(
                to: subscriber.peer, code: .slowConsumer,
                message:
                    "you did not read for \(configuration.stallTimeout.nanoseconds / 1_000_000_000) s; resume from \(subscriber.flow.delivered)"
            )
        }
    }

    // MARK: Queries (on loop, state durable)

    private func answerQuery(_ query: Query, peer: Peer) {
        switch query.kind {
        case .scoreboard:
            send(.scoreboard(ScoreboardAnswer(requestID: query.requestID, scoreboard: state.scoreboard)), to: peer)
        case .contest(let id):
            guard configuration.election.contest(id) != nil else {
                send(
                    .reject(
                        Reject(
                            requestID: query.requestID, code: .unknownContest,
                            message: "unknown contest: no contest has id \(id.rawValue)")),
                    to: peer)
                return
            }
            let record = state.record(id)
            send(
                .contest(
                    ContestAnswer(
                        requestID: query.requestID, sequence: state.latestSequence, record: record,
                        seatChanges: record.flatMap { configuration.election.seatChanges($0) })),
                to: peer)
        case .election:
            _ = peer.send(
                codecs[peer.compression]!.encode(
                    .election(ElectionAnswer(requestID: query.requestID, digest: digest, definition: definition))))
        }
    }

    @discardableResult
    private func sayGoodbye(to peer: Peer, code: ErrorCode, message: String) -> EventLoopFuture<Void> {
        let goodbye = codecs[.none]!.encode(
            .goodbye(Goodbye(code: code, message: message, lastSequence: durableSequence.load(ordering: .relaxed))))
        return closeAfter(goodbye, on: peer.channel).hop(to: loop)
    }
}

private let configurationMinimum: Int64 = 10_000_000
