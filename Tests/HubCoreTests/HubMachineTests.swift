import ElectionModel
import HubCore
import HubWire
import NIOCore
import Testing

/// The hub's rules as plain values: inputs in, actions out, a fake clock. No sockets, no sleeps.
@Suite("Hub machine")
struct HubMachineTests {
    typealias F = Fixture
    let desk = PeerID(1)
    let otherDesk = PeerID(2)
    let watcher = PeerID(10)
    let secondWatcher = PeerID(11)

    func machine(
        retainedEvents: Int = 1000, subscriberByteLimit: Int = 1 << 20,
        maxResumeEvents: Int = WireLimits.maxResumeReplayEvents
    ) throws -> HubMachine {
        HubMachine(
            configuration: .init(
                election: try F.election(), retainedEvents: retainedEvents, subscriberByteLimit: subscriberByteLimit,
                stallTimeoutNanos: 30_000_000_000, maxResumeEvents: maxResumeEvents))
    }

    func submission(
        _ declaration: Declaration, requestID: UInt64, from peer: PeerID? = nil,
        desk identity: DeskIdentity = F.national
    ) -> HubMachine.Submission {
        .init(peer: peer ?? desk, desk: identity, requestID: requestID, kind: .declaration(declaration))
    }

    var alphaCon: Declaration { F.declaration(F.alpha, (F.con, 6), (F.lab, 4)) }
    var alphaLab: Declaration { F.declaration(F.alpha, revision: 2, (F.con, 3), (F.lab, 7)) }
    var betaLD: Declaration { F.declaration(F.beta, (F.ld, 5), (F.con, 4)) }

    // MARK: Commit cycle

    @Test func anAcceptedSubmissionIsAckedOnlyOnceTheCommitIsDurable() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        let actions = hub.submit([submission(alphaCon, requestID: 7)])
        let appended = try #require(actions.appendedEvents)
        #expect(appended.map(\.sequence) == [1])
        #expect(actions.messages(to: desk).isEmpty, "nothing is answered before the store has it")
        #expect(hub.durableSequence == 0)

