import Foundation

/// Where the store is: `postgres://USER@HOST:PORT/DATABASE`. A password in the URL is refused: it would show in
/// `ps` and in shell histories; it comes from the environment (`PGPASSWORD`) or a file instead.
public struct PostgresStoreLocation: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var database: String

    public init(host: String, port: Int = 5432, user: String, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
    }

    public init(url text: String) throws(PostgresStoreError) {
        guard let components = URLComponents(string: text),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else {
            throw .badLocation("\(text) is not a postgres://USER@HOST:PORT/DATABASE address")
        }
        guard components.password == nil else {
            throw .badLocation(
                "\(Self.redacted(text)) has a password in it; give it in PGPASSWORD or in a file (--store-password-file) instead"
            )
        }
        guard let user = components.user, !user.isEmpty else {
            throw .badLocation("\(text) names no user (postgres://USER@HOST:PORT/DATABASE)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw .badLocation("\(text) names no host (postgres://USER@HOST:PORT/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw .badLocation("\(text) names no database (postgres://USER@HOST:PORT/DATABASE)")
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else { throw .badLocation("\(text): port \(port) is out of range") }
        self.init(host: host, port: port, user: user, database: database)
    }

    public var description: String { "postgres://\(user)@\(host):\(port)/\(database)" }

    /// The URL with whatever followed `user:` up to `@` replaced, for an error message.
    private static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"),
            let colon = text[scheme.upperBound..<at].firstIndex(of: ":")
        else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}

/// Why the PostgreSQL store cannot be used, in words an operator can act on.
public enum PostgresStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    case badLocation(String)
    case cannotConnect(location: String, reason: String)
    /// The database holds another election's events (or a rehearsal's, or a live night's).
    case otherElection(location: String, stored: String, running: String)
    case unsupportedMigration(location: String, found: Int)

    public var description: String {
        switch self {
        case .badLocation(let message): return message
        case .cannotConnect(let location, let reason): return "cannot use the store \(location): \(reason)"
        case .otherElection(let location, let stored, let running):
            return "the store \(location) holds \(stored), but this hub serves \(running); "
                + "give each election (and each rehearsal) its own database"
        case .unsupportedMigration(let location, let found):
            return "the store \(location) has schema migration \(found), but this hub knows migrations up to "
                + "\(PostgresSchema.migration); run the hub version that wrote it"
        }
    }
}
