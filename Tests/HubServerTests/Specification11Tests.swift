import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import NIOCore
import Testing

/// Spec 1.1 (issue 10) against a real hub over TCP: councillor changes in the answers, the definition's details and
/// digests, the up-to-date resume, the order of definition and subscription, idleness, control and zero votes.
@Suite("Specification 1.1 on a real hub", .serialized)
struct Specification11Tests {
    typealias D = Declarations
    static func party(_ code: String) -> PartyIndex { TestHub.election.party(code: code)! }

    @Test func aResumeFromTheLatestSequenceIsAnsweredWithAHeartbeat() async throws {
        // Periodic heartbeats only after a minute of quiet, so any heartbeat here is the hub's answer.
        let hub = try await TestHub.start { $0.heartbeatInterval = .seconds(60) }
        defer { hub.removeFiles() }
        try await withTimeout {
            // An empty hub: resume from 0 is up to date.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: 0)))
                #expect(try await subscriber.receive() == .heartbeat(Heartbeat(sequence: 0)))
            }
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(["swindon", "bromsgrove", "arun"].map { D.real($0) })
            }
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: 3)))
                #expect(try await subscriber.receive() == .heartbeat(Heartbeat(sequence: 3)), "answered at once")
                // The subscription is live: the next event arrives as the batch after 3.
                try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                    _ = try await desk.submit(D.real("mayor-of-bedford"), requestID: 1)
                }
                guard case .deltaBatch(let batch) = try await subscriber.receive() else {
                    throw TestFailure("expected the next batch")
                }
                #expect(batch.firstSequence == 4 && batch.lastSequence == 4)
                #expect(batch.events.map(\.record.contestID) == [D.contest("mayor-of-bedford").id])
            }
            // A resume that missed events still gets batches, not a heartbeat.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: 2)))
                guard case .deltaBatch(let batch) = try await subscriber.receive() else {
                    throw TestFailure("expected a batch")
                }
                #expect(batch.firstSequence == 3)
            }
        }
        try await hub.stop()
    }

    @Test func contestAnswersCarrySeatChanges() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(["swindon", "ashfield", "mayor-of-bedford"].map { D.real($0) })
                func answer(_ slug: String, _ id: UInt64) async throws -> ContestAnswer {
                    try await desk.send(.query(Query(requestID: id, kind: .contest(D.contest(slug).id))))
                    guard case .contest(let answer) = try await desk.next() else { throw TestFailure("no answer") }
                    return answer
                }
                // Swindon: CON 34, LAB 23 before (May 2022); CON 22, LAB 33, LD 1, IND 1 now.
                #expect(
                    try await answer("swindon", 1).seatChanges == [
                        SeatChange(party: Self.party("CON"), change: -12),
                        SeatChange(party: Self.party("LAB"), change: 10),
                        SeatChange(party: Self.party("LD"), change: 1),
                        SeatChange(party: Self.party("IND"), change: 1),
                    ])
                #expect(try await answer("ashfield", 2).seatChanges == nil, "no composition before")
                #expect(try await answer("mayor-of-bedford", 3).seatChanges == nil, "a mayoralty")
                let undeclared = try await answer("bolton", 4)
                #expect(undeclared.record == nil && undeclared.seatChanges == nil)
            }
        }
        try await hub.stop()
    }

    @Test func theScoreboardReportsCouncillorChangesAndWhatIsLeftOut() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                func scoreboard(_ id: UInt64) async throws -> Scoreboard {
                    try await desk.send(.query(Query(requestID: id, kind: .scoreboard)))
                    guard case .scoreboard(let answer) = try await desk.next() else { throw TestFailure("none") }
                    return answer.scoreboard
                }
                _ = try await desk.submit(D.real("swindon"), requestID: 1)
                var board = try await scoreboard(2)
                #expect(board.councilsCompared == 1 && board.councilsNotCompared == 0)
                func row(_ code: String) -> Scoreboard.Row? { board.rows.first { $0.party == Self.party(code) } }
                #expect(row("CON")?.councillorsChange == -12 && row("CON")?.councillorsCompared == 22)
                #expect(row("LAB")?.councillorsChange == 10 && row("LAB")?.councillorsCompared == 33)
                // Ashfield has no composition before: its councillors count, its change does not.
                _ = try await desk.submit(D.real("ashfield"), requestID: 3)
                board = try await scoreboard(4)
                #expect(board.councilsCompared == 1 && board.councilsNotCompared == 1)
                #expect(row("CON")?.councillorsChange == -12)
                #expect(row("CON")?.councillors == 22 + 2 && row("CON")?.councillorsCompared == 22)
                #expect(row("AIND")?.councillors == 32 && row("AIND")?.councillorsChange == 0)
                // Withdrawn: out of every total again.
                try await desk.send(
                    .withdraw(
                        WithdrawRequest(
                            requestID: 5,
                            withdrawal: Withdrawal(
                                contestID: D.contest("swindon").id, revision: 2, withdrawnAt: 1, reason: "test"))))
                guard case .ack = try await desk.next() else { throw TestFailure("no ack") }
                board = try await scoreboard(6)
                #expect(board.councilsCompared == 0 && board.councilsNotCompared == 1)
                #expect(board.rows.allSatisfy { $0.councillorsChange == 0 })
            }
        }
        try await hub.stop()
    }

    @Test func welcomeAndElectionCarryTheDetailsAndBothDigests() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let definition = ElectionDefinition(TestHub.election)
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                #expect(subscriber.welcome.electionDigest == definition.digest)
                #expect(subscriber.welcome.definitionDigest == definition.definitionDigest)
                #expect(definition.digest != definition.definitionDigest, "the default has details")
                try await subscriber.send(.query(Query(requestID: 1, kind: .election)))
                guard case .election(let answer) = try await subscriber.next() else { throw TestFailure("none") }
                #expect(answer.digest == subscriber.welcome.electionDigest)
                #expect(answer.definition.definitionDigest == subscriber.welcome.definitionDigest)
                let election = try Election(definition: answer.definition)
                let swindon = try #require(election.contest(slug: "swindon"))
                #expect(swindon.gssCode == "E06000030")
                #expect(
                    swindon.seatsBefore == [
                        PartyCount(party: Self.party("CON"), count: 34),
                        PartyCount(party: Self.party("LAB"), count: 23),
                    ])
                #expect(election.seatsBeforeNote.contains("Open Council Data UK"))
                #expect(election.contests.filter { $0.seatsBefore != nil }.count == 226)
            }
        }
        try await hub.stop()
    }

    /// Spec 7.3: details leave the election digest alone, so a journal written for the default without them (as
    /// before issue 10) replays under the default with them, and the replayed result gets its councillor change.
    @Test func aJournalWrittenWithoutDetailsReplaysWithThem() async throws {
        let full = TestHub.election
        var bare = full.contests
        for index in bare.indices {
            bare[index].seatsBefore = nil
            bare[index].gssCode = nil
        }
        let withoutDetails = try Election(
            id: full.id, name: full.name, date: full.date, sources: full.sources, parties: full.parties,
            regions: full.regions, contests: bare)
        #expect(ElectionDefinition(withoutDetails).digest == ElectionDefinition(full).digest)
        #expect(ElectionDefinition(withoutDetails).definitionDigest != ElectionDefinition(full).definitionDigest)
        let first = try await TestHub.start { $0.election = withoutDetails }
        defer { first.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: first.port, hello: .desk()) { desk in
                _ = try await desk.submit(D.real("swindon"), requestID: 1)
                try await desk.send(.query(Query(requestID: 2, kind: .scoreboard)))
                guard case .scoreboard(let answer) = try await desk.next() else { throw TestFailure("none") }
                #expect(answer.scoreboard.councilsCompared == 0 && answer.scoreboard.councilsNotCompared == 1)
            }
        }
        try await first.stop()
        let second = try await TestHub.start(directory: first.directory)
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: second.port, hello: .desk()) { desk in
                #expect(desk.welcome.latestSequence == 1, "the journal was replayed")
                try await desk.send(.query(Query(requestID: 1, kind: .scoreboard)))
                guard case .scoreboard(let answer) = try await desk.next() else { throw TestFailure("none") }
                #expect(answer.scoreboard.councilsCompared == 1)
                #expect(answer.scoreboard.rows.first { $0.party == Self.party("CON") }?.councillorsChange == -12)
            }
        }
        try await second.stop()
    }

    /// Spec 5.1: everything before SUBSCRIBE is uncompressed, so a client can fetch the definition first; the
    /// snapshot after it needs the definition's dictionary.
    @Test func theDefinitionComesBeforeAnythingCompressed() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                _ = try await desk.submitPipelined(D.councils.prefix(60).map { D.real($0) })
            }
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                #expect(subscriber.welcome.compression == .deflate)
                // No dictionary installed: a compressed frame would fail to decode here.
                try await subscriber.send(.query(Query(requestID: 1, kind: .scoreboard)))
                guard case .scoreboard = try await subscriber.next() else { throw TestFailure("no scoreboard") }
                try await subscriber.send(.query(Query(requestID: 2, kind: .contest(D.contest("swindon").id))))
                guard case .contest = try await subscriber.next() else { throw TestFailure("no contest") }
                try await subscriber.send(.query(Query(requestID: 3, kind: .election)))
                guard case .election(let answer) = try await subscriber.next() else { throw TestFailure("none") }
                subscriber.useCompression(dictionary: answer.definition.presetDictionary)
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                guard case .snapshot(let snapshot) = try await subscriber.next() else { throw TestFailure("none") }
                #expect(snapshot.records.count == 60)
            }
            // Subscribing without the definition: the snapshot arrives compressed and cannot be inflated.
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                await #expect(throws: HubClientError.self) { _ = try await subscriber.next() }
            }
        }
        try await hub.stop()
    }

    /// Spec 5.2: the hub counts frames it receives. A subscriber that only receives is dropped however much arrives;
    /// one that keeps sending heartbeats stays. (The sleeps pace the desk; the assertions are on what the hub sends.)
    @Test func idlenessIsCountedByFramesReceivedNotSent() async throws {
        // Intervals long enough that a busy machine (the whole suite runs in parallel) does not stall anyone past
        // the 3 s idle limit by accident; the desk's 40 submissions take over 4 s, so the silent one is dropped.
        let hub = try await TestHub.start { $0.heartbeatInterval = .seconds(1) }
        defer { hub.removeFiles() }
        let slugs = Array(D.councils.prefix(40))
        try await withTimeout(60) {
            async let desk: Void = HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for (index, slug) in slugs.enumerated() {
                    _ = try await desk.submit(D.real(slug), requestID: UInt64(index))
                    try await Task.sleep(for: .milliseconds(110))
                }
            }
            async let silent: (Int, Goodbye?) = HubSession.connect(
                host: "127.0.0.1", port: hub.port, hello: .subscriber
            ) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                var batches = 0
                while let message = try await subscriber.receive() {
                    switch message {
                    case .deltaBatch: batches += 1
                    case .goodbye(let goodbye): return (batches, goodbye)
                    default: continue
                    }
                }
                return (batches, nil)
            }
            async let ticking: (Int, Goodbye?) = HubSession.connect(
                host: "127.0.0.1", port: hub.port, hello: .subscriber
            ) { subscriber in
                subscriber.useElectionCompression()
                try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: nil)))
                // A heartbeat at least every 300 ms of this subscriber's time (it is always receiving here, so the
                // check after each frame is as good as a timer).
                var lastSent = ContinuousClock.now
                var last: UInt64 = 0
                while last < UInt64(slugs.count) {
                    if ContinuousClock.now - lastSent >= .milliseconds(300) {
                        try await subscriber.send(.heartbeat(Heartbeat(sequence: last)))
                        lastSent = .now
                    }
                    guard let message = try await subscriber.receive() else { return (Int(last), nil) }
                    switch message {
                    case .deltaBatch(let batch): last = batch.lastSequence
                    case .goodbye(let goodbye): return (Int(last), goodbye)
                    default: continue
                    }
                }
                return (Int(last), nil)
            }
            let (silentBatches, silentGoodbye) = try await silent
            let (ticked, tickingGoodbye) = try await ticking
            try await desk
            #expect(silentGoodbye?.code == .idleTimeout, "dropped although batches kept arriving")
            #expect(silentBatches > 0)
            #expect(tickingGoodbye == nil)
            #expect(ticked == slugs.count, "the subscriber that sends heartbeats saw every event")
        }
        try await hub.stop()
    }

    /// Spec 4.1: a mayoralty won by a group's candidate is the group's; a group's majority of a council is NOC.
    @Test func controlRulesOnTheWire() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                let leicester = D.contest("mayor-of-leicester")
                let votes: [UInt32] = [100, 90, 80, 300, 70, 60]  // the fourth candidate, IND, leads
                #expect(leicester.candidates[3].party == Self.party("IND"))
                guard
                    case .ack(let ack) = try await desk.submit(
                        Declaration(
                            contestID: leicester.id, revision: 1,
                            seats: [PartyCount(party: Self.party("IND"), count: 1)],
                            candidateVotes: votes, declaredAt: 1),
                        requestID: 1)
                else { throw TestFailure("not acked") }
                #expect(ack.control == .party(Self.party("IND")))
                #expect(ack.outcome == .gain, "IND gain from LAB")
                let middlesbrough = D.contest("mayor-of-middlesbrough")
                guard
                    case .ack(let held) = try await desk.submit(
                        Declaration(
                            contestID: middlesbrough.id, revision: 1,
                            seats: [PartyCount(party: Self.party("IND"), count: 1)], declaredAt: 1),
                        requestID: 2)
                else { throw TestFailure("not acked") }
                #expect(held.outcome == .hold, "an independent mayor before and after")
                let castlePoint = D.contest("castle-point")
                guard
                    case .ack(let council) = try await desk.submit(
                        Declaration(
                            contestID: castlePoint.id, revision: 1,
                            seats: [
                                PartyCount(party: Self.party("IND"), count: UInt32(castlePoint.totalSeats! - 1)),
                                PartyCount(party: Self.party("CON"), count: 1),
                            ], declaredAt: 1),
                        requestID: 3)
                else { throw TestFailure("not acked") }
                #expect(council.control == .noOverallControl)
            }
        }
        try await hub.stop()
    }

    /// Spec 7.2: the same result with and without zero vote counts is a duplicate, not a revisionConflict.
    @Test func zeroVotesMakeNoConflict() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                var declaration = D.real("swindon")
                declaration.votes = [
                    PartyCount(party: Self.party("LAB"), count: 19_000), PartyCount(party: Self.party("CON"), count: 0),
                ]
                guard case .ack(let first) = try await desk.submit(declaration, requestID: 1) else {
                    throw TestFailure("not acked")
                }
                #expect(!first.duplicate)
                declaration.votes = [PartyCount(party: Self.party("LAB"), count: 19_000)]
                declaration.declaredAt += 1000
                guard case .ack(let again) = try await desk.submit(declaration, requestID: 2) else {
                    throw TestFailure("a resubmission without CON=0 must be a duplicate")
                }
                #expect(again.duplicate && again.sequence == first.sequence)
                try await desk.send(.query(Query(requestID: 3, kind: .contest(D.contest("swindon").id))))
                guard case .contest(let answer) = try await desk.next() else { throw TestFailure("none") }
                #expect(answer.record?.declared?.votes == [PartyCount(party: Self.party("LAB"), count: 19_000)])
            }
        }
        try await hub.stop()
    }
}
