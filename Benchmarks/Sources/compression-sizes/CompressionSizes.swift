import BenchmarkFixtures
import ElectionModel
import Foundation
import HubWire
import NIOCore
import ResultsProto
import SwiftProtobuf

/// Prints the wire bytes per declaration for each framing and compression choice, as Markdown tables for
/// Benchmarks/README.md. Every figure is deterministic (zlib's output depends only on its input, level and
/// dictionary), so the README quotes them exactly: `swift run -c release compression-sizes`.
@main
struct CompressionSizes {
    static func main() throws {
        Codecs.verifyRoundTrips()
        let dictionary = Fixtures.dictionary
        let deflateNoDictionary = PayloadCompressor(format: .deflate, dictionary: [])
        let deflate = PayloadCompressor(format: .deflate, dictionary: dictionary)
        let zlib = PayloadCompressor(format: .zlib, dictionary: dictionary)
        let hub = FrameCodec(format: .deflate, dictionary: dictionary)
        let encoder = JSONEncoder()
        // Sorted, so that the deflated JSON sizes repeat: otherwise the key order (and so the deflated size by a few
        // bytes) changes from process to process.
        encoder.outputFormatting = .sortedKeys

        // Preset dictionaries for the JSON and protobuf baselines, so that they get the same help as the binary
        // frames. The binary one is built from the election definition (small integers, region ids, party codes, the
        // desk id); JSON and protobuf repeat other things (JSON its keys above all), so theirs are a sample of their
        // own encodings: a DELTA_BATCH of the last two real council results, which are in none of the measured
        // batches nor the typical declaration (they are 2 of the snapshot's 234 contests).
        let sampleRecords = Array(Fixtures.realCouncilRecords.suffix(2))
        let measuredContests = Set(Fixtures.realCouncilRecords.prefix(64).map(\.contestID)).union([
            Fixtures.typicalRecord.contestID
        ])
        precondition(sampleRecords.allSatisfy { !measuredContests.contains($0.contestID) })
        let sampleBatch = DeltaBatch(
            firstSequence: 1, lastSequence: 2, conflated: false,
            events: sampleRecords.enumerated().map {
                SequencedRecord(sequence: UInt64($0.offset + 1), record: $0.element)
            },
            checksum: StateChecksum(records: sampleRecords).value)
        let jsonDictionary = [UInt8](try encoder.encode(JSONMirror.DeltaBatch(sampleBatch)))
        let protobufDictionary: [UInt8] = try Resultshub_Bench_DeltaBatch(sampleBatch).serializedBytes()

        struct Sizes {
            var count = 0
            var plain = 0
            var deflateNoDictionary = 0
            var deflate = 0
            var zlib = 0
            var hubSends = 0
            var json = 0
            var jsonDeflated = 0
            var jsonDeflatedDictionary = 0
            var protobuf = 0
            var protobufDeflated = 0
            var protobufDeflatedDictionary = 0

            mutating func add(_ other: Sizes) {
                count += other.count
                plain += other.plain
                deflateNoDictionary += other.deflateNoDictionary
                deflate += other.deflate
                zlib += other.zlib
                hubSends += other.hubSends
                json += other.json
                jsonDeflated += other.jsonDeflated
                jsonDeflatedDictionary += other.jsonDeflatedDictionary
                protobuf += other.protobuf
                protobufDeflated += other.protobufDeflated
                protobufDeflatedDictionary += other.protobufDeflatedDictionary
            }
        }

        func sizes(of message: HubMessage, count: Int, json: Data, protobuf: [UInt8]) -> Sizes {
            Sizes(
                count: count,
                plain: Codecs.frameLength(message, compressor: nil),
                deflateNoDictionary: Codecs.frameLength(message, compressor: deflateNoDictionary),
                deflate: Codecs.frameLength(message, compressor: deflate),
                zlib: Codecs.frameLength(message, compressor: zlib),
                hubSends: hub.encode(message).readableBytes,
                json: json.count, jsonDeflated: Codecs.deflatedLength(json),
                jsonDeflatedDictionary: Codecs.deflatedLength(json, dictionary: jsonDictionary),
                protobuf: protobuf.count, protobufDeflated: Codecs.deflatedLength(protobuf),
                protobufDeflatedDictionary: Codecs.deflatedLength(protobuf, dictionary: protobufDictionary))
        }

        func sizes(of batch: DeltaBatch) throws -> Sizes {
            sizes(
                of: .deltaBatch(batch), count: batch.events.count,
                json: try encoder.encode(JSONMirror.DeltaBatch(batch)),
                protobuf: try Resultshub_Bench_DeltaBatch(batch).serializedBytes())
        }

        /// The batches of `size` consecutive events that cover the first 64 real council results.
        func batches(of size: Int) throws -> Sizes {
            var total = Sizes()
            for offset in stride(from: 0, to: 64, by: size) {
                total.add(try sizes(of: Fixtures.deltaBatch(count: size, offset: offset)))
            }
            return total
        }

        let snapshot = Fixtures.fullSnapshot
        let rows: [(String, Sizes)] = [
            ("typical declaration alone (Swindon: 6 parties, seats and votes)", try sizes(of: Fixtures.typicalDelta)),
            ("a real declaration alone (mean of 64)", try batches(of: 1)),
            ("batch of 8 (mean of 8 batches)", try batches(of: 8)),
            ("batch of 64", try batches(of: 64)),
            (
                "snapshot, 234 contests",
                sizes(
                    of: .snapshot(snapshot), count: snapshot.records.count,
                    json: try encoder.encode(JSONMirror.Snapshot(snapshot)),
                    protobuf: try Resultshub_Bench_Snapshot(snapshot).serializedBytes())
            ),
        ]

        func perDeclaration(_ bytes: Int, _ count: Int) -> String {
            let value = Double(bytes) / Double(count)
            return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        }

        var submitPayload = ByteBuffer()
        MessageCodec.encodePayload(.submit(Fixtures.typicalSubmit), into: &submitPayload)
        let submitJSON = try encoder.encode(JSONMirror.Submit(Fixtures.typicalSubmit))
        let submitProtobuf: [UInt8] = try Resultshub_Bench_Submit(Fixtures.typicalSubmit).serializedBytes()
        func ratio(_ bytes: Int, _ against: Int) -> String { String(format: "%.1fx", Double(bytes) / Double(against)) }
        print(
            """
            What is sent, bytes per declaration: the frame the hub sends (DELTA_BATCH or SNAPSHOT, 6-byte header \
            included; raw deflate with the \(dictionary.count)-byte preset dictionary built from the election \
            definition, kept only when smaller) against the same message as JSON (keys sorted) and as protobuf (bare, \
            no framing), each raw-deflated with a preset dictionary of its own: a sample of its own encoding (a \
            DELTA_BATCH of 2 results not in the rows below; JSON \(jsonDictionary.count) B, protobuf \
            \(protobufDictionary.count) B).
            Data: \(Fixtures.realDeclarationCount) of \(Fixtures.nightDeclarations.count) contests with the real \
            2023 seats; batches are the first 64 councils with real seats, desk "national".

            | per declaration | hub sends | JSON + deflate + dictionary | protobuf + deflate + dictionary \
            | JSON vs hub | protobuf vs hub |
            | --- | --: | --: | --: | --: | --: |
            """)
        for (name, size) in rows {
            let n = size.count
            let cells =
                [size.hubSends, size.jsonDeflatedDictionary, size.protobufDeflatedDictionary].map {
                    perDeclaration($0, n)
                } + [
                    ratio(size.jsonDeflatedDictionary, size.hubSends),
                    ratio(size.protobufDeflatedDictionary, size.hubSends),
                ]
            print("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
        print(
            """

            Every variant, bytes per declaration (compressed frames carry the payload's length varint; JSON and \
            protobuf deflated with no dictionary and with their own, as above):

            | per declaration | uncompressed | deflate, no dictionary | deflate + dictionary | zlib + dictionary \
            | hub sends (deflate + dictionary if smaller) | JSON | JSON deflated | JSON deflated + dictionary \
            | protobuf | protobuf deflated | protobuf deflated + dictionary |
            | --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |
            """)
        for (name, size) in rows {
            let n = size.count
            let cells = [
                size.plain, size.deflateNoDictionary, size.deflate, size.zlib, size.hubSends, size.json,
                size.jsonDeflated, size.jsonDeflatedDictionary, size.protobuf, size.protobufDeflated,
                size.protobufDeflatedDictionary,
            ].map { perDeclaration($0, n) }
            print("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
        print(
            """

            SUBMIT for the typical declaration: \(Frame.headerLength + submitPayload.readableBytes) B as a frame, \
            JSON \(submitJSON.count) B, protobuf \(submitProtobuf.count) B.

            zlib level (raw deflate + dictionary), bytes per declaration:

            | | level 1 | level 6 (default) | level 9 |
            | --- | --: | --: | --: |
            """)
        /// Groups of messages whose frames are summed, and the declarations they carry.
        func batchMessages(of size: Int) -> [HubMessage] {
            stride(from: 0, to: 64, by: size).map { .deltaBatch(Fixtures.deltaBatch(count: size, offset: $0)) }
        }
        let levelRows: [(String, [HubMessage], Int)] = [
            ("typical declaration alone", [.deltaBatch(Fixtures.typicalDelta)], 1),
            ("a real declaration alone (mean of 64)", batchMessages(of: 1), 64),
            ("batch of 8 (mean of 8 batches)", batchMessages(of: 8), 64),
            ("batch of 64", batchMessages(of: 64), 64),
            ("snapshot, 234 contests", [.snapshot(snapshot)], snapshot.records.count),
        ]
        for (name, messages, count) in levelRows {
            let cells = [Int32(1), 6, 9].map { level in
                let compressor = PayloadCompressor(format: .deflate, dictionary: dictionary, level: level)
                let total = messages.reduce(0) { $0 + Codecs.frameLength($1, compressor: compressor) }
                return perDeclaration(total, count)
            }
            print("| \(name) | " + cells.joined(separator: " | ") + " |")
        }
    }
}
