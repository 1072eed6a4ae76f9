import Benchmark
import BenchmarkFixtures
import ElectionModel
import Foundation
import HubWire
import NIOCore
import ResultsProto
import SwiftProtobuf

// Encode and decode of the same messages through the binary codec, Foundation's JSONEncoder/JSONDecoder (Codable
// mirrors) and swift-protobuf (Proto/results.proto), in one run. Every variant starts from and ends at the same
// model values (`Submit`, `DeltaBatch`, `Snapshot`): the baselines include their conversion to and from the
// model, as a hub built on them would do. Names: "<message>.<encode|decode>.<codec>", without spaces (the
// thresholds check of ordo-one/benchmark 1.38.1 does not find the files of names with spaces).
//
// - binary: SUBMIT as a payload (MessageCodec); DELTA_BATCH and SNAPSHOT as whole frames, uncompressed (FrameCodec()).
// - binary+deflate: the frame the hub sends and subscribers read (raw deflate with the preset dictionary, kept
//   only when smaller), with the frame decoder in front of the decode.

let benchmarks: @Sendable () -> Void = {
    Codecs.verifyRoundTrips()

    registerCodec(
        "SUBMIT", model: Fixtures.typicalSubmit, scaling: .kilo, wrap: HubMessage.submit, frames: false,
        json: JSONMirror.Submit.init, fromJSON: { $0.model() },
        protobuf: Resultshub_Bench_Submit.init, fromProtobuf: { try $0.model() })
    registerCodec(
        "DELTA_BATCH_1", model: Fixtures.typicalDelta, scaling: .kilo, wrap: HubMessage.deltaBatch, frames: true,
        json: JSONMirror.DeltaBatch.init, fromJSON: { try $0.model() },
        protobuf: Resultshub_Bench_DeltaBatch.init, fromProtobuf: { try $0.model() })
    registerCodec(
        "DELTA_BATCH_64", model: Fixtures.delta64, scaling: .one, wrap: HubMessage.deltaBatch, frames: true,
        json: JSONMirror.DeltaBatch.init, fromJSON: { try $0.model() },
        protobuf: Resultshub_Bench_DeltaBatch.init, fromProtobuf: { try $0.model() })
    registerCodec(
        "SNAPSHOT_234", model: Fixtures.fullSnapshot, scaling: .one, wrap: HubMessage.snapshot, frames: true,
        json: JSONMirror.Snapshot.init, fromJSON: { try $0.model() },
        protobuf: Resultshub_Bench_Snapshot.init, fromProtobuf: { try $0.model() })
}

func configuration(_ scaling: BenchmarkScalingFactor) -> Benchmark.Configuration {
    .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        scalingFactor: scaling,
        maxDuration: .seconds(2),
        maxIterations: 1_000_000,
        thresholds: mallocThresholds)
}

/// `swift package benchmark thresholds check --metric mallocCountTotal` fails on more than 1% more mallocs than
/// `Thresholds/` records (malloc counts repeat exactly from run to run; times depend on the machine).
var mallocThresholds: [BenchmarkMetric: BenchmarkThresholds] { [.mallocCountTotal: .init(relative: [.p90: 1.0])] }

/// Registers encode and decode of one message for every codec.
func registerCodec<Model: Equatable, JSONType: Codable, ProtobufType: SwiftProtobuf.Message>(
    _ label: String, model: Model, scaling: BenchmarkScalingFactor, wrap: @escaping (Model) -> HubMessage,
    frames: Bool,
    json: @escaping (Model) -> JSONType, fromJSON: @escaping (JSONType) throws -> Model,
    protobuf: @escaping (Model) -> ProtobufType, fromProtobuf: @escaping (ProtobufType) throws -> Model
) {
    let config = configuration(scaling)
    let message = wrap(model)

    if frames {
        for (codecName, makeCodec) in [
            ("binary", { FrameCodec() }),
            ("binary+deflate", { FrameCodec(format: .deflate, dictionary: Fixtures.dictionary) }),
        ] {
            Benchmark("\(label).encode.\(codecName)", configuration: config) {
                (benchmark: Benchmark, codec: FrameCodec) in
                for _ in benchmark.scaledIterations {
                    blackHole(codec.encode(wrap(model)))
                }
            } setup: {
                makeCodec()
            }
            Benchmark("\(label).decode.\(codecName)", configuration: config) {
                (benchmark: Benchmark, state: (FrameCodec, ByteBuffer)) in
                let (codec, bytes) = state
                for _ in benchmark.scaledIterations {
                    blackHole(try! Codecs.decodeFrame(bytes, codec: codec))
                }
            } setup: {
                let codec = makeCodec()
                return (codec, codec.encode(message))
            }
        }
    } else {
        Benchmark("\(label).encode.binary", configuration: config) { benchmark in
            for _ in benchmark.scaledIterations {
                // The capacity FrameCodec starts a payload with.
                var payload = ByteBufferAllocator().buffer(capacity: 64)
                MessageCodec.encodePayload(wrap(model), into: &payload)
                blackHole(payload)
            }
        }
        Benchmark("\(label).decode.binary", configuration: config) {
            (benchmark: Benchmark, payload: ByteBuffer) in
            for _ in benchmark.scaledIterations {
                blackHole(try! MessageCodec.decodePayload(type: message.type, payload: payload))
            }
        } setup: {
            var payload = ByteBuffer()
            MessageCodec.encodePayload(message, into: &payload)
            return payload
        }
    }

    Benchmark("\(label).encode.JSON", configuration: config) {
        (benchmark: Benchmark, encoder: JSONEncoder) in
        for _ in benchmark.scaledIterations {
            blackHole(try! encoder.encode(json(model)))
        }
    } setup: {
        JSONEncoder()
    }
    Benchmark("\(label).decode.JSON", configuration: config) {
        (benchmark: Benchmark, state: (JSONDecoder, Data)) in
        let (decoder, data) = state
        for _ in benchmark.scaledIterations {
            blackHole(try! fromJSON(decoder.decode(JSONType.self, from: data)))
        }
    } setup: {
        (JSONDecoder(), try JSONEncoder().encode(json(model)))
    }

    Benchmark("\(label).encode.protobuf", configuration: config) { benchmark in
        for _ in benchmark.scaledIterations {
            let bytes: [UInt8] = try! protobuf(model).serializedBytes()
            blackHole(bytes)
        }
    }
    Benchmark("\(label).decode.protobuf", configuration: config) {
        (benchmark: Benchmark, bytes: [UInt8]) in
        for _ in benchmark.scaledIterations {
            blackHole(try! fromProtobuf(ProtobufType(serializedBytes: bytes)))
        }
    } setup: {
        let bytes: [UInt8] = try protobuf(model).serializedBytes()
        return bytes
    }
}
