import ElectionModel
import HubCore
import Metrics
import NIOCore

/// Everything the hub needs to run, with defaults an operator rarely changes.
public struct HubConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port; the bound one is reported through `onServerRunning`.
    public var port = 7400
    /// With a shared store: the `host:port` desks are sent to while this hub leads (spec 6.18). Default: `host` and
    /// the bound port.
    public var advertisedAddress: String?
    public var hubName = "ResultsHub"
    public var election: Election
    public var desks: DeskDirectory
    /// When set, subscribers must present a name and key from it; when nil, anyone may watch.
    public var subscriberKeys: SubscriberKeys?
    /// Where the journal lives.
    public var dataDirectory: String
    /// A rehearsal: every message that carries results is marked as test data (spec 6.17). Its data directory must
    /// be a rehearsal's (`StartupChecks.checkRehearsalMarking`).
    public var rehearsal = false
    /// A corrupt record in the middle of the journal stops the hub unless this is set (a backup is kept).
    public var repairJournal = false
    /// Idle time after which each side sends a heartbeat; a peer silent for 3 intervals is dropped.
    public var heartbeatInterval = TimeAmount.seconds(5)
    public var handshakeTimeout = TimeAmount.seconds(10)
    public var maxConnections = 10_000
    /// Bytes all connections together may hold in frames still arriving (each connection is also held to its
    /// role's frame limit: 4 KiB before the handshake and for subscribers, 1 MiB for desks).
    public var maxPartialFrameBytes = 64 << 20
    /// Bytes a subscriber may have waiting in its socket before it is switched to conflation.
    public var subscriberByteLimit = 1 << 20
    /// How long a subscriber may stay conflating (not draining) before it is disconnected.
    public var stallTimeout = TimeAmount.seconds(30)
    /// Events kept in memory for resumes; older resume points get a fresh snapshot.
    public var retainedEvents = 200_000
    /// Accepted revisions remembered for idempotent retries (each contest's current one is always recognised).
    public var retainedRevisions = 1_000_000
    /// A fixed kernel send buffer per connection (SO_SNDBUF); nil leaves the kernel's autotuning, which suits
    /// subscribers far away. Tests set it small so that a stalled reader fills it quickly.
    public var socketSendBufferBytes: Int?
    /// When set, the port speaks TLS (a plain client gets GOODBYE notThisProtocol); when nil, plain TCP.
    public var tls: HubTLS?
    /// Where the hub's metrics go (`HubMetrics.Name` lists them): swift-metrics' factory, e.g. Prometheus's. None by
    /// default.
    public var metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance

    public init(election: Election, desks: DeskDirectory, dataDirectory: String) {
        self.election = election
        self.desks = desks
        self.dataDirectory = dataDirectory
    }

    /// What the hub's state machine needs of this.
    var machine: HubMachine.Configuration {
        HubMachine.Configuration(
            election: election, retainedEvents: retainedEvents, retainedRevisions: retainedRevisions,
            subscriberByteLimit: subscriberByteLimit, stallTimeoutNanos: UInt64(stallTimeout.nanoseconds),
            rehearsal: rehearsal)
    }
}
