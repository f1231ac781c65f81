import Foundation
import HTTPTypes
import Postgres
import SCIM
import Testing

/// Five users whose attributes make every filter below select a different set.
private enum Directory {
    static let ada = "ada.lovelace@acme.com"
    static let grace = "grace.hopper@acme.com"
    static let alan = "alan.turing@bletchley.org"
    static let linus = "linus@kernel.org"
    static let bobby = "bobby.tables@acme.com"
    static let everyone = [ada, grace, alan, linus, bobby]

    /// Creates the directory in `org` and returns userName → id.
    static func create(in org: TestOrganisation) async throws -> [String: String] {
        let ent = Users.enterprise
        let bodies: [JSONValue] = [
            [
                "userName": .string(ada), "externalId": "ext-Ada",
                "name": ["givenName": "Ada", "familyName": "Lovelace"],
                "displayName": "Ada Lovelace", "title": "Engineer", "timezone": "Europe/London",
                "emails": [
                    ["value": .string(ada), "type": "work", "primary": true],
                    ["value": "ada@home.org", "type": "home"],
                ],
                ent: ["department": "Engineering", "employeeNumber": "100"],
            ],
            [
                "userName": .string(grace), "name": ["givenName": "Grace", "familyName": "Hopper"], "title": "Admiral",
                "active": false, "emails": [["value": .string(grace), "type": "work", "primary": true]],
                ent: ["department": "Navy", "employeeNumber": "200"],
            ],
            [
                "userName": .string(alan), "name": ["givenName": "Alan", "familyName": "Turing"],
                "emails": [
                    ["value": .string(alan), "type": "work", "primary": true],
                    ["value": "alan@acme.com", "type": "home"],
                ],
                ent: ["department": "Engineering"],
            ],
            [
                "userName": .string(linus), "name": ["givenName": "Linus", "familyName": "Torvalds"],
                "emails": [["value": .string(linus), "type": "work"]],
            ],
            [
                "userName": .string(bobby), "name": ["givenName": "Bobby", "familyName": "Tables"],
                "title": "x' OR '1'='1",
                "emails": [["value": .string(bobby), "type": "work", "primary": true]],
            ],
        ]
        var ids: [String: String] = [:]
        for body in bodies {
            var object = body.objectValue!
            object["schemas"] = [.string(SchemaURN.user), .string(ent)]
            let result = try await org.scim(.post, "/Users", json: .object(object))
            try #require(result.status == .created, "\(result.text)")
            ids[try #require(result["userName"]?.stringValue)] = try #require(result["id"]?.stringValue)
        }
        return ids
    }
}

struct FilterCase: Sendable, CustomTestStringConvertible {
    var filter: String
    var expected: [String]
    init(_ filter: String, _ expected: [String]) {
        self.filter = filter
        self.expected = expected.sorted()
    }
    var testDescription: String { filter }
}

private let ent = SchemaURN.enterpriseUser
private let D = Directory.self

@Suite("SCIM /Users: filters compiled to SQL")
struct UsersFilterTests {
    @Test(
        "the whole filter grammar selects the right users",
        arguments: [
            // Every operator on a string attribute (case-insensitive, as userName is caseExact false).
            FilterCase(#"userName eq "ADA.LOVELACE@ACME.COM""#, [D.ada]),
            FilterCase(#"userName ne "ada.lovelace@acme.com""#, [D.grace, D.alan, D.linus, D.bobby]),
            FilterCase(#"userName co "ACME""#, [D.ada, D.grace, D.bobby]),
            FilterCase(#"userName sw "ada""#, [D.ada]),
            FilterCase(#"userName ew "@acme.com""#, [D.ada, D.grace, D.bobby]),
            FilterCase(#"userName gt "grace""#, [D.grace, D.linus]),
            FilterCase(#"userName ge "linus@kernel.org""#, [D.linus]),
            FilterCase(#"userName lt "alan""#, [D.ada]),
            FilterCase(#"userName le "alan.turing@bletchley.org""#, [D.ada, D.alan]),
            FilterCase(#"USERNAME EQ "linus@kernel.org""#, [D.linus]),
            // Presence and null.
            FilterCase("title pr", [D.ada, D.grace, D.bobby]),
            FilterCase("title eq null", [D.alan, D.linus]),
            FilterCase("title ne null", [D.ada, D.grace, D.bobby]),
            FilterCase("not (title pr)", [D.alan, D.linus]),
            FilterCase(#"not (title eq "Engineer")"#, [D.grace, D.alan, D.linus, D.bobby]),
            FilterCase("\(ent):employeeNumber pr", [D.ada, D.grace]),
            FilterCase("emails pr", Directory.everyone),
            // Booleans.
            FilterCase("active eq false", [D.grace]),
            FilterCase("active eq true", [D.ada, D.alan, D.linus, D.bobby]),
            FilterCase("active ne true", [D.grace]),
            FilterCase("not (active eq true)", [D.grace]),
            // Logic and precedence (and binds tighter than or).
            FilterCase(#"title eq "Engineer" or title eq "Admiral""#, [D.ada, D.grace]),
            FilterCase(#"(title eq "Engineer" or title eq "Admiral") and active eq true"#, [D.ada]),
            FilterCase(#"active eq false or title eq "Engineer" and userName sw "alan""#, [D.grace]),
            FilterCase(#"name.givenName sw "A" and active eq true"#, [D.ada, D.alan]),
            FilterCase(#"not (userName ew "@acme.com" or userName ew ".org")"#, []),
            // Sub-attributes.
            FilterCase(#"name.familyName eq "hopper""#, [D.grace]),
            FilterCase(#"name.familyName co "o""#, [D.ada, D.grace, D.linus]),
            // Multi-valued attributes and value paths.
            FilterCase(#"emails[type eq "work" and value co "@acme.com"]"#, [D.ada, D.grace, D.bobby]),
            FilterCase(#"emails[type eq "home" and value co "@acme.com"]"#, [D.alan]),
            FilterCase(#"emails[type eq "home"] and active eq true"#, [D.ada, D.alan]),
            FilterCase(#"emails co "acme.com""#, [D.ada, D.grace, D.alan, D.bobby]),
            FilterCase(#"emails.value ew "@home.org""#, [D.ada]),
            FilterCase(#"emails.type eq "home""#, [D.ada, D.alan]),
            FilterCase(#"emails[primary eq true] and userName ew ".org""#, [D.alan]),
            // URN-qualified attributes, and URNs in any case.
            FilterCase(
                #"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "engineering""#,
                [D.ada, D.alan]),
            FilterCase(#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department eq "Navy""#, [D.grace]),
            FilterCase(#"department eq "Navy""#, [D.grace]),
            FilterCase(#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "linus@kernel.org""#, [D.linus]),
            FilterCase(#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "Turing""#, [D.alan]),
            // externalId is case-exact.
            FilterCase(#"externalId eq "ext-Ada""#, [D.ada]),
            FilterCase(#"externalId eq "ext-ada""#, []),
            FilterCase(#"timezone eq "Europe/London""#, [D.ada]),
            // Dates.
            FilterCase(#"meta.lastModified gt "2000-01-01T00:00:00Z""#, Directory.everyone),
            FilterCase(#"meta.lastModified gt "2100-01-01T00:00:00Z""#, []),
            FilterCase(#"meta.created lt "2100-01-01T00:00:00Z""#, Directory.everyone),
            FilterCase(#"meta.created ge "2100-01-01T00:00:00Z""#, []),
            // SQL-looking values are just data.
            FilterCase(#"title eq "x' OR '1'='1""#, [D.bobby]),
            FilterCase(#"userName eq "x' OR '1'='1""#, []),
            FilterCase(#"userName eq "'; DROP TABLE users; --""#, []),
            FilterCase(#"userName co "%""#, []),
            FilterCase(#"userName sw "_""#, []),
            FilterCase(#"title co "\\""#, []),
        ])
    func grammar(_ testCase: FilterCase) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("filterdirectory", client: client) { org in
                _ = try await Directory.create(in: org)
            }
            let matched = try await org.matching(testCase.filter)
            #expect(matched == testCase.expected, "filter \(testCase.filter)")
            // The same filter through POST /Users/.search.
            let searched = try await org.scim(
                .post, "/Users/.search",
                json: [
                    "schemas": [.string(SchemaURN.searchRequest)], "filter": .string(testCase.filter), "count": 1000,
                ])
            #expect(searched.status == .ok, "\(searched.text)")
            #expect(Users.userNames(searched).sorted() == testCase.expected)
            #expect(searched["totalResults"] == .number(Double(testCase.expected.count)))
            // The table still exists.
            #expect(try await org.scim(.get, "/Users?count=0")["totalResults"] == 5)
        }
    }

    @Test("id, manager and meta.lastModified filters against real values")
    func idsAndTimestamps() async throws {
        try await withApp { client in
            let org = try await client.organisation("filter")
            let ids = try await Directory.create(in: org)
            let adaID = try #require(ids[D.ada])
            #expect(try await org.matching("id eq \"\(adaID)\"") == [D.ada])
            #expect(try await org.matching("id eq \"\(adaID.uppercased())\"") == [D.ada])
            #expect(try await org.matching("id ne \"\(adaID)\"").count == 4)
            #expect(try await org.matching("id eq \"not-a-uuid\"") == [])

            // The directory was written on 1 June 2020; Linus changes now, after the boundary.
            let schema = try PostgresIdentifier("org_" + org.slug.replacingOccurrences(of: "-", with: "_"))
            try await withDatabase { database in
                _ = try await database.query(
                    "UPDATE \(schema).users SET created_at = '2020-06-01T00:00:00Z', updated_at = '2020-06-01T00:00:00Z'"
                )
            }
            let boundary = "2021-01-01T00:00:00Z"
            let linusID = try #require(ids[D.linus])
            #expect(
                try await org.patchUser(linusID, ["op": "replace", "path": "title", "value": "Kernel"]).status == .ok)
            #expect(try await org.matching("meta.lastModified gt \"\(boundary)\"") == [D.linus])
            #expect(try await org.matching("meta.lastModified lt \"\(boundary)\"").count == 4)
            #expect(try await org.matching("meta.created gt \"\(boundary)\"") == [])

            // Manager by id.
            let graceID = try #require(ids[D.grace])
            #expect(
                try await org.patchUser(
                    adaID, ["op": "add", "path": "\(ent):manager", "value": ["value": .string(graceID)]]
                ).status == .ok)
            #expect(try await org.matching("\(ent):manager.value eq \"\(graceID)\"") == [D.ada])
            #expect(try await org.matching("\(ent):manager pr") == [D.ada])
        }
    }

    @Test(
        "an unknown attribute or an unparsable filter is 400 invalidFilter",
        arguments: [
            #"nickName eq "x""#, #"name.middleName eq "x""#, #"urn:example:unknown:attr eq "x""#, "userName eq",
            #"userName xx "a""#, #"(userName eq "a""#, #"userName eq "a" and"#, #"userName eq "a" or"#,
            #"emails[type eq "work""#, #"emails[nope eq "x"]"#, #"userName eq 'single'"#, #"""#,
            "userName eq \"unterminated",
            #"active eq "yes""#, "active gt true", "title gt true", #"meta.lastModified gt "yesterday""#,
            #"userName eq "a" userName eq "b""#, "()", "not userName eq \"a\"", #"title[value eq "x"]"#,
            #"userName eq "a"; DROP TABLE users"#, #"id gt "x""#,
        ])
    func invalidFilters(_ filter: String) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("badfilter", client: client)
            let listed = try await org.filter(filter)
            expectSCIMError(listed, .badRequest, "invalidFilter")
            let searched = try await org.scim(
                .post, "/Users/.search",
                json: ["schemas": [.string(SchemaURN.searchRequest)], "filter": .string(filter)])
            expectSCIMError(searched, .badRequest, "invalidFilter")
        }
    }
}
