import Synchronization

/// The bytes every connection together may hold in frames that have not fully arrived. A peer that sends all but
/// the last byte of large frames pins that memory until it times out; per-role frame limits bound one peer, this
/// bounds them all.
final class PartialFrameBudget: Sendable {
    let limit: Int
    private let held = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var heldBytes: Int { held.load(ordering: .relaxed) }

    /// Takes `bytes` more, or nothing and false when that would pass the limit.
    func take(_ bytes: Int) -> Bool {
        if held.add(bytes, ordering: .relaxed).newValue > limit {
            held.subtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func give(_ bytes: Int) {
        held.subtract(bytes, ordering: .relaxed)
    }
}
