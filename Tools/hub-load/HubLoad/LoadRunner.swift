import ElectionModel
import Foundation
import Histogram
import HubClient
import HubWire
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What to run.
public struct LoadConfiguration: Sendable {
    public enum Mode: Sendable {
        case saturate(duration: Duration, desks: Int, pipeline: Int, maxDeclarations: Int)
        case night(speed: Double)
        /// `hub-load compare`'s shape: one desk, at most `window` declarations ahead of the slowest subscriber (and
        /// in flight); as fast as that allows, or paced at `rate` per second; for `duration`.
        case compare(duration: Duration, window: Int, rate: Double?, maxDeclarations: Int)
    }
    public var mode: Mode
    public var filters: [SubscriptionFilter]
    /// The hub to load, which must be fresh; nil starts one as a child process.
    public var hub: LoopbackAddress?
    /// Desk and token for a hub given with `hub` (the desk must be allowed every region).
    public var desk: String
    public var token: String?
    /// Load a hub given with `hub` even if it already holds results (its watchers will see the tool's fake ones).
    public var force: Bool
    /// Each subscriber keeps a checked copy (every batch's checksum recomputed) and compares it with a fresh
    /// snapshot at the end. Off, the ledger still checks order, gaps and counts, and measures latency; the copies'
    /// hashing, which at saturation costs the tool more CPU than the hub's fan-out, is skipped.
    public var verify: Bool
    /// The `results-hub` to start when `hub` is nil; nil: the one beside this tool.
    public var hubExecutable: URL?
    /// Where the subscribers connect, in turn, when not to `hub` (a cluster's followers and relays).
    public var subscriberHubs: [LoopbackAddress] = []
    /// The other hubs of a cluster: a desk whose connection is lost goes on at one of them (`submit`).
    public var deskFailover: [LoopbackAddress] = []
    /// `kill -9` of this process `after` the load starts (a cluster's leader): the report says how long until the
    /// next ack.
    public var killDuringLoad: (pid: Int32, port: Int, after: Duration)?

    public init(
        mode: Mode, filters: [SubscriptionFilter], hub: LoopbackAddress?, desk: String, token: String?,
        force: Bool = false, verify: Bool = true, hubExecutable: URL? = nil
    ) {
        self.verify = verify
        self.hubExecutable = hubExecutable
        self.mode = mode
        self.filters = filters
        self.hub = hub
        self.desk = desk
        self.token = token
        self.force = force
    }
}

/// A failure that stops the run: the tool exits non-zero with this message.
public struct LoadFailure: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Runs the load: subscribers first, then desks, then one last submission after which every subscriber checks its
/// copy against a fresh snapshot. Everything it measures and finds goes into the report.
public struct LoadRunner: Sendable {
    let configuration: LoadConfiguration
    let election: Election
    let dictionary: [UInt8]
    let digest: UInt64
    /// What the connections log (the tool reports what goes wrong itself).
    let logger: Logger

    public init(configuration: LoadConfiguration, election: Election, logger: Logger = Logger(label: "hub-load")) {
        self.configuration = configuration
        self.election = election
        self.logger = logger
        let definition = ElectionDefinition(election)
        self.dictionary = definition.presetDictionary
        self.digest = definition.digest
    }

    public func run() async throws -> LoadReport {
        guard let address = configuration.hub else {
            let hub = try await HubProcess.start(
                executable: configuration.hubExecutable ?? HubProcess.siblingExecutable(), election: election)
            do {
                let atStart = hub.usage()
                var report = try await run(at: LoopbackAddress(host: "127.0.0.1", port: hub.port)) { hub.tokens[$0]! }
                report.hubUsage = hub.usage()
                report.hubUsage?.cpuSecondsAtStart = atStart?.cpuSeconds
                report.hub = "child process on 127.0.0.1:\(hub.port)"
                await hub.stop()
                return report
            } catch {
                await hub.stop()
                throw error
            }
        }
        guard let token = configuration.token else {
            throw LoadInputError("--hub needs a desk token: --token or RESULTS_HUB_TOKEN")
        }
        return try await run(at: address) { _ in token }
    }

