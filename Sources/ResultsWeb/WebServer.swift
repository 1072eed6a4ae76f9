import ElectionModel
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import ServiceLifecycle
import WebFeed

/// results-web's HTTP side: the live page and its files, the JSON API (with ETags, so that pollers get 304), the
/// change stream as server-sent events (`/v1/stream`, resumed with `Last-Event-ID`) and as WebSocket messages
/// (`/v1/ws`). Every client's events come from the `LiveFeed`, encoded once and shared.
public struct WebServer: Service {
    public let host: String
    public let port: Int
    /// A fixed kernel send buffer per connection (SO_SNDBUF), so that a browser that stops reading holds at most
    /// this much in the kernel (Linux autotunes up to 4 MiB otherwise); nil leaves autotuning.
    public let socketSendBufferBytes: Int?
    private let feed: LiveFeed
    private let files: StaticFiles
    private let logger: Logger
    private let onServerRunning: @Sendable (SocketAddress) async -> Void

    /// Fails when the page's files are missing from the bundle.
    public init(
        host: String, port: Int, feed: LiveFeed, socketSendBufferBytes: Int? = 256 << 10, logger: Logger,
        onServerRunning: @escaping @Sendable (SocketAddress) async -> Void = { _ in }
    ) throws {
        self.host = host
        self.port = port
        self.socketSendBufferBytes = socketSendBufferBytes
        self.feed = feed
        self.files = try StaticFiles.load()
        self.logger = logger
        self.onServerRunning = onServerRunning
    }

