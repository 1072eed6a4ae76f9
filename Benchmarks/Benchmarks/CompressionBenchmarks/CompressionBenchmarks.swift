import Benchmark
import BenchmarkFixtures
import HubWire
import NIOCore

// Compress and inflate time of DELTA_BATCH and SNAPSHOT payloads (the hub compresses once per batch and filter, and
// every subscriber inflates). Names: "<compress|inflate>.<message>.<format>". The bytes each choice costs are
// deterministic and printed by `swift run -c release compression-sizes` instead.

let benchmarks: @Sendable () -> Void = {
    let payloads: [(label: String, message: HubMessage, scaling: BenchmarkScalingFactor)] = [
        ("DELTA_BATCH_1", .deltaBatch(Fixtures.typicalDelta), .kilo),
        ("DELTA_BATCH_64", .deltaBatch(Fixtures.delta64), .one),
        ("SNAPSHOT_234", .snapshot(Fixtures.fullSnapshot), .one),
    ]
    let formats: [(name: String, format: CompressionFormat, dictionary: [UInt8], level: Int32)] = [
        ("deflate+dictionary", .deflate, Fixtures.dictionary, 6),
        ("zlib+dictionary", .zlib, Fixtures.dictionary, 6),
        ("deflate-no-dictionary", .deflate, [], 6),
        ("deflate+dictionary-level1", .deflate, Fixtures.dictionary, 1),
    ]
    for payload in payloads {
        var buffer = ByteBuffer()
        MessageCodec.encodePayload(payload.message, into: &buffer)
        let plain = buffer
        let config = Benchmark.Configuration(
            metrics: [.wallClock, .throughput, .mallocCountTotal],
            timeUnits: .nanoseconds,
            scalingFactor: payload.scaling,
            maxDuration: .seconds(2),
            maxIterations: 1_000_000,
            // See CodecBenchmarks: more than 1% more mallocs than Thresholds/ records fails the check.
            thresholds: [.mallocCountTotal: .init(relative: [.p90: 1.0])])
        // Every format for the 64-batch; the hub's default only for the others.
        for format in payload.label == "DELTA_BATCH_64" ? formats : [formats[0]] {
            Benchmark("compress.\(payload.label).\(format.name)", configuration: config) {
                (benchmark: Benchmark, compressor: PayloadCompressor) in
                for _ in benchmark.scaledIterations {
                    // The capacity FrameCodec gives the compressed payload.
                    var output = ByteBufferAllocator().buffer(capacity: plain.readableBytes / 2 + 32)
                    compressor.compress(plain, into: &output)
                    blackHole(output)
                }
            } setup: {
                PayloadCompressor(format: format.format, dictionary: format.dictionary, level: format.level)
            }
            // Inflating does not depend on the level.
            guard format.level == 6 else { continue }
            Benchmark("inflate.\(payload.label).\(format.name)", configuration: config) {
                (benchmark: Benchmark, state: (PayloadDecompressor, ByteBuffer)) in
                let (decompressor, compressed) = state
                let allocator = ByteBufferAllocator()
                for _ in benchmark.scaledIterations {
                    blackHole(try! decompressor.decompress(compressed, allocator: allocator))
                }
            } setup: {
                var compressed = ByteBuffer()
                PayloadCompressor(format: format.format, dictionary: format.dictionary).compress(
                    plain, into: &compressed)
                return (PayloadDecompressor(format: format.format, dictionary: format.dictionary), compressed)
            }
        }
    }
}
