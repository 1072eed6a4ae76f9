import ElectionModel
import Foundation
import Logging
import Synchronization
import Testing

@testable import HubJournal

/// A directory of its own under the system's temporary directory, removed when the test ends.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("HubJournalTests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url.path)
}

/// A fresh directory inside `parent` (for tests that open many journals).
func makeSubdirectory(_ parent: String, _ name: String) throws -> String {
    let path = parent + "/" + name
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func journalPath(_ directory: String) -> String { directory + "/" + FileJournal.fileName }

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
}

/// The names of the repair backups in `directory`, sorted.
func backups(in directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory)
        .filter { $0.hasPrefix("journal.rhj.corrupt-") && $0.hasSuffix(".bak") }.sorted()
}

/// The permission bits of `path`.
func permissions(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

let testDigest: UInt64 = 0x0123_4567_89ab_cdef

/// Log lines captured by `CapturingLogHandler`.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Line]>([])

    var lines: [Line] { storage.withLock { $0 } }

    func lines(_ level: Logger.Level) -> [Line] { lines.filter { $0.level == level } }

    func append(_ line: Line) { storage.withLock { $0.append(line) } }

    var logger: Logger {
        Logger(label: "HubJournalTests") { _ in CapturingLogHandler(capture: self) }
    }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        capture.append(
            LogCapture.Line(
                level: event.level, message: event.message.description,
                metadata: metadata.merging(event.metadata ?? [:]) { $1 }))
    }
}

func openJournal(
    _ directory: String, digest: UInt64 = testDigest, repair: Bool = false, capture: LogCapture = LogCapture()
) async throws -> FileJournal {
    try await FileJournal.open(
        directory: directory, electionDigest: digest, logger: capture.logger,
        options: FileJournal.Options(repair: repair))
}

/// Opens, runs `body`, and closes the journal, also when `body` throws (what `defer { try? journal.close() }`
/// did when closing was synchronous; a close error is ignored, as there).
func withOpenJournal<T>(
    _ directory: String, repair: Bool = false, capture: LogCapture = LogCapture(),
    _ body: (FileJournal) async throws -> T
) async throws -> T {
    let journal = try await openJournal(directory, repair: repair, capture: capture)
    let result: Result<T, any Error>
    do {
        result = .success(try await body(journal))
    } catch {
        result = .failure(error)
    }
    try? await journal.close()
    return try result.get()
}

/// A recovery's entries, collected (fine for the tests' small journals; the hub applies them one at a time).
struct CollectedRecovery: Equatable {
    var entries: [JournalEntry]
    var truncatedBytes: Int
}

extension FileJournal {
    /// `recover`, collecting the entries it hands over, and checking that its counts agree with them.
    func recoverEntries() async throws(JournalError) -> CollectedRecovery {
        let (entries, recovery) = try await recover(into: [JournalEntry]()) { entries, entry in entries.append(entry) }
        #expect(recovery.entryCount == entries.count)
        #expect(recovery.lastSequence == lastSequence)
        return CollectedRecovery(entries: entries, truncatedBytes: recovery.truncatedBytes)
    }
}

/// Opens, recovers and closes: what a restart would see.
func recoverJournal(
    _ directory: String, repair: Bool = false, capture: LogCapture = LogCapture()
) async throws -> CollectedRecovery {
    try await withOpenJournal(directory, repair: repair, capture: capture) { journal in
        try await journal.recoverEntries()
    }
}

/// Deterministic contest records of every shape: declared with and without the optional fields, mayoralties with
/// candidate votes, withdrawals, multi-byte varints and non-ASCII strings.
struct RecordFactory {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    private mutating func next() -> UInt64 {
        // xorshift64*
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    private mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }

    private mutating func counts(max: Int, positive: Bool) -> [PartyCount] {
        var party = Int(below(4))
        return (0..<Int(below(UInt64(max)) + 1)).map { _ in
            defer { party += 1 + Int(below(20)) }
            return PartyCount(party: PartyIndex(party), count: UInt32(below(positive ? 90_000 : 2_000_000)) + 1)
        }
    }

    private static let desks = ["E08000025", "london", "Bürgermeister-Büro", "desk-🗳️", ""]

    mutating func record(_ index: Int) -> ContestRecord {
        let contestID = ContestID(UInt32(1 + below(400)) + (index % 7 == 0 ? 4_000_000_000 : 0))
        let revision = UInt32(1 + below(5))
        let desk = Self.desks[Int(below(UInt64(Self.desks.count)))]
        switch index % 5 {
        case 4:
            let reason = index % 10 == 4 ? "" : "recount ordered in ward \(below(100)) — résultats annulés"
            return ContestRecord(
                contestID: contestID, revision: revision,
                state: .withdrawn(
                    WithdrawnResult(withdrawnAt: 1_683_244_800_000 + below(86_400_000), deskID: desk, reason: reason)))
        case 3:
            // A mayoralty: one seat, candidate votes.
            let party = PartyIndex(Int(below(12)))
            let result = DeclaredResult(
                control: .party(party), outcome: .gain, seats: [PartyCount(party: party, count: 1)],
                votes: nil, turnoutBasisPoints: UInt16(below(10_001)),
                candidateVotes: (0..<Int(below(8))).map { _ in UInt32(below(UInt64(UInt32.max))) },
                declaredAt: UInt64.max - below(1000), deskID: desk)
            return ContestRecord(contestID: contestID, revision: revision, state: .declared(result))
        default:
            let seats = counts(max: 12, positive: true)
            let result = DeclaredResult(
                control: index % 2 == 0 ? .noOverallControl : .party(seats[0].party),
                outcome: Outcome.allCases[index % Outcome.allCases.count], seats: seats,
                votes: index % 3 == 0 ? nil : counts(max: 40, positive: false),
                turnoutBasisPoints: index % 4 == 1 ? nil : UInt16(below(10_001)),
                candidateVotes: nil, declaredAt: 1_683_244_800_000 + below(86_400_000), deskID: desk)
            return ContestRecord(contestID: contestID, revision: revision, state: .declared(result))
        }
    }

    /// Entries with sequence numbers `range`.
    mutating func entries(_ range: ClosedRange<UInt64>) -> [JournalEntry] {
        range.map { JournalEntry(sequence: $0, record: record(Int($0))) }
    }

    /// A record whose encoding is long (many votes), so that a torn-tail test has many offsets to cut at.
    static func longRecord() -> ContestRecord {
        let seats = (0..<30).map { PartyCount(party: PartyIndex($0 * 3), count: UInt32(1 + $0)) }
        let votes = (0..<90).map { PartyCount(party: PartyIndex($0), count: UInt32(100_000 + $0 * 977)) }
        let result = DeclaredResult(
            control: .noOverallControl, outcome: .lostToNoOverallControl, seats: seats, votes: votes,
            turnoutBasisPoints: 3120, candidateVotes: nil, declaredAt: 1_683_270_000_000, deskID: "E07000044")
        return ContestRecord(contestID: ContestID(4321), revision: 3, state: .declared(result))
    }
}
