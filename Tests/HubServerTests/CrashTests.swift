import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import Synchronization
import Testing

/// `kill -9` of a real `results-hub` process while desks submit: after a restart every acked declaration is there,
/// at its acked sequence number, and nothing rejected is.
@Suite("Crash recovery", .serialized)
struct CrashTests {
    @Test func nothingAckedIsLostAcrossKillNine() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "results-hub-crash-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        let ledger = Ledger()
        let councils = Declarations.councils
        var generator = SystemRandomNumberGenerator()

        for round in 1...4 {
            let hub = try await HubProcess.start(
                directory: directory, arguments: ["--desks", desks, "--log-level", "error"])
            let port = hub.port
            // Two desks submit corrections of this round's revision as fast as acks come back.
            let desks = (0..<2).map { deskNumber in
                Task { [ledger] in
                    try? await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                        var requestID: UInt64 = 0
                        for (index, slug) in councils.enumerated() where index % 2 == deskNumber {
                            // Every tenth is invalid on purpose: it must never appear.
                            var declaration = Declarations.allTo(
                                slug, party: round % 2 == 0 ? "LAB" : "CON", revision: UInt32(round))
                            if index % 10 == 0 { declaration.seats[0].count += 1 }
                            requestID += 1
                            let key = ContestRecordKey(contest: declaration.contestID, revision: declaration.revision)
                            switch try await desk.submit(declaration, requestID: requestID) {
                            case .ack(let ack): ledger.acked.withLock { $0[ack.sequence] = key }
                            case .reject: ledger.rejected.withLock { _ = $0.insert(key) }
                            default: break
                            }
                        }
                    }
                }
            }
            // Killed at a random moment once this round's desks are under way (on a busy machine starting them can
            // take longer than the random delay; at most 10 s is waited for the round's first ack).
            let ackedBefore = ledger.acked.withLock { $0.count }
            for _ in 0..<1000 where ledger.acked.withLock({ $0.count }) == ackedBefore {
                try await Task.sleep(for: .milliseconds(10))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 30...250, using: &generator)))
            hub.kill9()
            for desk in desks { _ = await desk.value }
        }

        let hub = try await HubProcess.start(
            directory: directory, arguments: ["--desks", desks, "--log-level", "error"])
        defer { hub.terminate() }
        let ackedNow = ledger.acked.withLock { $0 }
        #expect(!ackedNow.isEmpty)
        let latest = try await withTimeout(30) {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { $0.welcome }
        }.latestSequence
        #expect(latest >= ackedNow.keys.max() ?? 0)
        let (events, replica) = try await storedEvents(at: hub.port, through: latest)
        for (sequence, key) in ackedNow {
            #expect(events[sequence] == key, "acked sequence \(sequence) is in the journal as acked")
        }
        let rejected = ledger.rejected.withLock { $0 }
        #expect(Set(events.values).isDisjoint(with: rejected), "nothing rejected was stored")
        // The replayed copy equals the restarted hub's state.
        try await withTimeout(30) {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { fresh in
                let snapshot = try await fresh.subscribeForSnapshot()
                #expect(snapshot.checksum == replica.checksum.value)
            }
        }
    }
}

/// Every event a hub holds through `latest`, read back by resuming from 0 (from its journal or store, in order) and
/// checked batch by batch: each sequence number's contest and revision, and the copy they build.
func storedEvents(at port: Int, through latest: UInt64) async throws -> (
    events: [UInt64: ContestRecordKey], copy: Replica
) {
    try await withTimeout(30) {
        try await HubSession.connect(host: "127.0.0.1", port: port, hello: .subscriber) { subscriber in
            subscriber.useElectionCompression()
            try await subscriber.send(.subscribe(Subscribe(filter: .all, resumeFrom: 0)))
            var replica = Replica()
            try replica.apply(Snapshot(sequence: 0, reason: .newSubscription, records: [], checksum: 0))
            var events: [UInt64: ContestRecordKey] = [:]
            while replica.sequence < latest {
                guard case .deltaBatch(let batch) = try await subscriber.next() else {
                    throw TestFailure("expected deltas")
                }
                for event in batch.events {
                    events[event.sequence] = ContestRecordKey(
                        contest: event.record.contestID, revision: event.record.revision)
                }
                try replica.apply(batch)
            }
            return (events, replica)
        }
    }
}

/// What the desks were told, shared by their tasks.
final class Ledger: Sendable {
    let acked = Mutex<[UInt64: ContestRecordKey]>([:])
    let rejected = Mutex<Set<ContestRecordKey>>([])
}

struct ContestRecordKey: Hashable, Sendable {
    var contest: ContestID
    var revision: UInt32
}
