import ElectionModel
import HubCore
import HubWire
import NIOCore
import Testing

/// Hubs sharing one store (spec 6.18): a follower serves what the leader stored and sends desks to it.
@Suite("Hub machine roles")
struct HubMachineRoleTests {
    typealias F = Fixture
    let desk = PeerID(1)
    let watcher = PeerID(10)
    let lateWatcher = PeerID(11)
    let deskStamp = DeskCredentialStamp(deskID: "national", credential: 1)

    func follower(leader: String? = "10.0.0.5:7400") throws -> HubMachine {
        HubMachine(configuration: .init(election: try F.election()), role: .follower(leader: leader))
    }

    func stored(_ declarations: Declaration...) throws -> [(sequence: UInt64, record: ContestRecord)] {
        let election = try F.election()
        return try declarations.enumerated().map {
            (UInt64($0.offset + 1), try election.validate($0.element, from: F.national))
        }
    }

    var alphaCon: Declaration { F.declaration(F.alpha, (F.con, 6), (F.lab, 4)) }
    var betaLD: Declaration { F.declaration(F.beta, (F.ld, 5), (F.con, 4)) }

    @Test func aFollowerSendsADeskToTheLeaderAndKeepsSubscribers() throws {
        var hub = try follower()
        let turnedAway = hub.connected(desk, compression: .none, desk: deskStamp)
        let goodbye = try #require(turnedAway.goodbye(for: desk))
        #expect(goodbye.code == .unexpectedMessage && goodbye.leader == "10.0.0.5:7400")
        #expect(goodbye.message.contains("10.0.0.5:7400"), "a 1.2 desk reads where to go in the message")
        #expect(hub.connected(watcher, compression: .none).isEmpty, "subscribers are served")
    }

    @Test func withNoLeaderKnownTheRedirectIsEmpty() throws {
        var hub = try follower(leader: nil)
        let goodbye = try #require(hub.connected(desk, compression: .none, desk: deskStamp).goodbye(for: desk))
        #expect(goodbye.leader == "")
    }

    @Test func replicatedEventsReachSubscribersWithTheLeadersChecksums() throws {
        var hub = try follower()
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        let delivered = hub.replicated(try stored(alphaCon, betaLD), now: 0).messages(to: watcher)
        guard case .deltaBatch(let batch)? = delivered.first else {
            Issue.record("expected a batch, got \(delivered)")
            return
        }
        #expect(batch.firstSequence == 1 && batch.lastSequence == 2)
        #expect(batch.checksum == hub.state.checksum(for: .all))
        #expect(hub.durableSequence == 2)
        // The same leader's events again (a store read twice) change nothing.
        #expect(hub.replicated(try stored(alphaCon, betaLD), now: 0).messages(to: watcher).isEmpty)
        #expect(hub.durableSequence == 2)
    }

    @Test func aResumeFromAheadWaitsUntilTheFollowerHasReadThatFar() throws {
        var hub = try follower()
        _ = hub.connected(lateWatcher, compression: .none)
        // The subscriber was at 2 on a hub that died; this one has read nothing yet.
        #expect(hub.subscribe(lateWatcher, Subscribe(filter: .all, resumeFrom: 2)).isEmpty)
        let caughtUp = hub.replicated(try stored(alphaCon, betaLD), now: 0).messages(to: lateWatcher)
        guard case .heartbeat(let heartbeat)? = caughtUp.first else {
            Issue.record("expected the up-to-date answer, got \(caughtUp)")
            return
        }
        #expect(heartbeat.sequence == 2)
    }

    @Test func aResumeThatNeverArrivesIsRefusedByTheSecondTick() throws {
        var hub = try follower()
        _ = hub.connected(lateWatcher, compression: .none)
        _ = hub.subscribe(lateWatcher, Subscribe(filter: .all, resumeFrom: 9))
        #expect(hub.tick(now: 1).goodbyeCode(for: lateWatcher) == nil)
        #expect(hub.tick(now: 2).goodbyeCode(for: lateWatcher) == .invalidResume)
    }

