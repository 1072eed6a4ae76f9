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
    /// The one exception is where spec 1.1 or 1.3 appends fields (2.1): the prefix that ends before them is an
    /// earlier peer's message, and decodes to the message without them.
    @Test(arguments: MessageType.allCases)
    func everyTruncatedPayloadIsMalformed(type: MessageType) throws {
        var random = RandomMessages(seed: UInt64(type.rawValue) * 104_729)
        for _ in 0..<20 {
            let message = random.message(type)
            var payload = ByteBuffer()
            MessageCodec.encodePayload(message, into: &payload)
            var decodedPrefixes = 0
            for length in 0..<payload.readableBytes {
                let prefix = payload.getSlice(at: payload.readerIndex, length: length)!
                do {
                    let decoded = try MessageCodec.decodePayload(type: type, payload: prefix)
                    decodedPrefixes += 1
                    #expect(decoded == Self.withoutAppendedFields(message), "\(type) prefix of \(length)")
                } catch {}
            }
            let appended = Self.extendedIn11.contains(type) || Self.withoutAppendedFields(message) != message
            #expect(decodedPrefixes == (appended ? 1 : 0), "\(type)")
        }
    }

    /// The messages spec 1.1 appends fields to.
    static let extendedIn11: Set<MessageType> = [.welcome, .scoreboard, .contest, .election]

    /// What an earlier peer sends: the message without the fields spec 1.1 appends (a 1.0 peer's), or GOODBYE
    /// without the leader spec 1.3 appends (a 1.2 peer's).
    static func withoutAppendedFields(_ message: HubMessage) -> HubMessage {
        switch message {
        case .goodbye(var goodbye):
            goodbye.leader = nil
            return .goodbye(goodbye)
        case .welcome(var welcome):
            welcome.definitionDigest = nil
            return .welcome(welcome)
        case .scoreboard(var answer):
            answer.scoreboard.councilsCompared = 0
            answer.scoreboard.councilsNotCompared = 0
            for index in answer.scoreboard.rows.indices {
                answer.scoreboard.rows[index].councillorsCompared = 0
                answer.scoreboard.rows[index].councillorsChange = 0
            }
            return .scoreboard(answer)
        case .contest(var answer):
            answer.seatChanges = nil
            return .contest(answer)
        case .election(var answer):
            answer.definition.seatsBeforeNote = ""
            for index in answer.definition.contests.indices {
                answer.definition.contests[index].gssCode = nil
                answer.definition.contests[index].seatsBefore = nil
            }
            return .election(answer)
        default:
            return message
        }
    }

    /// The messages spec 1.2 can mark as a rehearsal's (6.17).
    static let markedIn12: Set<MessageType> = [.welcome, .snapshot, .deltaBatch, .scoreboard, .contest]

    /// A rehearsal hub's message is the live one's bytes and then 01; a 1.1 reader (which stops before it) gets the
    /// live message, and any other value is malformed.
    @Test(arguments: Array(markedIn12).sorted { $0.rawValue < $1.rawValue })
    func theRehearsalMarkingIsOneByteAfterTheLiveMessage(type: MessageType) throws {
        var random = RandomMessages(seed: UInt64(type.rawValue) * 31)
        for _ in 0..<50 {
            let live = random.message(type)
            let marked = live.markedAsRehearsal()
            #expect(marked != live)
            var livePayload = ByteBuffer()
            MessageCodec.encodePayload(live, into: &livePayload)
            var payload = ByteBuffer()
            MessageCodec.encodePayload(marked, into: &payload)
            #expect(payload.readableBytes == livePayload.readableBytes + 1)
            #expect(payload.getSlice(at: payload.readerIndex, length: livePayload.readableBytes) == livePayload)
            #expect(payload.getInteger(at: payload.writerIndex - 1, as: UInt8.self) == 1)
            #expect(try MessageCodec.decodePayload(type: type, payload: payload) == marked)
            var zero = livePayload
            zero.writeInteger(UInt8(0))
            #expect(try MessageCodec.decodePayload(type: type, payload: zero) == live)
            var two = livePayload
            two.writeInteger(UInt8(2))
            #expect(throws: WireError.self) { try MessageCodec.decodePayload(type: type, payload: two) }
        }
    }

    /// Later versions append fields; a v1 reader ignores them (spec 2.1).
    @Test func trailingBytesAreIgnored() throws {
        var random = RandomMessages(seed: 5)
        for type in MessageType.allCases {
            let message = random.message(type)
            var payload = ByteBuffer()
            MessageCodec.encodePayload(message, into: &payload)
            // The 1.2 and 1.3 fields, then what a later specification would append.
            var expected = message
            if Self.markedIn12.contains(type) { payload.writeInteger(UInt8(0)) }
            if case .goodbye(var goodbye) = message, goodbye.leader == nil {
                payload.writeWireString("")
                goodbye.leader = ""
                expected = .goodbye(goodbye)
            }
            payload.writeBytes([0xAB, 0xCD])
            #expect(try MessageCodec.decodePayload(type: type, payload: payload) == expected)
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
