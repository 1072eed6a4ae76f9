import ElectionModel
import Foundation
import HubClient
import HubPostgres
import HubServer
import HubWire
import Logging
import NIOPosix
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Real `results-hub` processes, run as the ordinary user, sharing a real PostgreSQL database (issue 15): one leads,
/// the others follow; `kill -9` and `SIGSTOP` of the leader; desks and subscribers through the client library.
@Suite("Hubs sharing PostgreSQL", .serialized)
struct ClusterTests {
    /// Hubs on one fresh database; the first started leads.
    struct Cluster: Sendable {
        var location: PostgresStoreLocation
        var directory: String
        var hubs: [HubProcess]

        var addresses: [HubAddress] { hubs.map { HubAddress(host: "127.0.0.1", port: $0.port) } }

        func stopAll() {
            for hub in hubs where hub.process.isRunning { hub.terminate() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func startCluster(hubs count: Int, leaseMillis: Int = 1000) async throws -> Cluster {
        let location = try await TestPostgres.freshDatabase()
        let directory = try OrdinaryUser.makeDirectory("results-hub-cluster")
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        var cluster = Cluster(location: location, directory: directory, hubs: [])
        for index in 0..<count {
            let data = directory + "/hub-\(index)"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            if OrdinaryUser.testsRunAsRoot { chown(data, OrdinaryUser.nobody, OrdinaryUser.nogroup) }
            var arguments = [
                "--port", "0", "--admin-port", "0", "--data", data, "--desks", desks, "--store", location.description,
                "--lease-millis", "\(leaseMillis)", "--log-level", "info",
            ]
            // The password from a file for one hub, from PGPASSWORD (inherited) for the others.
            var environment: [String: String] = [:]
            if index == 1, let file = ProcessInfo.processInfo.environment["RESULTS_HUB_TEST_POSTGRES_PASSWORD_FILE"] {
                arguments += ["--store-password-file", file]
                environment["PGPASSWORD"] = ""
            }
            let hub = try await HubProcess.start(
                allArguments: arguments, environment: environment, asOrdinaryUser: true)
            cluster.hubs.append(hub)
            if index == 0 { try await waitForLeader(hub, in: location) }
        }
        return cluster
    }

    /// Until the store names `hub` as the leader (at most 20 s).
    static func waitForLeader(_ hub: HubProcess, in location: PostgresStoreLocation) async throws {
        for _ in 0..<400 {
            if try await TestPostgres.leader(in: location) == "127.0.0.1:\(hub.port)" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestFailure("the hub on \(hub.port) never led: \(hub.standardError)")
    }

    static let logger = Logger(label: "cluster-tests")

    /// A subscriber's verified copy at `port`, once it has reached `sequence`.
    static func copy(at port: Int, through sequence: UInt64) async throws -> Replica {
        try await withTimeout(30) {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .subscriber) { subscriber in
                var replica = Replica()
                try replica.apply(try await subscriber.subscribeForSnapshot())
                while replica.sequence < sequence {
                    guard case .deltaBatch(let batch) = try await subscriber.next() else {
                        throw TestFailure("expected a delta batch")
                    }
                    try replica.apply(batch)
                }
                return replica
            }
        }
    }

    @Test func followersServeWhatTheLeaderStoresAndSendDesksToIt() async throws {
        let cluster = try await Self.startCluster(hubs: 3)
        defer { cluster.stopAll() }
        let (leader, followers) = (cluster.hubs[0], Array(cluster.hubs.dropFirst()))

        // A desk that reaches a follower is told where the leader is (spec 6.18).
        let goodbye = try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: followers[0].port, hello: .desk()) { desk in
                guard case .goodbye(let goodbye) = try await desk.next() else {
                    throw TestFailure("expected GOODBYE")
                }
                return goodbye
            }
        }
        #expect(goodbye.code == .unexpectedMessage && goodbye.leader == "127.0.0.1:\(leader.port)")
        // A request written after that GOODBYE arrived fails with it too, not as a lost connection, so that the
        // client library still learns where the leader is.
        let late = try await HubConnection.open(
            to: HubAddress(host: "127.0.0.1", port: followers[0].port), hello: .desk(),
            configuration: .init(connectTimeout: .seconds(10)), group: MultiThreadedEventLoopGroup.singleton,
            logger: Self.logger)
        for _ in 0..<200 where late.isOpen { try await Task.sleep(for: .milliseconds(10)) }
        do {
            _ = try await late.request { .submit(Submit(requestID: $0, declaration: Declarations.real("swindon"))) }
            Issue.record("a follower answered a submission")
        } catch HubClientError.closedByHub(let late) {
            #expect(late.leader == "127.0.0.1:\(leader.port)")
        }

        // The client library, given the followers first, finds the leader and submits there.
        let desk = DeskClient(
            addresses: followers.map { HubAddress(host: "127.0.0.1", port: $0.port) } + [cluster.addresses[0]],
            deskID: "national", token: TestHub.nationalToken, logger: Self.logger, timeout: .seconds(20))
        var acked: [UInt64] = []
        for slug in Declarations.councils.prefix(20) {
            acked.append(try await desk.submit(Declarations.real(slug)).sequence)
        }
        await desk.close()
        #expect(acked == Array(1...20))
        #expect(await desk.address.port == leader.port)

        // Subscribers of both followers get every event, with the leader's checksums.
        let atLeader = try await Self.copy(at: leader.port, through: 20)
        for follower in followers {
            let copy = try await Self.copy(at: follower.port, through: 20)
            #expect(copy.sequence == 20 && copy.checksum == atLeader.checksum)
            #expect(copy.records == atLeader.records)
        }
        #expect(try await TestPostgres.storedTerms(in: cluster.location).map(\.sequence) == Array(1...20))

        // Operators see which hub leads: /v1/stats and the resultshub_leading gauge.
        let leaderStats = try await AdminHTTP.get(port: leader.adminPort, "/v1/stats").body
        #expect(leaderStats.contains(#""role":"leader""#), "\(leaderStats)")
        let followerStats = try await AdminHTTP.get(port: followers[0].adminPort, "/v1/stats").body
        #expect(followerStats.contains(#""role":"follower""#), "\(followerStats)")
        #expect(followerStats.contains(#""leader":"127.0.0.1:\#(leader.port)""#), "\(followerStats)")
        #expect(try await AdminHTTP.get(port: leader.adminPort, "/metrics").body.contains("resultshub_leading 1"))
        #expect(try await AdminHTTP.get(port: followers[0].adminPort, "/metrics").body.contains("resultshub_leading 0"))
    }

