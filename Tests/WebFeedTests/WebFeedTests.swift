import ElectionModel
import Foundation
import HubTestSupport
import HubWire
import NIOCore
import Testing
import WebFeed

/// What results-web computes and shares, without HTTP: the JSON views, the change events, resuming after a
/// `Last-Event-ID`, and the bounded queues per browser.
@Suite("WebFeed")
struct WebFeedTests {
    typealias T = TestElection
    static let desk = DeskIdentity(id: "national", scope: .all)

    static func record(_ contest: ContestID, _ revision: UInt32 = 1, _ seats: [PartyCount]) throws -> ContestRecord {
        try T.make().validate(
            Declaration(
                contestID: contest, revision: revision, seats: seats, turnoutBasisPoints: 3120,
                declaredAt: 1_683_256_320_000),
            from: desk)
    }

    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))
        return try #require(value as? [String: Any])
    }

    @Test func aGainIsToldAsANewsroomWouldWithSeatChangesAndNullsForWhatIsUnknown() throws {
        let election = try T.make()
        var results = LiveResults(election: election)
        _ = results.replaceAll(with: [], sequence: 0, rehearsal: false)
        let events = results.apply(
            [SequencedRecord(sequence: 1, record: try Self.record(T.alpha, 1, T.seats((T.lab, 6), (T.con, 4))))],
            through: 1)
        #expect(events.count == 1)
        let event = try Self.object(events[0].data)
        #expect(event["change"] as? String == "declared")
        #expect(event["sequence"] as? Int == 1)
        #expect(event["rehearsal"] as? Bool == false)
        let contest = try #require(event["contest"] as? [String: Any])
        #expect(contest["headline"] as? String == "Labour gain Alpha from Conservative")
        #expect(contest["outcome"] as? String == "gain")
        #expect(contest["control"] as? String == "LAB")
        #expect(contest["controlBefore"] as? String == "CON")
        #expect(contest["seats"] as? [String: Int] == ["LAB": 6, "CON": 4])
        #expect(contest["turnoutPercent"] as? Double == 31.2)
        #expect(contest["declaredAt"] as? String == "2023-05-05T03:12:00Z")
        // No composition before in the test election: seat changes are unknown, and said to be (null), not left out.
        #expect(contest["seatChanges"] is NSNull)
        #expect(contest["gss"] is NSNull)
        let scoreboard = try #require(event["scoreboard"] as? [String: Any])
        #expect(scoreboard["contestsDeclared"] as? Int == 1)
        let parties = try #require(scoreboard["parties"] as? [[String: Any]])
        let labour = try #require(parties.first { $0["code"] as? String == "LAB" })
        #expect(labour["councils"] as? Int == 1)
        #expect(labour["councilsChange"] as? Int == 1)
        #expect(labour["councillors"] as? Int == 6)
    }

    @Test func headlinesForEveryOutcome() throws {
        let election = try T.make()
        func headline(_ contest: ContestID, _ seats: [PartyCount]) throws -> String? {
            let record = try Self.record(contest, 1, seats)
            return ContestView(contest: election.contest(contest)!, record: record, in: election).headline
        }
        #expect(try headline(T.alpha, T.seats((T.con, 6), (T.lab, 4))) == "Conservative hold Alpha")
        #expect(
            try headline(T.alpha, T.seats((T.con, 5), (T.lab, 5))) == "Conservative lose Alpha to no overall control")
        #expect(try headline(T.beta, T.seats((T.con, 4), (T.lab, 5))) == "Labour gain Beta from no overall control")
        #expect(
            try headline(T.beta, T.seats((T.con, 4), (T.lab, 4), (T.ld, 1))) == "No overall control in Beta (no change)"
        )
        #expect(try headline(T.gamma, T.seats((T.grn, 3), (T.lab, 1))) == "Green win Gamma")
        #expect(try headline(T.mayor, T.seats((T.con, 1))) == "Conservative gain Mayor of Alpha from Labour")
    }

    @Test func correctionsAndWithdrawalsAreMarkedAsSuch() throws {
        let election = try T.make()
        var results = LiveResults(election: election)
        _ = results.replaceAll(with: [], sequence: 0, rehearsal: false)
        let first = try Self.record(T.alpha, 1, T.seats((T.lab, 6), (T.con, 4)))
        let correction = try Self.record(T.alpha, 2, T.seats((T.lab, 5), (T.con, 5)))
        let withdrawal = ContestRecord(
            contestID: T.alpha, revision: 3,
            state: .withdrawn(WithdrawnResult(withdrawnAt: 1_683_256_400_000, deskID: "national", reason: "recount")))
        let events = results.apply(
            [
                SequencedRecord(sequence: 1, record: first), SequencedRecord(sequence: 2, record: correction),
                SequencedRecord(sequence: 3, record: withdrawal),
            ], through: 3)
        let kinds = try events.map { try Self.object($0.data)["change"] as? String }
        #expect(kinds == ["declared", "corrected", "withdrawn"])
        // A page that connects now sees them as they happened, in the resync.
        let recent = try #require(try Self.object(results.resyncEvent().data)["recent"] as? [[String: Any]])
        #expect(recent.map { $0["change"] as? String } == ["declared", "corrected", "withdrawn"])
        #expect(recent.map { $0["sequence"] as? Int } == [1, 2, 3])
        let withdrawn = try #require(try Self.object(events[2].data)["contest"] as? [String: Any])
        #expect(withdrawn["status"] as? String == "withdrawn")
        #expect(withdrawn["withdrawnReason"] as? String == "recount")
        #expect(withdrawn["headline"] is NSNull)
        // Withdrawn is not declared: the scoreboard no longer counts it.
        let scoreboard = try #require(try Self.object(events[2].data)["scoreboard"] as? [String: Any])
        #expect(scoreboard["contestsDeclared"] as? Int == 0)
    }

    @Test func serverSentEventsAndWebSocketMessagesCarryTheSameJSON() throws {
        let data = ByteBuffer(string: #"{"sequence":7}"#)
        let event = WebEvent(kind: .change, id: 7, data: data)
        #expect(String(buffer: event.serverSentEvent) == "event: change\nid: 7\ndata: {\"sequence\":7}\n\n")
        #expect(String(buffer: event.webSocketMessage) == #"{"event":"change","data":{"sequence":7}}"#)
        let feed = WebEvent(kind: .feed, id: nil, data: data)
        #expect(String(buffer: feed.serverSentEvent) == "event: feed\ndata: {\"sequence\":7}\n\n")
    }

    @Test func aClientResumesWithExactlyTheEventsAfterItsLastOne() throws {
        var results = LiveResults(election: try T.make())
        _ = results.replaceAll(with: [], sequence: 0, rehearsal: false)
        for sequence in UInt64(1)...10 {
            let seats = sequence % 2 == 0 ? T.seats((T.lab, 6), (T.con, 4)) : T.seats((T.con, 6), (T.lab, 4))
            _ = results.apply(
                [SequencedRecord(sequence: sequence, record: try Self.record(T.alpha, UInt32(sequence), seats))],
                through: sequence)
        }
        #expect(results.events(after: 10, limit: 100)?.count == 0)
        #expect(results.events(after: 7, limit: 100)?.map(\.id) == [8, 9, 10])
        #expect(results.events(after: 0, limit: 100)?.map(\.id) == Array(1...10))
        // Not an id this feed gave, beyond it, or more than the client may be sent at once: a resync instead.
        #expect(results.events(after: 11, limit: 100) == nil)
        #expect(results.events(after: 2, limit: 5) == nil)
    }

    @Test func theHistoryIsBoundedAndAResumeFromBeforeItIsRefused() throws {
        var results = LiveResults(election: try T.make(), historyLimits: .init(maxEvents: 3))
        _ = results.replaceAll(with: [], sequence: 0, rehearsal: false)
        for sequence in UInt64(1)...6 {
            _ = results.apply(
                [
                    SequencedRecord(
                        sequence: sequence,
                        record: try Self.record(T.alpha, UInt32(sequence), T.seats((T.con, 6), (T.lab, 4))))
                ], through: sequence)
        }
        #expect(results.events(after: 3, limit: 100)?.map(\.id) == [4, 5, 6])
        #expect(results.events(after: 2, limit: 100) == nil)
    }

    @Test func aNewSnapshotStartsTheHistoryAgain() throws {
        var results = LiveResults(election: try T.make())
        _ = results.replaceAll(with: [], sequence: 0, rehearsal: false)
        let record = try Self.record(T.alpha, 1, T.seats((T.con, 6), (T.lab, 4)))
        _ = results.apply([SequencedRecord(sequence: 1, record: record)], through: 1)
        let resync = results.replaceAll(with: [record], sequence: 40, rehearsal: true)
        #expect(resync.kind == .resync)
        #expect(resync.id == 40)
        #expect(results.events(after: 0, limit: 100) == nil)
        // A client at 40 may hold the earlier copy's 40 (a hub whose journal was replaced): it gets a resync, as
        // every client at or before the new copy's sequence does; after it, resumes work again.
        #expect(results.events(after: 40, limit: 100) == nil)
        _ = results.apply(
            [SequencedRecord(sequence: 41, record: try Self.record(T.beta, 1, T.seats((T.lab, 9))))], through: 41)
        #expect(results.events(after: 41, limit: 100)?.count == 0)
        #expect(results.events(after: 40, limit: 100) == nil)
        let object = try Self.object(resync.data)
        #expect(object["rehearsal"] as? Bool == true)
        #expect((object["contests"] as? [Any])?.count == 4)
    }

    @Test func theContestListFiltersByRegionAndByDeclared() throws {
        let election = try T.make()
        var results = LiveResults(election: election)
        _ = results.replaceAll(
            with: [try Self.record(T.alpha, 1, T.seats((T.con, 6), (T.lab, 4)))], sequence: 1, rehearsal: false)
        func slugs(_ region: RegionIndex?, _ declared: Bool?) throws -> [String] {
            let contests = try Self.object(results.contestsBody(region: region, declared: declared))["contests"]
            return (contests as? [[String: Any]] ?? []).compactMap { $0["slug"] as? String }
        }
        #expect(try slugs(nil, nil) == ["alpha", "beta", "gamma", "mayor"])
        #expect(try slugs(T.south, nil) == ["beta", "gamma"])
        #expect(try slugs(nil, true) == ["alpha"])
        #expect(try slugs(T.north, false) == ["mayor"])
        #expect(results.contestBody(slug: "nowhere") == nil)
        let scoreboard = try Self.object(results.scoreboardBody())
        #expect(scoreboard["sequence"] as? Int == 1)
        #expect(scoreboard["contestsDeclared"] as? Int == 1)
    }

    @Test func everyClientGetsTheSameBytesAndASlowOneIsDroppedAlone() async throws {
        let feed = LiveFeed(limits: .init(eventsPerClient: 4))
        feed.replaceAll(election: try T.make(), records: [], sequence: 0, rehearsal: false)
        let reader = try feed.subscribe(lastEventID: nil)
        let stalled = try feed.subscribe(lastEventID: nil)
        #expect(feed.statistics.clients == 2)
        var received: [WebEvent] = []
        var iterator = reader.makeAsyncIterator()
        // feed status and resync first.
        for _ in 0..<2 { received.append(try #require(await iterator.next())) }
        #expect(received.map(\.kind) == [.feed, .resync])
        for sequence in UInt64(1)...6 {
            feed.apply(
                [
                    SequencedRecord(
                        sequence: sequence,
                        record: try Self.record(T.alpha, UInt32(sequence), T.seats((T.con, 6), (T.lab, 4))))
                ], through: sequence)
            received.append(try #require(await iterator.next()))
        }
        #expect(received.suffix(6).map(\.id) == [1, 2, 3, 4, 5, 6])
        // The stalled client's queue (4) filled: it was dropped, the reader was not.
        #expect(feed.statistics.clients == 1)
        #expect(feed.statistics.droppedSlowClients == 1)
        // What it had queued is still delivered, then its stream ends: it reconnects from its last id.
        var stalledIDs: [UInt64?] = []
        for await event in stalled { stalledIDs.append(event.id) }
        #expect(stalledIDs == [nil, 0, 1, 2])
        // Its 4 missed events would fill its queue again (4, with the feed status): it gets the whole state instead.
        var resynced = try feed.subscribe(lastEventID: 2).makeAsyncIterator()
        let resyncKinds = [await resynced.next(), await resynced.next()].map { $0.map { ($0.kind, $0.id) } }
        #expect(resyncKinds.map { $0?.0 } == [.feed, .resync])
        #expect(resyncKinds.map { $0?.1 } == [nil, 6])
        // A client 3 behind gets exactly those 3.
        var resumedIterator = try feed.subscribe(lastEventID: 3).makeAsyncIterator()
        var resumedIDs: [UInt64?] = []
        for _ in 0..<4 { resumedIDs.append(await resumedIterator.next()?.id) }
        #expect(resumedIDs == [nil, 4, 5, 6])
        // The shared bytes: the reader's event 6 and the resumed client's are one buffer, not copies.
        let readerSix = try #require(received.last)
        let resumedSix = try #require(await feed.subscribe(lastEventID: 5).first { $0.id == 6 })
        let addresses = [readerSix, resumedSix].map { event in
            event.serverSentEvent.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        }
        #expect(addresses[0] == addresses[1])
        feed.close()
        #expect(throws: LiveFeedError.closed) { try feed.subscribe(lastEventID: nil) }
    }

    @Test func tooManyClientsAreRefused() throws {
        let feed = LiveFeed(limits: .init(maxClients: 2))
        let first = try feed.subscribe(lastEventID: nil)
        let second = try feed.subscribe(lastEventID: nil)
        #expect(throws: LiveFeedError.tooManyClients(limit: 2)) { try feed.subscribe(lastEventID: nil) }
        withExtendedLifetime((first, second)) {}
        // A client that goes away frees its place.
        _ = consume first
        _ = consume second
        #expect(feed.statistics.clients == 0)
    }
}
