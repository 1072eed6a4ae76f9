import Benchmark
import BenchmarkFixtures
import ElectionModel
import HubCore
import HubWire
import NIOCore

// The hub's state machine without I/O: events applied per second (submissions validated and applied; journal
// records replayed) and the cost of a new subscriber's snapshot of the 234-contest state.

let benchmarks: @Sendable () -> Void = {
    let fixture = HubCoreFixture()

    let perEvent = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        // See CodecBenchmarks: more than 1% more mallocs than Thresholds/ records fails the check.
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 1.0])])

    // 1000 corrections per iteration, each a new revision of a council (cycling over the 230), applied to the state
    // after every contest's first declaration. Every one is validated and accepted.
    Benchmark("HubState.submit.correction", configuration: perEvent) { benchmark in
        var state = fixture.declared
        // The first change copies the shared state's storage; not part of what is measured.
        guard case .accepted = state.submit(fixture.corrections[0], from: Fixtures.nationalDesk) else {
            fatalError("correction 0 was not accepted")
        }
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            blackHole(state.submit(fixture.corrections[index + 1], from: Fixtures.nationalDesk))
        }
        withExtendedLifetime(state) { benchmark.stopMeasurement() }
    }

    // 1000 journal records per iteration into an empty state: every contest's first declaration, then corrections.
    Benchmark("HubState.replay.journal-record", configuration: perEvent) { benchmark in
        var state = HubState(election: Fixtures.election)
        benchmark.startMeasurement()
        for index in benchmark.scaledIterations {
            let event = fixture.journal[index]
            blackHole(try! state.replay(sequence: event.sequence, record: event.record))
        }
        withExtendedLifetime(state) { benchmark.stopMeasurement() }
    }

    let perSnapshot = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        // See CodecBenchmarks: more than 1% more mallocs than Thresholds/ records fails the check.
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 1.0])])

    Benchmark("HubState.snapshot.all-234", configuration: perSnapshot) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(fixture.declared.snapshot(for: .all, reason: .newSubscription))
        }
    }

    Benchmark("HubState.snapshot.one-region", configuration: perSnapshot) { benchmark in
        let filter = SubscriptionFilter.regions([RegionIndex(0)])
        for _ in benchmark.scaledIterations {
            blackHole(fixture.declared.snapshot(for: filter, reason: .newSubscription))
        }
    }

    // What a new subscriber costs the hub: the snapshot, encoded and compressed into the frame it sends.
    Benchmark("HubState.snapshot+deflated-frame.all-234", configuration: perSnapshot) {
        (benchmark: Benchmark, codec: FrameCodec) in
        for _ in benchmark.scaledIterations {
            blackHole(codec.encode(.snapshot(fixture.declared.snapshot(for: .all, reason: .newSubscription))))
        }
    } setup: {
        FrameCodec(format: .deflate, dictionary: Fixtures.dictionary)
    }
}

/// The states and event lists the benchmarks start from, checked once.
struct HubCoreFixture: Sendable {
    /// Every contest's first declaration applied (sequence 234).
    let declared: HubState
    /// 1001 valid corrections of `declared`, cycling over the councils with rising revisions.
    let corrections: [Declaration]
    /// 1000 (sequence, record) pairs from an empty state: the 234 first declarations, then corrections.
    let journal: [(sequence: UInt64, record: ContestRecord)]

    init() {
        let election = Fixtures.election
        let desk = Fixtures.nationalDesk
        var declared = HubState(election: election)
        for declaration in Fixtures.nightDeclarations {
            guard case .accepted = declared.submit(declaration, from: desk) else {
                fatalError("a first declaration was not accepted")
            }
        }
        let corrections = (0..<1001).map(Fixtures.correction)
        // Check that every correction is accepted, as the benchmark assumes.
        var check = declared
        for correction in corrections {
            guard case .accepted = check.submit(correction, from: desk) else {
                fatalError("a correction was not accepted")
            }
        }
        var journal: [(sequence: UInt64, record: ContestRecord)] = []
        for record in Fixtures.nightRecords { journal.append((UInt64(journal.count + 1), record)) }
        for correction in corrections where journal.count < 1000 {
            journal.append((UInt64(journal.count + 1), try! election.validate(correction, from: desk)))
        }
        self.declared = declared
        self.corrections = corrections
        self.journal = journal
    }
}
