import ElectionModel
import HubWire
import ResultsProto

/// Conversions between the model and the protobuf messages of `Proto/results.proto`. The baseline measures
/// `Resultshub_Bench_X(message).serializedBytes()` and `Resultshub_Bench_X(serializedBytes:).model()`, so that both
/// sides start and end at the same model values the binary codec takes and returns.
public struct InvalidProtobufMessage: Error, CustomStringConvertible {
    public var description: String
}

extension Resultshub_Bench_PartyCount {
    public init(_ count: PartyCount) {
        self.init()
        party = UInt32(count.party.rawValue)
        self.count = count.count
    }
    public var model: PartyCount { PartyCount(party: PartyIndex(Int(party)), count: count) }
}

extension Resultshub_Bench_PartyCounts {
    public init(_ counts: [PartyCount]) {
        self.init()
        self.counts = counts.map(Resultshub_Bench_PartyCount.init)
    }
}

extension Resultshub_Bench_CandidateVotes {
    public init(_ votes: [UInt32]) {
        self.init()
        self.votes = votes
    }
}

extension Resultshub_Bench_Declaration {
    public init(_ declaration: Declaration) {
        self.init()
        contestID = declaration.contestID.rawValue
        revision = declaration.revision
        seats = declaration.seats.map(Resultshub_Bench_PartyCount.init)
        if let votes = declaration.votes { self.votes = .init(votes) }
        if let turnout = declaration.turnoutBasisPoints { turnoutBasisPoints = UInt32(turnout) }
        if let candidateVotes = declaration.candidateVotes { self.candidateVotes = .init(candidateVotes) }
        declaredAt = declaration.declaredAt
    }

    public func model() throws(InvalidProtobufMessage) -> Declaration {
        Declaration(
            contestID: ContestID(contestID), revision: revision, seats: seats.map(\.model),
            votes: hasVotes ? votes.counts.map(\.model) : nil,
            turnoutBasisPoints: hasTurnoutBasisPoints ? try turnout(turnoutBasisPoints) : nil,
            candidateVotes: hasCandidateVotes ? candidateVotes.votes : nil, declaredAt: declaredAt)
    }
}

private func turnout(_ value: UInt32) throws(InvalidProtobufMessage) -> UInt16 {
    guard let turnout = UInt16(exactly: value) else {
        throw InvalidProtobufMessage(description: "turnout \(value) is out of range")
    }
    return turnout
}

extension Resultshub_Bench_Submit {
    public init(_ submit: Submit) {
        self.init()
        requestID = submit.requestID
        declaration = .init(submit.declaration)
    }

    public func model() throws(InvalidProtobufMessage) -> Submit {
        guard hasDeclaration else { throw InvalidProtobufMessage(description: "SUBMIT without a declaration") }
        return Submit(requestID: requestID, declaration: try declaration.model())
    }
}

extension Resultshub_Bench_Outcome {
    public init(_ outcome: Outcome) {
        switch outcome {
        case .unknown: self = .unknown
        case .hold: self = .hold
        case .gain: self = .gain
        case .noChange: self = .noChange
        case .lostToNoOverallControl: self = .lostToNoOverallControl
        }
    }

    public func model() throws(InvalidProtobufMessage) -> Outcome {
        switch self {
        case .unknown: return .unknown
        case .hold: return .hold
        case .gain: return .gain
        case .noChange: return .noChange
        case .lostToNoOverallControl: return .lostToNoOverallControl
        case .UNRECOGNIZED(let value): throw InvalidProtobufMessage(description: "outcome \(value) is unknown")
        }
    }
}

