import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire

extension Reporter {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch results arrive live; survives hub restarts by resuming.",
            discussion: """
                On a terminal it redraws the connection state, the scoreboard and the latest results; otherwise it
                writes the connection state ("hub: ...") and one line per result as they come. With --json it writes
                one JSON line per change ("type":"change"), and after a gap, which the hub answers with a fresh
                snapshot, a "type":"resync" line followed by one "type":"state" line per contest watched; the
                connection state goes to standard error.
                """)

        @OptionGroup var hub: HubOptions

        @Option(help: "Only this region's contests (id such as north-west, or name).")
        var region: String?

        @Option(help: "First show what happened after this sequence number (from the hub's retained events).")
        var from: UInt64?

        @Flag(help: "One JSON line per change, for graphics systems.")
        var json = false

        @Flag(
            help:
                "Start with the current state of every contest watched (with --json: a resync line, then one state line each)."
        )
        var initial = false

        func run() async throws {
            let address = hub.address
            var view = WatchView(
                address: address, json: json, redraw: !json && isatty(STDOUT_FILENO) == 1, initial: initial,
                from: from)
            view.show(.connecting(since: Date()))
            var filter = SubscriptionFilter.all
            if let region {
                let election = try await view.electionForRegion(hub: hub)
                let index = try election.region(named: region)
                filter = .regions([index])
                view.region = election.regions[index.rawValue]
            }
            let client = hub.subscriberClient(filter: filter)
            do {
                for try await event in client.events() {
                    try await view.handle(event, client: client)
                    fflushStandardOutput()
                }
            } catch {
                throw explanation(of: error, at: address)
            }
        }
    }
}

/// What the watcher shows: the connection's state, the scoreboard of its copy, and each change.
struct WatchView {
    enum Connection: Equatable {
        case connecting(since: Date)
        case live
        case silent(since: Date)
        case reconnecting(since: Date, reason: String)

        var kind: Int {
            switch self {
            case .connecting: return 0
            case .live: return 1
            case .silent: return 2
            case .reconnecting: return 3
            }
        }
    }

    let address: HubAddress
    let json: Bool
    let redraw: Bool
    let initial: Bool
    let from: UInt64?
    var region: Region?
    private var connection = Connection.connecting(since: Date())
    private var sequence: UInt64?
    private var latest: [String] = []
    private var lastUpdate: ReplicaUpdate?
    private var lastTitle = ""
    /// The kind of connection state last written as a line.
    private var shownKind: Int?

    init(address: HubAddress, json: Bool, redraw: Bool, initial: Bool, from: UInt64?) {
        self.address = address
        self.json = json
        self.redraw = redraw
        self.initial = initial
        self.from = from
    }

