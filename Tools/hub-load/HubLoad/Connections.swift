import ElectionModel
import Histogram
import HubClient
import HubWire
import NIOCore
import Synchronization

extension LoadRunner {
    // MARK: Desks

    /// Submits the plan's work, keeping up to `pipeline` submissions in flight; returns the submit-to-ack latency.
    func submit(
        _ plan: DeskPlan, pipeline: Int, start: UInt64, at address: LoopbackAddress, state: RunState
    ) async throws -> (Histogram<UInt64>, DeskPlan) {
        do {
            return try await submitting(plan, pipeline: pipeline, start: start, at: address, state: state)
        } catch {
            state.failed.store(true, ordering: .relaxed)
            throw LoadFailure("desk \(plan.hello.principal): \(error)")
        }
    }

    private func submitting(
        _ plan: DeskPlan, pipeline: Int, start: UInt64, at address: LoopbackAddress, state: RunState
    ) async throws -> (Histogram<UInt64>, DeskPlan) {
        try await HubSession.connect(host: address.host, port: address.port, hello: plan.hello) { session in
            try checkElection(session.welcome)
            let idle = UInt64(session.welcome.heartbeatIntervalMillis) * 500_000
            var plan = plan
            var latency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
            var inFlight: [UInt64: (key: EventKey, sentAt: UInt64)] = [:]
            var requestID: UInt64 = 0
            var lastSent = nanos()
            var exhausted = false
            while true {
                var step = DeskPlan.Step.done
                if inFlight.count < pipeline && !exhausted && !state.failed.load(ordering: .relaxed) {
                    step = plan.next(now: nanos(), start: start)
                }
                switch step {
                case .submit(let submission):
                    guard state.budget.subtract(1, ordering: .relaxed).newValue >= 0 else {
                        exhausted = true
                        continue
                    }
                    requestID += 1
                    lastSent = nanos()
                    inFlight[requestID] = (submission.key, lastSent)
                    try await session.send(submission.message(requestID: requestID))
                    continue
                case .wait(let due) where inFlight.isEmpty:
                    // Idle until the next result is due; heartbeats keep the connection alive.
                    try await Task.sleep(for: .nanoseconds(min(due - min(due, nanos()), idle)))
                    if nanos() - lastSent >= idle {
                        try await session.send(.heartbeat(Heartbeat(sequence: 0)))
                        lastSent = nanos()
                    }
                    continue
                case .done where inFlight.isEmpty:
                    return (latency, plan)
                default:
                    break
                }
                guard let message = try await session.receive() else { throw HubClientError.connectionLost }
                switch message {
                case .ack(let ack):
                    let now = nanos()
                    guard let sent = inFlight.removeValue(forKey: ack.requestID),
                        EventKey(contest: ack.contestID, revision: ack.revision) == sent.key
                    else {
                        throw LoadFailure("an ack for \(ack.contestID) revision \(ack.revision) answers no request")
                    }
                    guard !ack.duplicate else {
                        throw LoadFailure("the hub already had \(sent.key) (a duplicate ack): load a fresh hub")
                    }
                    latency.record((now - sent.sentAt) / 1000)
                    state.ledger.withLock { $0.acked(sequence: ack.sequence, key: sent.key, sentAt: sent.sentAt) }
                case .reject(let reject):
                    let key = inFlight[reject.requestID]?.key.description ?? "request \(reject.requestID)"
                    throw LoadFailure("\(key) rejected: \(reject.code.name): \(reject.message)")
                case .heartbeat:
                    break
                case .goodbye(let goodbye):
                    throw HubClientError.closedByHub(goodbye)
                default:
                    throw LoadFailure("unexpected \(message.type.specName)")
                }
            }
        }
    }

    // MARK: Subscribers

