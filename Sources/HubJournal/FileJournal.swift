import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The event store as one append-only file, `<directory>/journal.rhj` (format: FORMAT.md).
///
/// Every `append` is one `pwrite` loop and one fsync (a group commit). `recover` reads the whole file in one go,
/// drops a torn tail left by a crash mid-append, and refuses a journal that is damaged in the middle unless
/// `Options.repair` is set. The file is locked (`flock`) while open, so two hubs cannot share a journal.
///
/// Not `Sendable`: it holds a file descriptor and the durable length, and is driven by one serial owner (the calls
/// block on disk I/O, so the owner runs them off the event loops).
public final class FileJournal: EventStore {
    public struct Options: Sendable {
        /// When `recover` finds a record damaged in the middle of the file: keep a backup of the file
        /// (`journal.rhj.corrupt-<unix time>.bak`), cut the journal at the damaged record and carry on with what
        /// precedes it. Off by default: dropping acknowledged events needs an operator's decision.
        public var repair: Bool

        public init(repair: Bool = false) {
            self.repair = repair
        }
    }

    public static let fileName = "journal.rhj"

    /// `<directory>/journal.rhj`.
    public let path: String
    public let directory: String
    public let electionDigest: UInt64
    private let logger: Logger
    private let options: Options

    private enum State {
        /// Opened, not yet recovered: the file's contents are unknown.
        case opened
        /// `durableLength` bytes are written and synced and end with record `lastSequence` (0: none).
        /// `dirtyTail`: a failed append may have left bytes past `durableLength` that could not be cut off yet.
        case ready(durableLength: Int, lastSequence: UInt64, dirtyTail: Bool)
        /// The open file is no longer the one at `path` (`.journalDeleted` or `.journalReplaced`): whatever is
        /// appended would be lost to the next start, so every append throws this error. Only `close` is left.
        case unusable(JournalError)
        case closed
    }

    private var state: State = .opened
    private let fd: Int32
    /// Reused by every append, so that a batch costs no allocation once the buffer has grown.
    private var scratch = ByteBufferAllocator().buffer(capacity: 4096)

    /// Test seam: makes the next write or sync fail. Internal; tests reach it with `@testable import`.
    enum InjectedFault {
        /// Write `afterBytes` of the batch, then fail the write with `errno`.
        case write(afterBytes: Int, errno: Int32)
        /// Write the batch, then fail the sync with `errno`.
        case sync(errno: Int32)
    }
    var injectedFault: InjectedFault?
    /// Test seam: the cut after the next failed append fails too, leaving the failed batch's bytes in the file.
    var failNextCut = false
    /// Test seam: at most this many bytes per `pwrite` call, to exercise the partial-write loop.
    var maxBytesPerWrite = 1 << 30

    /// Opens `<directory>/journal.rhj`, creating the directory and the file if missing. Nothing is read until
    /// `recover()`.
    public init(
        directory: String, electionDigest: UInt64, logger: Logger, options: Options = .init()
    ) throws(JournalError) {
        self.directory = directory
        self.path = directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
        self.electionDigest = electionDigest
        self.logger = logger
        self.options = options
        if case .failure(let failure) = Posix.makeDirectories(directory) {
            throw .openFailed(path: path, reason: failure.description)
        }
        // The descriptor stays local until every check has passed: a throwing init must close it itself.
        let flags = O_RDWR | O_CLOEXEC
        let opened: Int32
        var created = false
        switch Posix.openFile(path, flags | O_CREAT | O_EXCL, mode: 0o644) {
        case .success(let descriptor):
            opened = descriptor
            created = true
        case .failure(let failure) where failure.code == EEXIST:
            switch Posix.openFile(path, flags) {
            case .success(let descriptor): opened = descriptor
            case .failure(let failure): throw .openFailed(path: path, reason: failure.description)
            }
        case .failure(let failure):
            throw .openFailed(path: path, reason: failure.description)
        }
        var status = stat()
        guard fstat(opened, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            _ = Posix.closeFile(opened)
            throw .openFailed(path: path, reason: "not a regular file")
        }
        guard flock(opened, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            _ = Posix.closeFile(opened)
            if code == EWOULDBLOCK { throw .locked(path: path) }
            throw .openFailed(path: path, reason: "flock: \(describeErrno(code))")
        }
        if created, case .failure(let failure) = Posix.syncDirectory(directory) {
            _ = Posix.closeFile(opened)
            throw .openFailed(path: path, reason: failure.description)
        }
        fd = opened
    }

