import Foundation
import Histogram
import NIOCore
import NIOPosix
import Synchronization

/// Splits what a Redis server sends into replies, passed on as every whole reply of a read at once: one hop to the
/// async reader per read, not per reply, or the hops cost more than the server's work for each message.
final class RESPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = [RESP.Value]

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var replies: [RESP.Value] = []
        while let value = try RESP.readValue(from: &buffer) { replies.append(value) }
        guard !replies.isEmpty else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(replies))
        return .continue
    }
}

/// A connection to the redis-server this tool started, as an async channel of replies.
enum RedisConnection {
    typealias AsyncRedisChannel = NIOAsyncChannel<[RESP.Value], ByteBuffer>

    static func connect(port: Int, group: any EventLoopGroup) async throws -> AsyncRedisChannel {
        try await ClientBootstrap(group: group)
            // Commands go out as they are written, like the hub's clients; Nagle would add delay to each.
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    return try AsyncRedisChannel(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Whether a server answers PING on the port within `timeout`.
    static func ping(port: Int, group: any EventLoopGroup, timeout: Duration) async throws -> Bool {
        let channel = try await connect(port: port, group: group)
        let closeWhenLate = channel.channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            channel.channel.close(promise: nil)
        }
        defer { closeWhenLate.cancel() }
        return try await channel.executeThenClose { inbound, outbound in
            var buffer = ByteBuffer()
            RESP.writeCommand(["PING"], into: &buffer)
            try await outbound.write(buffer)
            for try await replies in inbound { return replies.first == .simple("PONG") }
            return false
        }
    }

    /// Asks the server to exit without saving. It closes the connection instead of answering.
    static func shutdown(port: Int, group: any EventLoopGroup) async throws {
        let channel = try await connect(port: port, group: group)
        try await channel.executeThenClose { inbound, outbound in
            var buffer = ByteBuffer()
            RESP.writeCommand(["SHUTDOWN", "NOSAVE"], into: &buffer)
            try await outbound.write(buffer)
            for try await _ in inbound {}
        }
    }
}

/// The load shape every system of `hub-load compare` gets: one publisher, `subscribers` subscribers, at most
/// `window` messages published ahead of the slowest subscriber; saturated for `duration`, or paced at `rate`.
public struct CompareWorkload: Codable, Hashable, Sendable {
    public var subscribers: Int
    public var window: Int
    public var durationSeconds: Double
    /// Messages per second; nil: as fast as the window allows.
    public var rate: Double?
    /// A bound on the messages of one run, whatever the duration.
    public var maximumMessages: Int

    public init(subscribers: Int, window: Int, durationSeconds: Double, rate: Double?, maximumMessages: Int) {
        self.subscribers = subscribers
        self.window = window
        self.durationSeconds = durationSeconds
        self.rate = rate
        self.maximumMessages = maximumMessages
    }
}

/// What one system did under the workload, and what its server process cost.
public struct SystemFigures: Codable, Sendable {
    public var system: String
    public var published: Int
    public var deliveries: Int
    /// published × subscribers: what a lossless system delivers.
    public var expectedDeliveries: Int
    public var publishesPerSecond: Double
    public var deliveriesPerSecond: Double
    public var latencyMicros: LatencySummary
    /// From sending a message (or declaration) to the server's answer to it: for the hub and Redis streams with
    /// `appendfsync always`, to its being durable.
    public var ackLatencyMicros: LatencySummary
    /// The server's utime + stime during the load (from /proc/PID/stat), per publish and per delivery.
    public var cpuMicrosPerPublish: Double?
    public var cpuMicrosPerDelivery: Double?
    /// VmHWM of the server process over its life.
    public var serverPeakMemoryBytes: UInt64?
    public var problems: [String]
    /// Every message reached every subscriber, once, in order.
    public var lossless: Bool

