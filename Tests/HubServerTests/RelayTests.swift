import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `results-hub relay` processes, run as the ordinary user, chained below a real hub (issue 15): each serves a
/// verified copy of its upstream with the same sequence numbers and checksums, and sends desks upstream.
@Suite("Relay hubs", .serialized)
struct RelayTests {
    static let logger = Logger(label: "relay-tests")

    /// A hub (file journal) and two relays below it, one below the other, all as the ordinary user.
    struct Chain {
        var directory: String
        var hub: HubProcess
        var first: HubProcess
        var second: HubProcess

        static func start() async throws -> Chain {
            let directory = try OrdinaryUser.makeDirectory("results-hub-relay")
            let desks = directory + "/desks.json"
            try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
            let data = directory + "/hub"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
            if OrdinaryUser.testsRunAsRoot { chown(data, OrdinaryUser.nobody, OrdinaryUser.nogroup) }
            let hub = try await HubProcess.start(directory: data, arguments: ["--desks", desks], asOrdinaryUser: true)
            let first = try await RelayTests.startRelay(upstream: hub.port, desks: desks)
            let second = try await RelayTests.startRelay(upstream: first.port, desks: desks)
            return Chain(directory: directory, hub: hub, first: first, second: second)
        }

        func stop() {
            for process in [second, first, hub] { process.terminate() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func startRelay(upstream: Int, desks: String) async throws -> HubProcess {
        try await HubProcess.start(
            allArguments: [
                "relay", "--upstream", "127.0.0.1:\(upstream)", "--port", "0", "--admin-port", "0", "--desks", desks,
            ], asOrdinaryUser: true)
    }

    @Test func aChainOfRelaysEndsWithTheHubsCopyAndSendsDesksUpstream() async throws {
        let chain = try await Chain.start()
        defer { chain.stop() }
        let (hub, first, second) = (chain.hub, chain.first, chain.second)

        // A broadcaster at the end of the chain, from before the night starts.
        let watched = Shared<(snapshots: Int, latest: Replica?)>((0, nil))
        let watching = Task {
            let client = SubscriberClient(
                address: HubAddress(host: "127.0.0.1", port: second.port), name: "graphics", logger: Self.logger)
            for try await update in client.updates() {
                watched.value.withLock { state in
                    if case .snapshot = update.kind { state.snapshots += 1 }
                    state.latest = update.replica
                }
            }
        }
        defer { watching.cancel() }

        // The night's councils, then corrections of a few, submitted by a desk that was given the last relay only.
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: second.port), deskID: "national",
            token: TestHub.nationalToken, logger: Self.logger, timeout: .seconds(20))
        var last: UInt64 = 0
        for slug in Declarations.councils {
            last = try await desk.submit(Declarations.real(slug)).sequence
        }
        for slug in Declarations.councils.prefix(10) {
            last = try await desk.submit(Declarations.allTo(slug, party: "GRN", revision: 2)).sequence
        }
        #expect(await desk.address.port == hub.port, "sent from relay to relay to the hub")
        await desk.close()
        #expect(last == UInt64(Declarations.councils.count + 10))

        let atHub = try await ClusterTests.copy(at: hub.port, through: last)
        let atFirst = try await ClusterTests.copy(at: first.port, through: last)
        #expect(atFirst.checksum == atHub.checksum && atFirst.records == atHub.records)
        for _ in 0..<600 where watched.value.withLock({ ($0.latest?.sequence ?? 0) < last }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let end = watched.value.withLock { $0 }
        #expect(end.latest?.sequence == last)
        #expect(end.latest?.checksum == atHub.checksum && end.latest?.records == atHub.records)
        #expect(end.snapshots == 1, "every change arrived as a verified batch, never a fresh copy")
    }

    /// The 2023 night replayed into the hub by `hub-load night`, its three subscribers at the end of the chain:
    /// every delivery and each subscriber's final copy verified.
    @Test func theNightReplayedThroughTwoRelaysIsDeliveredWhole() async throws {
        let chain = try await Chain.start()
        defer { chain.stop() }
        let (hub, second) = (chain.hub, chain.second)
        let run = try await CommandRun.run(
            Executables.directory.appendingPathComponent("hub-load").path,
            [
                "night", "--speed", "3600", "--hub", "127.0.0.1:\(hub.port)", "--token", TestHub.nationalToken,
                "--subscribe-at", "127.0.0.1:\(second.port)",
            ], asOrdinaryUser: true)
        #expect(run.status == 0, "\(run.output)\(run.errors)")
        #expect(
            run.output.contains("verified      every acked declaration reached every matching subscriber"),
            "\(run.output)")
    }