        let done = hub.commitSucceeded(now: 0)
        #expect(hub.durableSequence == 1)
        guard case .ack(let ack)? = done.messages(to: desk).first else {
            Issue.record("expected an ACK, got \(done.messages(to: desk))")
            return
        }
        #expect(ack.requestID == 7 && ack.sequence == 1 && !ack.duplicate)
    }

    @Test func submissionsDuringACommitFormTheNextCommitWhenItIsReported() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        #expect(hub.submit([submission(alphaCon, requestID: 1)]).appendedEvents?.count == 1)
        // Queued while the first commit is in flight: no second append yet.
        #expect(hub.submit([submission(betaLD, requestID: 2)]).appendedEvents == nil)
        let after = hub.commitSucceeded(now: 0)
        #expect(after.appendedEvents?.map(\.sequence) == [2])
        #expect(after.messages(to: desk).compactMap(\.ackSequence) == [1])
        #expect(hub.commitSucceeded(now: 0).messages(to: desk).compactMap(\.ackSequence) == [2])
    }

    @Test func aFailedCommitIsRevertedAndEveryWaitingDeskToldStoreUnavailable() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.submit([
            submission(alphaCon, requestID: 1),
            // Stale against the revision of this same commit: held until the commit's fate is known.
            submission(F.declaration(F.alpha, (F.con, 5), (F.lab, 5)), requestID: 2),
        ])
        let failed = hub.commitFailed("disk full", now: 5)
        let answers = failed.messages(to: desk)
        #expect(answers.compactMap(\.rejectCode) == [.storeUnavailable, .storeUnavailable])
        #expect(hub.state.latestSequence == 0 && hub.state.record(F.alpha) == nil, "the commit never happened")
        #expect(
            failed.notices.contains { if case .storeFailed(1, "disk full", .logFirst) = $0 { true } else { false } })

        // The same submission now succeeds with the same sequence number the failed one had.
        #expect(hub.submit([submission(alphaCon, requestID: 3)]).appendedEvents?.map(\.sequence) == [1])
        let recovered = hub.commitSucceeded(now: 6)
        #expect(recovered.notices.contains(.storeRecovered(afterFailures: 1)))
    }

    @Test func answersAreReportedForTheMetricsWithEachAckLatencyFromReceiptToDurable() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        var first = submission(alphaCon, requestID: 1)
        first.receivedNanos = 1_000
        var again = submission(alphaCon, requestID: 2)
        again.receivedNanos = 1_500
        var conflicting = submission(F.declaration(F.alpha, (F.con, 5), (F.lab, 5)), requestID: 3)
        conflicting.receivedNanos = 1_600
        var beta = submission(betaLD, requestID: 4)
        beta.receivedNanos = 2_000
        let submitted = hub.submit([first, again, conflicting, beta])
        #expect(!submitted.notices.contains { if case .answered = $0 { true } else { false } }, "nothing answered yet")
        let done = hub.commitSucceeded(now: 10_000)
        let answered = done.notices.compactMap { if case .answered(let answers) = $0 { answers } else { nil } }
        #expect(
            answered == [
                .init(ackLatenciesNanos: [9_000, 8_000], duplicates: 1, rejected: [.revisionConflict])
            ])

        // Answered at once: a duplicate of a durable event, a rejection; a failed commit: storeUnavailable.
        let now = hub.submit([
            submission(alphaCon, requestID: 5), submission(F.declaration(F.alpha, (F.con, 1)), requestID: 6),
        ])
        #expect(now.notices.contains(.answered(.init(duplicates: 1, rejected: [.seatsDoNotAddUp]))), "\(now.notices)")
        _ = hub.submit([submission(F.declaration(F.gamma, (F.ld, 5)), requestID: 7)])
        #expect(
            hub.commitFailed("disk full", now: 20_000).notices.contains(.answered(.init(rejected: [.storeUnavailable])))
        )
    }

    @Test func aRejectionAgainstAnEventOfTheSameCommitIsHeldUntilTheCommitIsDurable() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        let first = hub.submit([
            submission(alphaCon, requestID: 1),
            submission(F.declaration(F.alpha, (F.con, 5), (F.lab, 5)), requestID: 2),
            // About another contest, decided against durable state: answered at once.
            submission(F.declaration(ContestID(99), (F.con, 1)), requestID: 3),
        ])
        #expect(first.messages(to: desk).compactMap(\.rejectCode) == [.unknownContest])
        let done = hub.commitSucceeded(now: 0)
        #expect(done.messages(to: desk).compactMap(\.ackSequence) == [1])
        #expect(done.messages(to: desk).compactMap(\.rejectCode) == [.revisionConflict])
    }

    @Test func aDuplicateOfADurableEventIsAckedAtOnceAndOfAnUndurableOneWithItsCommit() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.submit([submission(alphaCon, requestID: 1), submission(alphaCon, requestID: 2)])
        let done = hub.commitSucceeded(now: 0)
        #expect(done.messages(to: desk).compactMap(\.ackSequence) == [1, 1])
        let again = hub.submit([submission(alphaCon, requestID: 3)])
        #expect(again.appendedEvents == nil)
        guard case .ack(let ack)? = again.messages(to: desk).first else {
            Issue.record("expected an immediate ACK")
            return
        }
        #expect(ack.duplicate && ack.sequence == 1)
    }

    // MARK: Subscribers

    @Test func aSubscriptionDuringACommitIsAnsweredAfterItWithTheDurableState() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.submit([submission(alphaCon, requestID: 1)])
        #expect(hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil)).isEmpty)
        let done = hub.commitSucceeded(now: 0)
        guard case .snapshot(let snapshot)? = done.messages(to: watcher).first else {
            Issue.record("expected a snapshot after the commit, got \(done.messages(to: watcher))")
            return
        }
        #expect(snapshot.sequence == 1 && snapshot.records.map(\.contestID) == [F.alpha])
    }

    @Test func aResumeGetsTheMissedEventsOrASnapshotWhenTooManyWereMissed() throws {
        var hub = try machine(maxResumeEvents: 2)
        _ = hub.connected(desk, compression: .none)
        for (index, declaration) in [alphaCon, betaLD, alphaLab].enumerated() {
            _ = hub.submit([submission(declaration, requestID: UInt64(index))])
            _ = hub.commitSucceeded(now: 0)
        }
        _ = hub.connected(watcher, compression: .none)
        let replay = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: 1)).messages(to: watcher)
        guard case .deltaBatch(let batch)? = replay.first else {
            Issue.record("expected a replayed batch, got \(replay)")
            return
        }
        #expect(batch.firstSequence == 2 && batch.lastSequence == 3 && !batch.conflated)
        #expect(batch.checksum == hub.state.checksum.value)

        _ = hub.connected(secondWatcher, compression: .none)
        let tooFar = hub.subscribe(secondWatcher, Subscribe(filter: .all, resumeFrom: 0)).messages(to: secondWatcher)
        guard case .snapshot(let snapshot)? = tooFar.first else {
            Issue.record("expected a snapshot, got \(tooFar)")
            return
        }
        #expect(snapshot.reason == .resumeUnavailable && snapshot.sequence == 3)
    }

    @Test func aResumeAtTheLatestSequenceGetsAHeartbeatAndOneBeyondItAGoodbye() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.submit([submission(alphaCon, requestID: 1)])
        _ = hub.commitSucceeded(now: 0)
        _ = hub.connected(watcher, compression: .none)
        #expect(
            hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: 1)).messages(to: watcher) == [
                .heartbeat(Heartbeat(sequence: 1))
            ])
        _ = hub.connected(secondWatcher, compression: .none)
        let beyond = hub.subscribe(secondWatcher, Subscribe(filter: .all, resumeFrom: 5))
        #expect(beyond.goodbyeCode(for: secondWatcher) == .invalidResume)
    }

    @Test func aSubscriberThatStopsReadingIsConflatedThenCaughtUpWhenItDrains() throws {
        var hub = try machine(subscriberByteLimit: 100)
        _ = hub.connected(desk, compression: .none)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        // The watcher never reports its socket took anything: past the byte limit, batches are skipped.
        var skipped = 0
        for (index, declaration) in [alphaCon, betaLD, alphaLab, F.declaration(F.gamma, (F.ld, 5))].enumerated() {
            _ = hub.submit([submission(declaration, requestID: UInt64(index))])
            if hub.commitSucceeded(now: 100).deliveredBytes(to: watcher) == 0 { skipped += 1 }
        }
        #expect(skipped > 0)
        #expect(hub.statistics(nowNanos: 0).conflatingSubscribers == 1)
        #expect(hub.statistics(nowNanos: 0).largestPendingBytes <= 100 + 200, "bounded: nothing queued past the limit")

        // The socket drains: one conflated batch brings it up to date.
        let drained = hub.written(bytes: hub.statistics(nowNanos: 0).largestPendingBytes, to: watcher)
        guard case .deltaBatch(let batch)? = drained.messages(to: watcher).first else {
            Issue.record("expected a conflated batch, got \(drained)")
            return
        }
        #expect(batch.conflated && batch.lastSequence == 4 && batch.checksum == hub.state.checksum.value)
        #expect(drained.notices.contains { if case .caughtUp(self.watcher, _, 4, _) = $0 { true } else { false } })
        #expect(hub.statistics(nowNanos: 0).conflatingSubscribers == 0)
    }

    @Test func aSubscriberConflatingPastTheStallTimeoutIsDroppedOnTheTick() throws {
        var hub = try machine(subscriberByteLimit: 100)
        _ = hub.connected(desk, compression: .none)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        for (index, declaration) in [alphaCon, betaLD, alphaLab].enumerated() {
            _ = hub.submit([submission(declaration, requestID: UInt64(index))])
            _ = hub.commitSucceeded(now: 1_000_000_000)
        }
        #expect(hub.statistics(nowNanos: 0).conflatingSubscribers == 1)
        // Stalled (for the metrics) from half the stall timeout on.
        #expect(hub.statistics(nowNanos: 15_000_000_000).stalledSubscribers == 0)
        #expect(hub.statistics(nowNanos: 16_000_000_000).stalledSubscribers == 1)
        #expect(hub.tick(now: 30_000_000_000).isEmpty, "29 s of conflation is not yet a stall")
        let dropped = hub.tick(now: 31_000_000_000)
        #expect(dropped.goodbyeCode(for: watcher) == .slowConsumer)
        #expect(hub.statistics(nowNanos: 0).subscribers == 0)
    }

    @Test func fanOutEncodesABatchOnceForEverySubscriberWithTheSameFilter() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        for peer in [watcher, secondWatcher] {
            _ = hub.connected(peer, compression: .none)
            _ = hub.subscribe(peer, Subscribe(filter: .all, resumeFrom: nil))
        }
        _ = hub.submit([submission(alphaCon, requestID: 1)])
        let deliveries = hub.commitSucceeded(now: 0).compactMap { action -> [PeerID]? in
            if case .deliver(_, let peers) = action { peers } else { nil }
        }
        #expect(deliveries == [[watcher, secondWatcher]])
    }

    // MARK: Shutdown and determinism

    @Test func shutdownWaitsForTheCommitInFlightThenRejectsTheQueueAndSaysGoodbye() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.submit([submission(alphaCon, requestID: 1)])
        _ = hub.submit([submission(betaLD, requestID: 2)])
        #expect(hub.shutdown().isEmpty, "nothing happens until the commit in flight is reported")
        let done = hub.commitSucceeded(now: 0)
        #expect(done.appendedEvents == nil, "nothing more is appended once shutting down")
        #expect(done.messages(to: desk).compactMap(\.ackSequence) == [1])
        #expect(done.messages(to: desk).compactMap(\.rejectCode) == [.storeUnavailable])
        #expect(done.goodbyeCode(for: desk) == .shuttingDown && done.goodbyeCode(for: watcher) == .shuttingDown)
        guard case .stopped? = done.last else {
            Issue.record("expected stopped last")
            return
        }
        #expect(hub.connected(PeerID(99), compression: .none).goodbyeCode(for: PeerID(99)) == .shuttingDown)
        #expect(
            hub.submit([submission(alphaLab, requestID: 3)]).messages(to: desk).compactMap(\.rejectCode) == [
                .storeUnavailable
            ])
    }

    @Test func aSecondShutdownDoesNothingAndASecondSubscriptionReplacesTheFirst() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none)
        _ = hub.connected(watcher, compression: .none)
        _ = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil))
        _ = hub.subscribe(watcher, Subscribe(filter: .regions([F.north]), resumeFrom: nil))
        #expect(hub.statistics(nowNanos: 0).subscribers == 1)
        _ = hub.submit([submission(alphaCon, requestID: 1)])
        let deliveries = hub.commitSucceeded(now: 0).filter { if case .deliver = $0 { true } else { false } }
        #expect(deliveries.count == 1, "one batch, not one per subscription")
        hub.disconnected(watcher)
        _ = hub.submit([submission(betaLD, requestID: 2)])
        #expect(hub.commitSucceeded(now: 0).deliveredBytes(to: watcher) == 0)

        let first = hub.shutdown()
        #expect(first.goodbyeCode(for: desk) == .shuttingDown)
        #expect(hub.shutdown().isEmpty, "a second shutdown reports nothing, and no second stopped")
    }

    @Test func theSameInputsGiveTheSameActions() throws {
        func run() throws -> [String] {
            var hub = try machine(subscriberByteLimit: 200)
            var log: [String] = []
            func record(_ actions: [HubMachine.Action]) { log += actions.map(\.fingerprint) }
            for peer in [desk, otherDesk, watcher, secondWatcher, PeerID(12)] {
                record(hub.connected(peer, compression: .none))
            }
            record(hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: nil)))
            record(hub.subscribe(secondWatcher, Subscribe(filter: .regions([F.south]), resumeFrom: nil)))
            record(hub.subscribe(PeerID(12), Subscribe(filter: .all, resumeFrom: nil)))
            for (index, declaration) in [alphaCon, betaLD, alphaLab, F.declaration(F.gamma, (F.ld, 5))].enumerated() {
                record(
                    hub.submit([
                        submission(declaration, requestID: UInt64(index), from: index % 2 == 0 ? desk : otherDesk)
                    ]))
                record(hub.commitSucceeded(now: UInt64(index)))
            }
            record(hub.written(bytes: 10_000, to: watcher))
            record(hub.tick(now: 40_000_000_000))
            record(hub.shutdown())
            return log
        }
        let first = try run()
        #expect(first.count > 10)
        #expect(try run() == first)
    }

    // MARK: Desk directory changes

    @Test func aRevokedDeskHasEveryConnectionClosedWithTheReasonAndOtherDesksStay() throws {
        var hub = try machine()
        let secondConnection = PeerID(3)
        _ = hub.connected(desk, compression: .none, desk: .init(deskID: "north-west", credential: 1))
        _ = hub.connected(secondConnection, compression: .none, desk: .init(deskID: "north-west", credential: 1))
        _ = hub.connected(otherDesk, compression: .none, desk: .init(deskID: "national", credential: 7))
        _ = hub.connected(watcher, compression: .none)
        let actions = hub.desksRevoked([
            .init(deskID: "north-west", reason: "desk north-west was revoked", keeping: nil)
        ])
        #expect(actions.count == 2)
        for peer in [desk, secondConnection] {
            #expect(actions.goodbye(for: peer)?.code == .authenticationFailed)
            #expect(actions.goodbye(for: peer)?.message == "desk north-west was revoked")
        }
        #expect(actions.goodbye(for: otherDesk) == nil && actions.goodbye(for: watcher) == nil)
        #expect(hub.statistics(nowNanos: 0).peers == 2, "the closed connections are forgotten")
        // Said once: a second revocation finds nobody, and neither does a desk with no connection.
        #expect(hub.desksRevoked([.init(deskID: "north-west", reason: "again", keeping: nil)]).isEmpty)
        #expect(hub.desksRevoked([.init(deskID: "south-east", reason: "gone", keeping: nil)]).isEmpty)
        // Shutdown says goodbye to the peers that are left only.
        let shutdown = hub.shutdown()
        #expect(shutdown.goodbyeCode(for: otherDesk) == .shuttingDown && shutdown.goodbyeCode(for: desk) == nil)
    }

    @Test func aRotatedDeskLosesTheConnectionsWithItsOldTokenAndKeepsThoseWithTheNewOne() throws {
        var hub = try machine()
        _ = hub.connected(desk, compression: .none, desk: .init(deskID: "north-west", credential: 1))
        _ = hub.connected(otherDesk, compression: .none, desk: .init(deskID: "north-west", credential: 2))
        let reason = "desk north-west's token was rotated; reconnect with the new token"
        let actions = hub.desksRevoked([.init(deskID: "north-west", reason: reason, keeping: 2)])
        #expect(actions.goodbye(for: desk)?.code == .authenticationFailed)
        #expect(actions.goodbye(for: desk)?.message == reason)
        #expect(actions.goodbye(for: otherDesk) == nil)
        // The connection with the new token submits and is answered as before.
        #expect(hub.submit([submission(alphaCon, requestID: 1, from: otherDesk)]).appendedEvents?.count == 1)
        #expect(hub.commitSucceeded(now: 0).messages(to: otherDesk).compactMap(\.ackSequence) == [1])
    }

    @Test func recoveryRebuildsTheStateAndTheResumeLogAndAllOfItIsDurable() throws {
        var recovery = HubMachine.Recovery(configuration: try machine().configuration)
        try recovery.apply(sequence: 1, record: try F.election().validate(alphaCon, from: F.national))
        try recovery.apply(sequence: 2, record: try F.election().validate(betaLD, from: F.national))
        #expect(throws: ReplayError.self) {
            try recovery.apply(sequence: 4, record: try F.election().validate(alphaLab, from: F.national))
        }
        var hub = HubMachine(recovered: recovery)
        #expect(hub.durableSequence == 2 && hub.log.oldestResumePoint == 0)
        _ = hub.connected(watcher, compression: .none)
        let resumed = hub.subscribe(watcher, Subscribe(filter: .all, resumeFrom: 1)).messages(to: watcher)
        #expect(resumed.count == 1)
    }
}

