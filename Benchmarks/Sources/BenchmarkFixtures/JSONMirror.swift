import ElectionModel
import HubWire

/// Codable mirrors of the messages the codec benchmarks compare: the fields of Protocol/SPEC.md's SUBMIT,
/// DELTA_BATCH, SNAPSHOT and contest record, named as a JSON API would name them. The baseline measures
/// `JSONEncoder().encode(JSONMirror.X(message))` and `JSONDecoder().decode(...).model()`, so that both sides start
/// and end at the same model values the binary codec takes and returns.
public enum JSONMirror {
    public struct PartyCount: Codable, Hashable, Sendable {
        public var party: Int
        public var count: UInt32
    }

    public struct Declaration: Codable, Hashable, Sendable {
        public var contestID: UInt32
        public var revision: UInt32
        public var seats: [PartyCount]
        public var votes: [PartyCount]?
        public var turnoutBasisPoints: UInt16?
        public var candidateVotes: [UInt32]?
        public var declaredAt: UInt64
    }

    public struct Submit: Codable, Hashable, Sendable {
        public var requestID: UInt64
        public var declaration: Declaration
    }

    public enum Outcome: String, Codable, Hashable, Sendable {
        case unknown, hold, gain, noChange, lostToNoOverallControl
    }

    public struct Declared: Codable, Hashable, Sendable {
        /// The controlling party's index; absent for no overall control.
        public var control: Int?
        public var outcome: Outcome
        public var seats: [PartyCount]
        public var votes: [PartyCount]?
        public var turnoutBasisPoints: UInt16?
        public var candidateVotes: [UInt32]?
        public var declaredAt: UInt64
        public var deskID: String
    }

    public struct Withdrawn: Codable, Hashable, Sendable {
        public var withdrawnAt: UInt64
        public var deskID: String
        public var reason: String
    }

    /// Exactly one of `declared` and `withdrawn`.
    public struct Record: Codable, Hashable, Sendable {
        public var contestID: UInt32
        public var revision: UInt32
        public var declared: Declared?
        public var withdrawn: Withdrawn?
    }

    public struct SequencedRecord: Codable, Hashable, Sendable {
        public var sequence: UInt64
        public var record: Record
    }

    public struct DeltaBatch: Codable, Hashable, Sendable {
        public var firstSequence: UInt64
        public var lastSequence: UInt64
        public var conflated: Bool
        public var events: [SequencedRecord]
        public var checksum: UInt64
    }

    public enum SnapshotReason: String, Codable, Hashable, Sendable {
        case newSubscription, resumeUnavailable, fellBehind
    }

    public struct Snapshot: Codable, Hashable, Sendable {
        public var sequence: UInt64
        public var reason: SnapshotReason
        public var records: [Record]
        public var checksum: UInt64
    }

    public struct InvalidMessage: Error, CustomStringConvertible {
        public var description: String
    }
}

// MARK: From the model

extension JSONMirror.PartyCount {
    public init(_ count: ElectionModel.PartyCount) {
        self.init(party: count.party.rawValue, count: count.count)
    }
    public var model: ElectionModel.PartyCount { .init(party: PartyIndex(party), count: count) }
}

extension JSONMirror.Declaration {
    public init(_ declaration: ElectionModel.Declaration) {
        self.init(
            contestID: declaration.contestID.rawValue, revision: declaration.revision,
            seats: declaration.seats.map(JSONMirror.PartyCount.init),
            votes: declaration.votes?.map(JSONMirror.PartyCount.init),
            turnoutBasisPoints: declaration.turnoutBasisPoints, candidateVotes: declaration.candidateVotes,
            declaredAt: declaration.declaredAt)
    }

    public func model() -> ElectionModel.Declaration {
        .init(
            contestID: ContestID(contestID), revision: revision, seats: seats.map(\.model),
            votes: votes?.map(\.model), turnoutBasisPoints: turnoutBasisPoints, candidateVotes: candidateVotes,
            declaredAt: declaredAt)
    }
}

extension JSONMirror.Submit {
    public init(_ submit: HubWire.Submit) {
        self.init(requestID: submit.requestID, declaration: .init(submit.declaration))
    }
    public func model() -> HubWire.Submit { .init(requestID: requestID, declaration: declaration.model()) }
}

extension JSONMirror.Outcome {
    public init(_ outcome: ElectionModel.Outcome) {
        switch outcome {
        case .unknown: self = .unknown
        case .hold: self = .hold
        case .gain: self = .gain
        case .noChange: self = .noChange
        case .lostToNoOverallControl: self = .lostToNoOverallControl
        }
    }

