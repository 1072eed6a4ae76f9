import Logging
import Metrics
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The event store as one append-only file, `<directory>/journal.rhj` (format: FORMAT.md).
///
/// Every `append` is one `pwrite` loop and one fsync (a group commit), acknowledged only while the open file is
/// still the one at its path. `recover` streams the file in bounded chunks, drops a torn tail left by a crash
/// mid-append, and refuses any other damage unless `Options.repair` is set. A new journal appears at its path with
/// its header already in it. The file is locked (`flock`) while open, so two hubs cannot share a journal.
///
/// All of its blocking work (open, lock, header check or creation, recovery with the caller's `apply`, writes,
/// fsyncs, close) runs on the journal's own thread (a one-thread `NIOThreadPool`), one call at a time, never on the
/// caller's event loop or the cooperative pool: `open` starts the thread and `close` stops it. A call runs to
/// completion even if its task is cancelled (a write is never left half done). The open file (`JournalFile`) is
/// confined to that thread; it sits behind a lock that only that thread takes during a call, so that the compiler
/// checks that the journal is `Sendable` (no `@unchecked`).
public final class FileJournal: EventStore {
    public struct Options: Sendable {
        /// When `recover` finds a damaged record: keep a backup of the file (`journal.rhj.corrupt-<unix time>.bak`),
        /// cut the journal at the damaged record and carry on with what precedes it. When the header is missing,
        /// incomplete or corrupt: keep a backup and start an empty journal. Never for another election's journal,
        /// another format version or another file. Off by default: dropping acknowledged events needs an
        /// operator's decision.
        public var repair: Bool
        /// Where the fdatasync latency histogram and the journal's size go (swift-metrics); none by default.
        public var metrics: any MetricsFactory

        public init(repair: Bool = false, metrics: any MetricsFactory = NOOPMetricsHandler.instance) {
            self.repair = repair
            self.metrics = metrics
        }
    }

    public static let fileName = "journal.rhj"
    /// What the journal measures (`Options.metrics`).
    public enum MetricName {
        /// A histogram of each append's fdatasync.
        public static let sync = "resultshub_journal_fdatasync_seconds"
        /// The durable length of the file.
        public static let fileBytes = "resultshub_journal_bytes"
    }
    /// Files the journal creates (the journal, its temporary file, backups): owner only, whatever the umask.
    static let fileMode: mode_t = 0o600
    /// A data directory the journal creates: owner only, whatever the umask.
    static let directoryMode: mode_t = 0o700

    /// `<directory>/journal.rhj`.
    public let path: String
    public let directory: String
    public let electionDigest: UInt64
    /// The journal's own thread: one thread, so calls run one after the other, in the order they reach it.
    private let thread: NIOThreadPool
    /// Only the journal's thread uses the file, inside a call; the lock is never contended (tests' seams aside).
    private let file: Mutex<JournalFile>
    /// `lastSequence` as of the last call, readable without waiting for a call in flight.
    private let sequence = Atomic<UInt64>(0)

    /// Runs on the journal's thread.
    private init(thread: NIOThreadPool, file: consuming sending JournalFile) {
        self.path = file.path
        self.directory = file.directory
        self.electionDigest = file.electionDigest
        self.thread = thread
        self.file = Mutex(file)
    }

    /// Opens `<directory>/journal.rhj` on a new thread of the journal's own, creating the directory (0700) and a new
    /// journal (0600, with its header) if missing, and locks it. Nothing is read until `recover`.
    public static func open(
        directory: String, electionDigest: UInt64, logger: Logger, options: Options = .init()
    ) async throws(JournalError) -> FileJournal {
        let thread = NIOThreadPool(numberOfThreads: 1)
        thread.start()
        do {
            return try await run(on: thread) { () throws(JournalError) -> FileJournal in
                let file = try JournalFile(
                    directory: directory, electionDigest: electionDigest, logger: logger, options: options)
                return FileJournal(thread: thread, file: file)
            }
        } catch {
            try? await thread.shutdownGracefully()
            throw error
        }
    }

