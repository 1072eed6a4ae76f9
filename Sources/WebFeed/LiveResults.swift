import ElectionModel
import Foundation
import HubWire
import NIOCore

/// What results-web serves: the latest verified copy of the hub's records, with each contest's JSON and the
/// scoreboard's encoded once per change, and the recent change events for clients that resume. Pure: the caller
/// feeds it the subscriber client's updates and serves its bytes.
public struct LiveResults: Sendable {
    public let election: Election
    /// The hub marks a rehearsal's data as test (spec 6.5); every payload says so.
    public private(set) var rehearsal: Bool
    /// The hub sequence number the copy reflects.
    public private(set) var sequence: UInt64 = 0
    /// False until the first snapshot: there is nothing to serve before it.
    public private(set) var hasData = false
    /// The hub's state checksum at `sequence` (spec 7.1), verified by the client library: with the sequence, what
    /// identifies this state even across a hub whose journal was replaced (the ETag).
    public private(set) var checksum: UInt64 = 0
    /// After a fresh copy that replaced an earlier one (the hub could not resume: its journal may be another), an
    /// event id at or below this may be from the earlier copy: such a client gets a resync.
    private var resumeBarrier: UInt64?

    private var records: [ContestRecord?]
    private var contestJSON: [ByteBuffer]
    private var tally: ScoreboardTally
    private var scoreboardJSON = ByteBuffer()
    private var history: EventHistory
    /// The latest changes, each `{"change", "contest", "sequence"}`, oldest first: a resync carries them, so that a
    /// page that (re)connects shows the latest declarations as they happened, corrections marked.
    private var recent = CircularBuffer<ByteBuffer>()
    public static let recentChanges = 20

    public init(election: Election, rehearsal: Bool = false, historyLimits: EventHistory.Limits = .init()) {
        self.election = election
        self.rehearsal = rehearsal
        records = Array(repeating: nil, count: election.contests.count)
        contestJSON = Array(repeating: ByteBuffer(), count: election.contests.count)
        tally = ScoreboardTally(election: election)
        history = EventHistory(limits: historyLimits)
        for position in election.contests.indices { contestJSON[position] = encodeContest(at: position) }
        scoreboardJSON = encodeScoreboard()
    }

    /// A whole new copy (the first snapshot, or a fresh one after the hub could not resume): clients cannot
    /// resume across it, so the history starts again and the returned resync event is for every client.
    public mutating func replaceAll(
        with records: some Sequence<ContestRecord>, sequence: UInt64, checksum: UInt64 = 0, rehearsal: Bool
    ) -> WebEvent {
        self.rehearsal = rehearsal
        self.records = Array(repeating: nil, count: election.contests.count)
        for record in records {
            guard let position = election.contestPositions.position(record.contestID) else { continue }
            self.records[position] = record
        }
        tally = ScoreboardTally(election: election, records: self.records.compactMap { $0 })
        for position in election.contests.indices { contestJSON[position] = encodeContest(at: position) }
        scoreboardJSON = encodeScoreboard()
        if hasData { resumeBarrier = sequence }
        self.sequence = sequence
        self.checksum = checksum
        hasData = true
        history.reset()
        recent.removeAll()
        return resyncEvent()
    }

    /// The records of one batch, in sequence order, and the sequence the copy is at after it: one change event per
    /// record, each with the scoreboard after it.
    public mutating func apply(_ changes: [SequencedRecord], through sequence: UInt64, checksum: UInt64 = 0)
        -> [WebEvent]
    {
        defer { self.checksum = checksum }
        var events: [WebEvent] = []
        events.reserveCapacity(changes.count)
        for change in changes {
            guard let position = election.contestPositions.position(change.record.contestID) else { continue }
            let old = records[position]
            records[position] = change.record
            tally.replace(old, with: change.record)
            contestJSON[position] = encodeContest(at: position)
            scoreboardJSON = encodeScoreboard()
            let kind: String
            switch (old?.state, change.record.state) {
            case (_, .withdrawn): kind = "withdrawn"
            case (.declared?, .declared): kind = "corrected"
            default: kind = "declared"
            }
            var entry = JSONObjectWriter(capacity: contestJSON[position].readableBytes + 60)
            entry.field("change", raw: "\"\(kind)\"")
            entry.field("contest", json: contestJSON[position])
            entry.field("sequence", raw: String(change.sequence))
            let recentEntry = entry.finish()
            if recent.count == Self.recentChanges { recent.removeFirst() }
            recent.append(recentEntry)
            var object = JSONObjectWriter(capacity: recentEntry.readableBytes + scoreboardJSON.readableBytes + 40)
            object.fields(of: recentEntry)
            object.field("rehearsal", raw: rehearsal ? "true" : "false")
            object.field("scoreboard", json: scoreboardJSON)
            let event = WebEvent(kind: .change, id: change.sequence, data: object.finish())
            history.append(event, after: self.sequence)
            self.sequence = change.sequence
            events.append(event)
        }
        // A batch may end past its last record (records its filter left out); nothing to tell the clients.
        if sequence > self.sequence {
            history.reset()
            self.sequence = sequence
        }
        return events
    }

