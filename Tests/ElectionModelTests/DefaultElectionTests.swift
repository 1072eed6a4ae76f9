import ElectionDefaults
import ElectionModel
import Foundation
import Testing

@Suite("The embedded 2023 election")
struct DefaultElectionTests {
    let election: Election

    init() throws {
        election = try Election.england2023()
    }

    @Test func hasEveryCouncilAndMayoralty() {
        #expect(election.contests.count == 234)
        #expect(election.contests.filter { $0.kind == .council }.count == 230)
        #expect(election.contests.filter { $0.kind == .mayoralty }.count == 4)
        #expect(election.regions.count == 8)
        #expect(election.sources.contains("mySociety"))
        let swindon = election.contest(slug: "swindon")
        #expect(swindon?.controlBefore == .party(election.party(code: "CON")!))
        #expect(election.contest(slug: "teignbridge")?.controlBefore == nil)
        #expect(election.contest(slug: "amber-valley")?.totalSeats == nil)
    }

    /// The data set's own control-after column, read straight from the JSON, must be what the model derives from the
    /// reference seats wherever they add up to the council's size: this checks the derivation and the data together.
    @Test func derivedControlMatchesTheRecordedResult() throws {
        let raw = try JSONSerialization.jsonObject(with: try resourceData()) as! [String: Any]
        let contests = raw["contests"] as! [[String: Any]]
        let desk = DeskIdentity(id: "national", scope: .all)
        var checked = 0
        for entry in contests {
            guard let reference = entry["reference"] as? [String: Any],
                let recordedControl = reference["control"] as? String
            else { continue }
            let contest = election.contest(slug: entry["slug"] as! String)!
            guard let seats = contest.reference?.seats,
                seats.reduce(0, { $0 + Int($1.count) }) == (contest.kind == .mayoralty ? 1 : contest.totalSeats ?? -1)
            else { continue }
            let declaration = Declaration(
                contestID: contest.id, revision: 1, seats: seats,
                candidateVotes: contest.kind == .mayoralty ? contest.reference?.candidateVotes : nil, declaredAt: 0)
            let record = try election.validate(declaration, from: desk)
            #expect(election.code(of: record.declared!.control) == recordedControl, "\(contest.slug)")
            checked += 1
        }
        #expect(checked == 218 + 4, "every council whose seats add up, and every mayoralty")
    }

    @Test func headlinesFromTheNight() throws {
        let desk = DeskIdentity(id: "national", scope: .all)
        func headline(_ slug: String) throws -> String {
            let contest = election.contest(slug: slug)!
            let record = try election.validate(
                Declaration(contestID: contest.id, revision: 1, seats: contest.reference!.seats, declaredAt: 0),
                from: desk)
            let result = record.declared!
            return election.headline(control: result.control, outcome: result.outcome, contest: contest)
        }
        #expect(try headline("swindon") == "LAB gain from CON")
        #expect(
            try headline("bromsgrove") == "no overall control (no change)"
                || (try headline("bromsgrove")).hasPrefix("no overall control"))
        #expect(try headline("mayor-of-bedford") == "CON gain from LD")
        #expect(try headline("mayor-of-leicester") == "LAB hold")
    }

    /// Issue 10: the composition before (Open Council Data UK, May 2022) and GSS codes are in the default.
    @Test func carriesCompositionsBeforeAndGSSCodes() throws {
        let councils = election.contests.filter { $0.kind == .council }
        #expect(councils.filter { $0.seatsBefore != nil }.count == 226)
        #expect(
            Set(councils.filter { $0.seatsBefore == nil }.map(\.slug)) == [
                "ashfield", "boston", "epsom-and-ewell", "uttlesford",
            ])
        #expect(election.contests.allSatisfy { $0.gssCode?.count == 9 })
        let swindon = try #require(election.contest(slug: "swindon"))
        #expect(swindon.gssCode == "E06000030")
        let con = try #require(election.party(code: "CON"))
        let lab = try #require(election.party(code: "LAB"))
        #expect(swindon.seatsBefore == [PartyCount(party: con, count: 34), PartyCount(party: lab, count: 23)])
        #expect(election.sources.contains("Open Council Data UK"))
        #expect(election.seatsBeforeNote.contains("May 2022"))
        #expect(election.seatsBeforeNote.contains("Open Council Data UK"))
        #expect(election.seatsBeforeNote.contains("BBC"))
        let record = try election.validate(
            Declaration(contestID: swindon.id, revision: 1, seats: swindon.reference!.seats, declaredAt: 0),
            from: DeskIdentity(id: "national", scope: .all))
        #expect(election.describe(election.seatChanges(record)!) == "LAB +10, LD +1, IND +1, CON -12")
    }

    /// The councillor change the scoreboard reports when every reference result is declared: the figures the
    /// README and Tools/election-data/README.md quote. Records are built directly (eight councils' reference
    /// seats fall short of their size, which a desk could not submit), with the model's derived control.
    @Test func councillorChangeOfTheReferenceResults() throws {
        var records: [ContestRecord] = []
        for contest in election.contests where contest.kind == .council {
            guard let seats = contest.reference?.seats, !seats.isEmpty else { continue }
            let control = election.control(of: contest, seats: seats)
            records.append(
                ContestRecord(
                    contestID: contest.id, revision: 1,
                    state: .declared(
                        DeclaredResult(
                            control: control, outcome: .derive(after: control, before: contest.controlBefore),
                            seats: seats, votes: nil, turnoutBasisPoints: nil, candidateVotes: nil, declaredAt: 0,
                            deskID: "national"))))
        }
        let board = ScoreboardTally(election: election, records: records).scoreboard(sequence: 0)
        #expect(board.councilsCompared == 222)
        #expect(board.councilsNotCompared == 4)
        var change: [String: Int] = [:]
        for row in board.rows { change[election.parties[row.party.rawValue].code] = row.councillorsChange }
        #expect(
            change == [
                "CON": -1050, "LAB": 621, "LD": 426, "GRN": 218, "IND": -326, "AIND": 0, "BI": 0, "RA": 0, "R4U": 0,
            ])
    }

    @Test func suggestsCloseSlugs() {
        #expect(election.slugs(closeTo: "swindn").first == "swindon")
        #expect(election.slugs(closeTo: "bromsgove").first == "bromsgrove")
    }

    func resourceData() throws -> Data {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/ElectionDefaults/Resources/england-2023.json")
        return try Data(contentsOf: url)
    }
}
