import ElectionModel
import HubTestSupport
import Foundation
import Testing

/// Councillor gains and losses against each council's composition before the election (issue 10).
@Suite("Councillor changes")
struct CouncillorChangeTests {
    static let con = PartyIndex(0)
    static let lab = PartyIndex(1)
    static let ld = PartyIndex(2)
    static let grn = PartyIndex(3)
    static let ind = PartyIndex(4)
    /// 10 seats; before CON 7, LAB 3.
    static let alpha = ContestID(1)
    /// 9 seats; before LD 4, GRN 2, IND 3 (a council that changed size would differ from 9: it need not add up).
    static let beta = ContestID(2)
    /// 5 seats, no composition before.
    static let gamma = ContestID(3)
    /// A mayoralty: never compared.
    static let mayor = ContestID(4)
    let national = DeskIdentity(id: "national", scope: .all)

    static func seats(_ pairs: (PartyIndex, UInt32)...) -> [PartyCount] {
        pairs.map { PartyCount(party: $0.0, count: $0.1) }
    }

    static func make() throws -> Election {
        try Election(
            id: "before", name: "Before", date: "2023-05-04", seatsBeforeNote: "May 2022 make-up",
            parties: [
                Party(code: "CON", name: "Conservative"), Party(code: "LAB", name: "Labour"),
                Party(code: "LD", name: "Liberal Democrats"), Party(code: "GRN", name: "Green"),
                Party(code: "IND", name: "Independents and others", isGroup: true),
            ],
            regions: [Region(id: "north", name: "North")],
            contests: [
                Contest(
                    id: alpha, slug: "alpha", name: "Alpha", region: RegionIndex(0), kind: .council, totalSeats: 10,
                    seatsUp: 10, controlBefore: .party(con), gssCode: "E06000001",
                    seatsBefore: seats((con, 7), (lab, 3))),
                Contest(
                    id: beta, slug: "beta", name: "Beta", region: RegionIndex(0), kind: .council, totalSeats: 9,
                    seatsUp: 3, controlBefore: .noOverallControl, seatsBefore: seats((ld, 4), (grn, 2), (ind, 3))),
                Contest(
                    id: gamma, slug: "gamma", name: "Gamma", region: RegionIndex(0), kind: .council, totalSeats: 5,
                    seatsUp: 5, controlBefore: .party(lab)),
                Contest(
                    id: mayor, slug: "mayor", name: "Mayor", region: RegionIndex(0), kind: .mayoralty,
                    totalSeats: nil, seatsUp: nil, controlBefore: .party(lab),
                    candidates: [
                        Candidate(name: "A", party: lab), Candidate(name: "B", party: con),
                    ]),
            ])
    }

    func declare(_ election: Election, _ contest: ContestID, _ seats: [PartyCount]) throws -> ContestRecord {
        try election.validate(
            Declaration(contestID: contest, revision: 1, seats: seats, declaredAt: 0), from: national)
    }

