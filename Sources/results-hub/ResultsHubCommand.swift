import ArgumentParser
import ElectionDefaults
import ElectionModel
import Foundation
import HubServer
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

@main
struct ResultsHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results-hub",
        abstract: "The ResultsHub election-night results hub.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

extension ResultsHubCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an election: desks submit, subscribers watch (the default command).")

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on; 0 picks a free port and prints it.")
        var port = 7400

        @Option(name: .customLong("data"), help: "Directory for the journal (and the generated desks file).")
        var dataDirectory = "./hub-data"

        @Option(help: "Election definition (JSON). Default: the embedded 4 May 2023 English local elections.")
        var election: String?

        @Option(
            help:
                "Desks file: a JSON list of {\"id\", \"token\", \"regions\"}. Default: DIR/desks.json, generated on first start."
        )
        var desks: String?

        @Option(help: "Subscriber keys: a JSON list of {\"name\", \"key\"}. Default: anyone may watch.")
        var subscribers: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @Flag(help: "If the journal has a corrupt record in the middle, keep a backup and drop everything from there.")
        var repairJournal = false

        @Option(help: "Seconds a subscriber may stop reading before it is disconnected.")
        var stallTimeout = 30

        @Option(help: "Events kept in memory so that subscribers can resume; older resume points get a snapshot.")
        var retainedEvents = 200_000

        @Option(help: "Accepted revisions remembered for idempotent retries (each contest's current one always is).")
        var retainedRevisions = 1_000_000

        func validate() throws {
            guard retainedEvents > 0, retainedRevisions > 0 else {
                throw ValidationError("--retained-events and --retained-revisions must be positive")
            }
        }

        func run() async throws {
            let level = logLevel
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "results-hub")
            let election: Election
            if let path = self.election {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw ValidationError("cannot read the election file \(path)")
                }
                election = try Election(json: data)
            } else {
                election = try Election.england2023()
            }
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
            let desks = try DeskDirectory(credentials: try loadDesks(election: election), election: election)
            var configuration = HubConfiguration(election: election, desks: desks, dataDirectory: dataDirectory)
            configuration.host = host
            configuration.port = port
            configuration.repairJournal = repairJournal
            if let subscribers {
                guard let data = FileManager.default.contents(atPath: subscribers) else {
                    throw ValidationError("cannot read the subscribers file \(subscribers)")
                }
                configuration.subscriberKeys = try SubscriberKeys(entries: try SubscriberKeys.decode(data))
            }
            configuration.stallTimeout = .seconds(Int64(stallTimeout))
            configuration.retainedEvents = retainedEvents
            configuration.retainedRevisions = retainedRevisions
            let contests = election.contests.count
            let server = HubServer(configuration: configuration, logger: logger) { address in
                say(
                    "results-hub: serving \(election.name) (\(contests) contests) on \(address.ipAddress ?? host):\(address.port ?? port)"
                )
                say(
                    "results-hub: journal in \(dataDirectory)/journal.rhj; desks: \(desks.deskIDs.joined(separator: ", "))"
                )
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }

        /// The desks file given, or DIR/desks.json, generated with random tokens on the first start.
        private func loadDesks(election: Election) throws -> [DeskCredential] {
            let path = desks ?? "\(dataDirectory)/desks.json"
            if let data = FileManager.default.contents(atPath: path) {
                return try DeskDirectory.decode(data)
            }
            guard desks == nil else { throw ValidationError("cannot read the desks file \(path)") }
            let credentials = DeskDirectory.generateCredentials(for: election)
            guard
                FileManager.default.createFile(
                    atPath: path, contents: DeskDirectory.encode(credentials), attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write the desks file \(path)") }
            say(
                "results-hub: wrote \(credentials.count) desk tokens to \(path) (one desk per region and \"national\"); keep it secret"
            )
            return credentials
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// A line for the operator on standard output, written at once (not buffered) so that scripts see it.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
