import ElectionModel
import Foundation
import Histogram
import HubWire
import Testing

@testable import HubLoad

let election = try! ResultMaker.defaultElection()

@Suite struct InputTests {
    @Test func durations() throws {
        #expect(try DurationText.parse("20s") == .seconds(20))
        #expect(try DurationText.parse("2m") == .seconds(120))
        #expect(try DurationText.parse("1h") == .seconds(3600))
        #expect(try DurationText.parse("500ms") == .milliseconds(500))
        #expect(try DurationText.parse("2ms") == .milliseconds(2))
        #expect(try DurationText.parse("1.5s") == .milliseconds(1500))
        for bad in ["", "20", "s", "-1s", "0s", "2 m", "twos", "nans"] {
            #expect(throws: LoadInputError.self) { try DurationText.parse(bad) }
        }
    }

    @Test func filters() throws {
        #expect(try FilterText.parse("all", election: election) == .all)
        let northWest = try #require(election.region(id: "north-west"))
        #expect(try FilterText.parse("region:north-west", election: election) == .regions([northWest]))
        #expect(try FilterText.parse("kind:council", election: election) == .contestKind(.council))
        #expect(try FilterText.parse("kind:mayoralty", election: election) == .contestKind(.mayoralty))
        for bad in ["", "region:atlantis", "kind:parish", "north-west", "ALL"] {
            #expect(throws: LoadInputError.self) { try FilterText.parse(bad, election: election) }
        }
        #expect(FilterText.describe(.regions([northWest]), election: election) == "region:north-west")
    }

    @Test func loopbackOnly() throws {
        #expect(try LoopbackAddress(parsing: "127.0.0.1:7400") == LoopbackAddress(host: "127.0.0.1", port: 7400))
        #expect(try LoopbackAddress(parsing: "127.1.2.3:1").host == "127.1.2.3")
        #expect(try LoopbackAddress(parsing: "localhost:80").port == 80)
        #expect(try LoopbackAddress(parsing: "[::1]:7400") == LoopbackAddress(host: "::1", port: 7400))
        for bad in [
            "10.0.0.1:7400", "example.com:7400", "127.0.0.300:1", "127.0.0.1", "127.0.0.1:0", "[::2]:7400",
            "128.0.0.1:1",
        ] {
            #expect(throws: LoadInputError.self) { try LoopbackAddress(parsing: bad) }
        }
    }
}

@Suite struct WorkloadTests {
    /// Feeds submissions through the model's own validation and revision rules, in order.
    func apply(_ submissions: [(Submission, DeskIdentity)]) throws {
        var current: [ContestID: ContestRecord] = [:]
        for (submission, desk) in submissions {
            let record: ContestRecord
            switch submission {
            case .declare(let declaration): record = try election.validate(declaration, from: desk)
            case .withdraw(let withdrawal): record = try election.validate(withdrawal, from: desk)
            }
            #expect(try election.admit(record, over: current[record.contestID]) == .new)
            #expect(record != current[record.contestID])
            current[record.contestID] = record
        }
    }

    @Test func nightDeclaresEveryContestOnceWithAFewLaterCorrections() throws {
        let night = NightSchedule(election: election)
        #expect(night.entries.map(\.at) == night.entries.map(\.at).sorted())
        #expect(night.entries.allSatisfy { $0.at < NightSchedule.lengthMillis })
        let firsts = night.entries.filter { $0.submission.key.revision == 1 }
        #expect(firsts.map(\.submission.key.contest).sorted() == election.contests.map(\.id))
        let later = night.entries.filter { $0.submission.key.revision > 1 }
        #expect(later.count == NightSchedule.corrections + 1)
        #expect(Set(later.map(\.submission.key.contest)).count == later.count)
        let withdrawals = later.filter { if case .withdraw = $0.submission { true } else { false } }
        #expect(withdrawals.count == 1)
        for entry in later {
            let first = try #require(firsts.first { $0.submission.key.contest == entry.submission.key.contest })
            #expect(first.at <= entry.at)
            #expect(election.contest(entry.submission.key.contest)?.kind == .council)
        }
        // Each by its region's desk, valid, in an order the hub accepts.
        for entry in night.entries {
            #expect(election.contest(entry.submission.key.contest)?.region == entry.region)
        }
        try apply(
            night.entries.map {
                ($0.submission, DeskIdentity(id: election.regions[$0.region.rawValue].id, scope: .regions([$0.region])))
            })
        #expect(NightSchedule(election: election).entries == night.entries)
    }

