import ElectionModel
import Foundation
import HubWire
import NIOCore
import Testing

@Suite("WireError: kinds and offending bytes")
struct WireErrorTests {
    func frameError(_ bytes: [UInt8], max: UInt32 = WireLimits.maxFrameLengthBeforeHandshake) -> WireError? {
        var decoder = FrameDecoder(maxFrameLength: max, detectingProtocol: true)
        var buffer = ByteBuffer(bytes: bytes)
        do {
            _ = try decoder.decode(buffer: &buffer)
            return nil
        } catch {
            return error
        }
    }

    func payloadError(_ type: MessageType, _ bytes: [UInt8]) -> WireError? {
        do {
            _ = try MessageCodec.decodePayload(type: type, payload: ByteBuffer(bytes: bytes))
            return nil
        } catch {
            return error
        }
    }

    @Test func aForeignProtocolIsMatchedAndKeepsWhatThePeerSent() throws {
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01]
        let error = try #require(frameError(hello))
        #expect(error.foreignProtocol == .tls)
        #expect(error.kind == .notThisProtocol(.tls))
        #expect(error.code == .notThisProtocol)
        #expect(error.offendingBytes == hello)
        switch error.kind {
        case .notThisProtocol(.tls): break
        default: Issue.record("\(error.kind) did not match .notThisProtocol(.tls) in a switch")
        }
    }

    @Test func offendingBytesAreBounded() throws {
        let request = Array(("GET /" + String(repeating: "x", count: 200) + " HTTP/1.1\r\n\r\n").utf8)
        let error = try #require(frameError(request))
        #expect(error.foreignProtocol == .http)
        #expect(error.offendingBytes == Array(request.prefix(WireLimits.maxOffendingBytes)))
        #expect(WireError(.malformedFrame, "m", offendingBytes: request).offendingBytes.count == 64)
    }

    @Test func otherKindsHaveNoForeignProtocol() throws {
        let error = try #require(frameError([0x00, 0x00, 0x10, 0x01]))
        #expect(error.kind == .frameTooLarge)
        #expect(error.foreignProtocol == nil)
        #expect(error.offendingBytes == [0x00, 0x00, 0x10, 0x01])
    }

    @Test func aFieldErrorCarriesTheFieldsBytesAndTheRequest() throws {
        // SUBMIT: requestID 7, then declaration.contestID 0 (malformed), then the rest of a declaration.
        let error = try #require(payloadError(.submit, [0x07, 0x00, 0x01, 0x00, 0x00, 0x05]))
        #expect(error.kind == .malformedFrame)
        #expect(error.requestID == 7)
        #expect(error.offendingBytes == [0x00, 0x01, 0x00, 0x00, 0x05])
    }

    @Test func aValueOutsideItsTableCarriesItsByte() throws {
        // ACK: requestID 1, sequence 2, duplicate 0, contestID 3, revision 1, status 9.
        let error = try #require(payloadError(.ack, [0x01, 0x02, 0x00, 0x03, 0x01, 0x09, 0x00, 0x00]))
        #expect(error.kind == .malformedFrame)
        #expect(error.message == "ack.status 9 is unknown")
        #expect(error.offendingBytes == [0x09, 0x00, 0x00])
    }

    @Test func aStringOverItsLimitCarriesItsLengthAndBytes() throws {
        var payload = ByteBuffer()
        payload.writeVarint(1)
        payload.writeInteger(ErrorCode.unknownContest.rawValue)
        payload.writeWireString(String(repeating: "m", count: WireLimits.maxMessageBytes + 1))
        let error = try #require(payloadError(.reject, Array(payload.readableBytesView)))
        #expect(error.kind == .limitExceeded)
        // varint 1025 is 0x81 0x08.
        #expect(error.offendingBytes == [0x81, 0x08] + Array(repeating: 0x6D, count: 62))
    }

    func hello(principal: String = "desk-1", secret: [UInt8], role: UInt8 = ClientRole.desk.rawValue) -> [UInt8] {
        var payload = ByteBuffer(bytes: Hello.magic)
        payload.writeVarint(1)
        payload.writeVarint(1)
        payload.writeInteger(role)
        payload.writeWireString(principal)
        payload.writeVarint(secret.count)
        payload.writeBytes(secret)
        payload.writeInteger(UInt8(3))
        payload.writeWireString("test")
        return Array(payload.readableBytesView)
    }

    @Test func aHellosErrorsNeverCarryItsCredentials() throws {
        let token = Array("0123456789abcdef-secret-token".utf8)
        let invalid = try #require(payloadError(.hello, hello(secret: token + [0xFF])))
        #expect(invalid.kind == .malformedFrame)
        #expect(invalid.offendingBytes.isEmpty)
        let tooLong = try #require(payloadError(.hello, hello(secret: Array(repeating: 0x61, count: 300))))
        #expect(tooLong.kind == .limitExceeded)
        #expect(tooLong.offendingBytes.isEmpty)
        let role = try #require(payloadError(.hello, hello(secret: token, role: 9)))
        #expect(role.kind == .malformedFrame)
        #expect(role.offendingBytes.isEmpty)
        let magic = try #require(payloadError(.hello, Array("RHUX".utf8) + token))
        #expect(magic.foreignProtocol == .unknown)
        #expect(magic.offendingBytes == Array("RHUX".utf8))

        // A HELLO frame that fails before its payload is parsed: only the header.
        var frame = ByteBuffer()
        Frame(type: MessageType.hello.rawValue, flags: 0x80, payload: ByteBuffer(bytes: hello(secret: token)))
            .write(into: &frame)
        let header = Array(frame.readableBytesView.prefix(Frame.headerLength))
        let flags = try #require(frameError(Array(frame.readableBytesView)))
        #expect(flags.kind == .malformedFrame)
        #expect(flags.offendingBytes == header)
        var decoder = FrameDecoder()
        var truncated = frame.getSlice(at: 0, length: frame.readableBytes - 1)!
        do {
            _ = try decoder.decodeLast(buffer: &truncated, seenEOF: true)
            Issue.record("a truncated frame decoded")
        } catch {
            #expect(error.kind == .truncated)
            #expect(error.offendingBytes == header)
        }
        // A compressed HELLO on a connection without compression: only the header.
        var plain = ByteBuffer()
        Frame(type: MessageType.hello.rawValue, flags: Frame.compressedFlag, payload: ByteBuffer(bytes: token))
            .write(into: &plain)
        var reader = FrameDecoder(detectingProtocol: false)
        let compressed = try #require(try reader.decode(buffer: &plain))
        do {
            _ = try FrameCodec().decode(compressed)
            Issue.record("a compressed frame decoded without compression")
        } catch {
            #expect(error.offendingBytes.count == Frame.headerLength)
        }
    }

    @Test func anUnknownTypeCarriesTheFrame() throws {
        let bytes: [UInt8] = [0x00, 0x00, 0x00, 0x03, 0x7E, 0x00, 0xAB]
        var decoder = FrameDecoder()
        var buffer = ByteBuffer(bytes: bytes)
        let frame = try #require(try decoder.decode(buffer: &buffer))
        #expect(throws: WireError.self) { try FrameCodec().decode(frame) }
        do {
            _ = try FrameCodec().decode(frame)
        } catch {
            #expect(error.kind == .unknownMessageType)
            #expect(error.offendingBytes == bytes)
        }
    }

    @Test func aDecompressionFailureCarriesTheCompressedPayload() throws {
        let decompressor = PayloadDecompressor(format: .deflate, dictionary: [1, 2, 3])
        let payload: [UInt8] = [0x05, 0xFF, 0xFF, 0xFF]
        do {
            _ = try decompressor.decompress(ByteBuffer(bytes: payload), allocator: ByteBufferAllocator())
            Issue.record("corrupt data inflated")
        } catch {
            #expect(error.kind == .decompressionFailed)
            #expect(error.offendingBytes == payload)
        }
    }

    @Test func equalityIsKindMessageAndRequestNotBytes() {
        let a = WireError(.limitExceeded, "x", offendingBytes: [1, 2])
        let b = WireError(.limitExceeded, "x")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != WireError(.malformedFrame, "x"))
        #expect(a.offendingBytesHex == "01 02")
        #expect(String(reflecting: a).contains("[bytes 01 02]"))
        #expect(a.description == "limitExceeded: x")
    }
}