extension Resultshub_Bench_ContestRecord {
    public init(_ record: ContestRecord) {
        self.init()
        contestID = record.contestID.rawValue
        revision = record.revision
        switch record.state {
        case .declared(let result):
            var declared = Resultshub_Bench_DeclaredResult()
            if case .party(let party) = result.control { declared.control = UInt32(party.rawValue) + 1 }
            declared.outcome = .init(result.outcome)
            declared.seats = result.seats.map(Resultshub_Bench_PartyCount.init)
            if let votes = result.votes { declared.votes = .init(votes) }
            if let turnout = result.turnoutBasisPoints { declared.turnoutBasisPoints = UInt32(turnout) }
            if let candidateVotes = result.candidateVotes { declared.candidateVotes = .init(candidateVotes) }
            declared.declaredAt = result.declaredAt
            declared.deskID = result.deskID
            state = .declared(declared)
        case .withdrawn(let result):
            var withdrawn = Resultshub_Bench_WithdrawnResult()
            withdrawn.withdrawnAt = result.withdrawnAt
            withdrawn.deskID = result.deskID
            withdrawn.reason = result.reason
            state = .withdrawn(withdrawn)
        }
    }

    public func model() throws(InvalidProtobufMessage) -> ContestRecord {
        switch state {
        case .declared(let declared)?:
            let result = DeclaredResult(
                control: declared.control == 0 ? .noOverallControl : .party(PartyIndex(Int(declared.control - 1))),
                outcome: try declared.outcome.model(), seats: declared.seats.map(\.model),
                votes: declared.hasVotes ? declared.votes.counts.map(\.model) : nil,
                turnoutBasisPoints: declared.hasTurnoutBasisPoints ? try turnout(declared.turnoutBasisPoints) : nil,
                candidateVotes: declared.hasCandidateVotes ? declared.candidateVotes.votes : nil,
                declaredAt: declared.declaredAt, deskID: declared.deskID)
            return ContestRecord(contestID: ContestID(contestID), revision: revision, state: .declared(result))
        case .withdrawn(let withdrawn)?:
            let result = WithdrawnResult(
                withdrawnAt: withdrawn.withdrawnAt, deskID: withdrawn.deskID, reason: withdrawn.reason)
            return ContestRecord(contestID: ContestID(contestID), revision: revision, state: .withdrawn(result))
        case nil:
            throw InvalidProtobufMessage(description: "a record without a state")
        }
    }
}

extension Resultshub_Bench_DeltaBatch {
    public init(_ batch: DeltaBatch) {
        self.init()
        firstSequence = batch.firstSequence
        lastSequence = batch.lastSequence
        conflated = batch.conflated
        events = batch.events.map { event in
            var sequenced = Resultshub_Bench_SequencedRecord()
            sequenced.sequence = event.sequence
            sequenced.record = .init(event.record)
            return sequenced
        }
        checksum = batch.checksum
    }

    public func model() throws(InvalidProtobufMessage) -> DeltaBatch {
        var modelEvents: [SequencedRecord] = []
        modelEvents.reserveCapacity(events.count)
        for event in events {
            guard event.hasRecord else { throw InvalidProtobufMessage(description: "an event without a record") }
            modelEvents.append(SequencedRecord(sequence: event.sequence, record: try event.record.model()))
        }
        return DeltaBatch(
            firstSequence: firstSequence, lastSequence: lastSequence, conflated: conflated, events: modelEvents,
            checksum: checksum)
    }
}

extension Resultshub_Bench_Snapshot {
    public init(_ snapshot: Snapshot) {
        self.init()
        sequence = snapshot.sequence
        switch snapshot.reason {
        case .newSubscription: reason = .newSubscription
        case .resumeUnavailable: reason = .resumeUnavailable
        case .fellBehind: reason = .fellBehind
        }
        records = snapshot.records.map(Resultshub_Bench_ContestRecord.init)
        checksum = snapshot.checksum
    }

    public func model() throws(InvalidProtobufMessage) -> Snapshot {
        let modelReason: SnapshotReason
        switch reason {
        case .newSubscription: modelReason = .newSubscription
        case .resumeUnavailable: modelReason = .resumeUnavailable
        case .fellBehind: modelReason = .fellBehind
        case .unspecified, .UNRECOGNIZED:
            throw InvalidProtobufMessage(description: "snapshot reason \(reason.rawValue) is unknown")
        }
        var modelRecords: [ContestRecord] = []
        modelRecords.reserveCapacity(records.count)
        for record in records { modelRecords.append(try record.model()) }
        return Snapshot(sequence: sequence, reason: modelReason, records: modelRecords, checksum: checksum)
    }
}
