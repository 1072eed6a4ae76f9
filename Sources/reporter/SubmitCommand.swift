import ArgumentParser
import CSV
import ElectionModel
import Foundation
import HubClient
import HubWire

extension Reporter {
    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Submit a declaration (revision 1), or a correction (a higher --revision).",
            discussion: """
                reporter submit --contest swindon --seats LAB=31,CON=22,LD=4 --turnout 31.2
                reporter submit --contest mayor-of-leicester --candidate-votes "Soulsby=35002,Modhwadia=26422,..."
                reporter submit --file declarations.csv [--dry-run]   (or .json)
                A mayoralty's --seats is the winner's party with 1 (LAB=1); with --candidate-votes it may be left out.
                A CSV file has a header row naming its columns: contest and seats (or candidate_votes), and
                optionally revision, votes, turnout; seats and votes as LAB=31;CON=22 (or LAB=31,CON=22 in a quoted
                cell). A JSON file is a list of {"contest", "seats": {"LAB": 31}, "votes"?, "turnout"?, "revision"?,
                "candidateVotes"?: {"Peter Soulsby": 35002}}. Every entry is tried and reported with its line
                (entry) number, then "N accepted, M duplicates, K rejected"; the exit status is 1 if any was
                rejected.
                """)

        @OptionGroup var hub: HubOptions

        @Option(help: "Contest slug, e.g. swindon (any case).")
        var contest: String?

        @Option(help: "Whole-council seats after the election per party, e.g. LAB=31,CON=22,LD=2; a mayoralty: LAB=1.")
        var seats: String?

        @Option(help: "Votes per party, e.g. LAB=12000,CON=9000.")
        var votes: String?

        @Option(
            help:
                "A mayoralty's votes per candidate, every candidate: NAME=VOTES,... (full name, surname, or party code)."
        )
        var candidateVotes: String?

        @Option(help: "Turnout in percent, e.g. 31.2.")
        var turnout: Double?

        @Option(help: "Revision: 1 for the first declaration, higher for a correction.")
        var revision: UInt32 = 1

        @Option(help: "Submit every declaration in a CSV or JSON file instead.")
        var file: String?

        @Flag(help: "Check against the hub's election and current results; submit nothing.")
        var dryRun = false

        func validate() throws {
            if file == nil && (contest == nil || (seats == nil && candidateVotes == nil)) {
                throw ValidationError("give --contest and --seats (or a mayoralty's --candidate-votes), or --file")
            }
            if file != nil && (contest != nil || seats != nil || votes != nil || candidateVotes != nil) {
                throw ValidationError("give either --file or --contest/--seats, not both")
            }
            if let turnout, !(0...100).contains(turnout) {
                throw ValidationError("--turnout \(turnout) is not a percentage")
            }
            if !dryRun { try hub.validateDesk() }
        }

        func run() async throws {
            let address = hub.address
            let client = dryRun ? hub.queryClient() : hub.deskClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            await noteRehearsal(of: client)
            guard let file else {
                let entry = Entry(
                    contest: contest ?? "", seats: seats, votes: votes, candidateVotes: candidateVotes,
                    turnout: turnout, revision: revision)
                let (contest, declaration) = try entry.declaration(in: election)
                if dryRun {
                    var checker = DryRun(election: election, client: client, address: address)
                    let verdict = try await checker.check(declaration, contest: contest)
                    say(verdict.line)
                    if verdict.outcome == .rejected { throw ExitCode(1) }
                    return
                }
                do {
                    let ack = try await explained(address) { try await client.submit(declaration) }
                    say(
                        ackLine(ack, contest: contest, election: election, candidateVotes: declaration.candidateVotes))
                } catch let rejection as HubRejection {
                    writeError(rejectionText(rejection, contest: contest, election: election))
                    throw ExitCode(1)
                }
                return
            }
            let entries = try EntryFile.load(file)
            var tally = Tally()
            var checker = DryRun(election: election, client: client, address: address)
            for item in entries {
                let contest: Contest
                let declaration: Declaration
                do {
                    (contest, declaration) = try item.entry.get().declaration(in: election)
                } catch {
                    tally.rejected += 1
                    writeError("\(item.label): rejected before sending: \(error)")
                    continue
                }
                if dryRun {
                    let verdict = try await checker.check(declaration, contest: contest)
                    tally.count(verdict.outcome)
                    if verdict.outcome == .rejected {
                        writeError("\(item.label): \(verdict.line)")
                    } else {
                        say("\(item.label): \(verdict.line)")
                    }
                    continue
                }
                do {
                    let ack = try await explained(address) { try await client.submit(declaration) }
                    tally.count(ack.duplicate ? .duplicate : .accepted)
                    say(
                        "\(item.label): "
                            + ackLine(
                                ack, contest: contest, election: election, candidateVotes: declaration.candidateVotes))
                } catch let rejection as HubRejection {
                    tally.rejected += 1
                    writeError("\(item.label): " + rejectionText(rejection, contest: contest, election: election))
                } catch {
                    // The hub stopped answering: the entries after this one were not tried.
                    say(tally.summary(dryRun: false))
                    throw Failure(
                        "\(error)\n\(item.label) and the entries after it were not submitted; run the file again "
                            + "(what was accepted is recognised as a duplicate)")
                }
            }
            say(tally.summary(dryRun: dryRun))
            if tally.rejected > 0 { throw ExitCode(1) }
        }
    }
}

