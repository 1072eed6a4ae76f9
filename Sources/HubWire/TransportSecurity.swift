/// TLS is a transport below the protocol (SPEC.md, "TLS"): the frames inside it are the same.
public enum TransportSecurity {
    /// The ALPN protocol id a hub serving TLS advertises and a client offers.
    public static let alpnIdentifier = "resultshub/1"

    /// The first byte of a TLS handshake record (a ClientHello starts with it).
    public static let handshakeRecordType: UInt8 = 0x16
}
