import ArgumentParser
import ElectionDefaults
import ElectionModel
import Foundation
import HubAdmin
import HubClient
import HubCore
import HubJournal
import HubPostgres
import HubServer
import HubWire
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

@main
struct ResultsHubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results-hub",
        abstract: "The ResultsHub election-night results hub.",
        version: ResultsHubVersion.currentWithProtocol,
        subcommands: [Serve.self, Relay.self, Desks.self, DevCert.self],
        defaultSubcommand: Serve.self)

    /// ArgumentParser's `main`, given the command line with the settings of `serve --config FILE` and of the
    /// `RESULTS_HUB_<KEY>` environment variables added (`ServeConfiguration`).
    static func main() async {
        let arguments: [String]
        do {
            arguments = try ServeConfiguration.arguments(
                commandLine: Array(CommandLine.arguments.dropFirst()),
                environment: ProcessInfo.processInfo.environment)
        } catch {
            // One sentence naming the file or variable and the key; no usage text, the command line being fine.
            FileHandle.standardError.write(Data("results-hub: \(error)\n".utf8))
            exit(withError: ExitCode.validationFailure)
        }
        await main(arguments)
    }
}

extension ResultsHubCommand {
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve an election: desks submit, subscribers watch (the default command).",
            discussion: """
                Every option can also be set in a TOML file given with --config (the key is the option's name \
                without the dashes: port = 7400, tls-cert = "server.pem", repair-journal = true) or in an \
                environment variable RESULTS_HUB_<KEY> (RESULTS_HUB_PORT, RESULTS_HUB_TLS_KEY). The command line \
                wins over the environment, which wins over the file.
                """)

        @Option(
            help: ArgumentHelp(
                "A TOML file setting any of these options (key = value, the option's name without dashes).",
                valueName: "file"))
        var config: String?

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on; 0 picks a free port and prints it.")
        var port = 7400

        @Option(help: "Address of the admin HTTP port (/metrics, /healthz, /readyz, /v1/stats).")
        var adminHost = "127.0.0.1"

        @Option(help: "The admin HTTP port; 0 picks a free port and prints it.")
        var adminPort = 7401

        @Option(
            name: .customLong("data"),
            help:
                "Directory for the journal (and the generated desks file). Default: ./hub-data, or ./hub-data-rehearsal with --rehearsal."
        )
        var data: String?

        @Flag(
            help: """
                Serve a rehearsal: every result is marked as test data (SPEC.md 6.17), and the journal is a \
                rehearsal's own (a live hub refuses its directory, and it refuses the live one).
                """)
        var rehearsal = false

        /// `--data`, or the default for a live hub or a rehearsal.
        var dataDirectory: String { data ?? (rehearsal ? "./hub-data-rehearsal" : "./hub-data") }

        @Option(
            help: ArgumentHelp(
                """
                Keep the events in PostgreSQL (postgres://USER@HOST:PORT/DATABASE) instead of the data directory's \
                journal. Hubs given the same database form a cluster: one leads and stores submissions, the others \
                follow, serve subscribers and send desks to the leader, and one of them takes over when it fails. \
                The password comes from PGPASSWORD or --store-password-file, never the command line.
                """, valueName: "url"))
        var store: String?

        @Option(help: ArgumentHelp("A file holding the PostgreSQL password (its first line).", valueName: "file"))
        var storePasswordFile: String?

        @Option(
            help: ArgumentHelp(
                "With --store: the host:port desks are sent to while this hub leads. Default: --host and the port.",
                valueName: "host:port"))
        var advertise: String?

        @Option(
            help: """
                With --store: milliseconds a leader may go unheard by PostgreSQL before its session ends and \
                another hub takes over.
                """)
        var leaseMillis = 2000

        @Option(help: "Election definition (JSON). Default: the embedded 4 May 2023 English local elections.")
        var election: String?

        @Option(
            help:
                "Desks file: a JSON list of {\"id\", \"tokenHash\" (or \"token\"), \"regions\"}. Default: DIR/desks.json, generated on first start; reloaded on SIGHUP."
        )
        var desks: String?

        @Option(help: "Subscriber keys: a JSON list of {\"name\", \"key\"}. Default: anyone may watch.")
        var subscribers: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @Option(help: "Log format on standard error: text, or json (one JSON object a line).")
        var logFormat: LogFormat = .text

        @Flag(help: "If the journal has a corrupt record in the middle, keep a backup and drop everything from there.")
        var repairJournal = false

        @Option(help: "Seconds a subscriber may stop reading before it is disconnected.")
        var stallTimeout = 30

        @Option(
            help: """
                Events kept in memory for resuming subscribers. A resume gets the events it missed when they are \
                still kept and number at most 8,192; otherwise it gets a snapshot (SPEC.md 6.8).
                """)
        var retainedEvents = 200_000

        @Option(help: "Accepted revisions remembered for idempotent retries (each contest's current one always is).")
        var retainedRevisions = 1_000_000

        @Option(help: "Serve TLS on the port: the server's certificate (PEM), then any intermediates. With --tls-key.")
        var tlsCert: String?

        @Option(help: "The private key of --tls-cert (PEM).")
        var tlsKey: String?

        @Option(
            name: .customLong("tls-client-ca"),
            help: "With --tls-cert: clients must present a certificate signed by a CA in this PEM file.")
        var tlsClientCA: String?

        /// Checked by `validate()`.
        var tls: HubTLS? {
            guard let tlsCert, let tlsKey else { return nil }
            return HubTLS(certificateFile: tlsCert, privateKeyFile: tlsKey, clientCAFile: tlsClientCA)
        }

        /// Set while `ServeConfiguration` parses one setting of the file or the environment on its own, to report a
        /// wrong value with its key: the checks below relate options to one another and wait for all of them.
        @TaskLocal static var checksValuesAlone = false

        func validate() throws {
            guard !Self.checksValuesAlone else { return }
            do {
                try StartupChecks.checkPortRange(port, option: "--port")
                try StartupChecks.checkPortRange(adminPort, option: "--admin-port")
            } catch {
                throw ValidationError(error.message)
            }
            if port == adminPort && port != 0 {
                throw ValidationError("--port and --admin-port are both \(port): give the admin HTTP port another")
            }
            guard retainedEvents > 0, retainedRevisions > 0 else {
                throw ValidationError("--retained-events and --retained-revisions must be positive")
            }
            guard stallTimeout > 0 else {
                throw ValidationError("--stall-timeout must be a positive number of seconds")
            }
            guard (tlsCert == nil) == (tlsKey == nil) else {
                throw ValidationError("--tls-cert and --tls-key go together")
            }
            if tlsClientCA != nil && tlsCert == nil { throw ValidationError("--tls-client-ca goes with --tls-cert") }
            if store == nil && (storePasswordFile != nil || advertise != nil) {
                throw ValidationError("--store-password-file and --advertise go with --store")
            }
            guard leaseMillis >= 200 else { throw ValidationError("--lease-millis must be at least 200") }
            if let advertise, HubAddress(advertise) == nil || advertise.utf8.count > WireLimits.maxAddressBytes {
                throw ValidationError(
                    "--advertise \(advertise) is not HOST:PORT or [IPv6]:PORT of at most \(WireLimits.maxAddressBytes) bytes"
                )
            }
            if let store {
                do {
                    _ = try PostgresStoreLocation(url: store)
                } catch {
                    throw ValidationError("--store: \(error)")
                }
            }
        }

        func run() async throws {
            let logger = logFormat.bootstrap(level: logLevel)
            do {
                try await serve(logger: logger)
            } catch {
                logFormat.report(error, logger: logger)
                throw ExitCode.failure
            }
        }

        /// Checks everything that can be checked before writing anything (the election, the address, the data
        /// directory, the desks file), then serves; a generated desks file is written only once the journal has
        /// been recovered for this election and the hub listens.
        private func serve(logger: Logger) async throws {
            let election = try loadElection()
            // The certificate and key are read (and matched) before anything is written.
            if let tls { _ = try tls.makeContext() }
            try StartupChecks.checkListenAddress(host: host, port: port)
            try StartupChecks.checkListenAddress(
                host: adminHost, port: adminPort, options: ("--admin-host", "--admin-port"))
            if let warning = try StartupChecks.prepareDataDirectory(dataDirectory) {
                logger.warning("\(warning)")
            }
            try StartupChecks.checkRehearsalMarking(dataDirectory, rehearsal: rehearsal)
            let desksFile = try loadOrGenerateDesks(election: election, logger: logger)
            let desks = try DeskDirectory(desks: desksFile.stored, election: election)
            var configuration = HubConfiguration(election: election, desks: desks, dataDirectory: dataDirectory)
            configuration.host = host
            configuration.port = port
            configuration.repairJournal = repairJournal
            configuration.rehearsal = rehearsal
            configuration.tls = tls
            configuration.advertisedAddress = advertise
            let storeOptions = try postgresOptions(election: election)
            let metrics = PrometheusCollectorRegistry()
            configuration.metricsFactory = HubPrometheus.makeFactory(registry: metrics)
            if let subscribers {
                guard let data = FileManager.default.contents(atPath: subscribers) else {
                    throw StartupError("cannot read the subscribers file \(subscribers); check --subscribers")
                }
                configuration.subscriberKeys = try SubscriberKeys(entries: try SubscriberKeys.decode(data))
                if let warning = StartupChecks.exposureWarning(forSecretFile: subscribers) {
                    logger.warning("\(warning)")
                }
            }
            configuration.stallTimeout = .seconds(Int64(stallTimeout))
            configuration.retainedEvents = retainedEvents
            configuration.retainedRevisions = retainedRevisions
            let contests = election.contests.count
            let dataDirectory = self.dataDirectory
            let host = self.host
            let port = self.port
            let overTLS = tls == nil ? "" : " over TLS"
            var storeFactory: (@Sendable (HubConfiguration, Logger) async throws -> any EventStore)?
            if let storeOptions {
                storeFactory = { _, logger in try await PostgresEventStore.open(storeOptions, logger: logger) }
            }
            let storeDescription =
                storeOptions.map { "events in \($0.location)" } ?? "journal in \(dataDirectory)/journal.rhj"
            let server = HubServer(
                configuration: configuration, logger: logger,
                onServerRunning: { address in
                    if let generated = desksFile.toWrite {
                        // The hashes in the desks file; the tokens themselves once, in a file the operator moves away.
                        try StartupChecks.writeSecretFile(Array(DesksFile.encode(desksFile.stored)), to: generated)
                        let tokens = try DesksFileOptions.writeNewTokens(
                            desksFile.generated, beside: generated, to: nil)
                        say(
                            "results-hub: wrote \(desksFile.generated.count) desks to \(generated) (one per region and \"national\"; hashes only) and their tokens to \(tokens): give each desk its token, then move that file off this machine"
                        )
                    }
                    say(
                        "results-hub: serving \(election.name) (\(contests) contests)\(overTLS) on \(address.ipAddress ?? host):\(address.port ?? port)"
                    )
                    if rehearsal {
                        say("results-hub: REHEARSAL: every result this hub serves is marked as test data")
                    }
                    say("results-hub: \(storeDescription); desks: \(desks.deskIDs.joined(separator: ", "))")
                }, storeFactory: storeFactory)
            let desksPath = desksFile.path
            let hangup = HangupSignal(logger: logger) {
                // SIGHUP: the desks file again; an invalid one is logged and the desks in force are kept.
                do {
                    guard let data = FileManager.default.contents(atPath: desksPath) else {
                        throw StartupError("cannot read \(desksPath)")
                    }
                    let stored = try DesksFile.decode(data)
                    let directory = try DeskDirectory(desks: stored, election: election)
                    let closed = server.replaceDesks(with: directory)
                    logger.notice(
                        "desks file reloaded",
                        metadata: [
                            "desks.file": "\(desksPath)", "desks": "\(directory.deskIDs.joined(separator: ","))",
                            "desks.closed": "\(closed.map(\.deskID).joined(separator: ","))",
                        ])
                    Self.warnAboutPlainTokens(stored, in: desksPath, logger: logger)
                } catch {
                    logger.error(
                        "desks file not reloaded: \(error); the desks in force are kept",
                        metadata: ["desks.file": "\(desksPath)"])
                }
            }
            let adminHost = self.adminHost
            let adminPort = self.adminPort
            let admin = AdminServer(host: adminHost, port: adminPort, hub: server, registry: metrics, logger: logger) {
                address in
                say(
                    "results-hub: admin on http://\(address.ipAddress ?? adminHost):\(address.port ?? adminPort) (/metrics, /healthz, /readyz, /v1/stats)"
                )
            }
            // Stopped in reverse order: the admin port last, so that /readyz says the hub is shutting down.
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: admin), .init(service: server), .init(service: hangup)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }

        /// `--store`'s options, the password read from its file or `PGPASSWORD`; nil for the file journal.
        private func postgresOptions(election: Election) throws -> PostgresEventStore.Options? {
            guard let store else { return nil }
            let location = try PostgresStoreLocation(url: store)
            var password = ProcessInfo.processInfo.environment["PGPASSWORD"]
            if let storePasswordFile {
                guard let data = FileManager.default.contents(atPath: storePasswordFile),
                    let text = String(data: data, encoding: .utf8)
                else {
                    throw StartupError(
                        "cannot read the password file \(storePasswordFile); check --store-password-file")
                }
                password = String(text.prefix(while: { $0 != "\n" && $0 != "\r" }))
            }
            var options = PostgresEventStore.Options(
                location: location, password: password, electionID: election.id,
                electionDigest: ElectionDefinition(election).digest, rehearsal: rehearsal)
            options.lease = .milliseconds(leaseMillis)
            return options
        }

        private func loadElection() throws -> Election {
            guard let path = self.election else { return try Election.england2023() }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StartupError("cannot read the election file \(path); check --election")
            }
            do {
                return try Election(json: data)
            } catch {
                throw StartupError("the election file \(path) is not valid: \(error)")
            }
        }

        /// The desks, and where to write them if they were generated for this first start.
        private struct LoadedDesks {
            var path: String
            var stored: [StoredDesk]
            /// Generated on this first start: their plain tokens, shown once.
            var generated: [DeskCredential] = []
            var toWrite: String?
        }

        /// The desks file given, or DIR/desks.json; on the first start, desks with random tokens, written later.
        private func loadOrGenerateDesks(election: Election, logger: Logger) throws -> LoadedDesks {
            let path = desks ?? "\(dataDirectory)/desks.json"
            if let data = FileManager.default.contents(atPath: path) {
                if let warning = StartupChecks.exposureWarning(forSecretFile: path) { logger.warning("\(warning)") }
                let stored = try DesksFile.decode(data)
                Self.warnAboutPlainTokens(stored, in: path, logger: logger)
                return LoadedDesks(path: path, stored: stored)
            }
            guard desks == nil else { throw StartupError("cannot read the desks file \(path); check --desks") }
            let generated = DeskDirectory.generateCredentials(for: election)
            return LoadedDesks(path: path, stored: generated.map(StoredDesk.init), generated: generated, toWrite: path)
        }

        /// A desks file in the previous format (plain tokens) is served as it is, with this warning: the hub never
        /// rewrites a file the operator gave it.
        static func warnAboutPlainTokens(_ stored: [StoredDesk], in path: String, logger: Logger) {
            let plain = DesksFile.plainTokenDesks(stored)
            guard !plain.isEmpty else { return }
            logger.warning(
                "the desks file \(path) stores plain tokens for \(plain.count == 1 ? "1 desk" : "\(plain.count) desks"); `results-hub desks rehash --desks \(path)` stores only their hashes (the tokens stay valid)"
            )
        }
    }
}

