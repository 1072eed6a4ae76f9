import Foundation
import HubClient
import HubWire
import Logging
import ServiceLifecycle
import WebFeed

/// results-web's subscription to the hub: a verified replica through the client library (resume, reconnect,
/// checksums), whose every update goes to the `LiveFeed`, and whose connection state the page shows. Says the state
/// again every `statusInterval`, so that a page that hears nothing knows its own connection is stale.
public struct HubFeed: Service {
    public let client: SubscriberClient
    public let feed: LiveFeed
    public var statusInterval: Duration = .seconds(10)
    private let logger: Logger

    public init(client: SubscriberClient, feed: LiveFeed, logger: Logger) {
        self.client = client
        self.feed = feed
        self.logger = logger
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                // Until the subscription ends (cancelled then: that is no error).
                while (try? await Task.sleep(for: statusInterval)) != nil {
                    feed.setStatus(feed.status)
                }
            }
            try await follow()
            group.cancelAll()
        }
    }

    private func follow() async throws {
        do {
            for try await event in client.events().cancelOnGracefulShutdown() {
                handle(event)
            }
        } catch {
            // Only what reconnecting cannot fix ends the subscription: another election, a wrong key.
            logger.error("the hub subscription ended", metadata: ["error": "\(error)"])
            throw error
        }
    }

    func handle(_ event: SubscriberEvent) {
        switch event {
        case .connecting, .disconnected:
            if case .live = feed.status { feed.setStatus(.reconnecting(since: Date())) }
            if case .silent = feed.status { feed.setStatus(.reconnecting(since: Date())) }
        case .connected:
            feed.setStatus(.live)
        case .update(let update):
            switch update.kind {
            case .snapshot:
                feed.replaceAll(
                    election: update.election, records: update.replica.records.values,
                    sequence: update.replica.sequence, checksum: update.replica.checksum.value,
                    rehearsal: update.rehearsal)
            case .changes(let records, _):
                feed.apply(records, through: update.replica.sequence, checksum: update.replica.checksum.value)
            }
            if feed.status != .live { feed.setStatus(.live) }
        case .silent(let since):
            feed.setStatus(.silent(since: since))
        case .heard:
            feed.setStatus(.live)
        }
    }
}