    public func run() async throws {
        let onServerRunning = self.onServerRunning
        let feed = self.feed
        let sendBuffer = socketSendBufferBytes
        let application = Application(
            router: makeRouter(),
            server: .http1WebSocketUpgrade(
                webSocketRouter: makeWebSocketRouter(),
                configuration: .init(
                    http1: .init(additionalChannelHandlers: [ClientConnectionPolicy(sendBufferBytes: sendBuffer)]))),
            configuration: .init(address: .hostname(host, port: port), serverName: "results-web"),
            onServerRunning: { channel in
                if let address = channel.localAddress { await onServerRunning(address) }
            },
            logger: logger)
        // Streams never end by themselves: on shutdown they are ended, so that their connections close and the
        // server can stop; a second later, connections still open (a client that does not read) are cut.
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            let cut = feed.close()
            Task {
                try? await Task.sleep(for: .seconds(1))
                cut()
            }
        }
    }

    func makeRouter() -> Router<WebRequestContext> {
        let router = Router(context: WebRequestContext.self)
        router.middlewares.add(WebAnswers())
        let feed = self.feed
        let files = self.files
        router.read("/") { request, _ in
            Self.file("index.html", in: files, request: request)
        }
        router.read("/static/{name}") { request, context in
            Self.file(context.parameters.get("name") ?? "", in: files, request: request)
        }
        router.read("/openapi.yaml") { request, _ in
            Self.file("openapi.yaml", in: files, request: request)
        }
        router.read("/v1/election") { request, _ in
            Self.json(request, feed.read { ($0.electionBody(), $0.etag) })
        }
        router.read("/v1/scoreboard") { request, _ in
            Self.json(request, feed.read { ($0.scoreboardBody(), $0.etag) })
        }
        router.read("/v1/contests") { request, _ in
            let query = request.uri.queryParameters
            let declared: Bool?
            switch query.get("declared") {
            case nil: declared = nil
            case "true": declared = true
            case "false": declared = false
            case let other?:
                return Self.problem(.badRequest, "declared=\(other): use declared=true or declared=false")
            }
            let regionID = query.get("region")
            let answer = feed.read { results -> Result<(ByteBuffer, String), WebAPIError> in
                var region: RegionIndex?
                if let regionID {
                    guard let index = results.election.region(id: regionID) else {
                        let known = results.election.regions.map(\.id).joined(separator: ", ")
                        return .failure(
                            WebAPIError(status: .badRequest, message: "no region \(regionID); regions: \(known)"))
                    }
                    region = index
                }
                return .success((results.contestsBody(region: region, declared: declared), results.etag))
            }
            switch answer {
            case nil: return Self.json(request, nil)
            case .failure(let error)?: return Self.problem(error.status, error.message)
            case .success(let body)?: return Self.json(request, body)
            }
        }
        router.read("/v1/contests/{slug}") { request, context in
            // Slugs are lower case; any case finds them, as in `reporter`.
            let slug = (context.parameters.get("slug") ?? "").lowercased()
            let answer = feed.read { results -> Result<(ByteBuffer, String), WebAPIError> in
                guard let body = results.contestBody(slug: slug) else {
                    let close = results.election.slugs(closeTo: slug)
                    let hint = close.isEmpty ? "" : "; did you mean \(close.joined(separator: ", "))?"
                    return .failure(WebAPIError(status: .notFound, message: "no contest \(slug)\(hint)"))
                }
                return .success((body, results.etag))
            }
            switch answer {
            case nil: return Self.json(request, nil)
            case .failure(let error)?: return Self.problem(error.status, error.message)
            case .success(let body)?: return Self.json(request, body)
            }
        }
        router.get("/v1/stream") { request, context in
            let lastEventID = (request.headers[.lastEventID] ?? request.uri.queryParameters.get("lastEventId"))
                .flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            let events: Subscription
            let channel = context.channel
            do {
                events = try feed.subscribe(lastEventID: lastEventID) { channel.close(promise: nil) }
            } catch {
                var answer = Self.problem(.serviceUnavailable, "\(error)")
                answer.headers[.retryAfter] = "5"
                return answer
            }
            // A browser that goes away is forgotten at once, not at the next event this stream would write.
            channel.closeFuture.whenComplete { _ in feed.end(events) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache",
                    // nginx and similar proxies otherwise hold the events back to fill their buffers.
                    .xAccelBuffering: "no",
                ],
                body: ResponseBody { writer in
                    // Tells EventSource to wait 1 s before reconnecting (its default is up to 3 s).
                    try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                    for await event in events { try await writer.write(event.serverSentEvent) }
                    try await writer.finish(nil)
                })
        }
        return router
    }

    func makeWebSocketRouter() -> Router<WebRequestContext> {
        let router = Router(context: WebRequestContext.self)
        let feed = self.feed
        router.ws("/v1/ws") { request, _ in
            guard feed.statistics.clients < feed.limits.maxClients else {
                throw HTTPError(
                    .serviceUnavailable, headers: [.retryAfter: "5"],
                    message: "\(LiveFeedError.tooManyClients(limit: feed.limits.maxClients))")
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            let lastEventID = context.request.uri.queryParameters.get("lastEventId")
                .flatMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
            let channel = context.requestContext.channel
            let events = try feed.subscribe(lastEventID: lastEventID) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in feed.end(events) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The client sends nothing we need, but its close (and the library's ping answers) must be read.
                group.addTask {
                    for try await _ in inbound {}
                }
                group.addTask {
                    for await event in events {
                        try await outbound.write(
                            .custom(WebSocketFrame(fin: true, opcode: .text, data: event.webSocketMessage)))
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
        return router
    }

    // MARK: Answers

    /// A JSON body with its ETag, or 304 when the client has it, or 503 before the hub's first snapshot.
    static func json(_ request: Request, _ answer: (body: ByteBuffer, etag: String)?) -> Response {
        guard let answer else {
            return problem(.serviceUnavailable, "no results from the hub yet: results-web is connecting to it")
        }
        let etag = "\"\(answer.etag)\""
        if let asked = request.headers[.ifNoneMatch], HTTPCaching.matches(ifNoneMatch: asked, etag: etag) {
            return Response(status: .notModified, headers: [.eTag: etag, .cacheControl: "no-cache"])
        }
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .eTag: etag, .cacheControl: "no-cache"],
            body: .init(byteBuffer: answer.body))
    }

    static func problem(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var body = ByteBuffer()
        body.writeString("{\"error\":")
        body.writeBytes((try? JSONEncoder().encode(message)) ?? Data("\"error\"".utf8))
        body.writeString(",\"status\":\(status.code)}")
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: body))
    }

    static func file(_ name: String, in files: StaticFiles, request: Request) -> Response {
        guard let file = files.files[name] else { return problem(.notFound, "no file \(name)") }
        return Response(
            status: .ok, headers: [.contentType: file.contentType, .cacheControl: "no-cache"],
            body: .init(byteBuffer: file.body))
    }
}