    @Test func killNineOfTheLeaderLosesNothingAckedAndSubscribersResumeElsewhere() async throws {
        let cluster = try await Self.startCluster(hubs: 3)
        defer { cluster.stopAll() }
        let ledger = Ledger()
        let ackTimes = Shared<[(sequence: UInt64, at: ContinuousClock.Instant)]>([])
        let councils = Declarations.councils

        // A broadcaster on the leader, with the followers to go to.
        var subscriber = SubscriberClient(address: cluster.addresses[0], name: "graphics", logger: Self.logger)
        subscriber.otherAddresses = Array(cluster.addresses.dropFirst())
        subscriber.initialBackoff = .milliseconds(50)
        let updates = Shared<(snapshots: Int, latest: Replica?)>((0, nil))
        let watching = Task { [subscriber] in
            for try await update in subscriber.updates() {
                updates.value.withLock { state in
                    if case .snapshot = update.kind { state.snapshots += 1 }
                    state.latest = update.replica
                }
            }
        }
        defer { watching.cancel() }

        let desks = (0..<2).map { deskNumber in
            Task { [ledger, addresses = cluster.addresses] in
                let desk = DeskClient(
                    addresses: addresses, deskID: "national", token: TestHub.nationalToken,
                    logger: Self.logger, attempts: 12, timeout: .seconds(10))
                for (index, slug) in councils.enumerated() where index % 2 == deskNumber {
                    let declaration = Declarations.real(slug)
                    let key = ContestRecordKey(contest: declaration.contestID, revision: declaration.revision)
                    do {
                        let ack = try await desk.submit(declaration)
                        ledger.acked.withLock { $0[ack.sequence] = key }
                        ackTimes.value.withLock { $0.append((ack.sequence, .now)) }
                    } catch {
                        ledger.rejected.withLock { _ = $0.insert(key) }
                    }
                }
                await desk.close()
            }
        }
        // Killed once the desks are under way.
        for _ in 0..<2000 where ledger.acked.withLock({ $0.count }) < 30 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let ackedBeforeKill = ledger.acked.withLock { $0.keys.max() ?? 0 }
        cluster.hubs[0].kill9()
        let killedAt = ContinuousClock.now
        for desk in desks { await desk.value }

        let acked = ledger.acked.withLock { $0 }
        #expect(ledger.rejected.withLock { $0.isEmpty }, "every desk got through, to one leader or the next")
        #expect(acked.count == councils.count)
        let firstAfter = ackTimes.value.withLock { times in
            times.filter { $0.at > killedAt && $0.sequence > ackedBeforeKill }.map(\.at).min()
        }
        let takeover = try #require(firstAfter) - killedAt
        print("cluster: a follower took over and acked \(takeover) after kill -9 of the leader")

        // Every acked declaration is stored, at its acked sequence number, once.
        let stored = try await TestPostgres.storedTerms(in: cluster.location)
        #expect(stored.map(\.sequence) == Array(1...Int64(stored.count)))
        let leaderAddress = try await TestPostgres.leader(in: cluster.location)
        let newLeader = try #require(cluster.hubs.dropFirst().first { "127.0.0.1:\($0.port)" == leaderAddress })
        let latest = UInt64(stored.count)
        let final = try await Self.copy(at: newLeader.port, through: latest)
        let (events, _) = try await storedEvents(at: newLeader.port, through: latest)
        for (sequence, key) in acked {
            #expect(events[sequence] == key, "acked sequence \(sequence) is stored as acked")
        }

        // The broadcaster resumed on a follower: one snapshot only, and its verified copy is the new leader's.
        for _ in 0..<600 where updates.value.withLock({ ($0.latest?.sequence ?? 0) < latest }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let watched = updates.value.withLock { $0 }
        #expect(watched.snapshots == 1, "resumed with no gap, never rebuilt from a fresh snapshot")
        #expect(watched.latest?.sequence == latest && watched.latest?.checksum == final.checksum)
    }

    @Test func aPausedLeaderCannotWriteOnceAnotherLeadsAndStepsDown() async throws {
        let cluster = try await Self.startCluster(hubs: 2)
        defer { cluster.stopAll() }
        let (old, new) = (cluster.hubs[0], cluster.hubs[1])
        let alpha = Declarations.real(Declarations.councils[0])
        let beta = Declarations.real(Declarations.councils[1])
        let gamma = Declarations.real(Declarations.councils[2])

        try await withTimeout(60) {
            try await HubSession.connect(host: "127.0.0.1", port: old.port, hello: .desk()) { desk in
                guard case .ack(let first) = try await desk.submit(alpha, requestID: 1), first.sequence == 1 else {
                    throw TestFailure("the leader did not ack the first declaration at 1")
                }
                old.signal(SIGSTOP)
                defer { old.signal(SIGCONT) }
                // Past its lease PostgreSQL ends the paused leader's session, and the other hub leads.
                try await Self.waitForLeader(new, in: cluster.location)
                let other = DeskClient(
                    address: HubAddress(host: "127.0.0.1", port: new.port), deskID: "national",
                    token: TestHub.nationalToken, logger: Self.logger, timeout: .seconds(10))
                #expect(try await other.submit(beta).sequence == 2)
                await other.close()

                // Woken, the old leader takes a submission on the connection it held open: it must not store it.
                old.signal(SIGCONT)
                try await desk.send(.submit(Submit(requestID: 2, declaration: gamma)))
                let answer = try await desk.next()
                switch answer {
                case .reject(let reject): #expect(reject.code == .storeUnavailable)
                case .goodbye(let goodbye): #expect(goodbye.leader != nil, "sent on, not acked")
                default: Issue.record("the paused leader answered \(answer)")
                }
            }
        }
        let stored = try await TestPostgres.storedTerms(in: cluster.location)
        #expect(stored.map(\.sequence) == [1, 2])
        #expect(stored.map(\.term) == [1, 2], "nothing written in the old term after the new one began")

        // It steps down and follows, sending desks to the new leader, never back to itself.
        var sentTo: String?
        for _ in 0..<100 {
            sentTo = try await withTimeout {
                try await HubSession.connect(host: "127.0.0.1", port: old.port, hello: .desk()) { desk in
                    guard case .goodbye(let goodbye) = try await desk.next() else { return nil }
                    return goodbye.leader
                }
            }
            if sentTo == "127.0.0.1:\(new.port)" { break }
            #expect(sentTo != "127.0.0.1:\(old.port)", "a hub that lost the lead sent a desk back to itself")
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(sentTo == "127.0.0.1:\(new.port)")
        // Its subscribers see what the new leader stored.
        let atOld = try await Self.copy(at: old.port, through: 2)
        let atNew = try await Self.copy(at: new.port, through: 2)
        #expect(atOld.checksum == atNew.checksum)
        #expect(old.standardError.contains("lost the lead"))
    }

    @Test func aFollowerThatStopsLeavesTheLeaderLeading() async throws {
        let cluster = try await Self.startCluster(hubs: 2)
        defer { cluster.stopAll() }
        cluster.hubs[1].terminate()
        #expect(try await TestPostgres.leader(in: cluster.location) == "127.0.0.1:\(cluster.hubs[0].port)")
        let desk = DeskClient(
            address: cluster.addresses[0], deskID: "national", token: TestHub.nationalToken, logger: Self.logger,
            timeout: .seconds(10))
        #expect(try await desk.submit(Declarations.real(Declarations.councils[0])).sequence == 1)
        await desk.close()
        #expect(try await TestPostgres.storedTerms(in: cluster.location).map(\.term) == [1])
    }

    @Test func aStoreForAnotherElectionIsRefused() async throws {
        let location = try await TestPostgres.freshDatabase()
        let password = try TestPostgres.server().password
        var options = PostgresEventStore.Options(
            location: location, password: password, electionID: "england-2023", electionDigest: 1, rehearsal: false)
        let store = try await PostgresEventStore.open(options, logger: Self.logger)
        try await store.close()
        options.electionDigest = 2
        await #expect(throws: PostgresStoreError.self) {
            _ = try await PostgresEventStore.open(options, logger: Self.logger)
        }
        options.electionDigest = 1
        options.rehearsal = true
        do {
            _ = try await PostgresEventStore.open(options, logger: Self.logger)
            Issue.record("a rehearsal opened a live night's store")
        } catch {
            #expect("\(error)".contains("give each election (and each rehearsal) its own database"))
        }
    }

    @Test func storeAddressesAreCheckedAndNeverCarryAPassword() throws {
        let location = try PostgresStoreLocation(url: "postgres://hub@db.example:6543/night")
        #expect(location == PostgresStoreLocation(host: "db.example", port: 6543, user: "hub", database: "night"))
        #expect(try PostgresStoreLocation(url: "postgresql://hub@db/night").port == 5432)
        for bad in ["postgres://db/night", "postgres://hub@db", "http://hub@db/night", "postgres://hub@db:0/night"] {
            #expect(throws: PostgresStoreError.self, "\(bad)") { try PostgresStoreLocation(url: bad) }
        }
        do {
            _ = try PostgresStoreLocation(url: "postgres://hub:s3cret@db/night")
            Issue.record("a password on the command line was taken")
        } catch {
            #expect(!"\(error)".contains("s3cret"), "the password is not repeated in the error")
            #expect("\(error)".contains("PGPASSWORD"))
        }
    }
}

/// A value behind a lock that tasks share.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}
