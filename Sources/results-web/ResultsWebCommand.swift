import ArgumentParser
import ClientOptions
import Foundation
import HubClient
import HubWire
import Logging
import NIOCore
import ResultsWeb
import ServiceLifecycle
import UnixSignals
import WebFeed

@main
struct ResultsWebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results-web",
        abstract: "Serve the live results page, a JSON API, server-sent events and WebSocket from a ResultsHub hub.",
        discussion: """
            results-web subscribes to the hub as a broadcaster does (a verified copy, resumed after any reconnect) \
            and serves it to browsers: GET / (the page), /v1/election, /v1/scoreboard, /v1/contests, \
            /v1/contests/{slug}, /v1/stream (server-sent events; Last-Event-ID resumes), /v1/ws (WebSocket) and \
            /openapi.yaml.
            """,
        version: ResultsHubVersion.currentWithProtocol)

    @Option(help: "The hub's address, HOST:PORT or [IPv6]:PORT.")
    var hub = "127.0.0.1:7400"

    @Option(help: "The address to serve HTTP on.")
    var host = "127.0.0.1"

    @Option(help: "The HTTP port (0 picks a free one; the log says which).")
    var port = 8080

    @Option(help: "Subscriber name, when the hub requires subscriber keys.")
    var subscriber = "results-web"

    @Option(help: "Subscriber key (or RESULTS_HUB_KEY), when the hub requires subscriber keys.")
    var key: String?

    @OptionGroup var clientTLS: HubClientTLSOptions

    @Option(help: "Browsers connected at once, at most; more are answered 503.")
    var maxClients = 10_000

    @Option(help: "Events queued for one browser before it is dropped as too slow (it reconnects and resumes).")
    var eventsPerClient = 1024

    @Option(help: "Change events kept for browsers that reconnect with Last-Event-ID.")
    var retainedEvents = 20_000

    @Option(
        help:
            "Kernel send buffer per browser connection, in bytes (SO_SNDBUF), bounding what a stalled one holds; 0 leaves the kernel's autotuning (up to 4 MiB)."
    )
    var sendBuffer = 256 << 10

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard HubAddress(hub) != nil else {
            throw ValidationError("--hub \(hub) is not HOST:PORT or [IPv6]:PORT with a port from 1 to 65535")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not 0 to 65535") }
        try clientTLS.validate()
        guard (1...1_000_000).contains(maxClients) else {
            throw ValidationError("--max-clients \(maxClients) is not 1 to 1000000")
        }
        guard (16...1_000_000).contains(eventsPerClient) else {
            throw ValidationError("--events-per-client \(eventsPerClient) is not 16 to 1000000")
        }
        guard sendBuffer == 0 || (4096...(64 << 20)).contains(sendBuffer) else {
            throw ValidationError("--send-buffer \(sendBuffer) is not 0 or 4096 to 67108864")
        }
        guard (0...10_000_000).contains(retainedEvents) else {
            throw ValidationError("--retained-events \(retainedEvents) is not 0 to 10000000")
        }
    }

    func run() async throws {
        var logger = Logger(label: "results-web")
        logger.logLevel = logLevel
        let address = clientTLS.applied(to: HubAddress(hub) ?? .default)
        let feed = LiveFeed(
            limits: .init(
                eventsPerClient: eventsPerClient, maxClients: maxClients,
                history: .init(maxEvents: retainedEvents)))
        let client = SubscriberClient(
            address: address, name: subscriber,
            key: key ?? ProcessInfo.processInfo.environment["RESULTS_HUB_KEY"] ?? "", logger: logger)
        let host = self.host
        let hubAddress = address
        let server = try WebServer(
            host: host, port: port, feed: feed, socketSendBufferBytes: sendBuffer == 0 ? nil : sendBuffer,
            logger: logger
        ) { bound in
            // On standard output, as results-hub says where it serves: people and tools (hub-load web) read it.
            let ip = bound.ipAddress ?? host
            let url = "http://\(ip.contains(":") ? "[\(ip)]" : ip):\(bound.port ?? 0)/"
            FileHandle.standardOutput.write(Data("results-web: serving \(url) from the hub at \(hubAddress)\n".utf8))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: HubFeed(client: client, feed: feed, logger: logger)),
                    .init(service: server),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
