import Foundation
import Testing

@testable import Postgres

/// Prepared statements are named by their content, so that behind a transaction pooler, where a
/// connection's transactions meet server sessions other connections prepared, a name can only ever
/// run its own statement. These tests play the pooler's part by hand: they prepare, or drop, a
/// statement on the session behind the connection's back.
@Suite(
    "Prepared statements named by their content", .serialized,
    .enabled(
        if: preparedStatementsAllowed && serverSessionIsStable,
        "prepared statements off, or behind a transaction pooler")
)
struct ContentNamedStatementTests {
    @Test("a name is a digest of the text and the bind types: the same on every connection, different for either")
    func namesFollowContent() async throws {
        let key = PreparedStatementCache.Key(sql: "SELECT $1::int8 FROM org_a.users", types: [20])
        #expect(key.statementName == PreparedStatementCache.Key(sql: key.sql, types: [20]).statementName)
        #expect(key.statementName != PreparedStatementCache.Key(sql: key.sql, types: [0]).statementName)
        #expect(
            key.statementName
                != PreparedStatementCache.Key(sql: "SELECT $1::int8 FROM org_b.users", types: [20]).statementName)
        #expect(
            key.statementName.hasPrefix("ps_") && key.statementName.count == 35,
            "inside PostgreSQL's 63: \(key.statementName)")

        try await withClient(configure: {
            preparing(true)(&$0)
            $0.maximumConnections = 2
        }) { client in
            let query: PostgresQuery = "SELECT \(41) + 1 AS answer"
            let names = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await client.withConnection { connection in
                            _ = try connection.query(query)
                            // Holds the connection, so the other task gets the other one.
                            _ = try connection.query("SELECT pg_sleep(0.2)")
                            return try connection.query(
                                "SELECT name FROM pg_prepared_statements WHERE statement = \(query.sql)"
                            )
                            .map { try $0.decode("name", as: String.self) }
                        }
                    }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(names.count == 2)
            #expect(names.allSatisfy { $0.count == 1 && $0 == names[0] }, "one name on both sessions: \(names)")
        }
    }

    @Test("a session that already has the statement (42P05) runs it by that name, alone and in a transaction")
    func alreadyPrepared() async throws {
        try await withClient(configure: {
            preparing(true)(&$0)
            $0.maximumConnections = 1
        }) { client in
            let query: PostgresQuery = "SELECT \(1) AS v, 'already' AS marker"
            let name = PreparedStatementCache.Key(sql: query.sql, types: [20]).statementName
            try await client.withConnection { connection in
                // Another client of this session prepared the same text, so under the same name.
                try connection.execute(unsafeSQL: "PREPARE \(name) (int8) AS \(query.sql)")
                #expect(try connection.query(query)[0].decode("v") == 1)
                #expect(connection.preparedStatementNames == [name])
            }
            let inTransaction: PostgresQuery = "SELECT \(2) AS v, 'in a transaction' AS marker"
            let transactionName = PreparedStatementCache.Key(sql: inTransaction.sql, types: [20]).statementName
            let attempts = Attempts()
            let value = try await client.withTransaction { connection in
                attempts.increment()
                if attempts.value == 1 {
                    // The cache has never seen this text; the session has its statement all the same.
                    try connection.execute(unsafeSQL: "PREPARE \(transactionName) (int8) AS \(inTransaction.sql)")
                }
                return try connection.query(inTransaction)[0].decode("v", as: Int.self)
            }
            #expect(value == 2)
            #expect(attempts.value == 2, "the aborted transaction ran again, unnamed")
        }
    }

    @Test("a session that lacks a statement the cache holds (26000) runs it again, alone and in a transaction")
    func missingOnSession() async throws {
        try await withClient(configure: {
            preparing(true)(&$0)
            $0.maximumConnections = 1
        }) { client in
            try await withTestSchema(client) { schema in
                _ = try await client.query("CREATE TABLE \(schema).t (v int)")
                let insert: @Sendable (Int) -> PostgresQuery = { "INSERT INTO \(schema).t VALUES (\($0))" }
                _ = try await client.query(insert(1))
                try await client.withConnection { try $0.execute(unsafeSQL: "DEALLOCATE ALL") }
                _ = try await client.query(insert(2))

                try await client.withConnection { try $0.execute(unsafeSQL: "DEALLOCATE ALL") }
                let attempts = Attempts()
                try await client.withTransaction { connection in
                    attempts.increment()
                    _ = try connection.query(insert(3))
                    _ = try connection.query(insert(4))
                }
                #expect(attempts.value == 2)
                let values = try await client.query("SELECT v FROM \(schema).t ORDER BY v").map {
                    try $0.decode("v", as: Int.self)
                }
                #expect(values == [1, 2, 3, 4], "nothing lost, nothing twice")
            }
        }
    }

    @Test("a connection whose session keeps changing under it stops preparing, and says so in the metrics")
    func stopsPreparingAfterMismatches() async throws {
        try await withClient(configure: {
            preparing(true)(&$0)
            $0.maximumConnections = 1
        }) { client in
            try await client.withConnection { connection in
                for round in 0..<PostgresConnection.mismatchesBeforeUnnamed {
                    #expect(try connection.query("SELECT \(round) AS v")[0].decode("v") == round)
                    #expect(!connection.preparedStatementNames.isEmpty)
                    try connection.execute(unsafeSQL: "DEALLOCATE ALL")
                }
                #expect(try connection.query("SELECT \(7) AS v")[0].decode("v") == 7)
                #expect(connection.preparedStatementNames.isEmpty)
                for round in 0..<3 {
                    #expect(try connection.query("SELECT \(round) AS v")[0].decode("v") == round)
                }
                #expect(
                    try connection.query("SELECT count(*) AS n FROM pg_prepared_statements")[0].decode(
                        "n", as: Int.self) == 0)
            }
            #expect(client.metrics.statementMismatches == PostgresConnection.mismatchesBeforeUnnamed)
        }
    }
}