    public var model: ElectionModel.Outcome {
        switch self {
        case .unknown: return .unknown
        case .hold: return .hold
        case .gain: return .gain
        case .noChange: return .noChange
        case .lostToNoOverallControl: return .lostToNoOverallControl
        }
    }
}

extension JSONMirror.Record {
    public init(_ record: ContestRecord) {
        var declared: JSONMirror.Declared?
        var withdrawn: JSONMirror.Withdrawn?
        switch record.state {
        case .declared(let result):
            var control: Int?
            if case .party(let party) = result.control { control = party.rawValue }
            declared = JSONMirror.Declared(
                control: control, outcome: .init(result.outcome), seats: result.seats.map(JSONMirror.PartyCount.init),
                votes: result.votes?.map(JSONMirror.PartyCount.init), turnoutBasisPoints: result.turnoutBasisPoints,
                candidateVotes: result.candidateVotes, declaredAt: result.declaredAt, deskID: result.deskID)
        case .withdrawn(let result):
            withdrawn = JSONMirror.Withdrawn(
                withdrawnAt: result.withdrawnAt, deskID: result.deskID, reason: result.reason)
        }
        self.init(
            contestID: record.contestID.rawValue, revision: record.revision, declared: declared, withdrawn: withdrawn)
    }

    public func model() throws(JSONMirror.InvalidMessage) -> ContestRecord {
        let state: ContestRecord.State
        switch (declared, withdrawn) {
        case (let declared?, nil):
            state = .declared(
                DeclaredResult(
                    control: declared.control.map { .party(PartyIndex($0)) } ?? .noOverallControl,
                    outcome: declared.outcome.model, seats: declared.seats.map(\.model),
                    votes: declared.votes?.map(\.model), turnoutBasisPoints: declared.turnoutBasisPoints,
                    candidateVotes: declared.candidateVotes, declaredAt: declared.declaredAt,
                    deskID: declared.deskID))
        case (nil, let withdrawn?):
            state = .withdrawn(
                WithdrawnResult(withdrawnAt: withdrawn.withdrawnAt, deskID: withdrawn.deskID, reason: withdrawn.reason))
        default:
            throw JSONMirror.InvalidMessage(description: "a record needs exactly one of declared and withdrawn")
        }
        return ContestRecord(contestID: ContestID(contestID), revision: revision, state: state)
    }
}

extension JSONMirror.DeltaBatch {
    public init(_ batch: HubWire.DeltaBatch) {
        self.init(
            firstSequence: batch.firstSequence, lastSequence: batch.lastSequence, conflated: batch.conflated,
            events: batch.events.map { JSONMirror.SequencedRecord(sequence: $0.sequence, record: .init($0.record)) },
            checksum: batch.checksum)
    }

    public func model() throws(JSONMirror.InvalidMessage) -> HubWire.DeltaBatch {
        var modelEvents: [HubWire.SequencedRecord] = []
        modelEvents.reserveCapacity(events.count)
        for event in events {
            modelEvents.append(HubWire.SequencedRecord(sequence: event.sequence, record: try event.record.model()))
        }
        return .init(
            firstSequence: firstSequence, lastSequence: lastSequence, conflated: conflated, events: modelEvents,
            checksum: checksum)
    }
}

extension JSONMirror.Snapshot {
    public init(_ snapshot: HubWire.Snapshot) {
        let reason: JSONMirror.SnapshotReason
        switch snapshot.reason {
        case .newSubscription: reason = .newSubscription
        case .resumeUnavailable: reason = .resumeUnavailable
        case .fellBehind: reason = .fellBehind
        }
        self.init(
            sequence: snapshot.sequence, reason: reason, records: snapshot.records.map(JSONMirror.Record.init),
            checksum: snapshot.checksum)
    }

    public func model() throws(JSONMirror.InvalidMessage) -> HubWire.Snapshot {
        let modelReason: SnapshotReason
        switch reason {
        case .newSubscription: modelReason = .newSubscription
        case .resumeUnavailable: modelReason = .resumeUnavailable
        case .fellBehind: modelReason = .fellBehind
        }
        var modelRecords: [ContestRecord] = []
        modelRecords.reserveCapacity(records.count)
        for record in records { modelRecords.append(try record.model()) }
        return .init(sequence: sequence, reason: modelReason, records: modelRecords, checksum: checksum)
    }
}