/// What results-web asks of every browser connection, which Hummingbird has no options for:
/// - a fixed kernel send buffer, set when the connection's pipeline is made;
/// - a browser that closes its side is gone: the connection is closed, so that its stream ends now rather than at
///   the next event (Hummingbird allows half-closed connections, and an event stream never finishes its answer).
///   nginx treats a client's close the same way by default.
final class ClientConnectionPolicy: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny
    let sendBufferBytes: Int?

    init(sendBufferBytes: Int?) {
        self.sendBufferBytes = sendBufferBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let sendBufferBytes else { return }
        context.channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: sendBufferBytes).whenFailure { _ in
            // Only a bound on kernel memory: the connection works without it.
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

extension Router {
    /// A GET route that answers HEAD too (RFC 9110 9.3.2: the same head; `WebAnswers` drops the body).
    @discardableResult
    func read(
        _ path: RouterPath, use handler: @escaping @Sendable (Request, Context) async throws -> Response
    ) -> Self {
        on(path, method: .get, use: handler)
        on(path, method: .head, use: handler)
        return self
    }
}

/// Hummingbird's request context, with the connection: a client dropped as too slow is disconnected through it.
struct WebRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        channel = source.channel
    }
}

struct WebAPIError: Error {
    var status: HTTPResponse.Status
    var message: String
}

/// `If-None-Match` against one ETag (RFC 9110 13.1.2): a list of tags, weak or strong, or `*`.
enum HTTPCaching {
    static func matches(ifNoneMatch: String, etag: String) -> Bool {
        for candidate in ifNoneMatch.split(separator: ",") {
            var tag = candidate.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag == etag { return true }
        }
        return false
    }
}

/// What every answer gets, whatever route made it (or none did):
/// - HEAD is GET without the body (RFC 9110 9.3.2); an event stream is not opened for it;
/// - a method other than GET or HEAD is 405 with `Allow`, an unknown path 404, and every error the same JSON shape
///   as the API's own;
/// - no MIME sniffing, and only the page's own files may run or load.
struct WebAnswers: RouterMiddleware {
    typealias Context = WebRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        switch request.method {
        case .get:
            response = await answer(request, context: context, next: next)
        case .head where request.uri.path == "/v1/stream":
            response = Response(
                status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"])
        case .head:
            response = await answer(request, context: context, next: next)
            response.body = ResponseBody()
        default:
            response = WebServer.problem(.methodNotAllowed, "\(request.method) \(request.uri.path): only GET and HEAD")
            response.headers[.allow] = "GET, HEAD"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] =
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'"
        return response
    }

    private func answer(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return WebServer.problem(.notFound, "no such page: \(request.uri.path)")
        } catch let error as HTTPError {
            return WebServer.problem(error.status, error.body ?? "\(error.status)")
        } catch {
            return WebServer.problem(.internalServerError, "\(error)")
        }
    }
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}

extension LiveResults {
    /// The ETag of every body made from this state: the same election, sequence, state checksum and marking are the
    /// same results (the checksum tells apart two hubs, or a replaced journal, at the same sequence).
    var etag: String {
        "\(election.id)-\(sequence)-\(String(checksum, radix: 16))\(rehearsal ? "-rehearsal" : "")"
    }
}
