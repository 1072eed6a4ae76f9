import ArgumentParser
import ElectionModel
import Foundation
import HubAdmin
import HubClient
import HubJournal
import HubRelay
import HubServer
import HubWire
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

extension ResultsHubCommand {
    struct Relay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Relay another hub's results: subscribe upstream, serve subscribers and queries downstream.",
            discussion: """
                A relay holds a verified copy of its upstream (a hub, a cluster's follower, or another relay) and \
                serves the same protocol, sequence numbers and checksums to its own subscribers, so that one hub's \
                fan-out is spread over machines. It stores nothing: desks that reach it are sent upstream (SPEC.md \
                6.18), when it knows them (--desks).
                """)

        @Option(
            help: ArgumentHelp(
                "The upstream hub, HOST:PORT; several, comma-separated, to resume at the next when one fails.",
                valueName: "host:port"))
        var upstream: String

        @Option(help: "Address to listen on.")
        var host = "127.0.0.1"

        @Option(help: "Port to listen on; 0 picks a free port and prints it.")
        var port = 7410

        @Option(help: "Address of the admin HTTP port (/metrics, /healthz, /readyz, /v1/stats).")
        var adminHost = "127.0.0.1"

        @Option(help: "The admin HTTP port; 0 picks a free port and prints it.")
        var adminPort = 7411

        @Flag(help: "Connect to the upstream with TLS (an upstream started with --tls-cert).")
        var upstreamTls = false

        @Option(
            help:
                "With --upstream-tls: PEM file of the CA that signed the upstream's certificate. Default: the system's."
        )
        var upstreamCa: String?

        @Option(help: "Serve TLS on the port: the relay's certificate (PEM), then any intermediates. With --tls-key.")
        var tlsCert: String?

        @Option(help: "The private key of --tls-cert (PEM).")
        var tlsKey: String?

        /// Checked by `validate()`.
        var tls: HubTLS? {
            guard let tlsCert, let tlsKey else { return nil }
            return HubTLS(certificateFile: tlsCert, privateKeyFile: tlsKey)
        }

        @Option(help: "The subscriber name this relay gives upstream.")
        var upstreamName = "relay"

        @Option(help: "A file holding the subscriber key upstream asks for (its first line), if it asks for one.")
        var upstreamKeyFile: String?

        @Option(help: "The upstream's desks file: desks that reach this relay authenticate, then are sent upstream.")
        var desks: String?

        @Option(help: "Subscriber keys for this relay's own subscribers: a JSON list of {\"name\", \"key\"}.")
        var subscribers: String?

        @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
        var logLevel: Logger.Level = .info

        @Option(help: "Log format on standard error: text, or json (one JSON object a line).")
        var logFormat: LogFormat = .text

        var upstreamAddresses: [HubAddress] {
            upstream.split(separator: ",").compactMap { HubAddress(String($0)) }.map { address in
                var address = address
                if upstreamTls { address.tls = ClientTLS(caFile: upstreamCa) }
                return address
            }
        }

        func validate() throws {
            guard !upstreamAddresses.isEmpty,
                upstreamAddresses.count == upstream.split(separator: ",").count
            else {
                throw ValidationError("--upstream \(upstream) is not HOST:PORT (or several, comma-separated)")
            }
            guard (tlsCert == nil) == (tlsKey == nil) else {
                throw ValidationError("--tls-cert and --tls-key go together")
            }
            if upstreamCa != nil && !upstreamTls { throw ValidationError("--upstream-ca goes with --upstream-tls") }
            do {
                try StartupChecks.checkPortRange(port, option: "--port")
                try StartupChecks.checkPortRange(adminPort, option: "--admin-port")
            } catch {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            let logger = logFormat.bootstrap(level: logLevel)
            do {
                try await relay(logger: logger)
            } catch {
                logFormat.report(error, logger: logger)
                throw ExitCode.failure
            }
        }

        private func relay(logger: Logger) async throws {
            // The certificate and key are read (and matched) before anything else.
            if let tls { _ = try tls.makeContext() }
            try StartupChecks.checkListenAddress(host: host, port: port)
            try StartupChecks.checkListenAddress(
                host: adminHost, port: adminPort, options: ("--admin-host", "--admin-port"))
            var key = ""
            if let upstreamKeyFile {
                guard let data = FileManager.default.contents(atPath: upstreamKeyFile) else {
                    throw StartupError("cannot read the key file \(upstreamKeyFile); check --upstream-key-file")
                }
                key = String(decoding: data, as: UTF8.self).prefix { $0 != "\n" && $0 != "\r" }.description
            }
            // The election and the marking are the upstream's: asked once (of each address in turn), before serving.
            let addresses = upstreamAddresses
            var upstreamElection: (Election, Bool)?
            var problems: [String] = []
            for address in addresses where upstreamElection == nil {
                let asker = DeskClient(
                    address: address, observerName: upstreamName, key: key, clientName: "results-hub relay",
                    logger: logger, timeout: .seconds(10))
                do {
                    upstreamElection = (try await asker.election(), try await asker.welcome().rehearsal)
                } catch {
                    problems.append("at \(address): \(error)")
                }
                await asker.close()
            }
            guard let (election, rehearsal) = upstreamElection else {
                throw StartupError("cannot reach the upstream hub \(problems.joined(separator: "; "))")
            }

            var desks = try DeskDirectory(desks: [], election: election)
            if let path = self.desks {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw StartupError("cannot read the desks file \(path); check --desks")
                }
                desks = try DeskDirectory(desks: try DesksFile.decode(data), election: election)
            }
            var configuration = HubConfiguration(election: election, desks: desks, dataDirectory: "")
            configuration.host = host
            configuration.port = port
            configuration.rehearsal = rehearsal
            configuration.tls = tls
            configuration.hubName = "ResultsHub relay"
            if let subscribers {
                guard let data = FileManager.default.contents(atPath: subscribers) else {
                    throw StartupError("cannot read the subscribers file \(subscribers); check --subscribers")
                }
                configuration.subscriberKeys = try SubscriberKeys(entries: try SubscriberKeys.decode(data))
            }
            let metrics = PrometheusCollectorRegistry()
            configuration.metricsFactory = HubPrometheus.makeFactory(registry: metrics)

            var client = SubscriberClient(address: addresses[0], name: upstreamName, key: key, logger: logger)
            client.otherAddresses = Array(addresses.dropFirst())
            let upstream = addresses[0].description
            let store = UpstreamStore(client: client, upstream: upstream, logger: logger)
            let host = self.host
            let port = self.port
            let overTLS = tls == nil ? "" : " over TLS"
            let server = HubServer(
                configuration: configuration, logger: logger,
                onServerRunning: { address in
                    say(
                        "results-hub relay: relaying \(election.name) from \(upstream)\(overTLS) on \(address.ipAddress ?? host):\(address.port ?? port)"
                    )
                }, storeFactory: { _, _ in store })
            let adminHost = self.adminHost
            let adminPort = self.adminPort
            let admin = AdminServer(host: adminHost, port: adminPort, hub: server, registry: metrics, logger: logger) {
                address in
                say("results-hub: admin on http://\(address.ipAddress ?? adminHost):\(address.port ?? adminPort)")
            }
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: admin), .init(service: server)],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }
}
