import ElectionModel
import HubCore
import HubJournal
import HubWire
import Logging
import Metrics
import NIOCore
import Synchronization

/// Carries out the hub machine's actions (`HubMachine`, where every decision is made): writes to connections,
/// appends to the store, and reports back what happened. An actor whose executor is its event loop, so that the
/// machine has one owner and the compiler checks it; connection handlers on other loops reach it through the
/// `nonisolated` entry points, which hop to the loop in the order they are called.
actor HubEngine {
    nonisolated let loop: any EventLoop
    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }
    /// The latest durable sequence number, for heartbeats and goodbyes written on any loop.
    private nonisolated let durable: Atomic<UInt64>
    nonisolated let context: ConnectionMachine.Context
    nonisolated let presetDictionary: [UInt8]
    /// The desk directory in force (swapped on reload); connection handlers authenticate against it.
    nonisolated let desks: CurrentDesks
    private nonisolated let stopped: EventLoopPromise<Void>
    private nonisolated let metrics: HubMetrics
    private nonisolated let readiness: CurrentReadiness

    private var machine: HubMachine
    private var connections: [PeerID: PeerConnection] = [:]
    private let store: any EventStore
    private let stallCheckInterval: TimeAmount
    private let storeCallExecutor: EventLoopTaskExecutor
    private var stallCheck: RepeatedTask?
    private let logger: Logger

    init(
        loop: any EventLoop, machine: sending HubMachine, store: any EventStore, hubName: String,
        heartbeatInterval: TimeAmount, desks: CurrentDesks, metrics: HubMetrics, readiness: CurrentReadiness,
        logger: Logger
    ) {
        self.loop = loop
        self.metrics = metrics
        self.readiness = readiness
        self.desks = desks
        self.durable = Atomic(machine.durableSequence)
        self.context = ConnectionMachine.Context(
            hubName: hubName, electionID: machine.configuration.election.id,
            electionDigest: machine.definition.digest, definitionDigest: machine.definition.definitionDigest,
            heartbeatIntervalMillis: UInt32(heartbeatInterval.nanoseconds / 1_000_000),
            regionCount: machine.configuration.election.regions.count,
            rehearsal: machine.configuration.rehearsal)
        self.presetDictionary = machine.definition.presetDictionary
        self.stopped = loop.makePromise()
        self.stallCheckInterval = .nanoseconds(max(10_000_000, Int64(machine.configuration.stallTimeoutNanos / 4)))
        self.machine = machine
        self.store = store
        self.storeCallExecutor = EventLoopTaskExecutor(loop)
        self.logger = logger
    }

    nonisolated var latestDurableSequence: UInt64 { durable.load(ordering: .relaxed) }

    // MARK: Entry points (any thread)

    nonisolated func start() {
        onLoop { engine in
            engine.stallCheck = engine.loop.scheduleRepeatedTask(
                initialDelay: engine.stallCheckInterval, delay: engine.stallCheckInterval
            ) { _ in
                // Already on the loop: no hop, so that a tick cannot run after shutdown has begun.
                engine.assumeIsolated { $0.perform($0.machine.tick(now: NIODeadline.now().uptimeNanoseconds)) }
            }
        }
    }

    nonisolated func connected(
        _ connection: PeerConnection, compression: CompressionFormat, desk: DeskCredentialStamp? = nil
    ) {
        onLoop { engine in
            engine.connections[connection.id] = connection
            engine.perform(engine.machine.connected(connection.id, compression: compression, desk: desk))
            // Authenticated just before a reload revoked or rotated it, and arrived after that reload's revocations:
            // closed the same way.
            if let desk,
                let revocation = engine.desks.directoryInForce.revocation(of: desk.deskID, credential: desk.credential)
            {
                engine.perform(engine.machine.desksRevoked([revocation]))
            }
        }
    }

    /// The desk directory changed: these desks' connections close (`HubMachine.desksRevoked`).
    nonisolated func desksRevoked(_ revocations: [DeskRevocation]) {
        guard !revocations.isEmpty else { return }
        onLoop { $0.perform($0.machine.desksRevoked(revocations)) }
    }

    nonisolated func disconnected(_ id: PeerID) {
        onLoop { engine in
            engine.connections[id] = nil
            engine.machine.disconnected(id)
        }
    }

    /// Submissions read from one connection in one go: one hop to the engine for all of them.
    nonisolated func submit(_ submissions: [HubMachine.Submission]) {
        onLoop { $0.perform($0.machine.submit(submissions)) }
    }

    nonisolated func subscribe(_ id: PeerID, _ subscription: Subscribe) {
        onLoop { $0.perform($0.machine.subscribe(id, subscription)) }
    }

    nonisolated func query(_ id: PeerID, _ query: Query) {
        onLoop { $0.perform($0.machine.query(id, query)) }
    }

    /// Completes once the commit in flight is durable and every peer was told and closed.
    nonisolated func shutdown() -> EventLoopFuture<Void> {
        onLoop { engine in
            engine.stallCheck?.cancel()
            engine.perform(engine.machine.shutdown())
        }
        return stopped.futureResult
    }

    /// What a shared store says about who stores submissions, and what the leader stored (`SharedEventStore`).
    /// Awaited: the store reads on only once this hub has applied what it reported.
    func storeReported(_ event: StoreRoleEvent) {
        switch event {
        case .following(let leader):
            logger.notice("following: desks are sent to the leader", metadata: ["store.leader": "\(leader ?? "none")"])
            perform(machine.follow(leader: leader))
            // A commit that failed as this hub lost the lead says nothing about the store a follower reads.
            readiness.storeRecovered()
        case .entries(let entries):
            perform(
                machine.replicated(
                    entries.map { ($0.sequence, $0.record) }, now: NIODeadline.now().uptimeNanoseconds))
        case .copied(let entries, let sequence, let whole):
            perform(
                machine.adopt(
                    entries.map { ($0.sequence, $0.record) }, through: sequence, replacingAll: whole,
                    now: NIODeadline.now().uptimeNanoseconds))
        case .leading:
            machine.lead()
        }
    }

    nonisolated func statistics() -> EventLoopFuture<HubMachine.Statistics> {
        loop.submit { self.assumeIsolated { $0.machine.statistics(nowNanos: NIODeadline.now().uptimeNanoseconds) } }
    }

    private nonisolated func onLoop(_ body: @escaping @Sendable (isolated HubEngine) -> Void) {
        loop.execute { self.assumeIsolated { body($0) } }
    }

    // MARK: Carrying out actions (on loop)

    private func perform(_ actions: [HubMachine.Action]) {
        // Before anything is written: a heartbeat or goodbye must never report less than an ack already sent.
        durable.store(machine.durableSequence, ordering: .relaxed)
        var closing: [EventLoopFuture<Void>] = []
        for action in actions {
            switch action {
            case .append(let events):
                append(events)
            case .send(let frame, let id):
                if let connection = connections[id] {
                    metrics.bytesSent.increment(by: frame.readableBytes)
                    _ = connection.write(frame)
                }
            case .deliver(let frame, let ids):
                for id in ids { deliver(frame, to: id) }
            case .close(let id, let goodbye):
                if let connection = connections.removeValue(forKey: id) {
                    metrics.bytesSent.increment(by: goodbye.readableBytes)
                    closing.append(closeAfter(goodbye, on: connection.channel))
                }
            case .notice(let notice):
                record(notice)
            case .stopped:
                EventLoopFuture.andAllComplete(closing, on: loop).cascade(to: stopped)
            }
        }
    }

    /// Writes to a subscriber and reports the bytes once the socket has taken them (a failed write means the
    /// connection is closing: nothing drained).
    private func deliver(_ frame: ByteBuffer, to id: PeerID) {
        guard let connection = connections[id] else { return }
        let bytes = frame.readableBytes
        metrics.bytesSent.increment(by: bytes)
        connection.write(frame).hop(to: loop).whenSuccess {
            self.assumeIsolated { $0.perform($0.machine.written(bytes: bytes, to: id)) }
        }
    }

    private func append(_ events: [HubEvent]) {
        metrics.commitBatchEvents.record(events.count)
        let entries = events.map { JournalEntry(sequence: $0.sequence, record: $0.record) }
        let store = self.store
        let appended = loop.makePromise(of: Void.self)
        // On this loop, not the cooperative pool: a pool kept busy by other work must not hold up a commit.
        Task(executorPreference: storeCallExecutor) {
            do {
                try await store.append(entries)
                appended.succeed()
            } catch {
                appended.fail(error)
            }
        }
        appended.futureResult.whenComplete { result in
            self.assumeIsolated { engine in
                let now = NIODeadline.now().uptimeNanoseconds
                switch result {
                case .success: engine.perform(engine.machine.commitSucceeded(now: now))
                case .failure(let error): engine.perform(engine.machine.commitFailed("\(error)", now: now))
                }
            }
        }
    }

    /// Logs what an operator should read, and counts.
    private func record(_ notice: HubMachine.Notice) {
        switch notice {
        case .answered(let answers):
            metrics.record(answers)
        case .subscribed(let id, let filter, let resumeFrom, let sequence):
            connections[id]?.logger.info(
                "subscribed",
                metadata: [
                    "subscription.filter": "\(filter)",
                    "subscription.resumeFrom": "\(resumeFrom.map(String.init) ?? "none")",
                    "subscription.sequence": "\(sequence)",
                ])
        case .caughtUp(let id, let first, let last, let events):
            metrics.conflatedBatches.increment()
            connections[id]?.logger.info(
                "slow subscriber caught up with a conflated batch",
                metadata: ["batch.first": "\(first)", "batch.last": "\(last)", "batch.events": "\(events)"])
        case .droppedStalledSubscriber(let id, let pendingBytes):
            metrics.slowSubscriberDrops.increment()
            connections[id]?.logger.warning(
                "dropping a subscriber that stopped reading", metadata: ["subscriber.pendingBytes": "\(pendingBytes)"])
        case .storeFailed(let events, let error, let decision):
            metrics.commitFailures.increment()
            readiness.storeFailed(error)
            logStoreFailure(events: events, error: error, decision)
        case .replicationFailed(let reason):
            readiness.storeFailed(reason)
            logger.critical(
                "events stored by the leader do not apply here; this hub's copy stops before them",
                metadata: ["store.error": "\(reason)"])
        case .storeRecovered(let failures):
            readiness.storeRecovered()
            logger.notice("journal writes succeed again after \(failures) failed commits")
        }
    }

    private func logStoreFailure(events: Int, error: String, _ decision: RepeatedFailureLog.Decision) {
        switch decision {
        case .logFirst:
            logger.error(
                "journal write failed; \(events) submissions rejected as storeUnavailable",
                metadata: ["journal.error": "\(error)"])
        case .logSummary(let suppressed):
            logger.error(
                "journal writes still failing: \(suppressed) more failed commits since the last line; the latest rejected \(events) submissions",
                metadata: ["journal.error": "\(error)"])
        case .silent:
            break
        }
    }
}