    /// Subscribes, reports the snapshot's sequence on `ready`, checks every batch until the run's last sequence,
    /// then compares its copy with a fresh snapshot taken on a second connection.
    func watch(
        number: Int, filter: SubscriptionFilter, metered: Bool, at address: LoopbackAddress, state: RunState,
        ready: AsyncStream<UInt64?>.Continuation
    ) async throws -> SubscriberResult {
        let hello = Hello(role: .subscriber, principal: "hub-load-\(number)", secret: "", clientName: "hub-load")
        do {
            return try await HubSession.connect(host: address.host, port: address.port, hello: hello) { session in
                var copy = try await subscribe(&session, filter: filter, number: number, metered: metered, state: state)
                ready.yield(copy.replica.sequence)
                try await copy.follow(&session) { state.target.load(ordering: .relaxed) }
                let caughtUpAt = nanos()
                let checkHello = Hello(
                    role: .subscriber, principal: "hub-load-\(number)-check", secret: "", clientName: "hub-load")
                let fresh = try await HubSession.connect(host: address.host, port: address.port, hello: checkHello) {
                    try await subscribe(&$0, filter: filter, number: number, metered: false, state: state).snapshot!
                }
                try await copy.follow(&session) { fresh.sequence }
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
        _ session: inout HubSession, filter: SubscriptionFilter, number: Int, metered: Bool, state: RunState
    ) async throws -> SubscriberCopy {
        try checkElection(session.welcome)
        session.useCompression(dictionary: dictionary)
        try await session.send(.subscribe(Subscribe(filter: filter, resumeFrom: nil)))
        var copy = SubscriberCopy(
            number: number, state: state,
            meter: metered ? FrameCodec(format: session.welcome.compression, dictionary: dictionary) : nil,
            heartbeatNanos: UInt64(session.welcome.heartbeatIntervalMillis) * 500_000)
        try await copy.follow(&session) { 0 }
        return copy
    }
}

struct SubscriberResult: Sendable {
    var wireBytes: UInt64
    var meteredDeliveries: Int
    var caughtUpAt: UInt64
    var problems: [String]
}

/// One subscriber's verified copy, fed from its session; every batch also goes to the ledger.
struct SubscriberCopy {
    let number: Int
    let state: RunState
    /// Re-encodes what arrives, to count the bytes of the frames (the session does not expose them). The hub
    /// compresses each batch once for all subscribers with the same filter, so one of them measures.
    let meter: FrameCodec?
    let heartbeatNanos: UInt64
    var replica = Replica()
    var snapshot: Snapshot?
    var wireBytes: UInt64 = 0
    var meteredDeliveries = 0
    var lastSent = nanos()

    /// Receives until the copy has a snapshot and has applied `target()`.
    mutating func follow(_ session: inout HubSession, until target: () -> UInt64) async throws {
        while snapshot == nil || replica.sequence < target() {
            guard let message = try await session.receive() else { throw HubClientError.connectionLost }
            let now = nanos()
            switch message {
            case .snapshot(let snapshot) where self.snapshot == nil:
                try replica.apply(snapshot)
                self.snapshot = snapshot
            case .deltaBatch(let batch) where self.snapshot != nil:
                if let meter {
                    wireBytes += UInt64(meter.encode(message).readableBytes)
                    meteredDeliveries += batch.events.count
                }
                let received = ReceivedBatch(
                    first: batch.firstSequence, last: batch.lastSequence, conflated: batch.conflated,
                    events: batch.events.map {
                        ($0.sequence, EventKey(contest: $0.record.contestID, revision: $0.record.revision))
                    })
                state.ledger.withLock { $0.received(received, by: number, at: now) }
                try replica.apply(batch)
            case .heartbeat:
                break
            case .goodbye(let goodbye):
                throw HubClientError.closedByHub(goodbye)
            default:
                throw LoadFailure("unexpected \(message.type.specName)")
            }
            if now - lastSent >= heartbeatNanos {
                try await session.send(.heartbeat(Heartbeat(sequence: replica.sequence)))
                lastSent = now
            }
        }
    }
}

/// One desk connection and what it submits.
struct DeskPlan: Sendable {
    enum Work: Sendable {
        case generator(SaturationWorkload, for: Duration)
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

    mutating func next(now: UInt64, start: UInt64) -> Step {
        switch work {
        case .generator(var workload, let duration):
            guard now < start + UInt64(DurationText.seconds(duration) * 1e9) else { return .done }
            let submission = workload.next()
            work = .generator(workload, for: duration)
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