    @Test func nightUsesRealSeatsWhereTheyAddUp() throws {
        let night = NightSchedule(election: election)
        let swindon = try #require(election.contest(slug: "swindon"))
        let entry = try #require(
            night.entries.first { $0.submission.key == EventKey(contest: swindon.id, revision: 1) })
        guard case .declare(let declaration) = entry.submission else { throw LoadInputError("not a declaration") }
        #expect(declaration.seats == swindon.reference?.seats)
        let leicester = try #require(election.contest(slug: "mayor-of-leicester"))
        let mayor = try #require(night.entries.first { $0.submission.key.contest == leicester.id })
        guard case .declare(let result) = mayor.submission else { throw LoadInputError("not a declaration") }
        #expect(result.candidateVotes == leicester.reference?.candidateVotes)
    }

    @Test func saturationDesksOwnDisjointContestsAndRaiseRevisions() throws {
        let desks = 3
        var owned: [Set<ContestID>] = []
        var submissions: [(Submission, DeskIdentity)] = []
        for desk in 0..<desks {
            var workload = SaturationWorkload(election: election, desk: desk, desks: desks)
            let batch = (0..<(election.contests.count / desks * 3)).map { _ in workload.next() }
            owned.append(Set(batch.map(\.key.contest)))
            submissions += batch.map { ($0, DeskIdentity(id: "national", scope: .all)) }
        }
        #expect(owned.map(\.count).reduce(0, +) == election.contests.count)
        #expect(owned[0].isDisjoint(with: owned[1]) && owned[1].isDisjoint(with: owned[2]))
        // Every one valid, each a new revision whose record differs from the one before.
        try apply(submissions)
    }
}

@Suite struct LedgerTests {
    let odd: @Sendable (ContestID) -> Bool = { $0.rawValue % 2 == 1 }
    let every: @Sendable (ContestID) -> Bool = { _ in true }

    func key(_ contest: UInt32, _ revision: UInt32 = 1) -> EventKey {
        EventKey(contest: ContestID(contest), revision: revision)
    }

    /// Sequences 11...14 (base 10): contests 1, 2, 3, 1 (revision 2), acked at time 0.
    func ledger() -> DeliveryLedger {
        var ledger = DeliveryLedger(base: 10, filters: [every, odd])
        for (sequence, key) in [(11, key(1)), (12, key(2)), (13, key(3)), (14, key(1, 2))] {
            ledger.acked(sequence: UInt64(sequence), key: key, sentAt: 0)
        }
        return ledger
    }

    let all = ReceivedBatch(
        first: 11, last: 14,
        events: [
            (11, EventKey(contest: ContestID(1), revision: 1)), (12, EventKey(contest: ContestID(2), revision: 1)),
            (13, EventKey(contest: ContestID(3), revision: 1)), (14, EventKey(contest: ContestID(1), revision: 2)),
        ])

    @Test func cleanRunHasNoProblems() {
        var ledger = ledger()
        ledger.received(all, by: 0, at: 5_000)
        ledger.received(ReceivedBatch(first: 11, last: 12, events: [(11, key(1))]), by: 1, at: 5_000)
        ledger.received(ReceivedBatch(first: 13, last: 14, events: [(13, key(3)), (14, key(1, 2))]), by: 1, at: 7_000)
        #expect(ledger.finish(last: 14) == 0)
        #expect(ledger.problems == [])
        #expect(ledger.deliveredCount == 7)
        #expect(ledger.deliveryLatency.totalCount == 7)
        #expect(ledger.deliveryLatency.max == 7)
    }

