import ElectionDefaults
import ElectionModel
import HubWire
import NIOCore
import Testing

@Suite("Compression with the preset dictionary")
struct CompressionTests {
    let dictionary: [UInt8]

    init() throws {
        dictionary = ElectionDefinition(try Election.england2023()).presetDictionary
    }

    @Test(arguments: [CompressionFormat.deflate, .zlib])
    func roundTripsAndShrinksSnapshots(format: CompressionFormat) throws {
        var random = RandomMessages(seed: 11)
        let codec = FrameCodec(format: format, dictionary: dictionary)
        for _ in 0..<50 {
            let message = random.message(.snapshot)
            var bytes = codec.encode(message)
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            let frame = try #require(try decoder.decode(buffer: &bytes))
            #expect(try codec.decode(frame) == message)
        }
        // A payload of repeated records must come out compressed and much smaller.
        let record = random.record()
        let records = (1...200).map { id in
            var copy = record
            copy.contestID = ContestID(UInt32(id))
            return copy
        }
        let snapshot = HubMessage.snapshot(
            Snapshot(
                sequence: 9, reason: .newSubscription, records: records, checksum: StateChecksum(records: records).value
            ))
        var plain = ByteBuffer()
        MessageCodec.encodePayload(snapshot, into: &plain)
        var bytes = codec.encode(snapshot)
        #expect(bytes.readableBytes * 4 < plain.readableBytes)
        var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
        let frame = try #require(try decoder.decode(buffer: &bytes))
        #expect(frame.isCompressed)
        #expect(try codec.decode(frame) == snapshot)
    }

    func compressed(_ payload: [UInt8], format: CompressionFormat = .deflate, claim: UInt64? = nil) -> ByteBuffer {
        var out = ByteBuffer()
        PayloadCompressor(format: format, dictionary: dictionary).compress(ByteBuffer(bytes: payload), into: &out)
        guard let claim else { return out }
        var reader = WireReader(out)
        _ = try? reader.varint("length")
        var rewritten = ByteBuffer()
        rewritten.writeVarint(claim)
        var rest = reader.buffer
        rewritten.writeBuffer(&rest)
        return rewritten
    }

    func failure(_ payload: ByteBuffer, format: CompressionFormat = .deflate, dictionary: [UInt8]? = nil) -> WireError
        .Kind?
    {
        let decompressor = PayloadDecompressor(format: format, dictionary: dictionary ?? self.dictionary)
        do {
            _ = try decompressor.decompress(payload, allocator: ByteBufferAllocator())
            return nil
        } catch {
            return error.kind
        }
    }

    @Test func aCompressionBombStopsAtTheClaimedLength() {
        let bomb = compressed(Array(repeating: 0, count: 5 << 20), claim: 1000)
        #expect(bomb.readableBytes < 10_000, "5 MiB of zeros deflates to a few KiB")
        #expect(failure(bomb) == .decompressionFailed)
    }

    @Test func aClaimOverTheLimitIsRefusedBeforeInflating() {
        let honest = compressed(Array(repeating: 0, count: 5 << 20))
        #expect(failure(honest) == .decompressedTooLarge)
        #expect(failure(compressed([1, 2, 3], claim: 100_000_000)) == .decompressedTooLarge)
    }

    @Test func lengthLiesCorruptionAndWrongDictionariesFail() {
        let payload = Array("a delta batch payload, a delta batch payload".utf8)
        #expect(failure(compressed(payload, claim: UInt64(payload.count + 5))) == .decompressionFailed)
        #expect(failure(compressed(payload, claim: UInt64(payload.count - 5))) == .decompressionFailed)
        var corrupt = compressed(payload)
        corrupt.setInteger(UInt8(0xFF), at: corrupt.readerIndex + 3)
        corrupt.setInteger(UInt8(0xFF), at: corrupt.readerIndex + 4)
        #expect(failure(corrupt) == .decompressionFailed)
        var trailing = compressed(payload)
        trailing.writeBytes([0, 0, 0])
        #expect(failure(trailing) == .decompressionFailed)
        #expect(
            failure(compressed(payload, format: .zlib), format: .zlib, dictionary: Array("other".utf8))
                == .decompressionFailed)
        #expect(failure(compressed(payload)) == nil)
        #expect(failure(compressed(payload, format: .zlib), format: .zlib) == nil)
    }

    @Test func dictionaryIsDerivedAsSpecified() throws {
        let election = try Election.england2023()
        #expect(Array(dictionary.prefix(64)) == Array(0..<64))
        #expect(
            dictionary.count == 64 + election.regions.reduce(0) { $0 + 1 + $1.id.utf8.count }
                + election.parties.reduce(0) { $0 + 1 + $1.code.utf8.count } + 9)
    }
}

@Suite("State checksum")
struct ChecksumTests {
    @Test func incrementalEqualsRecomputed() {
        var random = RandomMessages(seed: 3)
        var checksum = StateChecksum()
        var state: [ContestID: ContestRecord] = [:]
        for _ in 0..<500 {
            var record = random.record()
            record.contestID = ContestID(UInt32(1 + (random.rng.next() as UInt64) % 20))
            checksum.replace(state[record.contestID], with: record)
            state[record.contestID] = record
            #expect(checksum == StateChecksum(records: state.values))
        }
        #expect(StateChecksum(records: []).value == 0)
    }

    @Test func hashIsFNV1aThenFinalised() {
        // FNV-1a of "a" is 0xaf63dc4c8601ec8c; the finaliser then mixes it.
        var h: UInt64 = 0xaf63_dc4c_8601_ec8c
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h = h &* 0xc4ce_b93f_e53e_4b87
        h ^= h >> 33
        #expect(StateHash.hash(Array("a".utf8)) == h)
    }
}
