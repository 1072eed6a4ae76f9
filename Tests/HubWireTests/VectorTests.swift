import ElectionModel
import Foundation
import HubWire
import NIOCore
import Testing

/// Checks every vector in `Protocol/vectors/` (written by an independent Python codec from the spec) both ways:
/// the bytes decode to the described message, and the message encodes to the same bytes.
@Suite("Protocol test vectors")
struct VectorTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocol/vectors")

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(name))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func vectors(_ file: String) -> [[String: Any]] {
        ((try? json(file))?["vectors"] as? [[String: Any]]) ?? []
    }

    @Test func everyFileIsPresentAndNonEmpty() throws {
        #expect(Self.vectors("messages.json").count >= 30)
        #expect(Self.vectors("invalid.json").count >= 30)
        #expect(Self.vectors("compression.json").count >= 4)
        // Every message type has at least one vector.
        let types = Set(Self.vectors("messages.json").compactMap { $0["type"] as? String })
        #expect(types == Set(MessageType.allCases.map(\.specName)))
    }

    @Test func messagesDecodeAndEncodeExactly() throws {
        let codec = FrameCodec()
        for vector in Self.vectors("messages.json") {
            let name = vector["name"] as! String
            let bytes = try hex(vector["hex"])
            let expected = try VectorMessage.message(
                type: vector["type"] as! String, fields: vector["fields"] as! [String: Any])
            #expect(Array(codec.encode(expected).readableBytesView) == bytes, "\(name): encoding")
            var buffer = ByteBuffer(bytes: bytes)
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            let frame = try #require(try decoder.decode(buffer: &buffer), "\(name)")
            #expect(try codec.decode(frame) == expected, "\(name): decoding")
            let fields = vector["fields"] as! [String: Any]
            if case .election(let answer) = expected {
                // 1.1: the election digest is H of the core; the definition digest, of core and details section.
                #expect(answer.digest == answer.definition.digest, "\(name)")
                #expect(try u64(fields["definitionDigest"]) == answer.definition.definitionDigest, "\(name)")
            }
        }
    }

    /// derived.json: what a hub derives from declarations (control, outcome, zero counts dropped), each council's
    /// seat changes, and scoreboards with the councillor comparison, checked against the model.
    @Test func derivedRecordsSeatChangesAndScoreboards() throws {
        let file = try Self.json("derived.json")
        var elections: [String: Election] = [:]
        for vector in Self.vectors("messages.json") where vector["type"] as? String == "ELECTION" {
            guard
                case .election(let answer) = try VectorMessage.message(
                    type: "ELECTION", fields: vector["fields"] as! [String: Any])
            else { continue }
            elections[vector["name"] as! String] = try Election(definition: answer.definition)
        }
        let records = file["records"] as! [[String: Any]]
        #expect(records.count >= 10)
        for entry in records {
            let name = entry["name"] as! String
            let election = try #require(elections[entry["election"] as! String], "\(name)")
            guard
                case .submit(let submit) = try VectorMessage.message(
                    type: "SUBMIT", fields: ["requestID": 0, "declaration": entry["declaration"]!])
            else { continue }
            let record = try election.validate(
                submit.declaration, from: DeskIdentity(id: entry["deskID"] as! String, scope: .all))
            var encoded = ByteBuffer()
            RecordCodec.encode(record, into: &encoded)
            #expect(Array(encoded.readableBytesView) == (try hex(entry["recordHex"])), "\(name)")
            #expect(record == (try VectorMessage.record(entry["record"] as! [String: Any])), "\(name)")
            let expected = (entry["seatChanges"] as? [[NSNumber]])?.map {
                SeatChange(party: PartyIndex($0[0].intValue), change: $0[1].intValue)
            }
            #expect(election.seatChanges(record) == expected, "\(name)")
        }
        for entry in file["scoreboards"] as! [[String: Any]] {
            let name = entry["name"] as! String
            let election = try #require(elections[entry["election"] as! String], "\(name)")
            var decoded: [ContestRecord] = []
            for recordHex in entry["records"] as! [String] {
                var reader = WireReader(ByteBuffer(bytes: try hex(recordHex)))
                decoded.append(try RecordCodec.decode(from: &reader))
            }
            let board = ScoreboardTally(election: election, records: decoded).scoreboard(sequence: 0)
            #expect(board == (try VectorMessage.scoreboard(entry["scoreboard"] as! [String: Any])), "\(name)")
        }
    }

    /// Batches must reproduce their checksums on top of the state they start from.
    @Test func batchChecksumsFollowFromTheirBaseState() throws {
        let all = Self.vectors("messages.json")
        for vector in all where vector["type"] as? String == "DELTA_BATCH" {
            guard
                case .deltaBatch(let batch) = try VectorMessage.message(
                    type: "DELTA_BATCH", fields: vector["fields"] as! [String: Any])
            else { continue }
            var records: [ContestID: ContestRecord] = [:]
            if let base = vector["baseSnapshot"] as? String,
                let snapshotVector = all.first(where: { $0["name"] as? String == base }),
                case .snapshot(let snapshot) = try VectorMessage.message(
                    type: "SNAPSHOT", fields: snapshotVector["fields"] as! [String: Any])
            {
                for record in snapshot.records { records[record.contestID] = record }
            }
            for event in batch.events { records[event.record.contestID] = event.record }
            #expect(StateChecksum(records: records.values).value == batch.checksum, "\(vector["name"]!)")
        }
    }

    @Test func invalidInputsFailWithTheNamedError() throws {
        let election = try Election(
            json: Data(contentsOf: Self.directory.appendingPathComponent("election-small.json")))
        let dictionary = ElectionDefinition(election).presetDictionary
        for vector in Self.vectors("invalid.json") {
            let name = vector["name"] as! String
            let expected = vector["error"] as! String
            let established = vector["state"] as? String == "established"
            var decoder = FrameDecoder(
                maxFrameLength: established ? WireLimits.maxFrameLength : WireLimits.maxFrameLengthBeforeHandshake,
                detectingProtocol: !established)
            let format: CompressionFormat = vector["format"] as? String == "zlib" ? .zlib : .deflate
            let codec = FrameCodec(format: format, dictionary: dictionary)
            var buffer = ByteBuffer(bytes: try hex(vector["hex"]))
            let expectedReply = vector["expectReplyHex"] == nil ? nil : try hex(vector["expectReplyHex"])
            let decodesTo = vector["decodesTo"] as? [String: Any]
            func decodeOne() throws(WireError) -> HubMessage? {
                guard let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) else { return nil }
                return try codec.decode(frame)
            }
            do throws(WireError) {
                guard let message = try decodeOne() else {
                    Issue.record("\(name): no frame and no error")
                    continue
                }
                if expected == "unsupportedVersion", case .hello(let hello) = message {
                    #expect(ProtocolVersion.negotiate(clientMin: hello.minVersion, clientMax: hello.maxVersion) == nil)
                    let reply = FrameCodec().encode(.versionRange(ProtocolVersion.rangeAnswer))
                    #expect(Array(reply.readableBytesView) == expectedReply, "\(name) reply")
                } else if expected == "none", let decodesTo {
                    // HELLO with unknown compression bits, and 1.0 forms of messages 1.1 appends to.
                    #expect(
                        message == (try? VectorMessage.message(type: message.type.specName, fields: decodesTo)),
                        "\(name)")
                } else {
                    Issue.record("\(name): decoded \(message) but expected \(expected)")
                }
            } catch {
                #expect(VectorMessage.errorName(error.kind) == expected, "\(name): \(error)")
                if let detected = error.foreignProtocol {
                    #expect(detected.rawValue == vector["detail"] as? String, "\(name)")
                }
            }
        }
    }

    @Test func compressedFramesInflateToTheirPayloads() throws {
        let file = try Self.json("compression.json")
        let election = try Election(
            json: Data(contentsOf: Self.directory.appendingPathComponent(file["election"] as! String)))
        let dictionary = ElectionDefinition(election).presetDictionary
        #expect(dictionary == (try hex(file["dictionaryHex"])))
        for vector in file["vectors"] as! [[String: Any]] {
            let name = vector["name"] as! String
            let format: CompressionFormat = vector["format"] as? String == "zlib" ? .zlib : .deflate
            let codec = FrameCodec(format: format, dictionary: dictionary)
            var buffer = ByteBuffer(bytes: try hex(vector["hex"]))
            var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
            let frame = try #require(try decoder.decode(buffer: &buffer))
            #expect(frame.isCompressed)
            let decompressor = PayloadDecompressor(format: format, dictionary: dictionary)
            let inflated = try decompressor.decompress(frame.payload, allocator: ByteBufferAllocator())
            #expect(Array(inflated.readableBytesView) == (try hex(vector["payloadHex"])), "\(name)")
            let type = try #require(MessageType(rawValue: frame.type))
            let message = try codec.decode(frame)
            #expect(message.type == type)
            // Same zlib, same parameters: our compressor reproduces the bytes exactly.
            var ours = ByteBuffer()
            PayloadCompressor(format: format, dictionary: dictionary).compress(inflated, into: &ours)
            #expect(
                Array(ours.readableBytesView) == Array(frame.payload.readableBytesView), "\(name): compressed bytes")
        }
    }

    @Test func hashesChecksumsAndTheElectionDigest() throws {
        let file = try Self.json("checksum.json")
        for entry in file["hash"] as! [[String: Any]] {
            #expect(StateHash.hash(try hex(entry["hex"])) == (try u64(entry["value"])))
        }
        for entry in file["state"] as! [[String: Any]] {
            var records: [ContestRecord] = []
            for recordHex in entry["records"] as! [String] {
                var reader = WireReader(ByteBuffer(bytes: try hex(recordHex)))
                records.append(try RecordCodec.decode(from: &reader))
                #expect(reader.remaining == 0)
            }
            #expect(StateChecksum(records: records).value == (try u64(entry["checksum"])))
        }
        let digests = file["electionDigests"] as! [[String: Any]]
        #expect(digests.count == 2)
        for entry in digests {
            let name = entry["election"] as! String
            let definition = ElectionDefinition(
                try Election(json: Data(contentsOf: Self.directory.appendingPathComponent(name))))
            var core = ByteBuffer()
            definition.encodeCore(into: &core)
            #expect(Array(core.readableBytesView) == (try hex(entry["coreHex"])), "\(name)")
            var whole = ByteBuffer()
            definition.encode(into: &whole)
            #expect(Array(whole.readableBytesView) == (try hex(entry["definitionHex"])), "\(name)")
            #expect(definition.digest == (try u64(entry["electionDigest"])), "\(name)")
            #expect(definition.definitionDigest == (try u64(entry["definitionDigest"])), "\(name)")
            // What a definition decodes to: the core and its details.
            var reader = WireReader(whole)
            var decoded = try ElectionDefinition.decode(from: &reader)
            #expect(decoded.digest == definition.digest)
            try decoded.decodeDetails(from: &reader)
            #expect(decoded == definition, "\(name)")
        }
        #expect(digests[0]["electionDigest"] as? String == digests[1]["electionDigest"] as? String, "the same core")
    }

    struct Primitives: Decodable {
        struct Unsigned: Decodable {
            var value: UInt64
            var hex: String
        }
        struct Signed: Decodable {
            var value: Int64
            var hex: String
        }
        struct Invalid: Decodable {
            var hex: String
            var error: String
        }
        var varint: [Unsigned]
        var svarint: [Signed]
        var invalidVarint: [Invalid]
    }

    @Test func primitives() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("primitives.json"))
        let file = try JSONDecoder().decode(Primitives.self, from: data)
        for entry in file.varint {
            var buffer = ByteBuffer()
            buffer.writeVarint(entry.value)
            #expect(Array(buffer.readableBytesView) == (try hex(entry.hex)))
            var reader = WireReader(buffer)
            #expect(try reader.varint("v") == entry.value)
        }
        for entry in file.svarint {
            var buffer = ByteBuffer()
            buffer.writeSignedVarint(entry.value)
            #expect(Array(buffer.readableBytesView) == (try hex(entry.hex)))
            var reader = WireReader(buffer)
            #expect(try reader.signedVarint("s") == entry.value)
        }
        for entry in file.invalidVarint {
            var reader = WireReader(ByteBuffer(bytes: try hex(entry.hex)))
            // Inside a payload a varint that runs out is malformed; the vector calls it truncated.
            #expect(throws: WireError.self, "\(entry.hex) should fail as \(entry.error)") { try reader.varint("v") }
        }
    }
}

func hex(_ value: Any?) throws -> [UInt8] {
    let text = try #require(value as? String)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count / 2)
    var iterator = text.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        let pair = String(decoding: [high, low], as: UTF8.self)
        bytes.append(try #require(UInt8(pair, radix: 16), "bad hex \(pair)"))
    }
    return bytes
}

func u64(_ value: Any?) throws -> UInt64 {
    let text = try #require(value as? String)
    return try #require(UInt64(text.dropFirst(2), radix: 16))
}