extension [HubMachine.Action] {
    var appendedEvents: [HubEvent]? {
        for case .append(let events) in self { return events }
        return nil
    }

    var notices: [HubMachine.Notice] {
        compactMap { if case .notice(let notice) = $0 { notice } else { nil } }
    }

    /// Every message written to `peer`, answers and deliveries, in order.
    func messages(to peer: PeerID) -> [HubMessage] {
        flatMap { action -> [HubMessage] in
            switch action {
            case .send(let frames, let target) where target == peer: return decodeFrames(frames)
            case .deliver(let frame, let targets) where targets.contains(peer): return decodeFrames(frame)
            default: return []
            }
        }
    }

    func deliveredBytes(to peer: PeerID) -> Int {
        reduce(0) { total, action in
            if case .deliver(let frame, let targets) = action, targets.contains(peer) {
                return total + frame.readableBytes
            }
            return total
        }
    }

    func goodbye(for peer: PeerID) -> Goodbye? {
        for case .close(let target, let frame) in self where target == peer {
            if case .goodbye(let goodbye)? = decodeFrames(frame).first { return goodbye }
        }
        return nil
    }

    func goodbyeCode(for peer: PeerID) -> ErrorCode? {
        for case .close(let target, let frame) in self where target == peer {
            if case .goodbye(let goodbye)? = decodeFrames(frame).first { return goodbye.code }
        }
        return nil
    }
}

extension HubMachine.Action {
    /// Everything about an action, bytes included, as text that two runs can compare.
    var fingerprint: String {
        switch self {
        case .append(let events): return "append \(events.map(\.sequence))"
        case .send(let frame, let peer): return "send \(peer) \(Array(frame.readableBytesView))"
        case .deliver(let frame, let peers): return "deliver \(peers) \(Array(frame.readableBytesView))"
        case .close(let peer, let goodbye): return "close \(peer) \(Array(goodbye.readableBytesView))"
        case .notice(let notice): return "notice \(notice)"
        case .stopped: return "stopped"
        }
    }
}

extension HubMessage {
    var ackSequence: UInt64? { if case .ack(let ack) = self { ack.sequence } else { nil } }
    var rejectCode: ErrorCode? { if case .reject(let reject) = self { reject.code } else { nil } }
}

/// The messages in uncompressed frames laid back to back.
func decodeFrames(_ bytes: ByteBuffer) -> [HubMessage] {
    var buffer = bytes
    var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
    let codec = FrameCodec()
    var messages: [HubMessage] = []
    while let frame = try? decoder.decode(buffer: &buffer), let message = try? codec.decode(frame) {
        messages.append(message)
    }
    return messages
}
