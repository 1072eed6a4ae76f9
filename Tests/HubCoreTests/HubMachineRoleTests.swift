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
