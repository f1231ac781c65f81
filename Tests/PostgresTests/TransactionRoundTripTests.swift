import Foundation
import Testing

@testable import Postgres

/// `withTransaction` sends `BEGIN` with the body's first statement and deferred statements with
/// `COMMIT` (libpq pipeline mode); these check that the transaction still means what it says.
@Suite("Transactions without round trips of their own")
struct TransactionRoundTripTests {
    @Test(
        "BEGIN reaches the server before the first statement, with its isolation level",
        arguments: preparedStatementModes)
    func beginTravelsWithFirstStatement(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let (isolation, first, second) = try await client.withTransaction(isolation: .repeatableRead) {
                connection in
                (
                    try connection.query("SELECT current_setting('transaction_isolation') AS i")[0].decode(
                        "i", as: String.self),
                    try connection.query("SELECT txid_current() AS x")[0].decode("x", as: Int.self),
                    try connection.query("SELECT txid_current() AS x")[0].decode("x", as: Int.self)
                )
            }
            #expect(isolation == "repeatable read")
            #expect(first == second, "both statements ran in one transaction")
            // A body starting with execute(unsafeSQL:) gets BEGIN in the same string: SET LOCAL holds.
            let timeout = try await client.withTransaction { connection in
                try connection.execute(unsafeSQL: "SET LOCAL statement_timeout = 4321")
                return try connection.query("SELECT current_setting('statement_timeout') AS t")[0].decode(
                    "t", as: String.self)
            }
            #expect(timeout == "4321ms")
        }
    }

    @Test("a transaction that sends no statement costs nothing and leaves the connection reusable")
    func emptyTransaction() async throws {
        try await withClient(configure: { $0.maximumConnections = 1 }) { client in
            let value = try await client.withTransaction { _ in 5 }
            #expect(value == 5)
            #expect(try await client.query("SELECT 1 AS one").count == 1)
            #expect(client.metrics.connectionsOpened == 1)
            #expect(try await eventually { client.metrics.idle == 1 })
        }
    }

    @Test("deferred statements run at commit, inside the transaction", arguments: preparedStatementModes)
    func deferredRunAtCommit(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                for round in 0..<3 {
                    let seenBeforeCommit = try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(round * 10))")
                        try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(round * 10 + 1))")
                        return try connection.query("SELECT count(*) AS n FROM \(schema).t")[0].decode(
                            "n", as: Int.self)
                    }
                    #expect(seenBeforeCommit == round * 2 + 1, "the deferred row is not written before the commit")
                }
                let values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [0, 1, 10, 11, 20, 21])
                // Outside a transaction there is no commit to wait for: it runs at once.
                try await client.withConnection { connection in
                    try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(99))")
                }
                let written = try await client.query("SELECT count(*) AS n FROM \(schema).t WHERE v = 99")[0].decode(
                    "n", as: Int.self)
                #expect(written == 1)
            }
        }
    }

    @Test(
        "a failing deferred statement rolls the whole transaction back and is what is thrown",
        arguments: preparedStatementModes)
    func failingDeferredStatement(prepared: Bool) async throws {
        try await withClient(configure: {
            preparing(prepared)(&$0)
            $0.maximumConnections = 1
        }) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                _ = try await client.query("INSERT INTO \(schema).t VALUES (\(1))")
                await #expect {
                    try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(2))")
                        try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(1))")
                    }
                } throws: { ($0 as? PostgresError)?.sqlState == .uniqueViolation }
                let values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [1], "the body's own insert was rolled back too")
                #expect(client.metrics.connectionsOpened == 1, "the connection survived and was reused")
                // Deferred statements of a failed body are dropped with it.
                await #expect(throws: TransactionAndErrorTests.BodyError.self) {
                    try await client.withTransaction { connection in
                        try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(3))")
                        throw TransactionAndErrorTests.BodyError()
                    }
                }
                let count = try await client.query("SELECT count(*) AS n FROM \(schema).t")[0].decode("n", as: Int.self)
                #expect(count == 1)
            }
        }
    }

    @Test(
        "queryAndCommit reads the transaction's own writes and commits with them; a failing one commits nothing",
        arguments: preparedStatementModes)
    func queryAndCommit(prepared: Bool) async throws {
        try await withClient(configure: {
            preparing(prepared)(&$0)
            $0.maximumConnections = 1
        }) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                for round in 1...2 {
                    let read = try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(round))")
                        try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(round * 100))")
                        return try connection.queryAndCommit(
                            "SELECT count(*) AS n FROM \(schema).t WHERE v = \(round)")[0]
                            .decode("n", as: Int.self)
                    }
                    #expect(read == 1)
                }
                var values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [1, 2, 100, 200])
                await #expect {
                    try await client.withTransaction { connection in
                        _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(3))")
                        _ = try connection.queryAndCommit("SELECT 1 / (v - v) AS boom FROM \(schema).t WHERE v = \(3)")
                    }
                } throws: { ($0 as? PostgresError)?.sqlState == SQLState(rawValue: "22012") }
                // Once committed, a body that fails afterwards is not run again: its work is durable.
                let attempts = Attempts()
                await #expect(throws: PostgresError.self) {
                    try await client.withTransaction { connection in
                        attempts.increment()
                        _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(4))")
                        _ = try connection.queryAndCommit("SELECT 1 AS one")
                        throw PostgresError(code: .server, sqlState: .serializationFailure, message: "after the commit")
                    }
                }
                // Behind a transaction pooler, an attempt before the commit may also meet a session out of
                // step with the connection's prepared statements, and run again.
                #expect(
                    attempts.value == 1 || (!serverSessionIsStable && attempts.value == 2),
                    "attempts: \(attempts.value)")
                values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [1, 2, 4, 100, 200])
                #expect(client.metrics.connectionsOpened == 1)
            }
        }
    }

    @Test("a deferred prepared statement the server dropped (26000) makes the whole transaction run again")
    func staleDeferredStatementRetries() async throws {
        guard preparedStatementsAllowed, serverSessionIsStable else { return }
        try await withClient(configure: {
            preparing(true)(&$0)
            $0.maximumConnections = 1
        }) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                try await client.withTransaction { connection in
                    try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(1))")
                }
                try await client.withConnection { try $0.execute(unsafeSQL: "DEALLOCATE ALL") }
                let attempts = Attempts()
                try await client.withTransaction { connection in
                    attempts.increment()
                    _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(2))")
                    try connection.deferUntilCommit("INSERT INTO \(schema).t VALUES (\(3))")
                }
                #expect(attempts.value == 2)
                let values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [1, 2, 3])
            }
        }
    }
}

