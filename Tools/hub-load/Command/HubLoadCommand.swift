import ArgumentParser
import Foundation
import HubLoad
import HubWire

@main
struct HubLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub-load",
        abstract: "Load-tests a ResultsHub hub on this machine, and verifies what it delivers.",
        version: ResultsHubVersion.currentWithProtocol,
        subcommands: [Saturate.self, Night.self, Compare.self, Web.self, Cluster.self])
}

/// Options of both commands.
struct CommonOptions: ParsableArguments {
    @Option(
        help: "A running hub, HOST:PORT on loopback. Default: start results-hub (next to this tool) on a free port.")
    var hub: String?

    @Option(help: "Desk id for --hub; it must be allowed every region.")
    var desk = "national"

    @Option(help: "Desk token for --hub (default: the environment variable RESULTS_HUB_TOKEN).")
    var token: String?

    @Option(help: "Write the figures as JSON to this file.")
    var report: String?

    @Option(
        help: ArgumentHelp(
            "With --hub: the subscribers connect here instead, in turn (a cluster's followers, relays); repeatable.",
            valueName: "host:port"))
    var subscribeAt: [String] = []

    @Flag(help: "Load a --hub that already holds results (its watchers will see made-up ones).")
    var force = false

    @Flag(help: "Connect to --hub with TLS (a hub started with --tls-cert).")
    var tls = false

    @Option(
        help: "With --tls: PEM file of the CA that signed the hub's certificate. Default: the system's trusted CAs.")
    var ca: String?

    func validate() throws {
        do {
            if let hub { _ = try LoopbackAddress(parsing: hub) }
        } catch {
            throw ValidationError("--hub: \(error)")
        }
        do {
            for address in subscribeAt { _ = try LoopbackAddress(parsing: address) }
        } catch {
            throw ValidationError("--subscribe-at: \(error)")
        }
        if !subscribeAt.isEmpty && hub == nil { throw ValidationError("--subscribe-at goes with --hub") }
        if tls && hub == nil { throw ValidationError("--tls goes with --hub (the hub this tool starts is plain TCP)") }
        if ca != nil && !tls { throw ValidationError("--ca goes with --tls") }
    }

    /// The `--hub` address, with TLS when asked for.
    func hubAddress() throws -> LoopbackAddress? {
        guard let hub else { return nil }
        var address = try LoopbackAddress(parsing: hub)
        if tls { address.useTLS(caFile: ca) }
        return address
    }

    /// Runs the load, prints the summary, writes the report; exits non-zero if the verification failed.
    func run(_ mode: LoadConfiguration.Mode, filters: [String]) async throws {
        let election = try ResultMaker.defaultElection()
        var configuration = LoadConfiguration(
            mode: mode, filters: try filters.map { try FilterText.parse($0, election: election) },
            hub: try hubAddress(), desk: desk,
            token: token ?? ProcessInfo.processInfo.environment["RESULTS_HUB_TOKEN"], force: force)
        configuration.subscriberHubs = try subscribeAt.map {
            var address = try LoopbackAddress(parsing: $0)
            if tls { address.useTLS(caFile: ca) }
            return address
        }
        let result = try await LoadRunner(configuration: configuration, election: election).run()
        print(result.summary)
        try writeReport(result, to: report)
        if !result.verified { throw ExitCode.failure }
    }
}

/// `--report FILE`: the figures as JSON, keys sorted.
func writeReport(_ result: some Encodable, to path: String?) throws {
    guard let path else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(result).write(to: URL(fileURLWithPath: path))
}

/// The longest run the tool allows.
let maximumRun = Duration.seconds(600)

/// The bounds of a saturating load (`saturate`, `cluster`).
func validateSaturation(desks: Int, subscribers: Int, pipeline: Int, maxDeclarations: Int, duration: String) throws {
    guard (1...256).contains(desks) else { throw ValidationError("--desks must be 1 to 256") }
    guard (1...256).contains(subscribers) else { throw ValidationError("--subscribers must be 1 to 256") }
    guard (1...4096).contains(pipeline) else { throw ValidationError("--pipeline must be 1 to 4096") }
    guard maxDeclarations > 0 && maxDeclarations <= 20_000_000 else {
        throw ValidationError("--max-declarations must be 1 to 20000000")
    }
    guard try DurationText.parse(duration) <= maximumRun else {
        throw ValidationError("--duration is at most 10m")
    }
}

