import ElectionModel

/// A small election built in code, so that the rules are tested on values chosen to hit each case.
public enum TestElection {
    public static let con = PartyIndex(0)
    public static let lab = PartyIndex(1)
    public static let ld = PartyIndex(2)
    public static let grn = PartyIndex(3)
    /// A group: independents and others.
    public static let ind = PartyIndex(4)
    public static let north = RegionIndex(0)
    public static let south = RegionIndex(1)
    /// 10 seats, CON before.
    public static let alpha = ContestID(1)
    /// 9 seats, NOC before.
    public static let beta = ContestID(2)
    /// size unknown, control before unknown.
    public static let gamma = ContestID(3)
    /// mayoralty, LAB before; candidates LAB, CON, independent.
    public static let mayor = ContestID(4)

    public static func make() throws -> Election {
        try Election(
            id: "test", name: "Test election", date: "2023-05-04",
            parties: [
                Party(code: "CON", name: "Conservative"), Party(code: "LAB", name: "Labour"),
                Party(code: "LD", name: "Liberal Democrats"), Party(code: "GRN", name: "Green"),
                Party(code: "IND", name: "Independents and others", isGroup: true),
            ],
            regions: [Region(id: "north", name: "North"), Region(id: "south", name: "South")],
            contests: [
                Contest(
                    id: alpha, slug: "alpha", name: "Alpha", region: north, kind: .council, totalSeats: 10, seatsUp: 10,
                    controlBefore: .party(con)),
                Contest(
                    id: beta, slug: "beta", name: "Beta", region: south, kind: .council, totalSeats: 9, seatsUp: 3,
                    controlBefore: .noOverallControl),
                Contest(
                    id: gamma, slug: "gamma", name: "Gamma", region: south, kind: .council, totalSeats: nil,
                    seatsUp: nil,
                    controlBefore: nil),
                Contest(
                    id: mayor, slug: "mayor", name: "Mayor of Alpha", region: north, kind: .mayoralty, totalSeats: nil,
                    seatsUp: nil, controlBefore: .party(lab),
                    candidates: [
                        Candidate(name: "A Labour", party: lab), Candidate(name: "B Tory", party: con),
                        Candidate(name: "C Independent", party: nil),
                    ]),
            ])
    }

    public static func seats(_ pairs: (PartyIndex, UInt32)...) -> [PartyCount] {
        pairs.map { PartyCount(party: $0.0, count: $0.1) }
    }
}