    @Test func aRelayStartedBelowAHubThatHoldsResultsCopiesItThenFollows() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-relay-late")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        let hub = try await HubProcess.start(directory: directory, arguments: ["--desks", desks], asOrdinaryUser: true)
        defer { hub.terminate() }
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), deskID: "national", token: TestHub.nationalToken,
            logger: Self.logger, timeout: .seconds(20))
        for slug in Declarations.councils.prefix(5) { _ = try await desk.submit(Declarations.real(slug)) }
        let relay = try await Self.startRelay(upstream: hub.port, desks: desks)
        defer { relay.terminate() }
        for slug in Declarations.councils.dropFirst(5).prefix(5) { _ = try await desk.submit(Declarations.real(slug)) }
        await desk.close()
        let atHub = try await ClusterTests.copy(at: hub.port, through: 10)
        let atRelay = try await ClusterTests.copy(at: relay.port, through: 10)
        #expect(atRelay.checksum == atHub.checksum && atRelay.records == atHub.records)
    }

    /// TLS both ways: the relay's upstream serves TLS, and so does the relay.
    @Test func aRelayOverTLSBothWays() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-relay-tls")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/dev-tls"
        let made = try await CommandRun.run(Executables.resultsHub, ["dev-cert", certs], asOrdinaryUser: true)
        #expect(made.status == 0, "\(made.errors)")
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        let serveTLS = ["--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server-key.pem"]
        let hub = try await HubProcess.start(
            directory: directory + "/data", arguments: ["--desks", desks] + serveTLS, asOrdinaryUser: true)
        defer { hub.terminate() }
        let relay = try await HubProcess.start(
            allArguments: [
                "relay", "--upstream", "127.0.0.1:\(hub.port)", "--upstream-tls", "--upstream-ca", certs + "/ca.pem",
                "--port", "0", "--admin-port", "0", "--desks", desks,
            ] + serveTLS, asOrdinaryUser: true)
        defer { relay.terminate() }
        let tls = ClientTLS(caFile: certs + "/ca.pem")
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: relay.port, tls: tls), deskID: "national",
            token: TestHub.nationalToken, logger: Self.logger, timeout: .seconds(20))
        for slug in Declarations.councils.prefix(3) { _ = try await desk.submit(Declarations.real(slug)) }
        #expect(await desk.address.port == hub.port, "sent upstream, over TLS")
        await desk.close()
        func copy(at port: Int) async throws -> Replica {
            try await withTimeout(30) {
                let client = SubscriberClient(
                    address: HubAddress(host: "127.0.0.1", port: port, tls: tls), name: "graphics",
                    logger: Self.logger)
                for try await update in client.updates() where update.replica.sequence >= 3 { return update.replica }
                throw TestFailure("the subscription ended")
            }
        }
        let (atHub, atRelay) = (try await copy(at: hub.port), try await copy(at: relay.port))
        #expect(atRelay.sequence == 3 && atRelay.checksum == atHub.checksum && atRelay.records == atHub.records)
    }

    @Test func aRelayWithoutItsUpstreamSaysSo() async throws {
        let run = try await CommandRun.run(
            Executables.resultsHub, ["relay", "--upstream", "127.0.0.1:1", "--port", "0", "--admin-port", "0"],
            asOrdinaryUser: true)
        #expect(run.status != 0)
        #expect(run.errors.contains("cannot reach the upstream hub at 127.0.0.1:1"), "\(run.errors)")
    }
}
