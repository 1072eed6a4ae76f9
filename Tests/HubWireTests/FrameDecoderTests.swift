import HubWire
import NIOCore
import Testing

@Suite("Frame decoder limits and protocol detection")
struct FrameDecoderTests {
    func decode(_ bytes: [UInt8], max: UInt32 = WireLimits.maxFrameLengthBeforeHandshake, detecting: Bool = true)
        throws(WireError) -> Frame?
    {
        var decoder = FrameDecoder(maxFrameLength: max, detectingProtocol: detecting)
        var buffer = ByteBuffer(bytes: bytes)
        return try decoder.decode(buffer: &buffer)
    }

    func kind(_ bytes: [UInt8], max: UInt32 = WireLimits.maxFrameLengthBeforeHandshake, detecting: Bool = true)
        -> WireError.Kind?
    {
        do {
            _ = try decode(bytes, max: max, detecting: detecting)
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func recognisesForeignProtocols() {
        #expect(kind(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == .notThisProtocol(.http))
        #expect(kind(Array("PRI * HTTP/2.0\r\n".utf8)) == .notThisProtocol(.http))
        #expect(kind([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) == .notThisProtocol(.tls))
        #expect(kind([0xFF, 0xFF, 0xFF, 0xFF]) == .notThisProtocol(.unknown))
        #expect(kind([0x00, 0x01, 0x00, 0x00]) == .notThisProtocol(.unknown))
    }

    @Test func checksLengthBeforeBuffering() {
        #expect(kind([0x00, 0x00, 0x10, 0x01]) == .frameTooLarge, "4097 before the handshake")
        #expect(kind([0xFF, 0xFF, 0xFF, 0xFF], max: WireLimits.maxFrameLength, detecting: false) == .frameTooLarge)
        #expect(kind([0x00, 0x10, 0x00, 0x01], max: WireLimits.maxFrameLength, detecting: false) == .frameTooLarge)
        #expect(kind([0x00, 0x00, 0x00, 0x01, 0x01]) == .malformedFrame, "length 1 has no room for type and flags")
        #expect(kind([0x00, 0x00, 0x00, 0x02, 0x01, 0x02]) == .malformedFrame, "reserved flag bit")
    }

    @Test func waitsForTheRestOfAFrame() throws {
        #expect(try decode([0x00, 0x00, 0x00, 0x14, 0x01]) == nil)
        #expect(try decode([0x00, 0x00, 0x10, 0x00]) == nil, "exactly 4096 is allowed; its bytes have not arrived")
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x14, 0x01])
        #expect(throws: WireError.self) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
    }

    @Test func unknownTypesAreRejectedByTheCodec() throws {
        let frame = try #require(try decode([0x00, 0x00, 0x00, 0x02, 0x7E, 0x00]))
        #expect(throws: WireError.self) { try FrameCodec().decode(frame) }
        do {
            _ = try FrameCodec().decode(frame)
        } catch {
            #expect(error.kind == .unknownMessageType)
            #expect(error.code == .unknownMessageType)
        }
    }

    @Test func versionNegotiation() {
        #expect(ProtocolVersion.negotiate(clientMin: 1, clientMax: 3) == 1)
        #expect(ProtocolVersion.negotiate(clientMin: 5, clientMax: 9) == nil)
    }
}
