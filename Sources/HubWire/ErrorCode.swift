import ElectionModel

/// An error code as the spec's section 10 lists it. Unknown codes survive decoding so that a newer peer's code can
/// still be shown; `isConnectionError` classifies them by range.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normal = ErrorCode(rawValue: 0)
    public static let malformedFrame = ErrorCode(rawValue: 1)
    public static let frameTooLarge = ErrorCode(rawValue: 2)
    public static let unknownMessageType = ErrorCode(rawValue: 3)
    public static let unexpectedMessage = ErrorCode(rawValue: 4)
    public static let unsupportedVersion = ErrorCode(rawValue: 5)
    public static let notThisProtocol = ErrorCode(rawValue: 6)
    public static let authenticationFailed = ErrorCode(rawValue: 7)
    public static let decompressionFailed = ErrorCode(rawValue: 8)
    public static let decompressedTooLarge = ErrorCode(rawValue: 9)
    public static let limitExceeded = ErrorCode(rawValue: 10)
    public static let handshakeTimeout = ErrorCode(rawValue: 11)
    public static let idleTimeout = ErrorCode(rawValue: 12)
    public static let slowConsumer = ErrorCode(rawValue: 13)
    public static let shuttingDown = ErrorCode(rawValue: 14)
    public static let tooManyConnections = ErrorCode(rawValue: 15)
    public static let internalError = ErrorCode(rawValue: 16)
    public static let invalidResume = ErrorCode(rawValue: 17)
    public static let unknownContest = ErrorCode(rawValue: 100)
    public static let unknownParty = ErrorCode(rawValue: 101)
    public static let seatsDoNotAddUp = ErrorCode(rawValue: 102)
    public static let invalidDeclaration = ErrorCode(rawValue: 103)
    public static let staleRevision = ErrorCode(rawValue: 104)
    public static let revisionConflict = ErrorCode(rawValue: 105)
    public static let deskNotAllowed = ErrorCode(rawValue: 106)
    public static let nothingToWithdraw = ErrorCode(rawValue: 107)
    public static let storeUnavailable = ErrorCode(rawValue: 108)

    static let names: [UInt16: String] = [
        0: "normal", 1: "malformedFrame", 2: "frameTooLarge", 3: "unknownMessageType", 4: "unexpectedMessage",
        5: "unsupportedVersion", 6: "notThisProtocol", 7: "authenticationFailed", 8: "decompressionFailed",
        9: "decompressedTooLarge", 10: "limitExceeded", 11: "handshakeTimeout", 12: "idleTimeout",
        13: "slowConsumer", 14: "shuttingDown", 15: "tooManyConnections", 16: "internalError", 17: "invalidResume",
        100: "unknownContest", 101: "unknownParty", 102: "seatsDoNotAddUp", 103: "invalidDeclaration",
        104: "staleRevision", 105: "revisionConflict", 106: "deskNotAllowed", 107: "nothingToWithdraw",
        108: "storeUnavailable",
    ]

    /// The spec's name for the code, e.g. "seatsDoNotAddUp"; "code N" for a code this version does not know.
    public var name: String { Self.names[rawValue] ?? "code \(rawValue)" }

    public init?(name: String) {
        guard let entry = Self.names.first(where: { $0.value == name }) else { return nil }
        self.init(rawValue: entry.key)
    }

    /// Below 100 the connection is over; 100 and above, one request failed.
    public var isConnectionError: Bool { rawValue < 100 }

    public var description: String { name }
}

extension DeclarationError {
    /// The wire code a rejection carries.
    public var code: ErrorCode {
        switch self {
        case .unknownContest: return .unknownContest
        case .unknownParty: return .unknownParty
        case .seatsDoNotAddUp, .notOneWinner: return .seatsDoNotAddUp
        case .duplicateParty, .negativeCount, .turnoutOutOfRange, .candidateVotesMismatch, .candidateVotesForCouncil,
            .winnerMismatch, .invalidRevision:
            return .invalidDeclaration
        case .staleRevision: return .staleRevision
        case .revisionConflict: return .revisionConflict
        case .deskNotAllowed: return .deskNotAllowed
        case .nothingToWithdraw: return .nothingToWithdraw
        }
    }
}
