import ElectionModel
import HubCore
import HubWire
import Testing

/// A small election: two regions, three councils, one mayoralty.
enum Fixture {
    static let con = PartyIndex(0)
    static let lab = PartyIndex(1)
    static let ld = PartyIndex(2)
    static let north = RegionIndex(0)
    static let south = RegionIndex(1)
    static let alpha = ContestID(1)
    static let beta = ContestID(2)
    static let gamma = ContestID(3)
    static let mayor = ContestID(4)
    static let national = DeskIdentity(id: "national", scope: .all)
    static let northDesk = DeskIdentity(id: "north", scope: .regions([north]))

    static func election() throws -> Election {
        try Election(
            id: "core-test", name: "Core test", date: "2023-05-04",
            parties: [Party(code: "CON", name: "C"), Party(code: "LAB", name: "L"), Party(code: "LD", name: "D")],
            regions: [Region(id: "north", name: "North"), Region(id: "south", name: "South")],
            contests: [
                Contest(
                    id: alpha, slug: "alpha", name: "Alpha", region: north, kind: .council, totalSeats: 10,
                    seatsUp: 10, controlBefore: .party(con)),
                Contest(
                    id: beta, slug: "beta", name: "Beta", region: south, kind: .council, totalSeats: 9, seatsUp: 9,
                    controlBefore: .noOverallControl),
                Contest(
                    id: gamma, slug: "gamma", name: "Gamma", region: south, kind: .council, totalSeats: 5, seatsUp: 5,
                    controlBefore: .party(ld)),
                Contest(
                    id: mayor, slug: "mayor", name: "Mayor", region: north, kind: .mayoralty, totalSeats: nil,
                    seatsUp: nil, controlBefore: .party(lab), candidates: [Candidate(name: "A", party: lab)]),
            ])
    }

    static func declaration(_ contest: ContestID, revision: UInt32 = 1, _ seats: (PartyIndex, UInt32)...) -> Declaration
    {
        Declaration(
            contestID: contest, revision: revision, seats: seats.map { PartyCount(party: $0.0, count: $0.1) },
            declaredAt: 1_683_244_800_000)
    }
}

@Suite("Hub state")
struct HubStateTests {
    typealias F = Fixture

    func accepted(_ outcome: SubmissionOutcome) throws -> HubEvent {
        guard case .accepted(let event) = outcome else {
            Issue.record("expected accepted, got \(outcome)")
            throw CancellationError()
        }
        return event
    }

