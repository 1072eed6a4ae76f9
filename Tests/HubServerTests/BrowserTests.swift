import ElectionModel
import Foundation
import HubClient
import HubWire
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Testing

/// The live page in a real headless Chromium (Debian's `chromium`, which `Tools/setup.sh` installs), driven over the
/// DevTools protocol: the page loads, a declaration submitted to the hub appears in its DOM within 2 s, and a
/// screenshot is saved. Fails, never skips, when Chromium is missing or cannot start.
@Suite("results-web in a browser", .serialized)
struct BrowserTests {
    @Test func aDeclarationAppearsOnTheOpenPageWithinTwoSeconds() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let web = try await TestWeb.start(hubPort: hub.port)
        let browser = try await HeadlessChromium.start()
        defer { browser.stop() }
        try await withTimeout(120) {
            try await web.waitForSequence(0)
            try await browser.withPage { page in
                try await page.navigate("http://127.0.0.1:\(web.port)/")
                // Loaded, and the first state (sequence 0) applied from the stream.
                try await page.waitUntil("document.body.dataset.sequence === '0'", seconds: 20)
                #expect(try await page.evaluate("document.querySelector('#feed-status').textContent") as? String != nil)

                try await ResultsWebTests.submit([Declarations.real("swindon")], to: hub)
                let submitted = ContinuousClock.now
                try await page.waitUntil(
                    "document.querySelector('#ticker').textContent.includes('Labour gain Swindon from Conservative')",
                    seconds: 5)
                let shownAfter = ContinuousClock.now - submitted
                #expect(shownAfter < .seconds(2), "the page showed the declaration \(shownAfter) after its ack")
                let declared = try await page.evaluate("document.querySelector('#declared-count').textContent")
                #expect((declared as? String)?.contains("1 of \(TestHub.election.contests.count)") == true)
                let hex = try await page.evaluate(
                    "document.querySelector('#hexmap [data-gss=\"\(Declarations.contest("swindon").gssCode!)\"]')"
                        + ".getAttribute('data-control')")
                #expect(hex as? String == "LAB")
                let row = try await page.evaluate(
                    "document.querySelector('#council-table [data-slug=\"swindon\"]').textContent")
                #expect((row as? String)?.contains("LAB") == true)

                // A night's worth, so that the screenshot shows a filled page.
                let councils = Declarations.councils.filter { $0 != "swindon" }.prefix(150)
                try await ResultsWebTests.submit(councils.map { Declarations.real($0) }, to: hub)
                try await page.waitUntil(
                    "document.body.dataset.sequence === '\(councils.count + 1)'", seconds: 20)
                let png = try await page.screenshot()
                let path =
                    ProcessInfo.processInfo.environment["RESULTS_WEB_SCREENSHOT"]
                    ?? FileManager.default.temporaryDirectory.appendingPathComponent("results-web.png").path
                try png.write(to: URL(fileURLWithPath: path))
                #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
                #expect(png.count > 20_000)
            }
        }
        try await web.stop()
        try await hub.stop()
    }
}

/// Chromium started headless with the DevTools protocol on a loopback port, in a profile of its own.
final class HeadlessChromium: Sendable {
    let port: Int
    private let process: Process
    private let errors: CollectedText
    private let profile: String

    static func start() async throws -> HeadlessChromium {
        guard
            let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            throw TestFailure("Chromium is not installed: run Tools/setup.sh (Debian's chromium package)")
        }
        let profile = FileManager.default.temporaryDirectory
            .appendingPathComponent("results-web-chromium-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: profile, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // No sandbox: an unprivileged user in a container cannot make Chromium's namespaces; the page is our own.
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--remote-allow-origins=*",
            "--user-data-dir=\(profile)",
            "--window-size=1280,2000", "about:blank",
        ]
        let errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        let errors = CollectedText()
        errors.collect(from: errorPipe)
        try process.run()
        // Chromium writes the port it chose into the profile.
        let portFile = profile + "/DevToolsActivePort"
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
                let line = text.split(separator: "\n").first, let port = Int(line)
            {
                return HeadlessChromium(port: port, process: process, errors: errors, profile: profile)
            }
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.terminate()
                throw TestFailure("Chromium did not start within 30 s: \(errors.text)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private init(port: Int, process: Process, errors: CollectedText, profile: String) {
        self.port = port
        self.process = process
        self.errors = errors
        self.profile = profile
    }

    /// Runs `body` with the first page target over its DevTools WebSocket.
    func withPage(_ body: @escaping @Sendable (DevToolsPage) async throws -> Void) async throws {
        let list = try await HTTPTestClient.get(port: port, "/json/list")
        let targets = try JSONSerialization.jsonObject(with: Data(list.body.utf8)) as? [[String: Any]] ?? []
        guard let url = targets.first(where: { $0["type"] as? String == "page" })?["webSocketDebuggerUrl"] as? String
        else { throw TestFailure("Chromium has no page target: \(list.body)") }
        try await WebSocketClient.connect(
            url: url, configuration: .init(maxFrameSize: 64 << 20), logger: Logger(label: "devtools")
        ) { inbound, outbound, _ in
            let page = DevToolsPage(
                outbound: outbound, inbound: inbound.messages(maxSize: 64 << 20).makeAsyncIterator())
            try await body(page)
            try await outbound.close(.normalClosure, reason: nil)
        }
    }

    func stop() {
        process.terminate()
        try? FileManager.default.removeItem(atPath: profile)
    }
}

/// One page over the DevTools protocol: a command is a JSON message with an id, answered by a message with the same
/// id (events in between are skipped).
final class DevToolsPage: @unchecked Sendable {
    // Used by one task at a time: the test's.
    private let outbound: WebSocketOutboundWriter
    private var inbound: WebSocketInboundMessageStream.AsyncIterator
    private var nextID = 0

    init(outbound: WebSocketOutboundWriter, inbound: WebSocketInboundMessageStream.AsyncIterator) {
        self.outbound = outbound
        self.inbound = inbound
    }

    func send(_ method: String, _ parameters: [String: Any] = [:]) async throws -> [String: Any] {
        nextID += 1
        let id = nextID
        let message = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": parameters])
        try await outbound.write(.text(String(decoding: message, as: UTF8.self)))
        while let answer = try await inbound.next() {
            guard case .text(let text) = answer,
                let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                object["id"] as? Int == id
            else { continue }
            if let error = object["error"] { throw TestFailure("DevTools \(method) failed: \(error)") }
            return object["result"] as? [String: Any] ?? [:]
        }
        throw TestFailure("the DevTools connection closed during \(method)")
    }

    func navigate(_ url: String) async throws {
        _ = try await send("Page.navigate", ["url": url])
    }

    /// The value of a JavaScript expression in the page.
    func evaluate(_ expression: String) async throws -> Any? {
        let result = try await send("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] { throw TestFailure("\(expression) threw: \(exception)") }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls `condition` (a JavaScript expression) every 20 ms until it is true.
    func waitUntil(_ condition: String, seconds: Double) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if (try? await evaluate("Boolean(\(condition))")) as? Bool == true { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let status = try? await evaluate("document.querySelector('#feed-status')?.textContent")
        throw TestFailure(
            "the page did not reach \(condition) within \(seconds) s (feed status: \(String(describing: status)))")
    }

    func screenshot() async throws -> Data {
        let result = try await send("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw TestFailure("no screenshot")
        }
        return png
    }
}
