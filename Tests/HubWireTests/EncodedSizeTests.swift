import ElectionDefaults
import ElectionModel
import HubWire
import NIOCore
import Testing

/// The bytes a typical declaration costs on the wire. The figures are printed for the README and bounded here so
/// that a change to the encoding that bloats them fails.
@Suite("Encoded sizes")
struct EncodedSizeTests {
    @Test func typicalCouncilDeclaration() throws {
        let election = try Election.england2023()
        let contest = try #require(election.contest(slug: "swindon"))
        let codes = ["CON", "LAB", "LD", "GRN", "IND", "TUSC"]
        let parties = try codes.map { try #require(election.party(code: $0)) }
        let seats: [UInt32] = [20, 31, 3, 1, 2, 0]
        let votes: [UInt32] = [24_811, 31_034, 6_120, 5_208, 2_650, 388]
        let declaration = Declaration(
            contestID: contest.id, revision: 1,
            seats: zip(parties, seats).map { PartyCount(party: $0, count: $1) },
            votes: zip(parties, votes).map { PartyCount(party: $0, count: $1) },
            turnoutBasisPoints: 3120, declaredAt: 1_683_252_871_000)
        let record = try election.validate(declaration, from: DeskIdentity(id: "south-west", scope: .all))
        let definition = ElectionDefinition(election)

        let plain = FrameCodec()
        let deflate = FrameCodec(format: .deflate, dictionary: definition.presetDictionary)
        let zlib = FrameCodec(format: .zlib, dictionary: definition.presetDictionary)
        let submit = HubMessage.submit(Submit(requestID: 1, declaration: declaration))
        let batch = HubMessage.deltaBatch(
            DeltaBatch(
                firstSequence: 1234, lastSequence: 1234, conflated: false,
                events: [SequencedRecord(sequence: 1234, record: record)],
                checksum: StateChecksum(records: [record]).value))
        var compressedPayload = ByteBuffer()
        var payload = ByteBuffer()
        MessageCodec.encodePayload(batch, into: &payload)
        PayloadCompressor(format: .deflate, dictionary: definition.presetDictionary).compress(
            payload, into: &compressedPayload)
        var withoutDictionary = ByteBuffer()
        PayloadCompressor(format: .deflate, dictionary: []).compress(payload, into: &withoutDictionary)

        let submitBytes = plain.encode(submit).readableBytes
        let batchBytes = plain.encode(batch).readableBytes
        let deflatedBytes = Frame.headerLength + compressedPayload.readableBytes
        let undictionaryBytes = Frame.headerLength + withoutDictionary.readableBytes
        print(
            """
            typical council declaration, 6 parties with seats and votes, turnout, desk "south-west":
              SUBMIT frame:                        \(submitBytes) B
              DELTA_BATCH frame, one event:        \(batchBytes) B
              same, raw deflate with dictionary:   \(deflatedBytes) B
              same, raw deflate without dictionary: \(undictionaryBytes) B
              frame the hub sends (deflate codec): \(deflate.encode(batch).readableBytes) B (compressed only if smaller)
              frame the hub sends (zlib codec):    \(zlib.encode(batch).readableBytes) B
            """)
        #expect(submitBytes <= 64)
        #expect(batchBytes <= 80)
        #expect(deflate.encode(batch).readableBytes <= batchBytes)
    }
}
