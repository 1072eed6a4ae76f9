import Foundation
import Testing

@testable import HubJournal

/// The journal's blocking work runs on a thread of its own: never the caller's, never the cooperative pool's.
/// Every call on the open file also checks, in debug builds, that it comes from the thread that opened the file.
@Suite("FileJournal: its own thread")
struct JournalThreadTests {
    /// Where `apply` ran during a recovery.
    struct Seen: Sendable {
        var threads: Set<UInt> = []
        /// Whether a Swift task was running there: code on the cooperative pool always runs inside one.
        var inATask = false
    }

    @Test func recoveryAppliesEntriesOnTheThreadThatOpenedTheFileNotTheCallers() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 50)
            let entries = factory.entries(1...20)
            let writer = try await openJournal(directory)
            _ = try await writer.recoverEntries()
            try await writer.append(Array(entries[0..<10]))
            try await writer.append(Array(entries[10...]))
            try await writer.close()

            let journal = try await openJournal(directory)
            let journalThread = journal.fileThread
            let callerBefore = currentThreadID()
            let (seen, recovery) = try await journal.recover(into: Seen()) { seen, _ in
                seen.threads.insert(currentThreadID())
                if withUnsafeCurrentTask(body: { $0 != nil }) { seen.inATask = true }
            }
            let callerAfter = currentThreadID()
            #expect(recovery.entryCount == 20)
            #expect(seen.threads == [journalThread], "every entry on the thread that opened (and locked) the file")
            #expect(!seen.threads.contains(callerBefore) && !seen.threads.contains(callerAfter))
            #expect(!seen.inATask, "no task runs on the journal's thread: it is not the cooperative pool")

            // Each journal has a thread of its own, and the same one for every call.
            let other = try await openJournal(try makeSubdirectory(directory, "other"))
            #expect(other.fileThread != journalThread)
            _ = try await other.recoverEntries()
            try await other.close()
            try await journal.append(factory.entries(21...21))
            #expect(journal.fileThread == journalThread)
            try await journal.close()
        }
    }

    /// A call is carried out to the end even when its task is cancelled: a write is never dropped half way, and
    /// what `append` returned from is durable.
    @Test func aCancelledTasksAppendIsStillCarriedOut() async throws {
        try await withTemporaryDirectory { directory in
            var factory = RecordFactory(seed: 51)
            let entries = factory.entries(1...3)
            let journal = try await openJournal(directory)
            _ = try await journal.recoverEntries()
            let task = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await journal.append(entries)
            }
            try await task.value
            #expect(task.isCancelled)
            try await journal.close()
            #expect(try await recoverJournal(directory).entries == entries)
        }
    }
}