    @Test func aLeaderThatStepsDownSendsItsDesksToTheNewLeader() throws {
        var hub = HubMachine(configuration: .init(election: try F.election()))
        _ = hub.connected(desk, compression: .none, desk: deskStamp)
        _ = hub.connected(watcher, compression: .none)
        let actions = hub.follow(leader: "10.0.0.6:7400")
        #expect(actions.goodbye(for: desk)?.leader == "10.0.0.6:7400")
        #expect(actions.goodbye(for: watcher) == nil, "subscribers stay")
        #expect(hub.role == .follower(leader: "10.0.0.6:7400"))
    }

    @Test func eventsStoredByAnotherWhileACommitIsInFlightWaitForIt() throws {
        var hub = HubMachine(configuration: .init(election: try F.election()))
        _ = hub.connected(desk, compression: .none, desk: deskStamp)
        let submitted = hub.submit([
            .init(peer: desk, desk: F.national, requestID: 1, kind: .declaration(alphaCon))
        ])
        #expect(submitted.appendedEvents?.map(\.sequence) == [1])
        // The lead was lost meanwhile; the store reports what the new leader stored at 1.
        _ = hub.follow(leader: nil)
        #expect(hub.replicated(try stored(betaLD), now: 0).isEmpty, "not applied over the commit in flight")
        _ = hub.commitFailed("session ended", now: 0)
        #expect(hub.durableSequence == 1)
        #expect(hub.state.record(F.beta) != nil && hub.state.record(F.alpha) == nil)
    }

    @Test func aFollowerThatLeadsTakesSubmissions() throws {
        var hub = try follower()
        _ = hub.replicated(try stored(alphaCon), now: 0)
        hub.lead()
        #expect(hub.connected(desk, compression: .none, desk: deskStamp).isEmpty)
        let actions = hub.submit([.init(peer: desk, desk: F.national, requestID: 1, kind: .declaration(betaLD))])
        #expect(actions.appendedEvents?.map(\.sequence) == [2])
    }
}

/// A relay (spec 6.18): its state is its upstream's copy, which can jump (a snapshot, a conflated batch).
@Suite("Hub machine as a relay")
struct HubMachineRelayTests {
    typealias F = Fixture
    let watcher = PeerID(10)

    func relay() throws -> HubMachine {
        HubMachine(configuration: .init(election: try F.election()), role: .follower(leader: "upstream:7400"))
    }

    func record(_ declaration: Declaration) throws -> ContestRecord {
        try F.election().validate(declaration, from: F.national)
    }

    @Test func aCopyThatJumpsReachesSubscribersWithTheUpstreamChecksum() throws {
        var hub = try relay()
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        let alpha = try record(F.declaration(F.alpha, (F.con, 6), (F.lab, 4)))
        let beta = try record(F.declaration(F.beta, (F.ld, 5), (F.con, 4)))
        // The upstream's first snapshot, at 40: its records carry no sequence numbers, so a snapshot it is.
        let first = hub.adopt([(40, alpha), (40, beta)], through: 40, replacingAll: true, now: 0).messages(to: watcher)
        guard case .snapshot(let snapshot)? = first.first else {
            Issue.record("expected a snapshot, got \(first)")
            return
        }
        #expect(snapshot.sequence == 40 && snapshot.reason == .fellBehind)
        #expect(snapshot.checksum == StateChecksum(records: [alpha, beta]).value)

        // A conflated batch upstream: only alpha changed, at 45; it is passed on as one.
        let corrected = try record(F.declaration(F.alpha, revision: 2, (F.con, 3), (F.lab, 7)))
        let next = hub.adopt([(45, corrected)], through: 47, replacingAll: false, now: 0).messages(to: watcher)
        guard case .deltaBatch(let batch)? = next.first else {
            Issue.record("expected a batch, got \(next)")
            return
        }
        #expect(batch.conflated && batch.firstSequence == 41 && batch.lastSequence == 47)
        #expect(batch.events.map(\.sequence) == [45])
        #expect(batch.checksum == StateChecksum(records: [corrected, beta]).value)
        #expect(hub.durableSequence == 47)
        // Resumes from before the jump get a snapshot.
        _ = hub.connected(PeerID(11), compression: .none)
        let resumed = hub.subscribe(PeerID(11), Subscribe(filter: .all, resumeFrom: 42)).messages(to: PeerID(11))
        guard case .snapshot(let fresh)? = resumed.first else {
            Issue.record("a resume across a jump must get a snapshot, got \(resumed)")
            return
        }
        #expect(fresh.sequence == 47)
    }

