import ElectionModel

/// A value per contest of one election, in an array by the contest's position: the hub reads and writes several of
/// these per declaration, and a dictionary would hash the contest id each time.
struct ContestTable<Value: Sendable>: Sendable {
    private let positions: ContestPositions
    /// By position in `Election.contests`.
    private(set) var values: [Value?]

    init(election: Election) {
        positions = election.contestPositions
        values = Array(repeating: nil, count: election.contests.count)
    }

    /// Nil for a contest the election does not have; setting a value for one is a programming error (the hub
    /// only applies records of contests it validated).
    subscript(contest: ContestID) -> Value? {
        get { positions.position(contest).flatMap { values[$0] } }
        set {
            guard let position = positions.position(contest) else {
                precondition(newValue == nil, "contest \(contest.rawValue) is not in the election")
                return
            }
            values[position] = newValue
        }
    }
}