    deinit {
        // Not closed (a caller's mistake, or a failed start): stop the thread. The file's own deinit releases the
        // lock and closes the descriptor; every append was synced before it returned.
        thread.shutdownGracefully { _ in }
    }

    /// Runs `body` on `thread` and returns its result; `.closed` once the thread is stopped.
    private static func run<T: Sendable>(
        on thread: NIOThreadPool, _ body: @escaping @Sendable () throws(JournalError) -> T
    ) async throws(JournalError) -> T {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<T, JournalError>, Never>) in
            thread.submit { state in
                guard case .active = state else {
                    continuation.resume(returning: .failure(.closed))
                    return
                }
                continuation.resume(returning: Result(catching: body))
            }
        }
        return try result.get()
    }

    /// Runs `body` with the file on the journal's thread.
    private func withFile<T: Sendable>(
        _ body: @escaping @Sendable (JournalFile) throws(JournalError) -> T
    ) async throws(JournalError) -> T {
        try await Self.run(on: thread) { () throws(JournalError) -> T in
            try self.file.withLock { (file: inout JournalFile) throws(JournalError) -> T in
                defer { self.sequence.store(file.lastSequence, ordering: .relaxed) }
                return try body(file)
            }
        }
    }

    /// The sequence number of the last durable entry (0 when none); valid after `recover`, as of the last call that
    /// completed.
    public var lastSequence: UInt64 { sequence.load(ordering: .relaxed) }

    /// The state goes to the journal's thread and comes back from it; `apply` runs there, entry by entry, as
    /// recovery reads them.
    public func recover<State: Sendable>(
        into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async throws(JournalError) -> (State, JournalRecovery) {
        try await withFile { file throws(JournalError) in
            var state = state
            let recovery = try file.recover { entry in try apply(&state, entry) }
            return (state, recovery)
        }
    }

    public func append(_ entries: [JournalEntry]) async throws(JournalError) {
        try await withFile { file throws(JournalError) in try file.append(entries) }
    }

    /// Syncs and closes the file, then stops the journal's thread (also when closing fails: the file is closed
    /// either way).
    public func close() async throws(JournalError) {
        let result: Result<Void, JournalError>
        do {
            try await withFile { file throws(JournalError) in try file.close() }
            result = .success(())
        } catch {
            result = .failure(error)
        }
        // Stopping a stopped thread does nothing, so a second `close` (which throws `.closed`) is harmless.
        try? await thread.shutdownGracefully()
        try result.get()
    }

    // MARK: - Test seams (internal; tests reach them with `@testable import`)

    /// Makes the next write or sync fail.
    var injectedFault: JournalFile.InjectedFault? {
        get { file.withLock { $0.injectedFault } }
        set { file.withLock { $0.injectedFault = newValue } }
    }
    /// The cut after the next failed append fails too, leaving the failed batch's bytes in the file.
    var failNextCut: Bool {
        get { file.withLock { $0.failNextCut } }
        set { file.withLock { $0.failNextCut = newValue } }
    }
    /// At most this many bytes per `pwrite` call, to exercise the partial-write loop.
    var maxBytesPerWrite: Int {
        get { file.withLock { $0.maxBytesPerWrite } }
        set { file.withLock { $0.maxBytesPerWrite = newValue } }
    }
    /// How much `recover` reads at a time (tests make it small to split records across reads).
    var recoveryChunkBytes: Int {
        get { file.withLock { $0.recoveryChunkBytes } }
        set { file.withLock { $0.recoveryChunkBytes = newValue } }
    }
    /// What the last `recover` did (`JournalFile.RecoveryWork`).
    var lastRecoveryWork: JournalFile.RecoveryWork { file.withLock { $0.lastRecoveryWork } }
    /// Bytes of the file that are written and synced; valid after `recover`.
    var durableLength: Int { file.withLock { $0.durableLength } }
    /// The thread that opened the file (`currentThreadID()`): the journal's.
    var fileThread: UInt { file.withLock { $0.ownerThread } }
}

