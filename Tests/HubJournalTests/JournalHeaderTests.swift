import Foundation
import Logging
import NIOCore
import Testing

@testable import HubJournal

/// A new journal appears at its path with its whole header already in it, so an existing journal without a valid
/// header is damage: refused, or with `repair` backed up and started anew. Never repaired: another election's
/// journal, another version, or another file.
@Suite("FileJournal: header")
struct JournalHeaderTests {
    let header = Array(JournalFormat.header(electionDigest: testDigest).readableBytesView)

    @Test func aNewJournalHasItsHeaderBeforeItAppearsAtItsPath() async throws {
        try await withTemporaryDirectory { directory in
            let journal = try await openJournal(directory)
            // Before any recover(): the file is complete, and no temporary file is left behind.
            #expect(try readFile(journalPath(directory)) == header)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == [FileJournal.fileName])
            try await journal.close()
            // A journal opened and closed without ever being recovered is still a valid, empty journal.
            #expect(try await recoverJournal(directory).entries.isEmpty)
        }
    }

    /// A crash while creating a journal with an older build could leave part of a header; it is never taken for a
    /// new journal now. With repair: backed up, and an empty journal started.
    @Test func partialHeaderIsRefusedUnlessRepairing() async throws {
        try await withTemporaryDirectory { root in
            for length in 1..<18 {
                let directory = try makeSubdirectory(root, "cut-\(length)")
                let partial = Array(header[0..<length])
                try writeFile(journalPath(directory), partial)
                await #expect(
                    throws: JournalError.missingHeader(path: journalPath(directory), problem: .partial(bytes: length))
                ) { try await recoverJournal(directory) }
                #expect(try readFile(journalPath(directory)) == partial)

                let capture = LogCapture()
                let recovery = try await recoverJournal(directory, repair: true, capture: capture)
                #expect(recovery.entries.isEmpty)
                #expect(recovery.truncatedBytes == length)
                #expect(try readFile(journalPath(directory)) == header)
                let errors = capture.lines(.error)
                #expect(errors.count == 1 && capture.lines.count == 1)
                let saved = try backups(in: directory)
                #expect(try saved.map { try readFile(directory + "/" + $0) } == [partial])
                #expect(errors.first?.message.contains(saved.first ?? "?") == true)
                #expect(errors.first?.message.contains("empty journal") == true)
            }
            // A header cut after its digest still names its election: never repaired.
            let other = try makeSubdirectory(root, "other-election")
            let otherHeader = Array(JournalFormat.header(electionDigest: 42).readableBytesView)
            try writeFile(journalPath(other), Array(otherHeader[0..<15]))
            for repair in [false, true] {
                await #expect(throws: JournalError.electionMismatch(expected: testDigest, found: 42)) {
                    try await recoverJournal(other, repair: repair)
                }
            }
            #expect(try readFile(journalPath(other)) == Array(otherHeader[0..<15]))
            #expect(try backups(in: other).isEmpty)
        }
    }

    @Test func emptyOrZeroedJournalIsRefusedUnlessRepairing() async throws {
        try await withTemporaryDirectory { root in
            let cases: [([UInt8], JournalError.MissingHeader)] = [
                ([], .empty),
                ([UInt8](repeating: 0, count: 7), .zeroed(fileBytes: 7)),
                ([UInt8](repeating: 0, count: 18), .zeroed(fileBytes: 18)),
                ([UInt8](repeating: 0, count: 4096), .zeroed(fileBytes: 4096)),
                ([UInt8](repeating: 0, count: 18) + [0, 0, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9], .zeroed(fileBytes: 31)),
            ]
            for (index, (bytes, problem)) in cases.enumerated() {
                let directory = try makeSubdirectory(root, "case-\(index)")
                try writeFile(journalPath(directory), bytes)
                await #expect(throws: JournalError.missingHeader(path: journalPath(directory), problem: problem)) {
                    try await recoverJournal(directory)
                }
                #expect(try readFile(journalPath(directory)) == bytes)

                let recovery = try await recoverJournal(directory, repair: true)
                #expect(recovery.entries.isEmpty)
                #expect(recovery.truncatedBytes == bytes.count)
                #expect(try readFile(journalPath(directory)) == header)
                #expect(try backups(in: directory).map { try readFile(directory + "/" + $0) } == [bytes])
            }
        }
    }

    @Test func corruptHeaderIsRefusedAndRepairedOnlyWithABackup() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 18)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(factory.entries(1...4))
            try await journal.close()
            var damaged = try readFile(journalPath(directory))
            damaged[16] ^= 0x20  // in the header's crc
            try writeFile(journalPath(directory), damaged)
            let error = await #expect(throws: JournalError.self) { try await recoverJournal(directory) }
            guard case .corruptHeader = error else {
                Issue.record("\(String(describing: error))")
                return
            }
            #expect(error?.description.contains("--repair-journal") == true)
            #expect(try readFile(journalPath(directory)) == damaged)

            let recovery = try await recoverJournal(directory, repair: true)
            #expect(recovery.entries.isEmpty)
            #expect(recovery.truncatedBytes == damaged.count)
            #expect(try readFile(journalPath(directory)) == header)
            #expect(try backups(in: directory).map { try readFile(directory + "/" + $0) } == [damaged])
        }
    }

    @Test func anotherElectionVersionOrFileIsNeverRepaired() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 19)
            var otherElection = JournalFormat.header(electionDigest: 42)
            try JournalFormat.encode(factory.entries(1...2), firstSequence: 1, into: &otherElection)
            var futureVersion = header
            futureVersion[5] = 2
            let refusals: [([UInt8], JournalError)] = [
                (Array(otherElection.readableBytesView), .electionMismatch(expected: testDigest, found: 42)),
                (futureVersion, .unsupportedVersion(2)),
                (Array("hello".utf8), .notAJournal(path: journalPath(directory))),
            ]
            for (bytes, expected) in refusals {
                try writeFile(journalPath(directory), bytes)
                await #expect(throws: expected) { try await recoverJournal(directory, repair: true) }
                #expect(try readFile(journalPath(directory)) == bytes)
                #expect(try backups(in: directory).isEmpty)
            }
        }
    }

    /// Journals hold what the desks submitted: owner-only files (journal, temporary, backups) and data directory,
    /// whatever the process's umask. Directories above the data directory that it creates are 0755.
    @Test func createdFilesAndDirectoryAreOwnerOnlyWhateverTheUmask() async throws {
        try await withTemporaryDirectory { root in
            let directory = root + "/parent/data"
            let previous = umask(0)
            let journal: FileJournal
            do {
                defer { umask(previous) }
                journal = try await openJournal(directory)
            }
            _ = try await journal.recoverEntries()
            try await journal.close()
            #expect(try permissions(journalPath(directory)) == 0o600)
            #expect(try permissions(directory) == 0o700)
            #expect(try permissions(root + "/parent") == 0o755)

            // A repair's backup too.
            try writeFile(journalPath(directory), Array(header[0..<9]))
            let backupPrevious = umask(0)
            do {
                defer { umask(backupPrevious) }
                _ = try await recoverJournal(directory, repair: true)
            }
            let saved = try backups(in: directory)
            #expect(saved.count == 1)
            #expect(try saved.map { try permissions(directory + "/" + $0) } == [0o600])
        }
    }
}
