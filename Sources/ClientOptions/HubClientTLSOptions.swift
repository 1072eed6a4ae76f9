import ArgumentParser
import HubClient

/// How a command-line client reaches a hub over TLS: `--tls`, `--ca`, `--tls-cert`, `--tls-key`, the same in every
/// client executable (`reporter`, `results-web`).
public struct HubClientTLSOptions: ParsableArguments {
    @Flag(help: "Connect to the hub with TLS (a hub started with --tls-cert).")
    public var tls = false

    @Option(
        help: "With --tls: PEM file of the CA that signed the hub's certificate. Default: the system's trusted CAs.")
    public var ca: String?

    @Option(help: "With --tls: a client certificate (PEM), for a hub started with --tls-client-ca.")
    public var tlsCert: String?

    @Option(help: "With --tls-cert: its private key (PEM).")
    public var tlsKey: String?

    public init() {}

    public func validate() throws {
        if !tls, ca != nil || tlsCert != nil { throw ValidationError("--ca and --tls-cert go with --tls") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// `address`, over TLS when `--tls` was given.
    public func applied(to address: HubAddress) -> HubAddress {
        var address = address
        if tls { address.tls = ClientTLS(caFile: ca, certificateFile: tlsCert, privateKeyFile: tlsKey) }
        return address
    }
}