/// What a file's entries came to.
struct Tally {
    enum Outcome { case accepted, duplicate, rejected }
    var accepted = 0
    var duplicates = 0
    var rejected = 0

    mutating func count(_ outcome: Outcome) {
        switch outcome {
        case .accepted: accepted += 1
        case .duplicate: duplicates += 1
        case .rejected: rejected += 1
        }
    }

    func summary(dryRun: Bool) -> String {
        let counts =
            "\(accepted) \(dryRun ? "would be accepted" : "accepted"), \(duplicates) duplicate\(duplicates == 1 ? "" : "s"), \(rejected) rejected"
        return dryRun ? "dry run: \(counts); nothing was submitted" : counts
    }
}

/// Checks declarations as the hub would, without submitting: against the election (contest, parties, seats, the
/// desk's regions) and the contest's current record, then as if each earlier entry had been accepted.
struct DryRun {
    let election: Election
    let client: DeskClient
    let address: HubAddress
    private var current: [ContestID: ContestRecord?] = [:]
    private var desk: DeskIdentity?

    init(election: Election, client: DeskClient, address: HubAddress) {
        self.election = election
        self.client = client
        self.address = address
    }

    struct Verdict {
        var outcome: Tally.Outcome
        var line: String
    }

    mutating func check(_ declaration: Declaration, contest: Contest) async throws -> Verdict {
        if desk == nil {
            let welcome = try await explained(address) { try await client.welcome() }
            // An observer (no desk credentials) is checked as a desk for every region.
            let scope: RegionScope =
                welcome.allRegions || welcome.regions.isEmpty ? .all : .regions(Set(welcome.regions))
            desk = DeskIdentity(id: "dry-run", scope: scope)
        }
        let record: ContestRecord
        do {
            record = try election.validate(declaration, from: desk!)
        } catch {
            return Verdict(outcome: .rejected, line: rejected(error, contest: contest))
        }
        if current[contest.id] == nil {
            let answer = try await explained(address) { try await client.contest(contest.id) }
            current[contest.id] = .some(answer.record)
        }
        let existing = current[contest.id] ?? nil
        do {
            switch try election.admit(record, over: existing) {
            case .new:
                current[contest.id] = .some(record)
                return Verdict(
                    outcome: .accepted,
                    line:
                        "\(contest.slug): would be accepted as revision \(record.revision) — \(election.headline(for: record))"
                )
            case .duplicate:
                return Verdict(
                    outcome: .duplicate,
                    line:
                        "\(contest.slug): the hub already has revision \(record.revision) (a duplicate; nothing would change)"
                )
            }
        } catch {
            var line = rejected(error, contest: contest)
            if case .staleRevision = error {
                line += " (unless it repeats an earlier accepted revision exactly, which the hub acks as a duplicate)"
            }
            return Verdict(outcome: .rejected, line: line)
        }
    }

    private func rejected(_ error: DeclarationError, contest: Contest) -> String {
        "\(contest.slug): would be "
            + rejectionText(
                HubRejection(code: error.code, message: error.description), contest: contest, election: election
            ).dropFirst(contest.slug.count + 2)
    }
}

/// One declaration as a person types it or a file lists it.
struct Entry {
    var contest: String
    var seats: String?
    var votes: String?
    var candidateVotes: String?
    var turnout: Double?
    var revision: UInt32

