import NIOCore
import Testing

@testable import HubLoad

/// The RESP2 subset `hub-load compare` speaks to its redis-server.
@Suite struct RESPTests {
    @Test func aCommandIsAnArrayOfBulkStrings() {
        var buffer = ByteBuffer()
        RESP.writeCommand(["PUBLISH", "hub-load", "héllo"], into: &buffer)
        #expect(String(buffer: buffer) == "*3\r\n$7\r\nPUBLISH\r\n$8\r\nhub-load\r\n$6\r\nhéllo\r\n")
    }

    @Test func everyReplyTypeIsRead() throws {
        var buffer = ByteBuffer(
            string: "+OK\r\n-ERR no\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n*-1\r\n")
        #expect(try RESP.readValue(from: &buffer) == .simple("OK"))
        #expect(try RESP.readValue(from: &buffer) == .error("ERR no"))
        #expect(try RESP.readValue(from: &buffer) == .integer(42))
        #expect(try RESP.readValue(from: &buffer) == .bulk(ByteBuffer(string: "abc")))
        #expect(try RESP.readValue(from: &buffer) == .bulk(nil))
        #expect(
            try RESP.readValue(from: &buffer) == .array([.integer(1), .array([.bulk(ByteBuffer())])]))
        #expect(try RESP.readValue(from: &buffer) == .array(nil))
        #expect(buffer.readableBytes == 0)
    }

    /// A reply split anywhere is not read until it is whole, and nothing of it is consumed before.
    @Test func aPartialReplyWaitsForTheRest() throws {
        let whole = "*2\r\n$7\r\nmessage\r\n$5\r\nhello\r\n"
        for cut in 0..<whole.utf8.count {
            var buffer = ByteBuffer(string: String(whole.utf8.prefix(cut))!)
            #expect(try RESP.readValue(from: &buffer) == nil, "cut at \(cut)")
            #expect(buffer.readableBytes == cut)
        }
    }

    @Test func anUnknownTypeIsAnError() {
        var buffer = ByteBuffer(string: "?what\r\n")
        #expect(throws: RESP.ProtocolError.self) { try RESP.readValue(from: &buffer) }
    }

    @Test func aStampedMessageCarriesItsNumberAndTime() throws {
        let body = StampedMessage.make(sequence: 12345, sentAt: 987_654_321_000)
        #expect(body.utf8.count == StampedMessage.size)
        let stamp = try #require(StampedMessage.read(ByteBuffer(string: body)))
        #expect(stamp.sequence == 12345 && stamp.sentAt == 987_654_321_000)
    }
}
