import Foundation
import HubPostgres
import Logging
import NIOPosix
import PostgresNIO

/// The throwaway PostgreSQL server `Tools/with-postgres.sh` starts for the tests (README's test command): each test
/// gets a database of its own on it. Without it, these tests fail, naming the command; they never skip.
enum TestPostgres {
    static let logger = Logger(label: "test-postgres")

    /// The server `Tools/with-postgres.sh` started.
    static func server() throws -> (location: PostgresStoreLocation, password: String?) {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["RESULTS_HUB_TEST_POSTGRES"] else {
            throw TestFailure(
                "RESULTS_HUB_TEST_POSTGRES is not set: run the tests with `Tools/with-postgres.sh swift test` (README), which starts a throwaway PostgreSQL server"
            )
        }
        return (try PostgresStoreLocation(url: url), environment["PGPASSWORD"])
    }

    /// A new, empty database; its `postgres://` URL.
    static func freshDatabase() async throws -> PostgresStoreLocation {
        var (location, password) = try server()
        let name = "hub_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await withConnection(to: location, password: password) { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
        } as Void
        location.database = name
        return location
    }

    static func withConnection<T: Sendable>(
        to location: PostgresStoreLocation, password: String? = nil,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let password = try password ?? server().password
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(),
            configuration: .init(
                host: location.host, port: location.port, username: location.user, password: password,
                database: location.database, tls: .disable),
            id: 1, logger: logger
        ).get()
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The stored events' sequence numbers and the terms that wrote them.
    static func storedTerms(in location: PostgresStoreLocation) async throws -> [(sequence: Int64, term: Int64)] {
        try await withConnection(to: location) { connection in
            var rows: [(Int64, Int64)] = []
            for try await row in try await connection.query(
                "SELECT sequence, term FROM resultshub_events ORDER BY sequence", logger: logger
            ).decode((Int64, Int64).self) {
                rows.append(row)
            }
            return rows
        }
    }

    /// The address the leading hub advertised, nil before one led.
    static func leader(in location: PostgresStoreLocation) async throws -> String? {
        try await withConnection(to: location) { connection in
            for try await leader in try await connection.query("SELECT leader FROM resultshub_store", logger: logger)
                .decode(String?.self)
            {
                return leader
            }
            return nil
        }
    }
}
