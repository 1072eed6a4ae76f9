import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import HummingbirdWSClient
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
import WebFeed

/// results-web over real HTTP on loopback, fed by a real hub: the JSON API with ETags, server-sent events resumed
/// with Last-Event-ID, WebSocket, and a browser that stops reading.
@Suite("results-web over HTTP", .serialized)
struct ResultsWebTests {
    static func submit(_ declarations: [Declaration], to hub: TestHub) async throws {
        try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
            for answer in try await desk.submitPipelined(declarations) {
                guard case .ack = answer else { throw TestFailure("expected an ack, got \(answer)") }
            }
        }
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func theJSONAPIServesTheHubsResultsWithETagsAndPreciseErrors() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let web = try await TestWeb.start(hubPort: hub.port)
        try await withTimeout(60) {
            try await web.waitForSequence(0)
            let before = try await HTTPTestClient.get(port: web.port, "/v1/scoreboard")
            #expect(before.status == 200)
            #expect(before.headers.first(name: "Content-Type") == "application/json; charset=utf-8")
            let firstTag = try #require(before.headers.first(name: "ETag"))
            #expect(try Self.json(before.body)["contestsDeclared"] as? Int == 0)

            try await Self.submit([Declarations.real("swindon")], to: hub)
            try await web.waitForSequence(1)

            let contest = try await HTTPTestClient.get(port: web.port, "/v1/contests/swindon")
            #expect(contest.status == 200)
            let body = try Self.json(contest.body)
            #expect(body["sequence"] as? Int == 1)
            let swindon = try #require(body["contest"] as? [String: Any])
            #expect(swindon["status"] as? String == "declared")
            #expect(swindon["headline"] as? String == "Labour gain Swindon from Conservative")
            #expect(swindon["gss"] as? String == Declarations.contest("swindon").gssCode)

            // A poller that has the current state gets 304; one with the state before gets the new body.
            let stale = try await HTTPTestClient.get(
                port: web.port, "/v1/scoreboard", headers: [("If-None-Match", firstTag)])
            #expect(stale.status == 200)
            let currentTag = try #require(stale.headers.first(name: "ETag"))
            #expect(currentTag != firstTag)
            #expect(try Self.json(stale.body)["contestsDeclared"] as? Int == 1)
            let fresh = try await HTTPTestClient.get(
                port: web.port, "/v1/scoreboard", headers: [("If-None-Match", currentTag)])
            #expect(fresh.status == 304)
            #expect(fresh.body.isEmpty)

            let filtered = try await HTTPTestClient.get(port: web.port, "/v1/contests?region=south-west&declared=true")
            let slugs = (try Self.json(filtered.body)["contests"] as? [[String: Any]])?.compactMap {
                $0["slug"] as? String
            }
            #expect(slugs == ["swindon"])
            let awaiting = try await HTTPTestClient.get(port: web.port, "/v1/contests?declared=false")
            #expect((try Self.json(awaiting.body)["contests"] as? [Any])?.count == TestHub.election.contests.count - 1)

            let badRegion = try await HTTPTestClient.get(port: web.port, "/v1/contests?region=wessex")
            #expect(badRegion.status == 400)
            #expect((try Self.json(badRegion.body)["error"] as? String)?.contains("no region wessex") == true)
            let badFlag = try await HTTPTestClient.get(port: web.port, "/v1/contests?declared=maybe")
            #expect(badFlag.status == 400)
            let typo = try await HTTPTestClient.get(port: web.port, "/v1/contests/swindn")
            #expect(typo.status == 404)
            #expect((try Self.json(typo.body)["error"] as? String)?.contains("did you mean swindon") == true)

            // The page and its files come from the binary.
            let page = try await HTTPTestClient.get(port: web.port, "/")
            #expect(page.status == 200)
            #expect(page.headers.first(name: "Content-Type") == "text/html; charset=utf-8")
            #expect(page.headers.first(name: "Content-Security-Policy")?.contains("default-src 'self'") == true)
            #expect(page.body.contains("/static/app.js"))
            for (path, type) in [
                ("/static/app.js", "text/javascript; charset=utf-8"),
                ("/static/style.css", "text/css; charset=utf-8"),
                ("/static/uk-local-authority-districts-2023.hexjson", "application/json; charset=utf-8"),
                ("/static/uk-local-authority-districts-2023.hexjson.LICENSE", "text/plain; charset=utf-8"),
                ("/openapi.yaml", "application/yaml; charset=utf-8"),
            ] {
                let file = try await HTTPTestClient.get(port: web.port, path)
                #expect(file.status == 200, "\(path)")
                #expect(file.headers.first(name: "Content-Type") == type, "\(path)")
                #expect(!file.body.isEmpty, "\(path)")
            }
            #expect(try await HTTPTestClient.get(port: web.port, "/static/../Package.swift").status == 404)
            // Every other answer has the API's JSON error shape and the same headers.
            let unknown = try await HTTPTestClient.get(port: web.port, "/nowhere")
            #expect(unknown.status == 404)
            #expect((try Self.json(unknown.body)["error"] as? String)?.contains("/nowhere") == true)
            #expect(unknown.headers.first(name: "X-Content-Type-Options") == "nosniff")
            let post = try await HTTPTestClient.request(port: web.port, method: .POST, "/v1/scoreboard")
            #expect(post.status == 405)
            #expect(post.headers.first(name: "Allow") == "GET, HEAD")
            let head = try await HTTPTestClient.request(port: web.port, method: .HEAD, "/v1/scoreboard")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(head.headers.first(name: "ETag") == currentTag)
            let any = try await HTTPTestClient.get(port: web.port, "/v1/contests/SWINDON")
            #expect(any.status == 200, "slugs in any case")
        }
        try await web.stop()
        try await hub.stop()
    }

    @Test func serverSentEventsResumeFromLastEventIDWithNoGapAndNoDuplicate() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let web = try await TestWeb.start(hubPort: hub.port)
        let councils = Array(Declarations.councils.prefix(5))
        try await withTimeout(60) {
            try await web.waitForSequence(0)
            let firstIDs = try await HTTPTestClient.stream(port: web.port, "/v1/stream") { head, body in
                #expect(head.status == .ok)
                #expect(head.headers.first(name: "Content-Type") == "text/event-stream; charset=utf-8")
                let feed = try #require(try await body.nextEvent())
                #expect(feed.event == "feed")
                #expect(feed.json["state"] as? String == "live")
                let resync = try #require(try await body.nextEvent())
                #expect(resync.event == "resync")
                #expect(resync.id == "0")
                #expect((resync.json["contests"] as? [Any])?.count == TestHub.election.contests.count)
                try await Self.submit(councils.prefix(3).map { Declarations.real($0) }, to: hub)
                var ids: [String] = []
                while ids.count < 3 {
                    let event = try #require(try await body.nextEvent())
                    guard event.event == "change" else { continue }
                    ids.append(event.id ?? "")
                    let contest = event.json["contest"] as? [String: Any]
                    #expect(contest?["slug"] as? String == councils[ids.count - 1])
                }
                return ids
            }
            #expect(firstIDs == ["1", "2", "3"])

            // Two more while the client is away; it comes back with the last id it saw.
            try await Self.submit(councils.suffix(2).map { Declarations.real($0) }, to: hub)
            try await web.waitForSequence(5)
            let resumed = try await HTTPTestClient.stream(
                port: web.port, "/v1/stream", headers: [("Last-Event-ID", "3")]
            ) { _, body in
                var received: [ServerSentEvent] = []
                while received.count < 3 { received.append(try #require(try await body.nextEvent())) }
                return received
            }
            #expect(resumed.map(\.event) == ["feed", "change", "change"])
            #expect(resumed.map(\.id) == [nil, "4", "5"])
            #expect((resumed[2].json["contest"] as? [String: Any])?["slug"] as? String == councils[4])

            // An id this results-web never gave (another process's, or lost history): the whole state instead.
            let unknown = try await HTTPTestClient.stream(
                port: web.port, "/v1/stream", headers: [("Last-Event-ID", "999")]
            ) { _, body in
                _ = try await body.nextEvent()
                return try #require(try await body.nextEvent())
            }
            #expect(unknown.event == "resync")
            #expect(unknown.id == "5")
            #expect((unknown.json["scoreboard"] as? [String: Any])?["contestsDeclared"] as? Int == 5)
        }
        try await web.stop()
        try await hub.stop()
    }

    @Test func theWebSocketCarriesTheSameEventsAsTheStream() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let web = try await TestWeb.start(hubPort: hub.port)
        try await withTimeout(60) {
            try await web.waitForSequence(0)
            let logger = Logger(label: "ws-test")
            let (messages, continuation) = AsyncStream.makeStream(of: String.self)
            let client = Task {
                try await WebSocketClient.connect(
                    url: "ws://127.0.0.1:\(web.port)/v1/ws", configuration: .init(maxFrameSize: 1 << 22),
                    logger: logger
                ) { inbound, _, _ in
                    for try await message in inbound.messages(maxSize: 1 << 22) {
                        if case .text(let text) = message { continuation.yield(text) }
                    }
                }
            }
            var iterator = messages.makeAsyncIterator()
            let first = try Self.json(try #require(await iterator.next()))
            #expect(first["event"] as? String == "feed")
            let second = try Self.json(try #require(await iterator.next()))
            #expect(second["event"] as? String == "resync")
            try await Self.submit([Declarations.real("swindon")], to: hub)
            var change: [String: Any] = [:]
            while change["event"] as? String != "change" {
                change = try Self.json(try #require(await iterator.next()))
            }
            let data = try #require(change["data"] as? [String: Any])
            #expect(data["sequence"] as? Int == 1)
            #expect((data["contest"] as? [String: Any])?["slug"] as? String == "swindon")
            // Byte for byte what the SSE stream sends for the same event.
            let sse = try await HTTPTestClient.stream(port: web.port, "/v1/stream", headers: [("Last-Event-ID", "0")]) {
                _, body in
                _ = try await body.nextEvent()
                return try #require(try await body.nextEvent())
            }
            let message = try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys])
            let streamed = try JSONSerialization.data(withJSONObject: sse.json, options: [.sortedKeys])
            #expect(message == streamed)
            client.cancel()
        }
        try await web.stop()
        try await hub.stop()
    }

    @Test func aBrowserThatStopsReadingIsDroppedAndTheOthersGetEveryEvent() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        // A queue of 256 events: deeper than the bursts of 50 below, so that the reader keeps up, far shallower than
        // the 400 events, so that the stalled client fills it (after the kernel's 32 KiB and NIO's 64 KiB).
        let web = try await TestWeb.start(hubPort: hub.port, limits: .init(eventsPerClient: 256))
        try await withTimeout(120) {
            try await web.waitForSequence(0)
            // A client that asks for the stream and never reads: a small receive buffer, so that the kernel does not
            // hold the whole night for it.
            let stalled = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_rcvbuf), value: 2048)
                .channelOption(.autoRead, value: false)
                .connect(host: "127.0.0.1", port: web.port).get()
            try await stalled.writeAndFlush(
                ByteBuffer(string: "GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            ).get()
            let revisions = 400
            // A reader that behaves as EventSource does: when its stream ends (this test's reader may fall behind
            // too, in a burst), it comes back with the last id it saw.
            let reader = Task {
                var ids: [UInt64] = []
                var connections = 0
                while ids.count < revisions && connections < 50 && !Task.isCancelled {
                    connections += 1
                    let last = ids.last.map { [("Last-Event-ID", String($0))] } ?? []
                    do {
                        try await HTTPTestClient.stream(port: web.port, "/v1/stream", headers: last) { _, body in
                            while ids.count < revisions, let event = try await body.nextEvent() {
                                if event.event == "change" { ids.append(UInt64(event.id ?? "") ?? 0) }
                            }
                        }
                    } catch {
                        // Cut off mid-stream (dropped as too slow): reconnect, as EventSource does.
                    }
                }
                return ids
            }
            try await Task.sleep(for: .milliseconds(300))
            // Corrections of one council, each a change event with the scoreboard: far more than the buffers hold.
            let slug = Declarations.councils[0]
            for start in stride(from: 1, through: revisions, by: 50) {
                try await Self.submit(
                    (start..<start + 50).map {
                        Declarations.allTo(slug, party: $0 % 2 == 0 ? "LAB" : "CON", revision: UInt32($0))
                    },
                    to: hub)
            }
            // The timeout cancels this task; the reader with it.
            let ids = await withTaskCancellationHandler {
                await reader.value
            } onCancel: {
                reader.cancel()
            }
            #expect(ids == Array(1...UInt64(revisions)), "every event once, in order, across reconnections")
            // The stalled client is gone from results-web; the hub never saw it.
            let deadline = ContinuousClock.now + .seconds(10)
            while web.feed.statistics.clients > 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(web.feed.statistics.droppedSlowClients >= 1)
            #expect(web.feed.statistics.clients == 0)
            #expect(try await hub.server.statistics().subscribers == 1, "results-web's own subscription only")
            try await stalled.close()
        }
        try await web.stop()
        try await hub.stop()
    }
}
