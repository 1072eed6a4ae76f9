import HubCore
import HubJournal
import HubWire
import Metrics
import Synchronization

/// The hub's counters and histograms, made through the swift-metrics factory it is given (Prometheus's in
/// `results-hub`, none by default), so that library code never reaches for a global. Names follow Prometheus's
/// conventions; `HubMetrics.Name` lists them for whoever configures buckets or dashboards.
public final class HubMetrics: Sendable {
    public enum Name {
        public static let submissionsAccepted = "resultshub_submissions_accepted_total"
        public static let submissionsDuplicate = "resultshub_submissions_duplicate_total"
        /// With a `code` dimension: the error code's spec name.
        public static let submissionsRejected = "resultshub_submissions_rejected_total"
        /// From reading a submission to writing its ack, once durable.
        public static let ackLatency = "resultshub_ack_latency_seconds"
        /// Events per group commit.
        public static let commitBatchEvents = "resultshub_commit_batch_events"
        public static let commitFailures = "resultshub_commit_failures_total"
        public static let journalSync = FileJournal.MetricName.sync
        public static let journalBytes = FileJournal.MetricName.fileBytes
        /// The latest durable sequence number.
        public static let sequence = "resultshub_sequence"
        /// With a `state` dimension: live, conflating, stalled.
        public static let subscribers = "resultshub_subscribers"
        public static let connectionsOpen = "resultshub_connections_open"
        /// 1 while this hub stores submissions (alone, or as a cluster's leader), 0 while it follows or relays.
        public static let leading = "resultshub_leading"
        public static let connectionsRefused = "resultshub_connections_refused_total"
        /// Bytes of frames the hub handed to its sockets (answers, deliveries, goodbyes).
        public static let bytesSent = "resultshub_bytes_sent_total"
        /// Conflated batches sent to subscribers that had fallen behind.
        public static let conflatedBatches = "resultshub_conflated_batches_total"
        public static let slowSubscriberDrops = "resultshub_slow_subscriber_drops_total"
    }

    let factory: any MetricsFactory
    let submissionsAccepted: Counter
    let submissionsDuplicate: Counter
    private let submissionsRejected: Mutex<[ErrorCode: Counter]>
    let ackLatency: CoreMetrics.Timer
    let commitBatchEvents: Recorder
    let commitFailures: Counter
    let sequence: Gauge
    let subscribersLive: Gauge
    let subscribersConflating: Gauge
    let subscribersStalled: Gauge
    let connectionsOpen: Gauge
    let leading: Gauge
    let connectionsRefused: Counter
    let bytesSent: Counter
    let conflatedBatches: Counter
    let slowSubscriberDrops: Counter

    public init(factory: any MetricsFactory) {
        self.factory = factory
        submissionsAccepted = Counter(label: Name.submissionsAccepted, factory: factory)
        submissionsDuplicate = Counter(label: Name.submissionsDuplicate, factory: factory)
        submissionsRejected = Mutex([:])
        ackLatency = CoreMetrics.Timer(label: Name.ackLatency, factory: factory)
        commitBatchEvents = Recorder(label: Name.commitBatchEvents, aggregate: true, factory: factory)
        commitFailures = Counter(label: Name.commitFailures, factory: factory)
        sequence = Gauge(label: Name.sequence, factory: factory)
        subscribersLive = Gauge(label: Name.subscribers, dimensions: [("state", "live")], factory: factory)
        subscribersConflating = Gauge(label: Name.subscribers, dimensions: [("state", "conflating")], factory: factory)
        subscribersStalled = Gauge(label: Name.subscribers, dimensions: [("state", "stalled")], factory: factory)
        connectionsOpen = Gauge(label: Name.connectionsOpen, factory: factory)
        leading = Gauge(label: Name.leading, factory: factory)
        connectionsRefused = Counter(label: Name.connectionsRefused, factory: factory)
        bytesSent = Counter(label: Name.bytesSent, factory: factory)
        conflatedBatches = Counter(label: Name.conflatedBatches, factory: factory)
        slowSubscriberDrops = Counter(label: Name.slowSubscriberDrops, factory: factory)
    }

    /// Rejections are few: their counters are made when a code first occurs.
    func rejected(_ code: ErrorCode) {
        let counter = submissionsRejected.withLock { counters in
            if let counter = counters[code] { return counter }
            let counter = Counter(
                label: Name.submissionsRejected, dimensions: [("code", code.name)], factory: factory)
            counters[code] = counter
            return counter
        }
        counter.increment()
    }

    func record(_ answers: HubMachine.Answers) {
        if !answers.ackLatenciesNanos.isEmpty {
            submissionsAccepted.increment(by: answers.ackLatenciesNanos.count)
            for latency in answers.ackLatenciesNanos { ackLatency.recordNanoseconds(Int64(clamping: latency)) }
        }
        if answers.duplicates > 0 { submissionsDuplicate.increment(by: answers.duplicates) }
        for code in answers.rejected { rejected(code) }
    }

    /// The gauges that describe the present, set from statistics when they are read (a scrape).
    func update(from statistics: HubStatistics) {
        sequence.record(Int64(clamping: statistics.latestSequence))
        subscribersLive.record(statistics.subscribers - statistics.conflatingSubscribers)
        subscribersConflating.record(statistics.conflatingSubscribers - statistics.stalledSubscribers)
        subscribersStalled.record(statistics.stalledSubscribers)
        connectionsOpen.record(statistics.openConnections)
        leading.record(statistics.role == "leader" ? 1 : 0)
    }
}