/// SIGHUP reloads the desks file (`results-hub desks add | rotate | revoke` edit it). It never stops the hub: a
/// terminal sends it when it closes (an SSH session dropping on election night). Stop the hub with SIGTERM or SIGINT.
struct HangupSignal: Service {
    let logger: Logger
    let reload: @Sendable () -> Void

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP received: reloading the desks file; the hub keeps serving")
            reload()
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// `--log-format`: today's text lines (swift-log's StreamLogHandler), or one JSON object a line (`JSONLogHandler`).
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json

    /// Sets up logging on standard error in this format; the command's logger.
    func bootstrap(level: Logger.Level) -> Logger {
        let format = self
        LoggingSystem.bootstrap { label in
            switch format {
            case .text:
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            case .json:
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
        }
        return Logger(label: "results-hub")
    }

    /// The error that stops the command: one sentence, not a stack of wrapped errors: what failed and what to do.
    /// With JSON logs it is a log record too, so that whatever reads standard error sees every line as JSON.
    func report(_ error: any Error, logger: Logger) {
        switch self {
        case .text: FileHandle.standardError.write(Data("results-hub: \(error)\n".utf8))
        case .json: logger.critical("\(error)")
        }
    }
}

/// A line for the operator on standard output, written at once (not buffered) so that scripts see it.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
