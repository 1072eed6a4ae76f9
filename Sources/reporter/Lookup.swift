import ArgumentParser
import ElectionModel
import Foundation
import HubClient
import HubWire

extension Election {
    /// The contest for a slug, whatever its case, or a message suggesting close ones and the listing command.
    func contest(named slug: String) throws -> Contest {
        let wanted = slug.trimmingCharacters(in: .whitespacesAndNewlines)
        if let contest = contest(slug: wanted) ?? contest(slug: wanted.lowercased()) { return contest }
        if let contest = contests.first(where: { $0.slug.caseInsensitiveCompare(wanted) == .orderedSame }) {
            return contest
        }
        let close = slugs(closeTo: wanted.lowercased())
        throw Failure(
            "unknown contest \"\(slug)\""
                + (close.isEmpty ? "" : "; did you mean: \(close.joined(separator: ", "))?")
                + " (`reporter contests` lists every contest and its slug)")
    }

    /// The region for an id (`north-west`) or a name (`North West`), whatever its case.
    func region(named text: String) throws -> RegionIndex {
        let wanted = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let index = region(id: wanted) { return index }
        if let position = regions.firstIndex(where: {
            $0.id.caseInsensitiveCompare(wanted) == .orderedSame
                || $0.name.caseInsensitiveCompare(wanted) == .orderedSame
        }) {
            return RegionIndex(position)
        }
        throw Failure("unknown region \"\(text)\"; regions: \(regions.map(\.id).joined(separator: ", "))")
    }

    /// Parses "LAB=31,CON=22" into counts per party (party codes in any case).
    func counts(_ text: String, what: String) throws -> [PartyCount] {
        var counts: [PartyCount] = []
        for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard pair.count == 2, let value = Int(pair[1]) else {
                throw Failure("\(what): \"\(item)\" is not PARTY=COUNT")
            }
            guard let party = party(code: pair[0].uppercased()) else {
                throw Failure(
                    "\(what): unknown party \"\(pair[0])\"; parties: \(parties.map(\.code).joined(separator: ", "))")
            }
            guard value >= 0 else {
                throw Failure("\(what): " + DeclarationError.negativeCount(party: pair[0], value: value).description)
            }
            guard let count = UInt32(exactly: value) else { throw Failure("\(what): \(value) is too large") }
            counts.append(PartyCount(party: party, count: count))
        }
        return counts
    }

    /// Parses "Peter Soulsby=35002,Sanjay Modhwadia=26422" into votes in the contest's candidate order. A candidate
    /// is named by full name or surname (any case), or by party code when only one candidate stands for it. Every
    /// candidate must be given.
    func candidateVotes(_ text: String, for contest: Contest) throws -> [UInt32] {
        let what = "\(contest.slug) candidate votes"
        guard contest.kind == .mayoralty else {
            throw Failure("\(contest.slug) is a council: candidate votes are for mayoralties; give --votes per party")
        }
        var votes = [UInt32?](repeating: nil, count: contest.candidates.count)
        for item in text.split(separator: ",") where !item.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let pair = item.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard pair.count == 2, let value = Int(pair[1]) else {
                throw Failure("\(what): \"\(item)\" is not CANDIDATE=VOTES")
            }
            guard value >= 0, let count = UInt32(exactly: value) else {
                throw Failure("\(what): \(pair[0]): \(value) is not a vote count")
            }
            let position = try candidate(named: pair[0], in: contest)
            guard votes[position] == nil else {
                throw Failure("\(what): \(contest.candidates[position].name) is given twice")
            }
            votes[position] = count
        }
        let missing = contest.candidates.indices.filter { votes[$0] == nil }.map { contest.candidates[$0].name }
        guard missing.isEmpty else {
            throw Failure("\(what): give every candidate's votes; missing: \(missing.joined(separator: ", "))")
        }
        return votes.map { $0 ?? 0 }
    }

    private func candidate(named name: String, in contest: Contest) throws -> Int {
        let candidates = contest.candidates
        func matches(_ test: (Candidate) -> Bool) -> [Int] { candidates.indices.filter { test(candidates[$0]) } }
        for rule in [
            { (c: Candidate) in c.name.caseInsensitiveCompare(name) == .orderedSame },
            { (c: Candidate) in
                (c.name.split(separator: " ").last.map(String.init) ?? c.name).caseInsensitiveCompare(name)
                    == .orderedSame
            },
            { (c: Candidate) in
                c.party.map { self.parties[$0.rawValue].code.caseInsensitiveCompare(name) } == .orderedSame
            },
        ] {
            let found = matches(rule)
            if found.count == 1 { return found[0] }
            if found.count > 1 {
                throw Failure(
                    "\(contest.slug): \"\(name)\" could be \(found.map { candidates[$0].name }.joined(separator: " or ")); give the full name"
                )
            }
        }
        throw Failure(
            "\(contest.slug): no candidate \"\(name)\"; candidates: "
                + candidates.map { candidateLabel($0) }.joined(separator: ", "))
    }

    /// "Peter Soulsby (LAB)".
    func candidateLabel(_ candidate: Candidate) -> String {
        candidate.party.map { "\(candidate.name) (\(parties[$0.rawValue].code))" } ?? candidate.name
    }

    /// A mayoralty's winner: the top candidate of the winning party when votes are known, else its only candidate.
    func winner(of result: DeclaredResult, in contest: Contest) -> Candidate? {
        guard contest.kind == .mayoralty, case .party(let party) = result.control else { return nil }
        let ofParty = contest.candidates.indices.filter { contest.candidates[$0].party == party }
        if let votes = result.candidateVotes, votes.count == contest.candidates.count {
            return ofParty.max { votes[$0] < votes[$1] }.map { contest.candidates[$0] }
        }
        return ofParty.count == 1 ? contest.candidates[ofParty[0]] : nil
    }

    /// "LAB gain from CON", "no overall control (CON lose)"; for a mayoralty "LAB hold; Peter Soulsby elected".
    func headline(result: DeclaredResult, contest: Contest) -> String {
        let control = headline(control: result.control, outcome: result.outcome, contest: contest)
        guard contest.kind == .mayoralty else { return control }
        guard let winner = winner(of: result, in: contest) else { return control }
        return "\(control); \(winner.name) elected"
    }

    /// The headline of a record: the result's, or "result withdrawn".
    func headline(for record: ContestRecord) -> String {
        guard let contest = contest(record.contestID) else { return "contest \(record.contestID.rawValue)" }
        switch record.state {
        case .declared(let result): return headline(result: result, contest: contest)
        case .withdrawn: return "result withdrawn"
        }
    }

    /// What a record was, as an event: a first declaration, a correction (a declaration at a later revision), or a
    /// withdrawal.
    func eventName(of record: ContestRecord) -> String {
        switch record.state {
        case .declared: return record.revision > 1 ? "correction" : "declaration"
        case .withdrawn: return "withdrawal"
        }
    }

    /// "council, 57 seats", "mayoralty".
    func seatsText(_ contest: Contest) -> String {
        switch contest.kind {
        case .council: return contest.totalSeats.map(String.init) ?? "unknown"
        case .mayoralty: return "1"
        }
    }

    func controlBeforeText(_ contest: Contest) -> String {
        contest.controlBefore.map { code(of: $0) } ?? "unknown"
    }
}

