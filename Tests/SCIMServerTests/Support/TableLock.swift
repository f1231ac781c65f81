import Foundation
import Postgres

/// Another session holding a lock on one table, as a long transaction of another client would: it
/// holds until `release()`, however long the test takes, as its statements have no timeout.
struct TableLock: Sendable {
    /// The lock holder's own client, free for the test's queries about locks.
    let client: PostgresClient
    /// The process ids of the sessions holding the lock (granted), or waiting for one on the table.
    let granted: PostgresQuery
    let waiting: PostgresQuery

    /// Whether the lock is held now.
    func isHeld() async throws -> Bool { try await !client.query(granted).isEmpty }

    /// Whether some session waits for a lock on the table.
    func hasWaiters() async throws -> Bool { try await !client.query(waiting).isEmpty }

    /// Cancels the holder's wait, which ends its transaction and frees the table.
    func release() async throws {
        _ = try await client.query("SELECT pg_cancel_backend(pid) FROM (\(granted)) AS holders")
    }
}

/// Runs `body` once another session holds `table` of `schema` in `mode` (e.g. `SHARE`, `ACCESS
/// EXCLUSIVE`); the lock goes when `body` calls `release()`, or when `body` ends.
func withTableLock<R: Sendable>(
    _ table: String, of schema: PostgresIdentifier, mode: String, databaseURL: String,
    _ body: @Sendable (TableLock) async throws -> R
) async throws -> R {
    var configuration = PostgresClient.Configuration(connectionString: databaseURL)
    configuration.statementTimeout = nil
    let client = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
    func locks(granted: Bool) -> PostgresQuery {
        """
        SELECT l.pid FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = \(schema.name) AND c.relname = \(table) AND l.granted = \(granted)
        """
    }
    let lock = TableLock(client: client, granted: locks(granted: true), waiting: locks(granted: false))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await client.run() }
        defer { group.cancelAll() }
        let holding = Task {
            try await client.withTransaction { connection in
                try connection.execute(unsafeSQL: "LOCK TABLE \(schema.quoted).\(table) IN \(mode) MODE")
                try connection.execute(unsafeSQL: "SELECT pg_sleep(600)")
            }
        }
        // Until the lock is really held (not a fixed sleep: the machine may be loaded).
        while try await !lock.isHeld() { try await Task.sleep(for: .milliseconds(20)) }
        do {
            let result = try await body(lock)
            try await lock.release()
            _ = try? await holding.value
            return result
        } catch {
            try? await lock.release()
            _ = try? await holding.value
            throw error
        }
    }
}
