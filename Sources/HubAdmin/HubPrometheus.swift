import HubServer
import Metrics
import Prometheus

/// The hub's metrics in Prometheus's form.
public enum HubPrometheus {
    /// A swift-metrics factory that keeps what the hub measures in `registry`, with histogram buckets fit for it:
    /// latencies from 50 µs (an fdatasync on a fast disk) to 5 s, and commit batches from 1 to 16,384 events.
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .microseconds(2_500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets = [
            HubMetrics.Name.ackLatency: latencyBuckets, HubMetrics.Name.journalSync: latencyBuckets,
        ]
        factory.valueHistogramBuckets = [
            HubMetrics.Name.commitBatchEvents: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1_024, 4_096, 16_384]
        ]
        return factory
    }
}
