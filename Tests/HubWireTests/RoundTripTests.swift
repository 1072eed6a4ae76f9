import ElectionModel
import HubWire
import NIOCore
import NIOTestUtils
import Testing

@Suite("Messages round-trip through frames")
struct RoundTripTests {
    @Test(arguments: MessageType.allCases)
    func everyMessageRoundTrips(type: MessageType) throws {
        var random = RandomMessages(seed: UInt64(type.rawValue) * 7919)
        let codec = FrameCodec()
        for _ in 0..<200 {
            let message = random.message(type)
            var frameBytes = codec.encode(message)
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            let frame = try #require(try decoder.decode(buffer: &frameBytes))
            #expect(frameBytes.readableBytes == 0)
            #expect(try codec.decode(frame) == message)
        }
    }

    /// Bytes arriving in any split (one at a time, all at once, in random chunks) give the same frames.
    @Test func frameDecoderHandlesEverySplit() throws {
        var random = RandomMessages(seed: 99)
        let codec = FrameCodec()
        var stream = ByteBuffer()
        var expected: [Frame] = []
        for type in MessageType.allCases {
            let message = random.message(type)
            var bytes = codec.encode(message)
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            expected.append(try #require(try decoder.decode(buffer: &bytes)))
            stream.writeImmutableBuffer(codec.encode(message))
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(stream, expected)]) {
            FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
        }
    }

    /// Every prefix of every payload is an error, never a crash or a wrong message: each field is bounds-checked.
    @Test(arguments: MessageType.allCases)
    func everyTruncatedPayloadIsMalformed(type: MessageType) throws {
        var random = RandomMessages(seed: UInt64(type.rawValue) * 104_729)
        for _ in 0..<20 {
            var payload = ByteBuffer()
            MessageCodec.encodePayload(random.message(type), into: &payload)
            for length in 0..<payload.readableBytes {
                let prefix = payload.getSlice(at: payload.readerIndex, length: length)!
                #expect(throws: WireError.self) { try MessageCodec.decodePayload(type: type, payload: prefix) }
            }
        }
    }

    /// Later versions append fields; a v1 reader ignores them (spec 2.1).
    @Test func trailingBytesAreIgnored() throws {
        var random = RandomMessages(seed: 5)
        for type in MessageType.allCases {
            let message = random.message(type)
            var payload = ByteBuffer()
            MessageCodec.encodePayload(message, into: &payload)
            payload.writeBytes([0xAB, 0xCD])
            #expect(try MessageCodec.decodePayload(type: type, payload: payload) == message)
        }
    }
}

@Suite("Primitive encodings")
struct PrimitiveTests {
    @Test(arguments: [
        UInt64(0), 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64(1) << 63, UInt64.max,
    ])
    func varintRoundTrips(value: UInt64) throws {
        var buffer = ByteBuffer()
        buffer.writeVarint(value)
        var reader = WireReader(buffer)
        #expect(try reader.varint("v") == value)
        #expect(reader.remaining == 0)
    }

    @Test func varintRejectsNonMinimalOverlongAndTruncated() {
        for bytes: [UInt8] in [
            [0x80, 0x00], [0xFF, 0x80, 0x00], Array(repeating: 0xFF, count: 10) + [0x01],
            Array(repeating: 0xFF, count: 9) + [0x02], [0x80],
        ] {
            var reader = WireReader(ByteBuffer(bytes: bytes))
            #expect(throws: WireError.self) { try reader.varint("v") }
        }
    }

    @Test func signedVarintRoundTrips() throws {
        for value: Int64 in [0, -1, 1, -2, 63, -64, 64, Int64.max, Int64.min] {
            var buffer = ByteBuffer()
            buffer.writeSignedVarint(value)
            var reader = WireReader(buffer)
            #expect(try reader.signedVarint("s") == value)
        }
        var buffer = ByteBuffer()
        buffer.writeSignedVarint(-1)
        #expect(Array(buffer.readableBytesView) == [0x01])
    }

    @Test func countsAreCheckedBeforeAllocation() {
        var buffer = ByteBuffer()
        buffer.writeVarint(UInt64(1) << 32)
        var reader = WireReader(buffer)
        #expect(throws: WireError(.limitExceeded, "items has 4294967296 entries, over the limit 256")) {
            try reader.count("items", max: 256)
        }
        var lying = ByteBuffer()
        lying.writeVarint(200)
        lying.writeBytes([1, 2, 3])
        var liar = WireReader(lying)
        #expect(throws: WireError.self) { try liar.count("items", max: 256) }
    }

    @Test func invalidUTF8IsMalformed() {
        var buffer = ByteBuffer()
        buffer.writeVarint(2)
        buffer.writeBytes([0xC3, 0x28])
        var reader = WireReader(buffer)
        #expect(throws: WireError(.malformedFrame, "name is not valid UTF-8")) {
            try reader.string("name", maxBytes: 10)
        }
    }
}
