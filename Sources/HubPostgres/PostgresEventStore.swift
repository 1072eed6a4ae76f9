import ElectionModel
import HubJournal
import HubWire
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// The hub's events in PostgreSQL, for several hubs on one database: replication and consensus are PostgreSQL's,
/// never ours. One table keyed by sequence number (two writers can never both store the same number); one `INSERT`
/// per group commit, acknowledged once PostgreSQL has committed it with `synchronous_commit = on` (so, with a
/// synchronous standby configured, once the standby has it too).
///
/// Who writes: the hub whose *session* (one connection, `session` below) holds an advisory lock, and only through
/// that session. The session runs with `idle_session_timeout` set to the lease, and the leader uses it at least
/// four times a lease; so a leader that is killed, paused past its lease or cut off loses its session, and with it
/// the lock and any chance to write, and another hub takes the lead. Each commit also checks the leader's term, a
/// second fence should a session ever outlive its lock. The others read what the leader stores, woken by
/// `LISTEN/NOTIFY` (or a poll), by sequence number, on a second connection (`reader`).
public actor PostgresEventStore: SharedEventStore {
    public struct Options: Sendable {
        public var location: PostgresStoreLocation
        /// From `PGPASSWORD` or a file; nil for a server that trusts the connection.
        public var password: String?
        public var electionID: String
        public var electionDigest: UInt64
        public var rehearsal: Bool
        /// How long a leader may go unheard by PostgreSQL before its session, and its lead, end.
        public var lease: Duration = .seconds(2)
        /// How often a follower tries for the lead and reads the table without being woken.
        public var pollInterval: Duration = .milliseconds(250)
        /// Rows read at a time on recovery and by followers.
        public var pageSize = 5_000

        public init(
            location: PostgresStoreLocation, password: String?, electionID: String, electionDigest: UInt64,
            rehearsal: Bool
        ) {
            self.location = location
            self.password = password
            self.electionID = electionID
            self.electionDigest = electionDigest
            self.rehearsal = rehearsal
        }
    }

    private let options: Options
    private let logger: Logger
    private let group: any EventLoopGroup
    private var session: PostgresConnection?
    private var reader: PostgresConnection?
    private var nextConnectionID = 0
    /// The last sequence number stored (by this hub) or read (from another).
    private var lastSequence: UInt64 = 0
    private var recovered = false
    private var closed = false
    /// Set while this hub leads: the term its commits carry.
    private var leadingTerm: Int64?
    /// An append failed in a way that means the session is gone: the lead is lost.
    private var sessionLost = false
    /// Counts sessions: an append that ends after its session was replaced says nothing about the new one.
    private var sessionGeneration = 0
    /// The address this hub advertised when it last led: read back from the store after it lost the lead, it is
    /// stale, and desks must not be sent back here.
    private var ownAddress: String?

    private init(options: Options, logger: Logger, group: any EventLoopGroup) {
        self.options = options
        self.logger = logger
        self.group = group
    }

    /// Connects, creates the tables or checks them (migration, election, rehearsal), and returns the store.
    public static func open(
        _ options: Options, logger: Logger, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(PostgresStoreError) -> PostgresEventStore {
        let store = PostgresEventStore(options: options, logger: logger, group: group)
        try await store.start()
        return store
    }

    private func start() async throws(PostgresStoreError) {
        let location = options.location.description
        do {
            let session = try await connect(purpose: "session", lease: true)
            self.session = session
            self.reader = try await connect(purpose: "reader")
            try await session.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.schemaLock))", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.createStore), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.createEvents), logger: logger)
                for statement in PostgresSchema.createNotifyTrigger {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                let digest = Int64(bitPattern: options.electionDigest)
                try await connection.query(
                    """
                    INSERT INTO resultshub_store (migration, election_id, election_digest, rehearsal)
                    VALUES (\(PostgresSchema.migration), \(options.electionID), \(digest), \(options.rehearsal))
                    ON CONFLICT (singleton) DO NOTHING
                    """, logger: logger)
            }
        } catch let error as PostgresStoreError {
            await closeConnections()
            throw error
        } catch {
            await closeConnections()
            throw .cannotConnect(location: location, reason: Self.describe(error))
        }
        let stored: (Int, String, Int64, Bool)
        do {
            let rows = try await reader!.query(
                "SELECT migration, election_id, election_digest, rehearsal FROM resultshub_store", logger: logger)
            guard let row = try await rows.decode((Int, String, Int64, Bool).self).first(where: { _ in true }) else {
                throw PostgresStoreError.cannotConnect(location: location, reason: "resultshub_store has no row")
            }
            stored = row
        } catch let error as PostgresStoreError {
            await closeConnections()
            throw error
        } catch {
            await closeConnections()
            throw .cannotConnect(location: location, reason: Self.describe(error))
        }
        let (migration, electionID, digest, rehearsal) = stored
        if migration > PostgresSchema.migration {
            await closeConnections()
            throw .unsupportedMigration(location: location, found: migration)
        }
        let running = (options.electionID, Int64(bitPattern: options.electionDigest), options.rehearsal)
        if electionID != running.0 || digest != running.1 || rehearsal != running.2 {
            await closeConnections()
            throw .otherElection(
                location: location,
                stored: Self.name(electionID, digest: UInt64(bitPattern: digest), rehearsal: rehearsal),
                running: Self.name(
                    options.electionID, digest: options.electionDigest, rehearsal: options.rehearsal))
        }
    }

    private static func name(_ id: String, digest: UInt64, rehearsal: Bool) -> String {
        let hex = String(digest, radix: 16)
        return rehearsal ? "a rehearsal of \(id) (digest \(hex))" : "\(id) (digest \(hex))"
    }

    private func connect(purpose: String, lease: Bool = false) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: options.location.host, port: options.location.port, username: options.location.user,
            password: options.password, database: options.location.database, tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "results-hub \(purpose)")]
        nextConnectionID += 1
        let connection = try await PostgresConnection.connect(
            on: group.next(), configuration: configuration, id: nextConnectionID, logger: logger
        ).get()
        // Acked means committed, whatever the database's default: raised to `on` (with a synchronous standby, on both
        // machines) when the server's is weaker, and `remote_apply` kept. And the session that may take the lock
        // ends, lock and all, when the hub goes quiet for a lease: set before the lock can be taken, so that it is
        // never held without one.
        let leaseMillis = max(100, Int(options.lease / .milliseconds(1)))
        let settings =
            [
                """
                SELECT set_config('synchronous_commit', 'on', false)
                WHERE current_setting('synchronous_commit') IN ('off', 'local', 'remote_write')
                """
            ] + (lease ? ["SET idle_session_timeout = \(leaseMillis)"] : [])
        let logger = self.logger
        do {
            for setting in settings {
                try await bounded(by: queryLimit) {
                    _ = try await connection.query(PostgresQuery(unsafeSQL: setting), logger: logger)
                }
            }
        } catch {
            _ = try? await bounded(by: .seconds(1)) { try await connection.close() }
            throw error
        }
        return connection
    }

    // MARK: EventStore

    public func recover<State: Sendable>(
        into state: State, _ apply: @escaping @Sendable (inout State, JournalEntry) throws -> Void
    ) async throws(JournalError) -> (State, JournalRecovery) {
        guard let reader, !closed else { throw .closed }
        var state = state
        var count = 0
        while true {
            let page: [JournalEntry]
            do {
                page = try await read(after: lastSequence, on: reader)
            } catch {
                throw .readFailed("reading \(options.location): \(Self.describe(error))")
            }
            if page.isEmpty { break }
            for entry in page {
                do {
                    try apply(&state, entry)
                } catch {
                    throw .replayFailed(sequence: entry.sequence, reason: "\(error)")
                }
                lastSequence = entry.sequence
                count += 1
            }
        }
        recovered = true
        return (state, JournalRecovery(entryCount: count, truncatedBytes: 0))
    }

    public func append(_ entries: [JournalEntry]) async throws(JournalError) {
        guard !closed else { throw .closed }
        guard recovered else { throw .notRecovered }
        guard let first = entries.first else { return }
        guard let term = leadingTerm, let session, !sessionLost else {
            throw .writeFailed("this hub does not lead the cluster on \(options.location), so it stores nothing")
        }
        let generation = sessionGeneration
        guard first.sequence == lastSequence + 1 else {
            throw .appendOutOfSequence(expected: lastSequence + 1, found: first.sequence)
        }
        var sequences: [Int64] = []
        var records: [ByteBuffer] = []
        sequences.reserveCapacity(entries.count)
        records.reserveCapacity(entries.count)
        for (offset, entry) in entries.enumerated() {
            guard entry.sequence == first.sequence + UInt64(offset) else {
                throw .appendOutOfSequence(expected: first.sequence + UInt64(offset), found: entry.sequence)
            }
            var buffer = ByteBuffer()
            RecordCodec.encode(entry.record, into: &buffer)
            sequences.append(Int64(entry.sequence))
            records.append(buffer)
        }
        let stored: Int64
        do {
            // One statement, one transaction: stored only while this hub's term is the store's.
            let query: PostgresQuery = """
                WITH stored AS (
                    INSERT INTO resultshub_events (sequence, record, term)
                    SELECT s, r, \(term) FROM unnest(\(sequences)::bigint[], \(records)::bytea[]) AS t(s, r)
                    WHERE (SELECT term FROM resultshub_store) = \(term)
                    RETURNING sequence)
                SELECT count(*)::bigint FROM stored
                """
            let logger = self.logger
            stored = try await bounded(by: queryLimit) {
                try await session.query(query, logger: logger).decode(Int64.self).first(where: { _ in true }) ?? 0
            }
        } catch {
            // Whatever went wrong, this session may no longer be the leader's: step down and follow from what the
            // table holds (if the commit went through after all, the entries come back as another's).
            if generation == sessionGeneration { sessionLost = true }
            if Self.isUniqueViolation(error) {
                throw .writeFailed(
                    "sequence \(first.sequence) is already stored by another hub: this hub no longer leads")
            }
            throw .writeFailed("storing in \(options.location) failed: \(Self.describe(error))")
        }
        guard stored == Int64(entries.count) else {
            if generation == sessionGeneration { sessionLost = true }
            throw .writeFailed("another hub took the lead (the store's term is no longer \(term)); nothing stored")
        }
        // Never backwards: a follower's read may have passed these already after a session was replaced.
        lastSequence = max(lastSequence, entries.last!.sequence)
    }

    public func close() async throws(JournalError) {
        guard !closed else { return }
        closed = true
        leadingTerm = nil
        await closeConnections()
    }

    private func closeConnections() async {
        let open = [session, reader].compactMap { $0 }
        session = nil
        reader = nil
        // Bounded: a connection whose server vanished may not even close.
        for connection in open { _ = try? await bounded(by: .seconds(1)) { try await connection.close() } }
    }

    /// How long a read or a commit may take before the connection is taken for lost.
    private var queryLimit: Duration { max(.seconds(5), options.lease * 2) }

    // MARK: Leading and following

    public func coordinate(
        advertising address: @escaping @Sendable () async throws -> String,
        _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws {
        var reportedLeader: String?? = nil
        while !Task.isCancelled && !closed {
            do {
                try await reconnectIfNeeded()
                // Returns holding the lock, unless cancelled or closed meanwhile: then it must not lead.
                guard try await follow(reportedLeader: &reportedLeader, report), !Task.isCancelled, !closed else {
                    break
                }
                let advertised = try await address()
                ownAddress = advertised
                try await takeLead(advertising: advertised, report)
                reportedLeader = .some(advertised)
                await report(.leading)
                logger.notice(
                    "leading: this hub stores the submissions",
                    metadata: ["store.term": "\(leadingTerm ?? 0)", "store.sequence": "\(lastSequence)"])
                try await holdLead()
            } catch {
                if Task.isCancelled || closed { break }
                if leadingTerm != nil {
                    logger.warning("this hub lost the lead: \(Self.describe(error)); following again")
                } else {
                    logger.warning("following the store failed: \(Self.describe(error)); trying again")
                }
            }
            // Lost the lead, or the connections: follow again, on new connections.
            if leadingTerm != nil || reportedLeader == nil {
                leadingTerm = nil
                reportedLeader = .some(nil)
                await report(.following(leader: nil))
            }
            await closeConnections()
            try? await Task.sleep(for: options.pollInterval)
        }
    }

    private func reconnectIfNeeded() async throws {
        if session == nil {
            session = try await connect(purpose: "session", lease: true)
            sessionGeneration += 1
            sessionLost = false
        }
        if reader == nil { reader = try await connect(purpose: "reader") }
    }

    /// Reads what the leader stores until this hub takes the lock: true holding it, having read to the end; false
    /// if it stopped without (cancelled, or the store closed).
    private func follow(
        reportedLeader: inout String??, _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws -> Bool {
        guard let reader, let session else { return false }
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let interval = options.pollInterval
        let logger = self.logger
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for channel in [PostgresSchema.eventsChannel, PostgresSchema.leaderChannel] {
                group.addTask {
                    try await reader.listen(on: channel) { notifications in
                        for try await _ in notifications { wake.yield() }
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    wake.yield()
                    try await Task.sleep(for: interval)
                }
            }
            defer { group.cancelAll() }
            for await _ in wakeups {
                try Task.checkCancellation()
                var leader = try await readLeader(on: reader)
                // This hub's own address, left by its last term: stale until another hub takes the lead.
                if leader != nil && leader == ownAddress { leader = nil }
                if reportedLeader != .some(leader) {
                    reportedLeader = .some(leader)
                    logger.info("following", metadata: ["store.leader": "\(leader ?? "none")"])
                    await report(.following(leader: leader))
                }
                try await readToEnd(on: reader, report)
                let locked = try await bounded(by: queryLimit) {
                    try await session.query("SELECT pg_try_advisory_lock(\(PostgresSchema.leaderLock))", logger: logger)
                        .decode(Bool.self).first(where: { _ in true }) == true
                }
                if locked {
                    // Everything stored before the lock was released is readable now: read it before leading.
                    try await readToEnd(on: reader, report)
                    return true
                }
            }
            return false
        }
    }

    private func readLeader(on connection: PostgresConnection) async throws -> String? {
        let logger = self.logger
        return try await bounded(by: queryLimit) {
            try await connection.query("SELECT leader FROM resultshub_store", logger: logger)
                .decode(String?.self).first(where: { _ in true }) ?? nil
        }
    }

    private func readToEnd(
        on connection: PostgresConnection, _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws {
        while true {
            let page = try await read(after: lastSequence, on: connection)
            guard let last = page.last else { return }
            lastSequence = last.sequence
            await report(.entries(page))
        }
    }

    /// Holding the lock, with everything read: a new term, and this hub's address for desks to be sent to.
    private func takeLead(
        advertising address: String, _ report: @escaping @Sendable (StoreRoleEvent) async -> Void
    ) async throws {
        guard let session else { return }
        let logger = self.logger
        let newTerm = try await bounded(by: queryLimit) {
            try await session.query(
                """
                UPDATE resultshub_store SET term = term + 1, leader = \(address), leader_since = now()
                RETURNING term
                """, logger: logger
            ).decode(Int64.self).first(where: { _ in true })
        }
        guard let term = newTerm else {
            throw PostgresStoreError.cannotConnect(location: options.location.description, reason: "no store row")
        }
        try await bounded(by: queryLimit) {
            _ = try await session.query(
                "SELECT pg_notify(\(PostgresSchema.leaderChannel), \(address))", logger: logger)
        }
        leadingTerm = term
    }

    /// Uses the session four times a lease, so that PostgreSQL keeps it (and the lock); returns, or throws, once it
    /// is gone (an append found it gone, or a ping failed).
    private func holdLead() async throws {
        let interval = options.lease / 4
        while !closed {
            try await Task.sleep(for: interval)
            guard let session, !sessionLost else { break }
            let logger = self.logger
            // Queued behind a commit on the same session, so bounded as a commit is; PostgreSQL ends the session
            // itself when nothing reaches it for a lease.
            try await bounded(by: queryLimit) { _ = try await session.query("SELECT 1", logger: logger) }
        }
        logger.warning("this hub lost the lead: its database session ended; following again")
    }

    private func read(after sequence: UInt64, on connection: PostgresConnection) async throws -> [JournalEntry] {
        let query: PostgresQuery = """
            SELECT sequence, record FROM resultshub_events WHERE sequence > \(Int64(sequence))
            ORDER BY sequence LIMIT \(options.pageSize)
            """
        let logger = self.logger
        let rows = try await bounded(by: queryLimit) {
            var rows: [(Int64, ByteBuffer)] = []
            for try await row in try await connection.query(query, logger: logger).decode((Int64, ByteBuffer).self) {
                rows.append(row)
            }
            return rows
        }
        var entries: [JournalEntry] = []
        var expected = sequence + 1
        for (stored, bytes) in rows {
            guard stored == Int64(expected) else {
                throw PostgresStoreError.cannotConnect(
                    location: options.location.description,
                    reason: "resultshub_events has no sequence \(expected) (the next is \(stored))")
            }
            var wire = WireReader(bytes)
            let record: ContestRecord
            do {
                record = try RecordCodec.decode(from: &wire)
            } catch {
                throw PostgresStoreError.cannotConnect(
                    location: options.location.description,
                    reason: "the record at sequence \(stored) does not decode: \(error)")
            }
            entries.append(JournalEntry(sequence: expected, record: record))
            expected += 1
        }
        return entries
    }

    // MARK: Errors

    /// postgres-nio hides the server's words from `description` (they may hold data); these are ours to show.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + state
            }
            return "\(error.code)"
        }
        if let error = error as? PostgresStoreError { return error.description }
        if let error = error as? PostgresTransactionError {
            return describe(error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error)
        }
        return "\(error)"
    }

    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}
