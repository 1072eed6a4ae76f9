/// Who controls a contest: a party with a majority, or no overall control.
public enum Control: Hashable, Sendable {
    case noOverallControl
    case party(PartyIndex)

}

extension Election {
    /// Control of a council: the party with more than half of `totalSeats`, else no overall control.
    /// A group (independents and others) never controls a council: its seats belong to many people.
    public func control(seats: [PartyCount], totalSeats: Int) -> Control {
        for entry in seats where 2 * Int(entry.count) > totalSeats && !parties[entry.party.rawValue].isGroup {
            return .party(entry.party)
        }
        return .noOverallControl
    }

    /// The control a valid declaration's seats give (spec 4.1), one rule per kind of contest:
    /// - a council: the party with more than half of the seats declared, which is the council's size when that is
    ///   known (a valid declaration adds up to it) and the only size there is when it is not; a group never has it;
    /// - a mayoralty: the winner's party, whatever it is. One person holds the office, so an independent mayor (a
    ///   candidate of a group) gives the group the mayoralty: it holds it, gains it or loses it like a party.
    public func control(of contest: Contest, seats: [PartyCount]) -> Control {
        switch contest.kind {
        case .council:
            return control(seats: seats, totalSeats: seats.reduce(0) { $0 + Int($1.count) })
        case .mayoralty:
            guard let winner = seats.first(where: { $0.count > 0 }) else { return .noOverallControl }
            return .party(winner.party)
        }
    }
}

/// The headline a declaration makes against the control before the election.
public enum Outcome: UInt8, Hashable, Sendable, CaseIterable {
    /// Control before is unknown, so neither hold nor gain can be said.
    case unknown = 0
    case hold = 1
    case gain = 2
    /// No overall control before and after.
    case noChange = 3
    /// A party controlled it before; no one does now.
    case lostToNoOverallControl = 4

    public static func derive(after: Control, before: Control?) -> Outcome {
        guard let before else { return .unknown }
        switch (before, after) {
        case (.noOverallControl, .noOverallControl): return .noChange
        case (.party, .noOverallControl): return .lostToNoOverallControl
        case (.party(let old), .party(let new)) where old == new: return .hold
        case (_, .party): return .gain
        }
    }
}

extension Election {
    /// A short code for display: the party code or "NOC".
    public func code(of control: Control) -> String {
        switch control {
        case .noOverallControl: return "NOC"
        case .party(let index): return parties[index.rawValue].code
        }
    }

    /// The headline for a result, e.g. "LAB gain from CON", "NOC (CON lose)", "LAB hold".
    public func headline(control: Control, outcome: Outcome, contest: Contest) -> String {
        let after = code(of: control)
        let before = contest.controlBefore.map { code(of: $0) } ?? "unknown"
        switch outcome {
        case .unknown: return "\(after) (control before unknown)"
        case .hold: return "\(after) hold"
        case .gain: return "\(after) gain from \(before)"
        case .noChange: return "no overall control (no change)"
        case .lostToNoOverallControl: return "no overall control (\(before) lose)"
        }
    }
}