    /// The events a client that last received `lastEventID` needs, in order; nil when they are not all held (or
    /// are more than `limit`): that client needs a resync.
    public func events(after lastEventID: UInt64, limit: Int) -> [WebEvent]? {
        guard hasData else { return nil }
        if let resumeBarrier, lastEventID <= resumeBarrier { return nil }
        if lastEventID == sequence { return [] }
        return history.events(after: lastEventID, limit: limit)
    }

    /// The whole state, for a new client or one that cannot resume.
    public func resyncEvent() -> WebEvent {
        var object = JSONObjectWriter(capacity: 512 * contestJSON.count)
        object.field("contests", array: contestJSON)
        object.field("recent", array: recent)
        object.field("rehearsal", raw: rehearsal ? "true" : "false")
        object.field("scoreboard", json: scoreboardJSON)
        object.field("sequence", raw: String(sequence))
        return WebEvent(kind: .resync, id: sequence, data: object.finish())
    }

    // MARK: The JSON API's bodies

    /// `GET /v1/scoreboard`.
    public func scoreboardBody() -> ByteBuffer {
        var object = JSONObjectWriter(capacity: scoreboardJSON.readableBytes + 40)
        object.field("rehearsal", raw: rehearsal ? "true" : "false")
        object.field("sequence", raw: String(sequence))
        object.fields(of: scoreboardJSON)
        return object.finish()
    }

    /// `GET /v1/contests`, in election order, optionally only one region's or only those declared (or not).
    public func contestsBody(region: RegionIndex?, declared: Bool?) -> ByteBuffer {
        let selected = election.contests.indices.lazy.filter { position in
            let contest = election.contests[position]
            if let region, contest.region != region { return false }
            if let declared, (records[position]?.declared != nil) != declared { return false }
            return true
        }.map { contestJSON[$0] }
        var object = JSONObjectWriter(capacity: 512 * contestJSON.count)
        object.field("contests", array: selected)
        object.field("rehearsal", raw: rehearsal ? "true" : "false")
        object.field("sequence", raw: String(sequence))
        return object.finish()
    }

    /// `GET /v1/contests/{slug}`; nil for a slug the election does not have.
    public func contestBody(slug: String) -> ByteBuffer? {
        guard let contest = election.contest(slug: slug),
            let position = election.contestPositions.position(contest.id)
        else { return nil }
        var object = JSONObjectWriter(capacity: contestJSON[position].readableBytes + 40)
        object.field("contest", json: contestJSON[position])
        object.field("rehearsal", raw: rehearsal ? "true" : "false")
        object.field("sequence", raw: String(sequence))
        return object.finish()
    }

    /// `GET /v1/election`.
    public func electionBody() -> ByteBuffer {
        var object = JSONObjectWriter(capacity: 2048)
        object.field("rehearsal", raw: rehearsal ? "true" : "false")
        object.field("sequence", raw: String(sequence))
        object.fields(of: Self.encode(ElectionView(election)))
        return object.finish()
    }

    /// The view of one contest now (for tests and tools).
    public func contestView(slug: String) -> ContestView? {
        guard let contest = election.contest(slug: slug),
            let position = election.contestPositions.position(contest.id)
        else { return nil }
        return ContestView(contest: contest, record: records[position], in: election)
    }

    private func encodeContest(at position: Int) -> ByteBuffer {
        Self.encode(ContestView(contest: election.contests[position], record: records[position], in: election))
    }

    private func encodeScoreboard() -> ByteBuffer {
        Self.encode(ScoreboardView(tally.scoreboard(sequence: sequence), in: election))
    }

    static func encode(_ value: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        // Sorted keys: the same state is the same bytes, whatever the dictionaries' order.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The views hold only strings, numbers and optionals of them: encoding them cannot fail.
        return ByteBuffer(bytes: try! encoder.encode(value))
    }
}
