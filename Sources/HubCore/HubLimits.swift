/// The hub's own bounds, in one place. The wire's bounds (frame and field sizes) are `WireLimits` in HubWire; these
/// are what the hub holds per connection and per answer.
public enum HubLimits {
    /// A resume that missed more events than this gets a snapshot instead (reason resumeUnavailable): past a few
    /// thousand events a snapshot of the 230-odd councils is smaller than the events.
    public static let maxResumeEvents = 8192
    /// Sequence numbers one delta batch may cover, so that one batch stays well under the frame limit.
    public static let maxBatchEvents = 4096
    /// Bytes the hub may hand a connection's socket that it has not written yet, answers included: a peer that
    /// stops reading while it keeps asking (queries, pipelined submissions) is closed here rather than growing the
    /// hub's memory. Subscribers are held to a much smaller flow bound before this (`subscriberByteLimit`).
    public static let maxUnwrittenBytesPerConnection = 8 << 20
    /// HELLOs with no common protocol version a connection may send before it is closed.
    public static let maxHelloAttempts = 3
}
