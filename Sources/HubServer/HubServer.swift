import ElectionModel
import Foundation
import HubCore
import HubJournal
import HubWire
import Logging
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The hub as a service: recovers the journal, listens, serves, and on graceful shutdown stops accepting, lets the
/// commit in flight become durable, says goodbye to every client and closes the journal.
public final class HubServer: Service, Sendable {
    public let configuration: HubConfiguration
    private let logger: Logger
    private let onServerRunning: @Sendable (SocketAddress) async throws -> Void
    private let storeFactory: @Sendable (HubConfiguration, Logger) async throws -> any EventStore
    private let runningEngine = Mutex<HubEngine?>(nil)
    /// TCP connections open now, authenticated or not.
    private let openConnections = Atomic<Int>(0)
    private let partialFrames: PartialFrameBudget
    /// The desk directory in force: `configuration.desks` at first, then whatever `replaceDesks` put in.
    private let currentDesks: CurrentDesks
    let metrics: HubMetrics
    private let currentReadiness = CurrentReadiness()

    /// - Parameters:
    ///   - onServerRunning: called with the bound address once the hub accepts connections (tests bind port 0);
    ///     if it throws, the hub stops and `run()` throws that error.
    ///   - storeFactory: the journal; by default a `FileJournal` in the data directory.
    public init(
        configuration: HubConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (SocketAddress) async throws -> Void = { _ in },
        storeFactory: (@Sendable (HubConfiguration, Logger) async throws -> any EventStore)? = nil
    ) {
        self.configuration = configuration
        self.logger = logger
        self.onServerRunning = onServerRunning
        self.partialFrames = PartialFrameBudget(limit: configuration.maxPartialFrameBytes)
        self.currentDesks = CurrentDesks(configuration.desks)
        self.metrics = HubMetrics(factory: configuration.metricsFactory)
        self.storeFactory =
            storeFactory ?? { configuration, logger in
                try await FileJournal.open(
                    directory: configuration.dataDirectory,
                    electionDigest: ElectionDefinition(configuration.election).digest,
                    logger: logger,
                    options: .init(repair: configuration.repairJournal, metrics: configuration.metricsFactory))
            }
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        currentReadiness.set(.recovering)
        defer { currentReadiness.set(.stopped) }
        do {
            try await serve(group: group)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    private func serve(group: MultiThreadedEventLoopGroup) async throws {
        let configuration = self.configuration
        let logger = self.logger
        // Read before the journal is touched: a wrong file is reported at once.
        let tlsContext = try configuration.tls?.makeContext()
        let started = ContinuousClock.now
        let store = try await storeFactory(configuration, logger)
        // Replayed where the store does its work (the journal's thread); the value goes there and comes back.
        let recovered: HubMachine.Recovery
        let recovery: JournalRecovery
        do {
            (recovered, recovery) = try await store.recover(
                into: HubMachine.Recovery(configuration: configuration.machine)
            ) {
                recovered, entry in try recovered.apply(sequence: entry.sequence, record: entry.record)
            }
        } catch {
            try? await store.close()
            throw error
        }
        logger.info(
            "journal replayed",
            metadata: [
                "journal.events": "\(recovery.entryCount)", "journal.truncatedBytes": "\(recovery.truncatedBytes)",
                "journal.seconds": "\(ContinuousClock.now - started)",
            ])
        let latestSequence = recovered.state.latestSequence
        // A hub sharing its store starts as a follower: it stores nothing until the store says it leads.
        let shared = store as? any SharedEventStore
        let role: HubMachine.Role = shared == nil ? .leader : .follower(leader: nil)
        let engine = HubEngine(
            loop: group.next(), machine: HubMachine(recovered: recovered, role: role), store: store,
            hubName: configuration.hubName,
            heartbeatInterval: configuration.heartbeatInterval, desks: currentDesks, metrics: metrics,
            readiness: currentReadiness, logger: logger)
        engine.start()
        runningEngine.withLock { $0 = engine }
        defer { runningEngine.withLock { $0 = nil } }
        // A shared store is followed from before the hub listens, so that its first subscribers find the state the
        // store reported first (a relay's first upstream copy); the address desks are sent to once it leads is known
        // once it listens.
        let advertised = group.next().makePromise(of: String.self)
        let firstReport = group.next().makePromise(of: Void.self)
        let readiness = currentReadiness
        let coordination = shared.map { shared in
            Task {
                let reported = Atomic<Bool>(false)
                do {
                    try await shared.coordinate(advertising: { try await advertised.futureResult.get() }) { event in
                        await engine.storeReported(event)
                        if !reported.exchange(true, ordering: .relaxed) { firstReport.succeed() }
                    }
                } catch {
                    logger.error("the shared store stopped: \(error)")
                }
                if !Task.isCancelled {
                    // Serving on would be serving a copy that no longer moves: say so where operators look.
                    readiness.storeFailed("the shared store stopped: this hub's copy no longer follows it")
                    logger.critical("the shared store stopped: this hub's copy no longer follows it")
                }
                firstReport.fail(CancellationError())
            }
        }
        if let coordination {
            do {
                // A relay waits here for its upstream: a SIGTERM meanwhile stops the wait.
                try await withGracefulShutdownHandler {
                    try await firstReport.futureResult.get()
                } onGracefulShutdown: {
                    coordination.cancel()
                    firstReport.fail(CancellationError())
                }
            } catch {
                advertised.fail(error)
                try? await engine.shutdown().get()
                try? await store.close()
                throw HubServerError(message: "the shared store stopped before the hub could serve")
            }
        } else {
            firstReport.succeed()
        }
        defer { advertised.fail(CancellationError()) }
        let nextID = Atomic<UInt64>(0)
        let heartbeat = configuration.heartbeatInterval

        let partialFrames = self.partialFrames
        let metrics = self.metrics
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 256 * 1024))
            .childChannelInitializer { channel in
                let id = PeerID(nextID.add(1, ordering: .relaxed).newValue)
                let open = self.openConnections.add(1, ordering: .relaxed).newValue
                channel.closeFuture.whenComplete { _ in self.openConnections.subtract(1, ordering: .relaxed) }
                if open > configuration.maxConnections {
                    metrics.connectionsRefused.increment()
                    logger.warning(
                        "refusing a connection: the limit is reached",
                        metadata: ["connections.max": "\(configuration.maxConnections)"])
                    return channel.eventLoop.makeCompletedFuture {
                        if let tlsContext {
                            try channel.pipeline.syncOperations.addHandlers(
                                TLSOnlyPortHandler(), NIOSSLServerHandler(context: tlsContext))
                        }
                        try channel.pipeline.syncOperations.addHandler(RefuseConnectionHandler())
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        // Below the protocol: the frame reader sees the decrypted bytes.
                        try channel.pipeline.syncOperations.addHandlers(
                            TLSOnlyPortHandler(), NIOSSLServerHandler(context: tlsContext))
                    }
                    if let bytes = configuration.socketSendBufferBytes {
                        try channel.syncOptions?.setOption(.socketOption(.so_sndbuf), value: SocketOptionValue(bytes))
                    }
                    let reader = FrameReader(budget: partialFrames)
                    try channel.pipeline.syncOperations.addHandlers([
                        reader,
                        IdleStateHandler(readTimeout: heartbeat * 3, writeTimeout: heartbeat),
                        ConnectionHandler(
                            id: id, configuration: configuration, engine: engine, reader: reader, metrics: metrics,
                            logger: logger),
                    ])
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            coordination?.cancel()
            try? await engine.shutdown().get()
            try? await store.close()
            throw HubServerError.cannotListen(host: configuration.host, port: configuration.port, error)
        }

        guard let address = channel.localAddress else {
            channel.close(promise: nil)
            coordination?.cancel()
            try? await engine.shutdown().get()
            try? await store.close()
            throw HubServerError(message: "the listening socket has no address")
        }
        logger.info(
            "listening",
            metadata: [
                "hub.address": "\(address)", "election.id": "\(configuration.election.id)",
                "hub.sequence": "\(latestSequence)", "hub.tls": "\(tlsContext != nil)",
            ])
        var startFailure: (any Error)?
        do {
            try await onServerRunning(address)
            currentReadiness.set(.ready)
        } catch {
            startFailure = error
            channel.close(promise: nil)
        }
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        advertised.succeed(configuration.advertisedAddress ?? "\(host):\(address.port ?? configuration.port)")

        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            readiness.set(.stopping)
            logger.info("shutting down: no new connections; finishing the commit in flight")
            channel.close(promise: nil)
        }
        currentReadiness.set(.stopping)
        coordination?.cancel()
        try await engine.shutdown().get()
        try await store.close()
        await coordination?.value
        if let startFailure { throw startFailure }
        logger.info("stopped", metadata: ["hub.sequence": "\(engine.latestDurableSequence)"])
    }
}