extension HubLoadCommand {
    struct Saturate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Desks submit as fast as the hub takes while subscribers watch.")

        @Option(help: "Desk connections.")
        var desks = 4

        @Option(help: "Subscriber connections.")
        var subscribers = 4

        @Option(help: "How long the desks submit: 20s, 2m … (at most 10m).")
        var duration = "20s"

        @Option(help: "The subscribers' filter: all, region:ID, kind:council or kind:mayoralty.")
        var filter = "all"

        @Option(help: "Submissions each desk keeps in flight.")
        var pipeline = 32

        @Option(help: "Stop after this many declarations in all.")
        var maxDeclarations = 10_000_000

        @OptionGroup var common: CommonOptions

        func validate() throws {
            try validateSaturation(
                desks: desks, subscribers: subscribers, pipeline: pipeline, maxDeclarations: maxDeclarations,
                duration: duration)
        }

        func run() async throws {
            try await common.run(
                .saturate(
                    duration: try DurationText.parse(duration), desks: desks, pipeline: pipeline,
                    maxDeclarations: maxDeclarations),
                filters: Array(repeating: filter, count: subscribers))
        }
    }

    struct Night: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replays the 2023 night (00:30 to 08:30) with a desk per region and three subscribers.")

        @Option(help: "Time compression: 1440 plays the 8-hour night in 20 s (at least 48: 10 minutes).")
        var speed: Double = 1440

        @OptionGroup var common: CommonOptions

        func validate() throws {
            guard speed >= 48 && speed.isFinite else { throw ValidationError("--speed must be at least 48") }
        }

        func run() async throws {
            try await common.run(.night(speed: speed), filters: ["all", "region:north-west", "kind:mayoralty"])
        }
    }

    struct Web: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replays the 2023 night while many browsers' event streams read results-web.",
            discussion: """
                Starts its own hub and results-web (both next to this tool) on free loopback ports, connects \
                --clients streams to results-web's /v1/stream, replays the night into the hub, and checks that every \
                stream received every change event once, in order, and ended on the same state. Reports \
                results-web's memory with every stream connected and its CPU per delivered event.
                """)

        @Option(help: "Server-sent-event streams (each one browser's).")
        var clients = 1000

        @Option(help: "Time compression: 1440 plays the 8-hour night in 20 s (at least 48: 10 minutes).")
        var speed: Double = 1440

        @Option(help: "Write the figures as JSON to this file.")
        var report: String?

        func validate() throws {
            guard (1...20_000).contains(clients) else { throw ValidationError("--clients must be 1 to 20000") }
            guard speed >= 48 && speed.isFinite else { throw ValidationError("--speed must be at least 48") }
        }

        func run() async throws {
            let result = try await WebLoadRunner(
                clients: clients, speed: speed, election: try ResultMaker.defaultElection()
            ).run()
            print(result.summary)
            try writeReport(result, to: report)
            if !result.verified { throw ExitCode.failure }
        }
    }

    struct Cluster: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Saturates hubs sharing PostgreSQL, then one hub with its file journal, in the same run.",
            discussion: """
                Makes a database of its own on --store's server (with psql; the password from PGPASSWORD), starts a \
                leader and --followers hubs on it and --relays relays below the followers (all next to this tool, on \
                free loopback ports), and has --desks desks submit to the leader as fast as it acks while the \
                subscribers, spread over the followers and relays, verify every delivery. Then the same load on one \
                hub with its file journal. Prints both, with the ratios; drops the database.
                """)

        @Option(
            help: ArgumentHelp(
                "A PostgreSQL server: postgres://USER@HOST:PORT/DATABASE (a database to connect to first).",
                valueName: "url"))
        var store: String

        @Option(help: "Follower hubs besides the leader.")
        var followers = 2

        @Option(help: "Relays, each below a follower in turn.")
        var relays = 2

        @Option(help: "Desk connections (to the leader).")
        var desks = 4

        @Option(help: "Subscriber connections, spread over the followers and relays.")
        var subscribers = 8

        @Option(help: "How long the desks submit, in each run: 10s, 1m … (at most 10m).")
        var duration = "10s"

        @Option(help: "Submissions each desk keeps in flight.")
        var pipeline = 32

        @Option(help: "Stop each run after this many declarations.")
        var maxDeclarations = 10_000_000

        @Option(
            help: ArgumentHelp(
                "kill -9 the leader this long into the load (e.g. 3s): the desks go on at a follower; reports the takeover.",
                valueName: "duration"))
        var killLeaderAfter: String?

        @Option(help: "Write the figures as JSON to this file.")
        var report: String?

        func validate() throws {
            guard (0...8).contains(followers) else { throw ValidationError("--followers must be 0 to 8") }
            if let killLeaderAfter {
                guard followers > 0 else { throw ValidationError("--kill-leader-after needs a follower to take over") }
                guard try DurationText.parse(killLeaderAfter) < DurationText.parse(duration) else {
                    throw ValidationError("--kill-leader-after must be within --duration")
                }
            }
            guard (0...8).contains(relays) else { throw ValidationError("--relays must be 0 to 8") }
            try validateSaturation(
                desks: desks, subscribers: subscribers, pipeline: pipeline, maxDeclarations: maxDeclarations,
                duration: duration)
        }

        func run() async throws {
            var runner = ClusterLoadRunner(
                server: store, followers: followers, relays: relays, desks: desks, subscribers: subscribers,
                pipeline: pipeline, duration: try DurationText.parse(duration), maxDeclarations: maxDeclarations)
            runner.killLeaderAfter = try killLeaderAfter.map { try DurationText.parse($0) }
            let result = try await runner.run()
            print(result.summary)
            try writeReport(result, to: report)
            if !result.verified { throw ExitCode.failure }
        }
    }

    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The same load through Redis (pub/sub, and streams with an fsynced append-only file) and the hub.",
            discussion: """
                Starts its own redis-server (Debian's redis-server package; Tools/setup.sh installs it) on a free \
                loopback port, twice, then its own hub, and prints each figure beside Redis's with the ratio.
                """)

        @Option(help: "Subscriber connections, for every system.")
        var subscribers = 10

        @Option(help: "Messages the publisher may be ahead of the slowest subscriber (lossless flow control).")
        var window = 2000

        @Option(help: "How long each system is loaded: 10s, 1m … (at most 10m).")
        var duration = "10s"

        @Option(help: "Messages per second (latency mode). Default: as fast as the window allows.")
        var rate: Double?

        @Option(help: "Stop each system's load after this many messages.")
        var maxMessages = 10_000_000

        @Flag(
            inversion: .prefixedNo,
            help:
                "The hub's subscribers verify their copies' checksums (off: when the tool, not the hub, is the limit)."
        )
        var verify = true

        @Option(help: "Write the figures as JSON to this file.")
        var report: String?

        @Option(
            help: ArgumentHelp(
                "Another results-hub (an earlier build) to measure in the same run, for figures before and after.",
                valueName: "path"))
        var baselineHub: String?

        @Option(help: "Measure each system this many times, in turn; each figure is the median (1 to 9).")
        var runs = 1

        func validate() throws {
            guard (0...256).contains(subscribers) else { throw ValidationError("--subscribers must be 0 to 256") }
            guard (1...9).contains(runs) else { throw ValidationError("--runs must be 1 to 9") }
            guard (1...100_000).contains(window) else { throw ValidationError("--window must be 1 to 100000") }
            guard maxMessages > 1 && maxMessages <= 20_000_000 else {
                throw ValidationError("--max-messages must be 2 to 20000000")
            }
            if let rate, !(rate > 0 && rate <= 1_000_000) {
                throw ValidationError("--rate must be more than 0 and at most 1000000")
            }
            guard try DurationText.parse(duration) <= maximumRun else {
                throw ValidationError("--duration is at most 10m")
            }
        }

        func run() async throws {
            let workload = CompareWorkload(
                subscribers: subscribers, window: window,
                durationSeconds: DurationText.seconds(try DurationText.parse(duration)), rate: rate,
                maximumMessages: maxMessages)
            let result = try await CompareRunner(
                workload: workload, verify: verify, baselineHub: baselineHub.map { URL(fileURLWithPath: $0) },
                runs: runs
            ).run()
            print(result.table)
            try writeReport(result, to: report)
            if !result.lossless { throw ExitCode.failure }
        }
    }
}
