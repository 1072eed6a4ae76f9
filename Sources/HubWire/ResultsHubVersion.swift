/// The release every executable reports with `--version`. It lives in HubWire because every executable depends on
/// this module, so that `results-hub`, `reporter`, `hub-load` and `retained-memory` can never disagree.
public enum ResultsHubVersion {
    public static let current = "0.13.0"

    /// The release and the protocol versions it speaks: `0.13.0 (protocol 1)`, or `(protocol 1-2)` for a range.
    /// An operator comparing a hub with its clients needs the protocol more than the release.
    public static var currentWithProtocol: String {
        let protocols =
            ProtocolVersion.minimum == ProtocolVersion.maximum
            ? "\(ProtocolVersion.maximum)" : "\(ProtocolVersion.minimum)-\(ProtocolVersion.maximum)"
        return "\(current) (protocol \(protocols))"
    }
}
