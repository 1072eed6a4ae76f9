import ElectionModel
import Foundation
import HubAdmin
import HubClient
import HubJournal
import HubServer
import HubWire
import Logging
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

/// The admin HTTP port over real sockets: `/readyz` through a slow recovery and a failing disk in process, and
/// `/metrics` of a `results-hub` child process read with Prometheus's own Python parser after known submissions.
@Suite("Admin port", .serialized)
struct AdminTests {
    @Test func readyzIsFalseWhileTheJournalRecoversThenTrue() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admin-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gate = RecoveryGate()
        let (hubAddresses, hubRunning) = AsyncStream.makeStream(of: SocketAddress.self)
        let server = HubServer(
            configuration: try TestHub.configuration(directory: directory), logger: Self.logger,
            onServerRunning: { hubRunning.yield($0) },
            storeFactory: { configuration, logger in
                GatedStore(inner: try await FileJournal.open(for: configuration, logger: logger), gate: gate)
            })
        let admin = try await TestAdmin.start(hub: server, alongside: [server])
        try await withTimeout {
            try await gate.reached()
            let recovering = try await AdminHTTP.get(port: admin.port, "/readyz")
            #expect(recovering.status == 503)
            #expect(recovering.body == "recovering the journal\n")
            #expect(try await AdminHTTP.get(port: admin.port, "/healthz").status == 200)
            let stats = try await AdminHTTP.get(port: admin.port, "/v1/stats")
            #expect(stats.status == 200)
            #expect(stats.body.contains(#""ready":false"#), "\(stats.body)")
            #expect(!stats.body.contains("latestSequence"), "no statistics while recovering: \(stats.body)")

            gate.open()
            var iterator = hubAddresses.makeAsyncIterator()
            _ = await iterator.next()
            let ready = try await AdminHTTP.get(port: admin.port, "/readyz")
            #expect(ready.status == 200 && ready.body == "ready\n")
            #expect(try await AdminHTTP.get(port: admin.port, "/v1/stats").body.contains(#""latestSequence":0"#))
        }
        try await admin.stop()
    }

    @Test func readyzIsFalseWhileTheDiskFailsAndTheFailuresAreCounted() async throws {
        let store = Mutex<HostileInputTests.FlakyStore?>(nil)
        let registry = PrometheusCollectorRegistry()
        let hub = try await TestHub.start(
            configure: { $0.metricsFactory = HubPrometheus.makeFactory(registry: registry) },
            store: { configuration, logger in
                let flaky = HostileInputTests.FlakyStore(
                    inner: try await FileJournal.open(for: configuration, logger: logger), failing: false)
                store.withLock { $0 = flaky }
                return flaky
            }, logger: Self.logger)
        defer { hub.removeFiles() }
        let admin = try await TestAdmin.start(hub: hub.server, registry: registry)
        let flaky = try #require(store.withLock { $0 })
        let port = hub.port
        try await withTimeout {
            #expect(try await AdminHTTP.get(port: admin.port, "/readyz").status == 200)
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
                flaky.failing.store(true, ordering: .relaxed)
                guard case .reject = try await desk.submit(Declarations.real("swindon"), requestID: 1) else {
                    throw TestFailure("acked while the disk fails")
                }
                let failing = try await AdminHTTP.get(port: admin.port, "/readyz")
                #expect(failing.status == 503)
                #expect(failing.body.hasPrefix("the journal fails: "), "\(failing.body)")
                #expect(failing.body.contains("No space left on device"))

                flaky.failing.store(false, ordering: .relaxed)
                guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 2) else {
                    throw TestFailure("not acked once the disk works")
                }
                #expect(try await AdminHTTP.get(port: admin.port, "/readyz").body == "ready\n")
            }
            let metrics = try await AdminHTTP.get(port: admin.port, "/metrics").body
            #expect(metrics.contains("\n\(HubMetrics.Name.commitFailures) 1\n"), "\(metrics)")
            #expect(metrics.contains(#"\#(HubMetrics.Name.submissionsRejected){code="storeUnavailable"} 1"#))
            #expect(metrics.contains("\n\(HubMetrics.Name.submissionsAccepted) 1\n"))
        }
        try await admin.stop()
        try await hub.stop()
    }

    /// The `results-hub` executable with `--admin-port 0`: known submissions, then `/metrics` parsed by the
    /// `prometheus_client` package's parser (Tools/setup.sh installs it), each counter checked.
    @Test func metricsOfAResultsHubProcessParseAndCountKnownSubmissions() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-metrics")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        let hub = try await HubProcess.start(
            directory: directory + "/data", arguments: ["--desks", desks, "--log-level", "error"],
            asOrdinaryUser: true)
        defer { hub.terminate() }
        let desk = DeskClient(
            address: HubAddress(host: "127.0.0.1", port: hub.port), deskID: "national", token: TestHub.nationalToken,
            logger: Self.logger)
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                _ = try await subscriber.subscribeForSnapshot()
                for slug in ["swindon", "bromsgrove", "arun"] { _ = try await desk.submit(Declarations.real(slug)) }
                #expect(try await desk.submit(Declarations.real("swindon")).duplicate)
                for declaration in [
                    Declarations.allTo("swindon", party: "GRN"),
                    Declaration(
                        contestID: ContestID(60_000), revision: 1, seats: [], declaredAt: 1_683_252_871_000),
                ] {
                    do {
                        _ = try await desk.submit(declaration)
                        Issue.record("accepted \(declaration)")
                    } catch is HubRejection {}
                }
                // The subscriber has every event, so the hub has sent them: the scrape sees it live.
                for _ in 0..<3 {
                    guard case .deltaBatch = try await subscriber.next() else { throw TestFailure("no delta") }
                }
                let scrape = try await AdminHTTP.get(port: hub.adminPort, "/metrics")
                #expect(scrape.status == 200)
                let samples = try await PrometheusText.parse(scrape.body)
                func value(_ name: String, _ labels: String = "") -> Double? { samples[name + "{" + labels + "}"] }
                #expect(value(HubMetrics.Name.submissionsAccepted) == 3)
                #expect(value(HubMetrics.Name.submissionsDuplicate) == 1)
                #expect(value(HubMetrics.Name.submissionsRejected, "code=revisionConflict") == 1, "\(samples)")
                #expect(value(HubMetrics.Name.submissionsRejected, "code=unknownContest") == 1)
                #expect(value(HubMetrics.Name.ackLatency + "_count") == 3)
                #expect(value(HubMetrics.Name.commitBatchEvents + "_sum") == 3)
                #expect((value(HubMetrics.Name.journalSync + "_count") ?? 0) >= 1)
                #expect(value(HubMetrics.Name.sequence) == 3)
                #expect(value(HubMetrics.Name.subscribers, "state=live") == 1)
                #expect(value(HubMetrics.Name.subscribers, "state=conflating") == 0)
                #expect(value(HubMetrics.Name.subscribers, "state=stalled") == 0)
                #expect(value(HubMetrics.Name.connectionsOpen) == 2)
                #expect(value(HubMetrics.Name.connectionsRefused) == 0)
                #expect((value(HubMetrics.Name.bytesSent) ?? 0) > 0)
                let journalBytes =
                    try FileManager.default.attributesOfItem(
                        atPath: directory + "/data/journal.rhj")[.size] as? Int
                #expect(value(HubMetrics.Name.journalBytes) == journalBytes.map(Double.init))
            }
            let health = try await AdminHTTP.get(port: hub.adminPort, "/healthz")
            #expect(health.status == 200 && health.body == "ok\n")
            let stats = try await AdminHTTP.get(port: hub.adminPort, "/v1/stats")
            #expect(stats.body.contains(#""latestSequence":3"#) && stats.body.contains(#""ready":true"#))
        }
        await desk.close()
    }

    static let logger: Logger = {
        var logger = Logger(label: "admin-tests")
        logger.logLevel = .critical
        return logger
    }()
}