/// The open journal file, and the blocking work on it. Not `Sendable`: it holds a file descriptor and the durable
/// length, and only the journal's thread uses it (`FileJournal`).
final class JournalFile {
    /// `<directory>/journal.rhj`.
    let path: String
    let directory: String
    let electionDigest: UInt64
    private let logger: Logger
    private let options: FileJournal.Options
    private let syncLatency: CoreMetrics.Timer
    private let storedBytes: Gauge

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
    /// The thread that opened the file: the journal's. Every call must come from it (checked in debug builds).
    let ownerThread = currentThreadID()
    /// Reused by every append, so that a batch costs no allocation once the buffer has grown.
    private var scratch = ByteBufferAllocator().buffer(capacity: 4096)

    /// Test seam: makes the next write or sync fail (`FileJournal.injectedFault`).
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
    /// How much `recover` reads at a time (tests make it small to split records across reads).
    var recoveryChunkBytes = 4 << 20

    /// What the last `recover` did, whether or not it succeeded: the bytes it read from the file, the bytes it
    /// checksummed, and the capacity of its read buffer. For tests that prove recovery stays linear in the file's
    /// size and its memory bounded (the repair's backup copy is not counted: one more sequential pass).
    struct RecoveryWork: Equatable {
        var bytesRead = 0
        var bytesChecksummed = 0
        var bufferCapacity = 0
    }
    private(set) var lastRecoveryWork = RecoveryWork()