    public init(
        system: String, published: Int, deliveries: Int, expectedDeliveries: Int, publishesPerSecond: Double,
        deliveriesPerSecond: Double, latencyMicros: LatencySummary, ackLatencyMicros: LatencySummary,
        serverCPUSeconds: Double?,
        serverPeakMemoryBytes: UInt64?, problems: [String]
    ) {
        self.system = system
        self.published = published
        self.deliveries = deliveries
        self.expectedDeliveries = expectedDeliveries
        self.publishesPerSecond = publishesPerSecond
        self.deliveriesPerSecond = deliveriesPerSecond
        self.latencyMicros = latencyMicros
        self.ackLatencyMicros = ackLatencyMicros
        self.cpuMicrosPerPublish = serverCPUSeconds.map { $0 * 1e6 / Double(max(1, published)) }
        self.cpuMicrosPerDelivery = deliveries > 0 ? serverCPUSeconds.map { $0 * 1e6 / Double(deliveries) } : nil
        self.serverPeakMemoryBytes = serverPeakMemoryBytes
        self.problems = problems
        self.lossless = problems.isEmpty && deliveries == expectedDeliveries
    }

    /// One system's runs as one: each rate, latency, CPU and memory figure is the median of the runs' (the middle
    /// one, or the lower middle of an even count); counts are summed; lossless only if every run was.
    public static func median(of runs: [SystemFigures]) -> SystemFigures {
        guard var result = runs.first, runs.count > 1 else { return runs[0] }
        func middle<T: Comparable>(_ values: [T]) -> T { values.sorted()[(values.count - 1) / 2] }
        func middle<T: Comparable>(_ values: [T?]) -> T? {
            let known = values.compactMap { $0 }
            return known.count == values.count ? middle(known) : nil
        }
        result.published = runs.reduce(0) { $0 + $1.published }
        result.deliveries = runs.reduce(0) { $0 + $1.deliveries }
        result.expectedDeliveries = runs.reduce(0) { $0 + $1.expectedDeliveries }
        result.publishesPerSecond = middle(runs.map(\.publishesPerSecond))
        result.deliveriesPerSecond = middle(runs.map(\.deliveriesPerSecond))
        result.latencyMicros = LatencySummary.median(of: runs.map(\.latencyMicros))
        result.ackLatencyMicros = LatencySummary.median(of: runs.map(\.ackLatencyMicros))
        result.cpuMicrosPerPublish = middle(runs.map(\.cpuMicrosPerPublish))
        result.cpuMicrosPerDelivery = middle(runs.map(\.cpuMicrosPerDelivery))
        result.serverPeakMemoryBytes = middle(runs.map(\.serverPeakMemoryBytes))
        result.problems = runs.flatMap(\.problems)
        result.lossless = runs.allSatisfy(\.lossless)
        return result
    }
}

/// Runs the workload through a redis-server, as pub/sub (PUBLISH, SUBSCRIBE) or as a stream (XADD, XREAD BLOCK).
public struct RedisLoad: Sendable {
    public enum Mode: Sendable {
        case pubSub
        case streams
    }

    let mode: Mode
    let workload: CompareWorkload
    let port: Int
    let group: any EventLoopGroup
    static let channel = "hub-load"
    /// Entries one XREAD returns at most.
    static let readCount = 500

    public init(mode: Mode, workload: CompareWorkload, port: Int, group: any EventLoopGroup) {
        self.mode = mode
        self.workload = workload
        self.port = port
        self.group = group
    }

    /// One subscriber's progress, read by the publisher to keep within the window.
    final class Subscriber: Sendable {
        /// Messages received so far (the window is counted from the slowest).
        let received = Atomic<Int>(0)
        let ready = Atomic<Bool>(false)
        let lastReceivedAt = Atomic<UInt64>(0)
    }