    /// The desks' work, and for the night the held-back last result.
    private func plans(token: (String) -> String) -> (desks: [DeskPlan], finale: DeskPlan?, bound: Duration) {
        func hello(_ region: RegionIndex?) -> Hello {
            let id =
                configuration.hub == nil
                ? region.map { election.regions[$0.rawValue].id } ?? "national" : configuration.desk
            return Hello(role: .desk, principal: id, secret: token(id), clientName: "hub-load")
        }
        switch configuration.mode {
        case .saturate(let duration, let desks, _, _):
            let desks = min(desks, election.contests.count)
            let plans = (0..<desks).map { number in
                DeskPlan(
                    hello: hello(nil),
                    work: .generator(SaturationWorkload(election: election, desk: number, desks: desks), for: duration))
            }
            return (plans, nil, duration)
        case .compare(let duration, _, let rate, _):
            let workload = SaturationWorkload(election: election, desk: 0, desks: 1)
            let work: DeskPlan.Work =
                rate.map { DeskPlan.Work.paced(workload, for: duration, interval: UInt64(1e9 / $0), sent: 0) }
                ?? .generator(workload, for: duration)
            return ([DeskPlan(hello: hello(nil), work: work)], nil, duration)
        case .night(let speed):
            var entries = NightSchedule(election: election).entries
            let last = entries.removeLast()
            let plans = election.regions.indices.map { index in
                DeskPlan(
                    hello: hello(RegionIndex(index)),
                    work: .schedule(entries.filter { $0.region.rawValue == index }[...], speed: speed))
            }
            let finale = DeskPlan(hello: hello(last.region), work: .schedule([last.submission.dueNow], speed: 1))
            return (plans, finale, .milliseconds(Int64(Double(NightSchedule.lengthMillis) / speed)))
        }
    }

