import CZlib
import ElectionModel
import HubWire
import NIOCore

/// The bytes of `journal.rhj` (see FORMAT.md): encoding records, checking the header, and scanning the records
/// through a `SequentialReader`.
///
/// ```
///  header (18 bytes)
///  +------+---------+-----------------+----------------+
///  | RHJ1 | version | election digest | crc32 of bytes |
///  |  4   |  u16 BE |     u64 BE      |  0..<14 u32 BE |
///  +------+---------+-----------------+----------------+
///  record (8 + length bytes), repeated
///  +---------------+---------------+--------------------------------------------+
///  | length u32 BE | crc32 u32 BE  | payload: varint sequence ‖ contest record  |
///  |               | of payload    | (RecordCodec, spec 4.2), `length` bytes    |
///  +---------------+---------------+--------------------------------------------+
/// ```
enum JournalFormat {
    static let magic: [UInt8] = Array("RHJ1".utf8)
    static let version: UInt16 = 1
    static let headerBytes = 18
    static let recordHeaderBytes = 8
    /// Largest payload a record may have; checked before anything is read. The spec's limits (section 9) keep a
    /// decodable contest record under 5 KiB (256 seats and 256 votes of at most 7 bytes each, 64 candidate votes,
    /// 320 bytes of strings), so 64 KiB leaves room, and recovery never buffers more than one chunk plus one record.
    static let maxPayloadBytes = 64 * 1024

