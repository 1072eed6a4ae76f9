import ElectionModel
import Foundation
import HubWire
import Logging
import NIOCore
import Testing

@testable import HubJournal

@Suite("FileJournal: append and recover")
struct AppendRecoverTests {
    @Test func batchesRoundTripThroughANewInstance() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 1)
            let batches = [
                factory.entries(1...1), factory.entries(2...6), factory.entries(7...46), factory.entries(47...49),
            ]
            let journal = try await openJournal(directory)
            #expect(try await journal.recoverEntries().entries.isEmpty)
            for batch in batches { try await journal.append(batch) }
            #expect(journal.lastSequence == 49)
            try await journal.close()

            let all = batches.flatMap { $0 }
            #expect(Set(all.map { $0.record.declared == nil }).count == 2, "declared and withdrawn records")
            #expect(all.contains { $0.record.declared?.candidateVotes != nil })
            #expect(all.contains { $0.record.declared?.votes != nil })
            let capture = LogCapture()
            let reopened = try await openJournal(directory, capture: capture)
            let recovery = try await reopened.recoverEntries()
            #expect(recovery.entries == all)
            #expect(recovery.truncatedBytes == 0)
            #expect(capture.lines.isEmpty)
            #expect(reopened.lastSequence == 49)

            // Appending continues the sequence after a restart.
            let more = factory.entries(50...52)
            try await reopened.append(more)
            try await reopened.close()
            #expect(try await recoverJournal(directory).entries == all + more)
        }
    }

    @Test func createsMissingDirectoriesAndWritesTheHeader() async throws {
        try await withTemporaryDirectory { root in
            let directory = root + "/a/b/journal-dir"
            let journal = try await openJournal(directory)
            let recovery = try await journal.recoverEntries()
            #expect(recovery.entries.isEmpty && recovery.truncatedBytes == 0)
            try await journal.close()
            let bytes = try readFile(journalPath(directory))
            #expect(bytes.count == 18)
            #expect(Array(bytes[0..<4]) == Array("RHJ1".utf8))
            #expect(Array(bytes[4..<6]) == [0, 1])
            #expect(Array(bytes[6..<14]) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
            let crc = bytes[0..<14].withUnsafeBytes { JournalFormat.crc($0) }
            #expect(
                Array(bytes[14..<18]) == [
                    UInt8(crc >> 24), UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff),
                ])
        }
    }

    /// Pins the record framing: length, zlib crc32 of the payload, varint sequence, then RecordCodec's bytes.
    @Test func recordBytesAreFramedAsDocumented() async throws {
        #expect(Array("123456789".utf8).withUnsafeBytes { JournalFormat.crc($0) } == 0xCBF4_3926)
        try await withTemporaryDirectory { directory in
            let record = RecordFactory.longRecord()
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append([JournalEntry(sequence: 1, record: record)])
            try await journal.close()
            let bytes = try readFile(journalPath(directory))
            var recordBytes = ByteBuffer()
            RecordCodec.encode(record, into: &recordBytes)
            let payload = [0x01] + Array(recordBytes.readableBytesView)
            let length = UInt32(payload.count)
            let crc = payload.withUnsafeBytes { JournalFormat.crc($0) }
            let expected: [UInt8] =
                withUnsafeBytes(of: length.bigEndian, Array.init) + withUnsafeBytes(of: crc.bigEndian, Array.init)
                + payload
            #expect(Array(bytes[18...]) == expected)
        }
    }

    @Test func partialWritesAreCompleted() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 2)
            let entries = factory.entries(1...20)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            journal.maxBytesPerWrite = 3
            try await journal.append(entries)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == entries)
        }
    }

    @Test func emptyBatchWritesNothing() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append([])
            try await journal.close()
            #expect(try fileSize(journalPath(directory)) == 18)
        }
    }
}

