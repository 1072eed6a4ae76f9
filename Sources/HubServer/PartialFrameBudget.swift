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

    /// Takes `bytes` more, or nothing and false when that would pass the limit. Never over the limit even for a
    /// moment, so that one connection's refused growth cannot make another's small one fail.
    func take(_ bytes: Int) -> Bool {
        var current = held.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = held.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
    }

    func give(_ bytes: Int) {
        held.subtract(bytes, ordering: .relaxed)
    }
}
