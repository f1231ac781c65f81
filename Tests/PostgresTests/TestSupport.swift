import Foundation
import Logging
import Postgres

struct TestSetupError: Error, CustomStringConvertible {
    var description: String
}

/// The database the test command started. Tests fail, never skip, without it.
func databaseURL() throws -> String {
    guard let url = ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
        throw TestSetupError(description: "DATABASE_URL is not set: run the tests with scripts/test")
    }
    return url
}

/// Runs `body` with a client whose `run()` is serving in a task group, then shuts it down.
@discardableResult
func withClient<R: Sendable>(
    url: String? = nil,
    configure: (inout PostgresClient.Configuration) -> Void = { _ in },
    _ body: (PostgresClient) async throws -> R
) async throws -> R {
    var configuration = PostgresClient.Configuration(connectionString: try url ?? databaseURL())
    configure(&configuration)
    let client = PostgresClient(configuration: configuration, logger: Logger(label: "postgres-tests"))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Runs `body` with a fresh schema that is dropped afterwards, so tests never share tables.
func withTestSchema<R: Sendable>(
    _ client: PostgresClient,
    _ body: (PostgresIdentifier) async throws -> R
) async throws -> R {
    let schema = try PostgresIdentifier(
        "pgtest_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
    _ = try await client.query("CREATE SCHEMA \(schema)")
    do {
        let result = try await body(schema)
        _ = try await client.query("DROP SCHEMA \(schema) CASCADE")
        return result
    } catch {
        _ = try? await client.query("DROP SCHEMA \(schema) CASCADE")
        throw error
    }
}

/// Polls `condition` for up to five seconds; for waiting until a concurrent task reached a state.
func eventually(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<500 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}