    deinit {
        if case .closed = state { return }
        // Every append was synced before it returned, so there is nothing left to flush.
        releaseLock()
        _ = Posix.closeFile(fd)
    }

    /// Unlocks before closing: a child process being spawned at that moment briefly shares the open file (until
    /// its exec closes it), and the lock would otherwise outlive our close and refuse the next open.
    private func releaseLock() {
        _ = flock(fd, LOCK_UN)
    }

    /// The sequence number of the last durable entry (0 when none); valid after `recover()`.
    public var lastSequence: UInt64 {
        if case .ready(_, let lastSequence, _) = state { return lastSequence }
        return 0
    }

    /// Bytes of the file that are written and synced; valid after `recover()`.
    var durableLength: Int {
        if case .ready(let durableLength, _, _) = state { return durableLength }
        return 0
    }

    // MARK: - Recovery

    public func recover() throws(JournalError) -> JournalRecovery {
        if case .closed = state { throw .closed }
        if case .unusable(let error) = state { throw error }
        let file: ByteBuffer
        switch Posix.readAll(fd) {
        case .success(let bytes): file = bytes
        case .failure(let failure): throw .readFailed(failure.description)
        }
        switch try JournalFormat.checkHeader(file, electionDigest: electionDigest, path: path) {
        case .torn(let reason):
            try writeHeader()
            if file.readableBytes > 0 {
                logger.warning(
                    "journal: rewrote an incomplete header (\(reason)); the journal was being created and held no records",
                    metadata: ["journal.path": "\(path)", "journal.dropped_bytes": "\(file.readableBytes)"])
            }
            state = .ready(durableLength: JournalFormat.headerBytes, lastSequence: 0, dirtyTail: false)
            return JournalRecovery(entries: [], truncatedBytes: file.readableBytes)
        case .valid:
            break
        }

        let scan = JournalFormat.scanRecords(file)
        let dropped = file.readableBytes - scan.validEnd
        switch scan.problem {
        case nil:
            break
        case .tornTail(let reason):
            try truncateForRecovery(to: scan.validEnd)
            logger.warning(
                "journal: dropped a torn tail of \(dropped) bytes at byte \(scan.validEnd) (\(reason)); an append was interrupted before it was acknowledged",
                metadata: [
                    "journal.path": "\(path)", "journal.offset": "\(scan.validEnd)",
                    "journal.dropped_bytes": "\(dropped)",
                ])
        case .corrupt(let error):
            // Refused: the caller reports the error (its description tells the operator what to do).
            guard options.repair else { throw error }
            let backup = try writeBackup(of: file)
            try truncateForRecovery(to: scan.validEnd)
            logger.error(
                "journal: repaired: corrupt at byte \(scan.validEnd) (\(error.damage)); kept the original as \(backup), dropped \(dropped) bytes from there and kept \(scan.entries.count) entries",
                metadata: [
                    "journal.path": "\(path)", "journal.offset": "\(scan.validEnd)",
                    "journal.dropped_bytes": "\(dropped)", "journal.backup": "\(backup)",
                ])
        }
        state = .ready(
            durableLength: scan.validEnd, lastSequence: scan.entries.last?.sequence ?? 0, dirtyTail: false)
        return JournalRecovery(entries: scan.entries, truncatedBytes: dropped)
    }

