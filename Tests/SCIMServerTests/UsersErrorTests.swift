import Foundation
import HTTPTypes
import SCIM
import Testing

private let ent = SchemaURN.enterpriseUser
private let learn = SchemaURN.learnAmpUser

/// A POST body member that makes the user invalid.
struct BadMember: Sendable, CustomTestStringConvertible {
    var name: String
    var key: String
    var value: JSONValue
    var testDescription: String { name }
}

@Suite("SCIM /Users: errors are SCIM error bodies with the right status and scimType, never a 500")
struct UsersErrorTests {
    @Test(
        "malformed JSON is 400 invalidSyntax on every write",
        arguments: ["{not json", "{\"userName\":", "[1,2", "nul", "{\"a\":1}}"])
    func malformedJSON(_ raw: String) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("badinput", client: client)
            let id = try await org.createUser(Users.email("syntax"))
            expectSCIMError(try await org.scim(.post, "/Users", raw: raw), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.put, "/Users/\(id)", raw: raw), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.patch, "/Users/\(id)", raw: raw), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.post, "/Users/.search", raw: raw), .badRequest, "invalidSyntax")
        }
    }

    @Test("bodies of the wrong shape are 400 invalidSyntax")
    func wrongShapes() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("shape"))
            expectSCIMError(try await org.scim(.post, "/Users", json: ["a", "b"]), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.post, "/Users", raw: ""), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.post, "/Users", json: "just a string"), .badRequest, "invalidSyntax")
            expectSCIMError(try await org.scim(.put, "/Users/\(id)", json: [1]), .badRequest, "invalidSyntax")
            expectSCIMError(
                try await org.scim(
                    .patch, "/Users/\(id)", json: ["Operations": [["op": "replace", "path": "title", "value": "x"]]]),
                .badRequest, "invalidSyntax")
            expectSCIMError(
                try await org.scim(.patch, "/Users/\(id)", json: Users.patch()), .badRequest, "invalidSyntax")
            expectSCIMError(
                try await org.scim(
                    .patch, "/Users/\(id)", json: ["schemas": [.string(SchemaURN.patchOp)], "Operations": "x"]),
                .badRequest, "invalidSyntax")
            expectSCIMError(
                try await org.scim(
                    .patch, "/Users/\(id)", json: ["schemas": [.string(SchemaURN.patchOp)], "Operations": [5]]),
                .badRequest, "invalidSyntax")
            // A userName given twice with different values (two spellings) is ambiguous.
            let twice = try await org.scim(
                .post, "/Users",
                json: ["schemas": [.string(SchemaURN.user)], "userName": "a@example.com", "USERNAME": "b@example.com"])
            expectSCIMError(twice, .badRequest)
            var deep: JSONValue = "x"
            for _ in 0..<100 { deep = ["a": deep] }
            let nested = try await org.scim(
                .post, "/Users",
                json: ["schemas": [.string(SchemaURN.user)], "userName": "deep@example.com", "title": deep])
            expectSCIMError(nested, .badRequest)
        }
    }

    @Test(
        "a value of the wrong type or format is 400 invalidValue on POST and PUT",
        arguments: [
            BadMember(name: "userName number", key: "userName", value: 5),
            BadMember(name: "userName empty", key: "userName", value: "  "),
            BadMember(name: "userName null", key: "userName", value: nil),
            BadMember(name: "active string", key: "active", value: "yes"),
            BadMember(name: "active number", key: "active", value: 1),
            BadMember(name: "title number", key: "title", value: 5),
            BadMember(name: "displayName bool", key: "displayName", value: true),
            BadMember(name: "name string", key: "name", value: "Ada"),
            BadMember(name: "givenName array", key: "name", value: ["givenName": ["Ada"]]),
            BadMember(name: "emails number", key: "emails", value: 5),
            BadMember(
                name: "email primary string", key: "emails", value: [["value": "a@example.com", "primary": "yes"]]),
            BadMember(
                name: "two primary emails", key: "emails",
                value: [["value": "a@example.com", "primary": true], ["value": "b@example.com", "primary": true]]),
            BadMember(name: "timezone not IANA", key: "timezone", value: "Mars/Olympus_Mons"),
            BadMember(name: "timezone offset", key: "timezone", value: "GMT+01:00"),
            BadMember(name: "timezone abbreviation", key: "timezone", value: "BST"),
            BadMember(name: "timezone number", key: "timezone", value: 1),
            BadMember(name: "enterprise not object", key: ent, value: "Engineering"),
            BadMember(name: "department number", key: ent, value: ["department": 5]),
            BadMember(name: "manager number", key: ent, value: ["manager": 5]),
            BadMember(name: "hireDate impossible", key: learn, value: ["hireDate": "2023-02-29"]),
            BadMember(name: "hireDate month 13", key: learn, value: ["hireDate": "2024-13-01"]),
            BadMember(name: "hireDate words", key: learn, value: ["hireDate": "yesterday"]),
            BadMember(name: "hireDate US format", key: learn, value: ["hireDate": "02/01/2024"]),
            BadMember(name: "hireDate number", key: learn, value: ["hireDate": 20_240_101]),
        ])
    func wrongTypes(_ bad: BadMember) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("badinput", client: client)
            let email = Users.email("typed")
            var body = Users.body(email).objectValue!
            body[bad.key] = bad.value
            expectSCIMError(try await org.scim(.post, "/Users", json: .object(body)), .badRequest, "invalidValue")
            #expect(try await org.filter("userName eq \"\(email)\"")["totalResults"] == 0)
            let id = try await org.createUser(email)
            expectSCIMError(try await org.scim(.put, "/Users/\(id)", json: .object(body)), .badRequest, "invalidValue")
        }
    }

    @Test("valid edge values are accepted: UTC, any-case IANA zones, leap days, midnight timestamps for dates")
    func validEdges() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let one = try await org.scim(
                .post, "/Users",
                json: Users.body(Users.email("utc"), extra: ["timezone": "UTC", learn: ["hireDate": "2024-02-29"]]))
            #expect(one.status == .created, "\(one.text)")
            #expect(one["timezone"] == "UTC")
            let two = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    Users.email("ny"),
                    extra: ["timezone": "america/new_york", learn: ["hireDate": "2024-03-01T00:00:00Z"]]))
            #expect(two.status == .created, "\(two.text)")
            #expect(two["timezone"] == "America/New_York")
            #expect(two.json?.at(learn, "hireDate") == "2024-03-01")
        }
    }

    @Test("an unknown id or a non-UUID id is 404 on every verb")
    func unknownIDs() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("exists")
            _ = try await org.createUser(email)
            for id in [UUID().uuidString.lowercased(), "not-a-uuid", "12345", "%27%20OR%20%271%27%3D%271"] {
                expectSCIMError(try await org.scim(.get, "/Users/\(id)"), .notFound)
                expectSCIMError(try await org.scim(.put, "/Users/\(id)", json: Users.body(email)), .notFound)
                expectSCIMError(
                    try await org.patchUser(id, ["op": "replace", "path": "title", "value": "x"]), .notFound)
                expectSCIMError(try await org.scim(.delete, "/Users/\(id)"), .notFound)
            }
        }
    }

    @Test("a content type other than application/scim+json or application/json is 415")
    func unsupportedMediaType() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("media"))
            let body = String(decoding: Users.body(Users.email("xml")).serialized(), as: UTF8.self)
            for contentType in ["text/plain", "application/xml", "application/x-www-form-urlencoded"] {
                let headers: HTTPFields = [.contentType: contentType]
                expectSCIMError(try await org.scim(.post, "/Users", raw: body, headers: headers), .unsupportedMediaType)
                expectSCIMError(
                    try await org.scim(.put, "/Users/\(id)", raw: body, headers: headers), .unsupportedMediaType)
                expectSCIMError(
                    try await org.scim(
                        .patch, "/Users/\(id)", raw: #"{"schemas":["\#(SchemaURN.patchOp)"],"Operations":[]}"#,
                        headers: headers),
                    .unsupportedMediaType)
            }
            let json = try await org.scim(
                .post, "/Users", raw: body, headers: [.contentType: "application/json; charset=utf-8"])
            #expect(json.status == .created, "application/json is accepted: \(json.text)")
        }
    }

    @Test("a body over 1 MiB is 413")
    func payloadTooLarge() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("large"))
            let big = "{\"userName\":\"big@example.com\",\"title\":\"\(String(repeating: "x", count: 1_100_000))\"}"
            // A streamed body over the limit (NIOTooManyBytesError) must be a 413 too, never a 500.
            expectSCIMError(try await org.scim(.post, "/Users", raw: big), .contentTooLarge)
            expectSCIMError(try await org.scim(.put, "/Users/\(id)", raw: big), .contentTooLarge)
            expectSCIMError(try await org.scim(.patch, "/Users/\(id)", raw: big), .contentTooLarge)
            expectSCIMError(try await org.scim(.post, "/Users/.search", raw: big), .contentTooLarge)
            #expect(try await org.filter("userName eq \"big@example.com\"")["totalResults"] == 0)
        }
    }
}
