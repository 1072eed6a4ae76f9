import ElectionModel
import HubCore
import HubWire
import Testing

/// The handshake and what each role may send, as plain values.
@Suite("Connection machine")
struct ConnectionMachineTests {
    typealias F = Fixture
    let context = ConnectionMachine.Context(
        hubName: "test", electionID: "core-test", electionDigest: 1, definitionDigest: 2, heartbeatIntervalMillis: 5000,
        regionCount: 2)

    func hello(_ role: ClientRole, min: UInt32 = ProtocolVersion.minimum, max: UInt32 = ProtocolVersion.maximum)
        -> HubMessage
    {
        .hello(Hello(minVersion: min, maxVersion: max, role: role, principal: "p", secret: "s", clientName: "t"))
    }

    func established(_ role: ClientRole, access: ConnectionMachine.Access) -> ConnectionMachine {
        var machine = ConnectionMachine(peer: PeerID(3), context: context)
        _ = machine.received(hello(role), latestSequence: 42) { _ in access }
        return machine
    }

    @Test func aDeskIsWelcomedWithItsRegionsAndTheDeskFrameLimit() {
        var machine = ConnectionMachine(peer: PeerID(3), context: context)
        let action = machine.received(hello(.desk), latestSequence: 42) { _ in .desk(F.northDesk) }
        guard case .established(let welcome, .desk, let limit) = action else {
            Issue.record("expected established, got \(action)")
            return
        }
        #expect(welcome.latestSequence == 42 && welcome.regions == [F.north] && !welcome.allRegions)
        #expect(welcome.definitionDigest == 2 && welcome.heartbeatIntervalMillis == 5000)
        #expect(limit == WireLimits.maxFrameLength)
    }

    @Test func wrongCredentialsOrARoleTheyDoNotGrantFailAuthentication() {
        for (role, access) in [
            (ClientRole.desk, ConnectionMachine.Access.denied), (.desk, .subscriber), (.subscriber, .denied),
        ] {
            var machine = ConnectionMachine(peer: PeerID(3), context: context)
            #expect(
                machine.received(hello(role), latestSequence: 0) { _ in access }
                    == .fail(.authenticationFailed, "authentication failed"))
            #expect(machine.state == .closing)
        }
    }

    @Test func aHelloWithNoCommonVersionGetsTheRangeThreeTimesThenAGoodbye() {
        var machine = ConnectionMachine(peer: PeerID(3), context: context)
        for _ in 0..<WireLimits.maxHelloAttempts {
            #expect(
                machine.received(hello(.desk, min: 90, max: 99), latestSequence: 0) { _ in .denied }
                    == .answer(.versionRange(ProtocolVersion.rangeAnswer)))
        }
        guard
            case .fail(.unsupportedVersion, _) = machine.received(
                hello(.desk, min: 90, max: 99), latestSequence: 0, authenticate: { _ in .denied })
        else {
            Issue.record("expected unsupportedVersion")
            return
        }
    }

    @Test func anythingButHelloFirstIsUnexpected() {
        var machine = ConnectionMachine(peer: PeerID(3), context: context)
        guard
            case .fail(.unexpectedMessage, _) = machine.received(
                .heartbeat(Heartbeat(sequence: 0)), latestSequence: 0, authenticate: { _ in .denied })
        else {
            Issue.record("expected unexpectedMessage")
            return
        }
        #expect(
            machine.received(hello(.desk), latestSequence: 0) { _ in .desk(F.national) } == .none,
            "closing: nothing more")
    }

    @Test func aDeskSubmitsAndQueriesButCannotSubscribe() {
        var machine = established(.desk, access: .desk(F.national))
        let declaration = F.declaration(F.alpha, (F.con, 10))
        #expect(
            machine.received(.submit(Submit(requestID: 9, declaration: declaration)), latestSequence: 0) { _ in .denied
            }
                == .submit(.init(peer: PeerID(3), desk: F.national, requestID: 9, kind: .declaration(declaration))))
        let query = Query(requestID: 1, kind: .scoreboard)
        #expect(machine.received(.query(query), latestSequence: 0) { _ in .denied } == .query(query))
        guard
            case .fail(.unexpectedMessage, _) = machine.received(
                .subscribe(Subscribe(filter: .all, resumeFrom: nil)), latestSequence: 0, authenticate: { _ in .denied })
        else {
            Issue.record("a desk cannot subscribe")
            return
        }
    }

    @Test func aSubscriberSubscribesOnceToRegionsThatExistAndIsToldItCannotSubmit() {
        var machine = established(.subscriber, access: .subscriber)
        let submit = machine.received(
            .submit(Submit(requestID: 4, declaration: F.declaration(F.alpha, (F.con, 10)))), latestSequence: 0
        ) { _ in .denied }
        guard case .answer(.reject(let reject)) = submit else {
            Issue.record("expected a REJECT, got \(submit)")
            return
        }
        #expect(reject.requestID == 4 && reject.code == .unexpectedMessage)
        let subscribe = Subscribe(filter: .all, resumeFrom: 3)
        #expect(machine.received(.subscribe(subscribe), latestSequence: 0) { _ in .denied } == .subscribe(subscribe))
        guard
            case .fail(.unexpectedMessage, _) = machine.received(
                .subscribe(subscribe), latestSequence: 0, authenticate: { _ in .denied })
        else {
            Issue.record("a second SUBSCRIBE is unexpected")
            return
        }

        var other = established(.subscriber, access: .subscriber)
        guard
            case .fail(.malformedFrame, _) = other.received(
                .subscribe(Subscribe(filter: .regions([RegionIndex(2)]), resumeFrom: nil)), latestSequence: 0,
                authenticate: { _ in .denied })
        else {
            Issue.record("region 2 does not exist")
            return
        }
    }

    @Test func timersAndIdlenessDependOnTheHandshake() {
        var waiting = ConnectionMachine(peer: PeerID(3), context: context)
        #expect(waiting.writeIdle(latestSequence: 5) == .none)
        #expect(waiting.handshakeTimedOut() == .fail(.handshakeTimeout, "no HELLO within the handshake timeout"))
        var desk = established(.desk, access: .desk(F.national))
        #expect(desk.handshakeTimedOut() == .none)
        #expect(desk.writeIdle(latestSequence: 5) == .answer(.heartbeat(Heartbeat(sequence: 5))))
        #expect(desk.readIdle() == .fail(.idleTimeout, "nothing received for 3 heartbeat intervals"))
        #expect(desk.readIdle() == .none, "only one goodbye")
    }

    @Test func aFieldErrorInARequestRejectsThatRequestOnlyAndForeignProtocolsAreAnsweredInKind() {
        var desk = established(.desk, access: .desk(F.national))
        var error = WireError(.malformedFrame, "bad seats")
        error.requestID = 12
        #expect(
            desk.decodeFailed(error)
                == .answer(.reject(Reject(requestID: 12, code: .malformedFrame, message: "bad seats"))))
        #expect(desk.isEstablished)

        var stranger = ConnectionMachine(peer: PeerID(3), context: context)
        #expect(stranger.decodeFailed(WireError(.notThisProtocol(.tls), "tls")) == .refuseForeign(.tls))
        #expect(stranger.state == .closing)
    }
}
