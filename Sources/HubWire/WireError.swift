import NIOCore

/// A protocol violation found while decoding: its kind (which gives the spec's error code), a message naming the
/// field, and the bytes that failed.
///
/// Match a kind with `==` or in a `switch`, as with an enum: `error.kind == .frameTooLarge`,
/// `case .notThisProtocol(.tls):`. A peer that speaks another protocol is `error.foreignProtocol`.
///
/// `offendingBytes` are the first bytes (at most `WireLimits.maxOffendingBytes`) of the field or frame that failed,
/// for logs and tests; they are copied only when the error is made. Two errors are equal when their kind, message
/// and request id are; the bytes are evidence, not identity. They never hold a HELLO's credentials: a HELLO's
/// errors carry no bytes, and an error about a frame not yet parsed carries only its header. They are still the
/// peer's bytes: log them escaped or in hex (`offendingBytesHex`).
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong. A struct over a private enum, so that kinds can be added without breaking a caller's
    /// exhaustive `switch`; the kinds are its static members.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case truncated
            case malformedFrame
            case frameTooLarge
            case unknownMessageType
            case notThisProtocol(ForeignProtocol)
            case decompressionFailed
            case decompressedTooLarge
            case limitExceeded
            case checksumMismatch
            case sequenceGap
        }

        private let base: Base

        private init(_ base: Base) { self.base = base }

        /// The input ended inside a frame (only at end of stream; mid-stream the decoder waits for more bytes).
        public static let truncated = Kind(.truncated)
        public static let malformedFrame = Kind(.malformedFrame)
        public static let frameTooLarge = Kind(.frameTooLarge)
        public static let unknownMessageType = Kind(.unknownMessageType)
        public static let decompressionFailed = Kind(.decompressionFailed)
        public static let decompressedTooLarge = Kind(.decompressedTooLarge)
        public static let limitExceeded = Kind(.limitExceeded)
        /// A snapshot's checksum or an election's digest does not match what it describes.
        public static let checksumMismatch = Kind(.checksumMismatch)
        /// A delta batch does not continue from the last applied sequence number. A replica's failure, not the
        /// wire's: it goes once HubClient's replica has an error of its own (issue 11).
        public static let sequenceGap = Kind(.sequenceGap)

        /// The peer does not speak this protocol (spec 1.1); `detected` is what it seems to speak.
        public static func notThisProtocol(_ detected: ForeignProtocol) -> Kind { Kind(.notThisProtocol(detected)) }

        /// What a peer that does not speak this protocol seems to speak; nil for every other kind.
        public var foreignProtocol: ForeignProtocol? {
            if case .notThisProtocol(let detected) = base { return detected }
            return nil
        }

        /// The code to send in a GOODBYE for this kind.
        public var code: ErrorCode {
            switch base {
            case .truncated, .malformedFrame: return .malformedFrame
            case .frameTooLarge: return .frameTooLarge
            case .unknownMessageType: return .unknownMessageType
            case .notThisProtocol: return .notThisProtocol
            case .decompressionFailed: return .decompressionFailed
            case .decompressedTooLarge: return .decompressedTooLarge
            case .limitExceeded: return .limitExceeded
            case .checksumMismatch, .sequenceGap: return .internalError
            }
        }

        public var description: String {
            switch base {
            case .truncated: return "truncated"
            case .notThisProtocol(let detected): return "notThisProtocol(\(detected.rawValue))"
            case .checksumMismatch: return "checksumMismatch"
            case .sequenceGap: return "sequenceGap"
            default: return code.name
            }
        }
    }

    public private(set) var kind: Kind
    public var message: String
    /// The request a SUBMIT or WITHDRAW carried when the error is in a field after its request id. The frame
    /// itself was intact, so the hub answers that request with REJECT and keeps the connection (spec 6.4).
    public var requestID: UInt64?
    /// The first bytes of the field or frame that failed, at most `WireLimits.maxOffendingBytes`; empty when the
    /// error is not about bytes (a budget, or a replica's state).
    public private(set) var offendingBytes: [UInt8]

    /// An error with the bytes it is about (only their first `WireLimits.maxOffendingBytes` are kept).
    public init(_ kind: Kind, _ message: String, offendingBytes: some Collection<UInt8> = [UInt8]()) {
        self.kind = kind
        self.message = message
        self.offendingBytes = Array(offendingBytes.prefix(WireLimits.maxOffendingBytes))
    }

    /// An error about the bytes of `buffer` from `index` (which may lie before its reader index) on, keeping at
    /// most `limit` of them.
    init(
        _ kind: Kind, _ message: String, bytesOf buffer: ByteBuffer, from index: Int,
        limit: Int = WireLimits.maxOffendingBytes
    ) {
        self.init(kind, message, offendingBytes: Self.prefix(of: buffer, from: index, limit: limit))
    }

    /// An error about the readable bytes of `buffer`.
    init(_ kind: Kind, _ message: String, bytesOf buffer: ByteBuffer) {
        self.init(kind, message, bytesOf: buffer, from: buffer.readerIndex)
    }

    static func malformed(_ message: String, bytesOf buffer: ByteBuffer, from index: Int) -> WireError {
        WireError(.malformedFrame, message, bytesOf: buffer, from: index)
    }

    /// The same error about the readable bytes of `buffer`, unless it already has the bytes it is about.
    func about(bytesOf buffer: ByteBuffer) -> WireError {
        guard offendingBytes.isEmpty else { return self }
        var error = self
        error.offendingBytes = Self.prefix(of: buffer, from: buffer.readerIndex)
        return error
    }

    /// The same error without its bytes, for bytes that may hold credentials (a HELLO's principal and secret).
    func redacted() -> WireError {
        var error = self
        error.offendingBytes = []
        return error
    }

    /// The same error, as the answer to the request `requestID`.
    func about(requestID: UInt64) -> WireError {
        var error = self
        error.requestID = requestID
        return error
    }

    /// The code to send in a GOODBYE (or REJECT) for this error.
    public var code: ErrorCode { kind.code }

    /// What a peer that does not speak this protocol seems to speak (spec 1.1); nil for every other error.
    public var foreignProtocol: ForeignProtocol? { kind.foreignProtocol }

    public var description: String { "\(code.name): \(message)" }

    /// The description, the kind and the offending bytes in hex.
    public var debugDescription: String {
        var text = "WireError(\(kind)): \(message)"
        if let requestID { text += " [request \(requestID)]" }
        if !offendingBytes.isEmpty { text += " [bytes \(offendingBytesHex)]" }
        return text
    }

    /// `offendingBytes` as lower-case hex pairs separated by spaces, for a log line.
    public var offendingBytesHex: String {
        offendingBytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
    }

    public static func == (lhs: WireError, rhs: WireError) -> Bool {
        lhs.kind == rhs.kind && lhs.message == rhs.message && lhs.requestID == rhs.requestID
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(message)
        hasher.combine(requestID)
    }

    /// At most `WireLimits.maxOffendingBytes` of `buffer` from `index`. Only called when an error is made.
    @inline(never)
    private static func prefix(
        of buffer: ByteBuffer, from index: Int, limit: Int = WireLimits.maxOffendingBytes
    ) -> [UInt8] {
        guard index >= 0, index <= buffer.writerIndex else { return [] }
        var from = buffer
        from.moveReaderIndex(to: index)
        return from.readBytes(length: min(from.readableBytes, limit, WireLimits.maxOffendingBytes)) ?? []
    }
}

/// What a connection that does not speak this protocol seems to speak (spec 1.1).
public enum ForeignProtocol: String, Hashable, Sendable {
    case tls
    case http
    case unknown
}