    /// What the publisher and the subscribers share.
    final class Shared: Sendable {
        let subscribers: [Subscriber]
        /// Subscribers stop after this many messages; set before the last one is published.
        let target = Atomic<Int>(Int.max)
        init(count: Int) { subscribers = (0..<count).map { _ in Subscriber() } }
        /// The messages the slowest subscriber has received; nil without subscribers.
        var slowest: Int? { subscribers.map { $0.received.load(ordering: .relaxed) }.min() }
        var allReady: Bool { subscribers.allSatisfy { $0.ready.load(ordering: .relaxed) } }
    }

    struct SubscriberOutcome: Sendable {
        var latency: Histogram<UInt64>
        var problems: [String]
    }

    /// Runs the load; `measure` is called when the subscribers are ready and again when everything was delivered,
    /// for the server's CPU between the two. Bounded: the whole run ends 60 s after the load should have.
    public func run(
        name: String, measure: @escaping @Sendable () -> HubUsage?
    ) async throws -> SystemFigures {
        let shared = Shared(count: workload.subscribers)
        let limit = Duration.milliseconds(Int64(workload.durationSeconds * 1000)) + .seconds(60)
        return try await withThrowingTaskGroup(of: SystemFigures?.self) { outer in
            outer.addTask { try await self.load(name: name, shared: shared, measure: measure) }
            outer.addTask {
                try await Task.sleep(for: limit)
                return nil
            }
            let figures = try await outer.next()!
            outer.cancelAll()
            guard let figures else {
                let received = shared.subscribers.map { $0.received.load(ordering: .relaxed) }
                throw LoadFailure("\(name): the run did not end within \(limit); subscribers at \(received)")
            }
            return figures
        }
    }

    private func load(
        name: String, shared: Shared, measure: @escaping @Sendable () -> HubUsage?
    ) async throws -> SystemFigures {
        try await withThrowingTaskGroup(of: SubscriberOutcome?.self) { group in
            for number in 0..<workload.subscribers {
                group.addTask { try await self.subscribe(number: number, shared: shared) }
            }
            for _ in 0..<1000 where !shared.allReady { try await Task.sleep(for: .milliseconds(10)) }
            guard shared.allReady else { throw LoadFailure("\(name): subscribers not ready within 10 s") }
            let before = measure()
            let start = nanos()
            let acks = Locked(Histogram<UInt64>(numberOfSignificantValueDigits: .three))
            group.addTask {
                let answered = try await self.publish(shared: shared, start: start)
                acks.withLock { $0 = answered }
                return nil
            }
            var latency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
            var problems: [String] = []
            var publishedAt: UInt64 = start
            for try await outcome in group {
                guard let outcome else {
                    publishedAt = nanos()
                    continue
                }
                latency.add(outcome.latency)
                problems += outcome.problems
            }
            let after = measure()
            let published = shared.target.load(ordering: .relaxed)
            let deliveries = shared.subscribers.reduce(0) { $0 + $1.received.load(ordering: .relaxed) }
            let deliveredAt = shared.subscribers.map { $0.lastReceivedAt.load(ordering: .relaxed) }.max() ?? start
            var cpu: Double?
            if let before, let after { cpu = after.cpuSeconds - before.cpuSeconds }
            return SystemFigures(
                system: name, published: published, deliveries: deliveries,
                expectedDeliveries: published * workload.subscribers,
                publishesPerSecond: Double(published) / (Double(publishedAt - start) / 1e9),
                deliveriesPerSecond: Double(deliveries) / (Double(max(deliveredAt, start + 1) - start) / 1e9),
                latencyMicros: LatencySummary(latency),
                ackLatencyMicros: LatencySummary(acks.withLock { $0 }), serverCPUSeconds: cpu,
                serverPeakMemoryBytes: after?.peakMemoryBytes, problems: problems)
        }
    }

    // MARK: Publisher