    @Test func aCouncilsSeatChangesAreAfterMinusBefore() throws {
        let election = try Self.make()
        let alpha = try declare(election, Self.alpha, Self.seats((Self.lab, 6), (Self.ld, 1), (Self.con, 3)))
        // CON 7 -> 3, LAB 3 -> 6, LD 0 -> 1: every party in either composition, none without a change.
        #expect(
            election.seatChanges(alpha) == [
                SeatChange(party: Self.con, change: -4), SeatChange(party: Self.lab, change: 3),
                SeatChange(party: Self.ld, change: 1),
            ])
        #expect(election.describe(election.seatChanges(alpha)!) == "LAB +3, LD +1, CON -4")
        let same = try declare(election, Self.alpha, Self.seats((Self.con, 7), (Self.lab, 3)))
        #expect(election.seatChanges(same) == [])
        #expect(election.describe([]) == "no change")
        // Party lost entirely: GRN 2 -> 0.
        let beta = try declare(election, Self.beta, Self.seats((Self.ld, 6), (Self.ind, 3)))
        #expect(
            election.seatChanges(beta) == [
                SeatChange(party: Self.ld, change: 2), SeatChange(party: Self.grn, change: -2),
            ])
    }

    @Test func nothingToCompareIsNil() throws {
        let election = try Self.make()
        #expect(election.seatChanges(try declare(election, Self.gamma, Self.seats((Self.lab, 5)))) == nil)
        #expect(election.seatChanges(try declare(election, Self.mayor, Self.seats((Self.con, 1)))) == nil)
        let withdrawn = ContestRecord(
            contestID: Self.alpha, revision: 2,
            state: .withdrawn(WithdrawnResult(withdrawnAt: 0, deskID: "national", reason: "")))
        #expect(election.seatChanges(withdrawn) == nil)
    }

    @Test func theScoreboardSumsChangesOverCouncilsWithACompositionBefore() throws {
        let election = try Self.make()
        let records = [
            try declare(election, Self.alpha, Self.seats((Self.lab, 6), (Self.ld, 1), (Self.con, 3))),
            try declare(election, Self.beta, Self.seats((Self.ld, 6), (Self.ind, 3))),
            try declare(election, Self.gamma, Self.seats((Self.lab, 2), (Self.con, 3))),
            try declare(election, Self.mayor, Self.seats((Self.con, 1))),
        ]
        let board = ScoreboardTally(election: election, records: records).scoreboard(sequence: 4)
        #expect(board.councilsCompared == 2)
        #expect(board.councilsNotCompared == 1, "gamma has no composition before")
        let rows = Dictionary(uniqueKeysWithValues: board.rows.map { ($0.party, $0) })
        // Councillors still count every declared council (gamma's 3 CON and 2 LAB); the comparison leaves gamma out.
        #expect(
            rows[Self.con]
                == Scoreboard.Row(
                    party: Self.con, councils: 1, councilsChange: 0, councillors: 6, mayors: 1,
                    councillorsCompared: 3, councillorsChange: -4))
        #expect(
            rows[Self.lab]
                == Scoreboard.Row(
                    party: Self.lab, councils: 1, councilsChange: 0, councillors: 8, mayors: 0,
                    councillorsCompared: 6, councillorsChange: 3))
        #expect(
            rows[Self.ld]
                == Scoreboard.Row(
                    party: Self.ld, councils: 1, councilsChange: 1, councillors: 7, mayors: 0,
                    councillorsCompared: 7, councillorsChange: 3))
        // GRN won nothing but lost 2: its row is shown for the loss alone.
        #expect(
            rows[Self.grn]
                == Scoreboard.Row(
                    party: Self.grn, councils: 0, councilsChange: 0, councillors: 0, mayors: 0,
                    councillorsCompared: 0, councillorsChange: -2))
        #expect(
            rows[Self.ind]
                == Scoreboard.Row(
                    party: Self.ind, councils: 0, councilsChange: 0, councillors: 3, mayors: 0,
                    councillorsCompared: 3, councillorsChange: 0))
        // The changes over the compared councils: seats now minus seats before, 19 - 19 here.
        #expect(board.rows.reduce(0) { $0 + $1.councillorsChange } == 0)
    }

    @Test func anElectionWithoutCompositionsComparesNothing() throws {
        let election = try TestElection.make()
        let record = try election.validate(
            Declaration(
                contestID: TestElection.alpha, revision: 1, seats: TestElection.seats((TestElection.lab, 10)),
                declaredAt: 0), from: national)
        let board = ScoreboardTally(election: election, records: [record]).scoreboard(sequence: 1)
        #expect(board.councilsCompared == 0)
        #expect(board.councilsNotCompared == 1)
        #expect(board.rows.allSatisfy { $0.councillorsChange == 0 && $0.councillorsCompared == 0 })
    }

    /// The tally is kept incrementally like the rest of the scoreboard: it must always equal a recount.
    @Test func incrementalEqualsRecount() throws {
        let election = try Self.make()
        var generator = SplitMix64(seed: 2023)
        var tally = ScoreboardTally(election: election)
        var current: [ContestID: ContestRecord] = [:]
        for step in 0..<400 {
            let contest = election.contests[Int(generator.next() % UInt64(election.contests.count))]
            let record: ContestRecord
            if generator.next() % 4 == 0 {
                record = ContestRecord(
                    contestID: contest.id, revision: UInt32(step + 1),
                    state: .withdrawn(WithdrawnResult(withdrawnAt: 0, deskID: "x", reason: "")))
            } else if contest.kind == .mayoralty {
                record = try declare(election, contest.id, Self.seats((PartyIndex(Int(generator.next() % 2)), 1)))
            } else {
                var remaining = contest.totalSeats!
                var seats: [PartyCount] = []
                for party in 0..<5 where remaining > 0 {
                    let share = party == 4 ? remaining : Int(generator.next() % UInt64(remaining + 1))
                    seats.append(PartyCount(party: PartyIndex(party), count: UInt32(share)))
                    remaining -= share
                }
                record = try declare(election, contest.id, seats)
            }
            tally.replace(current[contest.id], with: record)
            current[contest.id] = record
            #expect(
                tally.scoreboard(sequence: 0)
                    == ScoreboardTally(election: election, records: current.values).scoreboard(sequence: 0))
        }
    }

    @Test func theDefinitionChecksCompositionsBefore() throws {
        let good = try Self.make()
        func rebuilt(_ change: (inout [Contest]) -> Void) throws(ElectionDefinitionError) -> Election {
            var contests = good.contests
            change(&contests)
            return try Election(
                id: good.id, name: good.name, date: good.date, parties: good.parties, regions: good.regions,
                contests: contests)
        }
        #expect(throws: ElectionDefinitionError.self) {
            try rebuilt { $0[3].seatsBefore = Self.seats((Self.lab, 1)) }  // a mayoralty
        }
        #expect(throws: ElectionDefinitionError.self) {
            try rebuilt { $0[0].seatsBefore = Self.seats((PartyIndex(9), 1)) }  // unknown party
        }
        #expect(throws: ElectionDefinitionError.self) {
            try rebuilt { $0[0].seatsBefore = Self.seats((Self.lab, 3), (Self.con, 7)) }  // not in party order
        }
        #expect(throws: ElectionDefinitionError.self) {
            try rebuilt { $0[0].seatsBefore = Self.seats((Self.con, 0), (Self.lab, 3)) }  // a zero count
        }
        #expect(throws: ElectionDefinitionError.self) { try rebuilt { $0[0].seatsBefore = [] } }
        #expect(throws: ElectionDefinitionError.self) { try rebuilt { $0[0].gssCode = "" } }
        #expect(throws: ElectionDefinitionError.self) {
            try rebuilt { $0[0].gssCode = String(repeating: "E", count: 17) }
        }
        // "Independents never control a council", so a council's control before cannot be a group's.
        #expect(throws: ElectionDefinitionError.self) { try rebuilt { $0[0].controlBefore = .party(Self.ind) } }
        // A composition before need not add up to the council's size (councils change size on new wards).
        _ = try rebuilt { $0[0].seatsBefore = Self.seats((Self.con, 30), (Self.lab, 11)) }
    }

    @Test func theElectionFileCarriesCompositionsGSSCodesAndTheNote() throws {
        let json = """
            {"id": "town-2024", "name": "Town", "date": "2024-05-02", "seatsBeforeNote": "the May 2022 make-up",
             "parties": [{"code": "A", "name": "Alpha"}, {"code": "B", "name": "Beta"}, {"code": "C", "name": "Gamma"}],
             "regions": [{"id": "r1", "name": "Region 1"}],
             "contests": [
               {"id": 7, "slug": "town", "name": "Town Council", "region": "r1", "kind": "council",
                "totalSeats": 30, "seatsUp": 10, "controlBefore": "A", "gssCode": "E07000001",
                "seatsBefore": {"B": 12, "A": 18, "C": 0}},
               {"id": 8, "slug": "other", "name": "Other", "region": "r1", "kind": "council", "gssCode": "",
                "totalSeats": 5, "seatsUp": 5, "controlBefore": "A"}
             ]}
            """
        let election = try Election(json: Data(json.utf8))
        #expect(election.seatsBeforeNote == "the May 2022 make-up")
        let town = try #require(election.contest(slug: "town"))
        #expect(town.gssCode == "E07000001")
        // In party order, without the zero count.
        #expect(town.seatsBefore == Self.seats((PartyIndex(0), 18), (PartyIndex(1), 12)))
        let other = try #require(election.contest(slug: "other"))
        #expect(other.gssCode == nil, "an empty GSS code is none")
        #expect(other.seatsBefore == nil)
        #expect(throws: ElectionDefinitionError(message: "contest 7 (town): unknown party \"Z\"")) {
            try Election(json: Data(json.replacingOccurrences(of: "\"C\": 0", with: "\"Z\": 1").utf8))
        }
        #expect(throws: ElectionDefinitionError(message: "contest 7 (town): seats before for A are -1")) {
            try Election(json: Data(json.replacingOccurrences(of: "\"A\": 18", with: "\"A\": -1").utf8))
        }
    }
}
