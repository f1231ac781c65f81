import Testing

@testable import SCIM

@Suite("Filter evaluator")
struct FilterEvaluatorTests {
    static let user: JSONValue = [
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        ],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "abc",
        "userName": "Jane@Acme.com",
        "displayName": "Jane Doe",
        "title": "",
        "nickName": nil,
        "active": true,
        "age": 34,
        "score": 2.5,
        "name": ["givenName": "Jane", "familyName": "O'Malley"],
        "emails": [
            ["type": "work", "value": "jane@acme.com", "primary": true],
            ["type": "home", "value": "jane@example.org"],
        ],
        "phoneNumbers": [],
        "roles": ["Admin", "Editor"],
        "groups": [["value": "g1", "display": "Engineering"]],
        "meta": [
            "resourceType": "User",
            "created": "2025-06-01T09:00:00Z",
            "lastModified": "2026-02-03T10:11:12.345Z",
            "version": "W/\"abc\"",
        ],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": [
            "employeeNumber": "701984",
            "department": "R&D",
            "manager": ["value": "m-42", "displayName": "Boss"],
        ],
    ]

    struct Case: CustomTestStringConvertible, Sendable {
        var filter: String
        var expected: Bool
        init(_ filter: String, _ expected: Bool) {
            self.filter = filter
            self.expected = expected
        }
        var testDescription: String { "\(filter) → \(expected)" }
    }

    @Test(
        "comparisons against a user",
        arguments: [
            // Okta and Entra lookups; strings are case-insensitive by default.
            Case(#"userName eq "jane@acme.com""#, true),
            Case(#"USERNAME EQ "JANE@ACME.COM""#, true),
            Case(#"userName eq "john@acme.com""#, false),
            Case(#"externalId eq "abc""#, true),
            Case(#"userName eq "jane@acme.com" and active eq true"#, true),
            Case(#"userName eq "jane@acme.com" and active eq false"#, false),
            // Every string operator.
            Case(#"displayName ne "Jane Doe""#, false),
            Case(#"displayName ne "John""#, true),
            Case(#"displayName co "NE D""#, true),
            Case(#"displayName co "xyz""#, false),
            Case(#"displayName co """#, true),
            Case(#"displayName sw "jane""#, true),
            Case(#"displayName sw "doe""#, false),
            Case(#"displayName ew "DOE""#, true),
            Case(#"displayName ew "jane""#, false),
            Case(#"displayName gt "Jane""#, true),
            Case(#"displayName ge "jane doe""#, true),
            Case(#"displayName lt "Jane Doe""#, false),
            Case(#"displayName le "jane doe""#, true),
            // Numbers.
            Case("age eq 34", true),
            Case("age eq 34.0", true),
            Case("age ne 34", false),
            Case("age gt 33.5", true),
            Case("age ge 34", true),
            Case("age lt 34", false),
            Case("age le 3.4e1", true),
            Case("score lt 3", true),
            Case("age co 3", false),
            Case(#"age eq "34""#, false),
            Case(#"age ne "34""#, true),
            // Booleans: only eq and ne.
            Case("active eq true", true),
            Case("active ne true", false),
            Case("active eq TRUE", true),
            Case("active gt false", false),
            Case(#"active eq "true""#, false),
            // Dates are strings; ISO 8601 orders lexicographically.
            Case(#"meta.lastModified gt "2026-01-01T00:00:00Z""#, true),
            Case(#"meta.lastModified lt "2026-01-01T00:00:00Z""#, false),
            Case(#"meta.created ge "2025-06-01T09:00:00Z""#, true),
            Case(#"meta.created gt "2025-06-01T09:00:00Z""#, false),
            // Sub-attributes.
            Case(#"name.familyName eq "o'malley""#, true),
            Case(#"Name.FamilyName sw "O'""#, true),
            Case(#"name.middleName eq "x""#, false),
            // Multi-valued: any element matches.
            Case(#"emails.value eq "jane@example.org""#, true),
            Case(#"emails.type eq "work""#, true),
            Case(#"emails.type eq "other""#, false),
            Case(#"emails co "example.org""#, true),
            Case(#"roles eq "editor""#, true),
            Case(#"roles eq "viewer""#, false),
            Case(#"groups.display eq "Engineering""#, true),
            Case(#"groups eq "g1""#, true),
            // Null and presence.
            Case("title pr", false),
            Case("nickName pr", false),
            Case("missing pr", false),
            Case("phoneNumbers pr", false),
            Case("emails pr", true),
            Case("name pr", true),
            Case("active pr", true),
            Case("title eq null", true),
            Case("nickName eq null", true),
            Case("missing eq null", true),
            Case("userName eq null", false),
            Case("userName ne null", true),
            Case("missing ne null", false),
            Case(#"missing ne "x""#, true),
            Case(#"missing eq "x""#, false),
            Case("userName gt null", false),
            // URN-qualified paths.
            Case(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#, true),
            Case(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-42""#, true),
            Case(#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:Department eq "r&d""#, true),
            Case(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager pr"#, true),
            Case(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:userName pr"#, false),
            Case(#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jane@acme.com""#, true),
            Case(#"urn:acme:other:1.0:User:userName pr"#, false),
            Case(#"employeeNumber pr"#, false),
            // Logic.
            Case(#"not (userName eq "jane@acme.com")"#, false),
            Case(#"not (userName eq "x") and age gt 18"#, true),
            Case(#"userName eq "x" or age gt 18 and active eq true"#, true),
            Case(#"(userName eq "x" or age gt 18) and active eq false"#, false),
            // Value paths.
            Case(#"emails[type eq "work" and value co "@acme.com"]"#, true),
            Case(#"emails[type eq "home" and value co "@acme.com"]"#, false),
            Case(#"emails[type eq "work" and primary eq true]"#, true),
            Case(#"emails[primary eq true and value ew ".org"]"#, false),
            Case(#"emails[not (type eq "work")]"#, true),
            Case(#"roles[value eq "admin"]"#, true),
            Case(#"roles[value sw "x"]"#, false),
            Case(#"name[givenName eq "jane"]"#, true),
            Case(#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName eq "boss"]"#, true),
            Case(#"missing[value pr]"#, false),
        ])
    func evaluates(_ testCase: Case) throws {
        let filter = try Filter.parse(testCase.filter)
        #expect(filter.matches(Self.user) == testCase.expected)
    }

    @Test("case-exact attributes compare strings exactly")
    func caseExact() throws {
        let exactID: (AttributePath) -> Bool = { ["id", "meta.version", "emails.value"].contains($0.key) }
        let upperID = try Filter.parse(#"id eq "2819C223-7F76-453A-919D-413861904646""#)
        #expect(upperID.matches(Self.user))
        #expect(!upperID.matches(Self.user, caseExact: exactID))
        let version = try Filter.parse(#"meta.version eq "w/\"ABC\"""#)
        #expect(!version.matches(Self.user, caseExact: exactID))
        #expect(try Filter.parse(#"meta.version eq "W/\"abc\"""#).matches(Self.user, caseExact: exactID))
        // Inner value-filter paths are offered as the full path.
        let inner = try Filter.parse(#"emails[value eq "JANE@ACME.COM"]"#)
        #expect(inner.matches(Self.user))
        #expect(!inner.matches(Self.user, caseExact: exactID))
    }

    @Test(
        "value filters on single elements",
        arguments: [
            (#"type eq "work""#, ["type": "work", "value": "a@b.c"] as JSONValue, true),
            (#"type eq "WORK" and value ew "b.c""#, ["type": "work", "value": "a@b.c"], true),
            (#"type eq "home""#, ["type": "work", "value": "a@b.c"], false),
            (#"primary pr"#, ["type": "work", "value": "a@b.c"], false),
            (#"value eq "2819c223""#, ["value": "2819c223", "display": "Jane"], true),
            (#"value eq "2819C223""#, ["value": "2819c223", "$ref": "https://x/Users/2819c223"], true),
            (#"value eq "admin""#, "Admin", true),
            (#"value co "dm""#, "Admin", true),
            (#"value eq 3"#, 3, true),
            (#"type eq "work""#, "work", false),
            (#"value eq null"#, nil, true),
        ] as [(String, JSONValue, Bool)])
    func elements(filter: String, element: JSONValue, expected: Bool) throws {
        #expect(try Filter.parse(filter).evaluate(element: element) == expected)
    }

    @Test("PATCH-style selection of multi-valued elements")
    func selectsElements() throws {
        let path = try PatchPath.parse(#"emails[type eq "work"].value"#)
        let emails = Self.user[caseInsensitive: "emails"]?.arrayValue ?? []
        let selected = emails.filter { path.valueFilter!.evaluate(element: $0) }
        #expect(selected.count == 1)
        #expect(selected.first?[caseInsensitive: path.subAttribute!] == "jane@acme.com")

        let members: JSONValue = [["value": "2819c223"], ["value": "902c246b"], ["value": "2819C223"]]
        let remove = try PatchPath.parse(#"members[value eq "2819c223"]"#)
        #expect(members.arrayValue!.filter { remove.valueFilter!.evaluate(element: $0) }.count == 2)
    }

    @Test("the printer's output evaluates like the original")
    func printedFiltersAgree() throws {
        let text =
            #"emails[type eq "work" and not (value co "x")] or (age ge 18 and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-42")"#
        let filter = try Filter.parse(text)
        let reparsed = try Filter.parse(filter.description)
        #expect(reparsed == filter)
        #expect(reparsed.matches(Self.user) == filter.matches(Self.user))
        #expect(filter.matches(Self.user))
    }
}