/// An admin port for a hub in this process, on a free port.
struct TestAdmin {
    let port: Int
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    /// - Parameter alongside: services run in the same group (a hub not started yet).
    static func start(
        hub: HubServer, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        alongside: [any Service] = []
    ) async throws -> TestAdmin {
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let admin = AdminServer(host: "127.0.0.1", port: 0, hub: hub, registry: registry, logger: AdminTests.logger) {
            continuation.yield($0)
        }
        let group = ServiceGroup(services: [admin] + alongside, logger: AdminTests.logger)
        let task = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        guard let port = await iterator.next()?.port else {
            task.cancel()
            throw TestFailure("the admin port did not start")
        }
        return TestAdmin(port: port, group: group, task: task)
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// Holds a store's recovery until the test opens it.
final class RecoveryGate: Sendable {
    private let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
    private let (opened, openedContinuation) = AsyncStream.makeStream(of: Void.self)

    /// Called by the store: waits until `open()`.
    func pass() async {
        enteredContinuation.yield()
        for await _ in opened { return }
    }

    /// Waits until the store is waiting at the gate.
    func reached() async throws {
        for await _ in entered { return }
        throw TestFailure("the store never recovered")
    }

    func open() {
        openedContinuation.yield()
    }
}

/// A journal whose recovery waits at a gate: a slow recovery, as of a long journal.
final class GatedStore: EventStore {
    let inner: any EventStore
    let gate: RecoveryGate

    init(inner: any EventStore, gate: RecoveryGate) {
        self.inner = inner
        self.gate = gate
    }

    func recover<State: Sendable>(
        into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async throws(JournalError) -> (State, JournalRecovery) {
        await gate.pass()
        return try await inner.recover(into: state, apply)
    }

    func append(_ entries: [JournalEntry]) async throws(JournalError) { try await inner.append(entries) }
    func close() async throws(JournalError) { try await inner.close() }
}

/// HTTP/1.1 GET over a plain socket: the status and the body, as any scraper or load balancer sees them.
enum AdminHTTP {
    static func get(port: Int, _ path: String) async throws -> (status: Int, body: String) {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let response = try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(
                ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
            var all = ByteBuffer()
            for try await var chunk in inbound { all.writeBuffer(&chunk) }
            return String(buffer: all)
        }
        guard let headerEnd = response.range(of: "\r\n\r\n"),
            let status = response.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap({ Int($0) })
        else { throw TestFailure("not an HTTP response: \(response)") }
        let headers = response[..<headerEnd.lowerBound].lowercased()
        #expect(!headers.contains("transfer-encoding: chunked"), "a fixed-length body")
        return (status, String(response[headerEnd.upperBound...]))
    }
}

/// The Prometheus text format read by the reference parser (`prometheus_client`, Debian's python3-prometheus-client),
/// not by ours: every sample as
/// `name{label=value,...}` (labels sorted) to its value.
enum PrometheusText {
    static func parse(_ text: String) async throws -> [String: Double] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            samples = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                for sample in family.samples:
                    labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                    samples[f"{sample.name}{{{labels}}}"] = sample.value
            print(json.dumps(samples))
            """
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID()).txt")
        try Data(text.utf8).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        // The system's Python, where Tools/setup.sh installs Debian's python3-prometheus-client.
        let run = try await CommandRun.run(
            "/bin/sh", ["-c", "/usr/bin/python3 -c \"$0\" < \"$1\"", script, input.path])
        guard run.status == 0, let data = run.output.data(using: .utf8),
            let samples = try JSONSerialization.jsonObject(with: data) as? [String: Double]
        else {
            throw TestFailure(
                "prometheus_client could not parse /metrics (is it installed? Tools/setup.sh does): \(run.errors)")
        }
        return samples
    }
}
