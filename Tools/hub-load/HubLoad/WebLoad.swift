import ElectionModel
import Foundation
import Histogram
import HubWire
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// `hub-load web`: a hub and results-web as child processes, many browsers' worth of server-sent-event streams on
/// loopback, and the 2023 night replayed into the hub. Every stream must receive every change event, in order,
/// once, and end on the same state; the report gives results-web's memory with every client connected, its CPU per
/// delivered event, and how far apart the clients received each event.
public struct WebLoadRunner: Sendable {
    public var clients: Int
    public var speed: Double
    let election: Election
    let logger: Logger

    public init(clients: Int, speed: Double, election: Election, logger: Logger = Logger(label: "hub-load")) {
        self.clients = clients
        self.speed = speed
        self.election = election
        self.logger = logger
    }

    public func run() async throws -> WebLoadReport {
        let hub = try await HubProcess.start(executable: HubProcess.siblingExecutable(), election: election)
        let web: WebProcess
        do {
            web = try await WebProcess.start(
                executable: HubProcess.siblingExecutable().deletingLastPathComponent()
                    .appendingPathComponent("results-web"),
                hubPort: hub.port)
        } catch {
            await hub.stop()
            throw error
        }
        do {
            let report = try await run(hub: hub, web: web)
            await web.stop()
            await hub.stop()
            return report
        } catch {
            await web.stop()
            await hub.stop()
            throw error
        }
    }

