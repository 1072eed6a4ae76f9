import NIOCore

/// ELECTION (spec 6.15): the answer to an election QUERY, and the definition a subscriber gets first (5.1).
public struct ElectionAnswer: Hashable, Sendable {
    public var requestID: UInt64
    public var digest: UInt64
    public var definition: ElectionDefinition
    public init(requestID: UInt64, digest: UInt64, definition: ElectionDefinition) {
        self.requestID = requestID
        self.digest = digest
        self.definition = definition
    }
}

extension ElectionAnswer: MessagePayload {
    func encode(into buffer: inout ByteBuffer) {
        buffer.writeVarint(requestID)
        buffer.writeInteger(digest)
        let start = buffer.writerIndex
        definition.encode(into: &buffer)
        // Protocol 1.1 (spec 6.15): H of the whole definition, core and details, after it.
        let whole = buffer.getSlice(at: start, length: buffer.writerIndex - start)!
        buffer.writeInteger(StateHash.hash(whole.readableBytesView))
    }

    static func decode(from reader: inout WireReader) throws(WireError) -> ElectionAnswer {
        let requestID = try reader.varint("election.requestID")
        let digest = try reader.u64("election.digest")
        let digestStart = reader.fieldStart
        let fromDefinition = reader.buffer
        var definition = try ElectionDefinition.decode(from: &reader)
        let coreLength = fromDefinition.readableBytes - reader.remaining
        guard StateHash.hash(fromDefinition.readableBytesView.prefix(coreLength)) == digest else {
            throw reader.error(
                .checksumMismatch, "election.digest is not H of the definition that follows it", from: digestStart)
        }
        // Protocol 1.1: the details section and the digest of the whole definition; a 1.0 hub's ends here.
        if reader.remaining > 0 {
            try definition.decodeDetails(from: &reader)
            let definitionLength = fromDefinition.readableBytes - reader.remaining
            let definitionDigest = try reader.u64("election.definitionDigest")
            guard StateHash.hash(fromDefinition.readableBytesView.prefix(definitionLength)) == definitionDigest
            else {
                throw reader.error(
                    .checksumMismatch, "election.definitionDigest is not H of the definition with its details")
            }
        }
        return ElectionAnswer(requestID: requestID, digest: digest, definition: definition)
    }
}
