import Benchmark
import BenchmarkFixtures
import ElectionModel
import Foundation
import HubCore
// HubJournal is not a product of the main package; it is built and linked here through the HubServer product.
import HubJournal
import HubWire
import Logging

// Journal replay per event: what a restart costs. The setup writes 1,000,000 events with the real `FileJournal`
// (the 234 first declarations of the night, then corrections cycling over the councils) into a temporary
// directory, in appends of 10,000; each iteration opens it again and times `recover` alone:
//
// - read-only: the journal reads, checks (CRC) and decodes every record and hands it to a closure that counts it.
// - into-machine: the same into `HubMachine.Recovery`, as `HubServer` does on start (`HubState.replay` and the
//   resume log, with the hub's default bounds).
//
// One event is one operation (`scalingFactor: .mega`, a million per iteration): the time is per event, the
// throughput events per second. Each benchmark runs in a process of its own, and writes and removes its own journal.

let journalEvents = 1_000_000

/// Where this process's journal is written; removed again by the teardown.
let journalDirectory = FileManager.default.temporaryDirectory
    .appendingPathComponent("resultshub-bench-journal-\(ProcessInfo.processInfo.processIdentifier)").path

let benchmarks: @Sendable () -> Void = {
    let perEvent = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        // The journal was just written, so it is in the page cache: no warm-up needed for that.
        warmupIterations: 0,
        scalingFactor: .mega,
        maxDuration: .seconds(20),
        maxIterations: 5,
        // See CodecBenchmarks: more than 1% more mallocs than Thresholds/ records fails the check.
        thresholds: [.mallocCountTotal: .init(relative: [.p90: 1.0])])

    Benchmark("FileJournal.replay.read-only", configuration: perEvent) {
        (benchmark: Benchmark, journal: WrittenJournal) async in
        let counted = await journal.recover(benchmark, into: 0) { count, _ in count += 1 }
        guard counted == journalEvents else { fatalError("read back \(counted) of \(journalEvents) events") }
    } setup: {
        try await WrittenJournal.write(events: journalEvents)
    } teardown: {
        try? FileManager.default.removeItem(atPath: journalDirectory)
    }

    Benchmark("FileJournal.replay.into-machine", configuration: perEvent) {
        (benchmark: Benchmark, journal: WrittenJournal) async in
        let recovered = await journal.recover(
            benchmark, into: HubMachine.Recovery(configuration: .init(election: Fixtures.election))
        ) { recovered, entry in
            try recovered.apply(sequence: entry.sequence, record: entry.record)
        }
        guard recovered.state.latestSequence == UInt64(journalEvents) else {
            fatalError("replayed \(recovered.state.latestSequence) of \(journalEvents) events")
        }
    } setup: {
        try await WrittenJournal.write(events: journalEvents)
    } teardown: {
        try? FileManager.default.removeItem(atPath: journalDirectory)
    }
}

/// A journal of valid events on disk.
struct WrittenJournal: Sendable {
    static let digest = ElectionDefinition(Fixtures.election).digest
    static let logger = {
        var logger = Logger(label: "bench.journal")
        // Not the notice each new journal logs.
        logger.logLevel = .warning
        return logger
    }()

    /// Writes `events` events into a new journal at `journalDirectory`, in appends of 10,000.
    static func write(events: Int) async throws -> WrittenJournal {
        try? FileManager.default.removeItem(atPath: journalDirectory)
        let journal = try await FileJournal.open(directory: journalDirectory, electionDigest: digest, logger: logger)
        _ = try await journal.recover(into: 0) { _, _ in }
        let election = Fixtures.election
        let desk = Fixtures.nationalDesk
        var sequence: UInt64 = 0
        var batch: [JournalEntry] = []
        var corrections = 0
        while sequence < UInt64(events) {
            batch.removeAll(keepingCapacity: true)
            while batch.count < 10_000 && sequence < UInt64(events) {
                sequence += 1
                let record: ContestRecord
                if sequence <= UInt64(Fixtures.nightRecords.count) {
                    record = Fixtures.nightRecords[Int(sequence) - 1]
                } else {
                    record = try election.validate(Fixtures.correction(corrections), from: desk)
                    corrections += 1
                }
                batch.append(JournalEntry(sequence: sequence, record: record))
            }
            try await journal.append(batch)
        }
        try await journal.close()
        return WrittenJournal()
    }

    /// Opens the journal and recovers it into `initial`, timing only the recovery.
    func recover<State: Sendable>(
        _ benchmark: Benchmark, into initial: State,
        _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async -> State {
        do {
            let journal = try await FileJournal.open(
                directory: journalDirectory, electionDigest: Self.digest, logger: Self.logger)
            benchmark.startMeasurement()
            let (state, recovery) = try await journal.recover(into: initial, apply)
            benchmark.stopMeasurement()
            try await journal.close()
            guard recovery.truncatedBytes == 0 else { fatalError("the journal had a torn tail") }
            return state
        } catch {
            fatalError("replay failed: \(error)")
        }
    }
}
