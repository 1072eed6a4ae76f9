import NIOCore

/// One message for the browsers, encoded once and shared by every client that receives it: as a server-sent event
/// and as a WebSocket text message (`openapi.yaml` describes both).
public struct WebEvent: Sendable {
    public enum Kind: String, Sendable {
        /// One hub event: a declaration, correction or withdrawal, with the scoreboard after it.
        case change
        /// The whole state: the first event of every stream, and whenever a client cannot resume.
        case resync
        /// The state of results-web's own connection to the hub.
        case feed
    }

    public let kind: Kind
    /// The hub's sequence number the event brings the client to (the SSE `id:`); nil for `feed`.
    public let id: UInt64?
    /// The JSON object.
    public let data: ByteBuffer
    /// `event: change\nid: 43\ndata: {...}\n\n`.
    public let serverSentEvent: ByteBuffer
    /// `{"event":"change","data":{...}}`.
    public let webSocketMessage: ByteBuffer

    public init(kind: Kind, id: UInt64?, data: ByteBuffer) {
        self.kind = kind
        self.id = id
        self.data = data
        var event = ByteBuffer()
        event.reserveCapacity(data.readableBytes + 40)
        event.writeString("event: \(kind.rawValue)\n")
        if let id { event.writeString("id: \(id)\n") }
        // The JSON has no newline in it (JSONEncoder escapes them in strings), so it is one `data:` line.
        event.writeString("data: ")
        event.writeImmutableBuffer(data)
        event.writeString("\n\n")
        serverSentEvent = event
        var message = ByteBuffer()
        message.reserveCapacity(data.readableBytes + 30)
        message.writeString("{\"event\":\"\(kind.rawValue)\",\"data\":")
        message.writeImmutableBuffer(data)
        message.writeString("}")
        webSocketMessage = message
    }

    /// The bytes this event holds, for the history's bound.
    var size: Int { data.readableBytes + serverSentEvent.readableBytes + webSocketMessage.readableBytes }
}

/// A JSON object assembled from fragments that are already JSON, so that a contest or the scoreboard is encoded once
/// and placed in every payload that carries it. Keys are written in the order given.
struct JSONObjectWriter {
    private(set) var buffer = ByteBuffer()
    private var first = true

    init(capacity: Int = 256) {
        buffer.reserveCapacity(capacity)
        buffer.writeString("{")
    }

    /// `key` must need no escaping (the keys here are fixed identifiers).
    mutating func field(_ key: String, json: ByteBuffer) {
        writeKey(key)
        buffer.writeImmutableBuffer(json)
    }

    mutating func field(_ key: String, raw: String) {
        writeKey(key)
        buffer.writeString(raw)
    }

    /// An array of fragments.
    mutating func field(_ key: String, array elements: some Sequence<ByteBuffer>) {
        writeKey(key)
        buffer.writeString("[")
        var separator = false
        for element in elements {
            if separator { buffer.writeString(",") }
            buffer.writeImmutableBuffer(element)
            separator = true
        }
        buffer.writeString("]")
    }

    /// The fields of an encoded object, spread into this one.
    mutating func fields(of object: ByteBuffer) {
        var inner = object
        guard inner.readableBytes > 2 else { return }
        inner.moveReaderIndex(forwardBy: 1)
        inner = inner.getSlice(at: inner.readerIndex, length: inner.readableBytes - 1)!
        if !first { buffer.writeString(",") }
        buffer.writeImmutableBuffer(inner)
        first = false
    }

    mutating func finish() -> ByteBuffer {
        buffer.writeString("}")
        return buffer
    }

    private mutating func writeKey(_ key: String) {
        if !first { buffer.writeString(",") }
        first = false
        buffer.writeString("\"\(key)\":")
    }
}
