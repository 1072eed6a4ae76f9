import HubWire
import NIOCore
import NIOEmbedded
import Testing

@testable import HubServer

/// The hub's `FrameReader` on an `EmbeddedChannel`: bytes in, frames and errors out, and what it holds of the
/// hub-wide `PartialFrameBudget`.
@Suite struct FrameReaderTests {
    /// Records every error that reaches it, in order (and passes nothing on, so that the channel's tail stays clean).
    final class ErrorRecorder: ChannelInboundHandler {
        typealias InboundIn = Frame
        typealias InboundOut = Frame
        var errors: [any Error] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.fireChannelRead(data)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            errors.append(error)
        }

        var wireErrors: [WireError] { errors.compactMap { $0 as? WireError } }
    }

    /// A channel with a `FrameReader` and an `ErrorRecorder` after it.
    struct Harness {
        let channel: EmbeddedChannel
        let reader: FrameReader
        let recorder: ErrorRecorder
        let budget: PartialFrameBudget

        init(budget: PartialFrameBudget = PartialFrameBudget(limit: 1 << 20)) throws {
            self.budget = budget
            reader = FrameReader(budget: budget)
            recorder = ErrorRecorder()
            channel = EmbeddedChannel()
            try channel.pipeline.syncOperations.addHandlers(reader, recorder)
        }

        func write(_ bytes: [UInt8]) throws {
            try write(ByteBuffer(bytes: bytes))
        }

        func write(_ buffer: ByteBuffer) throws {
            try channel.writeInbound(buffer)
        }

        func frames() throws -> [Frame] {
            var frames: [Frame] = []
            while let frame = try channel.readInbound(as: Frame.self) { frames.append(frame) }
            return frames
        }
    }

    /// A frame's bytes: length, type, flags, payload.
    static func frameBytes(type: UInt8 = MessageType.heartbeat.rawValue, payload: [UInt8]) -> [UInt8] {
        var buffer = ByteBuffer()
        Frame(type: type, flags: 0, payload: ByteBuffer(bytes: payload)).write(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    static func frame(type: UInt8 = MessageType.heartbeat.rawValue, payload: [UInt8]) -> Frame {
        Frame(type: type, flags: 0, payload: ByteBuffer(bytes: payload))
    }

    /// Only the header and the first `sent` payload bytes of a frame whose payload is `payloadLength` bytes.
    static func partialFrame(payloadLength: Int, sent: Int) -> [UInt8] {
        Array(frameBytes(payload: [UInt8](repeating: 0x5A, count: payloadLength)).prefix(Frame.headerLength + sent))
    }

    // MARK: Frames

    @Test func aWholeFrameInOneReadComesOutAsOneFrame() throws {
        let harness = try Harness()
        try harness.write(Self.frameBytes(payload: [1, 2, 3]))
        #expect(try harness.frames() == [Self.frame(payload: [1, 2, 3])])
        #expect(harness.recorder.errors.isEmpty)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func aFrameSplitAcrossManyReadsComesOutOnceItIsWhole() throws {
        let harness = try Harness()
        let payload = (0..<100).map { UInt8($0) }
        let bytes = Self.frameBytes(type: MessageType.query.rawValue, payload: payload)
        for byte in bytes.dropLast() {
            try harness.write([byte])
            #expect(try harness.frames().isEmpty)
        }
        // Part of a frame is held, and charged to the budget.
        #expect(harness.budget.heldBytes >= bytes.count - 1)
        try harness.write([bytes.last!])
        #expect(try harness.frames() == [Self.frame(type: MessageType.query.rawValue, payload: payload)])
        #expect(harness.recorder.errors.isEmpty)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func twoFramesInOneReadComeOutInOrder() throws {
        let harness = try Harness()
        try harness.write(
            Self.frameBytes(payload: [1]) + Self.frameBytes(type: MessageType.goodbye.rawValue, payload: [2, 2]))
        #expect(
            try harness.frames() == [
                Self.frame(payload: [1]), Self.frame(type: MessageType.goodbye.rawValue, payload: [2, 2]),
            ])
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func aFrameAndTheStartOfTheNextKeepOnlyTheStart() throws {
        let harness = try Harness()
        let second = Self.frameBytes(payload: [9, 8, 7, 6])
        try harness.write(Self.frameBytes(payload: [1]) + second.prefix(5))
        #expect(try harness.frames() == [Self.frame(payload: [1])])
        #expect(harness.budget.heldBytes > 0)
        try harness.write(Array(second.dropFirst(5)))
        #expect(try harness.frames() == [Self.frame(payload: [9, 8, 7, 6])])
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func aLargeReadEndingInAFewBytesOfAFrameHoldsOnlyThoseBytes() throws {
        let harness = try Harness()
        var bytes: [UInt8] = []
        for _ in 0..<10 { bytes += Self.frameBytes(payload: [UInt8](repeating: 1, count: 4000)) }
        bytes += Self.partialFrame(payloadLength: 100, sent: 4)
        try harness.write(bytes)
        #expect(try harness.frames().count == 10)
        // Ten bytes of the next frame are left; the 40 kB read they came in is not kept alive for them.
        #expect(harness.budget.heldBytes >= 10)
        #expect(harness.budget.heldBytes < WireLimits.partialFrameCompactionCapacity)
        #expect(harness.recorder.errors.isEmpty)
    }

    // MARK: Frame limits

    @Test func aLengthOverThePreHandshakeLimitIsFrameTooLarge() throws {
        let harness = try Harness()
        let length = WireLimits.maxFrameLengthBeforeHandshake + 1
        // Only the header: the length is refused before the payload arrives.
        try harness.write([0, 0, UInt8(length >> 8), UInt8(length & 0xFF), MessageType.hello.rawValue, 0])
        #expect(try harness.frames().isEmpty)
        #expect(harness.recorder.wireErrors.map(\.kind) == [.frameTooLarge])
        #expect(harness.budget.heldBytes == 0)
        // After an error nothing more is decoded, and no second error is raised.
        try harness.write(Self.frameBytes(payload: [1]))
        #expect(try harness.frames().isEmpty)
        #expect(harness.recorder.errors.count == 1)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func aFrameAtThePreHandshakeLimitIsAccepted() throws {
        let harness = try Harness()
        let payloadLength = Int(WireLimits.maxFrameLengthBeforeHandshake) - 2
        try harness.write(Self.frameBytes(payload: [UInt8](repeating: 7, count: payloadLength)))
        #expect(try harness.frames().map(\.payload.readableBytes) == [payloadLength])
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func handshakeCompletedRaisesTheLimitToTheRolesLimit() throws {
        let harness = try Harness()
        // The first frame, as a HELLO would be; small.
        try harness.write(Self.frameBytes(type: MessageType.hello.rawValue, payload: [1]))
        #expect(try harness.frames().count == 1)
        harness.reader.handshakeCompleted(maxFrameLength: 10_000)
        // Over the pre-handshake limit, within the role's.
        let large = [UInt8](repeating: 3, count: 9_998)
        try harness.write(Self.frameBytes(payload: large))
        #expect(try harness.frames() == [Self.frame(payload: large)])
        #expect(harness.recorder.errors.isEmpty)
        // One byte over the role's limit.
        try harness.write(Self.frameBytes(payload: large + [3]))
        #expect(try harness.frames().isEmpty)
        #expect(harness.recorder.wireErrors.map(\.kind) == [.frameTooLarge])
        #expect(harness.recorder.wireErrors.first?.message.contains("10000") == true)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func handshakeCompletedCanLowerTheLimit() throws {
        let harness = try Harness()
        try harness.write(Self.frameBytes(type: MessageType.hello.rawValue, payload: [1]))
        harness.reader.handshakeCompleted(maxFrameLength: 64)
        // Length counts type and flags: a 62-byte payload is a length of 64.
        try harness.write(Self.frameBytes(payload: [UInt8](repeating: 0, count: 62)))
        #expect(try harness.frames().count == 2)
        #expect(harness.recorder.errors.isEmpty)
        try harness.write(Self.frameBytes(payload: [UInt8](repeating: 0, count: 63)))
        #expect(try harness.frames().isEmpty)
        #expect(harness.recorder.wireErrors.map(\.kind) == [.frameTooLarge])
    }

    @Test func aLengthBelowTheMinimumIsMalformed() throws {
        let harness = try Harness()
        try harness.write([0, 0, 0, 1, 0x30])
        #expect(try harness.frames().isEmpty)
        #expect(harness.recorder.wireErrors.map(\.kind) == [.malformedFrame])
    }

    // MARK: Foreign protocols

    @Test func aTLSClientHelloIsAForeignProtocol() throws {
        let harness = try Harness()
        // The start of a TLS 1.2 record carrying a ClientHello.
        try harness.write([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
        #expect(try harness.frames().isEmpty)
        let errors = harness.recorder.wireErrors
        #expect(errors.count == 1)
        #expect(errors.first?.foreignProtocol == .tls)
        #expect(errors.first?.code == .notThisProtocol)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func anHTTPRequestIsAForeignProtocol() throws {
        let harness = try Harness()
        try harness.write(Array("GET / HTTP/1.1\r\nHost: hub\r\n\r\n".utf8))
        #expect(try harness.frames().isEmpty)
        let errors = harness.recorder.wireErrors
        #expect(errors.count == 1)
        #expect(errors.first?.foreignProtocol == .http)
        #expect(errors.first?.offendingBytes.starts(with: Array("GET ".utf8)) == true)
        #expect(harness.budget.heldBytes == 0)
    }

    @Test func aForeignProtocolIsRecognisedOnItsFirstByteAlone() throws {
        let harness = try Harness()
        try harness.write([0x16])
        #expect(harness.recorder.wireErrors.first?.foreignProtocol == .tls)
    }

    @Test func anOrdinaryFirstFrameIsNotAForeignProtocol() throws {
        let harness = try Harness()
        // The first byte alone is not enough to tell; nothing is reported until it is.
        try harness.write([0])
        #expect(harness.recorder.errors.isEmpty)
        try harness.write(Array(Self.frameBytes(payload: [0x16]).dropFirst()))
        #expect(try harness.frames() == [Self.frame(payload: [0x16])])
        #expect(harness.recorder.errors.isEmpty)
    }

    @Test func aWireErrorReachesTheEndOfThePipeline() throws {
        // Without a recorder: EmbeddedChannel rethrows what reached its tail.
        let channel = EmbeddedChannel(handler: FrameReader(budget: PartialFrameBudget(limit: 1 << 16)))
        let error = #expect(throws: WireError.self) {
            try channel.writeInbound(ByteBuffer(bytes: Array("POST /".utf8)))
        }
        #expect(error?.foreignProtocol == .http)
        // It is reported once.
        #expect(throws: Never.self) { try channel.throwIfErrorCaught() }
    }

    // MARK: The partial-frame budget

    /// 512 bytes of a frame whose payload is 700 bytes: a buffer whose capacity is its size (a power of two),
    /// since a connection is charged its buffer's capacity.
    static func halfAFrame() throws -> ByteBuffer {
        let part = ByteBuffer(bytes: partialFrame(payloadLength: 700, sent: 512 - Frame.headerLength))
        try #require(part.readableBytes == 512)
        try #require(part.capacity == 512)
        return part
    }

    @Test func aPartialFrameOverTheSharedBudgetFailsOnlyThatConnection() throws {
        let budget = PartialFrameBudget(limit: 1000)
        let first = try Harness(budget: budget)
        let second = try Harness(budget: budget)
        let firstBytes = Self.frameBytes(payload: [UInt8](repeating: 0x5A, count: 700))

        // The first connection holds 512 bytes of a frame.
        try first.write(try Self.halfAFrame())
        #expect(budget.heldBytes == 512)

        // The second's 512 would pass the limit: it fails, holding nothing.
        try second.write(try Self.halfAFrame())
        #expect(try second.frames().isEmpty)
        #expect(second.recorder.wireErrors.map(\.kind) == [.limitExceeded])
        #expect(budget.heldBytes == 512)
        // Nothing more is read from it, even what would fit.
        try second.write(Self.frameBytes(payload: [1]))
        #expect(try second.frames().isEmpty)
        #expect(second.recorder.errors.count == 1)
        #expect(budget.heldBytes == 512)

        // The first is unaffected: it finishes its frame, and the budget is empty again.
        #expect(first.recorder.errors.isEmpty)
        try first.write(Array(firstBytes.dropFirst(512)))
        #expect(try first.frames() == [Self.frame(payload: [UInt8](repeating: 0x5A, count: 700))])
        #expect(first.recorder.errors.isEmpty)
        #expect(budget.heldBytes == 0)

        // Now there is room for another connection's partial frame.
        let third = try Harness(budget: budget)
        try third.write(try Self.halfAFrame())
        #expect(third.recorder.errors.isEmpty)
        #expect(budget.heldBytes == 512)
    }

    @Test func twoConnectionsWithinTheBudgetBothHoldTheirPartialFrames() throws {
        // Exactly the limit is within it.
        let budget = PartialFrameBudget(limit: 1024)
        let first = try Harness(budget: budget)
        let second = try Harness(budget: budget)
        try first.write(try Self.halfAFrame())
        try second.write(try Self.halfAFrame())
        #expect(budget.heldBytes == 1024)
        #expect(first.recorder.errors.isEmpty)
        #expect(second.recorder.errors.isEmpty)
        // A third connection's first byte of a frame is one too many.
        let third = try Harness(budget: budget)
        try third.write([0])
        #expect(third.recorder.wireErrors.map(\.kind) == [.limitExceeded])
        #expect(budget.heldBytes == 1024)
    }

    @Test func closingAChannelReleasesItsPartialFrame() throws {
        let budget = PartialFrameBudget(limit: 1 << 16)
        let first = try Harness(budget: budget)
        let second = try Harness(budget: budget)
        try first.write(Self.partialFrame(payloadLength: 1000, sent: 500))
        try second.write(Self.partialFrame(payloadLength: 1000, sent: 200))
        let both = budget.heldBytes
        #expect(both >= 700 + 2 * Frame.headerLength)

        try first.channel.close().wait()
        // The pipeline's handlers are removed on the loop after the close.
        first.channel.embeddedEventLoop.run()
        #expect(budget.heldBytes > 0)
        #expect(budget.heldBytes < both)
        #expect(budget.heldBytes >= 200 + Frame.headerLength)

        _ = try second.channel.finish()
        second.channel.embeddedEventLoop.run()
        #expect(budget.heldBytes == 0)
    }

    @Test func theBudgetNeverPassesItsLimit() {
        let budget = PartialFrameBudget(limit: 100)
        #expect(budget.take(60))
        #expect(!budget.take(41))
        #expect(budget.heldBytes == 60)
        #expect(budget.take(40))
        #expect(budget.heldBytes == 100)
        budget.give(100)
        #expect(budget.heldBytes == 0)
    }
}