    static func crc(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return 0 }
        return UInt32(truncatingIfNeeded: CZlib.crc32(0, base.assumingMemoryBound(to: UInt8.self), UInt32(bytes.count)))
    }

    static func crc(_ buffer: ByteBuffer, at index: Int, length: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { bytes in
            let start = index - buffer.readerIndex
            return crc(UnsafeRawBufferPointer(rebasing: bytes[start..<start + length]))
        }
    }

    static func header(electionDigest: UInt64) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: headerBytes)
        buffer.writeBytes(magic)
        buffer.writeInteger(version, endianness: .big)
        buffer.writeInteger(electionDigest, endianness: .big)
        let checksum = crc(buffer, at: buffer.readerIndex, length: buffer.readableBytes)
        buffer.writeInteger(checksum, endianness: .big)
        return buffer
    }

    /// Appends one framed record per entry. Throws for an entry out of sequence, too large, or one that would not
    /// decode again (a record the hub's validation should never have produced): written, it would stop the next
    /// recovery. The caller then writes nothing.
    static func encode(
        _ entries: [JournalEntry], firstSequence: UInt64, into buffer: inout ByteBuffer
    ) throws(JournalError) {
        var expected = firstSequence
        for entry in entries {
            guard entry.sequence == expected else {
                throw .appendOutOfSequence(expected: expected, found: entry.sequence)
            }
            let start = buffer.writerIndex
            buffer.writeInteger(UInt64(0))  // length and crc, set below
            buffer.writeVarint(entry.sequence)
            RecordCodec.encode(entry.record, into: &buffer)
            let length = buffer.writerIndex - start - recordHeaderBytes
            guard length <= maxPayloadBytes else { throw .recordTooLarge(sequence: entry.sequence, bytes: length) }
            if case .failure(let failure) = decodePayload(buffer, at: start + recordHeaderBytes, length: length) {
                throw .unreadableRecord(sequence: entry.sequence, reason: failure.message)
            }
            buffer.setInteger(UInt32(length), at: start, endianness: .big)
            let checksum = crc(buffer, at: start + recordHeaderBytes, length: length)
            buffer.setInteger(checksum, at: start + 4, endianness: .big)
            expected += 1
        }
    }

    /// Checks an existing journal's header: `bytes` holds the file's first `min(fileBytes, 18)` bytes.
    ///
    /// Throws, in this order: `missingHeader` for an empty file or one whose header bytes are all zero;
    /// `notAJournal` for a wrong magic, `unsupportedVersion` and `electionMismatch` as far as those fields are
    /// present (even a header cut after its digest names its election); `missingHeader` for a file shorter than the
    /// header; `corruptHeader` for a crc mismatch. A new journal is created with its header in place (FileJournal),
    /// so none of these is an interrupted start.
    static func checkHeader(
        _ bytes: ByteBuffer, fileBytes: Int, electionDigest: UInt64, path: String
    ) throws(JournalError) {
        if fileBytes == 0 { throw .missingHeader(path: path, problem: .empty) }
        let present = bytes.readableBytes
        if bytes.readableBytesView.allSatisfy({ $0 == 0 }) {
            throw .missingHeader(path: path, problem: .zeroed(fileBytes: fileBytes))
        }
        let start = bytes.readerIndex
        // Check the fields in order, each only as far as it is present.
        let magicPresent = min(present, magic.count)
        guard bytes.getBytes(at: start, length: magicPresent) == Array(magic[0..<magicPresent]) else {
            throw .notAJournal(path: path)
        }
        if present >= 6, let found = bytes.getInteger(at: start + 4, endianness: .big, as: UInt16.self),
            found != version
        {
            throw .unsupportedVersion(Int(found))
        }
        let digest = present >= 14 ? bytes.getInteger(at: start + 6, endianness: .big, as: UInt64.self) : nil
        if present < headerBytes {
            if let digest, digest != electionDigest {
                throw .electionMismatch(expected: electionDigest, found: digest)
            }
            throw .missingHeader(path: path, problem: .partial(bytes: present))
        }
        let stored = bytes.getInteger(at: start + 14, endianness: .big, as: UInt32.self)!
        let computed = crc(bytes, at: start, length: 14)
        guard stored == computed else {
            throw .corruptHeader(reason: "header crc32 is \(hexCRC(stored)), computed \(hexCRC(computed))")
        }
        if let digest, digest != electionDigest {
            throw .electionMismatch(expected: electionDigest, found: digest)
        }
    }

    /// What scanning the records found.
    struct Scan {
        /// How many intact records were handed to `apply`; their sequence numbers are 1 ... `entryCount`.
        var entryCount = 0
        /// The offset just past the last intact record.
        var validEnd = headerBytes
        var problem: Problem?
        /// Payload bytes whose crc was computed. Each record's payload is checked once and the scan never goes back,
        /// so this is at most the file's size, whatever its bytes: recovery stays linear.
        var bytesChecksummed = 0
    }

    enum Problem: Equatable {
        /// The record at `validEnd` is shorter than its length prefix, or than a record header, and reaches the end
        /// of the file, and no prefix of its bytes matches its crc: what a crash in the middle of an append leaves.
        /// Dropped, with a warning. `reason` says which.
        case tornTail(reason: String)
        /// The record at `validEnd` has all of its bytes but is wrong (a length of 0 or over the limit, a crc
        /// mismatch, content that does not decode, a sequence gap): refused unless repairing. `error` is
        /// `.corruptRecord` or `.sequenceGap` at `validEnd`.
        case corrupt(JournalError)
    }

    /// Scans the records from the reader's position (just after the header) to the end of the file, handing each
    /// intact one to `apply` in order, and stops at the first record that is not intact.
    ///
    /// Only a record shorter than its own length prefix (or than a record header) at the end of the file is a torn
    /// tail: a crash in the middle of an append leaves exactly that. Even then, if the bytes that are there start
    /// with a payload matching the record's crc, the length field was damaged and the record is intact: corrupt.
    /// Every other damage has all its bytes present, so it is corruption, wherever it is. No search for intact
    /// records after damage: one pass, each byte read once and checksummed at most once.
    static func scanRecords<ApplyFailure: Error>(
        _ reader: inout SequentialReader, apply: (JournalEntry) throws(ApplyFailure) -> Void
    ) throws(JournalError) -> Scan {
        var scan = Scan(validEnd: reader.offset)
        var expected: UInt64 = 1

        func fill(_ count: Int) throws(JournalError) -> Int {
            switch reader.fill(count) {
            case .success(let available): return available
            case .failure(let failure): throw .readFailed(failure.description)
            }
        }

        while true {
            let offset = reader.offset
            scan.validEnd = offset
            let headerAvailable = try fill(recordHeaderBytes)
            if headerAvailable == 0 { return scan }
            guard headerAvailable >= recordHeaderBytes else {
                scan.problem = .tornTail(
                    reason: "only \(headerAvailable) bytes of the record's \(recordHeaderBytes)-byte header at byte "
                        + "\(offset) before the end of the file")
                return scan
            }
            let start = reader.buffer.readerIndex
            let length = Int(reader.buffer.getInteger(at: start, endianness: .big, as: UInt32.self)!)
            let storedCRC = reader.buffer.getInteger(at: start + 4, endianness: .big, as: UInt32.self)!
            guard length > 0 else {
                scan.problem = .corrupt(.corruptRecord(offset: offset, reason: "record length 0"))
                return scan
            }
            guard length <= maxPayloadBytes else {
                scan.problem = .corrupt(
                    .corruptRecord(
                        offset: offset, reason: "record length \(length) is over the limit \(maxPayloadBytes)"))
                return scan
            }
            let recordBytes = recordHeaderBytes + length
            let available = try fill(recordBytes)
            guard available >= recordBytes else {
                // Shorter than its length prefix: torn, unless the bytes that are there start with a payload that
                // matches the record's crc. Then the length prefix itself was damaged (an intact record, and
                // records after it, may be behind it): corruption, not a torn write.
                let present = available - recordHeaderBytes
                let intact = reader.buffer.withUnsafeReadableBytes { bytes in
                    prefixMatchingCRC(UnsafeRawBufferPointer(rebasing: bytes[recordHeaderBytes..<available]), storedCRC)
                }
                scan.bytesChecksummed += present
                if let intact {
                    scan.problem = .corrupt(
                        .corruptRecord(
                            offset: offset,
                            reason: "the record claims \(length) bytes, more than the file holds, but its first "
                                + "\(intact) bytes match its crc32: its length is damaged"))
                } else {
                    scan.problem = .tornTail(
                        reason: "the record at byte \(offset) claims \(length) bytes but only \(present) follow, "
                            + "before the end of the file")
                }
                return scan
            }
            // `fill` may have moved the bytes within the buffer.
            let payload = reader.buffer.readerIndex + recordHeaderBytes
            let computedCRC = crc(reader.buffer, at: payload, length: length)
            scan.bytesChecksummed += length
            guard computedCRC == storedCRC else {
                scan.problem = .corrupt(
                    .corruptRecord(
                        offset: offset,
                        reason: "crc32 mismatch: stored \(hexCRC(storedCRC)), computed \(hexCRC(computedCRC))"))
                return scan
            }
            let entry: JournalEntry
            switch decodePayload(reader.buffer, at: payload, length: length) {
            case .success(let (sequence, record)): entry = JournalEntry(sequence: sequence, record: record)
            case .failure(let reason):
                scan.problem = .corrupt(.corruptRecord(offset: offset, reason: reason.message))
                return scan
            }
            guard entry.sequence == expected else {
                scan.problem = .corrupt(.sequenceGap(expected: expected, found: entry.sequence, offset: offset))
                return scan
            }
            do {
                try apply(entry)
            } catch {
                throw .replayFailed(sequence: entry.sequence, reason: "\(error)")
            }
            scan.entryCount += 1
            expected += 1
            reader.consume(recordBytes)
        }
    }

    /// The first length, from 1 to `bytes.count`, whose payload `bytes[0..<length]` has the crc32 `stored`; nil if
    /// none. One pass: each prefix's crc continues the previous one's.
    static func prefixMatchingCRC(_ bytes: UnsafeRawBufferPointer, _ stored: UInt32) -> Int? {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), !bytes.isEmpty else { return nil }
        var running: UInt = 0
        for length in 1...bytes.count {
            running = CZlib.crc32(running, base + length - 1, 1)
            if UInt32(truncatingIfNeeded: running) == stored { return length }
        }
        return nil
    }

    struct UndecodablePayload: Error {
        var message: String
    }

    /// A payload's sequence number and contest record; every byte must be used.
    static func decodePayload(
        _ file: ByteBuffer, at index: Int, length: Int
    ) -> Result<(UInt64, ContestRecord), UndecodablePayload> {
        var reader = WireReader(file.getSlice(at: index, length: length)!)
        do {
            let sequence = try reader.varint("journal.sequence")
            let record = try RecordCodec.decode(from: &reader)
            guard reader.remaining == 0 else {
                return .failure(UndecodablePayload(message: "\(reader.remaining) bytes after the contest record"))
            }
            return .success((sequence, record))
        } catch {
            return .failure(UndecodablePayload(message: "undecodable record: \(error.message)"))
        }
    }

    static func hexCRC(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