    /// Publishes until the duration ends (or the message bound), never more than the window ahead of the slowest
    /// subscriber nor more than the window unanswered; then one last message, after setting the target. Returns the
    /// time from writing each command to reading its reply (replies come in order), in microseconds.
    private func publish(shared: Shared, start: UInt64) async throws -> Histogram<UInt64> {
        let channel = try await RedisConnection.connect(port: port, group: group)
        let window = workload.window
        let end = start + UInt64(workload.durationSeconds * 1e9)
        let interval = workload.rate.map { UInt64(1e9 / $0) }
        let answered = Subscriber()
        let sentTimes = Locked(SendTimes())
        return try await channel.executeThenClose { inbound, outbound in
            try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { replies in
                replies.addTask {
                    var latency = Histogram<UInt64>(numberOfSignificantValueDigits: .three)
                    for try await batch in inbound {
                        let now = nanos()
                        for reply in batch {
                            if case .error(let message) = reply { throw LoadFailure("redis-server: \(message)") }
                            let sentAt = sentTimes.withLock { $0.removeFirst() }
                            latency.record(now >= sentAt ? (now - sentAt) / 1000 : 0)
                        }
                        if answered.received.add(batch.count, ordering: .relaxed).newValue
                            >= shared.target.load(ordering: .relaxed)
                        {
                            return latency
                        }
                    }
                    throw LoadFailure("redis-server closed the publisher's connection")
                }
                var sent = 0
                var buffer = ByteBuffer()
                while true {
                    let now = nanos()
                    if now >= end || sent >= workload.maximumMessages - 1 { break }
                    var allowed = window - (sent - answered.received.load(ordering: .relaxed))
                    if let slowest = shared.slowest { allowed = min(allowed, window - (sent - slowest)) }
                    if let interval {
                        let due = start + UInt64(sent) * interval
                        if now < due {
                            try await Task.sleep(for: .nanoseconds(due - now))
                            continue
                        }
                        allowed = min(allowed, 1 + Int((now - due) / interval))
                    }
                    guard allowed > 0 else {
                        // The window is full: the slowest subscriber or the server's answers must catch up.
                        try await Task.sleep(for: .microseconds(50))
                        continue
                    }
                    buffer.clear()
                    // Up to 256 commands in one write: pipelined, as a C client with a send buffer would.
                    let count = min(allowed, 256, workload.maximumMessages - 1 - sent)
                    for _ in 0..<count {
                        sent += 1
                        writeMessage(sequence: UInt64(sent), into: &buffer)
                    }
                    let writtenAt = nanos()
                    sentTimes.withLock { $0.append(writtenAt, count: count) }
                    try await outbound.write(buffer)
                }
                shared.target.store(sent + 1, ordering: .relaxed)
                buffer.clear()
                writeMessage(sequence: UInt64(sent + 1), into: &buffer)
                let writtenAt = nanos()
                sentTimes.withLock { $0.append(writtenAt, count: 1) }
                try await outbound.write(buffer)
                return try await replies.next()!
            }
        }
    }

    /// A value behind a lock that tasks can share (a `Mutex` cannot be captured: it is not copyable).
    final class Locked<Value: Sendable>: Sendable {
        private let mutex: Mutex<Value>
        init(_ value: Value) { mutex = Mutex(value) }
        func withLock<Result>(_ body: (inout Value) -> Result) -> Result { mutex.withLock { body(&$0) } }
    }

    /// When each command still unanswered was written, oldest first.
    struct SendTimes {
        private var times: [UInt64] = []
        private var head = 0

        mutating func append(_ time: UInt64, count: Int) {
            if head > 4096 && head * 2 > times.count {
                times.removeFirst(head)
                head = 0
            }
            times.append(contentsOf: repeatElement(time, count: count))
        }

        mutating func removeFirst() -> UInt64 {
            precondition(head < times.count, "a reply to no command")
            head += 1
            return times[head - 1]
        }
    }

    private func writeMessage(sequence: UInt64, into buffer: inout ByteBuffer) {
        let body = StampedMessage.make(sequence: sequence, sentAt: nanos())
        switch mode {
        case .pubSub: RESP.writeCommand(["PUBLISH", Self.channel, body], into: &buffer)
        case .streams: RESP.writeCommand(["XADD", Self.channel, "*", "m", body], into: &buffer)
        }
    }

