import ArgumentParser
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
                reporter submit --file declarations.json   (or .csv)
                A JSON file is a list of {"contest", "seats": {"LAB": 31}, "votes"?, "turnout"?, "revision"?}.
                A CSV file has the header contest,revision,seats,votes,turnout with seats as LAB=31;CON=22.
                """)

        @OptionGroup var hub: HubOptions

        @Option(help: "Contest slug, e.g. swindon.")
        var contest: String?

        @Option(help: "Whole-council seats after the election per party, e.g. LAB=31,CON=22,LD=2.")
        var seats: String?

        @Option(help: "Votes per party, e.g. LAB=12000,CON=9000.")
        var votes: String?

        @Option(help: "Turnout in percent, e.g. 31.2.")
        var turnout: Double?

        @Option(help: "Revision: 1 for the first declaration, higher for a correction.")
        var revision: UInt32 = 1

        @Option(help: "Submit every declaration in a JSON or CSV file instead.")
        var file: String?

        func validate() throws {
            if file == nil && (contest == nil || seats == nil) {
                throw ValidationError("give --contest and --seats, or --file")
            }
            if file != nil && (contest != nil || seats != nil) {
                throw ValidationError("give either --file or --contest/--seats, not both")
            }
            if let turnout, !(0...100).contains(turnout) {
                throw ValidationError("--turnout \(turnout) is not a percentage")
            }
        }

        func run() async throws {
            let address = try hub.address
            let client = try hub.deskClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            let entries: [Entry]
            if let file {
                entries = try Entry.load(file)
            } else {
                entries = [Entry(contest: contest!, seats: seats!, votes: votes, turnout: turnout, revision: revision)]
            }
            var rejected = 0
            for entry in entries {
                let (contest, declaration) = try entry.declaration(in: election)
                do {
                    let ack = try await explained(address) { try await client.submit(declaration) }
                    print(ackLine(ack, contest: contest, election: election))
                } catch let rejection as HubRejection {
                    rejected += 1
                    writeError("\(contest.slug): rejected (\(rejection.code.name)): \(rejection.message)")
                }
            }
            if rejected > 0 {
                if entries.count > 1 { writeError("\(rejected) of \(entries.count) declarations rejected") }
                throw ExitCode(1)
            }
        }
    }
}

/// One declaration as a person types it or a file lists it.
struct Entry: Decodable {
    var contest: String
    var seats: String
    var votes: String?
    var turnout: Double?
    var revision: UInt32

    init(contest: String, seats: String, votes: String?, turnout: Double?, revision: UInt32) {
        self.contest = contest
        self.seats = seats
        self.votes = votes
        self.turnout = turnout
        self.revision = revision
    }

    private enum Keys: String, CodingKey { case contest, seats, votes, turnout, revision }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        contest = try container.decode(String.self, forKey: .contest)
        func pairs(_ key: Keys) throws -> String? {
            try container.decodeIfPresent([String: Int].self, forKey: key).map {
                $0.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            }
        }
        seats = try pairs(.seats) ?? ""
        votes = try pairs(.votes)
        turnout = try container.decodeIfPresent(Double.self, forKey: .turnout)
        revision = try container.decodeIfPresent(UInt32.self, forKey: .revision) ?? 1
    }

    func declaration(in election: Election) throws -> (Contest, Declaration) {
        let contest = try election.contest(named: self.contest)
        let seats = try election.counts(self.seats, what: "\(contest.slug) seats")
        let votes = try self.votes.map { try election.counts($0, what: "\(contest.slug) votes") }
        let turnout = try self.turnout.map { percent -> UInt16 in
            guard (0...100).contains(percent) else {
                throw ValidationError("\(contest.slug): turnout \(percent)% is not a percentage")
            }
            return UInt16((percent * 100).rounded())
        }
        let declaration = Declaration(
            contestID: contest.id, revision: revision, seats: seats, votes: votes, turnoutBasisPoints: turnout,
            declaredAt: UInt64(Date().timeIntervalSince1970 * 1000))
        return (contest, declaration)
    }

    static func load(_ path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        if path.lowercased().hasSuffix(".csv") { return try csv(String(decoding: data, as: UTF8.self), path: path) }
        do {
            return try JSONDecoder().decode([Entry].self, from: data)
        } catch {
            throw ValidationError(
                "\(path) is not a JSON list of {contest, seats, votes?, turnout?, revision?}: \(error)")
        }
    }

    /// contest,revision,seats,votes,turnout — seats and votes as LAB=31;CON=22.
    static func csv(_ text: String, path: String) throws -> [Entry] {
        var lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard !lines.isEmpty else { return [] }
        let header = lines.removeFirst().split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard let contestColumn = header.firstIndex(of: "contest"), let seatsColumn = header.firstIndex(of: "seats")
        else {
            throw ValidationError(
                "\(path): the header needs contest and seats columns (contest,revision,seats,votes,turnout)")
        }
        return try lines.enumerated().map { number, line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            func cell(_ name: String) -> String? {
                header.firstIndex(of: name).flatMap { $0 < cells.count && !cells[$0].isEmpty ? cells[$0] : nil }
            }
            guard contestColumn < cells.count, seatsColumn < cells.count else {
                throw ValidationError("\(path) line \(number + 2): too few cells")
            }
            let revision = try cell("revision").map {
                guard let value = UInt32($0) else {
                    throw ValidationError("\(path) line \(number + 2): revision \($0)")
                }
                return value
            }
            let turnout = try cell("turnout").map {
                guard let value = Double($0) else { throw ValidationError("\(path) line \(number + 2): turnout \($0)") }
                return value
            }
            return Entry(
                contest: cells[contestColumn], seats: cells[seatsColumn].replacingOccurrences(of: ";", with: ","),
                votes: cell("votes")?.replacingOccurrences(of: ";", with: ","), turnout: turnout,
                revision: revision ?? 1)
        }
    }
}

extension Reporter {
    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw a contest's result.")

        @OptionGroup var hub: HubOptions

        @Option(help: "Contest slug.")
        var contest: String

        @Option(help: "Why (shown to subscribers).")
        var reason = ""

        @Option(help: "The withdrawal's revision; default: one above the current revision.")
        var revision: UInt32?

        func run() async throws {
            let address = try hub.address
            let client = try hub.deskClient()
            defer { Task { await client.close() } }
            let election = try await explained(address) { try await client.election() }
            let contest = try election.contest(named: self.contest)
            var revision = self.revision
            if revision == nil {
                let current = try await explained(address) { try await client.contest(contest.id) }
                revision = (current.record?.revision ?? 0) + 1
            }
            let withdrawal = Withdrawal(
                contestID: contest.id, revision: revision!, withdrawnAt: UInt64(Date().timeIntervalSince1970 * 1000),
                reason: reason)
            do {
                let ack = try await explained(address) { try await client.withdraw(withdrawal) }
                print(ackLine(ack, contest: contest, election: election))
            } catch let rejection as HubRejection {
                writeError("\(contest.slug): rejected (\(rejection.code.name)): \(rejection.message)")
                throw ExitCode(1)
            }
        }
    }
}