    @Test func assignsGaplessSequencesAndKeepsTheChecksum() throws {
        var state = HubState(election: try F.election())
        let first = try accepted(state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national))
        let second = try accepted(state.submit(F.declaration(F.beta, (F.ld, 9)), from: F.national))
        #expect(first.sequence == 1)
        #expect(second.sequence == 2)
        #expect(state.latestSequence == 2)
        let records = [state.record(F.alpha)!, state.record(F.beta)!]
        #expect(state.checksum == StateChecksum(records: records))
        #expect(state.scoreboard.contestsDeclared == 2)
    }

    @Test func resubmissionIsADuplicateWithTheOriginalSequence() throws {
        var state = HubState(election: try F.election())
        let event = try accepted(state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national))
        // Same content, seats listed in another order with a zero: still the same declaration.
        let again = state.submit(F.declaration(F.alpha, (F.con, 4), (F.ld, 0), (F.lab, 6)), from: F.national)
        #expect(again == .duplicate(sequence: event.sequence, record: event.record))
        #expect(state.latestSequence == 1)
        // A correction, then a late retry of revision 1: still the original ack, not a rejection.
        _ = try accepted(state.submit(F.declaration(F.alpha, revision: 2, (F.lab, 7), (F.con, 3)), from: F.national))
        #expect(
            state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national)
                == .duplicate(sequence: 1, record: event.record))
        #expect(state.latestSequence == 2)
    }

    /// Spec 7.2 (1.1): zero vote counts do not count, also against records a 1.0 hub journalled with them, both for
    /// the current revision and for an older one (which is compared by its content hash).
    @Test func zeroVotesDoNotMakeAConflict() throws {
        var state = HubState(election: try F.election())
        var withZero = F.declaration(F.alpha, (F.lab, 6), (F.con, 4))
        withZero.votes = [PartyCount(party: F.lab, count: 900), PartyCount(party: F.con, count: 0)]
        let journalled = try F.election().validate(withZero, from: F.national)
        // As a 1.0 hub kept it: the zero vote count in the record.
        var old = journalled
        if case .declared(var result) = old.state {
            result.votes = [PartyCount(party: F.con, count: 0), PartyCount(party: F.lab, count: 900)]
            old.state = .declared(result)
        }
        try state.replay(sequence: 1, record: old)
        var without = withZero
        without.votes = [PartyCount(party: F.lab, count: 900)]
        guard case .duplicate(let sequence, _) = state.submit(without, from: F.national) else {
            Issue.record("the current revision without CON=0 should be a duplicate")
            return
        }
        #expect(sequence == 1)
        _ = try accepted(state.submit(F.declaration(F.alpha, revision: 2, (F.lab, 7), (F.con, 3)), from: F.national))
        guard case .duplicate(let again, _) = state.submit(without, from: F.national) else {
            Issue.record("an older revision without CON=0 should be a duplicate")
            return
        }
        #expect(again == 1)
        guard case .duplicate = state.submit(withZero, from: F.national) else {
            Issue.record("an older revision with CON=0 should be a duplicate")
            return
        }
        var different = without
        different.votes = [PartyCount(party: F.lab, count: 901)]
        #expect(
            state.submit(different, from: F.national)
                == .rejected(.staleRevision(contest: "alpha", submitted: 1, current: 2)))
    }

    @Test func rememberedRevisionsAreBounded() throws {
        var state = HubState(election: try F.election(), retainedRevisions: 2)
        for revision in UInt32(1)...5 {
            // Odd revisions: all to CON; even: all to LD.
            let declaration = F.declaration(F.gamma, revision: revision, (revision % 2 == 1 ? F.con : F.ld, 5))
            _ = try accepted(state.submit(declaration, from: F.national))
        }
        // Revision 5 is current: always a duplicate. Revision 4 is remembered. Revision 1 is forgotten: stale.
        #expect(
            state.submit(F.declaration(F.gamma, revision: 5, (F.con, 5)), from: F.national)
                == .duplicate(sequence: 5, record: state.record(F.gamma)!))
        guard
            case .duplicate(let sequence, _) = state.submit(
                F.declaration(F.gamma, revision: 4, (F.ld, 5)), from: F.national)
        else {
            Issue.record("revision 4 should be remembered")
            return
        }
        #expect(sequence == 4)
        #expect(
            state.submit(F.declaration(F.gamma, revision: 1, (F.con, 5)), from: F.national)
                == .rejected(.staleRevision(contest: "gamma", submitted: 1, current: 5)))
    }

    @Test func rejectionsChangeNothing() throws {
        var state = HubState(election: try F.election())
        _ = try accepted(state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national))
        let before = state.checksum
        #expect(
            state.submit(F.declaration(F.alpha, (F.lab, 7), (F.con, 3)), from: F.national)
                == .rejected(.revisionConflict(contest: "alpha", revision: 1)))
        #expect(
            state.submit(F.declaration(F.beta, (F.lab, 9)), from: F.northDesk)
                == .rejected(.deskNotAllowed(desk: "north", contest: "beta", region: "south")))
        #expect(
            state.submit(F.declaration(F.alpha, revision: 2, (F.lab, 3)), from: F.national)
                == .rejected(.seatsDoNotAddUp(contest: "alpha", found: 3, expected: 10)))
        #expect(state.checksum == before)
        #expect(state.latestSequence == 1)
    }

    @Test func revertUndoesTheLatestEventsExactly() throws {
        var state = HubState(election: try F.election())
        _ = try accepted(state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national))
        let snapshotBefore = state.snapshot(for: .all, reason: .newSubscription)
        let boardBefore = state.scoreboard
        let a = try accepted(
            state.submit(F.declaration(F.alpha, revision: 2, (F.lab, 7), (F.con, 3)), from: F.national))
        let b = try accepted(
            state.withdraw(
                Withdrawal(contestID: F.alpha, revision: 3, withdrawnAt: 9, reason: "error"), from: F.national))
        state.revert(b)
        state.revert(a)
        #expect(state.snapshot(for: .all, reason: .newSubscription) == snapshotBefore)
        #expect(state.scoreboard == boardBefore)
        #expect(state.lastChange(of: F.alpha) == 1)
        // The reverted revision can be submitted again as new.
        #expect(
            try accepted(state.submit(F.declaration(F.alpha, revision: 2, (F.lab, 7), (F.con, 3)), from: F.national))
                .sequence == 2)
    }

    @Test func replayRebuildsTheSameState() throws {
        let election = try F.election()
        var live = HubState(election: election)
        var events: [HubEvent] = []
        events.append(try accepted(live.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national)))
        events.append(try accepted(live.submit(F.declaration(F.gamma, (F.ld, 5)), from: F.national)))
        events.append(
            try accepted(live.submit(F.declaration(F.alpha, revision: 2, (F.lab, 5), (F.con, 5)), from: F.national)))
        var replayed = HubState(election: election)
        for event in events { try replayed.replay(sequence: event.sequence, record: event.record) }
        #expect(replayed.checksum == live.checksum)
        #expect(replayed.scoreboard == live.scoreboard)
        #expect(throws: ReplayError.self) { try replayed.replay(sequence: 9, record: events[0].record) }
        // Idempotency survives a restart: a retried declaration is still a duplicate.
        #expect(
            replayed.submit(F.declaration(F.gamma, (F.ld, 5)), from: F.national)
                == .duplicate(sequence: 2, record: events[1].record))
    }

    @Test func filteredSnapshotsAndChecksums() throws {
        var state = HubState(election: try F.election())
        _ = try accepted(state.submit(F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), from: F.national))
        _ = try accepted(state.submit(F.declaration(F.beta, (F.ld, 9)), from: F.national))
        _ = try accepted(state.submit(F.declaration(F.mayor, (F.lab, 1)), from: F.national))
        let south = state.snapshot(for: .regions([F.south]), reason: .newSubscription)
        #expect(south.records.map(\.contestID) == [F.beta])
        #expect(south.checksum == StateChecksum(records: south.records).value)
        let mayors = state.snapshot(for: .contestKind(.mayoralty), reason: .newSubscription)
        #expect(mayors.records.map(\.contestID) == [F.mayor])
        #expect(state.checksum(for: .all) == state.checksum.value)
    }
}

