import HubWire
import Logging
import NIOCore
import NIOPosix

/// A long-lived connection for request and answer traffic: sends requests with fresh request ids and hands each
/// answer to whoever is waiting for it. Messages that are not answers (heartbeats) are dropped; a GOODBYE fails
/// every waiting request.
actor HubConnection {
    let welcome: Welcome
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    private var waiting: [UInt64: CheckedContinuation<HubMessage, any Error>] = [:]
    private var nextRequestID: UInt64 = 1
    private var closedBecause: (any Error)?
    private let plain = FrameCodec()

    var isOpen: Bool { closedBecause == nil }

    private init(welcome: Welcome, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) {
        self.welcome = welcome
        self.outbound = outbound
        self.channel = channel
    }

    static func open(address: HubAddress, hello: Hello, group: any EventLoopGroup, logger: Logger) async throws
        -> HubConnection
    {
        let asyncChannel = try await FrameChannel.connect(to: address, group: group)
        let channel = asyncChannel.channel
        let (opened, openedContinuation) = AsyncStream.makeStream(of: Result<HubConnection, any Error>.self)
        Task {
            do {
                try await asyncChannel.executeThenClose { inbound, outbound in
                    var frames = inbound.makeAsyncIterator()
                    let codec = FrameCodec()
                    try await outbound.write(codec.encode(.hello(hello)))
                    let welcome = try FrameChannel.welcome(from: try await frames.next().map { try codec.decode($0) })
                    let connection = HubConnection(welcome: welcome, outbound: outbound, channel: channel)
                    openedContinuation.yield(.success(connection))
                    do {
                        while let frame = try await frames.next() {
                            await connection.deliver(try codec.decode(frame))
                        }
                        await connection.fail(HubClientError.connectionLost)
                    } catch {
                        await connection.fail(Self.clientError(error))
                    }
                }
            } catch {
                openedContinuation.yield(.failure(Self.clientError(error)))
            }
            openedContinuation.finish()
        }
        var results = opened.makeAsyncIterator()
        guard let result = await results.next() else { throw HubClientError.connectionLost }
        return try result.get()
    }

    func request(_ make: (UInt64) -> HubMessage) async throws -> HubMessage {
        if let closedBecause { throw closedBecause }
        let requestID = nextRequestID
        nextRequestID += 1
        let frame = plain.encode(make(requestID))
        return try await withCheckedThrowingContinuation { continuation in
            waiting[requestID] = continuation
            Task { await self.write(frame, requestID: requestID) }
        }
    }

    private func write(_ frame: ByteBuffer, requestID: UInt64) async {
        do {
            try await outbound.write(frame)
        } catch {
            waiting.removeValue(forKey: requestID)?.resume(throwing: HubClientError.connectionLost)
        }
    }

    private func deliver(_ message: HubMessage) {
        let requestID: UInt64
        switch message {
        case .ack(let ack): requestID = ack.requestID
        case .reject(let reject): requestID = reject.requestID
        case .scoreboard(let answer): requestID = answer.requestID
        case .contest(let answer): requestID = answer.requestID
        case .election(let answer): requestID = answer.requestID
        case .goodbye(let goodbye):
            fail(HubClientError.closedByHub(goodbye))
            return
        case .heartbeat:
            // The hub heartbeats when it has been idle; answering keeps an idle desk's connection open.
            let frame = plain.encode(.heartbeat(Heartbeat(sequence: 0)))
            Task { try? await self.outbound.write(frame) }
            return
        default:
            return
        }
        waiting.removeValue(forKey: requestID)?.resume(returning: message)
    }

    private func fail(_ error: any Error) {
        if closedBecause == nil { closedBecause = error }
        let pending = waiting
        waiting.removeAll()
        for continuation in pending.values { continuation.resume(throwing: error) }
    }

    func close() {
        fail(HubClientError.connectionLost)
        channel.close(promise: nil)
    }

    static func clientError(_ error: any Error) -> any Error {
        if error is HubClientError { return error }
        if let wire = error as? WireError { return HubClientError.protocolViolation(wire) }
        return HubClientError.connectionLost
    }
}
