import ElectionModel
import Foundation
import HubWire
import NIOPosix

/// `hub-load cluster`: the same saturating load on hubs sharing a PostgreSQL database (desks to the leader,
/// subscribers spread over the followers and the relays below them) and on one hub with its file journal, in the
/// same run, with every delivery verified in both.
public struct ClusterLoadRunner: Sendable {
    /// A PostgreSQL server, `postgres://USER@HOST:PORT/DATABASE`: the tool makes a database of its own on it for
    /// the run (with `psql`, as that user; the password from PGPASSWORD) and drops it afterwards.
    public var server: String
    public var followers: Int
    public var relays: Int
    public var desks: Int
    public var subscribers: Int
    public var pipeline: Int
    public var duration: Duration
    public var maxDeclarations: Int
    public var hubExecutable: URL?
    /// `kill -9` of the leader this long into the load: the desks go on at a follower, and the report says how long
    /// the takeover took.
    public var killLeaderAfter: Duration?

    public init(
        server: String, followers: Int, relays: Int, desks: Int, subscribers: Int, pipeline: Int, duration: Duration,
        maxDeclarations: Int
    ) {
        self.server = server
        self.followers = followers
        self.relays = relays
        self.desks = desks
        self.subscribers = subscribers
        self.pipeline = pipeline
        self.duration = duration
        self.maxDeclarations = maxDeclarations
    }

    public func run() async throws -> ClusterReport {
        let election = try ResultMaker.defaultElection()
        let executable = hubExecutable ?? HubProcess.siblingExecutable()
        let mode = LoadConfiguration.Mode.saturate(
            duration: duration, desks: desks, pipeline: pipeline, maxDeclarations: maxDeclarations)
        let filters = Array(repeating: SubscriptionFilter.all, count: subscribers)

        let database = try Postgres(server: server).createDatabase()
        var hubs: [HubProcess] = []
        let clustered: LoadReport
        do {
            let leader = try await HubProcess.start(
                executable: executable, election: election, arguments: ["--store", database.url])
            hubs.append(leader)
            try await database.waitForLeader(port: leader.port)
            var followers: [HubProcess] = []
            for _ in 0..<self.followers {
                followers.append(
                    try await HubProcess.start(
                        executable: executable, election: election, arguments: ["--store", database.url],
                        desksOf: leader))
            }
            hubs += followers
            var relays: [HubProcess] = []
            for index in 0..<self.relays {
                // Below a follower, with the others to go on at; below the leader when there are none.
                let upstreams =
                    followers.isEmpty
                    ? [leader] : (0..<followers.count).map { followers[(index + $0) % followers.count] }
                relays.append(try await HubProcess.startRelay(executable: executable, upstreams: upstreams))
            }
            hubs += relays
            var configuration = LoadConfiguration(
                mode: mode, filters: filters, hub: LoopbackAddress(host: "127.0.0.1", port: leader.port),
                desk: "national", token: leader.tokens["national"])
            configuration.subscriberHubs = (followers + relays).map {
                LoopbackAddress(host: "127.0.0.1", port: $0.port)
            }
            if configuration.subscriberHubs.isEmpty { configuration.subscriberHubs = [configuration.hub!] }
            configuration.deskFailover = ([leader] + followers).map {
                LoopbackAddress(host: "127.0.0.1", port: $0.port)
            }
            if let killLeaderAfter { configuration.killDuringLoad = (leader.pid, leader.port, killLeaderAfter) }
            let names =
                ["leader"] + followers.indices.map { "follower \($0 + 1)" } + relays.indices.map { "relay \($0 + 1)" }
            let atStart = hubs.map { $0.usage() }
            clustered = try await LoadRunner(configuration: configuration, election: election).run()
            var usage: [String: HubUsage] = [:]
            for (index, hub) in hubs.enumerated() {
                usage[names[index]] = hub.usage()
                usage[names[index]]?.cpuSecondsAtStart = atStart[index]?.cpuSeconds
            }
            var report = clustered
            report.hubUsage = usage["leader"]
            for hub in hubs { await hub.stop() }
            try database.drop()
            return ClusterReport(
                followers: self.followers, relays: self.relays, cluster: report, usage: usage,
                fileJournal: try await fileJournalRun(mode: mode, filters: filters, election: election))
        } catch {
            for hub in hubs { await hub.stop() }
            try? database.drop()
            throw error
        }
    }

    /// The same load on one hub with its file journal (started by the runner), subscribers on it.
    private func fileJournalRun(
        mode: LoadConfiguration.Mode, filters: [SubscriptionFilter], election: Election
    ) async throws -> LoadReport {
        var configuration = LoadConfiguration(mode: mode, filters: filters, hub: nil, desk: "national", token: nil)
        configuration.hubExecutable = hubExecutable
        return try await LoadRunner(configuration: configuration, election: election).run()
    }
}

