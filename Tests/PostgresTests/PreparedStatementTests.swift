import Foundation
import Synchronization
import Testing

@testable import Postgres

/// Whether tests may ask for prepared statements: not when the environment sets
/// `DB_PREPARED_STATEMENTS=false`.
let preparedStatementsAllowed = PostgresClient.Configuration.preparedStatementsFromEnvironment()

/// Whether a connection keeps one server session from one transaction to the next, so a test may
/// inspect the statements prepared there: not behind a transaction pooler (`scripts/test-pgbouncer`
/// sets `SCIM_TEST_POOLER`).
let serverSessionIsStable = ProcessInfo.processInfo.environment["SCIM_TEST_POOLER"] == nil

/// Both settings where the server allows them, else off only.
let preparedStatementModes = preparedStatementsAllowed ? [true, false] : [false]

/// Configures a test client: with `prepared`, every statement is prepared on first use, so even a
/// statement a test runs once goes through `PQprepare` and `PQexecPrepared`.
func preparing(_ prepared: Bool) -> (inout PostgresClient.Configuration) -> Void {
    { configuration in
        configuration.preparedStatements = prepared
        configuration.prepareAfterUses = 1
    }
}

/// Serialized, like the round-trip suite, to keep this run's share of the server's connections small.
@Suite(
    "Prepared statement cache", .serialized,
    .enabled(
        if: preparedStatementsAllowed && serverSessionIsStable,
        "prepared statements off, or behind a transaction pooler")
)
struct PreparedStatementTests {
    @Test("the same SQL run 1,000 times is prepared once and executed from that statement")
    func preparesOnce() async throws {
        try await withClient(configure: { $0.maximumConnections = 1 }) { client in
            let marker = UUID().uuidString
            let query: PostgresQuery = "SELECT \(7) AS v, \(marker) AS marker"
            try await client.withConnection { connection in
                for _ in 0..<1000 {
                    #expect(try connection.query(query)[0].decode("v") == 7)
                }
                // The first use runs unnamed; the second prepares; 999 executions use that one statement.
                let rows = try connection.query(
                    "SELECT count(*) AS n, sum(generic_plans + custom_plans) AS runs FROM pg_prepared_statements WHERE statement = \(query.sql)"
                )
                #expect(try rows[0].decode("n") == 1)
                #expect(try rows[0].decode("runs") == 999)
                #expect(connection.preparedStatementNames.count == 1)
            }
        }
    }

    @Test("a statement run once is not prepared; with the cache off nothing is")
    func admission() async throws {
        for enabled in [true, false] {
            try await withClient(configure: {
                $0.maximumConnections = 1
                $0.preparedStatements = enabled
            }) { client in
                try await client.withConnection { connection in
                    _ = try connection.query("SELECT \(1) AS once")
                    #expect(try Self.serverStatements(on: connection) == 0)
                    for _ in 0..<3 {
                        _ = try connection.query("SELECT \(2) AS twice")
                    }
                    // A different text: the first count's text, used again, would now be prepared.
                    let prepared = try connection.query("SELECT count(*) AS n FROM pg_prepared_statements AS again")[0]
                        .decode("n", as: Int.self)
                    #expect(prepared == (enabled ? 1 : 0))
                }
            }
        }
    }

    @Test("a query not worth preparing always runs unnamed, on its own and deferred to COMMIT, and evicts nothing")
    func notWorthPreparing() async throws {
        try await withClient(configure: Self.fourStatementCache(deallocationBatch: 1)) { client in
            let kept: PostgresQuery = "SELECT \(1) AS kept"
            let oneOff = {
                var query: PostgresQuery = "SELECT \(2) AS one_off"
                query.isWorthPreparing = false
                return query
            }()
            try await client.withConnection { connection in
                _ = try connection.query(kept)
                for _ in 0..<3 {
                    #expect(try connection.query(oneOff)[0].decode("one_off") == 2)
                }
            }
            for _ in 0..<3 {
                try await client.withTransaction { connection in
                    try connection.deferUntilCommit(oneOff)
                }
            }
            let (cached, onServer) = try await client.withConnection { connection in
                (connection.preparedStatementNames.count, try Self.serverStatements(on: connection))
            }
            #expect(cached == 1)
            #expect(onServer == 2)  // `kept`, and the counting query itself (prepared on first use)
        }
    }