@Suite("One list of error codes and limits")
struct ErrorCodeListTests {
    static let spec = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocol/SPEC.md")

    /// The rows `| code | name | ...` of the spec's section 10.
    static func specTable() throws -> [(code: UInt16, name: String)] {
        let text = try String(contentsOf: spec, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let start = try #require(lines.firstIndex { $0.hasPrefix("## 10. Error codes") })
        var rows: [(code: UInt16, name: String)] = []
        for line in lines[(start + 1)...] {
            if line.hasPrefix("## ") { break }
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 2, let code = UInt16(cells[0]), cells[1].hasPrefix("`"), cells[1].hasSuffix("`")
            else { continue }
            rows.append((code, String(cells[1].dropFirst().dropLast())))
        }
        return rows
    }

    @Test func theSwiftListIsTheSpecsTable() throws {
        let table = try Self.specTable()
        #expect(table.count >= 27)
        #expect(table.map(\.code) == ErrorCode.Known.allCases.map(\.rawValue))
        #expect(table.map(\.name) == ErrorCode.Known.allCases.map(\.name))
    }

    @Test func namesAndCodesGoBothWays() {
        for known in ErrorCode.Known.allCases {
            let code = ErrorCode(known)
            #expect(ErrorCode(name: known.name) == code)
            #expect(ErrorCode(rawValue: known.rawValue).name == known.name)
            #expect(code.known == known)
        }
        #expect(ErrorCode.seatsDoNotAddUp.name == "seatsDoNotAddUp")
        #expect(ErrorCode(rawValue: 999).name == "code 999")
        #expect(ErrorCode(rawValue: 999).known == nil)
        #expect(ErrorCode(name: "noSuchCode") == nil)
    }

    @Test func theModelsLimitsAreTheWires() {
        #expect(Election.maxCandidates == WireLimits.maxCandidates)
        #expect(Election.maxGSSCodeBytes == WireLimits.maxGSSCodeBytes)
        #expect(Election.maxSeatsBeforeNoteBytes == WireLimits.maxSeatsBeforeNoteBytes)
        #expect(WireLimits.maxControl == WireLimits.maxIndex + 1)
        #expect(Int(WireLimits.maxIndex) + 1 == WireLimits.maxDefinitionEntries)
    }
}
