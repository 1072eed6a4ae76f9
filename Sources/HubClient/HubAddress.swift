/// Where a hub listens: `HOST:PORT` (default 127.0.0.1:7400).
public struct HubAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// TLS to the hub; nil speaks the protocol in plain TCP. Not part of the text form.
    public var tls: ClientTLS?

    public static let `default` = HubAddress(host: "127.0.0.1", port: 7400)

    public init(host: String, port: Int, tls: ClientTLS? = nil) {
        self.host = host
        self.port = port
        self.tls = tls
    }

    /// Parses `HOST:PORT`, `[IPv6]:PORT` or `HOST` (port 7400). A port is 1 to 65535.
    public init?(_ text: String) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard !host.isEmpty, rest.isEmpty || rest.hasPrefix(":"),
                let port = rest.isEmpty ? 7400 : Int(rest.dropFirst()), Self.ports.contains(port)
            else { return nil }
            self.init(host: host, port: port)
            return
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard !text.isEmpty else { return nil }
            self.init(host: text, port: 7400)
        case 2:
            guard !parts[0].isEmpty, let port = Int(parts[1]), Self.ports.contains(port) else { return nil }
            self.init(host: String(parts[0]), port: port)
        default: return nil
        }
    }

    /// The ports a client can connect to.
    public static let ports = 1...65535

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
