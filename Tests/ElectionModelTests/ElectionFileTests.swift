import ElectionModel
import Foundation
import Testing

@Suite("Election files an operator writes")
struct ElectionFileTests {
    func load(_ json: String) throws(ElectionDefinitionError) -> Election {
        try Election(json: Data(json.utf8))
    }

    let valid = """
        {"id": "town-2024", "name": "Town", "date": "2024-05-02",
         "parties": [{"code": "A", "name": "Alpha"}, {"code": "B", "name": "Beta"}],
         "regions": [{"id": "r1", "name": "Region 1"}],
         "contests": [
           {"id": 7, "slug": "town", "name": "Town Council", "region": "r1", "kind": "council",
            "totalSeats": 30, "seatsUp": 10, "controlBefore": "A"},
           {"id": 8, "slug": "mayor", "name": "Mayor", "region": "r1", "kind": "mayoralty", "controlBefore": "NOC",
            "candidates": [{"name": "X", "party": "B"}, {"name": "Y", "party": null}]}
         ]}
        """

    @Test func loadsAValidFile() throws {
        let election = try load(valid)
        #expect(election.contests.map(\.slug) == ["town", "mayor"])
        #expect(election.contest(ContestID(7))?.controlBefore == .party(PartyIndex(0)))
        #expect(election.contest(ContestID(8))?.kind == .mayoralty)
        #expect(election.contest(ContestID(8))?.candidates[1].party == nil)
    }

    @Test(arguments: [
        ("\"region\": \"r1\"", "\"region\": \"r9\"", "contest 7 (town): unknown region \"r9\""),
        ("\"controlBefore\": \"A\"", "\"controlBefore\": \"Z\"", "contest 7 (town): unknown party \"Z\""),
        ("\"slug\": \"mayor\"", "\"slug\": \"town\"", "the contest slug \"town\" is empty or appears twice"),
        ("\"totalSeats\": 30", "\"totalSeats\": 0", "contest 7 (town) has 0 seats"),
        (
            "\"kind\": \"council\"", "\"kind\": \"parish\"",
            "contest 7 (town): unknown kind \"parish\"; use \"council\" or \"mayoralty\""
        ),
        ("{\"code\": \"B\"", "{\"code\": \"A\"", "the party code A appears twice"),
    ])
    func namesWhatIsWrong(find: String, replace: String, message: String) {
        #expect(valid.contains(find))
        #expect(throws: ElectionDefinitionError(message: message)) {
            try load(valid.replacingOccurrences(of: find, with: replace))
        }
    }

    @Test func reportsWhereTheJSONIsWrong() {
        do {
            _ = try load(valid.replacingOccurrences(of: "\"id\": 7", with: "\"id\": \"seven\""))
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("contests"))
        }
    }
}