    func declaration(in election: Election) throws -> (Contest, Declaration) {
        let contest = try election.contest(named: self.contest)
        let candidateVotes = try self.candidateVotes.map { try election.candidateVotes($0, for: contest) }
        var seats: [PartyCount]
        if let text = self.seats, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            seats = try election.counts(text, what: "\(contest.slug) seats")
        } else if let candidateVotes {
            seats = try Self.winningSeat(candidateVotes, contest: contest, election: election)
        } else {
            throw Failure(
                "\(contest.slug): "
                    + (contest.kind == .mayoralty
                        ? mayoralSeatsAdvice(contest, election: election)
                        : "give the seats per party, e.g. LAB=31,CON=22"))
        }
        if contest.kind == .mayoralty {
            seats = seats.filter { $0.count > 0 }
            guard seats.count == 1, seats[0].count == 1 else {
                throw Failure("\(contest.slug): " + mayoralSeatsAdvice(contest, election: election))
            }
        }
        let votes = try self.votes.map { try election.counts($0, what: "\(contest.slug) votes") }
        let turnout = try self.turnout.map { percent -> UInt16 in
            guard (0...100).contains(percent) else {
                throw Failure("\(contest.slug): turnout \(percent)% is not a percentage")
            }
            return UInt16((percent * 100).rounded())
        }
        let declaration = Declaration(
            contestID: contest.id, revision: revision, seats: seats, votes: votes, turnoutBasisPoints: turnout,
            candidateVotes: candidateVotes, declaredAt: nowMillis())
        return (contest, declaration)
    }

    /// A mayoralty's seat from its candidate votes: the top candidate's party with 1.
    static func winningSeat(_ votes: [UInt32], contest: Contest, election: Election) throws -> [PartyCount] {
        let top = votes.max() ?? 0
        let leaders = contest.candidates.indices.filter { votes[$0] == top }
        guard leaders.count == 1 else {
            throw Failure(
                "\(contest.slug): a tie between "
                    + leaders.map { contest.candidates[$0].name }.joined(separator: " and ")
                    + "; give the winner's party with --seats PARTY=1")
        }
        guard let party = contest.candidates[leaders[0]].party else {
            throw Failure(
                "\(contest.slug): \(contest.candidates[leaders[0]].name) stands for no party of the election; give --seats PARTY=1"
            )
        }
        return [PartyCount(party: party, count: 1)]
    }
}

/// A file of declarations: each entry with the line (CSV) or position (JSON) it came from, parsed or not.
enum EntryFile {
    struct Item {
        var label: String
        var entry: Result<Entry, Failure>
    }

    static func load(_ path: String) throws -> [Item] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure("cannot read \(path)") }
        if path.lowercased().hasSuffix(".json") { return try json(data, path: path) }
        return try csv(data, path: path)
    }

    /// A JSON list; an entry that does not decode is reported, and the rest are still tried.
    static func json(_ data: Data, path: String) throws -> [Item] {
        struct Failable: Decodable {
            var result: Result<Entry, Failure>
            init(from decoder: any Decoder) throws {
                do {
                    result = .success(try JSONEntry(from: decoder).entry)
                } catch let error as DecodingError {
                    result = .failure(Failure(EntryFile.describe(error)))
                }
            }
        }
        let list: [Failable]
        do {
            list = try JSONDecoder().decode([Failable].self, from: data)
        } catch {
            throw Failure(
                "\(path) is not a JSON list of {contest, seats, votes?, turnout?, revision?, candidateVotes?}: "
                    + describe(error))
        }
        return list.enumerated().map { Item(label: "entry \($0.offset + 1)", entry: $0.element.result) }
    }

    private struct JSONEntry: Decodable {
        var entry: Entry
        private enum Keys: String, CodingKey { case contest, seats, votes, turnout, revision, candidateVotes }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            func pairs(_ key: Keys) throws -> String? {
                try container.decodeIfPresent([String: Int].self, forKey: key).map {
                    $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                }
            }
            entry = Entry(
                contest: try container.decode(String.self, forKey: .contest), seats: try pairs(.seats),
                votes: try pairs(.votes), candidateVotes: try pairs(.candidateVotes),
                turnout: try container.decodeIfPresent(Double.self, forKey: .turnout),
                revision: try container.decodeIfPresent(UInt32.self, forKey: .revision) ?? 1)
        }
    }

    fileprivate static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        switch error {
        case .keyNotFound(let key, _): return "no \"\(key.stringValue)\""
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.filter { $0.intValue == nil }.map(\.stringValue).joined(separator: ".")
            return (path.isEmpty ? "" : "\(path): ") + context.debugDescription
        @unknown default: return "\(error)"
        }
    }

    /// Column names as a header may spell them.
    private static let aliases = [
        "candidate_votes": "candidatevotes", "candidate votes": "candidatevotes", "candidates": "candidatevotes",
        "slug": "contest",
    ]

    /// CSV read by a CSV library: quoted cells, a UTF-8 byte order mark (Excel), CRLF. The first row names the
    /// columns. Each entry's label is the line it starts on.
    static func csv(_ data: Data, path: String) throws -> [Item] {
        let reader: CSVReader
        do {
            reader = try CSVReader(stream: InputStream(data: data), hasHeaderRow: false, trimFields: true)
        } catch {
            throw Failure("cannot read \(path) as CSV: \(error)")
        }
        guard let headerRow = reader.next() else { return [] }
        let header = headerRow.map { cell -> String in
            let name = cell.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            return aliases[name] ?? name
        }
        guard header.contains("contest"), header.contains("seats") || header.contains("candidatevotes") else {
            throw Failure(
                "\(path) line 1: the header needs contest and seats columns (contest,revision,seats,votes,turnout,"
                    + "candidate_votes); it has: \(headerRow.joined(separator: ","))")
        }
        var items: [Item] = []
        var nextLine = 1 + 1 + lineBreaks(in: headerRow)
        while let row = reader.next() {
            let line = nextLine
            nextLine += 1 + lineBreaks(in: row)
            if row.allSatisfy({ $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) { continue }
            do {
                items.append(Item(label: "line \(line)", entry: .success(try entry(row, header: header))))
            } catch {
                items.append(Item(label: "line \(line)", entry: .failure(error)))
            }
        }
        if let error = reader.error { throw Failure("\(path): cannot read past line \(nextLine): \(error)") }
        return items
    }

    private static func entry(_ row: [String], header: [String]) throws(Failure) -> Entry {
        func cell(_ name: String) -> String? {
            guard let index = header.firstIndex(of: name), index < row.count else { return nil }
            let value = row[index].trimmingCharacters(in: .whitespacesAndNewlines)
            return value.isEmpty ? nil : value
        }
        func list(_ name: String) -> String? { cell(name)?.replacingOccurrences(of: ";", with: ",") }
        guard let contest = cell("contest") else { throw Failure("no contest given") }
        var revision: UInt32 = 1
        if let text = cell("revision") {
            guard let value = UInt32(text), value >= 1 else {
                throw Failure("\(contest): revision \"\(text)\" is not a whole number from 1")
            }
            revision = value
        }
        var turnout: Double?
        if let text = cell("turnout") {
            guard let value = Double(text.replacingOccurrences(of: "%", with: "")) else {
                throw Failure("\(contest): turnout \"\(text)\" is not a number")
            }
            turnout = value
        }
        return Entry(
            contest: contest, seats: list("seats"), votes: list("votes"), candidateVotes: list("candidatevotes"),
            turnout: turnout, revision: revision)
    }

    /// Line breaks inside a row's quoted cells (CRLF, CR or LF each count once).
    private static func lineBreaks(in row: [String]) -> Int {
        var count = 0
        for cell in row {
            var previousWasCR = false
            for scalar in cell.unicodeScalars {
                if scalar == "\n" {
                    if !previousWasCR { count += 1 }
                } else if scalar == "\r" {
                    count += 1
                }
                previousWasCR = scalar == "\r"
            }
        }
        return count
    }
}

