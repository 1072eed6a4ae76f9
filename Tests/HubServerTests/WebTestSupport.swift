import Foundation
import HubClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ResultsWeb
import ServiceLifecycle
import WebFeed

/// results-web in this process, subscribed to a test hub, serving HTTP on 127.0.0.1 and an ephemeral port.
final class TestWeb: Sendable {
    let port: Int
    let feed: LiveFeed
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    static func start(hubPort: Int, limits: LiveFeed.Limits = .init()) async throws -> TestWeb {
        var logger = Logger(label: "test-web")
        logger.logLevel = .warning
        let feed = LiveFeed(limits: limits)
        let client = SubscriberClient(
            address: HubAddress(host: "127.0.0.1", port: hubPort), name: "results-web", logger: logger)
        let (addresses, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        // A small kernel send buffer, so that a client that stops reading is dropped after little data.
        let server = try WebServer(
            host: "127.0.0.1", port: 0, feed: feed, socketSendBufferBytes: 16 << 10, logger: logger
        ) {
            continuation.yield($0)
        }
        let group = ServiceGroup(
            services: [HubFeed(client: client, feed: feed, logger: logger), server], logger: logger)
        let task = Task { try await group.run() }
        var iterator = addresses.makeAsyncIterator()
        guard let address = await iterator.next(), let port = address.port else {
            task.cancel()
            throw TestFailure("results-web did not start")
        }
        return TestWeb(port: port, feed: feed, group: group, task: task)
    }

    private init(port: Int, feed: LiveFeed, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.feed = feed
        self.group = group
        self.task = task
    }

    /// Waits (up to `seconds`) until results-web's copy reaches `sequence`.
    func waitForSequence(_ sequence: UInt64, seconds: Double = 10) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while feed.statistics.sequence < sequence || feed.read({ _ in true }) == nil {
            guard ContinuousClock.now < deadline else {
                throw TestFailure("results-web is at \(feed.statistics.sequence), not \(sequence), after \(seconds) s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// A small HTTP/1.1 client over NIO, enough for the tests: one request per connection, the answer's status, headers
/// and body as it arrives. Everything runs in the caller's task.
struct HTTPTestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: String
}

enum HTTPTestClient {
    /// GET `path`, the whole answer.
    static func get(port: Int, _ path: String, headers: [(String, String)] = []) async throws -> HTTPTestResponse {
        try await request(port: port, method: .GET, path, headers: headers)
    }

    /// Any method, the whole answer.
    static func request(
        port: Int, method: HTTPMethod, _ path: String, headers: [(String, String)] = []
    ) async throws -> HTTPTestResponse {
        try await stream(port: port, method: method, path, headers: headers) { head, body in
            var text = ""
            while let chunk = try await body.nextChunk() { text += chunk }
            return HTTPTestResponse(status: Int(head.status.code), headers: head.headers, body: text)
        }
    }

    /// GET `path` and hand the answer's head and its body (read as it arrives) to `read`; the connection closes when
    /// `read` returns.
    static func stream<T: Sendable>(
        port: Int, method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [],
        _ read: (HTTPResponseHead, inout HTTPTestBody) async throws -> T
    ) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
            head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
            for (name, value) in headers { head.headers.add(name: name, value: value) }
            try await outbound.write(.head(head))
            try await outbound.write(.end(nil))
            var body = HTTPTestBody(parts: inbound.makeAsyncIterator())
            guard let responseHead = try await body.head() else {
                throw TestFailure("no HTTP answer head for \(path)")
            }
            return try await read(responseHead, &body)
        }
    }
}

/// An answer's body as it arrives: text chunks, or the server-sent events in them (WHATWG HTML, "Parsing an event
/// stream").
struct HTTPTestBody {
    private var parts: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private var ended = false
    private var pending = ""

    init(parts: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator) {
        self.parts = parts
    }

    mutating func head() async throws -> HTTPResponseHead? {
        while let part = try await parts.next() {
            if case .head(let head) = part { return head }
        }
        return nil
    }

    /// The next piece of the body; nil at its end.
    mutating func nextChunk() async throws -> String? {
        guard !ended else { return nil }
        while let part = try await parts.next() {
            switch part {
            case .body(let buffer): return String(buffer: buffer)
            case .end:
                ended = true
                return nil
            case .head: continue
            }
        }
        ended = true
        return nil
    }

    /// The next complete event; nil when the stream ends.
    mutating func nextEvent() async throws -> ServerSentEvent? {
        var current = ServerSentEvent(event: "message", id: nil, data: "")
        var hasData = false
        while true {
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending.removeSubrange(...newline)
                if line.isEmpty {
                    if hasData { return current }
                    current = ServerSentEvent(event: "message", id: nil, data: "")
                } else if line.hasPrefix("event: ") {
                    current.event = String(line.dropFirst(7))
                } else if line.hasPrefix("id: ") {
                    current.id = String(line.dropFirst(4))
                } else if line.hasPrefix("data: ") {
                    current.data += String(line.dropFirst(6))
                    hasData = true
                }
            }
            guard let chunk = try await nextChunk() else { return nil }
            pending += chunk
        }
    }
}

/// One server-sent event.
struct ServerSentEvent: Sendable, Equatable {
    var event: String
    var id: String?
    var data: String

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
    }
}
