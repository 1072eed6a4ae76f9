import CZlib
import NIOCore

/// Compresses frame payloads one at a time (spec 8), each on its own with the preset dictionary, so that the same
/// compressed bytes can go to every subscriber. Not thread-safe: one per owner. Reuses one zlib stream (reset per
/// payload) to avoid zlib's per-stream allocation.
public final class PayloadCompressor {
    public let format: CompressionFormat
    private let dictionary: [UInt8]
    private var stream = z_stream()

    /// - Parameter level: zlib level 1...9; 6 is zlib's default.
    public init(format: CompressionFormat, dictionary: [UInt8], level: Int32 = 6) {
        precondition(format != .none, "no compressor for CompressionFormat.none")
        self.format = format
        self.dictionary = dictionary
        let windowBits: Int32 = format == .deflate ? -15 : 15
        let status = CZlib_deflateInit2(&stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY)
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    }

    deinit { deflateEnd(&stream) }

    /// Appends `uncompressedLength varint` and the compressed data of `payload` to `output`.
    public func compress(_ payload: ByteBuffer, into output: inout ByteBuffer) {
        precondition(deflateReset(&stream) == Z_OK)
        let dictionaryStatus = dictionary.withUnsafeBufferPointer {
            deflateSetDictionary(&stream, $0.baseAddress, uInt($0.count))
        }
        precondition(dictionaryStatus == Z_OK)
        output.writeVarint(UInt64(payload.readableBytes))
        let bound = Int(deflateBound(&stream, uLong(payload.readableBytes)))
        _ = payload.withUnsafeReadableBytes { input in
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(out.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate with a deflateBound-sized output failed: \(status)")
                return out.count - Int(stream.avail_out)
            }
        }
    }
}

/// Inflates compressed frame payloads, refusing before inflating any payload that claims to be over the limit and
/// stopping at the claimed length, so that a compression bomb costs at most `maxDecompressedLength` bytes.
public final class PayloadDecompressor {
    public let format: CompressionFormat
    public let maxDecompressedLength: Int
    private let dictionary: [UInt8]
    private var stream = z_stream()

    public init(
        format: CompressionFormat, dictionary: [UInt8],
        maxDecompressedLength: Int = Int(WireLimits.maxDecompressedLength)
    ) {
        precondition(format != .none, "no decompressor for CompressionFormat.none")
        self.format = format
        self.dictionary = dictionary
        self.maxDecompressedLength = maxDecompressedLength
        let status = CZlib_inflateInit2(&stream, format == .deflate ? -15 : 15)
        precondition(status == Z_OK, "inflateInit2 failed: \(status)")
    }

    deinit { inflateEnd(&stream) }

    /// The payload inflated. An error carries the first bytes of the compressed payload.
    public func decompress(_ payload: ByteBuffer, allocator: ByteBufferAllocator) throws(WireError) -> ByteBuffer {
        do throws(WireError) {
            return try inflatePayload(payload, allocator: allocator)
        } catch {
            throw error.about(bytesOf: payload)
        }
    }

    private func inflatePayload(_ payload: ByteBuffer, allocator: ByteBufferAllocator) throws(WireError) -> ByteBuffer {
        var reader = WireReader(payload)
        let declared = try reader.varint("compressed.uncompressedLength")
        guard declared <= UInt64(maxDecompressedLength) else {
            throw reader.error(
                .decompressedTooLarge,
                "the payload claims \(declared) bytes inflated, over the limit \(maxDecompressedLength)")
        }
        let expected = Int(declared)
        precondition(inflateReset(&stream) == Z_OK)
        if format == .deflate { try setDictionary() }
        var output = allocator.buffer(capacity: expected)
        let compressed = reader.buffer
        var outcome: Result<Int, WireError> = .success(0)
        _ = compressed.withUnsafeReadableBytes { input in
            // One spare byte of output space: if inflate fills it, the payload lied about its length.
            output.writeWithUnsafeMutableBytes(minimumWritableBytes: expected + 1) { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(expected + 1)
                var status = inflate(&stream, Z_FINISH)
                if status == Z_NEED_DICT && format == .zlib {
                    do throws(WireError) {
                        try setDictionary()
                        status = inflate(&stream, Z_FINISH)
                    } catch {
                        outcome = .failure(error)
                        return 0
                    }
                }
                let produced = expected + 1 - Int(stream.avail_out)
                outcome = Self.judge(
                    status: status, produced: produced, expected: expected, leftover: Int(stream.avail_in))
                return min(produced, expected)
            }
        }
        _ = try outcome.get()
        return output
    }

    private static func judge(status: Int32, produced: Int, expected: Int, leftover: Int) -> Result<Int, WireError> {
        if produced > expected {
            return .failure(
                WireError(.decompressionFailed, "the payload inflates to more than the \(expected) bytes it claims"))
        }
        guard status == Z_STREAM_END else {
            let what =
                status == Z_BUF_ERROR
                ? "the compressed data ends early" : "the compressed data is corrupt (zlib \(status))"
            return .failure(WireError(.decompressionFailed, what))
        }
        guard produced == expected else {
            return .failure(
                WireError(.decompressionFailed, "the payload inflates to \(produced) bytes but claims \(expected)"))
        }
        guard leftover == 0 else {
            return .failure(WireError(.decompressionFailed, "\(leftover) bytes follow the end of the compressed data"))
        }
        return .success(produced)
    }

    private func setDictionary() throws(WireError) {
        let status = dictionary.withUnsafeBufferPointer {
            inflateSetDictionary(&stream, $0.baseAddress, uInt($0.count))
        }
        guard status == Z_OK else {
            throw WireError(.decompressionFailed, "the compressed data was made with a different preset dictionary")
        }
    }
}