    private func run(at address: LoopbackAddress, token: (String) -> String) async throws -> LoadReport {
        let state = RunState()
        var pipeline = 1
        switch configuration.mode {
        case .saturate(_, _, let depth, let maxDeclarations):
            pipeline = depth
            state.budget.store(maxDeclarations, ordering: .relaxed)
        case .compare(_, let window, _, let maxDeclarations):
            // Submissions go out in order (one writer per desk), so the window alone bounds what is in flight, up to
            // what one connection lets wait for answers.
            pipeline = min(window, HubConnection.Configuration().maxPendingRequests)
            state.window.store(window, ordering: .relaxed)
            state.budget.store(maxDeclarations, ordering: .relaxed)
        case .night:
            break
        }
        let (plans, finale, bound) = plans(token: token)
        let limit = bound + .seconds(60)
        // Bounded in time whatever happens: a stuck hub ends the run, saying how far it got.
        return try await withThrowingTaskGroup(of: LoadReport?.self) { group in
            group.addTask { [pipeline] in
                try await load(
                    plans, finale: finale, pipeline: pipeline, plannedLength: bound, at: address, state: state)
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let report = try await group.next()!
            group.cancelAll()
            guard let report else {
                throw LoadFailure("the run did not end within \(limit): \(state.whereItStands)")
            }
            return report
        }
    }

    private func load(
        _ plans: [DeskPlan], finale reservedFinale: DeskPlan?, pipeline: Int, plannedLength: Duration,
        at address: LoopbackAddress, state: RunState
    ) async throws -> LoadReport {
        let filters = configuration.filters
        return try await withThrowingTaskGroup(of: SubscriberResult.self) { group in
            // Subscribers first, each from the same snapshot of an idle hub.
            let (ready, readyContinuation) = AsyncStream.makeStream(of: UInt64?.self)
            for (number, filter) in filters.enumerated() {
                let hubs = configuration.subscriberHubs
                let watched = hubs.isEmpty ? address : hubs[number % hubs.count]
                group.addTask {
                    try await self.watch(
                        number: number, filter: filter, metered: filters.firstIndex(of: filter) == number, at: watched,
                        state: state, ready: readyContinuation)
                }
            }
            var bases = Set<UInt64>()
            for await sequence in ready.prefix(filters.count) {
                guard let sequence else {
                    _ = try await group.next()
                    throw LoadFailure("a subscriber failed to start")
                }
                bases.insert(sequence)
            }
            let base: UInt64
            if filters.isEmpty {
                // No subscribers (compare's ingest row) to read the hub's sequence: only a hub this tool started
                // is known to be empty.
                guard configuration.hub == nil else {
                    throw LoadFailure("a load without subscribers needs a hub this tool starts (no --hub)")
                }
                base = 0
            } else {
                guard bases.count == 1, let only = bases.first else {
                    throw LoadFailure("the hub is not idle: subscribers started at sequences \(bases.sorted())")
                }
                base = only
            }
            // Nothing has been submitted yet: a hub that already holds results is someone's night (or a
            // rehearsal's), and the tool's made-up results would reach its watchers.
            if base > 0, !configuration.force {
                throw LoadFailure(
                    "the hub at \(address) already holds \(base) events: hub-load submits made-up results, which its watchers would see; load an empty hub (hub-load starts one without --hub), or give --force"
                )
            }
            let election = self.election
            state.ledger.withLock {
                $0 = DeliveryLedger(
                    base: base,
                    filters: filters.map { filter -> @Sendable (ContestID) -> Bool in
                        { filter.matches(election.contest($0)!) }
                    })
            }

            // Desks, until their duration or schedule ends.
            let start = nanos()
            let progress = Task { [bound = plannedLength] in await state.showProgress(start: start, planned: bound) }
            defer { progress.cancel() }
            let killer = configuration.killDuringLoad.map { target in
                Task {
                    try await Task.sleep(for: target.after)
                    state.killedPort.store(target.port, ordering: .relaxed)
                    kill(target.pid, SIGKILL)
                    state.killedAt.store(nanos(), ordering: .relaxed)
                }
            }
            defer { killer?.cancel() }
            var ackLatency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
            var finale = reservedFinale
            try await withThrowingTaskGroup(of: (Histogram<UInt64>, DeskPlan).self) { desks in
                for plan in plans {
                    desks.addTask {
                        try await self.submit(plan, pipeline: pipeline, start: start, at: address, state: state)
                    }
                }
                for try await (latency, plan) in desks {
                    ackLatency.add(latency)
                    if finale == nil, var workload = plan.saturationWorkload {
                        finale = DeskPlan(hello: plan.hello, work: .schedule([workload.next().dueNow], speed: 1))
                    }
                }
            }
            let loadEnd = nanos()

            // One last submission, alone, takes the next sequence number and wakes every subscriber: each stops
            // there and compares its copy with a fresh snapshot.
            let last = state.ledger.withLock { $0.base + UInt64($0.ackedCount) } + 1
            state.target.store(last, ordering: .relaxed)
            // Not part of the load's budget: with --max-declarations spent, the desks stopped early, and the last
            // submission must still go out or no subscriber would ever reach `last`.
            state.budget.store(1, ordering: .relaxed)
            _ = try await submit(finale!, pipeline: 1, start: nanos(), at: address, state: state)
            var results: [SubscriberResult] = []
            for try await result in group { results.append(result) }
            progress.cancel()
            if RunState.progressOnATerminal { FileHandle.standardError.write(Data("\n".utf8)) }

            let timing = (start: start, loadEnd: loadEnd, deliveryEnd: results.map(\.caughtUpAt).max() ?? loadEnd)
            var report = report(
                ledger: state.ledger.withLock { $0 }, last: last, results: results, ackLatency: ackLatency,
                desks: plans.count, pipeline: pipeline, timing: timing)
            let (killed, acked) = (
                state.killedAt.load(ordering: .relaxed), state.firstAckAfterKill.load(ordering: .relaxed)
            )
            if killed != 0 && acked > killed { report.takeoverSeconds = Double(acked - killed) / 1e9 }
            return report
        }
    }

    private func report(
        ledger: DeliveryLedger, last: UInt64, results: [SubscriberResult], ackLatency: Histogram<UInt64>, desks: Int,
        pipeline: Int, timing: (start: UInt64, loadEnd: UInt64, deliveryEnd: UInt64)
    ) -> LoadReport {
        var ledger = ledger
        let superseded = ledger.finish(last: last)
        let problems = ledger.problems + results.flatMap(\.problems)
        let loadSeconds = Double(timing.loadEnd - timing.start) / 1e9
        let deliverySeconds = Double(timing.deliveryEnd - timing.start) / 1e9
        let wireBytes = results.reduce(0) { $0 + $1.wireBytes }
        let metered = results.reduce(0) { $0 + $1.meteredDeliveries }
        var speed: Double?
        var mode = "saturate"
        switch configuration.mode {
        case .night(let factor):
            speed = factor
            mode = "night"
        case .compare: mode = "compare"
        case .saturate: break
        }
        return LoadReport(
            mode: mode, hub: configuration.hub?.description ?? "",
            cores: System.coreCount,
            desks: desks, subscribers: configuration.filters.map { FilterText.describe($0, election: election) },
            pipeline: pipeline, speed: speed, loadSeconds: loadSeconds, deliverySeconds: deliverySeconds,
            declarationsAccepted: ledger.ackedCount, acceptedPerSecond: Double(ledger.ackedCount) / loadSeconds,
            deliveries: ledger.deliveredCount, deliveriesPerSecond: Double(ledger.deliveredCount) / deliverySeconds,
            wireBytes: wireBytes, wireBytesPerDelivery: Double(wireBytes) / Double(max(1, metered)),
            wireBytesMethod: "DELTA_BATCH frames to one subscriber per filter, as read from the socket",
            ackLatencyMicros: LatencySummary(ackLatency), deliveryLatencyMicros: LatencySummary(ledger.deliveryLatency),
            conflatedBatches: ledger.conflatedBatches, supersededDeliveries: superseded, hubUsage: nil,
            verified: problems.isEmpty, copiesVerified: configuration.verify, problems: problems)
    }

    func checkElection(_ welcome: Welcome) throws {
        guard welcome.electionDigest == digest else {
            throw LoadFailure("the hub serves election \(welcome.electionID), not this tool's \(election.id)")
        }
    }
}

func nanos() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// State shared by the tasks of a run.
final class RunState: Sendable {
    let ledger = Mutex(DeliveryLedger(base: 0, filters: []))
    /// Declarations still allowed (saturate's count bound).
    let budget = Atomic<Int>(Int.max)
    /// Declarations a desk may have submitted beyond what the slowest subscriber received (compare's window).
    let window = Atomic<Int>(Int.max)
    /// Subscribers stop once they have applied this sequence.
    let target = Atomic<UInt64>(UInt64.max)
    let failed = Atomic<Bool>(false)
    /// When `killDuringLoad` killed its process (0: not yet), and the first ack after that.
    let killedAt = Atomic<UInt64>(0)
    let firstAckAfterKill = Atomic<UInt64>(0)

