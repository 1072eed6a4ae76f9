import ElectionModel
import Foundation
import HubClient
import HubWire
import Testing

/// `reporter scoreboard` and `contest` show councillor changes with the basis of the figure (issue 10).
@Suite("reporter: councillor changes", .serialized)
struct ReporterCouncillorChangeTests {
    @Test func scoreboardAndContestShowChangesAndTheirBasis() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
            _ = try await desk.submitPipelined(["swindon", "ashfield"].map { Declarations.real($0) })
        }
        let table = try await ReporterCLITests.reporter(["scoreboard"], port: hub.port, desk: false)
        #expect(table.status == 0)
        let lines = table.output.split(separator: "\n").map(String.init)
        #expect(
            lines.contains {
                $0.split(separator: " ") == ["party", "councils", "change", "councillors", "change", "mayors"]
            })
        let con = try #require(lines.first { $0.hasPrefix("CON ") })
        #expect(con.split(separator: " ").map(String.init) == ["CON", "0", "-1", "24", "-12", "0"])
        #expect(table.output.contains("over 1 of the 2 declared councils"))
        #expect(table.output.contains("1 has no composition before"))
        #expect(table.output.contains("May 2022"))
        #expect(table.output.contains("Open Council Data UK"))
        #expect(table.output.contains("BBC"))

        let json = try await ReporterCLITests.reporter(["scoreboard", "--json"], port: hub.port, desk: false)
        let board = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as! [String: Any]
        #expect(board["councilsCompared"] as? Int == 1)
        #expect(board["councilsNotCompared"] as? Int == 1)
        #expect((board["councillorChangeNote"] as? String)?.contains("May 2022") == true)
        let parties = board["parties"] as! [[String: Any]]
        let lab = try #require(parties.first { $0["party"] as? String == "LAB" })
        #expect(lab["councillorsChange"] as? Int == 10)
        #expect(lab["councillorsCompared"] as? Int == 33)

        let contest = try await ReporterCLITests.reporter(["contest", "swindon"], port: hub.port, desk: false)
        #expect(contest.output.contains("seat changes: LAB +10, LD +1, IND +1, CON -12"))
        #expect(contest.output.contains("May 2022"))
        let contestJSON = try await ReporterCLITests.reporter(
            ["contest", "swindon", "--json"], port: hub.port, desk: false)
        let record = try JSONSerialization.jsonObject(with: Data(contestJSON.output.utf8)) as! [String: Any]
        #expect(record["seatChanges"] as? [String: Int] == ["LAB": 10, "LD": 1, "IND": 1, "CON": -12])
        let ashfield = try await ReporterCLITests.reporter(["contest", "ashfield"], port: hub.port, desk: false)
        #expect(!ashfield.output.contains("seat changes"), "no composition before")
        try await hub.stop()
    }
}
