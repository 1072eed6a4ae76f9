/// Versions this code speaks, and the negotiation of spec 5.
public enum ProtocolVersion {
    public static let minimum: UInt32 = 1
    public static let maximum: UInt32 = 1

    /// The highest version in both ranges, or nil when they do not overlap.
    public static func negotiate(clientMin: UInt32, clientMax: UInt32) -> UInt32? {
        let high = min(clientMax, maximum)
        return high >= max(clientMin, minimum) ? high : nil
    }

    /// What a hub answers to a HELLO whose range it does not speak.
    public static var rangeAnswer: VersionRange {
        VersionRange(
            minVersion: minimum, maxVersion: maximum,
            message: "this hub speaks ResultsHub protocol versions \(minimum) to \(maximum)")
    }
}