    // MARK: Subscribers

    private func subscribe(number: Int, shared: Shared) async throws -> SubscriberOutcome {
        let channel = try await RedisConnection.connect(port: port, group: group)
        let me = shared.subscribers[number]
        var outcome = SubscriberOutcome(
            latency: Histogram<UInt64>(numberOfSignificantValueDigits: .three), problems: [])
        var expected: UInt64 = 1
        /// Checks one message body (the next in order?), records its latency, and says whether it was the last.
        /// A message lost or repeated is a problem of the system measured, reported, not a reason to stop.
        func receive(_ body: ByteBuffer?, at now: UInt64) throws -> Bool {
            guard let body, let stamp = StampedMessage.read(body) else {
                throw LoadFailure("subscriber \(number): a message without a stamp")
            }
            let (sequence, sentAt) = stamp
            if sequence != expected, outcome.problems.count < 10 {
                outcome.problems.append("subscriber \(number): message \(sequence) where \(expected) was due")
            }
            expected = sequence + 1
            outcome.latency.record(now >= sentAt ? (now - sentAt) / 1000 : 0)
            me.lastReceivedAt.store(now, ordering: .relaxed)
            me.received.add(1, ordering: .relaxed)
            return sequence >= UInt64(shared.target.load(ordering: .relaxed))
        }
        try await channel.executeThenClose { inbound, outbound in
            var buffer = ByteBuffer()
            switch mode {
            case .pubSub:
                RESP.writeCommand(["SUBSCRIBE", Self.channel], into: &buffer)
                try await outbound.write(buffer)
                for try await batch in inbound {
                    let now = nanos()
                    for reply in batch {
                        guard case .array(let parts?) = reply, parts.count == 3, case .bulk(let kind?) = parts[0]
                        else { throw LoadFailure("subscriber \(number): unexpected reply \(reply)") }
                        if kind.readableBytesView.elementsEqual("subscribe".utf8) {
                            me.ready.store(true, ordering: .relaxed)
                            continue
                        }
                        guard case .bulk(let body) = parts[2] else {
                            throw LoadFailure("subscriber \(number): unexpected message \(reply)")
                        }
                        if try receive(body, at: now) { return }
                    }
                }
                throw LoadFailure("subscriber \(number): redis-server closed the connection")
            case .streams:
                var lastID = "0-0"
                me.ready.store(true, ordering: .relaxed)
                var replies = inbound.makeAsyncIterator()
                while true {
                    buffer.clear()
                    RESP.writeCommand(
                        ["XREAD", "COUNT", "\(Self.readCount)", "BLOCK", "0", "STREAMS", Self.channel, lastID],
                        into: &buffer)
                    try await outbound.write(buffer)
                    // One reply per XREAD: the next is sent only when it has come.
                    guard let reply = try await replies.next()?.first else {
                        throw LoadFailure("subscriber \(number): redis-server closed the connection")
                    }
                    let now = nanos()
                    guard case .array(let streams?) = reply, let stream = streams.first,
                        case .array(let keyAndEntries?) = stream, keyAndEntries.count == 2,
                        case .array(let entries?) = keyAndEntries[1]
                    else { throw LoadFailure("subscriber \(number): unexpected XREAD reply \(reply)") }
                    for entry in entries {
                        guard case .array(let idAndFields?) = entry, idAndFields.count == 2,
                            case .bulk(let id?) = idAndFields[0], case .array(let fields?) = idAndFields[1],
                            fields.count == 2, case .bulk(let body) = fields[1]
                        else { throw LoadFailure("subscriber \(number): unexpected stream entry \(entry)") }
                        lastID = String(buffer: id)
                        if try receive(body, at: now) { return }
                    }
                }
            }
        }
        return outcome
    }
}