    private func writeHeader() throws(JournalError) {
        let header = JournalFormat.header(electionDigest: electionDigest)
        let written = header.withUnsafeReadableBytes { Posix.writeAll(fd, $0, at: 0) }
        if case .failure(let failure) = written { throw .writeFailed(failure.description) }
        if case .failure(let failure) = Posix.truncateFile(fd, to: header.readableBytes) {
            throw .writeFailed(failure.description)
        }
        if case .failure(let failure) = Posix.syncFile(fd) { throw .writeFailed(failure.description) }
    }

    private func truncateForRecovery(to length: Int) throws(JournalError) {
        if case .failure(let failure) = Posix.truncateFile(fd, to: length) { throw .writeFailed(failure.description) }
        if case .failure(let failure) = Posix.syncFile(fd) { throw .writeFailed(failure.description) }
    }

    /// Copies the file's original bytes to `journal.rhj.corrupt-<unix time>[.n].bak`, synced, and returns its path.
    private func writeBackup(of file: ByteBuffer) throws(JournalError) -> String {
        let stamp = time(nil)
        var attempt = 0
        while true {
            let backup = path + ".corrupt-\(stamp)" + (attempt == 0 ? "" : ".\(attempt)") + ".bak"
            let backupFD: Int32
            switch Posix.openFile(backup, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o644) {
            case .success(let opened): backupFD = opened
            case .failure(let failure) where failure.code == EEXIST:
                attempt += 1
                continue
            case .failure(let failure):
                throw .writeFailed("creating the backup \(backup): \(failure.description)")
            }
            let result = file.withUnsafeReadableBytes { bytes in
                Posix.writeAll(backupFD, bytes, at: 0).flatMap { Posix.syncFile(backupFD) }
            }
            let closed = Posix.closeFile(backupFD)
            if case .failure(let failure) = result.flatMap({ closed }).flatMap({ Posix.syncDirectory(directory) }) {
                throw .writeFailed("writing the backup \(backup): \(failure.description)")
            }
            return backup
        }
    }

    // MARK: - Appending

    public func append(_ entries: [JournalEntry]) throws(JournalError) {
        guard case .ready(let durableLength, let lastSequence, let dirtyTail) = state else {
            if case .closed = state { throw .closed }
            if case .unusable(let error) = state { throw error }
            throw .notRecovered
        }
        guard !entries.isEmpty else { return }
        scratch.clear()
        try JournalFormat.encode(entries, firstSequence: lastSequence + 1, into: &scratch)

        if dirtyTail {
            // A previous append failed and its bytes could not be cut off then. They must go before anything is
            // written after them, or a recovery could read them as records.
            if case .failure(let failure) = Posix.truncateFile(fd, to: durableLength) {
                throw .writeFailed("cutting off a failed append: \(failure.description)")
            }
            state = .ready(durableLength: durableLength, lastSequence: lastSequence, dirtyTail: false)
        }

        let fault = injectedFault
        injectedFault = nil
        let written = scratch.withUnsafeReadableBytes { bytes -> Result<Void, PosixFailure> in
            if case .write(let afterBytes, let code) = fault {
                let prefix = UnsafeRawBufferPointer(rebasing: bytes[0..<min(afterBytes, bytes.count)])
                return Posix.writeAll(fd, prefix, at: durableLength, maxChunk: maxBytesPerWrite).flatMap {
                    .failure(PosixFailure(call: "write at byte \(durableLength + prefix.count)", code: code))
                }
            }
            return Posix.writeAll(fd, bytes, at: durableLength, maxChunk: maxBytesPerWrite)
        }
        let synced = written.flatMap { () -> Result<Void, PosixFailure> in
            if case .sync(let code) = fault { return .failure(PosixFailure(call: "fsync", code: code)) }
            return Posix.syncFile(fd)
        }
        if case .failure(let failure) = synced {
            // Cut the file back to the last durable record (best effort), so that neither a retry nor a recovery
            // sees half a batch. After a failed fsync the kernel may have dropped the dirty pages; the bytes are
            // written again by the retry, never trusted.
            let cut =
                failNextCut
                ? .failure(PosixFailure(call: "ftruncate to \(durableLength) bytes", code: EIO))
                : Posix.truncateFile(fd, to: durableLength).flatMap { Posix.syncFile(fd) }
            failNextCut = false
            if case .failure(let cutFailure) = cut {
                state = .ready(durableLength: durableLength, lastSequence: lastSequence, dirtyTail: true)
                logger.error(
                    "journal: could not cut off a failed append (\(cutFailure.description)); will retry before the next append",
                    metadata: ["journal.path": "\(path)", "journal.offset": "\(durableLength)"])
            }
            throw .writeFailed(failure.description)
        }
        // The batch is durable in the open file; it is acknowledged only if that file is still the one a restart
        // reads.
        switch checkStillAtPath() {
        case .atPath:
            break
        case .gone(let error):
            // Best effort: cut the batch off the orphaned file too, so that if the operator moves that file back, it
            // holds nothing that was not acknowledged.
            _ = Posix.truncateFile(fd, to: durableLength).flatMap { Posix.syncFile(fd) }
            state = .unusable(error)
            logger.critical(
                "journal: \(error.description)",
                metadata: ["journal.path": "\(path)", "journal.open_file": "\(openFileName)"])
            throw error
        case .unknown(let failure):
            // Could not tell (e.g. an I/O error on the directory): not acknowledged, and cut off as any failed append.
            if case .failure = Posix.truncateFile(fd, to: durableLength).flatMap({ Posix.syncFile(fd) }) {
                state = .ready(durableLength: durableLength, lastSequence: lastSequence, dirtyTail: true)
            }
            throw .writeFailed("checking that \(path) is still the open journal: \(failure.description)")
        }
        state = .ready(
            durableLength: durableLength + scratch.readableBytes, lastSequence: entries.last!.sequence,
            dirtyTail: false)
    }