extension HubServer {
    /// The desk directory in force.
    public var desks: DeskDirectory { currentDesks.directoryInForce }

    /// Puts a new desk directory in force (the desks file reloaded on SIGHUP): handshakes use it at once, and the
    /// open connections of each desk revoked, or whose token or regions changed, are closed with GOODBYE
    /// authenticationFailed and the reason (`HubMachine.desksRevoked`). Returns those desks.
    @discardableResult
    public func replaceDesks(with directory: DeskDirectory) -> [DeskRevocation] {
        let old = currentDesks.replace(with: directory)
        let revocations = directory.revocations(since: old)
        // After the swap: a handshake that authenticated against the old directory and reaches the engine after
        // these revocations is checked against the new one there (`HubEngine.connected`).
        runningEngine.withLock { $0 }?.desksRevoked(revocations)
        return revocations
    }

    /// Whether the hub accepts submissions now (`/readyz`).
    public var readiness: HubReadiness { currentReadiness.now }

    /// What the hub is doing now: for tests, and for operators' tools. Also sets the metrics' gauges (sequence,
    /// subscribers by state, open connections), so that a scrape reads them first.
    public func statistics() async throws -> HubStatistics {
        guard let engine = runningEngine.withLock({ $0 }) else {
            throw HubServerError(message: "the hub is not running")
        }
        let machine = try await engine.statistics().get()
        var statistics = HubStatistics(
            latestSequence: machine.latestSequence, peers: machine.peers, subscribers: machine.subscribers,
            conflatingSubscribers: machine.conflatingSubscribers, stalledSubscribers: machine.stalledSubscribers,
            largestPendingBytes: machine.largestPendingBytes, totalPendingBytes: machine.totalPendingBytes)
        switch machine.role {
        case .leader:
            statistics.role = "leader"
        case .follower(let leader):
            statistics.role = "follower"
            statistics.leader = leader
        }
        statistics.openConnections = openConnections.load(ordering: .relaxed)
        statistics.partialFrameBytes = partialFrames.heldBytes
        metrics.update(from: statistics)
        return statistics
    }
}

