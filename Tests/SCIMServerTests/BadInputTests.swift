import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import SCIM
import Testing

/// One malformed request and the answer it must get.
///
/// Paths may name `{user}`, `{group}` (a user and a group of the test organisation), `{slug}` and
/// `{token}` (the organisation and its SCIM token's id); they are filled in when the row runs.
struct BadInput: Sendable, CustomStringConvertible {
    enum Body: Sendable {
        case none
        case json(JSONValue)
        case raw(String)
        case bytes([UInt8])
    }

    /// What the row must get back: a SCIM error (status, scimType) under `/scim/v2`, an admin error
    /// (status, `error` code) under `/admin/v1`, or, for SQL-looking filter values that are perfectly
    /// valid filters, an empty 200 list: the value is data, never SQL.
    enum Expected: Sendable {
        case scim(Int, String?)
        case admin(Int, String?)
        case noMatches
    }

    enum Auth: Sendable {
        case organisation
        case staff
        case header(String?)
    }

    var name: String
    var method: HTTPRequest.Method
    var path: String
    var body: Body = .none
    var contentType: String?
    var auth: Auth
    var extraHeaders: [String: String] = [:]
    var expected: Expected

    var description: String { "\(method) \(path) — \(name)" }

    static func scim(
        _ name: String, _ method: HTTPRequest.Method, _ path: String, _ body: Body = .none,
        contentType: String? = "application/scim+json",
        headers: [String: String] = [:], auth: Auth = .organisation, expect status: Int, _ scimType: String? = nil
    ) -> BadInput {
        BadInput(
            name: name, method: method, path: "/scim/v2" + path, body: body, contentType: contentType, auth: auth,
            extraHeaders: headers,
            expected: .scim(status, scimType))
    }

    static func noMatches(_ name: String, _ path: String, _ body: Body = .none) -> BadInput {
        BadInput(
            name: name, method: body.isNone ? .get : .post, path: "/scim/v2" + path, body: body,
            contentType: "application/scim+json",
            auth: .organisation, expected: .noMatches)
    }

    static func admin(
        _ name: String, _ method: HTTPRequest.Method, _ path: String, _ body: Body = .none,
        contentType: String? = "application/json",
        auth: Auth = .staff, expect status: Int, _ code: String? = nil
    ) -> BadInput {
        BadInput(
            name: name, method: method, path: "/admin/v1" + path, body: body, contentType: contentType, auth: auth,
            expected: .admin(status, code))
    }
}

extension BadInput.Body {
    var isNone: Bool { if case .none = self { true } else { false } }
}

/// Test inputs, built once.
enum Hostile {
    static let patchOp: JSONValue = [.string(SchemaURN.patchOp)]
    static let userSchemas: JSONValue = [.string(SchemaURN.user)]
    static let groupSchemas: JSONValue = [.string(SchemaURN.group)]

    /// Deterministic letters that do not compress, so size limits cannot be dodged by TOAST.
    static func noise(_ count: Int, seed: UInt64 = 7) -> String {
        var state = seed
        var scalars = String.UnicodeScalarView()
        for _ in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            scalars.append(Unicode.Scalar(UInt8(ascii: "a") + UInt8((state >> 33) % 26)))
        }
        return String(scalars)
    }

    static let hundredKB = noise(100_000)
    static let twoMB = "{\"userName\":\"" + String(repeating: "x", count: 2 * 1_048_576) + "\"}"
    /// Over the /Groups body limit (16 MiB), which is larger than other routes' (1 MiB).
    static let seventeenMB = "{\"displayName\":\"" + String(repeating: "x", count: 17 * 1_048_576) + "\"}"
    static let deepJSON = String(repeating: "{\"a\":", count: 40) + "1" + String(repeating: "}", count: 40)
    static let deepFilter = String(repeating: "(", count: 200) + "userName pr" + String(repeating: ")", count: 200)
    static let longFilter = "userName eq \"" + String(repeating: "a", count: 5_000) + "\""
    static let wideFilter = (0..<150).map { "userName eq \"u\($0)@x.com\"" }.joined(separator: " or ")

    static func user(_ userName: JSONValue, extra: [String: JSONValue] = [:]) -> BadInput.Body {
        var body: [String: JSONValue] = ["schemas": userSchemas, "userName": userName]
        for (key, value) in extra { body[key] = value }
        return .json(.object(body))
    }

    /// A `SearchRequest` body with its schema and `members`.
    static func search(_ members: [String: JSONValue]) -> BadInput.Body {
        var body = members
        body["schemas"] = [.string(SchemaURN.searchRequest)]
        return .json(.object(body))
    }

    static func patch(_ operations: JSONValue) -> BadInput.Body {
        .json(["schemas": patchOp, "Operations": operations])
    }

    static func operations(_ count: Int) -> JSONValue {
        .array((0..<count).map { _ in ["op": "replace", "path": "title", "value": "T"] })
    }

    /// Members naming one short id: a cheap body over the per-request member limit.
    static func manyMembers(_ count: Int) -> JSONValue {
        .array(Array(repeating: ["value": "0"], count: count))
    }

    static func encoded(_ text: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }

    static func filter(_ text: String) -> String { "filter=" + encoded(text) }
}

extension BadInput {
    /// The table: every row is a request a client could send by mistake or malice.
    static let rows: [BadInput] = scimUsers + scimSchemas + scimFilters + scimGroups + scimOther + adminRows

