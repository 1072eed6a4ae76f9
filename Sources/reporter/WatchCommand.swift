import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire

extension Reporter {
    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Watch results arrive live; survives hub restarts by resuming.",
            discussion: "Without --json on a terminal it redraws the scoreboard and lists the latest declarations.")

        @OptionGroup var hub: HubOptions

        @Option(help: "Only this region's contests (region id, e.g. north-west).")
        var region: String?

        @Option(help: "First show what happened after this sequence number (from the hub's retained events).")
        var from: UInt64?

        @Flag(help: "One JSON line per change, for graphics systems.")
        var json = false

        func run() async throws {
            let address = try hub.address
            var filter = SubscriptionFilter.all
            if let region {
                let lookup = try hub.queryClient()
                let election = try await explained(address) { try await lookup.election() }
                await lookup.close()
                guard let index = election.region(id: region) else {
                    throw ValidationError(
                        "unknown region \"\(region)\"; regions: \(election.regions.map(\.id).joined(separator: ", "))")
                }
                filter = .regions([index])
            }
            let client = SubscriberClient(
                address: address, name: hub.subscriber, key: hub.subscriberKey, filter: filter, logger: hub.logger)
            let redraw = !json && isatty(STDOUT_FILENO) == 1
            var display = WatchDisplay()
            var historyShown = from == nil
            for try await update in client.updates() {
                var changes: [SequencedRecord] = []
                switch update.kind {
                case .snapshot:
                    if !historyShown, let from {
                        historyShown = true
                        changes = try await explained(address) {
                            try await client.history(after: from, through: update.replica.sequence)
                        }
                    }
                case .changes(let records, _):
                    changes = records
                }
                for change in changes {
                    if json {
                        print(jsonLine(RecordJSON(change.record, sequence: change.sequence, election: update.election)))
                    } else {
                        let line =
                            "\(update.election.contest(change.record.contestID)?.name ?? "?"): \(update.election.headline(for: change.record)) (sequence \(change.sequence))"
                        display.latest.append(line)
                        if !redraw { print(line) }
                    }
                }
                if redraw { display.draw(update) }
                fflushStandardOutput()
            }
        }
    }
}

/// The in-place view: the scoreboard from the verified copy, then the latest declarations.
struct WatchDisplay {
    var latest: [String] = []

    mutating func draw(_ update: ReplicaUpdate) {
        latest = Array(latest.suffix(12))
        let board = ScoreboardTally(election: update.election, records: update.replica.records.values)
            .scoreboard(sequence: update.replica.sequence)
        let screen =
            "\u{1B}[H\u{1B}[2J" + scoreboardTable(board, election: update.election) + "\n\nlatest:\n"
            + latest.reversed().map { "  " + $0 }.joined(separator: "\n")
        print(screen)
    }
}

func fflushStandardOutput() {
    fflush(nil)
}