/// The line a desk sees for an ack. `candidateVotes` are the ones submitted, which name a mayoralty's winner.
func ackLine(_ ack: Ack, contest: Contest, election: Election, candidateVotes: [UInt32]? = nil) -> String {
    let what: String
    switch ack.status {
    case .declared:
        what = election.headline(
            result: DeclaredResult(
                control: ack.control, outcome: ack.outcome, seats: [], votes: nil, turnoutBasisPoints: nil,
                candidateVotes: candidateVotes, declaredAt: 0, deskID: ""),
            contest: contest)
    case .withdrawn:
        what = "result withdrawn"
    }
    if ack.duplicate {
        return
            "\(contest.slug): already accepted as sequence \(ack.sequence), revision \(ack.revision) (duplicate; nothing changed) — \(what)"
    }
    return "\(contest.slug): accepted as sequence \(ack.sequence), revision \(ack.revision) — \(what)"
}

/// A rejection in words for the contest's kind: the model words seat totals for councils ("the council has 1
/// seats"), which is not what a mayoralty's desk needs to read.
func rejectionText(_ rejection: HubRejection, contest: Contest, election: Election) -> String {
    if contest.kind == .mayoralty, rejection.code == .seatsDoNotAddUp {
        return "\(contest.slug): rejected (seatsDoNotAddUp): " + mayoralSeatsAdvice(contest, election: election)
    }
    return "\(contest.slug): rejected (\(rejection.code.name)): \(rejection.message)"
}

func mayoralSeatsAdvice(_ contest: Contest, election: Election) -> String {
    let example = contest.candidates.first?.party.map { election.parties[$0.rawValue].code } ?? "LAB"
    return
        "\(contest.name) is a mayoralty with one winner: give the winning candidate's party with 1 (--seats \(example)=1), or every candidate's votes (--candidate-votes)"
}
