import HubWire
import Logging
import NIOCore
import NIOPosix

/// What every client connection shares: the TCP connection with a frame decoder and the connection's handler in
/// front, and the reading of the hub's answer to HELLO.
enum FrameChannel {
    /// Connects within the configuration's `connectTimeout` (5 s when nil).
    static func connect(
        to address: HubAddress, group: any EventLoopGroup,
        configuration: HubConnection.Configuration = HubConnection.Configuration(),
        shared: ClientHandler.Shared = ClientHandler.Shared(), logger: Logger = Logger(label: "HubClient")
    ) async throws -> NIOAsyncChannel<HubConnection.Event, ClientOutbound> {
        let timeout = configuration.connectTimeout ?? .seconds(5)
        let buffer = configuration.inboundBuffer
        // Read the CA file before connecting: a wrong path is reported as such.
        if let tls = address.tls { _ = try tls.context(for: address) }
        do {
            return try await ClientBootstrap(group: group)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(timeout.timeAmount)
                .connect(host: address.host, port: address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls = address.tls {
                            try channel.pipeline.syncOperations.addHandler(tls.handler(for: address))
                        }
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(
                                FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)),
                            ClientHandler(
                                address: address, configuration: configuration, shared: shared, logger: logger))
                        return try NIOAsyncChannel<HubConnection.Event, ClientOutbound>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(
                                backPressureStrategy: .init(
                                    lowWatermark: buffer.lowerBound, highWatermark: buffer.upperBound)))
                    }
                }
        } catch let error as HubClientError {
            throw error
        } catch {
            if isConnectTimeout(error) {
                throw HubClientError.timedOut(address: "\(address)", waitingFor: "the connection", after: timeout)
            }
            throw HubClientError.unreachable(address: "\(address)", reason: reason(error))
        }
    }

    /// The WELCOME in the hub's answer to HELLO, or the error its answer means.
    static func welcome(from answer: HubMessage?) throws(HubClientError) -> Welcome {
        switch answer {
        case .welcome(let welcome)?: return welcome
        case .versionRange(let range)?: throw .unsupportedVersion(range)
        case .goodbye(let goodbye)?: throw .closedByHub(goodbye)
        case let other?: throw .unexpected("\(other.type.specName) before WELCOME")
        case nil: throw .connectionLost
        }
    }

    private static func isConnectTimeout(_ error: any Error) -> Bool {
        if case ChannelError.connectTimeout = error { return true }
        if let failure = error as? NIOConnectionError {
            return failure.connectionErrors.contains {
                if case ChannelError.connectTimeout = $0.error { return true }
                return false
            }
        }
        return false
    }

    /// A connection failure in words a person can act on.
    static func reason(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") {
            return "connection refused (is results-hub running there?)"
        }
        if text.contains("imeout") { return "timed out" }
        return text
    }
}
