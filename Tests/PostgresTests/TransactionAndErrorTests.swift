import Postgres
import Synchronization
import Testing

@Suite("Server errors and transactions")
struct TransactionAndErrorTests {
    struct BodyError: Error {}

    @Test("a unique violation carries SQLSTATE 23505 and the constraint name")
    func uniqueViolation() async throws {
        try await withClient { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query(
                    "CREATE TABLE \(schema).users (user_name text CONSTRAINT users_user_name_key UNIQUE)")
                _ = try await client.query("INSERT INTO \(schema).users VALUES (\("ann"))")
                await #expect {
                    try await client.query("INSERT INTO \(schema).users VALUES (\("ann"))")
                } throws: { error in
                    let error = error as? PostgresError
                    return error?.code == .server && error?.sqlState == .uniqueViolation
                        && error?.constraint == "users_user_name_key" && error?.isTransient == false
                }
                // The connection that saw the error is still usable.
                #expect(try await client.query("SELECT 1 AS one").count == 1)
            }
        }
    }

    @Test("a failing statement rolls the whole transaction back and its error is what is thrown")
    func rollbackKeepsFirstError() async throws {
        try await withClient { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                await #expect {
                    try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t VALUES (\(1))")
                        _ = try connection.query("INSERT INTO \(schema).t VALUES (\(1))")
                    }
                } throws: { ($0 as? PostgresError)?.sqlState == .uniqueViolation }
                await #expect(throws: BodyError.self) {
                    try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t VALUES (\(2))")
                        throw BodyError()
                    }
                }
                #expect(try await client.query("SELECT count(*) AS n FROM \(schema).t")[0].decode("n") == 0)
                let committed = try await client.withTransaction(isolation: .serializable) { connection in
                    try connection.query("INSERT INTO \(schema).t VALUES (\(3))").affectedRows
                }
                #expect(committed == 1)
                #expect(try await client.query("SELECT count(*) AS n FROM \(schema).t")[0].decode("n") == 1)
            }
        }
    }

    @Test("serialization failures retry the whole transaction")
    func retriesSerializationFailures() async throws {
        try await withClient { client in
            let attempts = Atomic(0)
            let result = try await client.withTransaction(isolation: .serializable) { connection in
                if attempts.add(1, ordering: .relaxed).newValue < 3 {
                    throw PostgresError(
                        code: .server, sqlState: .serializationFailure, message: "could not serialize access")
                }
                return try connection.query("SELECT 7 AS v")[0].decode("v", as: Int.self)
            }
            #expect(result == 7)
            #expect(attempts.load(ordering: .relaxed) == 3)
        }
    }

    @Test("a swallowed error does not let COMMIT pass for success")
    func abortedTransactionIsNotCommitted() async throws {
        try await withClient { client in
            await #expect {
                try await client.withTransaction { connection in
                    _ = try? connection.query("SELECT 1/0")
                }
            } throws: { ($0 as? PostgresError)?.sqlState?.rawValue == "25P02" }
        }
    }

    @Test("a connection given back inside a transaction is discarded, not reused")
    func openTransactionIsDiscarded() async throws {
        try await withClient(configure: { $0.maximumConnections = 1 }) { client in
            try await client.withConnection { try $0.execute(unsafeSQL: "BEGIN") }
            #expect(client.metrics.idle == 0)
            #expect(try await client.query("SELECT 1 AS one").count == 1)
            #expect(client.metrics.connectionsOpened == 2)
            #expect(try await eventually { client.metrics.idle == 1 })
        }
    }

    @Test("statement_timeout from the configuration applies")
    func statementTimeout() async throws {
        try await withClient(configure: { $0.statementTimeout = .milliseconds(100) }) { client in
            await #expect {
                try await client.query("SELECT pg_sleep(2)")
            } throws: { ($0 as? PostgresError)?.sqlState == .queryCanceled }
            let zone = try await client.query("SHOW TimeZone")[0].decode(0, as: String.self)
            #expect(zone == "UTC")
        }
    }

    @Test("random_page_cost is 1.1 unless the configuration leaves the server's")
    func randomPageCost() async throws {
        try await withClient { client in
            let cost = try await client.query("SHOW random_page_cost")[0].decode(0, as: String.self)
            #expect(cost == "1.1")
        }
        try await withClient(configure: { $0.randomPageCost = nil }) { client in
            let cost = try await client.query("SHOW random_page_cost")[0].decode(0, as: String.self)
            #expect(cost == "4")
        }
    }
}
