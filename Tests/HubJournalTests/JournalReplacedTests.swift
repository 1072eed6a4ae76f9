import Foundation
import Logging
import Testing

@testable import HubJournal

/// The journal file removed or replaced under a running hub: appends must stop being acknowledged, because what they
/// write would not be in the file a restart reads.
@Suite("FileJournal: deleted or replaced while open")
struct JournalReplacedTests {
    @Test func appendAfterTheJournalIsDeletedFailsAndKeepsFailing() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 20)
            let capture = LogCapture()
            let journal = try await openJournal(directory, capture: capture)
            _ = try await journal.recoverEntries()
            try await journal.append(factory.entries(1...2))
            try FileManager.default.removeItem(atPath: journalPath(directory))

            let path = journalPath(directory)
            await #expect(throws: JournalError.journalDeleted(path: path)) {
                try await journal.append(factory.entries(3...4))
            }
            // Unusable from then on, whatever is appended, and nothing is created at the path behind the hub's back.
            await #expect(throws: JournalError.journalDeleted(path: path)) {
                try await journal.append(factory.entries(3...3))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
            let lines = capture.lines.filter { $0.level > .notice }  // not the notice that it was created
            #expect(lines.count == 1, "one log line when it is detected, none for the appends after it")
            #expect(lines.first?.level == .critical)
            #expect(lines.first?.message.contains(JournalError.journalDeleted(path: path).description) == true)
            try await journal.close()
        }
    }

    @Test func appendAfterAnotherFileIsRenamedOverTheJournalFails() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 21)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(factory.entries(1...3))
            // A copy of the journal as it was, renamed over it (what a careless restore from a backup does).
            let path = journalPath(directory)
            let copy = try readFile(path)
            try writeFile(path + ".restored", copy)
            #expect(rename(path + ".restored", path) == 0)

            await #expect(throws: JournalError.journalReplaced(path: path)) {
                try await journal.append(factory.entries(4...4))
            }
            await #expect(throws: JournalError.journalReplaced(path: path)) {
                try await journal.append(factory.entries(4...4))
            }
            // The file now at the path is left as it was.
            #expect(try readFile(path) == copy)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries.map(\.sequence) == [1, 2, 3])
        }
    }

    /// A journal moved away within the file system is still intact, but it is not where a restart looks.
    @Test func appendAfterTheJournalIsMovedAwayFails() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 22)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            try await journal.append(factory.entries(1...1))
            let path = journalPath(directory)
            #expect(rename(path, path + ".moved") == 0)
            await #expect(throws: JournalError.journalDeleted(path: path)) {
                try await journal.append(factory.entries(2...2))
            }
            try await journal.close()
            // The batch that was not acknowledged was cut off the moved file again: moved back, it reads as before.
            #expect(rename(path + ".moved", path) == 0)
            #expect(try await recoverJournal(directory).entries.map(\.sequence) == [1])
        }
    }

    @Test func theErrorsSayWhatHappenedAndWhatToDo() {
        let deleted = JournalError.journalDeleted(path: "/srv/hub/journal.rhj").description
        #expect(deleted.hasPrefix("the journal /srv/hub/journal.rhj was deleted or moved away while the hub ran"))
        #expect(deleted.contains("nothing is acknowledged"))
        #expect(deleted.contains("restart the hub"))
        let replaced = JournalError.journalReplaced(path: "/srv/hub/journal.rhj").description
        #expect(replaced.hasPrefix("the journal /srv/hub/journal.rhj was replaced by another file while the hub ran"))
        #expect(replaced.contains("restart the hub"))
    }
}