extension TransactionRoundTripTests {
    @Test("a transaction's own statement timeout travels with BEGIN, cuts its statements off, and ends with it")
    func transactionStatementTimeout() async throws {
        try await withClient(configure: {
            $0.maximumConnections = 1
            $0.statementTimeout = .seconds(15)
        }) { client in
            let inside = try await client.withTransaction(statementTimeout: .milliseconds(50)) { connection in
                try connection.query("SHOW statement_timeout")[0].decode(0, as: String.self)
            }
            #expect(inside == "50ms")
            await #expect {
                try await client.withTransaction(statementTimeout: .milliseconds(50)) { connection in
                    _ = try connection.query("SELECT pg_sleep(\(0.5))")
                }
            } throws: { ($0 as? PostgresError)?.sqlState == .queryCanceled }
            let after = try await client.query("SHOW statement_timeout")[0].decode(0, as: String.self)
            #expect(after == "15s", "SET LOCAL ended with its transaction")
        }
    }
}

extension TransactionRoundTripTests {
    @Test(
        "a commit cut off with its connection runs again once the server reports it aborted; without outageRetry it fails"
    )
    func lostCommitThatWasAborted() async throws {
        for retry in [Duration.seconds(10), .zero] {
            try await withClient(configure: {
                $0.maximumConnections = 2
                $0.outageRetry = retry
            }) { client in
                try await withTestSchema(client) { schema in
                    _ = try await client.query("CREATE TABLE \(schema).t (v int PRIMARY KEY)")
                    let attempts = Attempts()
                    let outcome = await Result(catching: {
                        try await client.withTransaction { connection in
                            attempts.increment()
                            _ = try connection.query("INSERT INTO \(schema).t (v) VALUES (\(1))")
                            if attempts.value == 1 {
                                // Ends the session in the commit's own round trip: the transaction is
                                // aborted, and the client only sees its connection break.
                                try connection.deferUntilCommit("SELECT pg_terminate_backend(pg_backend_pid())")
                            }
                        }
                    })
                    let values = try await client.query("SELECT v FROM \(schema).t").map {
                        try $0.decode("v", as: Int.self)
                    }
                    if retry > .zero {
                        #expect(attempts.value == 2)
                        #expect((try? outcome.get()) != nil, "\(outcome)")
                        #expect(values == [1])
                    } else {
                        #expect(attempts.value == 1)
                        #expect(throws: PostgresError.self) { try outcome.get() }
                        #expect(values == [])
                    }
                }
            }
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