    private static let clock: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter
    }()

    var statusLine: String {
        let last = sequence.map { "; last sequence \($0)" } ?? ""
        switch connection {
        case .connecting: return "connecting to \(address) …"
        case .live: return "live" + (sequence.map { " at sequence \($0)" } ?? "")
        case .silent(let since): return "no word from the hub since \(Self.clock.string(from: since))\(last)"
        case .reconnecting(let since, let reason):
            return "reconnecting since \(Self.clock.string(from: since)) (\(reason))\(last)"
        }
    }

    /// A new connection state: written as a line when its kind changes (a terminal redraws it in place).
    mutating func show(_ state: Connection) {
        connection = state
        if redraw {
            draw()
        } else if state.kind != shownKind {
            let line = "hub: " + statusLine
            if json { writeError(line) } else { say(line) }
        }
        shownKind = state.kind
    }

    /// The election, to resolve a region before subscribing; while the hub cannot be reached, says so and tries again.
    mutating func electionForRegion(hub: HubOptions) async throws -> Election {
        var delay = Duration.milliseconds(100)
        while true {
            let client = hub.queryClient()
            do {
                let election = try await client.election()
                await client.close()
                return election
            } catch let error as HubClientError {
                await client.close()
                switch error {
                case .unreachable, .timedOut, .connectionLost:
                    if case .reconnecting = connection {
                    } else {
                        show(.reconnecting(since: Date(), reason: "\(explanation(of: error, at: address))"))
                    }
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                default:
                    throw explanation(of: error, at: address)
                }
            }
        }
    }

    mutating func handle(_ event: SubscriberEvent, client: SubscriberClient) async throws {
        switch event {
        case .connecting:
            return
        case .connected(let welcome):
            noteRehearsal(welcome.rehearsal)
            show(.live)
        case .heard:
            show(.live)
        case .silent(let since):
            show(.silent(since: since))
        case .disconnected(let error, _):
            let reason = "\(explanation(of: error, at: address))"
            if case .reconnecting(let since, _) = connection {
                connection = .reconnecting(since: since, reason: reason)
                if redraw { draw() }
            } else {
                show(.reconnecting(since: Date(), reason: reason))
            }
        case .update(let update):
            noteRehearsal(update.rehearsal)
            try await apply(update, client: client)
        }
    }

    private mutating func apply(_ update: ReplicaUpdate, client: SubscriberClient) async throws {
        let election = update.election
        let previous = lastUpdate
        lastUpdate = update
        sequence = update.replica.sequence
        if connection != .live { show(.live) }
        switch update.kind {
        case .snapshot(let reason):
            if previous == nil {
                if let from {
                    let history = try await explained(address) {
                        try await client.history(after: from, through: update.replica.sequence)
                    }
                    for change in history { report(change, conflated: false, update: update) }
                }
                if initial { resync(update, reason: "initial", previous: nil) }
            } else {
                resync(update, reason: "\(reason)", previous: previous)
            }
        case .changes(let changes, let conflated):
            for change in changes { report(change, conflated: conflated, update: update) }
        }
        let title = scoreboardTitle(board(update), scope: scope(election))
        if redraw {
            draw()
        } else if !json && title != lastTitle {
            say(title)
        }
        lastTitle = title
    }

    /// One change: a line of JSON, or of text that says what it was.
    private mutating func report(_ change: SequencedRecord, conflated: Bool, update: ReplicaUpdate) {
        let election = update.election
        guard let contest = election.contest(change.record.contestID) else { return }
        if json {
            say(
                jsonLine(
                    WatchLineJSON(
                        type: "change", conflated: conflated,
                        contest: ContestJSON(
                            contest: contest, record: change.record, sequence: change.sequence,
                            asOf: update.replica.sequence, election: election))))
            return
        }
        let event = election.eventName(of: change.record)
        var detail = event == "declaration" ? [String]() : [event, "revision \(change.record.revision)"]
        detail.append("sequence \(change.sequence)")
        if conflated { detail.append("latest of several") }
        var line = "\(contest.name): \(election.headline(for: change.record)) (\(detail.joined(separator: ", ")))"
        if let changes = election.seatChanges(change.record) { line += "; seats \(election.describe(changes))" }
        if case .withdrawn(let withdrawn) = change.record.state, !withdrawn.reason.isEmpty {
            line += ": \(withdrawn.reason)"
        }
        note(line)
    }

    /// After a gap (or at the start with --initial): say so, then the state of every contest watched (JSON), or the
    /// contests whose result differs from what was shown before (text).
    private mutating func resync(_ update: ReplicaUpdate, reason: String, previous: ReplicaUpdate?) {
        let election = update.election
        let contests = election.contests.filter { region == nil || election.regions[$0.region.rawValue] == region }
        let records = update.replica.records
        if json {
            say(jsonLine(ResyncJSON(reason: reason, sequence: update.replica.sequence, contests: contests.count)))
            for contest in contests {
                say(
                    jsonLine(
                        WatchLineJSON(
                            type: "state", conflated: false,
                            contest: ContestJSON(
                                contest: contest, record: records[contest.id], sequence: nil,
                                asOf: update.replica.sequence, election: election))))
            }
            return
        }
        let before = previous?.replica.records ?? [:]
        let changed = contests.filter { records[$0.id] != before[$0.id] }
        if previous != nil {
            note(
                "hub: fresh copy at sequence \(update.replica.sequence) after a gap (\(reason)); \(changed.count) contest\(changed.count == 1 ? "" : "s") changed meanwhile"
            )
        }
        for contest in changed {
            guard let record = records[contest.id] else {
                note("\(contest.name): no result any more (as of sequence \(update.replica.sequence))")
                continue
            }
            note(
                "\(contest.name): \(election.headline(for: record)) (\(election.eventName(of: record)), revision \(record.revision), as of sequence \(update.replica.sequence))"
            )
        }
    }

    private mutating func note(_ line: String) {
        latest.append(line)
        latest = Array(latest.suffix(12))
        if !redraw { say(line) }
    }

    private func scope(_ election: Election) -> String {
        region.map { "\(election.name), \($0.name)" } ?? election.name
    }

    /// The scoreboard of the copy: of the region's contests when watching one region.
    private func board(_ update: ReplicaUpdate) -> Scoreboard {
        var board = ScoreboardTally(election: update.election, records: update.replica.records.values)
            .scoreboard(sequence: update.replica.sequence)
        if let region {
            board.contestsTotal =
                update.election.contests.filter {
                    update.election.regions[$0.region.rawValue] == region
                }.count
        }
        return board
    }

    /// The in-place view on a terminal.
    private func draw() {
        var screen = "\u{1B}[H\u{1B}[2J" + "hub: " + statusLine + "\n"
        if let update = lastUpdate {
            screen +=
                "\n" + scoreboardTable(board(update), election: update.election, scope: scope(update.election))
                + "\n\nlatest:\n" + latest.reversed().map { "  " + $0 }.joined(separator: "\n")
        }
        say(screen)
        fflushStandardOutput()
    }
}