    @Test("a caller served by another bucket's connection needs twice the uses to have a text prepared there")
    func visitorsNeedMoreUses() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 2
            $0.prepareAfterUses = 1
            $0.waitTimeout = .seconds(30)
        }) { client in
            let keys = (0..<100).map { "tenant\($0)" }
            let home = keys.first { client.bucket(forAffinity: $0) == 0 }!
            let visitor = keys.first { client.bucket(forAffinity: $0) == 1 }!
            // The visitor's own connection (the first opened, so its home is the visitor's bucket) is kept busy...
            let release = DispatchSemaphore(value: 0)
            let busy = Task {
                try await PostgresClient.$affinity.withValue(visitor) {
                    try await client.withConnection { _ in release.wait() }
                }
            }
            #expect(try await eventually { client.metrics.inUse == 1 })
            // ...so the other connection, opened for `home`, is the one the visitor comes back to.
            let atHome = try await PostgresClient.$affinity.withValue(home) {
                try await client.withConnection { connection in
                    _ = try connection.query("SELECT \(0) AS prepared_at_first_use")
                    return connection.preparedStatementNames.count
                }
            }
            let query: PostgresQuery = "SELECT \(1) AS v"
            let visits = try await PostgresClient.$affinity.withValue(visitor) {
                try await client.withConnection { connection in
                    try (0..<2).map { _ in
                        _ = try connection.query(query)
                        return connection.preparedStatementNames.count
                    }
                }
            }
            release.signal()
            try await busy.value
            #expect(atHome == 1)
            #expect(visits == [1, 2])
        }
    }

    @Test("the same text with different bind types gets a statement each")
    func bindTypesAreKeyed() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.prepareAfterUses = 1
        }) { client in
            try await client.withConnection { connection in
                let missing: Int? = nil
                // OID 0 (NULL) lets the server infer text; int8 must not reuse that statement.
                let inferred: PostgresQuery = "SELECT pg_typeof(v)::text AS t FROM (SELECT \(missing) AS v) AS s"
                let typed: PostgresQuery = "SELECT pg_typeof(v)::text AS t FROM (SELECT \(Optional(5)) AS v) AS s"
                #expect(inferred.sql == typed.sql)
                let first = try connection.query(inferred)[0].decode("t", as: String.self)
                let second = try connection.query(typed)[0].decode("t", as: String.self)
                #expect(first == "text")
                #expect(second == "bigint")
                #expect(connection.preparedStatementNames.count == 2)
            }
        }
    }

    @Test("600 distinct texts with a cache of 512 leave at most 512 prepared statements")
    func lruBound() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.deallocationBatch = 1
        }) { client in
            #expect(client.configuration.preparedStatementCacheSize == 512)
            try await client.withConnection { connection in
                for i in 0..<600 {
                    let query = PostgresQuery(unsafeSQL: "SELECT \(i) AS v")
                    for _ in 0..<2 {
                        #expect(try connection.query(query)[0].decode("v") == i)
                    }
                }
                let rows = try connection.query(
                    "SELECT count(*) AS n, min(split_part(statement, ' ', 2)::int) AS oldest FROM pg_prepared_statements WHERE statement LIKE 'SELECT % AS v'"
                )
                #expect(try rows[0].decode("n") == 512)
                // Least recently used went first: the survivors are the last 512 texts.
                #expect(try rows[0].decode("oldest") == 600 - 512)
                #expect(connection.preparedStatementNames.count == 512)
                // An old text comes back as a new statement, evicting the next-oldest.
                #expect(try connection.query(PostgresQuery(unsafeSQL: "SELECT 0 AS v"))[0].decode("v") == 0)
                #expect(try connection.query(PostgresQuery(unsafeSQL: "SELECT 0 AS v"))[0].decode("v") == 0)
                #expect(try Self.serverStatements(on: connection) <= 512)
            }
        }
    }

    @Test("evictions inside a transaction are deallocated after it")
    func deferredDeallocation() async throws {
        try await withClient(configure: Self.fourStatementCache(deallocationBatch: 1)) { client in
            try await client.withTransaction { connection in
                for i in 0..<10 {
                    _ = try connection.query(PostgresQuery(unsafeSQL: "SELECT \(i) AS v"))
                }
                // Evicted but not yet deallocated: nothing is sent to the server inside the transaction.
                #expect(try Self.serverStatements(on: connection) >= 10)
            }
            try await client.withConnection { connection in
                let count = try Self.serverStatements(on: connection)
                #expect(count <= 4)
            }
        }
    }

    @Test("evicted statements are deallocated in batches: the server holds at most capacity + batch - 1")
    func batchedDeallocation() async throws {
        try await withClient(configure: Self.fourStatementCache(deallocationBatch: 3)) { client in
            try await client.withConnection { connection in
                var counts: [Int] = []
                for i in 0..<12 {
                    _ = try connection.query(PostgresQuery(unsafeSQL: "SELECT \(i) AS v"))
                    // The counting statement is cached too, and stays most recently used.
                    counts.append(try Self.serverStatements(on: connection))
                }
                #expect(counts.allSatisfy { $0 <= 4 + 2 }, "\(counts)")
                #expect(counts.contains { $0 > 4 }, "deallocation waits for a batch: \(counts)")
                #expect(connection.preparedStatementNames.count == 4)
            }
        }
    }

    @Test("a prepare the server refuses (42P01) leaves nothing cached; a statement failing as it runs stays prepared")
    func failedAdmission() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.prepareAfterUses = 1
            $0.deallocationBatch = 1
        }) { client in
            try await client.withConnection { connection in
                #expect(throws: PostgresError.self) {
                    try connection.query(PostgresQuery(unsafeSQL: "SELECT * FROM no_such_table_x"))
                }
                #expect(connection.preparedStatementNames.isEmpty)
                let divide: PostgresQuery = "SELECT 1 / \(0) AS v"
                let error = #expect(throws: PostgresError.self) { try connection.query(divide) }
                #expect(error?.sqlState?.rawValue == "22012")
                #expect(connection.preparedStatementNames.count == 1)
                #expect(try connection.query("SELECT 1 / \(2) AS v")[0].decode("v", as: Int.self) == 0)
                let prepared = try connection.query(
                    "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT 1 /%'")
                #expect(try prepared[0].decode("n", as: Int.self) == 1, "the same text ran again by name")
            }
        }
    }

    @Test("SELECT * keeps working after ALTER TABLE ADD COLUMN (0A000), alone and in a transaction")
    func tableChangesShape() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.prepareAfterUses = 1
        }) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (a int)")
                _ = try await client.query("INSERT INTO \(schema).t VALUES (\(1))")
                let select: PostgresQuery = "SELECT * FROM \(schema).t"
                #expect(try await client.query(select).first?.columnNames == ["a"])
                _ = try await client.query("ALTER TABLE \(schema).t ADD COLUMN b text DEFAULT 'x'")
                let rows = try await client.query(select)
                #expect(rows.first?.columnNames == ["a", "b"])
                #expect(try rows[0].decode("b") == "x")

                _ = try await client.query("ALTER TABLE \(schema).t ADD COLUMN c int DEFAULT 3")
                let attempts = Attempts()
                let columns = try await client.withTransaction { connection in
                    attempts.increment()
                    return try connection.query(select).first?.columnNames
                }
                #expect(columns == ["a", "b", "c"])
                #expect(attempts.value == 2)
            }
        }
    }

    @Test("statements dropped on the server (DEALLOCATE ALL, 26000) are prepared again")
    func droppedOnServer() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.prepareAfterUses = 1
        }) { client in
            try await client.withConnection { connection in
                #expect(try connection.query("SELECT \(1) AS v")[0].decode("v") == 1)
                try connection.execute(unsafeSQL: "DEALLOCATE ALL")
                #expect(try connection.query("SELECT \(2) AS v")[0].decode("v") == 2)
                #expect(try Self.serverStatements(on: connection) == 2)
            }
        }
    }

    @Test("server errors from a prepared statement keep SQLSTATE, message, detail and constraint")
    func errorsUnchanged() async throws {
        for prepared in [true, false] {
            try await withClient(configure: preparing(prepared)) { client in
                try await withTestSchema(client) { schema in
                    _ = try await client.query("CREATE TABLE \(schema).u (n text CONSTRAINT u_n_key UNIQUE)")
                    _ = try await client.query("INSERT INTO \(schema).u VALUES (\("ann"))")
                    await #expect {
                        try await client.query("INSERT INTO \(schema).u VALUES (\("ann"))")
                    } throws: { error in
                        let error = error as? PostgresError
                        return error?.code == .server && error?.sqlState == .uniqueViolation
                            && error?.constraint == "u_n_key"
                            && error?.message == #"duplicate key value violates unique constraint "u_n_key""#
                            && error?.detail == "Key (n)=(ann) already exists."
                    }
                    // A syntax error surfaces from the prepare step the same way.
                    await #expect {
                        try await client.query("SELEC 1")
                    } throws: { ($0 as? PostgresError)?.sqlState == .syntaxError }
                }
            }
        }
    }

    /// Every statement prepared in the server session, this counting one included once it is cached.
    static func serverStatements(on connection: PostgresConnection) throws -> Int {
        try connection.query("SELECT count(*) AS n FROM pg_prepared_statements")[0].decode("n", as: Int.self)
    }

    /// One connection whose cache holds four statements, each prepared on first use.
    static func fourStatementCache(deallocationBatch: Int) -> @Sendable (inout PostgresClient.Configuration) -> Void {
        { configuration in
            configuration.maximumConnections = 1
            configuration.preparedStatementCacheSize = 4
            configuration.prepareAfterUses = 1
            configuration.deallocationBatch = deallocationBatch
        }
    }
}

/// A counter a transaction body (a `@Sendable` closure) can bump.
final class Attempts: Sendable {
    private let count = Mutex(0)

    func increment() {
        self.count.withLock { $0 += 1 }
    }

    var value: Int { self.count.withLock { $0 } }
}
