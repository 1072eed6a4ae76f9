import ElectionModel
import NIOCore

/// SUBMIT (spec 6.4): a desk's declaration. A field that fails after the request id is answered with REJECT.
public struct Submit: Hashable, Sendable {
    public var requestID: UInt64
    public var declaration: Declaration
    public init(requestID: UInt64, declaration: Declaration) {
        self.requestID = requestID
        self.declaration = declaration
    }
}

extension Submit: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        Self.encode(declaration, into: &buffer)
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> Submit {
        let requestID = try reader.varint("submit.requestID")
        do throws(WireError) {
            return Submit(requestID: requestID, declaration: try decodeDeclaration(from: &reader))
        } catch {
            throw error.about(requestID: requestID)
        }
    }

    /// The declaration as submitted (spec 4.3).
    static func encode(_ declaration: Declaration, into buffer: inout ByteBuffer) {
        buffer.writeVarint(declaration.contestID.rawValue)
        buffer.writeVarint(declaration.revision)
        let fields = OptionalFields(
            votes: declaration.votes != nil, turnout: declaration.turnoutBasisPoints != nil,
            candidateVotes: declaration.candidateVotes != nil)
        buffer.writeVarint(fields.rawValue)
        RecordCodec.writeCounts(declaration.seats, into: &buffer)
        if let votes = declaration.votes { RecordCodec.writeCounts(votes, into: &buffer) }
        if let turnout = declaration.turnoutBasisPoints { buffer.writeVarint(turnout) }
        if let candidateVotes = declaration.candidateVotes {
            RecordCodec.writeCandidateVotes(candidateVotes, into: &buffer)
        }
        buffer.writeVarint(declaration.declaredAt)
    }

    static func decodeDeclaration(from reader: inout WireReader) throws(WireError) -> Declaration {
        let contestID = ContestID(try reader.nonZeroVarint32("declaration.contestID"))
        let revision = try reader.nonZeroVarint32("declaration.revision")
        let fields = try OptionalFields.read(&reader, "declaration.fields")
        let seats = try RecordCodec.readCounts(&reader, "declaration.seats", canonical: false)
        let votes =
            fields.contains(.votes) ? try RecordCodec.readCounts(&reader, "declaration.votes", canonical: false) : nil
        let turnout =
            fields.contains(.turnout)
            ? UInt16(try reader.varint("declaration.turnout", max: WireLimits.maxWireTurnout)) : nil
        let candidateVotes =
            fields.contains(.candidateVotes)
            ? try RecordCodec.readCandidateVotes(&reader, "declaration.candidateVotes") : nil
        let declaredAt = try reader.varint("declaration.declaredAt")
        return Declaration(
            contestID: contestID, revision: revision, seats: seats, votes: votes, turnoutBasisPoints: turnout,
            candidateVotes: candidateVotes, declaredAt: declaredAt)
    }
}
