import Foundation
import Testing

@testable import Postgres

@Suite("Query building and value formats")
struct QueryBuildingTests {
    @Test("interpolated values become numbered binds, identifiers are quoted inline")
    func interpolation() throws {
        let schema = try PostgresIdentifier("tenant_1")
        let userName = "Ann"
        let missing: String? = nil
        let query: PostgresQuery =
            "SELECT id FROM \(schema).users WHERE user_name = \(userName) AND active = \(true) AND x = \(missing)"
        #expect(query.sql == #"SELECT id FROM "tenant_1".users WHERE user_name = $1 AND active = $2 AND x = $3"#)
        #expect(query.binds == [.text("Ann", oid: 0), .text("true", oid: 16), .null])
    }

    @Test("spliced queries are renumbered, also via append")
    func splicing() {
        let filter: PostgresQuery = "a = \(1) AND b = \(2)"
        var query: PostgresQuery = "SELECT * FROM t WHERE x = \(0) AND (\(filter))"
        #expect(query.sql == "SELECT * FROM t WHERE x = $1 AND (a = $2 AND b = $3)")
        query.append(" LIMIT \(10)")
        #expect(query.sql == "SELECT * FROM t WHERE x = $1 AND (a = $2 AND b = $3) LIMIT $4")
        #expect(query.binds.count == 4)
        let columns = "id, name"
        let raw: PostgresQuery = "SELECT \(unsafeSQL: columns) FROM t"
        #expect(raw.sql == "SELECT id, name FROM t" && raw.binds.isEmpty)
    }

    @Test("splicing numbers binds only: literals, quoted identifiers, comments and dollar quotes keep their text")
    func splicingLeavesLiteralsAlone() {
        let spliced: PostgresQuery = "SELECT '$1', \"$1\", \(1) -- $1\n, \(2) /* $1 */, $$ $1 $$, $body$ $2 $body$"
        var query: PostgresQuery = "WITH w AS (SELECT \(0), \(0), \(0), \(0), \(0)) "
        query.append(spliced)
        #expect(
            query.sql
                == "WITH w AS (SELECT $1, $2, $3, $4, $5) SELECT '$1', \"$1\", $6 -- $1\n, $7 /* $1 */, $$ $1 $$, $body$ $2 $body$"
        )
        #expect(query.binds.count == 7)
        let nested: PostgresQuery = "SELECT \(0) WHERE \(query)"
        #expect(nested.sql.hasSuffix("SELECT '$1', \"$1\", $7 -- $1\n, $8 /* $1 */, $$ $1 $$, $body$ $2 $body$"))
        #expect(nested.binds.count == 8)
        let byHand = PostgresQuery(unsafeSQL: "SELECT $1::int", binds: [.null])
        var started: PostgresQuery = "/* no binds */ "
        started.append(byHand)
        started.append(" WHERE \(3) > 0")
        #expect(started.sql == "/* no binds */ SELECT $1::int WHERE $2 > 0" && started.binds.count == 2)
    }

    @Test(
        "identifier validation rejects anything but lower-case names",
        arguments: [#"a"b"#, "Robert'); DROP", "Users", "", "1abc", "a-b", "ü", String(repeating: "a", count: 64)]
    )
    func rejectsBadIdentifiers(name: String) {
        #expect { try PostgresIdentifier(name) } throws: { ($0 as? PostgresError)?.code == .invalidIdentifier }
    }

    @Test("valid identifiers are double-quoted", arguments: ["users", "_x1", "tenant_0123456789abcdef"])
    func acceptsIdentifiers(name: String) throws {
        #expect(try PostgresIdentifier(name).quoted == "\"\(name)\"")
    }

    @Test("a name written in code is the identifier the throwing initialiser builds from the same text")
    func literalIdentifiers() throws {
        let control = try PostgresIdentifier("control")
        #expect(PostgresIdentifier(literal: "control") == control)
        #expect(PostgresIdentifier(literal: "_x1").quoted == #""_x1""#)
    }

    @Test("array literals quote every element and parse back")
    func arrayLiterals() throws {
        let values = ["a", "b,c", "with \"quote\"", #"back\slash"#, "NULL", "", "{}", " space ", "über", "\"\u{301}"]
        let literal = PostgresArrayLiteral.format(values)
        #expect(try PostgresArrayLiteral.parse(literal) == values)
        // A quote is escaped even when a combining mark makes it part of a larger character.
        #expect(PostgresArrayLiteral.format(["\"\u{301}", nil]) == "{\"\\\"\u{301}\",NULL}")
        #expect(try PostgresArrayLiteral.parse(#"{a,NULL,"NULL","x\"y"}"#) == ["a", nil, "NULL", "x\"y"])
        #expect(try PostgresArrayLiteral.parse("{}") == [])
        #expect(try PostgresArrayLiteral.parse("[0:1]={x,y}") == ["x", "y"])
    }

    @Test(
        "timestamptz output is parsed with offsets and fractions",
        arguments: [
            ("2024-01-02 03:04:05+00", 1_704_164_645.0),
            ("2024-01-02 03:04:05.5+00", 1_704_164_645.5),
            ("2024-01-02 08:34:05.123456+05:30", 1_704_164_645.123456),
            ("2024-01-01 22:04:05-05", 1_704_164_645.0),
            ("1969-12-31 23:59:59.999999+00", -0.000001),
        ]
    )
    func parsesTimestamps(text: String, seconds: Double) throws {
        let date = try Date(postgresText: text)
        #expect(abs(date.timeIntervalSince1970 - seconds) < 0.000_000_5)
    }

    @Test("timestamps are formatted in UTC with microseconds")
    func formatsTimestamps() {
        #expect(
            PostgresTimestamp.format(Date(timeIntervalSince1970: 1_704_164_645.123456))
                == "2024-01-02 03:04:05.123456+00")
        #expect(PostgresTimestamp.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31 23:59:59.500000+00")
    }

    @Test(
        "uuids in the server's form are read like Foundation reads them; anything else is refused or left to Foundation"
    )
    func readsUUIDs() throws {
        for _ in 0..<1000 {
            let uuid = UUID()
            #expect(try UUID(postgresText: uuid.uuidString.lowercased()) == uuid)
            #expect(UUID.parseCanonical(uuid.uuidString) == uuid)
        }
        for text in [
            "", "not-a-uuid", "0123456789ab-cdef-0123-4567-89abcdef0123", "01234567-89ab-cdef-0123-456789abcdeg",
            "01234567-89ab-cdef-0123-456789abcdef0", "01234567+89ab-cdef-0123-456789abcdef",
        ] {
            #expect(UUID.parseCanonical(text) == nil, "\(text)")
            #expect(throws: PostgresError.self) { try UUID(postgresText: text) }
        }
    }

    @Test("errors describe themselves without server messages")
    func errorDescription() {
        let error = PostgresError(
            code: .server,
            sqlState: .uniqueViolation,
            message: "duplicate key value violates unique constraint",
            detail: "Key (user_name)=(secret) already exists.",
            constraint: "users_user_name_key"
        )
        #expect(error.description == "PostgresError(server, sqlState: 23505, constraint: users_user_name_key)")
        #expect(!error.isTransient)
        #expect(PostgresError(code: .server, sqlState: .serializationFailure, message: "").isTransient)
        #expect(PostgresError(code: .connectionFailure, message: "").isTransient)
    }
}