    private enum PathCheck {
        case atPath
        case gone(JournalError)
        case unknown(PosixFailure)
    }

    /// Whether the open file is still linked and is the file at `path` (same device and inode). A journal deleted,
    /// moved away or replaced while the hub runs would otherwise take acknowledged events that no restart reads.
    /// Costs an `fstat` and a `stat` per append, next to its fsync.
    private func checkStillAtPath() -> PathCheck {
        var open = stat()
        guard fstat(fd, &open) == 0 else { return .unknown(PosixFailure(call: "fstat", code: errno)) }
        var atPath = stat()
        guard stat(path, &atPath) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return .gone(.journalDeleted(path: path)) }
            return .unknown(PosixFailure(call: "stat \(path)", code: code))
        }
        // Checked first: a file renamed over the journal also leaves the open file with no link.
        guard atPath.st_dev == open.st_dev, atPath.st_ino == open.st_ino else {
            return .gone(.journalReplaced(path: path))
        }
        // The same inode at the path yet no link can only be a file system reporting oddly; do not trust it.
        if open.st_nlink == 0 { return .gone(.journalDeleted(path: path)) }
        return .atPath
    }

    /// Where the open (possibly unlinked) file can still be read while this process runs, for the operator.
    private var openFileName: String {
        #if os(Linux)
            return "/proc/\(getpid())/fd/\(fd)"
        #else
            return "descriptor \(fd) of process \(getpid())"
        #endif
    }

    // MARK: - Closing

    public func close() throws(JournalError) {
        if case .closed = state { throw .closed }
        let dirty: Bool
        if case .ready(_, _, let dirtyTail) = state { dirty = dirtyTail } else { dirty = false }
        let durableLength = self.durableLength
        state = .closed
        var failure: PosixFailure?
        if dirty, case .failure(let cutFailure) = Posix.truncateFile(fd, to: durableLength) { failure = cutFailure }
        if case .failure(let syncFailure) = Posix.syncFile(fd), failure == nil { failure = syncFailure }
        releaseLock()
        if case .failure(let closeFailure) = Posix.closeFile(fd), failure == nil { failure = closeFailure }
        if let failure { throw .writeFailed(failure.description) }
    }
}