    /// Opens `<directory>/journal.rhj`, creating the directory (0700) and a new journal (0600, with its header) if
    /// missing. Nothing is read until `recover()`.
    init(
        directory: String, electionDigest: UInt64, logger: Logger, options: FileJournal.Options
    ) throws(JournalError) {
        self.directory = directory
        let path = directory.hasSuffix("/") ? directory + FileJournal.fileName : directory + "/" + FileJournal.fileName
        self.path = path
        self.electionDigest = electionDigest
        self.logger = logger
        self.options = options
        self.syncLatency = CoreMetrics.Timer(label: FileJournal.MetricName.sync, factory: options.metrics)
        self.storedBytes = Gauge(label: FileJournal.MetricName.fileBytes, factory: options.metrics)
        if case .failure(let failure) = Posix.makeDirectories(directory, mode: FileJournal.directoryMode) {
            throw .openFailed(path: path, reason: failure.description)
        }
        // The descriptor stays local until every check has passed: a throwing init must close it itself.
        var opened: Int32
        var created = false
        switch Posix.openFile(path, O_RDWR | O_CLOEXEC) {
        case .success(let descriptor):
            opened = descriptor
        case .failure(let failure) where failure.code == ENOENT:
            (opened, created) = try Self.create(path: path, directory: directory, electionDigest: electionDigest)
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
        fd = opened
        if created {
            // A new, empty journal where one may have been expected (e.g. a wrong --data) should not go unnoticed.
            logger.notice("journal: created a new, empty journal", metadata: ["journal.path": "\(path)"])
        }
    }

    /// Creates the journal so that it never exists at its path without a complete header: the header goes into a
    /// uniquely named temporary file in the same directory (0600, fsynced), which is then hard-linked to
    /// `journal.rhj`. `link`, unlike `rename`, never replaces: it fails with EEXIST if another process created the
    /// journal meanwhile, and that one is opened instead. Returns the open descriptor and whether this call created
    /// the journal.
    private static func create(
        path: String, directory: String, electionDigest: UInt64
    ) throws(JournalError) -> (Int32, created: Bool) {
        let header = JournalFormat.header(electionDigest: electionDigest)
        let created = header.withUnsafeReadableBytes {
            Posix.createFileAtomically(path, contents: $0, mode: FileJournal.fileMode)
        }
        switch created {
        case .success(let fd):
            return (fd, true)
        case .failure(let failure) where failure.code == EEXIST:
            switch Posix.openFile(path, O_RDWR | O_CLOEXEC) {
            case .success(let existing): return (existing, false)
            case .failure(let failure): throw .openFailed(path: path, reason: failure.description)
            }
        case .failure(let failure):
            let hint = failure.call.hasPrefix("link") ? " (the journal's file system must support hard links)" : ""
            throw .openFailed(path: path, reason: "creating it: \(failure.description)\(hint)")
        }
    }

    deinit {
        if case .closed = state { return }
        // Every append was synced before it returned, so there is nothing left to flush.
        releaseLock()
        _ = Posix.closeFile(fd)
    }

    private func assertOnOwnThread() {
        assert(currentThreadID() == ownerThread, "the journal's file is used off the journal's thread")
    }

    /// Unlocks before closing: a child process being spawned at that moment briefly shares the open file (until
    /// its exec closes it), and the lock would otherwise outlive our close and refuse the next open.
    private func releaseLock() {
        _ = flock(fd, LOCK_UN)
    }

    /// The sequence number of the last durable entry (0 when none); valid after `recover()`.
    var lastSequence: UInt64 {
        if case .ready(_, let lastSequence, _) = state { return lastSequence }
        return 0
    }

    /// Bytes of the file that are written and synced; valid after `recover()`.
    var durableLength: Int {
        if case .ready(let durableLength, _, _) = state { return durableLength }
        return 0
    }

    // MARK: - Recovery

    func recover<ApplyFailure: Error>(
        _ apply: (JournalEntry) throws(ApplyFailure) -> Void
    ) throws(JournalError) -> JournalRecovery {
        assertOnOwnThread()
        if case .closed = state { throw .closed }
        if case .unusable(let error) = state { throw error }
        state = .opened
        lastRecoveryWork = RecoveryWork()
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .readFailed("fstat: \(describeErrno(errno))") }
        let fileBytes = Int(status.st_size)
        var reader = SequentialReader(
            fd: fd, chunkBytes: recoveryChunkBytes,
            largestRead: JournalFormat.recordHeaderBytes + JournalFormat.maxPayloadBytes)
        defer {
            lastRecoveryWork.bytesRead = reader.bytesRead
            lastRecoveryWork.bufferCapacity = reader.buffer.capacity
        }

        let headerPresent: Int
        switch reader.fill(JournalFormat.headerBytes) {
        case .success(let available): headerPresent = available
        case .failure(let failure): throw .readFailed(failure.description)
        }
        do {
            try JournalFormat.checkHeader(
                reader.buffer.getSlice(at: reader.buffer.readerIndex, length: headerPresent)!, fileBytes: fileBytes,
                electionDigest: electionDigest, path: path)
        } catch {
            switch error {
            case .missingHeader, .corruptHeader:
                // Refused: the caller reports the error (its description tells the operator what to do).
                guard options.repair else { throw error }
                let backup = try writeBackup()
                try startEmpty()
                logger.error(
                    "journal: repaired: \(error.damage); kept the original as \(backup) and started an empty journal, dropping its \(fileBytes) bytes",
                    metadata: [
                        "journal.path": "\(path)", "journal.dropped_bytes": "\(fileBytes)",
                        "journal.backup": "\(backup)",
                    ])
                state = .ready(durableLength: JournalFormat.headerBytes, lastSequence: 0, dirtyTail: false)
                return JournalRecovery(entryCount: 0, truncatedBytes: fileBytes)
            default:
                throw error
            }
        }
        reader.consume(JournalFormat.headerBytes)

        let scan = try JournalFormat.scanRecords(&reader, apply: apply)
        lastRecoveryWork.bytesChecksummed = scan.bytesChecksummed
        let dropped = fileBytes - scan.validEnd
        switch scan.problem {
        case nil:
            break
        case .tornTail(let reason):
            try truncateForRecovery(to: scan.validEnd)
            // Only what is known: the record is shorter than it says. Whether it was acknowledged cannot be told.
            logger.warning(
                "journal: dropped a torn tail of \(dropped) bytes at byte \(scan.validEnd): \(reason) (what a crash in the middle of an append leaves)",
                metadata: [
                    "journal.path": "\(path)", "journal.offset": "\(scan.validEnd)",
                    "journal.dropped_bytes": "\(dropped)",
                ])
        case .corrupt(let error):
            // Refused: the caller reports the error (its description tells the operator what to do).
            guard options.repair else { throw error }
            let backup = try writeBackup()
            try truncateForRecovery(to: scan.validEnd)
            logger.error(
                "journal: repaired: corrupt at byte \(scan.validEnd) (\(error.damage)); kept the original as \(backup), dropped \(dropped) bytes from there and kept \(scan.entryCount) entries",
                metadata: [
                    "journal.path": "\(path)", "journal.offset": "\(scan.validEnd)",
                    "journal.dropped_bytes": "\(dropped)", "journal.backup": "\(backup)",
                ])
        }
        state = .ready(durableLength: scan.validEnd, lastSequence: UInt64(scan.entryCount), dirtyTail: false)
        storedBytes.record(scan.validEnd)
        return JournalRecovery(entryCount: scan.entryCount, truncatedBytes: dropped)
    }