    private func run(hub: HubProcess, web: WebProcess) async throws -> WebLoadReport {
        let group = MultiThreadedEventLoopGroup.singleton
        // results-web serves once it holds the hub's first snapshot.
        try await web.waitUntilServing()
        let idle = HubProcess.usage(pid: web.pid)
        var streams: [EventStream] = []
        for _ in 0..<clients {
            streams.append(try await EventStream.connect(to: web.port, group: group))
        }
        let connectedBy = ContinuousClock.now + .seconds(60)
        while streams.contains(where: { !$0.state.withLock { $0.resynced } }) {
            guard ContinuousClock.now < connectedBy else {
                throw LoadFailure("not every stream had its first state from results-web within 60 s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let connected = HubProcess.usage(pid: web.pid)

        let configuration = LoadConfiguration(
            mode: .night(speed: speed), filters: [.all], hub: LoopbackAddress(host: "127.0.0.1", port: hub.port),
            desk: "national", token: hub.tokens["national"])
        let night = try await LoadRunner(configuration: configuration, election: election, logger: logger).run()
        let last = UInt64(night.declarationsAccepted)

        let deliveredBy = ContinuousClock.now + .seconds(120)
        while streams.contains(where: { $0.state.withLock { $0.lastID < last && !$0.closed } }) {
            guard ContinuousClock.now < deliveredBy else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let end = HubProcess.usage(pid: web.pid)
        for stream in streams { stream.close() }

        var problems: [String] = night.problems
        if !night.verified { problems.append("the hub's own subscriber did not verify") }
        var spread = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
        var finalStates: Set<ByteBuffer> = []
        var deliveries = 0
        let states = streams.map { $0.state.withLock { $0 } }
        for (index, state) in states.enumerated() {
            deliveries += state.changes
            if state.lastID != last || state.changes != Int(last) || !state.inOrder {
                problems.append(
                    "stream \(index + 1): \(state.changes) change events, last id \(state.lastID), in order: \(state.inOrder); expected ids 1...\(last)"
                )
            }
            if state.resyncs != 1 { problems.append("stream \(index + 1): \(state.resyncs) resyncs, not 1") }
            if let data = state.lastChange { finalStates.insert(data) }
        }
        if finalStates.count > 1 { problems.append("the streams ended on \(finalStates.count) different states") }
        if last > 0 {
            for id in 1...Int(last) {
                let times = states.compactMap { $0.receivedAt.indices.contains(id) ? $0.receivedAt[id] : nil }
                    .filter { $0 > 0 }
                guard let first = times.min(), let latest = times.max() else { continue }
                spread.record((latest - first) / 1000)
            }
        }
        return WebLoadReport(
            clients: clients, speed: speed, events: Int(last), deliveries: deliveries,
            webIdle: idle, webConnected: connected, webEnd: end,
            fanOutSpreadMicros: LatencySummary(spread), cores: ProcessInfo.processInfo.activeProcessorCount,
            problems: problems)
    }
}

/// What `hub-load web` measured and found.
public struct WebLoadReport: Codable, Sendable {
    public var clients: Int
    public var speed: Double
    /// Change events in the night (the hub's sequence numbers).
    public var events: Int
    /// Change events received, summed over the streams.
    public var deliveries: Int
    /// results-web before any stream, with every stream connected (and its first state sent), and at the end.
    public var webIdle: HubUsage?
    public var webConnected: HubUsage?
    public var webEnd: HubUsage?
    /// For each event, the time between the first and the last stream receiving it.
    public var fanOutSpreadMicros: LatencySummary
    public var cores: Int
    public var problems: [String]

    public var verified: Bool { problems.isEmpty }

    public var summary: String {
        func megabytes(_ bytes: UInt64?) -> String { bytes.map { fixed(Double($0) / 1_048_576, 1) + " MiB" } ?? "?" }
        var lines = [
            "hub-load web: \(clients) server-sent-event streams, the 2023 night at \(fixed(speed, 0))x, \(cores) cores",
            "events        \(events) change events; \(deliveries) delivered in all (\(events) × \(clients) expected)",
            "results-web   resident \(megabytes(webIdle?.residentMemoryBytes)) before the streams, "
                + "\(megabytes(webConnected?.residentMemoryBytes)) with \(clients) connected, "
                + "peak \(megabytes(webEnd?.peakMemoryBytes))",
        ]
        if let start = webConnected?.cpuSeconds, let end = webEnd?.cpuSeconds, deliveries > 0 {
            lines.append(
                "cpu           \(fixed(end - start, 2)) s during the night: "
                    + "\(fixed((end - start) * 1e6 / Double(deliveries), 2)) µs per delivered event")
        }
        lines.append("fan-out       first to last stream per event: \(fanOutSpreadMicros.text)")
        lines.append(
            verified
                ? "verified      every stream received every change event once, in order, and ended on the same state"
                : "FAILED        " + problems.prefix(10).joined(separator: "\n              "))
        return lines.joined(separator: "\n")
    }
}

/// results-web as a child process, subscribed to a hub on loopback, serving HTTP on a free port.
public final class WebProcess: Sendable {
    public let port: Int
    public let pid: Int32
    private let process: Process

    public static func start(executable: URL, hubPort: Int) async throws -> WebProcess {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw LoadInputError("no results-web at \(executable.path); build it (swift build --product results-web)")
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = [
            "--hub", "127.0.0.1:\(hubPort)", "--port", "0", "--log-level", "warning", "--max-clients", "20000",
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        guard let port = try await HubProcess.firstMatch(in: output.fileHandleForReading, servingPort(inLine:)) else {
            process.waitUntilExit()
            throw LoadInputError("results-web exited (status \(process.terminationStatus)) before serving")
        }
        return WebProcess(process: process, port: port)
    }

    /// The port in "results-web: serving http://127.0.0.1:PORT/ …".
    public static func servingPort(inLine line: String) -> Int? {
        guard line.hasPrefix("results-web: serving http://") else { return nil }
        let address = line.dropFirst("results-web: serving http://".count).prefix { $0 != "/" && $0 != " " }
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return Int(address[address.index(after: colon)...])
    }

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
        self.pid = process.processIdentifier
    }

    /// Waits (up to 30 s) until `/v1/scoreboard` answers 200: results-web holds the hub's state.
    func waitUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if (try? await EventStream.status(of: "/v1/scoreboard", port: port)) == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LoadFailure("results-web did not serve the hub's results within 30 s")
    }

    public func stop() async {
        await HubProcess.stop(process)
    }
}

/// One client of `/v1/stream`, counting what arrives: the change events' ids (each must be the one after the
/// last), when each arrived, and the last change's JSON.
final class EventStream: Sendable {
    struct State: Sendable {
        var resynced = false
        var resyncs = 0
        var changes = 0
        var lastID: UInt64 = 0
        var inOrder = true
        /// Nanoseconds (monotonic) at which each change event id arrived.
        var receivedAt: [UInt64] = []
        var lastChange: ByteBuffer?
        var closed = false
    }

    let state = Mutex(State())
    private let channel = Mutex<(any Channel)?>(nil)

    static func connect(to port: Int, group: any EventLoopGroup) async throws -> EventStream {
        let stream = EventStream()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(EventStreamHandler { stream.record($0) })
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        stream.channel.withLock { $0 = channel }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/stream")
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        return stream
    }

    /// The status of a GET, for polling.
    static func status(of path: String, port: Int) async throws -> Int {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Int.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusHandler(promise: promise))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: "127.0.0.1:\(port)")
        head.headers.add(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        defer { channel.close(promise: nil) }
        return try await promise.futureResult.get()
    }

    func record(_ event: EventStreamHandler.Event) {
        let now = DispatchTime.now().uptimeNanoseconds
        state.withLock { state in
            switch event {
            case .resync:
                state.resynced = true
                state.resyncs += 1
            case .change(let id, let data):
                if id != state.lastID + 1 { state.inOrder = false }
                state.lastID = id
                state.changes += 1
                if state.receivedAt.count <= Int(id) {
                    state.receivedAt.append(contentsOf: repeatElement(0, count: Int(id) + 1 - state.receivedAt.count))
                }
                state.receivedAt[Int(id)] = now
                state.lastChange = data
            case .closed:
                state.closed = true
            }
        }
    }

    func close() {
        channel.withLock { $0 }?.close(promise: nil)
    }
}

/// Parses a server-sent event stream from HTTP body parts, enough for the load: each event's type, id and data.
final class EventStreamHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart

    enum Event: Sendable {
        case resync
        case change(id: UInt64, data: ByteBuffer)
        case closed
    }

    private struct Parse {
        var pending = ByteBuffer()
        var kind = ""
        var id: UInt64 = 0
        var data: ByteBuffer?
    }

    private let parse = Mutex(Parse())
    private let deliver: @Sendable (Event) -> Void

    init(deliver: @escaping @Sendable (Event) -> Void) {
        self.deliver = deliver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .body(var body) = unwrapInboundIn(data) else { return }
        var events: [Event] = []
        parse.withLock { parse in
            parse.pending.writeBuffer(&body)
            while let newline = parse.pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
                let length = newline - parse.pending.readerIndex
                let line = parse.pending.readSlice(length: length)!
                parse.pending.moveReaderIndex(forwardBy: 1)
                if line.readableBytes == 0 {
                    switch parse.kind {
                    case "resync": events.append(.resync)
                    case "change": events.append(.change(id: parse.id, data: parse.data ?? ByteBuffer()))
                    default: break
                    }
                    parse.kind = ""
                    parse.data = nil
                } else if line.readableBytesView.starts(with: "event: ".utf8) {
                    parse.kind = line.getString(at: line.readerIndex + 7, length: line.readableBytes - 7) ?? ""
                } else if line.readableBytesView.starts(with: "id: ".utf8) {
                    parse.id =
                        UInt64(line.getString(at: line.readerIndex + 4, length: line.readableBytes - 4) ?? "") ?? 0
                } else if line.readableBytesView.starts(with: "data: ".utf8) {
                    parse.data = line.getSlice(at: line.readerIndex + 6, length: line.readableBytes - 6)
                }
            }
            parse.pending.discardReadBytes()
        }
        for event in events { deliver(event) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deliver(.closed)
        context.fireChannelInactive()
    }
}

/// The status of one HTTP answer.
final class StatusHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let promise: EventLoopPromise<Int>
    /// A promise is completed once: the head, or the connection's end without one.
    private let answered = Mutex(false)

    init(promise: EventLoopPromise<Int>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data), !answered.withLock({ $0 }) else { return }
        answered.withLock { $0 = true }
        promise.succeed(Int(head.status.code))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !answered.withLock({ $0 }) {
            answered.withLock { $0 = true }
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }
}
