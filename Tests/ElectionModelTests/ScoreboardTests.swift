import ElectionModel
import HubTestSupport
import Testing

@Suite("Scoreboard")
struct ScoreboardTests {
    typealias T = TestElection

    @Test func countsCouncilsCouncillorsAndChanges() throws {
        let election = try T.make()
        let desk = DeskIdentity(id: "national", scope: .all)
        let records = [
            try election.validate(
                Declaration(contestID: T.alpha, revision: 1, seats: T.seats((T.lab, 6), (T.con, 4)), declaredAt: 0),
                from: desk),
            try election.validate(
                Declaration(contestID: T.beta, revision: 1, seats: T.seats((T.con, 5), (T.ld, 4)), declaredAt: 0),
                from: desk),
            try election.validate(
                Declaration(contestID: T.mayor, revision: 1, seats: T.seats((T.lab, 1)), declaredAt: 0), from: desk),
        ]
        let board = ScoreboardTally(election: election, records: records).scoreboard(sequence: 3)
        #expect(board.contestsDeclared == 3)
        #expect(board.contestsTotal == 4)
        #expect(board.noOverallControl == 0)
        #expect(board.noOverallControlChange == -1)
        let rows = Dictionary(uniqueKeysWithValues: board.rows.map { ($0.party, $0) })
        #expect(rows[T.con] == Scoreboard.Row(party: T.con, councils: 1, councilsChange: 0, councillors: 9, mayors: 0))
        #expect(rows[T.lab] == Scoreboard.Row(party: T.lab, councils: 1, councilsChange: 1, councillors: 6, mayors: 1))
        #expect(rows[T.ld] == Scoreboard.Row(party: T.ld, councils: 0, councilsChange: 0, councillors: 4, mayors: 0))
        #expect(rows[T.grn] == nil)
    }

    /// Incremental updates must always equal a recount from scratch, over random sequences of changes.
    @Test func incrementalEqualsRecount() throws {
        let election = try T.make()
        let desk = DeskIdentity(id: "national", scope: .all)
        var generator = SplitMix64(seed: 42)
        var tally = ScoreboardTally(election: election)
        var current: [ContestID: ContestRecord] = [:]
        for step in 0..<500 {
            let contest = election.contests[Int(generator.next() % UInt64(election.contests.count))]
            let record: ContestRecord
            if generator.next() % 5 == 0 {
                record = ContestRecord(
                    contestID: contest.id, revision: UInt32(step + 1),
                    state: .withdrawn(WithdrawnResult(withdrawnAt: 0, deskID: "x", reason: "")))
            } else if contest.kind == .mayoralty {
                let winner = PartyIndex(Int(generator.next() % 4))
                record = try election.validate(
                    Declaration(contestID: contest.id, revision: 1, seats: T.seats((winner, 1)), declaredAt: 0),
                    from: desk)
            } else {
                var remaining = contest.totalSeats ?? Int(1 + generator.next() % 20)
                var seats: [PartyCount] = []
                for party in 0..<4 where remaining > 0 {
                    let share = party == 3 ? remaining : Int(generator.next() % UInt64(remaining + 1))
                    seats.append(PartyCount(party: PartyIndex(party), count: UInt32(share)))
                    remaining -= share
                }
                record = try election.validate(
                    Declaration(contestID: contest.id, revision: 1, seats: seats, declaredAt: 0), from: desk)
            }
            tally.replace(current[contest.id], with: record)
            current[contest.id] = record
            let recount = ScoreboardTally(election: election, records: current.values)
            #expect(tally.scoreboard(sequence: 0) == recount.scoreboard(sequence: 0))
        }
    }
}