@Suite("FileJournal: torn tails")
struct TornTailTests {
    /// Cut the file at every byte of the last record: recovery keeps the records before it, drops the rest with one
    /// warning, and the file is clean for the next append.
    @Test func tornAtEveryOffsetOfTheLastRecord() async throws {
        try await withTemporaryDirectory { root in
            var factory = RecordFactory(seed: 3)
            let before = factory.entries(1...5)
            let last = JournalEntry(sequence: 6, record: RecordFactory.longRecord())
            let source = try makeSubdirectory(root, "source")
            let journal = try await openJournal(source)
            _ = try await journal.recoverEntries()
            try await journal.append(before)
            let lastStart = try fileSize(journalPath(source))
            try await journal.append([last])
            try await journal.close()
            let full = try readFile(journalPath(source))
            #expect(full.count - lastStart > 300)

            for length in lastStart..<full.count {
                let directory = try makeSubdirectory(root, "cut-\(length)")
                try writeFile(journalPath(directory), Array(full[0..<length]))
                let capture = LogCapture()
                let reopened = try await openJournal(directory, capture: capture)
                let recovery = try await reopened.recoverEntries()
                #expect(recovery.entries == before, "cut at \(length)")
                #expect(recovery.truncatedBytes == length - lastStart, "cut at \(length)")
                #expect(try fileSize(journalPath(directory)) == lastStart, "cut at \(length)")
                let warnings = capture.lines(.warning)
                if length == lastStart {
                    #expect(capture.lines.isEmpty)
                } else {
                    #expect(warnings.count == 1 && capture.lines.count == 1, "cut at \(length)")
                    #expect(warnings.first?.metadata["journal.offset"] == "\(lastStart)")
                    #expect(
                        warnings.first?.message.contains("\(length - lastStart) bytes at byte \(lastStart)") == true)
                }
                try await reopened.append([last])
                try await reopened.close()
                #expect(try readFile(journalPath(directory)) == full, "cut at \(length)")
                #expect(try await recoverJournal(directory).entries == before + [last])
            }
        }
    }

    /// Fewer than 8 bytes after the last record: a partial record header, what a crash in the middle of an append
    /// leaves.
    @Test(arguments: [1, 7])
    func partialRecordHeaderAfterTheLastRecordIsATornTail(garbageBytes: Int) async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 4)
            let entries = factory.entries(1...10)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(entries)
            try await journal.close()
            let clean = try readFile(journalPath(directory))
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<20 {
                let garbage = (0..<garbageBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
                try writeFile(journalPath(directory), clean + garbage)
                let recovery = try await recoverJournal(directory)
                #expect(recovery.entries == entries, "garbage \(garbage)")
                #expect(recovery.truncatedBytes == garbageBytes)
                #expect(try readFile(journalPath(directory)) == clean)
            }
        }
    }

    /// Bytes after the last record are a torn tail only if they start with a plausible length that claims more bytes
    /// than follow (what an interrupted append leaves); anything else has all its bytes and is refused as corrupt,
    /// naming the offset, with the file unchanged.
    @Test(arguments: [8, 9, 16, 40, 500])
    func garbageAfterTheLastRecordIsTornOnlyWhenShorterThanItsLengthPrefix(garbageBytes: Int) async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 4)
            let entries = factory.entries(1...10)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(entries)
            try await journal.close()
            let clean = try readFile(journalPath(directory))
            var generator = SystemRandomNumberGenerator()
            for attempt in 0..<20 {
                var garbage = (0..<garbageBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if attempt % 2 == 0 {
                    // A length prefix that runs past the end of the file, as a torn append's does.
                    let claimed = UInt32(garbageBytes - 8 + Int.random(in: 1...1000, using: &generator))
                    garbage.replaceSubrange(0..<4, with: withUnsafeBytes(of: claimed.bigEndian, Array.init))
                }
                let claimed = garbage[0..<4].reduce(0) { $0 << 8 | Int($1) }
                try writeFile(journalPath(directory), clean + garbage)
                if (1...JournalFormat.maxPayloadBytes).contains(claimed) && 8 + claimed > garbageBytes {
                    let recovery = try await recoverJournal(directory)
                    #expect(recovery.entries == entries, "garbage \(garbage)")
                    #expect(recovery.truncatedBytes == garbageBytes)
                    #expect(try readFile(journalPath(directory)) == clean)
                } else {
                    let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
                    guard case .corruptRecord(clean.count, _) = error else {
                        Issue.record("garbage \(garbage): \(String(describing: error))")
                        continue
                    }
                    #expect(try readFile(journalPath(directory)) == clean + garbage)
                }
            }
        }
    }

    /// Zeros after the last record (a file system may extend a file before its data reaches the disk) are all there:
    /// a record of length 0 is corruption, refused unless repairing.
    @Test func zeroFilledTailIsRefusedAsCorruptUnlessRepairing() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 5)
            let entries = factory.entries(1...3)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(entries)
            try await journal.close()
            let clean = try readFile(journalPath(directory))
            let zeroed = clean + [UInt8](repeating: 0, count: 4096)
            try writeFile(journalPath(directory), zeroed)
            let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
            guard case .corruptRecord(clean.count, let reason) = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(reason.contains("length 0"))
            #expect(try readFile(journalPath(directory)) == zeroed)

            let recovery = try await recoverJournal(directory, repair: true)
            #expect(recovery.entries == entries)
            #expect(recovery.truncatedBytes == 4096)
            #expect(try readFile(journalPath(directory)) == clean)
            #expect(try backups(in: directory).map { try readFile(directory + "/" + $0) } == [zeroed])
        }
    }

    /// A length of 0, or over the limit (0xFFFFFFFF included), is not what a torn append leaves: refused as corrupt,
    /// and nothing of that size is allocated or read. A plausible length that runs past the end is a torn tail.
    @Test func implausibleLengthInTheTailIsRefusedAsCorrupt() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 6)
            let entries = factory.entries(1...3)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(entries)
            try await journal.close()
            let clean = try readFile(journalPath(directory))
            for tail: [UInt8] in [
                [0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6],
                [0x00, 0x10, 0x00, 0x01] + [UInt8](repeating: 7, count: 20),  // over the limit, runs past the end
                [0x00, 0x01, 0x00, 0x01] + [UInt8](repeating: 7, count: 20),  // 65537: one over the limit
                [0x00, 0x00, 0x00, 0x00, 0, 0, 0, 0, 9],  // length 0
            ] {
                try writeFile(journalPath(directory), clean + tail)
                let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
                guard case .corruptRecord(clean.count, _) = error else {
                    Issue.record("tail \(tail): \(String(describing: error))")
                    continue
                }
                #expect(try readFile(journalPath(directory)) == clean + tail)
            }
            // 65536, the limit itself, with 20 of its bytes present: torn.
            let torn: [UInt8] = [0x00, 0x01, 0x00, 0x00] + [UInt8](repeating: 7, count: 24)
            try writeFile(journalPath(directory), clean + torn)
            let recovery = try await recoverJournal(directory)
            #expect(recovery.entries == entries)
            #expect(recovery.truncatedBytes == torn.count)
        }
    }

    /// The warning says what recovery knows (a record shorter than its length prefix), not that the append was never
    /// acknowledged, which it cannot know.
    @Test func tornTailWarningSaysOnlyWhatIsKnown() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 16)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(factory.entries(1...2))
            let lastStart = try fileSize(journalPath(directory))
            try await journal.append([JournalEntry(sequence: 3, record: RecordFactory.longRecord())])
            try await journal.close()
            let full = try readFile(journalPath(directory))
            let length = full[lastStart..<lastStart + 4].reduce(0) { $0 << 8 | Int($1) }

            try writeFile(journalPath(directory), Array(full[0..<lastStart + 8 + 10]))
            let capture = LogCapture()
            _ = try await recoverJournal(directory, capture: capture)
            let message = try #require(capture.lines(.warning).first?.message)
            #expect(message.contains("18 bytes at byte \(lastStart)"))
            #expect(message.contains("the record at byte \(lastStart) claims \(length) bytes but only 10 follow"))
            #expect(!message.contains("acknowledged"))

            try writeFile(journalPath(directory), Array(full[0..<lastStart + 5]))
            let partialCapture = LogCapture()
            _ = try await recoverJournal(directory, capture: partialCapture)
            let partial = try #require(partialCapture.lines(.warning).first?.message)
            #expect(partial.contains("only 5 bytes of the record's 8-byte header at byte \(lastStart)"))
            #expect(!partial.contains("acknowledged"))
        }
    }
}

