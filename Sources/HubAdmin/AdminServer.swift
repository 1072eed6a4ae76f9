import Foundation
import HubServer
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The operator's HTTP port, beside the protocol's: `/metrics` (Prometheus text), `/healthz` (the process serves),
/// `/readyz` (the hub accepts submissions), `/v1/stats` (JSON). It starts with the hub, so that `/readyz` answers
/// (503) while the journal is recovered, and stops with it on graceful shutdown.
public struct AdminServer: Service {
    public let host: String
    public let port: Int
    private let hub: HubServer
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let onServerRunning: @Sendable (SocketAddress) async -> Void

    /// - Parameters:
    ///   - registry: where `HubPrometheus.makeFactory(registry:)`'s metrics, given to the hub, are kept.
    ///   - onServerRunning: called with the bound address (port 0 picks a free one).
    public init(
        host: String, port: Int, hub: HubServer, registry: PrometheusCollectorRegistry, logger: Logger,
        onServerRunning: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.hub = hub
        self.registry = registry
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    public func run() async throws {
        let onServerRunning = self.onServerRunning
        let application = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "results-hub"),
            onServerRunning: { channel in
                if let address = channel.localAddress { await onServerRunning(address) }
            },
            logger: logger)
        do {
            try await application.run()
        } catch let error as IOError {
            throw HubServerError(message: "cannot serve the admin port on \(host):\(port): \(error)")
        }
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let hub = self.hub
        let registry = self.registry
        router.get("healthz") { _, _ in
            Self.text(.ok, "ok")
        }
        router.get("readyz") { _, _ in
            let readiness = hub.readiness
            return Self.text(readiness.isReady ? .ok : .serviceUnavailable, "\(readiness)")
        }
        router.get("metrics") { _, _ in
            // Sets the gauges that describe the present (sequence, subscribers by state, connections) first. While
            // the hub recovers there are none yet: the counters are still served.
            _ = try? await hub.statistics()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("v1/stats") { _, _ in
            let readiness = hub.readiness
            let stats = AdminStats(
                ready: readiness.isReady, readiness: "\(readiness)", statistics: try? await hub.statistics())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var body = ByteBuffer(bytes: try encoder.encode(stats))
            body.writeString("\n")
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        return router
    }

    private static func text(_ status: HTTPResponse.Status, _ line: String) -> Response {
        Response(
            status: status, headers: [.contentType: "text/plain; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: line + "\n")))
    }
}

/// `/v1/stats`: whether the hub is ready and why not, and what it holds (absent while it recovers).
struct AdminStats: Codable {
    var ready: Bool
    var readiness: String
    var statistics: HubStatistics?
}
