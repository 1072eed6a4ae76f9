import NIOCore

/// RESP2, the Redis protocol, as far as `hub-load compare` needs it: commands out, replies in. There is no Redis
/// client package here, and RESP2 is small: a command is an array of bulk strings, a reply one of five types.
public enum RESP {
    /// One reply.
    public enum Value: Hashable, Sendable {
        case simple(String)
        case error(String)
        case integer(Int)
        /// nil: the null bulk string (`$-1`).
        case bulk(ByteBuffer?)
        /// nil: the null array (`*-1`).
        case array([Value]?)
    }

    /// Writes `*N\r\n$len\r\narg\r\n…`.
    public static func writeCommand(_ arguments: [String], into buffer: inout ByteBuffer) {
        buffer.writeString("*\(arguments.count)\r\n")
        for argument in arguments {
            buffer.writeString("$\(argument.utf8.count)\r\n")
            buffer.writeString(argument)
            buffer.writeString("\r\n")
        }
    }

    /// A reply that is not RESP2.
    public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The longest bulk string or array accepted: a bound, so that a confused peer cannot make the tool allocate
    /// without limit.
    static let maximumLength = 64 << 20

    /// Reads one whole reply from the front of `buffer`, or returns nil (leaving the buffer as it was) when the
    /// reply has not fully arrived yet.
    public static func readValue(from buffer: inout ByteBuffer) throws(ProtocolError) -> Value? {
        var copy = buffer
        guard let value = try parse(&copy, depth: 0) else { return nil }
        buffer = copy
        return value
    }

    private static func parse(_ buffer: inout ByteBuffer, depth: Int) throws(ProtocolError) -> Value? {
        guard depth < 8 else { throw ProtocolError(description: "replies nested deeper than 8") }
        guard let type = buffer.readInteger(as: UInt8.self), let line = readLine(&buffer) else { return nil }
        switch type {
        case UInt8(ascii: "+"): return .simple(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let number = Int(line) else { throw ProtocolError(description: "integer reply \"\(line)\"") }
            return .integer(number)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1, length <= maximumLength else {
                throw ProtocolError(description: "bulk length \"\(line)\"")
            }
            if length == -1 { return .bulk(nil) }
            guard buffer.readableBytes >= length + 2, let bytes = buffer.readSlice(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            return .bulk(bytes)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1, count <= maximumLength else {
                throw ProtocolError(description: "array length \"\(line)\"")
            }
            if count == -1 { return .array(nil) }
            var elements: [Value] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                guard let element = try parse(&buffer, depth: depth + 1) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw ProtocolError(description: "unknown reply type \(type)")
        }
    }

    /// The text up to `\r\n`, which is consumed; nil if the line is not complete.
    private static func readLine(_ buffer: inout ByteBuffer) -> String? {
        guard let end = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\r")),
            end + 1 < buffer.writerIndex
        else { return nil }
        let line = buffer.readString(length: end - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }
}

/// A 200-byte message body that carries its own number and send time, so that a subscriber checks it received
/// every message in order and measures publish-to-receipt latency without any table on the side.
public enum StampedMessage {
    public static let size = 200

    /// 16 hex digits of the sequence number, 16 of the send time (nanoseconds, monotonic), then filler.
    public static func make(sequence: UInt64, sentAt: UInt64) -> String {
        let head = hex(sequence) + hex(sentAt)
        return head + String(repeating: "x", count: size - head.utf8.count)
    }

    /// (sequence, sentAt) from a body made by `make`.
    public static func read(_ body: ByteBuffer) -> (sequence: UInt64, sentAt: UInt64)? {
        guard body.readableBytes >= 32, let head = body.getString(at: body.readerIndex, length: 32) else {
            return nil
        }
        guard let sequence = UInt64(head.prefix(16), radix: 16), let sentAt = UInt64(head.suffix(16), radix: 16)
        else { return nil }
        return (sequence, sentAt)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
