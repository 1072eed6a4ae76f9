import ElectionModel
import Foundation
import HubWire
import NIOCore
import ResultsProto
import SwiftProtobuf

/// The three ways the benchmarks put the same messages on the wire, with the helpers they share.
public enum Codecs {
    /// Frames as the hub's connections read them: protocol detection off, the post-handshake frame limit.
    public static func decodeFrame(_ bytes: ByteBuffer, codec: FrameCodec) throws -> HubMessage {
        var buffer = bytes
        var decoder = FrameDecoder(maxFrameLength: WireLimits.maxFrameLength, detectingProtocol: false)
        guard let frame = try decoder.decode(buffer: &buffer) else {
            throw JSONMirror.InvalidMessage(description: "a frame is truncated")
        }
        return try codec.decode(frame)
    }

    /// The frame's size with its payload compressed by `compressor`, whether or not that is smaller (the hub's
    /// `FrameCodec` keeps the smaller of the two).
    public static func frameLength(_ message: HubMessage, compressor: PayloadCompressor?) -> Int {
        var payload = ByteBuffer()
        MessageCodec.encodePayload(message, into: &payload)
        guard let compressor else { return Frame.headerLength + payload.readableBytes }
        var compressed = ByteBuffer()
        compressor.compress(payload, into: &compressed)
        return Frame.headerLength + compressed.readableBytes
    }

    /// Raw deflate (zlib level 6, no length prefix) of `bytes`, with `dictionary` as the preset dictionary (none
    /// when empty): what a per-message deflated JSON or protobuf message would cost.
    public static func deflatedLength(_ bytes: some Collection<UInt8>, dictionary: [UInt8] = []) -> Int {
        var input = ByteBuffer()
        input.writeBytes(bytes)
        var output = ByteBuffer()
        PayloadCompressor(format: .deflate, dictionary: dictionary).compress(input, into: &output)
        // PayloadCompressor writes the uncompressed length as a varint first: not part of the deflate stream.
        let lengthBits = UInt64.bitWidth - UInt64(bytes.count).leadingZeroBitCount
        return output.readableBytes - max(1, (lengthBits + 6) / 7)
    }

    /// Checks that every codec gives back exactly the message it was given; a benchmark of a codec that loses data
    /// would be meaningless. Exits the process if not.
    public static func verifyRoundTrips() {
        do {
            let deflate = FrameCodec(format: .deflate, dictionary: Fixtures.dictionary)
            let plain = FrameCodec()
            let encoder = JSONEncoder()
            let decoder = JSONDecoder()

            let submit = HubMessage.submit(Fixtures.typicalSubmit)
            var payload = ByteBuffer()
            MessageCodec.encodePayload(submit, into: &payload)
            try expect(try MessageCodec.decodePayload(type: .submit, payload: payload) == submit, "binary SUBMIT")
            let jsonSubmit = try encoder.encode(JSONMirror.Submit(Fixtures.typicalSubmit))
            try expect(
                try decoder.decode(JSONMirror.Submit.self, from: jsonSubmit).model() == Fixtures.typicalSubmit,
                "JSON SUBMIT")
            let protoSubmit: [UInt8] = try Resultshub_Bench_Submit(Fixtures.typicalSubmit).serializedBytes()
            try expect(
                try Resultshub_Bench_Submit(serializedBytes: protoSubmit).model() == Fixtures.typicalSubmit,
                "protobuf SUBMIT")

            for batch in [Fixtures.typicalDelta, Fixtures.delta64] {
                let message = HubMessage.deltaBatch(batch)
                for codec in [plain, deflate] {
                    try expect(try decodeFrame(codec.encode(message), codec: codec) == message, "binary DELTA_BATCH")
                }
                let json = try encoder.encode(JSONMirror.DeltaBatch(batch))
                try expect(try decoder.decode(JSONMirror.DeltaBatch.self, from: json).model() == batch, "JSON DELTA")
                let proto: [UInt8] = try Resultshub_Bench_DeltaBatch(batch).serializedBytes()
                try expect(try Resultshub_Bench_DeltaBatch(serializedBytes: proto).model() == batch, "protobuf DELTA")
            }

            let snapshot = Fixtures.fullSnapshot
            let message = HubMessage.snapshot(snapshot)
            for codec in [plain, deflate] {
                try expect(try decodeFrame(codec.encode(message), codec: codec) == message, "binary SNAPSHOT")
            }
            let json = try encoder.encode(JSONMirror.Snapshot(snapshot))
            try expect(try decoder.decode(JSONMirror.Snapshot.self, from: json).model() == snapshot, "JSON SNAPSHOT")
            let proto: [UInt8] = try Resultshub_Bench_Snapshot(snapshot).serializedBytes()
            try expect(try Resultshub_Bench_Snapshot(serializedBytes: proto).model() == snapshot, "protobuf SNAPSHOT")
        } catch {
            fatalError("round-trip check failed: \(error)")
        }
    }

    private static func expect(_ condition: Bool, _ what: String) throws {
        guard condition else { throw JSONMirror.InvalidMessage(description: "\(what) does not round-trip") }
    }
}