    static let scimUsers: [BadInput] = [
        // Broken JSON and wrong shapes
        .scim("truncated JSON", .post, "/Users", .raw(#"{"userName":"#), expect: 400, "invalidSyntax"),
        .scim("not JSON", .post, "/Users", .raw("userName=jane"), expect: 400, "invalidSyntax"),
        .scim("empty body", .post, "/Users", .raw(""), expect: 400, "invalidSyntax"),
        .scim("trailing garbage", .post, "/Users", .raw(#"{"userName":"a@b.c"} x"#), expect: 400, "invalidSyntax"),
        .scim("single quotes", .post, "/Users", .raw("{'userName':'a@b.c'}"), expect: 400, "invalidSyntax"),
        .scim("JSON array", .post, "/Users", .raw("[]"), expect: 400, "invalidSyntax"),
        .scim("JSON string", .post, "/Users", .raw(#""jane""#), expect: 400, "invalidSyntax"),
        .scim("JSON null", .post, "/Users", .raw("null"), expect: 400, "invalidSyntax"),
        .scim("nesting deeper than 32", .post, "/Users", .raw(deepJSONUser), expect: 400, "invalidSyntax"),
        // RFC 8259 §4: a name twice in one object has no defined meaning.
        .scim(
            "duplicate member name", .post, "/Users",
            .raw(#"{"schemas":["\#(SchemaURN.user)"],"userName":"d1@acme.com","userName":"d2@acme.com"}"#), expect: 400,
            "invalidSyntax"),
        .scim(
            "duplicate name in an email", .post, "/Users",
            .raw(
                #"{"schemas":["\#(SchemaURN.user)"],"userName":"d3@acme.com","emails":[{"value":"d3@acme.com","value":"x@y.z"}]}"#
            ),
            expect: 400, "invalidSyntax"),
        .scim(
            "PATCH duplicate op", .patch, "/Users/{user}",
            .raw(
                #"{"schemas":["\#(SchemaURN.patchOp)"],"Operations":[{"op":"remove","op":"add","path":"title","value":"x"}]}"#
            ),
            expect: 400, "invalidSyntax"),
        .scim(
            "NaN literal", .post, "/Users", .raw(#"{"userName":"a@b.c","active":NaN}"#), expect: 400, "invalidSyntax"),
        // Invalid UTF-8
        .scim(
            "invalid UTF-8 byte", .post, "/Users",
            .bytes(Array(#"{"userName":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)),
            expect: 400, "invalidSyntax"),
        .scim(
            "overlong UTF-8", .post, "/Users",
            .bytes(Array(#"{"userName":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8)),
            expect: 400, "invalidSyntax"),
        .scim(
            "truncated UTF-8 sequence", .post, "/Users",
            .bytes(Array(#"{"userName":"a"#.utf8) + [0xE2, 0x82] + Array(#""}"#.utf8)),
            expect: 400, "invalidSyntax"),
        .scim(
            "binary garbage", .post, "/Users", .bytes([0x00, 0x01, 0x02, 0xFF, 0x7B, 0x80]), expect: 400,
            "invalidSyntax"),
        // Wrong types and missing values
        .scim("userName is a number", .post, "/Users", Hostile.user(5), expect: 400, "invalidValue"),
        .scim("userName is an object", .post, "/Users", Hostile.user(["value": "a@b.c"]), expect: 400, "invalidValue"),
        .scim(
            "userName missing", .post, "/Users", .json(["schemas": Hostile.userSchemas, "active": true]), expect: 400,
            "invalidValue"),
        .scim("userName empty", .post, "/Users", Hostile.user(""), expect: 400, "invalidValue"),
        .scim(
            "userName of 100 KB", .post, "/Users", Hostile.user(.string(Hostile.hundredKB + "@acme.com")), expect: 400,
            "invalidValue"),
        .scim("userName with NUL", .post, "/Users", Hostile.user("nul\u{0}@acme.com"), expect: 400, "invalidValue"),
        .scim(
            "active is a word", .post, "/Users", Hostile.user("w1@acme.com", extra: ["active": "maybe"]), expect: 400,
            "invalidValue"),
        .scim(
            "emails is a number", .post, "/Users", Hostile.user("w2@acme.com", extra: ["emails": 7]), expect: 400,
            "invalidValue"),
        // RFC 7643 §2.3: a value of the wrong type is an error, never coerced.
        .scim(
            "emails is a string", .post, "/Users", Hostile.user("t1@acme.com", extra: ["emails": "t1@acme.com"]),
            expect: 400, "invalidValue"),
        .scim(
            "PUT emails is a string", .put, "/Users/{user}",
            Hostile.user(.string(BadInputTests.userName), extra: ["emails": .string(BadInputTests.userName)]),
            expect: 400, "invalidValue"),
        .scim(
            "an email is a string", .post, "/Users", Hostile.user("t2@acme.com", extra: ["emails": ["t2@acme.com"]]),
            expect: 400, "invalidValue"),
        // Every email is an address; a user without an email logs in with its userName, which must be one.
        .scim(
            "email without @", .post, "/Users",
            Hostile.user("e1@acme.com", extra: ["emails": [["value": "e1.acme.com", "primary": true]]]),
            expect: 400, "invalidValue"),
        .scim(
            "email with two @", .post, "/Users",
            Hostile.user("e2@acme.com", extra: ["emails": [["value": "e2@x@acme.com"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "email without local part", .post, "/Users",
            Hostile.user("e3@acme.com", extra: ["emails": [["value": "@acme.com"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "email without domain", .post, "/Users", Hostile.user("e4@acme.com", extra: ["emails": [["value": "e4@"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "51 emails", .post, "/Users",
            Hostile.user(
                "e9@acme.com",
                extra: ["emails": .array((0...User.maximumEmails).map { ["value": .string("e9.\($0)@acme.com")] })]),
            expect: 400, "invalidValue"),
        .scim(
            "email with a space", .post, "/Users",
            Hostile.user("e5@acme.com", extra: ["emails": [["value": "e 5@acme.com"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "email with a tab", .post, "/Users",
            Hostile.user("e6@acme.com", extra: ["emails": [["value": "e6@acme.com\t"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "email with a control character", .post, "/Users",
            Hostile.user("e7@acme.com", extra: ["emails": [["value": "e\u{7}7@acme.com"]]]), expect: 400, "invalidValue"
        ),
        .scim(
            "email of 255 characters", .post, "/Users",
            Hostile.user(
                "e8@acme.com", extra: ["emails": [["value": .string(String(repeating: "e", count: 246) + "@acme.com")]]]
            ),
            expect: 400, "invalidValue"),
        .scim(
            "second email invalid", .post, "/Users",
            Hostile.user(
                "e9@acme.com", extra: ["emails": [["value": "e9@acme.com", "primary": true], ["value": "home"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "no email, userName not an address", .post, "/Users", Hostile.user("no-login-email"), expect: 400,
            "invalidValue"),
        .scim(
            "PATCH email invalid", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "emails[primary eq true].value", "value": "not an email"]]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH removes the only email, userName not an address", .patch, "/Users/{user}",
            Hostile.patch([
                ["op": "replace", "path": "userName", "value": "plain-name"], ["op": "remove", "path": "emails"],
            ]),
            expect: 400, "invalidValue"),
        .scim(
            "title is a number", .post, "/Users", Hostile.user("t3@acme.com", extra: ["title": 7]), expect: 400,
            "invalidValue"),
        .scim(
            "title is an object", .post, "/Users", Hostile.user("t4@acme.com", extra: ["title": ["value": "Boss"]]),
            expect: 400, "invalidValue"),
        .scim(
            "givenName is an array", .post, "/Users",
            Hostile.user("t5@acme.com", extra: ["name": ["givenName": ["Ada"]]]),
            expect: 400, "invalidValue"),
        .scim(
            "externalId is a number", .post, "/Users", Hostile.user("t6@acme.com", extra: ["externalId": 42]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH emails to a string", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "emails", "value": "x@acme.com"]]), expect: 400, "invalidValue"),
        .scim(
            "PATCH path-less emails a string", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "value": ["emails": "x@acme.com"]]]), expect: 400, "invalidValue"),
        .scim(
            "PATCH title to a number", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "title", "value": 5]]),
            expect: 400, "invalidValue"),
        .scim(
            "name is a number", .post, "/Users", Hostile.user("w3@acme.com", extra: ["name": 5]), expect: 400,
            "invalidValue"),
        .scim(
            "two primary emails", .post, "/Users",
            Hostile.user(
                "w4@acme.com",
                extra: ["emails": [["value": "a@x.com", "primary": true], ["value": "b@x.com", "primary": true]]]),
            expect: 400, "invalidValue"),
        .scim(
            "department is a number", .post, "/Users",
            Hostile.user("w5@acme.com", extra: [SchemaURN.enterpriseUser: ["department": 5]]), expect: 400,
            "invalidValue"),
        .scim(
            "externalId of 100 KB", .post, "/Users",
            Hostile.user("w6@acme.com", extra: ["externalId": .string(Hostile.hundredKB)]),
            expect: 400, "invalidValue"),
        .scim(
            "email of 100 KB", .post, "/Users",
            Hostile.user("w7@acme.com", extra: ["emails": [["value": .string(Hostile.hundredKB), "primary": true]]]),
            expect: 400, "invalidValue"),
        .scim(
            "manager of 100 KB", .post, "/Users",
            Hostile.user(
                "w8@acme.com", extra: [SchemaURN.enterpriseUser: ["manager": ["value": .string(Hostile.hundredKB)]]]),
            expect: 400, "invalidValue"),
        .scim(
            "NUL in a member name", .post, "/Users", .raw(#"{"userName":"w9@acme.com","ti\u0000tle":"x"}"#),
            expect: 400, "invalidValue"),
        .scim(
            "duplicate userName", .post, "/Users", Hostile.user(.string(BadInputTests.userName)), expect: 409,
            "uniqueness"),
        .scim(
            "duplicate userName, other case", .post, "/Users",
            Hostile.user(.string(BadInputTests.userName.uppercased())),
            expect: 409, "uniqueness"),
        .scim(
            "email of another user", .post, "/Users",
            Hostile.user(
                "fresh-login@acme.com",
                extra: ["emails": [["value": .string(BadInputTests.userName), "primary": true]]]),
            expect: 409, "uniqueness"),
        // Content types and sizes
        .scim("text/plain", .post, "/Users", Hostile.user("ct1@acme.com"), contentType: "text/plain", expect: 415),
        .scim("application/xml", .post, "/Users", .raw("<user/>"), contentType: "application/xml", expect: 415),
        .scim(
            "form encoded", .post, "/Users", .raw("userName=x"), contentType: "application/x-www-form-urlencoded",
            expect: 415),
        .scim("2 MB body", .post, "/Users", .raw(Hostile.twoMB), expect: 413),
        // By id
        .scim("GET non-UUID id", .get, "/Users/not-a-uuid", expect: 404),
        .scim("GET unknown UUID", .get, "/Users/\(UUID().uuidString)", expect: 404),
        .scim("GET SQL-looking id", .get, "/Users/" + Hostile.encoded("' OR '1'='1"), expect: 404),
        .scim("GET 5,000-char id", .get, "/Users/" + String(repeating: "a", count: 5_000), expect: 404),
        .scim("GET id with NUL", .get, "/Users/%00", expect: 404),
        .scim("PUT unknown UUID", .put, "/Users/\(UUID().uuidString)", Hostile.user("ghost@acme.com"), expect: 404),
        .scim(
            "PUT id mismatch", .put, "/Users/{user}",
            Hostile.user(.string(BadInputTests.userName), extra: ["id": .string(UUID().uuidString)]), expect: 400,
            "mutability"),
        .scim("PUT broken JSON", .put, "/Users/{user}", .raw("{"), expect: 400, "invalidSyntax"),
        .scim(
            "PUT without userName", .put, "/Users/{user}", .json(["schemas": Hostile.userSchemas]), expect: 400,
            "invalidValue"),
        .scim(
            "PUT stale If-Match", .put, "/Users/{user}", Hostile.user(.string(BadInputTests.userName)),
            headers: ["If-Match": "W/\"999\""],
            expect: 412),
        .scim(
            "PUT text/plain", .put, "/Users/{user}", Hostile.user(.string(BadInputTests.userName)),
            contentType: "text/plain",
            expect: 415),
        .scim("PUT 2 MB", .put, "/Users/{user}", .raw(Hostile.twoMB), expect: 413),
        .scim("DELETE non-UUID id", .delete, "/Users/x", expect: 404),
        .scim("DELETE unknown UUID", .delete, "/Users/\(UUID().uuidString)", expect: 404),
        .scim("DELETE stale If-Match", .delete, "/Users/{user}", headers: ["If-Match": "W/\"999\""], expect: 412),
        // PATCH
        .scim(
            "PATCH without schemas", .patch, "/Users/{user}",
            .json(["Operations": [["op": "remove", "path": "title"]]]),
            expect: 400, "invalidSyntax"),
        .scim("PATCH with no operations", .patch, "/Users/{user}", Hostile.patch([]), expect: 400, "invalidSyntax"),
        .scim(
            "PATCH Operations is an object", .patch, "/Users/{user}", Hostile.patch(["op": "add"]), expect: 400,
            "invalidSyntax"),
        .scim(
            "PATCH with an unknown schema", .patch, "/Users/{user}",
            .json(["schemas": ["urn:example:unknown:2.0:Thing"], "Operations": [["op": "remove", "path": "title"]]]),
            expect: 400, "invalidSyntax"),
        .scim(
            "PATCH path in an unknown schema", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "urn:example:unknown:2.0:Thing:title", "value": "x"]]),
            expect: 400, "invalidPath"),
        .scim(
            "PATCH op move", .patch, "/Users/{user}", Hostile.patch([["op": "move", "path": "title"]]), expect: 400,
            "invalidSyntax"),
        .scim(
            "PATCH op missing", .patch, "/Users/{user}", Hostile.patch([["path": "title", "value": "x"]]), expect: 400,
            "invalidSyntax"),
        .scim(
            "PATCH operation is a string", .patch, "/Users/{user}", Hostile.patch(["replace"]), expect: 400,
            "invalidSyntax"),
        .scim(
            "PATCH unclosed filter path", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "emails[", "value": "x"]]),
            expect: 400, "invalidPath"),
        .scim(
            "PATCH path is a number", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": 5, "value": "x"]]),
            expect: 400, "invalidPath"),
        .scim(
            "PATCH unknown attribute", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "favouriteColour", "value": "x"]]),
            expect: 400, "invalidPath"),
        .scim(
            "PATCH add without value", .patch, "/Users/{user}", Hostile.patch([["op": "add", "path": "title"]]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH active is a word", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "active", "value": "maybe"]]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH remove without path", .patch, "/Users/{user}", Hostile.patch([["op": "remove"]]), expect: 400,
            "noTarget"),
        .scim(
            "PATCH filter matches nothing", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "emails[type eq \"fax\"].value", "value": "x@y.z"]]), expect: 400,
            "noTarget"),
        .scim(
            "PATCH id", .patch, "/Users/{user}", Hostile.patch([["op": "replace", "path": "id", "value": "x"]]),
            expect: 400, "mutability"),
        .scim(
            "PATCH path-less value with another id", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "value": ["id": .string(UUID().uuidString), "title": "Changed"]]]),
            expect: 400, "mutability"),
        .scim(
            "PATCH path-less value with another id and meta", .patch, "/Users/{user}",
            Hostile.patch([
                ["op": "replace", "value": ["id": "{group}", "meta": ["version": "W/\"1\""], "active": false]]
            ]),
            expect: 400, "mutability"),
        .scim(
            "Groups PATCH path-less value with another id", .patch, "/Groups/{group}",
            Hostile.patch([["op": "replace", "value": ["id": .string(UUID().uuidString), "displayName": "Renamed"]]]),
            expect: 400, "mutability"),
        .scim(
            "PATCH remove userName", .patch, "/Users/{user}", Hostile.patch([["op": "remove", "path": "userName"]]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH userName of 100 KB", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "userName", "value": .string(Hostile.hundredKB)]]), expect: 400,
            "invalidValue"),
        .scim(
            "PATCH title with NUL", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "title", "value": "a\u{0}b"]]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH 2,000 operations", .patch, "/Users/{user}", Hostile.patch(Hostile.operations(2_000)), expect: 400,
            "tooMany"),
        .scim(
            "PATCH 1,001 operations", .patch, "/Users/{user}", Hostile.patch(Hostile.operations(1_001)), expect: 400,
            "tooMany"),
        .scim(
            "PATCH valid ops then a bad one", .patch, "/Users/{user}",
            Hostile.patch([
                ["op": "replace", "path": "title", "value": "Changed"],
                ["op": "replace", "path": "active", "value": []],
            ]),
            expect: 400, "invalidValue"),
        .scim(
            "PATCH stale If-Match", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "title", "value": "x"]]),
            headers: ["If-Match": "W/\"999\""], expect: 412),
        .scim(
            "PATCH unknown UUID", .patch, "/Users/\(UUID().uuidString)",
            Hostile.patch([["op": "remove", "path": "title"]]), expect: 404),
        .scim(
            "PATCH text/plain", .patch, "/Users/{user}", Hostile.patch([["op": "remove", "path": "title"]]),
            contentType: "text/plain",
            expect: 415),
        .scim(
            "PATCH invalid UTF-8", .patch, "/Users/{user}",
            .bytes(Array(#"{"schemas":[""#.utf8) + [0xFF] + Array(#""]}"#.utf8)),
            expect: 400, "invalidSyntax"),
    ]

    /// RFC 7643 §3, RFC 7644 §3.4.3 and §3.5.2: every body names its schema. Missing, a bare string,
    /// an empty list or a list without the core schema is refused before anything is written.
    static let scimSchemas: [BadInput] = {
        let user: [String: JSONValue] = ["userName": "schemaless@acme.com", "active": true]
        let group: [String: JSONValue] = ["displayName": "Schemaless"]
        let shapes: [(String, JSONValue?)] = [
            ("without schemas", nil), ("schemas a string", .string(SchemaURN.user)), ("schemas empty", []),
            ("schemas only an extension", [.string(SchemaURN.enterpriseUser)]),
        ]
        var rows: [BadInput] = []
        for (label, schemas) in shapes {
            func body(_ members: [String: JSONValue], core: String) -> BadInput.Body {
                var members = members
                // The string shape names the resource's own core schema, so only its type is wrong.
                if case .string = schemas { members["schemas"] = .string(core) } else { members["schemas"] = schemas }
                return .json(.object(members))
            }
            let userBody = body(user, core: SchemaURN.user)
            let putUser = body(["userName": .string(BadInputTests.userName), "title": "Changed"], core: SchemaURN.user)
            let groupBody = body(group, core: SchemaURN.group)
            let putGroup = body(
                ["displayName": .string(BadInputTests.groupName), "members": []], core: SchemaURN.group)
            rows += [
                .scim("POST Users \(label)", .post, "/Users", userBody, expect: 400, "invalidValue"),
                .scim("PUT Users \(label)", .put, "/Users/{user}", putUser, expect: 400, "invalidValue"),
                .scim("POST Groups \(label)", .post, "/Groups", groupBody, expect: 400, "invalidValue"),
                .scim("PUT Groups \(label)", .put, "/Groups/{group}", putGroup, expect: 400, "invalidValue"),
            ]
        }
        rows += [
            .scim(
                ".search without schemas", .post, "/Users/.search", .json(["filter": "userName pr"]), expect: 400,
                "invalidValue"),
            .scim(
                ".search schemas a string", .post, "/Users/.search",
                .json(["schemas": .string(SchemaURN.searchRequest), "filter": "userName pr"]), expect: 400,
                "invalidValue"),
            .scim(
                ".search schemas empty", .post, "/Groups/.search", .json(["schemas": [], "filter": "displayName pr"]),
                expect: 400, "invalidValue"),
            .scim(
                ".search names the User schema", .post, "/Users/.search", .json(["schemas": Hostile.userSchemas]),
                expect: 400, "invalidValue"),
            .scim(
                "PATCH schemas a string", .patch, "/Users/{user}",
                .json([
                    "schemas": .string(SchemaURN.patchOp),
                    "Operations": [["op": "replace", "path": "title", "value": "x"]],
                ]),
                expect: 400, "invalidSyntax"),
            .scim(
                "PATCH schemas empty", .patch, "/Groups/{group}",
                .json(["schemas": [], "Operations": [["op": "replace", "path": "displayName", "value": "x"]]]),
                expect: 400, "invalidSyntax"),
        ]
        return rows
    }()

    static let deepJSONUser =
        "{\"schemas\":[\"\(SchemaURN.user)\"],\"userName\":\"deep@acme.com\",\"x\":\(Hostile.deepJSON)}"

    static let scimFilters: [BadInput] = [
        .scim("filter without value", .get, "/Users?" + Hostile.filter("userName eq"), expect: 400, "invalidFilter"),
        .scim(
            "filter unterminated string", .get, "/Users?" + Hostile.filter("userName eq \"x"), expect: 400,
            "invalidFilter"),
        .scim(
            "filter unknown operator", .get, "/Users?" + Hostile.filter("userName like \"x\""), expect: 400,
            "invalidFilter"),
        .scim(
            "filter unknown attribute", .get, "/Users?" + Hostile.filter("favouriteColour eq \"red\""), expect: 400,
            "invalidFilter"),
        .scim(
            "filter nested 200 deep", .get, "/Users?" + Hostile.filter(Hostile.deepFilter), expect: 400, "invalidFilter"
        ),
        .scim(
            "filter value with an encoded NUL", .get, "/Users?filter=userName%20eq%20%22a%00b%22", expect: 400,
            "invalidValue"),
        .scim("attributes with an encoded NUL", .get, "/Users/{user}?attributes=title%00", expect: 400, "invalidValue"),
        .scim(
            "filter of 5,000 chars", .get, "/Users?" + Hostile.filter(Hostile.longFilter), expect: 400, "invalidFilter"),
        .scim(
            "filter of 150 terms", .get, "/Users?" + Hostile.filter(Hostile.wideFilter), expect: 400, "invalidFilter"),
        .scim(
            "filter with SQL after the value", .get,
            "/Users?" + Hostile.filter("userName eq \"x\"; DROP TABLE users; --"),
            expect: 400, "invalidFilter"),
        .scim(
            "filter with unquoted SQL", .get, "/Users?" + Hostile.filter("userName eq x' OR '1'='1"), expect: 400,
            "invalidFilter"),
        .scim(
            "filter unclosed bracket", .get, "/Users?" + Hostile.filter("emails[type eq \"work\""), expect: 400,
            "invalidFilter"),
        .scim(
            "filter bad date", .get, "/Users?" + Hostile.filter("meta.lastModified gt \"yesterday\""), expect: 400,
            "invalidFilter"),
        .scim(
            "filter bad escape", .get, "/Users?" + Hostile.filter("userName eq \"\\uZZZZ\""), expect: 400,
            "invalidFilter"),
        .scim("filter only parentheses", .get, "/Users?" + Hostile.filter("()"), expect: 400, "invalidFilter"),
        .scim("filter dangling and", .get, "/Users?" + Hostile.filter("userName pr and"), expect: 400, "invalidFilter"),
        .scim(
            "filter on Groups, unknown attribute", .get, "/Groups?" + Hostile.filter("userName eq \"x\""), expect: 400,
            "invalidFilter"),
        .scim(
            "filter on Groups, 5,000 chars", .get,
            "/Groups?" + Hostile.filter(Hostile.longFilter.replacingOccurrences(of: "userName", with: "displayName")),
            expect: 400, "invalidFilter"),
        .scim("count=abc", .get, "/Users?count=abc", expect: 400, "invalidValue"),
        .scim("count beyond Int", .get, "/Users?count=99999999999999999999999", expect: 400, "invalidValue"),
        .scim("startIndex=Int64.max", .get, "/Users?startIndex=9223372036854775807", expect: 400, "invalidValue"),
        .scim("startIndex beyond 2^53 - 1", .get, "/Groups?startIndex=9007199254740992", expect: 400, "invalidValue"),
        .scim("count=1.5", .get, "/Users?count=1.5", expect: 400, "invalidValue"),
        .scim("startIndex=abc", .get, "/Users?startIndex=abc", expect: 400, "invalidValue"),
        .scim("sortOrder=sideways", .get, "/Users?sortOrder=sideways", expect: 400),
        .scim("sortBy unparseable", .get, "/Users?sortBy=" + Hostile.encoded("emails[["), expect: 400, "invalidPath"),
        .scim("cursor garbage", .get, "/Users?cursor=" + Hostile.encoded("' OR 1=1 --"), expect: 400, "invalidCursor"),
        .scim("cursor with startIndex", .get, "/Users?cursor=&startIndex=2", expect: 400),
        .scim("Groups count=abc", .get, "/Groups?count=abc", expect: 400, "invalidValue"),
        .scim("Groups sortOrder=sideways", .get, "/Groups?sortOrder=sideways", expect: 400),
        .scim(".search body is an array", .post, "/Users/.search", .raw("[]"), expect: 400, "invalidSyntax"),
        .scim(
            ".search filter is a number", .post, "/Users/.search", Hostile.search(["filter": 5]), expect: 400,
            "invalidFilter"),
        .scim(
            ".search broken filter", .post, "/Users/.search", Hostile.search(["filter": "userName eq"]), expect: 400,
            "invalidFilter"),
        .scim(
            ".search count is a word", .post, "/Users/.search", Hostile.search(["count": "abc"]), expect: 400,
            "invalidValue"),
        .scim(
            ".search count is a numeric string", .post, "/Users/.search", Hostile.search(["count": "10"]), expect: 400,
            "invalidValue"),
        .scim(
            ".search startIndex is a fraction", .post, "/Users/.search", Hostile.search(["startIndex": 1.5]),
            expect: 400, "invalidValue"),
        .scim(
            ".search startIndex is 2^63", .post, "/Groups/.search",
            Hostile.search(["startIndex": 9.223372036854775807e18]),
            expect: 400, "invalidValue"),
        .scim(
            ".search attributes are numbers", .post, "/Users/.search", Hostile.search(["attributes": [1, 2]]),
            expect: 400, "invalidValue"),
        .scim(".search broken JSON", .post, "/Users/.search", .raw("{\"filter\":"), expect: 400, "invalidSyntax"),
        .scim(
            ".search text/plain", .post, "/Users/.search", Hostile.search(["filter": "userName pr"]),
            contentType: "text/plain", expect: 415),
        .scim(".search 2 MB", .post, "/Users/.search", .raw(Hostile.twoMB), expect: 413),
        .scim(
            "Groups .search broken filter", .post, "/Groups/.search", Hostile.search(["filter": "displayName eq"]),
            expect: 400, "invalidFilter"),
        // SQL-looking values are data: valid filters that match nothing.
        .noMatches("SQL quote trick", "/Users?" + Hostile.filter("userName eq \"x' OR '1'='1\"")),
        .noMatches("SQL drop table", "/Users?" + Hostile.filter("userName eq \"; DROP TABLE users; --\"")),
        .noMatches("SQL comment in co", "/Users?" + Hostile.filter("userName co \"'--\" and displayName sw \"\\\\\"")),
        .noMatches("LIKE wildcards", "/Users?" + Hostile.filter("userName sw \"%\" and userName ew \"_x\"")),
        .noMatches(
            "SQL in .search", "/Users/.search", Hostile.search(["filter": "externalId eq \"1; SELECT pg_sleep(10)\""])),
        .noMatches("SQL on Groups", "/Groups?" + Hostile.filter("displayName eq \"x\\\" OR 1=1 --\"")),
    ]

    static let scimGroups: [BadInput] = [
        .scim("Groups truncated JSON", .post, "/Groups", .raw(#"{"displayName":"#), expect: 400, "invalidSyntax"),
        .scim(
            "Groups displayName missing", .post, "/Groups", .json(["schemas": Hostile.groupSchemas]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups displayName a number", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": 5]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups displayName of 100 KB", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": .string(Hostile.hundredKB)]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups members is a string", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G1", "members": "everyone"]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups member without value", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G2", "members": [["display": "x"]]]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups members twice", .post, "/Groups",
            .raw(
                #"{"schemas":["\#(SchemaURN.group)"],"displayName":"G10","members":[],"members":[{"value":"{group}"}]}"#
            ),
            expect: 400, "invalidSyntax"),
        .scim(
            "Groups PUT member value twice", .put, "/Groups/{group}",
            .raw(
                #"{"schemas":["\#(SchemaURN.group)"],"displayName":"\#(BadInputTests.groupName)","members":[{"value":"a","value":"b"}]}"#
            ),
            expect: 400, "invalidSyntax"),
        .scim(
            "Groups members are bare ids", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G8", "members": ["{group}"]]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups PUT members are bare ids", .put, "/Groups/{group}",
            .json([
                "schemas": Hostile.groupSchemas, "displayName": .string(BadInputTests.groupName),
                "members": ["{group}"],
            ]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups PATCH members are bare ids", .patch, "/Groups/{group}",
            Hostile.patch([["op": "add", "path": "members", "value": ["{group}"]]]), expect: 400, "invalidValue"),
        .scim(
            "Groups externalId is a number", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G9", "externalId": 9]), expect: 400, "invalidValue"),
        .scim(
            "Groups member value a number", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G3", "members": [["value": 5]]]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups 200,001 members", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G4", "members": Hostile.manyMembers(200_001)]),
            expect: 400, "tooMany"),
        .scim(
            "Groups nested group member", .post, "/Groups",
            .json([
                "schemas": Hostile.groupSchemas, "displayName": "G5",
                "members": [["value": "{group}", "type": "Group"]],
            ]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups duplicate displayName", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": .string(BadInputTests.groupName)]),
            expect: 409, "uniqueness"),
        .scim(
            "Groups externalId of 100 KB", .post, "/Groups",
            .json(["schemas": Hostile.groupSchemas, "displayName": "G7", "externalId": .string(Hostile.hundredKB)]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups PATCH externalId of 100 KB", .patch, "/Groups/{group}",
            Hostile.patch([["op": "replace", "path": "externalId", "value": .string(Hostile.hundredKB)]]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups PATCH displayName of 100 KB", .patch, "/Groups/{group}",
            Hostile.patch([["op": "replace", "path": "displayName", "value": .string(Hostile.hundredKB)]]), expect: 400,
            "invalidValue"),
        .scim(
            "Groups text/plain", .post, "/Groups", .json(["displayName": "G6"]), contentType: "text/plain", expect: 415),
        .scim("Groups 17 MB", .post, "/Groups", .raw(Hostile.seventeenMB), expect: 413),
        .scim(
            "Groups 2 MB is under the group body limit", .post, "/Groups", .raw(Hostile.twoMB), expect: 400,
            "invalidValue"),
        .scim(
            "Groups invalid UTF-8", .post, "/Groups",
            .bytes(Array(#"{"displayName":""#.utf8) + [0xF8, 0x88, 0x80] + Array(#""}"#.utf8)),
            expect: 400, "invalidSyntax"),
        .scim("Groups GET non-UUID", .get, "/Groups/nope", expect: 404),
        .scim("Groups GET unknown UUID", .get, "/Groups/\(UUID().uuidString)", expect: 404),
        .scim(
            "Groups PUT unknown UUID", .put, "/Groups/\(UUID().uuidString)",
            .json(["schemas": Hostile.groupSchemas, "displayName": "Ghost"]),
            expect: 404),
        .scim(
            "Groups PUT without displayName", .put, "/Groups/{group}", .json(["schemas": Hostile.groupSchemas]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups PUT 200,001 members", .put, "/Groups/{group}",
            .json([
                "schemas": Hostile.groupSchemas, "displayName": .string(BadInputTests.groupName),
                "members": Hostile.manyMembers(200_001),
            ]),
            expect: 400, "tooMany"),
        .scim(
            "Groups PUT stale If-Match", .put, "/Groups/{group}",
            .json(["schemas": Hostile.groupSchemas, "displayName": .string(BadInputTests.groupName)]),
            headers: ["If-Match": "W/\"999\""],
            expect: 412),
        .scim("Groups DELETE non-UUID", .delete, "/Groups/1", expect: 404),
        .scim(
            "Groups DELETE stale If-Match", .delete, "/Groups/{group}", headers: ["If-Match": "W/\"999\""], expect: 412),
        // Every error has a body: a malformed If-Match is 400 with a SCIM error, before anything is read.
        .scim(
            "Groups PATCH If-Match garbage", .patch, "/Groups/{group}",
            Hostile.patch([["op": "replace", "path": "displayName", "value": "Renamed"]]),
            headers: ["If-Match": "garbage"], expect: 400),
        .scim(
            "Groups PUT If-Match unquoted", .put, "/Groups/{group}",
            .json(["schemas": Hostile.groupSchemas, "displayName": "Renamed"]), headers: ["If-Match": "W/1"],
            expect: 400),
        .scim(
            "PATCH If-Match empty tag in a list", .patch, "/Users/{user}",
            Hostile.patch([["op": "replace", "path": "title", "value": "x"]]),
            headers: ["If-Match": "W/\"1\", "], expect: 400),
        .scim("DELETE If-Match garbage", .delete, "/Users/{user}", headers: ["If-Match": "garbage"], expect: 400),
        .scim(
            "Groups PATCH add 200,001 members", .patch, "/Groups/{group}",
            Hostile.patch([["op": "add", "path": "members", "value": Hostile.manyMembers(200_001)]]), expect: 400,
            "tooMany"),
        .scim(
            "Groups PATCH 2,000 operations", .patch, "/Groups/{group}", Hostile.patch(Hostile.operations(2_000)),
            expect: 400, "tooMany"),
        .scim(
            "Groups PATCH member filter on display", .patch, "/Groups/{group}",
            Hostile.patch([["op": "remove", "path": "members[display eq \"x\"]"]]), expect: 400, "invalidFilter"),
        .scim(
            "Groups PATCH id", .patch, "/Groups/{group}",
            Hostile.patch([["op": "replace", "path": "id", "value": "x"]]),
            expect: 400, "mutability"),
        .scim(
            "Groups PATCH remove displayName", .patch, "/Groups/{group}",
            Hostile.patch([["op": "remove", "path": "displayName"]]),
            expect: 400, "invalidValue"),
        .scim(
            "Groups PATCH unknown path", .patch, "/Groups/{group}",
            Hostile.patch([["op": "add", "path": "owners", "value": "x"]]),
            expect: 400, "invalidPath"),
        .scim(
            "Groups PATCH member value a number", .patch, "/Groups/{group}",
            Hostile.patch([["op": "add", "path": "members", "value": [["value": 5]]]]), expect: 400, "invalidValue"),
        .scim(
            "Groups PATCH remove without path", .patch, "/Groups/{group}", Hostile.patch([["op": "remove"]]),
            expect: 400, "noTarget"),
        .scim(
            "Groups PATCH broken JSON", .patch, "/Groups/{group}", .raw("{\"Operations\":[}"), expect: 400,
            "invalidSyntax"),
        .scim(
            "Groups PATCH unknown UUID", .patch, "/Groups/\(UUID().uuidString)",
            Hostile.patch([["op": "replace", "path": "displayName", "value": "X"]]), expect: 404),
    ]

    static let scimOther: [BadInput] = [
        .scim("no Authorization", .get, "/Users", auth: .header(nil), expect: 401),
        .scim(
            "unknown token", .get, "/Users",
            auth: .header("Bearer lascim_AAAAAAAAAAAA_" + String(repeating: "B", count: 43)), expect: 401),
        .scim("Basic auth", .get, "/Users", auth: .header("Basic dXNlcjpwYXNz"), expect: 401),
        .scim("unknown resource type", .get, "/ResourceTypes/Widget", expect: 404),
        .scim("unknown schema", .get, "/Schemas/urn:example:nope", expect: 404),
        .scim("unknown endpoint", .get, "/Widgets", expect: 404),
        .scim("POST to ServiceProviderConfig", .post, "/ServiceProviderConfig", .json([:]), expect: 405),
        .scim("DELETE the Users collection", .delete, "/Users", expect: 404),
        // RFC 7644 §3.12: a defined operation this service does not support is 501, not 404.
        .scim("root .search", .post, "/.search", Hostile.search(["filter": "userName pr"]), expect: 501),
        .scim(
            "Bulk", .post, "/Bulk",
            .json([
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [
                    [
                        "method": "POST", "path": "/Users", "bulkId": "b1",
                        "data": ["schemas": Hostile.userSchemas, "userName": "bulk@acme.com"],
                    ]
                ],
            ]), expect: 501),
        .scim("GET /Me", .get, "/Me", expect: 501),
        .scim("PUT /Me", .put, "/Me", Hostile.user("me@acme.com"), expect: 501),
        // RFC 7644 §4: discovery cannot be filtered; 403 rather than an unfiltered answer.
        .scim(
            "filter on ServiceProviderConfig", .get,
            "/ServiceProviderConfig?" + Hostile.filter("patch.supported eq true"), expect: 403),
        .scim("filter on ResourceTypes", .get, "/ResourceTypes?" + Hostile.filter("name eq \"User\""), expect: 403),
        .scim("filter on Schemas", .get, "/Schemas?FILTER=" + Hostile.encoded("id pr"), expect: 403),
        .scim("filter on one schema", .get, "/Schemas/\(SchemaURN.user)?" + Hostile.filter("id pr"), expect: 403),
    ]

    static let adminRows: [BadInput] = [
        .admin("no token", .get, "/organisations", auth: .header(nil), expect: 401, "unauthorized"),
        .admin("wrong token", .get, "/organisations", auth: .header("Bearer nope"), expect: 401, "unauthorized"),
        .admin("unknown admin path", .get, "/widgets", expect: 404),
        .admin("organisation: broken JSON", .post, "/organisations", .raw("{\"slug\":"), expect: 400, "bad_request"),
        .admin("organisation: array body", .post, "/organisations", .raw("[1,2]"), expect: 400, "bad_request"),
        .admin(
            "organisation: invalid UTF-8", .post, "/organisations",
            .bytes(Array(#"{"slug":""#.utf8) + [0xFF] + Array(#"","name":"x"}"#.utf8)),
            expect: 400, "bad_request"),
        .admin(
            "organisation: slug is a number", .post, "/organisations", .json(["slug": 5, "name": "X"]), expect: 400,
            "bad_request"),
        .admin(
            "organisation: SQL slug", .post, "/organisations",
            .json(["slug": "x\"; DROP SCHEMA public CASCADE; --", "name": "X"]),
            expect: 400, "bad_request"),
        .admin(
            "organisation: 100 KB slug", .post, "/organisations",
            .json(["slug": .string(Hostile.hundredKB), "name": "X"]),
            expect: 400, "bad_request"),
        .admin(
            "organisation: name missing", .post, "/organisations", .json(["slug": "never-created-x"]), expect: 400,
            "bad_request"),
        .admin("organisation: 2 MB", .post, "/organisations", .raw(Hostile.twoMB), expect: 413, "payload_too_large"),
        // The admin API speaks JSON only: a body labelled otherwise is 415, never parsed.
        .admin(
            "organisation: text/plain", .post, "/organisations", .json(["slug": "plain-text-org", "name": "X"]),
            contentType: "text/plain",
            expect: 415, "unsupported_media_type"),
        .admin(
            "organisation: no content type", .post, "/organisations", .json(["slug": "untyped-org", "name": "X"]),
            contentType: nil,
            expect: 415, "unsupported_media_type"),
        .admin(
            "update: form encoded", .patch, "/organisations/{slug}", .raw("scimEnabled=false"),
            contentType: "application/x-www-form-urlencoded", expect: 415, "unsupported_media_type"),
        .admin(
            "tokens: scim+json", .post, "/organisations/{slug}/tokens", .json(["label": "x"]),
            contentType: "application/scim+json",
            expect: 415, "unsupported_media_type"),
        .admin(
            "custom fields: text/plain", .put, "/organisations/{slug}/custom-fields", .json(["mappings": []]),
            contentType: "text/plain",
            expect: 415, "unsupported_media_type"),
        .admin(
            "users: text/plain", .post, "/organisations/{slug}/users", .json(["email": "plain@acme.com"]),
            contentType: "text/plain",
            expect: 415, "unsupported_media_type"),
        .admin(
            "staff keys: text/plain", .post, "/staff-keys", .json(["name": "X", "role": "readonly"]),
            contentType: "text/plain",
            expect: 415, "unsupported_media_type"),
        .admin("organisation: unknown slug", .get, "/organisations/no-such-org-zz", expect: 404, "not_found"),
        .admin(
            "organisation: SQL slug in path", .get, "/organisations/" + Hostile.encoded("x' OR '1'='1"), expect: 404,
            "not_found"),
        .admin(
            "organisation: 5,000-char slug in path", .get, "/organisations/" + String(repeating: "a", count: 5_000),
            expect: 404, "not_found"),
        .admin(
            "update: scimEnabled is a word", .patch, "/organisations/{slug}", .json(["scimEnabled": "yes"]),
            expect: 400, "bad_request"),
        .admin(
            "update: unknown field", .patch, "/organisations/{slug}", .json(["schemaName": "public"]), expect: 400,
            "bad_request"),
        .admin(
            "update: name is a number", .patch, "/organisations/{slug}", .json(["name": 5]), expect: 400, "bad_request"),
        .admin(
            "update: negative rate", .patch, "/organisations/{slug}",
            .json(["rateLimit": ["requestsPerSecond": -1, "burst": 5]]),
            expect: 400, "bad_request"),
        .admin(
            "update: rateLimit is a word", .patch, "/organisations/{slug}", .json(["rateLimit": "fast"]), expect: 400,
            "bad_request"),
        .admin("update: broken JSON", .patch, "/organisations/{slug}", .raw("{\"name\""), expect: 400, "bad_request"),
        .admin(
            "tokens: label is a number", .post, "/organisations/{slug}/tokens", .json(["label": 1]), expect: 400,
            "bad_request"),
        .admin("tokens: label missing", .post, "/organisations/{slug}/tokens", .json([:]), expect: 400, "bad_request"),
        .admin(
            "tokens: expiresAt not a date", .post, "/organisations/{slug}/tokens",
            .json(["label": "x", "expiresAt": "tomorrow"]),
            expect: 400, "bad_request"),
        .admin("tokens: broken JSON", .post, "/organisations/{slug}/tokens", .raw("nope"), expect: 400, "bad_request"),
        .admin("tokens: revoke non-UUID", .delete, "/organisations/{slug}/tokens/not-a-uuid", expect: 404, "not_found"),
        .admin(
            "tokens: revoke unknown UUID", .delete, "/organisations/{slug}/tokens/\(UUID())", expect: 404, "not_found"),
        .admin(
            "custom fields: mappings a string", .put, "/organisations/{slug}/custom-fields", .json(["mappings": "all"]),
            expect: 400, "bad_request"),
        .admin(
            "custom fields: element a number", .put, "/organisations/{slug}/custom-fields", .json(["mappings": [5]]),
            expect: 400, "bad_request"),
        .admin(
            "custom fields: scimAttribute a number", .put, "/organisations/{slug}/custom-fields",
            .json(["mappings": [["scimAttribute": 5, "field": "f", "type": "string"]]]), expect: 400, "bad_request"),
        .admin(
            "custom fields: unknown type", .put, "/organisations/{slug}/custom-fields",
            .json(["mappings": [["scimAttribute": "costCentre", "field": "cost_centre", "type": "blob"]]]), expect: 400,
            "bad_request"),
        .admin(
            "custom fields: allowedValues numbers", .put, "/organisations/{slug}/custom-fields",
            .json(["mappings": [["scimAttribute": "band", "field": "band", "type": "enum", "allowedValues": [1, 2]]]]),
            expect: 400, "bad_request"),
        .admin(
            "custom fields: broken JSON", .put, "/organisations/{slug}/custom-fields", .raw("{\"mappings\":[{]}"),
            expect: 400, "bad_request"),
        .admin(
            "users: email missing", .post, "/organisations/{slug}/users", .json(["firstName": "A"]), expect: 400,
            "bad_request"),
        .admin(
            "users: email a number", .post, "/organisations/{slug}/users", .json(["email": 5]), expect: 400,
            "bad_request"),
        .admin(
            "users: unknown role", .post, "/organisations/{slug}/users", .json(["email": "r@acme.com", "role": "god"]),
            expect: 400, "bad_request"),
        .admin(
            "users: broken JSON", .post, "/organisations/{slug}/users", .raw("{\"email\":\"a@b.c\""), expect: 400,
            "bad_request"),
        .admin("users: active=maybe", .get, "/organisations/{slug}/users?active=maybe", expect: 400, "bad_request"),
        .admin("users: limit=0", .get, "/organisations/{slug}/users?limit=0", expect: 400, "bad_request"),
        .admin("users: limit=abc", .get, "/organisations/{slug}/users?limit=abc", expect: 400, "bad_request"),
        .admin(
            "users: cursor garbage", .get, "/organisations/{slug}/users?cursor=" + Hostile.encoded("1; DROP"),
            expect: 400, "bad_request"),
        .admin(
            "users: update non-UUID", .patch, "/organisations/{slug}/users/nope", .json(["role": "admin"]), expect: 404,
            "not_found"),
        .admin(
            "users: update unknown UUID", .patch, "/organisations/{slug}/users/\(UUID())", .json(["role": "admin"]),
            expect: 404, "not_found"),
        .admin(
            "users: update unknown role", .patch, "/organisations/{slug}/users/{user}", .json(["role": "god"]),
            expect: 400, "bad_request"),
        .admin(
            "users: update unknown field", .patch, "/organisations/{slug}/users/{user}", .json(["userName": "x"]),
            expect: 400, "bad_request"),
        .admin(
            "users: update active a word", .patch, "/organisations/{slug}/users/{user}", .json(["active": "no"]),
            expect: 400, "bad_request"),
        .admin("teams: unknown organisation", .get, "/organisations/no-such-org-zz/teams", expect: 404, "not_found"),
        .admin("status: unknown organisation", .get, "/organisations/no-such-org-zz/status", expect: 404, "not_found"),
        .admin("events: outcome=bogus", .get, "/organisations/{slug}/events?outcome=bogus", expect: 400, "bad_request"),
        .admin(
            "events: since=yesterday", .get, "/organisations/{slug}/events?since=yesterday", expect: 400, "bad_request"),
        .admin("events: limit=0", .get, "/organisations/{slug}/events?limit=0", expect: 400, "bad_request"),
        .admin(
            "events: userName with an encoded NUL", .get, "/organisations/{slug}/events?userName=a%00b", expect: 400,
            "bad_request"),
        .admin("events: limit=abc", .get, "/organisations/{slug}/events?limit=abc", expect: 400, "bad_request"),
        .admin(
            "events: cursor garbage", .get, "/organisations/{slug}/events?cursor=" + Hostile.encoded("' OR 1=1"),
            expect: 400, "bad_request"),
        .admin(
            "staff keys: unknown role", .post, "/staff-keys", .json(["name": "X", "role": "admin"]), expect: 400,
            "bad_request"),
        .admin("staff keys: broken JSON", .post, "/staff-keys", .raw("{"), expect: 400, "bad_request"),
        .admin(
            "staff keys: unknown organisation", .post, "/staff-keys",
            .json(["name": "X", "role": "readonly", "organisation": "no-such-org-zz"]),
            expect: 404, "not_found"),
        .admin("staff keys: revoke non-UUID", .delete, "/staff-keys/nope", expect: 404, "not_found"),
        .admin("audit: limit=0", .get, "/audit?limit=0", expect: 400, "bad_request"),
        .admin("audit: cursor garbage", .get, "/audit?cursor=abc", expect: 400, "bad_request"),
    ]
}

@Suite("Bad input: every malformed request gets its documented 4xx (501 for what is not offered) and changes nothing")
struct BadInputTests {
    static let userName = "bad-input-user@acme.com"
    static let groupName = "Bad Input Team"

    @Test("the table has at least 100 malformed requests across SCIM and admin routes")
    func tableSize() {
        let malformed = BadInput.rows.filter { if case .noMatches = $0.expected { false } else { true } }
        #expect(malformed.count >= 100, "\(malformed.count) rows")
        #expect(
            BadInput.rows.contains { $0.path.hasPrefix("/admin/v1") }
                && BadInput.rows.contains { $0.path.hasPrefix("/scim/v2") })
    }

    @Test("each row gets its documented 4xx (never 5xx), and the organisation is unchanged afterwards")
    func table() async throws {
        try await withApp { client in
            let org = try await client.organisation("bad")
            // Lift the organisation's rate limit so the table's burst of requests is not answered with 429.
            _ = try await client.admin(
                .patch, "/organisations/\(org.slug)",
                json: ["rateLimit": ["requestsPerSecond": 100_000, "burst": 100_000]])
            let userID = try await org.createUser(Self.userName)
            let group = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": Hostile.groupSchemas, "displayName": .string(Self.groupName),
                    "members": [["value": .string(userID)]],
                ])
            try #require(group.status == .created, "\(group.text)")
            let groupID = try #require(group["id"]?.stringValue)
            let tokenID = try #require(
                await client.admin(.get, "/organisations/\(org.slug)/tokens")["tokens"]?.arrayValue?.first?[
                    caseInsensitive: "id"]?.stringValue)
            let manual = try await client.admin(
                .post, "/organisations/\(org.slug)/users", json: ["email": "manual-bad@acme.com"])
            try #require(manual.status == .created, "\(manual.text)")
            let manualID = try #require(manual["id"]?.stringValue)

            let before = try await Snapshot.take(org)
            for row in BadInput.rows {
                let path = row.path.replacingOccurrences(
                    of: "{user}", with: row.path.hasPrefix("/admin") ? manualID : userID
                )
                .replacingOccurrences(of: "{group}", with: groupID).replacingOccurrences(of: "{slug}", with: org.slug)
                .replacingOccurrences(of: "{token}", with: tokenID)
                var body = row.body
                if case .json(let json) = body {
                    let text = String(decoding: json.serialized(), as: UTF8.self).replacingOccurrences(
                        of: "{group}", with: groupID)
                    body = .raw(text)
                }
                let result = try await client.send(row, path: path, body: body, organisation: org)
                Self.check(result, row)
            }
            let after = try await Snapshot.take(org)
            #expect(after == before, "the organisation changed:\n\(before)\n---\n\(after)")
        }
    }

    static func check(_ result: TestResult, _ row: BadInput, sourceLocation: SourceLocation = #_sourceLocation) {
        // Never a server failure; 501 only where the row expects it (an RFC operation this service does not offer).
        let unsupported: Bool = if case .scim(501, _) = row.expected { true } else { false }
        #expect(
            result.status.code < 500 || unsupported && result.status.code == 501,
            "\(row): \(result.status) \(result.text.prefix(300))", sourceLocation: sourceLocation)
        for leak in ["SQLSTATE", "syntax error at", "pg_", "Fatal error", "relation \""] {
            #expect(
                !result.text.contains(leak), "\(row) leaks \(leak): \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
        }
        switch row.expected {
        case .scim(let status, let scimType):
            #expect(
                result.status.code == status, "\(row): got \(result.status.code) \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
            #expect(
                result["schemas"] == [.string(SchemaURN.error)], "\(row): not a SCIM error: \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
            #expect(
                result["status"]?.stringValue == String(result.status.code), "\(row)", sourceLocation: sourceLocation)
            #expect(
                result["scimType"]?.stringValue == scimType, "\(row): \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
            #expect(
                result.headers[.contentType]?.hasPrefix("application/scim+json") == true, "\(row)",
                sourceLocation: sourceLocation)
        case .admin(let status, let code):
            #expect(
                result.status.code == status, "\(row): got \(result.status.code) \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
            #expect(
                result["message"]?.stringValue != nil, "\(row): \(result.text.prefix(300))",
                sourceLocation: sourceLocation)
            if let code {
                #expect(
                    result["error"]?.stringValue == code, "\(row): \(result.text.prefix(300))",
                    sourceLocation: sourceLocation)
            } else {
                #expect(
                    result["error"]?.stringValue != nil, "\(row): \(result.text.prefix(300))",
                    sourceLocation: sourceLocation)
            }
            #expect(
                result.headers[.contentType]?.hasPrefix("application/json") == true, "\(row)",
                sourceLocation: sourceLocation)
        case .noMatches:
            #expect(result.status == .ok, "\(row): \(result.text.prefix(300))", sourceLocation: sourceLocation)
            #expect(result["totalResults"] == 0, "\(row): \(result.text.prefix(300))", sourceLocation: sourceLocation)
        }
    }
}

/// What a bad request must not change: the organisation's SCIM resources (with their versions), its
/// admin view (users, teams, tokens, custom fields, settings) and the status counters.
struct Snapshot: Equatable, CustomStringConvertible {
    var users: JSONValue?
    var groups: JSONValue?
    var organisation: JSONValue?
    var tokens: [JSONValue]
    var customFields: JSONValue?
    var manualUsers: JSONValue?
    var teams: JSONValue?
    var userCounts: JSONValue?
    var teamCount: JSONValue?

    static func take(_ org: TestOrganisation) async throws -> Snapshot {
        let client = org.client
        let users = try await org.scim(.get, "/Users?count=1000")
        let groups = try await org.scim(.get, "/Groups?count=1000")
        let status = try await client.admin(.get, "/organisations/\(org.slug)/status")
        try #require(
            users.status == .ok && groups.status == .ok && status.status == .ok,
            "\(users.text) \(groups.text) \(status.text)")
        var organisation = try await client.admin(.get, "/organisations/\(org.slug)").json
        if case .object(var fields)? = organisation {
            fields["updatedAt"] = nil
            organisation = .object(fields)
        }
        // lastUsedAt moves with every SCIM request; what a bad request must not do is add or revoke one.
        let tokens = (try await client.admin(.get, "/organisations/\(org.slug)/tokens")["tokens"]?.arrayValue ?? []).map
        { token in
            [
                token[caseInsensitive: "id"] ?? .null, token[caseInsensitive: "revokedAt"] ?? .null,
                token[caseInsensitive: "label"] ?? .null,
            ] as JSONValue
        }
        return Snapshot(
            users: users["Resources"], groups: groups["Resources"], organisation: organisation, tokens: tokens,
            customFields: try await client.admin(.get, "/organisations/\(org.slug)/custom-fields").json,
            manualUsers: try await client.admin(.get, "/organisations/\(org.slug)/users?limit=1000")["users"],
            teams: try await client.admin(.get, "/organisations/\(org.slug)/teams").json,
            userCounts: status["users"], teamCount: status["teams"])
    }

    var description: String {
        [users, groups, organisation, .array(tokens), customFields, manualUsers, teams, userCounts, teamCount]
            .map { String(decoding: ($0 ?? .null).serialized(), as: UTF8.self).prefix(2_000) }.joined(separator: "\n")
    }
}

extension TestClient {
    /// Sends a row as a client would: raw bytes included (the helpers only send valid strings).
    func send(_ row: BadInput, path: String, body: BadInput.Body, organisation: TestOrganisation) async throws
        -> TestResult
    {
        var headers = HTTPFields()
        switch row.auth {
        case .organisation: headers[.authorization] = "Bearer \(organisation.token)"
        case .staff: headers[.authorization] = "Bearer \(TestDatabase.adminToken)"
        case .header(let value?): headers[.authorization] = value
        case .header(nil): break
        }
        for (name, value) in row.extraHeaders { headers[HTTPField.Name(name)!] = value }
        let buffer: ByteBuffer? =
            switch body {
            case .none: nil
            case .json(let json): ByteBuffer(bytes: json.serialized())
            case .raw(let text): ByteBuffer(string: text)
            case .bytes(let bytes): ByteBuffer(bytes: bytes)
            }
        if buffer != nil, let contentType = row.contentType { headers[.contentType] = contentType }
        return try await client.execute(uri: path, method: row.method, headers: headers, body: buffer) { response in
            let text = String(buffer: response.body)
            let json = text.isEmpty ? nil : try? JSONValue.parse(Array(text.utf8))
            return TestResult(status: response.status, headers: response.headers, json: json, text: text)
        }
    }
}