extension Reporter {
    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw a contest's result.",
            discussion: """
                Idempotent: withdrawing a contest that is already withdrawn changes nothing, says so (with the
                withdrawal's revision and sequence) and exits 0. A contest with no result yet is rejected.
                """)

        @OptionGroup var hub: HubOptions

        @Option(help: "Contest slug (any case).")
        var contest: String

        @Option(help: "Why (shown to subscribers).")
        var reason = ""

        @Option(help: "The withdrawal's revision; default: one above the current revision.")
        var revision: UInt32?

        func validate() throws {
            try hub.validateDesk()
        }

        func run() async throws {
            let address = hub.address
            let client = hub.deskClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            await noteRehearsal(of: client)
            let contest = try election.contest(named: self.contest)
            var withdrawal = Withdrawal(
                contestID: contest.id, revision: revision ?? 0, withdrawnAt: nowMillis(), reason: reason)
            var alreadyWithdrawn = false
            if revision == nil {
                let current = try await explained(address) { try await client.contest(contest.id) }
                if let record = current.record, case .withdrawn(let withdrawn) = record.state {
                    // Already withdrawn: send the same withdrawal again, which the hub acks as a duplicate with its
                    // sequence number, and changes nothing.
                    alreadyWithdrawn = true
                    withdrawal.revision = record.revision
                    withdrawal.reason = withdrawn.reason
                } else {
                    withdrawal.revision = (current.record?.revision ?? 0) + 1
                }
            }
            do {
                let ack = try await explained(address) { try await client.withdraw(withdrawal) }
                if alreadyWithdrawn || (ack.duplicate && ack.status == .withdrawn) {
                    let because = withdrawal.reason.isEmpty ? "" : " (reason: \(withdrawal.reason))"
                    say(
                        "\(contest.slug): already withdrawn as sequence \(ack.sequence), revision \(ack.revision)\(because); nothing changed"
                    )
                } else {
                    say(ackLine(ack, contest: contest, election: election))
                }
            } catch let rejection as HubRejection {
                writeError(rejectionText(rejection, contest: contest, election: election))
                throw ExitCode(1)
            }
        }
    }
}
