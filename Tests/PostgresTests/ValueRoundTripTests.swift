import Foundation
import Postgres
import Testing

/// Serialized: every case opens a client of its own, and the whole test run shares one server's
/// `max_connections`; these cases take milliseconds each.
@Suite("Values round trip through a real server, with prepared statements on and off", .serialized)
struct ValueRoundTripTests {
    @Test("scalars and NULLs round trip", arguments: preparedStatementModes)
    func scalarsAndNulls(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let missing: Int? = nil
            let rows = try await client.query(
                "SELECT \(42) AS i, \(Int32(-7)) AS i4, \(Int64.max) AS i8, \(1.5) AS d, \(true) AS b, \("x") AS s, \(missing)::int8 AS n"
            )
            let row = try #require(rows.first)
            #expect(try row.decode("i") == 42)
            #expect(try row.decode("i4", as: Int32.self) == -7)
            #expect(try row.decode("i8") == Int64.max)
            #expect(try row.decode("d") == 1.5)
            #expect(try row.decode("b") == true)
            #expect(try row.decode(5, as: String.self) == "x")
            #expect(try row.decode("n", as: Int?.self) == nil)
            #expect(row.columnNames == ["i", "i4", "i8", "d", "b", "s", "n"])
            #expect { try row.decode("n", as: Int.self) } throws: { error in
                let error = error as? PostgresError
                return error?.code == .decoding && error?.message.contains("column n") == true
            }
        }
    }

    @Test("results with as many columns under other names, or in another order, keep their own names")
    func columnSetsOnOneConnection() async throws {
        try await withClient(configure: { $0.maximumConnections = 1 }) { client in
            try await client.withConnection { connection in
                // More shapes than the connection remembers, twice over, so reuse and eviction both happen.
                let shapes = (0..<12).map { n in
                    n % 3 == 0 ? ["a\(n)", "b"] : n % 3 == 1 ? ["b", "a\(n)"] : ["a\(n)", "b", "c"]
                }
                for _ in 0..<2 {
                    for shape in shapes {
                        let select = shape.enumerated().map { "\($0.offset) AS \($0.element)" }.joined(separator: ", ")
                        let row = try #require(try connection.query("SELECT \(unsafeSQL: select)").first)
                        #expect(row.columnNames == shape)
                        for (index, name) in shape.enumerated() {
                            #expect(try row.decode(name, as: Int.self) == index)
                        }
                    }
                }
            }
        }
    }

    @Test(
        "unicode text (emoji, CJK, combining marks) is stored and read back unchanged",
        arguments: preparedStatementModes)
    func unicode(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            try await withTestSchema(client) { schema in
                let text = "😀 漢字 かな 한국어 é (e\u{301}) 👩‍👩‍👧"
                _ = try await client.query("CREATE TABLE \(schema).t (v text NOT NULL)")
                _ = try await client.query("INSERT INTO \(schema).t VALUES (\(text))")
                let rows = try await client.query("SELECT v, length(v) AS n FROM \(schema).t")
                #expect(try rows[0].decode("v") == text)
                #expect(try rows[0].decode("n") == text.unicodeScalars.count)
            }
        }
    }

    @Test("bytea round trips, zero bytes included", arguments: preparedStatementModes)
    func bytea(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            for bytes: [UInt8] in [[0, 1, 0, 255, 0], [], Array(0...255)] {
                let rows = try await client.query("SELECT \(bytes) AS v, octet_length(\(bytes)) AS n")
                #expect(try rows[0].decode("v", as: [UInt8].self) == bytes)
                #expect(try rows[0].decode("n") == bytes.count)
            }
        }
    }

    @Test("timestamptz keeps microseconds", arguments: preparedStatementModes)
    func timestamptz(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let date = Date(timeIntervalSince1970: 1_704_164_645.123456)
            let rows = try await client.query("SELECT \(date) AS v, to_char(\(date) AT TIME ZONE 'UTC', 'US') AS us")
            let back: Date = try rows[0].decode("v")
            #expect(abs(back.timeIntervalSince(date)) < 0.000_001)
            #expect(try rows[0].decode("us") == "123456")
            let offset = try await client.query("SELECT '2024-01-02 08:34:05.5+05:30'::timestamptz AS v")
            #expect(try offset[0].decode("v", as: Date.self) == Date(timeIntervalSince1970: 1_704_164_645.5))
        }
    }

    @Test("date columns decode as calendar dates", arguments: preparedStatementModes)
    func date(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let leapDay = PostgresDate(year: 2024, month: 2, day: 29)
            let rows = try await client.query("SELECT \(leapDay) AS v, \(leapDay) + 1 AS next")
            #expect(try rows[0].decode("v") == leapDay)
            #expect(try rows[0].decode("next", as: PostgresDate.self).description == "2024-03-01")
        }
    }

    @Test("jsonb is bound as jsonb and read back as JSON text", arguments: preparedStatementModes)
    func jsonb(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let json = PostgresJSONB(#"{"emails": [{"value": "a@example.com"}], "active": true}"#)
            let rows = try await client.query("SELECT \(json) AS v, \(json)->'emails'->0->>'value' AS email")
            let back = try rows[0].decode("v", as: PostgresJSONB.self)
            let object = try JSONSerialization.jsonObject(with: Data(back.json.utf8)) as? [String: Any]
            #expect(object?["active"] as? Bool == true)
            #expect(try rows[0].decode("email") == "a@example.com")
        }
    }

    @Test("uuids and uuid arrays round trip", arguments: preparedStatementModes)
    func uuids(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let ids = [UUID(), UUID()]
            let rows = try await client.query("SELECT \(ids[0]) AS v, \(ids) AS vs, \(ids[1]) = ANY(\(ids)) AS found")
            #expect(try rows[0].decode("v") == ids[0])
            #expect(try rows[0].decode("vs", as: [UUID].self) == ids)
            #expect(try rows[0].decode("found") == true)
            let many = (0..<1_000).map { _ in UUID() }
            let none: [UUID] = []
            let more = try await client.query(
                """
                SELECT \(many) AS vs, cardinality(\(none)) AS empty, array_lower(\(many), 1) AS lower,
                       (SELECT string_agg(id::text, ',' ORDER BY n)
                        FROM unnest(\(many)) WITH ORDINALITY AS t(id, n)) AS texts
                """)
            #expect(try more[0].decode("vs", as: [UUID].self) == many)
            #expect(try more[0].decode("empty") == 0)
            #expect(try more[0].decode("lower") == 1)
            #expect(try more[0].decode("texts") == many.map { $0.uuidString.lowercased() }.joined(separator: ","))
        }
    }

    @Test("text arrays round trip with awkward elements", arguments: preparedStatementModes)
    func textArrays(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let values = ["a", "b,c", "with \"quote\"", #"back\slash"#, "NULL", "", "{}", "😀"]
            let rows = try await client.query(
                "SELECT \(values) AS v, cardinality(\(values)) AS n, \(values)[5] IS NULL AS fifth_null")
            #expect(try rows[0].decode("v", as: [String].self) == values)
            #expect(try rows[0].decode("n") == values.count)
            #expect(try rows[0].decode("fifth_null") == false)
            let withNull = try await client.query("SELECT ARRAY['x', NULL] AS v")
            #expect { try withNull[0].decode("v", as: [String].self) } throws: {
                ($0 as? PostgresError)?.code == .decoding
            }
        }
    }

    @Test("a SQL injection attempt in a bind is stored literally", arguments: preparedStatementModes)
    func injectionIsInert(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            try await withTestSchema(client) { schema in
                let evil = "Robert'); DROP TABLE students; --"
                _ = try await client.query("CREATE TABLE \(schema).students (name text)")
                _ = try await client.query("INSERT INTO \(schema).students VALUES (\(evil))")
                let rows = try await client.query("SELECT name FROM \(schema).students WHERE name = \(evil)")
                #expect(rows.count == 1)
                #expect(try rows[0].decode("name") == evil)
            }
        }
    }

    @Test(
        "connections expose affected rows, multi-statement execute and identifier escaping",
        arguments: preparedStatementModes)
    func connectionBasics(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            try await withTestSchema(client) { schema in
                try await client.withConnection { connection in
                    try connection.execute(
                        unsafeSQL:
                            "CREATE TABLE \(schema.quoted).t (v int); INSERT INTO \(schema.quoted).t VALUES (1), (2), (3)"
                    )
                    let updated = try connection.query("UPDATE \(schema).t SET v = v + 1 WHERE v >= \(2)")
                    #expect(updated.affectedRows == 2)
                    #expect(updated.isEmpty)
                    #expect(try connection.escapeIdentifier(#"a"b"#) == #""a""b""#)
                }
            }
        }
    }

    @Test("more binds than the protocol allows are refused before sending", arguments: preparedStatementModes)
    func tooManyParameters(prepared: Bool) async throws {
        try await withClient(configure: preparing(prepared)) { client in
            let query = PostgresQuery(unsafeSQL: "SELECT 1", binds: Array(repeating: .null, count: 70_000))
            await #expect { try await client.query(query) } throws: {
                ($0 as? PostgresError)?.code == .tooManyParameters
            }
        }
    }
}