@Suite("FileJournal: corruption")
struct CorruptionTests {
    /// Three batches; returns the journal's bytes and the first and last offsets of the middle record (entry 3).
    private func writeJournal(_ directory: String) async throws -> (
        entries: [JournalEntry], bytes: [UInt8], middle: Range<Int>
    ) {
        var factory = RecordFactory(seed: 7)
        let entries = factory.entries(1...5)
        let journal = try await openJournal(directory)
        _ = try await journal.recoverEntries()
        try await journal.append(Array(entries[0..<2]))
        let start = try fileSize(journalPath(directory))
        try await journal.append([entries[2]])
        let end = try fileSize(journalPath(directory))
        try await journal.append(Array(entries[3...]))
        try await journal.close()
        return (entries, try readFile(journalPath(directory)), start..<end)
    }

    /// Every single flipped byte of a middle record (length, crc or payload) is refused, naming the record's offset.
    @Test func flippedByteInAMiddleRecordIsRefused() async throws {
        try await withTemporaryDirectory { root in
            let (_, bytes, middle) = try await writeJournal(try makeSubdirectory(root, "source"))
            for index in middle {
                for flip: UInt8 in [0x01, 0x80] {
                    let directory = try makeSubdirectory(root, "flip-\(index)-\(flip)")
                    var damaged = bytes
                    damaged[index] ^= flip
                    try writeFile(journalPath(directory), damaged)
                    let capture = LogCapture()
                    let error = await #expect(throws: JournalError.self) {
                        try await recoverJournal(directory, capture: capture)
                    }
                    guard case .corruptRecord(let offset, _) = error else {
                        Issue.record("byte \(index) ^ \(flip): \(String(describing: error))")
                        continue
                    }
                    #expect(offset == middle.lowerBound)
                    #expect(capture.lines.isEmpty, "refusing is the caller's to report")
                    // Nothing was changed.
                    #expect(try readFile(journalPath(directory)) == damaged)
                }
            }
        }
    }

    /// One changed byte in the last complete record: all of its bytes are there, so it is corruption, refused naming
    /// its offset, exactly as in the middle. That includes a changed length that claims more bytes than the file
    /// holds: the bytes that are there start with a payload matching the record's crc, which a torn write's cannot.
    @Test func changedByteInTheLastRecordIsRefused() async throws {
        try await withTemporaryDirectory { root in
            var factory = RecordFactory(seed: 17)
            let entries = factory.entries(1...5)
            let source = try makeSubdirectory(root, "source")
            let journal = try await openJournal(source)
            _ = try await journal.recoverEntries()
            try await journal.append(Array(entries[0..<4]))
            let lastStart = try fileSize(journalPath(source))
            try await journal.append([entries[4]])
            try await journal.close()
            let bytes = try readFile(journalPath(source))
            for index in lastStart..<bytes.count {
                for flip: UInt8 in [0x01, 0x80] {
                    let directory = try makeSubdirectory(root, "flip-\(index)-\(flip)")
                    var damaged = bytes
                    damaged[index] ^= flip
                    try writeFile(journalPath(directory), damaged)
                    let capture = LogCapture()
                    let error = await #expect(throws: JournalError.self) {
                        try await recoverJournal(directory, capture: capture)
                    }
                    guard case .corruptRecord(let offset, _) = error else {
                        Issue.record("byte \(index) ^ \(flip): \(String(describing: error))")
                        continue
                    }
                    #expect(offset == lastStart)
                    #expect(capture.lines.isEmpty, "refusing is the caller's to report")
                    #expect(try readFile(journalPath(directory)) == damaged)
                }
            }
        }
    }

    @Test func corruptRecordMessageTellsTheOperatorWhatToDo() {
        let message = JournalError.corruptRecord(offset: 1234, reason: "crc32 mismatch").description
        #expect(message.hasPrefix("journal.rhj is corrupt at byte 1234 (crc32 mismatch)"))
        #expect(message.contains("--repair-journal"))
    }

    @Test func repairKeepsABackupAndCutsAtTheCorruptRecord() async throws {
        try await withTemporaryDirectory { directory in
            let (entries, bytes, middle) = try await writeJournal(directory)
            var damaged = bytes
            damaged[middle.lowerBound + 12] ^= 0x55
            try writeFile(journalPath(directory), damaged)

            let capture = LogCapture()
            let recovery = try await recoverJournal(directory, repair: true, capture: capture)
            #expect(recovery.entries == Array(entries[0..<2]))
            #expect(recovery.truncatedBytes == bytes.count - middle.lowerBound)
            #expect(try readFile(journalPath(directory)) == Array(bytes[0..<middle.lowerBound]))
            let errors = capture.lines(.error)
            #expect(errors.count == 1)
            #expect(errors.first?.metadata["journal.offset"] == "\(middle.lowerBound)")

            let backups = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasPrefix("journal.rhj.corrupt-") && $0.hasSuffix(".bak") }
            #expect(backups.count == 1)
            if let backup = backups.first {
                #expect(try readFile(directory + "/" + backup) == damaged)
                #expect(errors.first?.message.contains(backup) == true)
            }

            // The repaired journal takes appends again from where it was cut.
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(Array(entries[2...]))
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == entries)
        }
    }

    @Test func repairTwiceInOneSecondKeepsBothBackups() async throws {
        try await withTemporaryDirectory { directory in
            let (_, bytes, middle) = try await writeJournal(directory)
            var damaged = bytes
            damaged[middle.lowerBound + 9] ^= 0x01
            for _ in 0..<2 {
                try writeFile(journalPath(directory), damaged)
                _ = try await recoverJournal(directory, repair: true)
            }
            let backups = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".bak") }
            #expect(backups.count == 2)
        }
    }

    /// Records with valid crcs but a sequence that skips: never accepted silently, even at the end.
    @Test func sequenceGapIsRefusedWithItsOffset() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 8)
            var buffer = JournalFormat.header(electionDigest: testDigest)
            try JournalFormat.encode(factory.entries(1...2), firstSequence: 1, into: &buffer)
            let gapOffset = buffer.readableBytes
            try JournalFormat.encode(factory.entries(4...5), firstSequence: 4, into: &buffer)
            try writeFile(journalPath(directory), Array(buffer.readableBytesView))
            await #expect(throws: JournalError.sequenceGap(expected: 3, found: 4, offset: gapOffset)) {
                try await recoverJournal(directory)
            }
            let recovery = try await recoverJournal(directory, repair: true)
            #expect(recovery.entries.map(\.sequence) == [1, 2])
            #expect(try fileSize(journalPath(directory)) == gapOffset)
        }
    }

    /// A last record whose crc is right but whose content does not decode was written that way and may have been
    /// acknowledged: it is not a torn tail.
    @Test func undecodableRecordWithAGoodCRCIsRefusedEvenAtTheEnd() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 9)
            var buffer = JournalFormat.header(electionDigest: testDigest)
            try JournalFormat.encode(factory.entries(1...2), firstSequence: 1, into: &buffer)
            let offset = buffer.readableBytes
            let payload: [UInt8] = [0x03, 0x05, 0x01, 0x09]  // sequence 3, contest 5, revision 1, status 9
            let crc = payload.withUnsafeBytes { JournalFormat.crc($0) }
            buffer.writeInteger(UInt32(payload.count))
            buffer.writeInteger(crc)
            buffer.writeBytes(payload)
            try writeFile(journalPath(directory), Array(buffer.readableBytesView))
            let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
            guard case .corruptRecord(offset, let reason) = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(reason.contains("record.status"))
        }
    }
}

