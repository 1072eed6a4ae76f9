import Synchronization

/// A database call that did not answer in time.
struct TimedOut: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "PostgreSQL did not answer within \(limit)" }
}

/// `body`'s result, or `TimedOut` once `limit` has passed, whichever comes first. The body is not waited for: a
/// query on a connection whose peer vanished (a network cut, a session ended while this process was paused) may
/// never return, and a leader must find out that it lost its session within its lease, not when TCP gives up. The
/// caller then drops the connection.
func bounded<T: Sendable>(
    by limit: Duration, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let first = FirstAnswer()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let timer = Task {
            try? await Task.sleep(for: limit)
            if first.claim() { continuation.resume(throwing: TimedOut(limit: limit)) }
        }
        Task {
            let result = await Result(catching: body)
            if first.claim() {
                timer.cancel()
                continuation.resume(with: result)
            }
        }
    }
}

/// Lets exactly one of two racing tasks resume a continuation.
private final class FirstAnswer: Sendable {
    private let answered = Atomic<Bool>(false)

    func claim() -> Bool {
        answered.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