    @Test func eventsAfterAJumpApplyAndReachSubscribersAsUsual() throws {
        var hub = try relay()
        let alpha = try record(F.declaration(F.alpha, (F.con, 6), (F.lab, 4)))
        let beta = try record(F.declaration(F.beta, (F.ld, 5), (F.con, 4)))
        // A relay started below a hub already at 100, then the upstream's next event.
        _ = hub.adopt([(100, alpha)], through: 100, replacingAll: true, now: 0)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        let next = hub.replicated([(101, beta)], now: 0).messages(to: watcher)
        guard case .deltaBatch(let batch)? = next.first else {
            Issue.record("expected a batch, got \(next)")
            return
        }
        #expect(batch.firstSequence == 101 && batch.lastSequence == 101 && !batch.conflated)
        #expect(batch.checksum == StateChecksum(records: [alpha, beta]).value)
        // And again after a conflated jump.
        let corrected = try record(F.declaration(F.alpha, revision: 2, (F.con, 3), (F.lab, 7)))
        _ = hub.adopt([(140, corrected)], through: 150, replacingAll: false, now: 0)
        #expect(hub.replicated([(151, beta)], now: 0).messages(to: watcher).count == 1)
        #expect(hub.durableSequence == 151)
    }

    @Test func aResumeFromAheadIsStartedByACopyThatGetsThere() throws {
        var hub = try relay()
        _ = hub.connected(watcher, compression: .none)
        #expect(hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: 30)).isEmpty)
        let alpha = try record(F.declaration(F.alpha, (F.con, 6), (F.lab, 4)))
        let started = hub.adopt([(40, alpha)], through: 40, replacingAll: true, now: 0).messages(to: watcher)
        guard case .snapshot(let snapshot)? = started.first else {
            Issue.record("expected the resume to be answered with a snapshot, got \(started)")
            return
        }
        #expect(snapshot.sequence == 40)
    }

    @Test func aFreshSnapshotWithoutAContestRemovesItsRecord() throws {
        var hub = try relay()
        let alpha = try record(F.declaration(F.alpha, (F.con, 6), (F.lab, 4)))
        let beta = try record(F.declaration(F.beta, (F.ld, 5), (F.con, 4)))
        _ = hub.adopt([(1, alpha), (2, beta)], through: 2, replacingAll: true, now: 0)
        _ = hub.adopt([(3, beta)], through: 3, replacingAll: true, now: 0)
        #expect(hub.state.record(F.alpha) == nil && hub.state.record(F.beta) == beta)
        #expect(hub.state.checksum(for: .all) == StateChecksum(records: [beta]).value)
    }

    @Test func anUpstreamThatGoesBackSendsSubscribersToSubscribeAfresh() throws {
        var hub = try relay()
        let alpha = try record(F.declaration(F.alpha, (F.con, 6), (F.lab, 4)))
        _ = hub.adopt([(9, alpha)], through: 9, replacingAll: true, now: 0)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        let actions = hub.adopt([], through: 3, replacingAll: true, now: 0)
        #expect(actions.goodbyeCode(for: watcher) == .invalidResume)
        #expect(hub.durableSequence == 3 && hub.state.record(F.alpha) == nil)
    }
}
