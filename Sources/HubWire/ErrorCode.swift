import ElectionModel

/// An error code as the spec's section 10 lists it. Unknown codes survive decoding so that a newer peer's code can
/// still be shown; `isConnectionError` classifies them by range.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// Every code this version knows, each once: the raw value is its number and the case name is its spec name.
    /// A test checks this list against the table of the spec's section 10; there is no other table.
    public enum Known: UInt16, CaseIterable, Hashable, Sendable {
        case normal = 0
        case malformedFrame = 1
        case frameTooLarge = 2
        case unknownMessageType = 3
        case unexpectedMessage = 4
        case unsupportedVersion = 5
        case notThisProtocol = 6
        case authenticationFailed = 7
        case decompressionFailed = 8
        case decompressedTooLarge = 9
        case limitExceeded = 10
        case handshakeTimeout = 11
        case idleTimeout = 12
        case slowConsumer = 13
        case shuttingDown = 14
        case tooManyConnections = 15
        case internalError = 16
        case invalidResume = 17
        case unknownContest = 100
        case unknownParty = 101
        case seatsDoNotAddUp = 102
        case invalidDeclaration = 103
        case staleRevision = 104
        case revisionConflict = 105
        case deskNotAllowed = 106
        case nothingToWithdraw = 107
        case storeUnavailable = 108

        /// The spec's name, e.g. "seatsDoNotAddUp": the case's own name.
        public var name: String { String(describing: self) }
    }

    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ known: Known) { self.rawValue = known.rawValue }

    /// The code as this version knows it; nil for a code of a later version.
    public var known: Known? { Known(rawValue: rawValue) }

    // The codes as values, for `reject.code == .seatsDoNotAddUp`. Each names its `Known` case, so a number or a
    // name is never written twice.
    public static let normal = ErrorCode(.normal)
    public static let malformedFrame = ErrorCode(.malformedFrame)
    public static let frameTooLarge = ErrorCode(.frameTooLarge)
    public static let unknownMessageType = ErrorCode(.unknownMessageType)
    public static let unexpectedMessage = ErrorCode(.unexpectedMessage)
    public static let unsupportedVersion = ErrorCode(.unsupportedVersion)
    public static let notThisProtocol = ErrorCode(.notThisProtocol)
    public static let authenticationFailed = ErrorCode(.authenticationFailed)
    public static let decompressionFailed = ErrorCode(.decompressionFailed)
    public static let decompressedTooLarge = ErrorCode(.decompressedTooLarge)
    public static let limitExceeded = ErrorCode(.limitExceeded)
    public static let handshakeTimeout = ErrorCode(.handshakeTimeout)
    public static let idleTimeout = ErrorCode(.idleTimeout)
    public static let slowConsumer = ErrorCode(.slowConsumer)
    public static let shuttingDown = ErrorCode(.shuttingDown)
    public static let tooManyConnections = ErrorCode(.tooManyConnections)
    public static let internalError = ErrorCode(.internalError)
    public static let invalidResume = ErrorCode(.invalidResume)
    public static let unknownContest = ErrorCode(.unknownContest)
    public static let unknownParty = ErrorCode(.unknownParty)
    public static let seatsDoNotAddUp = ErrorCode(.seatsDoNotAddUp)
    public static let invalidDeclaration = ErrorCode(.invalidDeclaration)
    public static let staleRevision = ErrorCode(.staleRevision)
    public static let revisionConflict = ErrorCode(.revisionConflict)
    public static let deskNotAllowed = ErrorCode(.deskNotAllowed)
    public static let nothingToWithdraw = ErrorCode(.nothingToWithdraw)
    public static let storeUnavailable = ErrorCode(.storeUnavailable)

    /// The spec's name for the code, e.g. "seatsDoNotAddUp"; "code N" for a code this version does not know.
    public var name: String { known?.name ?? "code \(rawValue)" }

    public init?(name: String) {
        guard let known = Known.allCases.first(where: { $0.name == name }) else { return nil }
        self.init(known)
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
