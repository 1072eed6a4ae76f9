import CZlib
import ElectionModel
import HubWire
import NIOCore

/// The bytes of `journal.rhj` (see FORMAT.md), with no I/O: encoding records and scanning a whole file's bytes.
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
    /// 320 bytes of strings), so 64 KiB leaves room and keeps the search for intact records after damage cheap.
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

    /// What the header says about the file.
    enum HeaderState: Equatable {
        /// A valid header for this election.
        case valid
        /// No header yet (empty file), a partial one, or one that never reached the disk (all zeros): the file
        /// was being created when the process stopped. Rewrite it.
        case torn(reason: String)
    }

    /// Checks the header in the first bytes of `file` (the whole file, reader index 0).
    static func checkHeader(
        _ file: ByteBuffer, electionDigest: UInt64, path: String
    ) throws(JournalError) -> HeaderState {
        let size = file.readableBytes
        if size == 0 { return .torn(reason: "the file is empty") }
        if isZero(file, from: 0) {
            return .torn(reason: "the file is \(size) zero bytes (its header never reached the disk)")
        }
        let present = min(size, headerBytes)
        // Check the fields in order, each only as far as it is present.
        let magicPresent = min(present, magic.count)
        guard file.getBytes(at: 0, length: magicPresent) == Array(magic[0..<magicPresent]) else {
            throw .notAJournal(path: path)
        }
        if present >= 6, let found = file.getInteger(at: 4, endianness: .big, as: UInt16.self), found != version {
            throw .unsupportedVersion(Int(found))
        }
        let digest = present >= 14 ? file.getInteger(at: 6, endianness: .big, as: UInt64.self) : nil
        if present < headerBytes {
            // Even a header cut before its crc names its election: refuse rather than take over another's journal.
            if let digest, digest != electionDigest {
                throw .electionMismatch(expected: electionDigest, found: digest)
            }
            // Otherwise the file never held a record.
            return .torn(reason: "the header is \(present) of \(headerBytes) bytes")
        }
        let stored = file.getInteger(at: 14, endianness: .big, as: UInt32.self)!
        let computed = crc(file, at: 0, length: 14)
        guard stored == computed else {
            throw .corruptHeader(reason: "header crc32 is \(hexCRC(stored)), computed \(hexCRC(computed))")
        }
        if let digest, digest != electionDigest {
            throw .electionMismatch(expected: electionDigest, found: digest)
        }
        return .valid
    }

    /// What scanning the records found.
    struct Scan {
        /// Every intact record before `validEnd`, in order.
        var entries: [JournalEntry]
        /// The offset just past the last intact record.
        var validEnd: Int
        var problem: Problem?
    }

    enum Problem: Equatable {
        /// An interrupted append: the bytes from `validEnd` hold no intact record and are dropped (with a warning).
        case tornTail(reason: String)
        /// Damage followed by an intact record, or a record whose crc is right but whose content is wrong: refused
        /// unless repairing. `error` is `.corruptRecord` or `.sequenceGap` at `validEnd`.
        case corrupt(JournalError)
    }

    /// Scans the records of a file whose header is valid. `file` is the whole file, reader index 0.
    ///
    /// Damage to a record's framing (a partial header, a length of 0, over the limit or past the end of the file,
    /// a crc mismatch) is a torn tail when no intact record starts anywhere after it: an interrupted append leaves
    /// exactly that, and dropping it loses nothing that was acknowledged. If an intact record does follow, the
    /// damage is in the middle of the journal and is reported as corrupt.
    static func scanRecords(_ file: ByteBuffer) -> Scan {
        let end = file.writerIndex
        var offset = headerBytes
        var entries: [JournalEntry] = []
        entries.reserveCapacity(countFramedRecords(file))
        var expected: UInt64 = 1

        func stop(_ problem: Problem) -> Scan {
            Scan(entries: entries, validEnd: offset, problem: problem)
        }
        func damaged(_ reason: String) -> Scan {
            guard let intact = firstIntactRecord(in: file, after: offset) else {
                return stop(.tornTail(reason: reason))
            }
            return stop(
                .corrupt(
                    .corruptRecord(offset: offset, reason: "\(reason); an intact record follows at byte \(intact)")))
        }

        while offset < end {
            let remaining = end - offset
            guard remaining >= recordHeaderBytes else {
                return stop(.tornTail(reason: "a partial record header of \(remaining) bytes at the end"))
            }
            let length = Int(file.getInteger(at: offset, endianness: .big, as: UInt32.self)!)
            let storedCRC = file.getInteger(at: offset + 4, endianness: .big, as: UInt32.self)!
            guard length > 0 else { return damaged("record length 0") }
            let recordEnd = offset + recordHeaderBytes + length
            guard recordEnd <= end else {
                return damaged("the record claims \(length) bytes but only \(remaining - recordHeaderBytes) follow")
            }
            guard length <= maxPayloadBytes else {
                return damaged("record length \(length) is over the limit \(maxPayloadBytes)")
            }
            let computedCRC = crc(file, at: offset + recordHeaderBytes, length: length)
            guard computedCRC == storedCRC else {
                return damaged("crc32 mismatch: stored \(hexCRC(storedCRC)), computed \(hexCRC(computedCRC))")
            }
            // The crc matches, so these are the bytes the writer wrote: a record that does not decode or does not
            // continue the sequence is not a torn write, even at the end, and is never dropped silently.
            let sequence: UInt64
            let record: ContestRecord
            switch decodePayload(file, at: offset + recordHeaderBytes, length: length) {
            case .success(let decoded): (sequence, record) = decoded
            case .failure(let reason):
                return stop(.corrupt(.corruptRecord(offset: offset, reason: reason.message)))
            }
            guard sequence == expected else {
                return stop(.corrupt(.sequenceGap(expected: expected, found: sequence, offset: offset)))
            }
            entries.append(JournalEntry(sequence: sequence, record: record))
            expected += 1
            offset = recordEnd
        }
        return Scan(entries: entries, validEnd: offset, problem: nil)
    }

    /// How many records the length fields chain through (no crc, no decoding): enough to size the entries array
    /// once, in a pass that costs a few milliseconds per million records.
    static func countFramedRecords(_ file: ByteBuffer) -> Int {
        let end = file.writerIndex
        var offset = headerBytes
        var count = 0
        while offset + recordHeaderBytes <= end,
            let length = file.getInteger(at: offset, endianness: .big, as: UInt32.self),
            length > 0, length <= maxPayloadBytes
        {
            offset += recordHeaderBytes + Int(length)
            count += 1
        }
        return count
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

    /// The offset of the first intact record (plausible length, matching crc, decodable payload) that starts
    /// after `offset`, trying every byte offset; nil if there is none. Only used once damage has been found.
    static func firstIntactRecord(in file: ByteBuffer, after offset: Int) -> Int? {
        let end = file.writerIndex
        var candidate = offset + 1
        while candidate + recordHeaderBytes < end {
            let length = Int(file.getInteger(at: candidate, endianness: .big, as: UInt32.self)!)
            let payloadStart = candidate + recordHeaderBytes
            if length > 0, length <= maxPayloadBytes, payloadStart + length <= end,
                crc(file, at: payloadStart, length: length)
                    == file.getInteger(at: candidate + 4, endianness: .big, as: UInt32.self)!,
                case .success = decodePayload(file, at: payloadStart, length: length)
            {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    /// Whether every byte from `offset` to the end of `buffer` is zero.
    static func isZero(_ buffer: ByteBuffer, from offset: Int) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            let start = offset - buffer.readerIndex
            return bytes[start...].allSatisfy { $0 == 0 }
        }
    }

    static func hexCRC(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
