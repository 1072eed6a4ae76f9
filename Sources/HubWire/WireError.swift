/// A protocol violation found while decoding, with the spec's error code and a message naming the field.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// The input ended inside a frame (only at end of stream; mid-stream the decoder waits for more bytes).
        case truncated
        case malformedFrame
        case frameTooLarge
        case unknownMessageType
        case notThisProtocol(DetectedProtocol)
        case decompressionFailed
        case decompressedTooLarge
        case limitExceeded
        /// A snapshot's or batch's checksum does not match the state it describes.
        case checksumMismatch
        /// A delta batch does not continue from the last applied sequence number.
        case sequenceGap
    }

    public var kind: Kind
    public var message: String
    /// The request a SUBMIT or WITHDRAW carried when the error is in a field after its request id. The frame
    /// itself was intact, so the hub answers that request with REJECT and keeps the connection (spec 6.4).
    public var requestID: UInt64?

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The same error, as the answer to the request `requestID`.
    func about(requestID: UInt64) -> WireError {
        var error = self
        error.requestID = requestID
        return error
    }

    /// The code to send in a GOODBYE for this error.
    public var code: ErrorCode {
        switch kind {
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

    public var description: String { "\(code.name): \(message)" }

    static func malformed(_ message: String) -> WireError { WireError(.malformedFrame, message) }
    static func limit(_ message: String) -> WireError { WireError(.limitExceeded, message) }
}

/// What a connection that does not speak this protocol seems to speak (spec 1.1).
public enum DetectedProtocol: String, Hashable, Sendable {
    case tls
    case http
    case unknown
}
