/// Decides which failures of a run of the same failure to log: the first at once, then one summary per interval
/// while they go on, then one line when they stop. A full disk fails every commit; without this it wrote a
/// 400-byte line per commit (1,350 lines in 4 s), burying everything else and filling the disk further.
public struct RepeatedFailureLog: Sendable {
    public enum Decision: Hashable, Sendable {
        /// The first failure of a run: log it in full.
        case logFirst
        /// Still failing: log that `suppressed` more failures happened since the last line.
        case logSummary(suppressed: Int)
        case silent
    }

    public let intervalNanos: UInt64
    private var failing = false
    private var lastLineAt: UInt64 = 0
    private var suppressed = 0
    private var failuresInRun = 0

    public init(intervalNanos: UInt64) {
        self.intervalNanos = intervalNanos
    }

    public mutating func failed(nowNanos: UInt64) -> Decision {
        failuresInRun += 1
        guard failing else {
            failing = true
            lastLineAt = nowNanos
            return .logFirst
        }
        suppressed += 1
        guard nowNanos &- lastLineAt >= intervalNanos else { return .silent }
        lastLineAt = nowNanos
        defer { suppressed = 0 }
        return .logSummary(suppressed: suppressed)
    }

    /// A success: the number of failures in the run it ends, if one was going on (log that it ended).
    public mutating func succeeded() -> Int? {
        guard failing else { return nil }
        defer {
            failing = false
            suppressed = 0
            failuresInRun = 0
        }
        return failuresInRun
    }
}
