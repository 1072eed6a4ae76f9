import NIOCore
import Synchronization

/// A bound on a wait: when it passes, the connection is closed, so that the waiting read ends and the waiter can
/// tell (`hasPassed`) that it ended because nobody answered in time.
final class Deadline: Sendable {
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let scheduled: Scheduled<Void>?
    private let passed = Flag()
    let duration: Duration?

    init(_ duration: Duration?, on channel: any Channel) {
        self.duration = duration
        guard let duration else {
            scheduled = nil
            return
        }
        scheduled = channel.eventLoop.scheduleTask(in: duration.timeAmount) { [passed] in
            passed.value.store(true, ordering: .releasing)
            channel.close(promise: nil)
        }
    }

    var hasPassed: Bool { passed.value.load(ordering: .acquiring) }

    func cancel() {
        scheduled?.cancel()
    }

    /// Runs `body`; if the deadline passed meanwhile, whatever the body threw becomes `HubClientError.timedOut`.
    func bound<T>(
        address: HubAddress, waitingFor what: String, _ body: () async throws -> T
    ) async throws -> T {
        do {
            let value = try await body()
            cancel()
            return value
        } catch {
            cancel()
            if hasPassed, let duration {
                throw HubClientError.timedOut(address: "\(address)", waitingFor: what, after: duration)
            }
            throw error
        }
    }
}

extension Duration {
    /// NIO's form of the duration.
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// "10 s", "1.5 s", "250 ms".
    public var spoken: String {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if millis < 1000 { return "\(millis) ms" }
        if millis % 1000 == 0 { return "\(millis / 1000) s" }
        return "\(Double(millis) / 1000) s"
    }
}
