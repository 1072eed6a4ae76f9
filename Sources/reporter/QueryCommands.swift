import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire
import TextTable

/// A paragraph cut into lines of at most `width` characters, at spaces.
func wrapped(_ text: String, width: Int) -> [String] {
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
        if !line.isEmpty && line.count + 1 + word.count > width {
            lines.append(line)
            line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
    }
    if !line.isEmpty { lines.append(line) }
    return lines
}

extension Reporter {
    struct ScoreboardCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scoreboard", abstract: "The national scoreboard: councils, councillors, mayors per party.")

        @OptionGroup var hub: HubOptions

        @Flag(help: "JSON instead of a table.")
        var json = false

        func run() async throws {
            let address = hub.address
            let client = hub.queryClient()
            defer { Task { await client.close() } }
            let (election, board) = try await explained(address) {
                (try await client.election(), try await client.scoreboard())
            }
            await noteRehearsal(of: client)
            say(
                json ? jsonLine(ScoreboardJSON(board, election: election)) : scoreboardTable(board, election: election))
        }
    }

    struct ContestCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "contest",
            abstract: "One contest's current result.",
            discussion: "The slug matches in any case (Leicester, leicester); `reporter contests` lists them all.")

        @OptionGroup var hub: HubOptions

        @Argument(help: "Contest slug, e.g. swindon.")
        var slug: String

        @Flag(help: "JSON instead of text (the same keys whether declared, undeclared or withdrawn).")
        var json = false

        func run() async throws {
            let address = hub.address
            let client = hub.queryClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            await noteRehearsal(of: client)
            let contest = try election.contest(named: slug)
            let answer = try await explained(address) { try await client.contest(contest.id) }
            let line = ContestJSON(
                contest: contest, record: answer.record, sequence: nil, asOf: answer.sequence, election: election)
            if json {
                say(jsonLine(line))
                return
            }
            guard let record = answer.record else {
                say("\(contest.name): not declared yet (sequence \(answer.sequence))")
                return
            }
            var text = [
                "\(line.headline) (revision \(record.revision), \(line.status), desk \(line.desk ?? "?"))"
            ]
            if let seats = line.seats {
                text.append(
                    "seats: "
                        + seats.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.key) \($0.value)" }
                        .joined(separator: ", "))
            }
            if let changes = answer.seatChanges ?? election.seatChanges(record) {
                text.append("seat changes: \(election.describe(changes))")
                // The basis of the figure: the first sentence of the election's note on compositions before.
                if let basis = election.seatsBeforeNote.split(separator: ". ", maxSplits: 1).first {
                    text += wrapped(basis.hasSuffix(".") ? String(basis) : basis + ".", width: 98).map { "  " + $0 }
                }
            }
            if let candidates = line.candidateVotes {
                let table = TextTable<ContestJSON.CandidateVotes> {
                    [
                        Column(title: "candidate", value: $0.candidate),
                        Column(title: "party", value: $0.party ?? ""),
                        Column(title: "votes", value: $0.votes, align: .right),
                    ]
                }
                text.append(render(table, candidates.sorted { $0.votes > $1.votes }))
            }
            if let turnout = line.turnout { text.append("turnout: \(turnout)%") }
            if let reason = line.reason, !reason.isEmpty { text.append("reason: \(reason)") }
            say(text.joined(separator: "\n"))
        }
    }

    struct ContestsCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "contests",
            abstract: "Every contest with its slug, and its result when declared.",
            discussion: """
                Columns: slug, name, region, kind, seats, control before, and when declared the result and the
                sequence number of its latest event. Connects as a subscriber (--subscriber/--key when the hub
                requires keys).
                """)

        @OptionGroup var hub: HubOptions

        @Option(help: "Only this region's contests (id such as north-west, or name).")
        var region: String?

        @Flag(help: "Only contests without a declared result.")
        var undeclared = false

        @Flag(help: "Only contests with a declared result.")
        var declared = false

        @Flag(help: "A JSON list instead of a table.")
        var json = false

        @Flag(help: "CSV instead of a table.")
        var csv = false

        func validate() throws {
            if undeclared && declared { throw ValidationError("give --undeclared or --declared, not both") }
            if json && csv { throw ValidationError("give --json or --csv, not both") }
        }

        func run() async throws {
            let address = hub.address
            let state = try await explained(address) { try await hub.subscriberClient().currentState() }
            noteRehearsal(state.rehearsal)
            let election = state.election
            let regionIndex = try region.map { try election.region(named: $0) }
            let lines = election.contests.filter { regionIndex == nil || $0.region == regionIndex }.compactMap {
                contest -> ContestJSON? in
                let record = state.replica.records[contest.id]
                let isDeclared = record?.declared != nil
                if undeclared && isDeclared || declared && !isDeclared { return nil }
                return ContestJSON(
                    contest: contest, record: record, sequence: state.sequences?[contest.id],
                    asOf: state.replica.sequence, election: election)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                say(String(decoding: try encoder.encode(lines), as: UTF8.self))
                return
            }
            func seats(_ line: ContestJSON) -> String { line.totalSeats.map(String.init) ?? "unknown" }
            if csv {
                // From a rehearsal hub each row says so in a last column: a prefix would corrupt the first.
                let test = state.rehearsal
                print(
                    try csvText(
                        [
                            ["slug", "name", "region", "kind", "seats", "control_before", "result", "sequence"]
                                + (test ? ["test_data"] : [])
                        ]
                            + lines.map {
                                [
                                    $0.contest, $0.name, $0.region, $0.kind, seats($0), $0.controlBefore ?? "unknown",
                                    $0.summary, $0.sequence.map(String.init) ?? "",
                                ] + (test ? ["TEST"] : [])
                            }),
                    terminator: "")
                return
            }
            let table = TextTable<ContestJSON> { line in
                [
                    Column(title: "slug", value: line.contest),
                    Column(title: "name", value: line.name),
                    Column(title: "region", value: line.region),
                    Column(title: "kind", value: line.kind),
                    Column(title: "seats", value: seats(line), align: .right),
                    Column(title: "before", value: line.controlBefore ?? "unknown"),
                    Column(title: "result", value: line.summary),
                    Column(title: "sequence", value: line.sequence.map(String.init) ?? "", align: .right),
                ]
            }
            let scope = regionIndex.map { election.regions[$0.rawValue].name } ?? election.name
            let declaredCount = lines.filter { $0.status == "declared" }.count
            var text =
                "\(scope): \(lines.count) contest\(lines.count == 1 ? "" : "s"), \(declaredCount) declared (sequence \(state.replica.sequence))"
            if !lines.isEmpty { text += "\n" + render(table, lines) }
            if state.sequences == nil && declaredCount > 0 {
                text +=
                    "\n(the hub no longer keeps every event, so the sequence numbers of earlier results are not shown)"
            }
            say(text)
        }
    }
}