@Suite("FileJournal: header and misuse")
struct HeaderAndMisuseTests {
    @Test func journalOfAnotherElectionIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.close()
            let other = try await FileJournal.open(
                directory: directory, electionDigest: 42, logger: LogCapture().logger)
            await #expect(throws: JournalError.electionMismatch(expected: 42, found: testDigest)) {
                try await other.recoverEntries()
            }
            try await other.close()
            // Nothing was changed: the right election still opens it.
            #expect(try await recoverJournal(directory).entries.isEmpty)
        }
    }

    @Test func otherFilesAreNotJournals() async throws {
        try await withTemporaryDirectory { directory in
            for bytes in [Array("hello".utf8), Array("SQLite format 3\0 and more bytes".utf8)] {
                try writeFile(journalPath(directory), bytes)
                await #expect(throws: JournalError.notAJournal(path: journalPath(directory))) {
                    try await recoverJournal(directory)
                }
                #expect(try readFile(journalPath(directory)) == bytes)
            }
        }
    }

    @Test func unknownVersionAndDamagedHeaderAreRefused() async throws {
        try await withTemporaryDirectory { directory in
            var header = Array(JournalFormat.header(electionDigest: testDigest).readableBytesView)
            var future = header
            future[5] = 2
            try writeFile(journalPath(directory), future)
            await #expect(throws: JournalError.unsupportedVersion(2)) { try await recoverJournal(directory) }

            header[10] ^= 0x01
            try writeFile(journalPath(directory), header)
            let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
            guard case .corruptHeader = error else {
                Issue.record("\(String(describing: error))")
                return
            }
        }
    }

    @Test func appendOutOfSequenceThrowsAndWritesNothing() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 10)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            await #expect(throws: JournalError.appendOutOfSequence(expected: 1, found: 2)) {
                try await journal.append(factory.entries(2...3))
            }
            try await journal.append(factory.entries(1...2))
            let size = try fileSize(journalPath(directory))
            var batch = factory.entries(3...5)
            batch[1].sequence = 5
            await #expect(throws: JournalError.appendOutOfSequence(expected: 4, found: 5)) {
                try await journal.append(batch)
            }
            #expect(try fileSize(journalPath(directory)) == size)
            try await journal.append(factory.entries(3...4))
            try await journal.close()
            #expect(try await recoverJournal(directory).entries.map(\.sequence) == [1, 2, 3, 4])
        }
    }

    /// A record that recovery could not read back is refused by append, so that a bug upstream cannot make the
    /// journal unrecoverable.
    @Test func appendRefusesARecordThatWouldNotReadBack() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 15)
            var batch = factory.entries(1...3)
            var result = DeclaredResult(
                control: .noOverallControl, outcome: .noChange, seats: [PartyCount(party: PartyIndex(1), count: 3)],
                votes: nil, turnoutBasisPoints: 20_000, candidateVotes: nil, declaredAt: 1, deskID: "desk")
            batch[1].record = ContestRecord(contestID: ContestID(9), revision: 1, state: .declared(result))
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            let error = await #expect(throws: JournalError.self) { try await journal.append(batch) }
            guard case .unreadableRecord(2, let reason) = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(reason.contains("turnout"))
            result.turnoutBasisPoints = 2_000
            batch[1].record = ContestRecord(contestID: ContestID(9), revision: 1, state: .declared(result))
            #expect(try fileSize(journalPath(directory)) == 18)
            try await journal.append(batch)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == batch)
        }
    }

    @Test func appendBeforeRecoverAndUseAfterCloseThrow() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 11)
            let journal = try await openJournal(directory)
            await #expect(throws: JournalError.notRecovered) { try await journal.append(factory.entries(1...1)) }
            _ = try await journal.recoverEntries()
            try await journal.close()
            await #expect(throws: JournalError.closed) { try await journal.append(factory.entries(1...1)) }
            await #expect(throws: JournalError.closed) { try await journal.recoverEntries() }
            await #expect(throws: JournalError.closed) { try await journal.close() }
        }
    }

    @Test func aSecondOpenOfTheSameJournalIsLocked() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await openJournal(directory)
            await #expect(throws: JournalError.locked(path: journalPath(directory))) {
                try await openJournal(directory)
            }
            try await journal.close()
            try await openJournal(directory).close()
        }
    }
}