/// Both runs, and the figures side by side.
public struct ClusterReport: Codable, Sendable {
    public var followers: Int
    public var relays: Int
    public var cluster: LoadReport
    /// Each process of the cluster during its run: "leader", "follower 1", "relay 1"…
    public var usage: [String: HubUsage]
    public var fileJournal: LoadReport

    public var verified: Bool { cluster.verified && fileJournal.verified }

    public var summary: String {
        func row(_ name: String, _ clustered: Double, _ file: Double, _ unit: String) -> String {
            let ratio = file > 0 ? clustered / file : 0
            return name.padding(toLength: 26, withPad: " ", startingAt: 0)
                + "\(fixed(clustered, 1)) \(unit)".padding(toLength: 18, withPad: " ", startingAt: 0)
                + "\(fixed(file, 1)) \(unit)".padding(toLength: 18, withPad: " ", startingAt: 0) + "\(fixed(ratio, 2))x"
        }
        var lines = [
            "hub-load cluster: leader + \(followers) followers on PostgreSQL, \(relays) relays; subscribers on followers and relays; \(cluster.cores) cores",
            "".padding(toLength: 26, withPad: " ", startingAt: 0)
                + "cluster".padding(toLength: 18, withPad: " ", startingAt: 0)
                + "file journal".padding(toLength: 18, withPad: " ", startingAt: 0) + "ratio",
            row("declarations/s", cluster.acceptedPerSecond, fileJournal.acceptedPerSecond, ""),
            row(
                "ack latency p50", Double(cluster.ackLatencyMicros.p50), Double(fileJournal.ackLatencyMicros.p50), "µs"),
            row(
                "ack latency p99", Double(cluster.ackLatencyMicros.p99), Double(fileJournal.ackLatencyMicros.p99), "µs"),
            row(
                "delivery latency p50", Double(cluster.deliveryLatencyMicros.p50),
                Double(fileJournal.deliveryLatencyMicros.p50), "µs"),
            row(
                "delivery latency p99", Double(cluster.deliveryLatencyMicros.p99),
                Double(fileJournal.deliveryLatencyMicros.p99), "µs"),
            "verified: cluster \(cluster.verified ? "yes" : "NO"), file journal \(fileJournal.verified ? "yes" : "NO")",
        ]
        if let takeover = cluster.takeoverSeconds {
            lines.append(
                "the leader was killed (kill -9) during the load: a follower took over and acked \(fixed(takeover, 2)) s later; every acked declaration verified"
            )
        }
        for name in usage.keys.sorted() {
            guard let process = usage[name] else { continue }
            let cpu: Double = process.cpuSeconds - (process.cpuSecondsAtStart ?? 0)
            let mebibytes: Double = Double(process.peakMemoryBytes) / 1_048_576
            lines.append("\(name): \(fixed(cpu, 2)) s of CPU during the load, peak memory \(fixed(mebibytes, 1)) MiB")
        }
        lines += (cluster.problems + fileJournal.problems).map { "problem: \($0)" }
        return lines.joined(separator: "\n")
    }
}

/// The PostgreSQL server the cluster runs on, through `psql` (the client Debian's postgresql package installs).
struct Postgres: Sendable {
    var server: String

    struct Database: Sendable {
        var server: Postgres
        var name: String
        var url: String

        /// Until a hub on `port` leads (at most 20 s).
        func waitForLeader(port: Int) async throws {
            for _ in 0..<200 {
                let leader = try server.psql(url, "SELECT coalesce(leader, '') FROM resultshub_store")
                if leader.trimmingCharacters(in: .whitespacesAndNewlines) == "127.0.0.1:\(port)" { return }
                try await Task.sleep(for: .milliseconds(100))
            }
            throw LoadFailure("the first hub on \(url) never took the lead")
        }

        func drop() throws {
            _ = try server.psql(server.server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    func createDatabase() throws -> Database {
        guard let base = URLComponents(string: server), base.scheme == "postgres" || base.scheme == "postgresql",
            base.password == nil, base.user != nil, base.host != nil
        else {
            throw LoadInputError(
                "--store \(server) is not postgres://USER@HOST:PORT/DATABASE (the password goes in PGPASSWORD)")
        }
        let name = "hub_load_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try psql(server, "CREATE DATABASE \(name)")
        var url = base
        url.path = "/" + name
        return Database(server: self, name: name, url: url.string!)
    }

    func psql(_ url: String, _ sql: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-c", sql]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw LoadInputError("cannot run psql (Tools/setup.sh installs PostgreSQL): \(error)")
        }
        let text = output.fileHandleForReading.readDataToEndOfFile()
        let problem = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LoadFailure("psql \(sql.prefix(40))… failed: \(String(decoding: problem, as: UTF8.self))")
        }
        return String(decoding: text, as: UTF8.self)
    }
}