public struct HubStatistics: Hashable, Sendable, Codable {
    public var latestSequence: UInt64
    /// "leader": this hub stores submissions (a hub on its own, or a cluster's leader); "follower": a cluster's
    /// follower or a relay, which sends desks to `leader`.
    public var role = "leader"
    /// For a follower or relay: the `host:port` it sends desks to, when known.
    public var leader: String?
    /// TCP connections open, authenticated or not.
    public var openConnections = 0
    /// Bytes held for frames still arriving, over all connections (bounded by `maxPartialFrameBytes`).
    public var partialFrameBytes = 0
    /// Authenticated connections.
    public var peers: Int
    public var subscribers: Int
    /// Subscribers that fell behind and are receiving conflated updates (stalled ones included).
    public var conflatingSubscribers: Int
    /// Conflating for half the stall timeout or more: dropped at the whole, unless they catch up.
    public var stalledSubscribers: Int
    /// The most bytes any one subscriber has waiting in the hub (the bound being tested).
    public var largestPendingBytes: Int
    public var totalPendingBytes: Int
}

/// Answers a connection over the limit with GOODBYE tooManyConnections as soon as it is active, then closes it.
final class RefuseConnectionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let goodbye = FrameCodec().encode(
            .goodbye(Goodbye(code: .tooManyConnections, message: "the hub is at its connection limit", lastSequence: 0))
        )
        let channel = context.channel
        context.writeAndFlush(NIOAny(goodbye)).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

public struct HubServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    public init(message: String) {
        self.message = message
    }

    /// The listening socket could not be bound, in words an operator can act on.
    static func cannotListen(host: String, port: Int, _ error: any Error) -> HubServerError {
        let code = (error as? IOError)?.errnoCode
        let reason: String
        switch code {
        case EADDRINUSE?:
            reason = "the port is in use (is another results-hub running?); stop it or choose another --port"
        case EACCES?:
            reason = "permission denied (ports below 1024 need privileges); choose a port from 1024 up"
        case EADDRNOTAVAIL?:
            reason = "\(host) is not an address of this machine; choose another --host"
        default:
            reason = "\(error)"
        }
        return HubServerError(message: "cannot listen on \(host):\(port): \(reason)")
    }
}