@Suite("FileJournal: write failures")
struct WriteFailureTests {
    /// Disk full in the middle of a batch: the append fails, the half-written batch is cut off, and the same batch
    /// succeeds once the disk does.
    @Test(arguments: [0, 1, 9, 60])
    func failedWriteIsCutOffAndRetried(afterBytes: Int) async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 12)
            let first = factory.entries(1...3)
            let second = factory.entries(4...8)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(first)
            let durable = try fileSize(journalPath(directory))

            journal.injectedFault = .write(afterBytes: afterBytes, errno: ENOSPC)
            let error = await #expect(throws: JournalError.self) { try await journal.append(second) }
            guard case .writeFailed(let detail) = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(detail.contains("No space left on device"))
            #expect(try fileSize(journalPath(directory)) == durable)
            #expect(journal.lastSequence == 3)

            try await journal.append(second)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == first + second)
        }
    }

    /// If even the cut fails, the failed batch's bytes stay in the file until the next append, which cuts them
    /// before writing: a shorter retry must not leave records of the failed batch behind it.
    @Test func failedCutIsRetriedBeforeTheNextAppend() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 14)
            let first = factory.entries(1...2)
            let failed = factory.entries(3...9)
            let capture = LogCapture()
            let journal = try await openJournal(directory, capture: capture)
            _ = try await journal.recoverEntries()
            try await journal.append(first)
            let durable = try fileSize(journalPath(directory))

            journal.injectedFault = .sync(errno: EIO)
            journal.failNextCut = true
            await #expect(throws: JournalError.self) { try await journal.append(failed) }
            #expect(try fileSize(journalPath(directory)) > durable, "the failed batch is still in the file")
            #expect(capture.lines(.error).count == 1)

            let retry = [JournalEntry(sequence: 3, record: RecordFactory.longRecord())]
            try await journal.append(retry)
            #expect(try fileSize(journalPath(directory)) == journal.durableLength)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == first + retry)
        }
    }

    /// After a failed fsync the written bytes cannot be trusted: they are cut off, and the retry writes them again.
    @Test func failedSyncIsCutOffAndRetried() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 13)
            let first = factory.entries(1...2)
            let second = factory.entries(3...4)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(first)
            let durable = try fileSize(journalPath(directory))
            journal.injectedFault = .sync(errno: EIO)
            await #expect(throws: JournalError.self) { try await journal.append(second) }
            #expect(try fileSize(journalPath(directory)) == durable)
            try await journal.append(second)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == first + second)
        }
    }
}