    @Test func gapDuplicateOrderAndFilterAreReported() {
        var ledger = ledger()
        ledger.received(ReceivedBatch(first: 11, last: 11, events: [(11, key(1))]), by: 0, at: 0)
        ledger.received(ReceivedBatch(first: 13, last: 14, events: [(14, key(1, 2)), (13, key(3))]), by: 0, at: 0)
        ledger.received(ReceivedBatch(first: 11, last: 12, events: [(12, key(2))]), by: 1, at: 0)
        ledger.received(ReceivedBatch(first: 12, last: 14, events: [(13, key(3)), (14, key(1, 2))]), by: 1, at: 0)
        ledger.finish(last: 14)
        let text = ledger.problems.joined(separator: "\n")
        #expect(text.contains("subscriber 0: gap, batch starts at 13 after 11"))
        #expect(text.contains("subscriber 0: event 13 (contest 3 revision 1) out of order"))
        #expect(text.contains("subscriber 1: received contest 2 revision 1, which its filter excludes"))
        #expect(text.contains("subscriber 1: batch 12...14 repeats sequences up to 12 (duplicate)"))
        #expect(text.contains("sequence 12 (contest 2 revision 1) reached 0 subscribers, expected 1"))
        #expect(text.contains("sequence 13 (contest 3 revision 1) reached 1 subscribers, expected 2"))
        #expect(text.contains("sequence 11 (contest 1 revision 1) reached 1 subscribers, expected 2"))
    }

    @Test func missingAckAndWrongContentAreReported() {
        var ledger = DeliveryLedger(base: 0, filters: [every])
        ledger.acked(sequence: 1, key: key(1), sentAt: 0)
        ledger.received(ReceivedBatch(first: 1, last: 2, events: [(1, key(5)), (2, key(2))]), by: 0, at: 0)
        ledger.finish(last: 2)
        let text = ledger.problems.joined(separator: "\n")
        #expect(text.contains("sequence 1: subscriber 0 says contest 5 revision 1, earlier contest 1 revision 1"))
        #expect(text.contains("sequence 2 was never acked"))
    }

    @Test func stoppingShortIsReported() {
        var ledger = ledger()
        ledger.received(all, by: 0, at: 0)
        ledger.finish(last: 14)
        #expect(ledger.problems.contains("subscriber 1 reached sequence 10, not the last acked 14"))
    }

    @Test func conflationMaySkipSupersededEventsOnly() {
        var ledger = ledger()
        ledger.received(all, by: 0, at: 0)
        // Subscriber 1 fell behind: one conflated batch with the latest record of each changed contest.
        ledger.received(
            ReceivedBatch(first: 11, last: 14, conflated: true, events: [(13, key(3)), (14, key(1, 2))]), by: 1, at: 0)
        #expect(ledger.finish(last: 14) == 1)
        #expect(ledger.problems == [])
        #expect(ledger.conflatedBatches == 1)
    }

    @Test func receiptBeforeAckStillMeasuresLatency() {
        var ledger = DeliveryLedger(base: 0, filters: [every])
        ledger.received(ReceivedBatch(first: 1, last: 1, events: [(1, key(1))]), by: 0, at: 9_000_000)
        #expect(ledger.deliveryLatency.totalCount == 0)
        ledger.acked(sequence: 1, key: key(1), sentAt: 1_000_000)
        #expect(ledger.deliveryLatency.totalCount == 1)
        #expect(ledger.deliveryLatency.valuesAreEquivalent(ledger.deliveryLatency.max, 8_000))
        ledger.finish(last: 1)
        #expect(ledger.problems == [])
    }
}

@Suite struct ReportTests {
    @Test func percentiles() {
        var histogram = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        for value in 1...1000 { histogram.record(UInt64(value)) }
        let summary = LatencySummary(histogram)
        #expect(summary.count == 1000)
        #expect(summary.p50 == 500)
        #expect(summary.p90 == 900)
        #expect(summary.p99 == 990)
        #expect(summary.p999 == 999)
        #expect(summary.max == 1000)
        #expect(summary.text == "p50 500 us  p90 900 us  p99 990 us  p99.9 999 us  max 1.00 ms")
        #expect(LatencySummary(Histogram<UInt64>()).p99 == 0)
    }

