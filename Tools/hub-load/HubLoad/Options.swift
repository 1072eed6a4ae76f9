import ElectionModel
import HubClient
import HubWire

/// A command-line value the load tool cannot use, with what is wrong.
public struct LoadInputError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Durations as typed on the command line: "20s", "2m", "1h", "500ms", "1.5s".
public enum DurationText {
    public static func parse(_ text: String) throws(LoadInputError) -> Duration {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for unit in units where text.hasSuffix(unit.suffix) {
            let number = text.dropLast(unit.suffix.count)
            // "2ms" ends in "s" too: only a number may remain.
            guard let value = Double(number), value.isFinite, value > 0 else { continue }
            return .milliseconds(Int64((value * unit.seconds * 1000).rounded()))
        }
        throw LoadInputError("\"\(text)\" is not a duration; write e.g. 20s, 2m, 500ms")
    }

    /// Seconds as a Double, for rates.
    public static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// Subscription filters as typed: "all", "region:ID", "kind:council" or "kind:mayoralty".
public enum FilterText {
    public static func parse(_ text: String, election: Election) throws(LoadInputError) -> SubscriptionFilter {
        if text == "all" { return .all }
        if text.hasPrefix("region:") {
            let id = String(text.dropFirst("region:".count))
            guard let region = election.region(id: id) else {
                let known = election.regions.map(\.id).joined(separator: ", ")
                throw LoadInputError("no region \"\(id)\"; regions are \(known)")
            }
            return .regions([region])
        }
        if text.hasPrefix("kind:"), let kind = ContestKind.allCases.first(where: { "kind:\($0.name)" == text }) {
            return .contestKind(kind)
        }
        throw LoadInputError("\"\(text)\" is not a filter; use all, region:ID, kind:council or kind:mayoralty")
    }

    public static func describe(_ filter: SubscriptionFilter, election: Election) -> String {
        switch filter {
        case .all: return "all"
        case .regions(let regions):
            return "region:" + regions.map { election.regions[$0.rawValue].id }.joined(separator: ",")
        case .contestKind(let kind): return "kind:\(kind.name)"
        }
    }
}

/// A hub address, `HOST:PORT` or `[::1]:PORT`. Only loopback: the tool floods what it talks to.
public struct LoopbackAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// TLS to a `--hub` started with `--tls-cert` (`--tls`, `--ca`); nil: plain TCP.
    public var tls: ClientTLS?

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Connects with TLS, trusting the CA in `caFile` (nil: the system's CAs).
    public mutating func useTLS(caFile: String?) {
        tls = ClientTLS(caFile: caFile)
    }

    /// What the client library connects to.
    var hubAddress: HubAddress { HubAddress(host: host, port: port, tls: tls) }

    /// Parses the address as every other command does (`HubAddress`), then insists on loopback.
    public init(parsing text: String) throws(LoadInputError) {
        guard text.contains(":"), let address = HubAddress(text) else {
            throw LoadInputError("\"\(text)\" is not HOST:PORT")
        }
        let (host, port) = (address.host, address.port)
        guard Self.isLoopback(host) else {
            throw LoadInputError(
                "\(host) is not a loopback address; hub-load only talks to 127.0.0.0/8, ::1 or localhost")
        }
        self.init(host: host, port: port)
    }

    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
