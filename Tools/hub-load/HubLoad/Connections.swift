import ElectionModel
import Histogram
import HubClient
import HubWire
import Logging
import NIOCore
import Synchronization

extension LoadRunner {
    // MARK: Desks

    /// Submits the plan's work, keeping up to `pipeline` submissions in flight; returns the submit-to-ack latency.
    /// With `deskFailover` (a cluster), a lost connection is not the end: the desk goes to the hub a GOODBYE named, or
    /// the next address, and sends again what was not answered, in order (a duplicate ack for those is expected).
    func submit(
        _ plan: DeskPlan, pipeline: Int, start: UInt64, at address: LoopbackAddress, state: RunState
    ) async throws -> (Histogram<UInt64>, DeskPlan) {
        let progress = DeskProgress(plan: plan)
        let addresses = [address] + configuration.deskFailover.filter { $0 != address }
        var current = address
        var failovers = 0
        while true {
            do {
                return try await submitting(progress, pipeline: pipeline, start: start, at: current, state: state)
            } catch {
                guard addresses.count > 1, failovers < 50, !state.failed.load(ordering: .relaxed),
                    Self.isConnectionLoss(error)
                else {
                    state.failed.store(true, ordering: .relaxed)
                    throw LoadFailure("desk \(plan.hello.principal): \(error)")
                }
                failovers += 1
                if case HubClientError.closedByHub(let goodbye) = error, let leader = goodbye.leader, !leader.isEmpty,
                    let named = try? LoopbackAddress(parsing: leader)
                {
                    current = named
                } else {
                    let index = addresses.firstIndex(of: current).map { ($0 + 1) % addresses.count } ?? 0
                    current = addresses[index]
                    try await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    /// The connection went (the hub died, or it is not the leader): another hub may take the work on.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        switch error {
        case HubClientError.connectionLost, HubClientError.unreachable: return true
        case HubClientError.closedByHub(let goodbye): return goodbye.code != .authenticationFailed
        default: return false
        }
    }

    private func submitting(
        _ progress: DeskProgress, pipeline: Int, start: UInt64, at address: LoopbackAddress, state: RunState
    ) async throws -> (Histogram<UInt64>, DeskPlan) {
        let plan = progress.state.withLock { $0.plan }
        // The connection's request table matches each answer to its submission; its timer sends the heartbeats.
        let configuration = HubConnection.Configuration(deliversMessages: false)
        return try await HubConnection.connect(
            to: address.hubAddress, hello: plan.hello, configuration: configuration,
            logger: logger
        ) { connection, _ in
            try checkElection(connection.welcome)
            var plan = plan
            var exhausted = false
            // Sent on a connection that was lost: sent again first, in order, as batches of their own.
            var resend = progress.takeUnanswered()
            // nil: a paced desk's timer, due while submissions are in flight.
            return try await withThrowingTaskGroup(of: [Answered]?.self) { inFlight in
                var count = 0
                var timerPending = false
                while true {
                    // What is due now, up to the pipeline, goes out as one batch: one write and one task, not one
                    // of each per submission, or the tool rather than the hub would set the pace.
                    var batch: [Submission] = Array(resend.prefix(Self.maxBatch))
                    resend.removeFirst(batch.count)
                    var step = DeskPlan.Step.done
                    while resend.isEmpty && count + batch.count < pipeline && batch.count < Self.maxBatch && !exhausted
                        && !state.failed.load(ordering: .relaxed)
                    {
                        // A full window (compare): wait for the slowest subscriber, polling, as the Redis side does.
                        step =
                            state.windowIsFull(inFlight: count + batch.count)
                            ? .wait(until: nanos() + 50_000) : plan.next(now: nanos(), start: start)
                        guard case .submit(let submission) = step else { break }
                        guard state.budget.subtract(1, ordering: .relaxed).newValue >= 0 else {
                            exhausted = true
                            step = .done
                            break
                        }
                        batch.append(submission)
                    }
                    if !batch.isEmpty {
                        count += batch.count
                        let sentAt = nanos()
                        let batchID = progress.sent(batch, plan: plan)
                        // Written here, in order, so that two revisions of one contest in flight arrive in order;
                        // only the waiting for answers is a task of its own.
                        let pending = try await connection.send(
                            batch.map { submission in { submission.message(requestID: $0) } })
                        inFlight.addTask { [batch] in
                            let answers = try await pending.answers()
                            let at = nanos()
                            progress.answered(batchID)
                            return zip(answers, batch).map {
                                Answered(answer: $0, key: $1.key, sentAt: sentAt, at: at)
                            }
                        }
                        continue
                    }
                    switch step {
                    case .wait(let due) where count == 0:
                        // Idle until the next result is due.
                        try await Task.sleep(for: .nanoseconds(due - min(due, nanos())))
                        continue
                    case .wait(let due) where !timerPending:
                        // Paced: the next submission is due before the answers in flight may come.
                        timerPending = true
                        inFlight.addTask {
                            try await Task.sleep(for: .nanoseconds(due - min(due, nanos())))
                            return nil
                        }
                    case .done where count == 0:
                        return (progress.state.withLock { $0.latency }, plan)
                    default:
                        break
                    }
                    guard let next = try await inFlight.next() else { throw HubClientError.connectionLost }
                    guard let answers = next else {
                        timerPending = false
                        continue
                    }
                    count -= answers.count
                    for answered in answers {
                        let sent = answered.key
                        switch answered.answer {
                        case .ack(let ack):
                            guard EventKey(contest: ack.contestID, revision: ack.revision) == sent else {
                                throw LoadFailure(
                                    "an ack for \(ack.contestID) revision \(ack.revision) answers no request")
                            }
                            guard !ack.duplicate || progress.wasSentAgain(sent) else {
                                throw LoadFailure("the hub already had \(sent) (a duplicate ack): load a fresh hub")
                            }
                            state.noteAck(at: answered.at, from: address.port)
                            _ = progress.state.withLock { $0.latency.record((answered.at - answered.sentAt) / 1000) }
                            state.ledger.withLock {
                                $0.acked(sequence: ack.sequence, key: sent, sentAt: answered.sentAt)
                            }
                        case .reject(let reject):
                            throw LoadFailure("\(sent) rejected: \(reject.code.name): \(reject.message)")
                        case let message:
                            throw LoadFailure("unexpected \(message.type.specName)")
                        }
                    }
                }
            }
        }
    }

    /// Submissions one desk sends in one write at most.
    static let maxBatch = 32
}

/// A desk's work across its connections: where it is in its plan, its latencies, and what it sent that was not
/// answered yet (sent again on the next connection when one is lost).
final class DeskProgress: Sendable {
    struct State: Sendable {
        var plan: DeskPlan
        var latency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var outstanding: [Int: [Submission]] = [:]
        var nextBatch = 0
        var sentAgain: Set<EventKey> = []
    }
    let state: Mutex<State>

    init(plan: DeskPlan) {
        state = Mutex(State(plan: plan))
    }

    /// A batch written, and the plan after it; its id.
    func sent(_ batch: [Submission], plan: DeskPlan) -> Int {
        state.withLock { state in
            state.plan = plan
            state.nextBatch += 1
            state.outstanding[state.nextBatch] = batch
            return state.nextBatch
        }
    }

    func answered(_ batch: Int) {
        _ = state.withLock { $0.outstanding.removeValue(forKey: batch) }
    }

    /// What was sent and not answered, in the order sent; from now on their duplicate acks are expected.
    func takeUnanswered() -> [Submission] {
        state.withLock { state in
            let unanswered = state.outstanding.keys.sorted().flatMap { state.outstanding[$0]! }
            state.outstanding.removeAll()
            state.sentAgain.formUnion(unanswered.map(\.key))
            return unanswered
        }
    }

    func wasSentAgain(_ key: EventKey) -> Bool { state.withLock { $0.sentAgain.contains(key) } }
}

extension LoadRunner {

    /// A desk's answer, with when its submission was sent and when the answer came (nanoseconds).
    private struct Answered: Sendable {
        var answer: HubMessage
        var key: EventKey
        var sentAt: UInt64
        var at: UInt64
    }

    // MARK: Subscribers

    /// Subscribes, reports the snapshot's sequence on `ready`, checks every batch until the run's last sequence,
    /// then compares its copy with a fresh snapshot taken on a second connection.
    func watch(
        number: Int, filter: SubscriptionFilter, metered: Bool, at address: LoopbackAddress, state: RunState,
        ready: AsyncStream<UInt64?>.Continuation
    ) async throws -> SubscriberResult {
        let hello = Hello(role: .subscriber, principal: "hub-load-\(number)", secret: "", clientName: "hub-load")
        let hub = address.hubAddress
        do {
            return try await HubConnection.connect(to: hub, hello: hello, logger: logger) { connection, events in
                var events = events.makeAsyncIterator()
                var copy = try await subscribe(
                    connection, &events, filter: filter, number: number, metered: metered, state: state)
                ready.yield(copy.sequence)
                try await copy.follow(connection, &events) { state.target.load(ordering: .relaxed) }
                let caughtUpAt = nanos()
                guard configuration.verify else {
                    return SubscriberResult(
                        wireBytes: copy.wireBytes, meteredDeliveries: copy.meteredDeliveries, caughtUpAt: caughtUpAt,
                        problems: [])
                }
                let checkHello = Hello(
                    role: .subscriber, principal: "hub-load-\(number)-check", secret: "", clientName: "hub-load")
                let fresh = try await HubConnection.connect(to: hub, hello: checkHello, logger: logger) {
                    var events = $1.makeAsyncIterator()
                    return try await subscribe(
                        $0, &events, filter: filter, number: number, metered: false, state: state
                    ).snapshot!
                }
                try await copy.follow(connection, &events) { fresh.sequence }
                var problems: [String] = []
                if copy.replica.sequence != fresh.sequence || copy.replica.checksum.value != fresh.checksum
                    || copy.replica.records
                        != Dictionary(uniqueKeysWithValues: fresh.records.map { ($0.contestID, $0) })
                {
                    problems.append(
                        "subscriber \(number): its copy at \(copy.replica.sequence) (checksum \(copy.replica.checksum.value)) "
                            + "differs from a fresh snapshot at \(fresh.sequence) (checksum \(fresh.checksum))")
                }
                return SubscriberResult(
                    wireBytes: copy.wireBytes, meteredDeliveries: copy.meteredDeliveries, caughtUpAt: caughtUpAt,
                    problems: problems)
            }
        } catch {
            state.failed.store(true, ordering: .relaxed)
            ready.yield(nil)
            throw LoadFailure("subscriber \(number) (\(FilterText.describe(filter, election: election))): \(error)")
        }
    }

    private func subscribe(
        _ connection: HubConnection, _ events: inout HubConnection.Events.AsyncIterator, filter: SubscriptionFilter,
        number: Int, metered: Bool, state: RunState
    ) async throws -> SubscriberCopy {
        try checkElection(connection.welcome)
        connection.useCompression(dictionary: dictionary)
        try await connection.send(.subscribe(Subscribe(filter: filter, resumeFrom: nil)))
        var copy = SubscriberCopy(number: number, state: state, metered: metered, verify: configuration.verify)
        try await copy.follow(connection, &events) { 0 }
        return copy
    }
}

struct SubscriberResult: Sendable {
    var wireBytes: UInt64
    var meteredDeliveries: Int
    var caughtUpAt: UInt64
    var problems: [String]
}

/// One subscriber's verified copy, fed from its connection; every batch also goes to the ledger.
struct SubscriberCopy {
    let number: Int
    let state: RunState
    /// Counts the bytes of the batch frames received, as the connection read them. The hub compresses each batch
    /// once for all subscribers with the same filter, so one of them measures.
    let metered: Bool
    /// Apply every batch to `replica`, which recomputes the checksum (see `LoadConfiguration.verify`).
    let verify: Bool
    var replica = Replica()
    /// The last sequence received (and applied to `replica` when verifying).
    var sequence: UInt64 = 0
    var snapshot: Snapshot?
    var wireBytes: UInt64 = 0
    var meteredDeliveries = 0

    /// Receives until the copy has a snapshot and has applied `target()`; the connection's heartbeats carry the
    /// copy's sequence.
    mutating func follow(
        _ connection: HubConnection, _ events: inout HubConnection.Events.AsyncIterator, until target: () -> UInt64
    ) async throws {
        while snapshot == nil || sequence < target() {
            guard let event = try await events.next() else { throw HubClientError.connectionLost }
            guard case .message(let message, let frameBytes) = event else { continue }
            let now = nanos()
            switch message {
            case .snapshot(let snapshot) where self.snapshot == nil:
                try replica.apply(snapshot)
                self.snapshot = snapshot
                sequence = snapshot.sequence
            case .deltaBatch(let batch) where self.snapshot != nil:
                if metered {
                    wireBytes += UInt64(frameBytes)
                    meteredDeliveries += batch.events.count
                }
                let received = ReceivedBatch(
                    first: batch.firstSequence, last: batch.lastSequence, conflated: batch.conflated,
                    events: batch.events.map {
                        ($0.sequence, EventKey(contest: $0.record.contestID, revision: $0.record.revision))
                    })
                state.ledger.withLock { $0.received(received, by: number, at: now) }
                if verify { try replica.apply(batch) }
                sequence = batch.lastSequence
            case .heartbeat:
                break
            case .goodbye(let goodbye):
                throw HubClientError.closedByHub(goodbye)
            default:
                throw LoadFailure("unexpected \(message.type.specName)")
            }
            connection.setHeartbeatSequence(sequence)
        }
    }
}

/// One desk connection and what it submits.
struct DeskPlan: Sendable {
    enum Work: Sendable {
        case generator(SaturationWorkload, for: Duration)
        /// The generator's submissions, one every `interval` nanoseconds; `sent` so far.
        case paced(SaturationWorkload, for: Duration, interval: UInt64, sent: Int)
        /// Entries at their time, `speed` times faster than the night.
        case schedule(ArraySlice<NightSchedule.Entry>, speed: Double)
    }
    enum Step {
        case submit(Submission)
        case wait(until: UInt64)
        case done
    }
    var hello: Hello
    var work: Work

    /// The generator behind saturating and paced work, which makes the run's last submission too.
    var saturationWorkload: SaturationWorkload? {
        switch work {
        case .generator(let workload, _), .paced(let workload, _, _, _): return workload
        case .schedule: return nil
        }
    }

    mutating func next(now: UInt64, start: UInt64) -> Step {
        switch work {
        case .generator(var workload, let duration):
            guard now < start + UInt64(DurationText.seconds(duration) * 1e9) else { return .done }
            let submission = workload.next()
            work = .generator(workload, for: duration)
            return .submit(submission)
        case .paced(var workload, let duration, let interval, let sent):
            guard now < start + UInt64(DurationText.seconds(duration) * 1e9) else { return .done }
            let due = start + UInt64(sent) * interval
            guard now >= due else { return .wait(until: due) }
            let submission = workload.next()
            work = .paced(workload, for: duration, interval: interval, sent: sent + 1)
            return .submit(submission)
        case .schedule(var entries, let speed):
            guard let entry = entries.first else { return .done }
            let due = start + UInt64(Double(entry.at) * 1e6 / speed)
            guard now >= due else { return .wait(until: due) }
            entries.removeFirst()
            work = .schedule(entries, speed: speed)
            return .submit(entry.submission)
        }
    }
}

extension Submission {
    /// A schedule entry due at once (the region is not used by the desk).
    var dueNow: NightSchedule.Entry { NightSchedule.Entry(at: 0, region: RegionIndex(0), submission: self) }
}
