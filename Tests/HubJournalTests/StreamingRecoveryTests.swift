import Foundation
import NIOCore
import Synchronization
import Testing

@testable import HubJournal

/// Recovery reads the file in bounded chunks and hands entries over one at a time, and its work is linear in the
/// file's size whatever the bytes: counted, not timed.
@Suite("FileJournal: streaming recovery")
struct StreamingRecoveryTests {
    /// A journal of `count` entries, returned with its bytes.
    private func writeJournal(_ directory: String, count: UInt64, seed: UInt64) async throws -> (
        [JournalEntry], [UInt8]
    ) {
        var factory = RecordFactory(seed: seed)
        let entries = factory.entries(1...count)
        let journal = try await openJournal(directory)
        _ = try await journal.recoverEntries()
        for start in stride(from: 0, to: entries.count, by: 1000) {
            try await journal.append(Array(entries[start..<min(start + 1000, entries.count)]))
        }
        try await journal.close()
        return (entries, try readFile(journalPath(directory)))
    }

    /// 4 MiB of bytes crafted so that half of all offsets hold a plausible length prefix whose record fits in the
    /// file. The old recovery tried every offset after damage and checksummed up to 64 KiB at each: about 15000
    /// times the file's size for 1 MiB of this (16 GB checksummed, 8.6 s), growing with the garbage.
    static let craftedTails: [(String, [UInt8])] = [
        ("lengths 255 and 65280", repeated([0, 0, 0, 0xFF], toBytes: 4 << 20)),
        ("length 65536 at every fourth byte", repeated([0, 1, 0, 0], toBytes: 4 << 20)),
    ]

    /// `pattern` repeated by doubling (a few copies, not a million appends: the tests run unoptimised).
    static func repeated(_ pattern: [UInt8], toBytes count: Int) -> [UInt8] {
        var bytes = pattern
        while bytes.count < count { bytes += bytes }
        return Array(bytes[0..<count])
    }

    @Test func recoveryWorkIsLinearInTheFileSizeWhateverTheTail() async throws {
        try await withTemporaryDirectory { directory in
            let (entries, clean) = try await writeJournal(directory, count: 200, seed: 40)
            for (name, tail) in Self.craftedTails {
                let file = clean + tail
                for repair in [false, true] {
                    try writeFile(journalPath(directory), file)
                    try await withOpenJournal(directory, repair: repair) { journal in
                        if repair {
                            let recovery = try await journal.recoverEntries()
                            #expect(recovery.entries == entries, "\(name)")
                            #expect(recovery.truncatedBytes == tail.count, "\(name)")
                        } else {
                            let error = await #expect(throws: JournalError.self) { try await journal.recoverEntries() }
                            guard case .corruptRecord(clean.count, _) = error else {
                                Issue.record("\(name): \(String(describing: error))")
                                return
                            }
                        }
                        let work = journal.lastRecoveryWork
                        #expect(work.bytesRead <= file.count, "\(name), repair \(repair): \(work)")
                        #expect(work.bytesChecksummed <= file.count, "\(name), repair \(repair): \(work)")
                        #expect(work.bytesRead + work.bytesChecksummed <= 2 * file.count, "\(name), repair \(repair)")
                    }
                }
            }
        }
    }

    /// A large clean journal, then the same with a torn last record: every byte read once, every payload
    /// checksummed once.
    @Test func cleanAndTornJournalsAreReadAndCheckedOnce() async throws {
        try await withTemporaryDirectory { directory in
            let (entries, clean) = try await writeJournal(directory, count: 2000, seed: 41)
            let journal = try await openJournal(directory)
            #expect(try await journal.recoverEntries().entries == entries)
            try await journal.close()
            let work = journal.lastRecoveryWork
            #expect(work.bytesRead == clean.count)
            #expect(work.bytesChecksummed < clean.count)

            let torn = Array(clean[0..<clean.count - 3])
            try writeFile(journalPath(directory), torn)
            let reopened = try await openJournal(directory)
            #expect(try await reopened.recoverEntries().entries == Array(entries.dropLast()))
            try await reopened.close()
            #expect(reopened.lastRecoveryWork.bytesRead == torn.count)
            #expect(reopened.lastRecoveryWork.bytesChecksummed <= torn.count)
        }
    }

    /// Records split across reads at every possible place read back the same, and a file several times the buffer's
    /// size is read through that buffer, never held whole.
    @Test(arguments: [1, 7, 8, 9, 100, 4096, 64 * 1024])
    func recordsSplitAcrossReadsReadBackTheSame(chunkBytes: Int) async throws {
        try await withTemporaryDirectory { directory in
            let (entries, clean) = try await writeJournal(directory, count: 2000, seed: 42)
            let journal = try await openJournal(directory)
            journal.recoveryChunkBytes = chunkBytes
            #expect(try await journal.recoverEntries().entries == entries)
            try await journal.close()
            let work = journal.lastRecoveryWork
            #expect(work.bytesRead == clean.count)
            let largestRecord = JournalFormat.recordHeaderBytes + JournalFormat.maxPayloadBytes
            // One chunk or one record, whichever is larger (ByteBuffer rounds capacities up to a power of 2).
            #expect(work.bufferCapacity <= 2 * max(chunkBytes, largestRecord))
            #expect(work.bufferCapacity < clean.count, "the file (\(clean.count) bytes) is never held whole")

            // A torn tail and a corrupt record are found wherever the reads split them.
            try writeFile(journalPath(directory), clean + [0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3])
            let torn = try await openJournal(directory)
            torn.recoveryChunkBytes = chunkBytes
            let recovery = try await torn.recoverEntries()
            #expect(recovery.entries == entries)
            #expect(recovery.truncatedBytes == 11)
            try await torn.close()

            var damaged = clean
            damaged[clean.count - 5] ^= 0x10
            try writeFile(journalPath(directory), damaged)
            let corrupt = try await openJournal(directory)
            corrupt.recoveryChunkBytes = chunkBytes
            let error = await #expect(throws: JournalError.self) { try await corrupt.recoverEntries() }
            guard case .corruptRecord = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            try await corrupt.close()
        }
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "contest 77 is not in this election" }
    }

    /// The caller's replay error stops recovery, naming the entry's sequence; the journal is not changed and takes no
    /// appends.
    @Test func aFailureToApplyAnEntryStopsRecoveryNamingItsSequence() async throws {
        try await withTemporaryDirectory { directory in
            let (entries, bytes) = try await writeJournal(directory, count: 5, seed: 43)
            let journal = try await openJournal(directory)
            // Collected outside the state: a failed recovery hands no state back.
            let applied = Mutex<[UInt64]>([])
            await #expect(
                throws: JournalError.replayFailed(sequence: 3, reason: "contest 77 is not in this election")
            ) {
                try await journal.recover(into: ()) { _, entry in
                    if entry.sequence == 3 { throw Refused() }
                    applied.withLock { $0.append(entry.sequence) }
                }
            }
            #expect(applied.withLock { $0 } == [1, 2])
            await #expect(throws: JournalError.notRecovered) { try await journal.append([entries[3]]) }
            try await journal.close()
            #expect(try readFile(journalPath(directory)) == bytes)
            let message = JournalError.replayFailed(sequence: 3, reason: "contest 77 is not in this election")
                .description
            #expect(message.contains("entry 3") && message.contains("contest 77"))
        }
    }
}