    /// Replaces a damaged header (its file already backed up) with a new, empty journal. Cut to nothing first, so
    /// that a crash before the fsync leaves a file with no valid header (refused again), never the old records
    /// behind a new header.
    private func startEmpty() throws(JournalError) {
        let header = JournalFormat.header(electionDigest: electionDigest)
        let result = Posix.truncateFile(fd, to: 0)
            .flatMap { header.withUnsafeReadableBytes { Posix.writeAll(fd, $0, at: 0) } }
            .flatMap { Posix.syncFile(fd) }
        if case .failure(let failure) = result { throw .writeFailed(failure.description) }
    }

    private func truncateForRecovery(to length: Int) throws(JournalError) {
        if case .failure(let failure) = Posix.truncateFile(fd, to: length) { throw .writeFailed(failure.description) }
        if case .failure(let failure) = Posix.syncFile(fd) { throw .writeFailed(failure.description) }
    }

    /// Copies the file as it is now, in bounded chunks, to `journal.rhj.corrupt-<unix time>[.n].bak` (0600,
    /// synced, its directory entry synced), and returns the backup's path.
    private func writeBackup() throws(JournalError) -> String {
        let stamp = time(nil)
        var attempt = 0
        while true {
            let backup = path + ".corrupt-\(stamp)" + (attempt == 0 ? "" : ".\(attempt)") + ".bak"
            let backupFD: Int32
            switch Posix.openFile(backup, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: FileJournal.fileMode) {
            case .success(let opened): backupFD = opened
            case .failure(let failure) where failure.code == EEXIST:
                attempt += 1
                continue
            case .failure(let failure):
                throw .writeFailed("creating the backup \(backup): \(failure.description)")
            }
            let copied = Posix.setMode(backupFD, FileJournal.fileMode)
                .flatMap { Posix.copyFile(from: fd, to: backupFD).map { _ in () } }
                .flatMap { Posix.syncFile(backupFD) }
            let closed = Posix.closeFile(backupFD)
            if case .failure(let failure) = copied.flatMap({ closed }).flatMap({ Posix.syncDirectory(directory) }) {
                throw .writeFailed("writing the backup \(backup): \(failure.description)")
            }
            return backup
        }
    }

    // MARK: - Appending

    func append(_ entries: [JournalEntry]) throws(JournalError) {
        assertOnOwnThread()
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
            let started = ContinuousClock.now
            defer { syncLatency.record(duration: ContinuousClock.now - started) }
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
        storedBytes.record(durableLength + scratch.readableBytes)
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

    func close() throws(JournalError) {
        assertOnOwnThread()
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

/// The calling thread's identity, comparable across threads (`pthread_self`).
func currentThreadID() -> UInt {
    #if canImport(Darwin)
        return UInt(bitPattern: pthread_self())
    #else
        return UInt(pthread_self())
    #endif
}
