import ElectionModel
import HubTestSupport
import HubWire
import NIOCore
import Testing

@testable import HubCore

@Suite("Event log storage")
struct EventLogStorageTests {
    typealias F = Fixture

    /// `count` accepted events of every kind (declarations with votes, turnout and candidate votes, corrections,
    /// withdrawals) from a fresh state, and the state after them.
    func history(_ count: Int, election: Election) -> (events: [HubEvent], state: HubState) {
        var state = HubState(election: election, retainedRevisions: 100)
        var events: [HubEvent] = []
        var revisions: [ContestID: UInt32] = [:]
        var random = SplitMix64(seed: 7)
        while events.count < count {
            let contest = [F.alpha, F.beta, F.gamma, F.mayor][Int(random.next() % 4)]
            let revision = revisions[contest, default: 0] + 1
            let outcome: SubmissionOutcome
            if random.next() % 10 == 0 {
                outcome = state.withdraw(
                    Withdrawal(
                        contestID: contest, revision: revision, withdrawnAt: random.next() % 1_000_000,
                        reason: "recount \(revision)"), from: F.national)
            } else {
                let seats: [PartyCount]
                var candidateVotes: [UInt32]?
                switch contest {
                case F.alpha: seats = [PartyCount(party: F.lab, count: 6), PartyCount(party: F.con, count: 4)]
                case F.beta: seats = [PartyCount(party: F.ld, count: UInt32(9))]
                case F.gamma: seats = [PartyCount(party: random.next() % 2 == 0 ? F.con : F.ld, count: 5)]
                default:
                    seats = [PartyCount(party: F.lab, count: 1)]
                    candidateVotes = [UInt32(random.next() % 100_000)]
                }
                outcome = state.submit(
                    Declaration(
                        contestID: contest, revision: revision, seats: seats,
                        votes: contest == F.alpha ? [PartyCount(party: F.lab, count: UInt32(revision))] : nil,
                        turnoutBasisPoints: UInt16(random.next() % 10_000), candidateVotes: candidateVotes,
                        declaredAt: 1_683_244_800_000 + UInt64(revision)),
                    from: random.next() % 2 == 0 ? F.national : F.northDesk)
            }
            guard case .accepted(let event) = outcome else { continue }
            revisions[contest] = revision
            events.append(event)
        }
        return (events, state)
    }

    func logged(_ event: HubEvent) -> LoggedEvent {
        LoggedEvent(sequence: event.sequence, record: event.record, checksumDelta: event.checksumDelta)
    }

    @Test func resumesReadBackEveryEventAcrossSegmentsAndDrops() throws {
        let election = try F.election()
        let (events, _) = history(5000, election: election)
        var log = EventLog(capacity: 2500)
        for (index, event) in events.enumerated() {
            log.append(event)
            // The log frees whole segments: never more than one segment of events beyond its capacity.
            #expect(log.storedEvents <= log.capacity + log.segmentCapacity - 1)
            if index % 499 == 0 {
                let resumeFrom = log.oldestResumePoint!
                #expect(log.events(after: resumeFrom).map { Array($0) } == events[Int(resumeFrom)...index].map(logged))
            }
        }
        #expect(log.count == 2500)
        #expect(log.oldestResumePoint == 2500)
        #expect(log.events(after: 2499) == nil)
        for resumeFrom in [UInt64(2500), 3000, 3071, 3072, 4095, 4096, 4999] {
            let missed = try #require(log.events(after: resumeFrom))
            #expect(missed.count == 5000 - Int(resumeFrom))
            #expect(Array(missed) == events[Int(resumeFrom)...].map(logged))
        }
        #expect(log.events(after: 5000)?.isEmpty == true)
        #expect(log.events(after: 5001) == nil)
    }

    @Test func anEmptyLogAndALogStartingLater() throws {
        let election = try F.election()
        let (events, _) = history(10, election: election)
        var log = EventLog(capacity: 4)
        #expect(log.events(after: 0)?.isEmpty == true)
        #expect(log.events(after: 1) == nil)
        #expect(log.oldestResumePoint == nil)
        for event in events[5...] { log.append(event) }
        #expect(log.oldestResumePoint == 6)
        #expect(log.events(after: 6)?.map(\.sequence) == [7, 8, 9, 10])
    }

    /// Batches from the log's encoded events are the batches, and the frames, that the events themselves give.
    @Test func batchesFromTheLogAreByteIdenticalToBatchesFromTheEvents() throws {
        let election = try F.election()
        let (events, state) = history(2100, election: election)
        var log = EventLog(capacity: 2100)
        for event in events { log.append(event) }
        let filters: [SubscriptionFilter] = [.all, .regions([F.south]), .contestKind(.mayoralty)]
        let codecs = [FrameCodec(), FrameCodec(format: .deflate, dictionary: Array("alpha beta gamma".utf8))]
        for filter in filters {
            for resumeFrom in [UInt64(0), 1023, 1024, 2099] {
                for maxEvents in [1, 7, 4096] {
                    let fromLog = DeltaBatching.batches(
                        try #require(log.events(after: resumeFrom)), filter: filter, election: election,
                        checksumAfter: state.checksum(for: filter), maxEvents: maxEvents)
                    let fromEvents = DeltaBatching.batches(
                        events[Int(resumeFrom)...], filter: filter, election: election,
                        checksumAfter: state.checksum(for: filter), maxEvents: maxEvents)
                    #expect(fromLog == fromEvents)
                    // Uncompressed frames for every batching; deflated ones where batches are few (it is slow).
                    for codec in maxEvents == 1 ? [codecs[0]] : codecs {
                        #expect(
                            fromLog.map { codec.encode(.deltaBatch($0)) }
                                == fromEvents.map { codec.encode(.deltaBatch($0)) })
                    }
                }
            }
        }
    }
}