@Suite("Event log and delta batches")
struct EventLogTests {
    typealias F = Fixture

    @Test func batchesCarryTheFilteredChecksumAfterEachBatch() throws {
        let election = try F.election()
        var state = HubState(election: election)
        var log = EventLog(capacity: 100)
        var history: [UInt64: UInt64] = [:]  // sequence -> south checksum after it
        let declarations = [
            F.declaration(F.alpha, (F.lab, 6), (F.con, 4)), F.declaration(F.beta, (F.ld, 9)),
            F.declaration(F.gamma, (F.ld, 5)), F.declaration(F.beta, revision: 2, (F.lab, 9)),
            F.declaration(F.alpha, revision: 2, (F.con, 10)), F.declaration(F.gamma, revision: 2, (F.con, 5)),
        ]
        for declaration in declarations {
            guard case .accepted(let event) = state.submit(declaration, from: F.national) else {
                Issue.record("not accepted")
                return
            }
            log.append(event)
            history[event.sequence] = state.checksum(for: .regions([F.south]))
        }
        let events = try #require(log.events(after: 1))
        let batches = DeltaBatching.batches(
            events, filter: .regions([F.south]), election: election,
            checksumAfter: state.checksum(for: .regions([F.south])),
            maxEvents: 2)
        #expect(batches.map(\.firstSequence) == [2, 4, 6])
        #expect(batches.map(\.lastSequence) == [3, 5, 6])
        for batch in batches {
            #expect(batch.checksum == history[batch.lastSequence])
            #expect(batch.events.allSatisfy { election.contest($0.record.contestID)!.region == F.south })
        }
        #expect(log.events(after: 6)?.isEmpty == true)
        #expect(log.events(after: 7) == nil)
    }

    @Test func theLogIsBounded() throws {
        let election = try F.election()
        var state = HubState(election: election)
        var log = EventLog(capacity: 3)
        for revision in 1...10 {
            guard
                case .accepted(let event) = state.submit(
                    F.declaration(F.gamma, revision: UInt32(revision), (F.ld, 5)), from: F.national)
            else { return }
            log.append(event)
        }
        #expect(log.count == 3)
        #expect(log.oldestResumePoint == 7)
        #expect(log.events(after: 6) == nil)
        #expect(log.events(after: 7)?.map(\.sequence) == [8, 9, 10])
    }
}

@Suite("Slow subscribers")
struct SubscriberFlowTests {
    func batch(_ first: UInt64, _ last: UInt64, contests: [UInt32]) -> DeltaBatch {
        DeltaBatch(
            firstSequence: first, lastSequence: last, conflated: false,
            events: contests.enumerated().map { offset, id in
                SequencedRecord(
                    sequence: first + UInt64(offset),
                    record: ContestRecord(
                        contestID: ContestID(id), revision: 1,
                        state: .withdrawn(WithdrawnResult(withdrawnAt: 0, deskID: "d", reason: ""))))
            }, checksum: 0)
    }

    @Test func conflatesPastTheBoundAndCatchesUpOnce() {
        var flow = SubscriberFlow(byteLimit: 1000, delivered: 0)
        #expect(flow.offer(batch(1, 1, contests: [1]), bytes: 600, nowNanos: 0) == .write)
        #expect(flow.offer(batch(2, 2, contests: [2]), bytes: 600, nowNanos: 10) == .skip)
        #expect(flow.offer(batch(3, 4, contests: [2, 3]), bytes: 600, nowNanos: 20) == .skip)
        #expect(flow.delivered == 1)
        #expect(flow.pendingBytes == 600, "skipped batches cost no memory")
        #expect(flow.catchUp == nil, "not drained yet")
        #expect(!flow.isStalled(nowNanos: 15, stallNanos: 10))
        #expect(flow.isStalled(nowNanos: 20, stallNanos: 10))
        flow.drained(bytes: 600)
        let catchUp = flow.catchUp
        #expect(catchUp?.first == 2)
        #expect(catchUp?.changed == [ContestID(2), ContestID(3)])
        flow.caughtUp(through: 4, bytes: 100)
        #expect(flow.mode == .live)
        #expect(flow.offer(batch(5, 5, contests: [1]), bytes: 100, nowNanos: 30) == .write)
        #expect(flow.delivered == 5)
    }

    @Test func aBatchLargerThanTheBoundStillGoesToAnIdleSocket() {
        var flow = SubscriberFlow(byteLimit: 100, delivered: 7)
        #expect(flow.offer(batch(8, 8, contests: [1]), bytes: 5000, nowNanos: 0) == .write)
    }
}