    /// The port of the hub killed (`killDuringLoad`): acks still read from its socket after the kill do not count.
    let killedPort = Atomic<Int>(0)

    func noteAck(at: UInt64, from port: Int) {
        let killed = killedAt.load(ordering: .relaxed)
        guard killed != 0, at > killed, port != killedPort.load(ordering: .relaxed) else { return }
        _ = firstAckAfterKill.compareExchange(expected: 0, desired: at, ordering: .relaxed)
    }

    /// Whether a desk with `inFlight` unanswered submissions must wait before the next: the window counts what was
    /// submitted beyond what the slowest subscriber received.
    func windowIsFull(inFlight: Int) -> Bool {
        let window = self.window.load(ordering: .relaxed)
        guard window != Int.max else { return false }
        let ahead = ledger.withLock { $0.ackedCount - Int($0.slowestApplied - $0.base) }
        return ahead + inFlight >= window
    }

    var whereItStands: String {
        ledger.withLock { ledger in
            "\(ledger.ackedCount) acked after sequence \(ledger.base); subscribers at \(ledger.applied)"
        }
    }

    /// Whether standard error is a terminal: the progress line then rewrites itself with `\r`; otherwise (a log
    /// file, CI) it is a plain line every 5 s.
    static let progressOnATerminal = isatty(STDERR_FILENO) == 1

    /// The progress on standard error: seconds run of those planned, totals accepted and delivered, and rates.
    func showProgress(start: UInt64, planned: Duration) async {
        let terminal = Self.progressOnATerminal
        let interval = terminal ? 1 : 5
        var previous = (acked: 0, delivered: 0)
        while (try? await Task.sleep(for: .seconds(interval))) != nil {
            let now = ledger.withLock { (acked: $0.ackedCount, delivered: $0.deliveredCount) }
            let line = Self.progressLine(
                elapsedSeconds: Double(nanos() - start) / 1e9, plannedSeconds: Double(planned.components.seconds),
                acked: now.acked, delivered: now.delivered,
                ackedPerSecond: Double(now.acked - previous.acked) / Double(interval),
                deliveredPerSecond: Double(now.delivered - previous.delivered) / Double(interval))
            FileHandle.standardError.write(Data((terminal ? "\r" + line + "   " : line + "\n").utf8))
            previous = now
        }
    }

    static func progressLine(
        elapsedSeconds: Double, plannedSeconds: Double, acked: Int, delivered: Int, ackedPerSecond: Double,
        deliveredPerSecond: Double
    ) -> String {
        let left = max(0, plannedSeconds - elapsedSeconds)
        return "\(fixed(elapsedSeconds, 0)) of \(fixed(plannedSeconds, 0)) s (\(fixed(left, 0)) s left): "
            + "accepted \(acked) in total (\(compact(ackedPerSecond))/s), delivered \(delivered) in total "
            + "(\(compact(deliveredPerSecond))/s)"
    }
}
