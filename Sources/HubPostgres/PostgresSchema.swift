/// The tables a hub keeps in its database, and the statements that read and write them. One database holds one
/// election's events (or one rehearsal's); every hub of a cluster uses the same database.
enum PostgresSchema {
    /// Raised when the tables change shape; a hub refuses a database with a migration it does not know.
    static let migration = 1

    /// The advisory lock whose holder leads: the only hub that appends. Held on the leader's session, the same
    /// connection that writes, so that a hub whose session ended (killed, paused past its lease, cut off) cannot
    /// write another event. ("RHUB" and 1.)
    static let leaderLock: Int64 = 0x5248_5542_0000_0001
    /// Taken for the length of the transaction that creates the tables, so that hubs starting together do not race.
    static let schemaLock: Int64 = 0x5248_5542_0000_0002

    /// Notified with the last sequence number by each commit; followers wake on it, then read by sequence.
    static let eventsChannel = "resultshub_events"
    /// Notified when a hub takes the lead; followers read the leader's address again.
    static let leaderChannel = "resultshub_leader"

    static let createStore = """
        CREATE TABLE IF NOT EXISTS resultshub_store (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            migration integer NOT NULL,
            election_id text NOT NULL,
            election_digest bigint NOT NULL,
            rehearsal boolean NOT NULL,
            term bigint NOT NULL DEFAULT 0,
            leader text,
            leader_since timestamptz
        )
        """

    /// `term` is the leader's term that wrote the row (for an operator reading the table; the fence is the
    /// session's lock and the term check in `append`).
    static let createEvents = """
        CREATE TABLE IF NOT EXISTS resultshub_events (
            sequence bigint PRIMARY KEY CHECK (sequence > 0),
            record bytea NOT NULL,
            term bigint NOT NULL,
            stored_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// Every insert notifies `eventsChannel` with its last sequence number, once per statement, on commit.
    static let createNotifyTrigger = [
        """
        CREATE OR REPLACE FUNCTION resultshub_notify_stored() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('\(eventsChannel)', (SELECT max(sequence) FROM stored)::text);
            RETURN NULL;
        END
        $$
        """,
        """
        CREATE OR REPLACE TRIGGER resultshub_events_stored AFTER INSERT ON resultshub_events
        REFERENCING NEW TABLE AS stored FOR EACH STATEMENT EXECUTE FUNCTION resultshub_notify_stored()
        """,
    ]
}
