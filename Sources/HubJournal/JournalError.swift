#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why the journal cannot be opened, read or written. Each message names the file, the byte and what to do.
public enum JournalError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The file does not start with the journal's magic `RHJ1`: it is some other file.
    case notAJournal(path: String)
    /// The header's format version is not one this build reads.
    case unsupportedVersion(Int)
    /// The journal was written for another election (its digest differs from the running election's).
    case electionMismatch(expected: UInt64, found: UInt64)
    /// An existing journal has no complete header. A new journal gets its header before it appears at its path
    /// (FORMAT.md), so this is damage, not an interrupted start. Refused unless the journal is opened with
    /// `Options.repair`, which keeps a backup and starts an empty journal.
    case missingHeader(path: String, problem: MissingHeader)
    /// The 18-byte header fails its checksum. Refused unless the journal is opened with `Options.repair`, which
    /// keeps a backup and starts an empty journal.
    case corruptHeader(reason: String)
    /// A record with all of its bytes present is damaged (length, checksum or content), wherever it is in the
    /// file: only a record shorter than its length prefix at the end is a torn write. `offset` is the record's
    /// first byte. Refused unless the journal is opened with `Options.repair`.
    case corruptRecord(offset: Int, reason: String)
    /// A stored record does not continue the sequence. `offset` is the record's first byte. Refused unless the
    /// journal is opened with `Options.repair`.
    case sequenceGap(expected: UInt64, found: UInt64, offset: Int)
    /// `append` was given an entry that does not continue the stored sequence. A bug in the caller; nothing was
    /// written.
    case appendOutOfSequence(expected: UInt64, found: UInt64)
    /// An entry encodes to more than the format's record limit. A bug in the caller; nothing was written.
    case recordTooLarge(sequence: UInt64, bytes: Int)
    /// An entry's record would not decode again (e.g. a turnout over 10000 or a desk id over 64 bytes), so recovery
    /// would refuse the journal. A bug in the caller; nothing was written.
    case unreadableRecord(sequence: UInt64, reason: String)
    /// The caller's `apply` threw for the entry with this sequence number during `recover`. Nothing in the journal
    /// was changed.
    case replayFailed(sequence: UInt64, reason: String)
    /// `append` before `recover`.
    case notRecovered
    /// Writing or syncing failed (disk full, I/O error...). The batch is not durable; the file was cut back to
    /// the last durable record, so a retry of the same batch is safe.
    case writeFailed(String)
    case readFailed(String)
    case openFailed(path: String, reason: String)
    /// Another process (or another `FileJournal`) holds the journal's lock.
    case locked(path: String)
    /// The open journal file is no longer at its path (deleted, or moved away): what the hub writes would go into
    /// a file that no restart reads. Nothing is acknowledged from then on; the journal stays unusable.
    case journalDeleted(path: String)
    /// Another file is at the journal's path (renamed or copied over it): what the hub writes would not be in the
    /// file that a restart reads. Nothing is acknowledged from then on; the journal stays unusable.
    case journalReplaced(path: String)
    /// The journal was closed.
    case closed

    public var description: String {
        switch self {
        case .notAJournal(let path):
            return "\(path) is not a ResultsHub journal (it does not start with \"RHJ1\"); "
                + "move it away or give the hub another journal directory"
        case .unsupportedVersion(let version):
            return "journal.rhj has format version \(version), but this hub reads version "
                + "\(JournalFormat.version) only; run the hub version that wrote it"
        case .electionMismatch(let expected, let found):
            return "journal.rhj was written for another election (digest \(hex(found)), but this election's "
                + "digest is \(hex(expected))); start the hub with the election it was written for, "
                + "or use a new journal directory for this election"
        case .missingHeader(let path, let problem):
            return "\(path) has no complete header (\(problem)); a new journal gets its header before it appears, "
                + "so the file was damaged or cut afterwards: restore it from a backup, or " + startAnewHint
        case .corruptHeader(let reason):
            return "journal.rhj has a corrupt header (\(reason)); restore it from a backup, or " + startAnewHint
        case .corruptRecord(let offset, let reason):
            return "journal.rhj is corrupt at byte \(offset) (\(reason)); " + repairHint
        case .sequenceGap(let expected, let found, let offset):
            return "journal.rhj is corrupt at byte \(offset) (record has sequence \(found), "
                + "but \(expected) was expected); " + repairHint
        case .appendOutOfSequence(let expected, let found):
            return "journal append out of sequence: entry has sequence \(found), but \(expected) was expected "
                + "(a bug in the caller; nothing was written)"
        case .recordTooLarge(let sequence, let bytes):
            return "journal entry \(sequence) encodes to \(bytes) bytes, over the limit of "
                + "\(JournalFormat.maxPayloadBytes) (a bug in the caller; nothing was written)"
        case .unreadableRecord(let sequence, let reason):
            return "journal entry \(sequence) would not read back (\(reason)) "
                + "(a bug in the caller; nothing was written)"
        case .replayFailed(let sequence, let reason):
            return "replaying journal entry \(sequence) failed (\(reason)); the journal was not changed"
        case .notRecovered:
            return "the journal must be recovered (recover()) before the first append"
        case .writeFailed(let detail):
            return "writing journal.rhj failed: \(detail); the batch is not durable and was cut off the file; "
                + "fix the disk (space, permissions, device) and retry"
        case .readFailed(let detail):
            return "reading journal.rhj failed: \(detail)"
        case .openFailed(let path, let reason):
            return "cannot open the journal \(path): \(reason)"
        case .locked(let path):
            return "the journal \(path) is locked by another process; is another hub running on this directory?"
        case .journalDeleted(let path):
            return "the journal \(path) was deleted or moved away while the hub ran, so nothing is acknowledged "
                + "from now on; before stopping the hub, copy its still-open file back to that path (the hub's log "
                + "names it) or move the file back, then restart the hub"
        case .journalReplaced(let path):
            return "the journal \(path) was replaced by another file while the hub ran, so nothing is acknowledged "
                + "from now on; before stopping the hub, copy its still-open file (the hub's log names it) back to "
                + "that path, then restart the hub"
        case .closed:
            return "the journal is closed"
        }
    }

    /// What is wrong with a damaged record or header, without the advice (for the log line of a repair).
    var damage: String {
        switch self {
        case .corruptRecord(_, let reason): return reason
        case .sequenceGap(let expected, let found, _): return "sequence \(found) where \(expected) was expected"
        case .missingHeader(_, let problem): return "no complete header (\(problem))"
        case .corruptHeader(let reason): return "corrupt header (\(reason))"
        default: return description
        }
    }

    private var startAnewHint: String {
        "start with --repair-journal to keep a backup of it and begin an empty journal (dropping every record in it)"
    }

    private var repairHint: String {
        "start with --repair-journal to keep a backup and drop everything from there"
    }
}

extension JournalError {
    /// What is missing of an existing journal's header.
    public enum MissingHeader: Hashable, Sendable, CustomStringConvertible {
        /// The file is empty.
        case empty
        /// The header's bytes (the first 18, or the whole file if shorter) are all zero; `fileBytes` is the file's
        /// size.
        case zeroed(fileBytes: Int)
        /// The file is only `bytes` long, less than the header, and those bytes agree with a header of this
        /// election as far as they go.
        case partial(bytes: Int)

        public var description: String {
            switch self {
            case .empty: return "the file is empty"
            case .zeroed(let fileBytes):
                return fileBytes <= JournalFormat.headerBytes
                    ? "the file is \(fileBytes) zero bytes"
                    : "its first \(JournalFormat.headerBytes) bytes, where the header belongs, are zero "
                        + "(the file has \(fileBytes) bytes)"
            case .partial(let bytes):
                return "the file is \(bytes) bytes, shorter than the \(JournalFormat.headerBytes)-byte header"
            }
        }
    }
}

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 16 - digits.count) + digits
}

/// `strerror` with the errno number, e.g. "No space left on device (errno 28)".
func describeErrno(_ code: Int32) -> String {
    "\(String(cString: strerror(code))) (errno \(code))"
}