    @Test func durationsRead() {
        #expect(LatencySummary.format(micros: 999) == "999 us")
        #expect(LatencySummary.format(micros: 1_234) == "1.23 ms")
        #expect(LatencySummary.format(micros: 2_500_000) == "2.50 s")
    }

    @Test func reportReadsAndSaysWhenItFailed() throws {
        let latency = #"{"count": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0, "max": 0}"#
        let json = #"""
            {"mode": "saturate", "hub": "127.0.0.1:7400", "cores": 2, "desks": 4, "subscribers": ["all", "kind:council", "all"],
             "pipeline": 32,
             "loadSeconds": 10, "deliverySeconds": 10.5, "declarationsAccepted": 1234567, "acceptedPerSecond": 123456.7,
             "deliveries": 100, "deliveriesPerSecond": 10, "wireBytes": 5000, "wireBytesPerDelivery": 50,
             "wireBytesMethod": "test", "ackLatencyMicros": LATENCY, "deliveryLatencyMicros": LATENCY,
             "conflatedBatches": 0, "supersededDeliveries": 0, "hubUsage": {"cpuSeconds": 5, "peakMemoryBytes": 1048576},
             "verified": true, "problems": []}
            """#.replacingOccurrences(of: "LATENCY", with: latency)
        var report = try JSONDecoder().decode(LoadReport.self, from: Data(json.utf8))
        let again = try JSONDecoder().decode(LoadReport.self, from: JSONEncoder().encode(report))
        #expect(again.declarationsAccepted == 1_234_567 && again.hubUsage == report.hubUsage && again.speed == nil)
        #expect(report.summary.contains("3 subscribers (2 × all, kind:council)"))
        #expect(report.summary.contains("accepted      1234567 declarations in 10.00 s: 123.5k/s"))
        #expect(report.summary.contains("CPU 5.00 s (48% of one core), peak memory 1.0 MiB"))
        #expect(!report.summary.contains("resident"), "a report without the resident set does not invent one")
        report.hubUsage?.residentMemoryBytes = 3 << 20
        #expect(report.summary.contains("peak memory 1.0 MiB, resident at the end 3.0 MiB"))
        #expect(report.summary.contains("verified"))
        report.verified = false
        report.problems = ["sequence 3 reached 0 subscribers, expected 1"]
        #expect(report.summary.hasSuffix("FAILED        1 problems:\n  - sequence 3 reached 0 subscribers, expected 1"))
    }

    @Test func procFiles() {
        let stat = "4242 (results hub) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 3 0 12345 1000 200"
        #expect(HubProcess.cpuTicks(stat: stat) == 175)
        #expect(HubProcess.cpuTicks(stat: "garbage") == nil)
        let status = "Name:\tresults-hub\nVmPeak:\t  900000 kB\nVmHWM:\t   32768 kB\nVmRSS:\t   30000 kB\n"
        #expect(HubProcess.peakMemoryBytes(status: status) == 32 * 1024 * 1024)
        #expect(HubProcess.peakMemoryBytes(status: "VmHWM:\t12345678 kB\n") == 12_345_678 * 1024)
        #expect(HubProcess.residentMemoryBytes(status: status) == 30000 * 1024)
        #expect(HubProcess.residentMemoryBytes(status: "VmHWM:\t12345678 kB\n") == nil)
        #expect(
            HubProcess.servingPort(
                inLine: "results-hub: serving English local elections 2023 (234 contests) on 127.0.0.1:40123") == 40123)
        #expect(HubProcess.servingPort(inLine: "results-hub: journal in /tmp/x") == nil)
    }

    @Test func theProgressLineShowsTotalsAndTimeLeft() {
        let line = RunState.progressLine(
            elapsedSeconds: 12.4, plannedSeconds: 20, acked: 1234, delivered: 1200, ackedPerSecond: 100,
            deliveredPerSecond: 98)
        #expect(line.hasPrefix("12 of 20 s (8 s left): accepted 1234 in total"))
        #expect(line.contains("delivered 1200 in total"))
        #expect(!line.contains("\r"))
    }
}
