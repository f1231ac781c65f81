import SCIM
import Testing

/// One PATCH and what it must do to `PatchFixtures.user`.
struct UserPatchCase: Sendable, CustomTestStringConvertible {
    var name: String
    var operations: String
    /// Key path → expected value (nil: absent).
    var expected: [([String], JSONValue?)]
    var changed: Set<String>
    /// Rewrite counts that must be present (others may be too).
    var rewrites: [RewriteKind: Int] = [:]
    var testDescription: String { name }
}

private let ent = SchemaURN.enterpriseUser
private let learn = SchemaURN.learnAmpUser

private let cases: [UserPatchCase] = [
    UserPatchCase(
        name: "Okta deactivate, path-less",
        operations: #"[{"op":"replace","value":{"active":false}}]"#,
        expected: [(["active"], false)], changed: ["active"]),
    UserPatchCase(
        name: "Okta reactivate of an active user is a no-op",
        operations: #"[{"op":"replace","path":"active","value":true}]"#,
        expected: [(["active"], true)], changed: []),
    UserPatchCase(
        name: "Entra capitalised Replace with string boolean",
        operations: #"[{"op":"Replace","path":"active","value":"False"}]"#,
        expected: [(["active"], false)], changed: ["active"], rewrites: [.stringBoolean: 1, .caseFolded: 1]),
    UserPatchCase(
        name: "Entra one operation per attribute",
        operations: #"""
            [{"op":"Replace","path":"displayName","value":"Augusta King"},
             {"op":"Replace","path":"title","value":"Countess"},
             {"op":"Replace","path":"name.givenName","value":"Augusta"},
             {"op":"Add","path":"externalId","value":"entra-9"}]
            """#,
        expected: [
            (["displayName"], "Augusta King"), (["title"], "Countess"), (["name", "givenName"], "Augusta"),
            (["name", "familyName"], "Lovelace"), (["externalId"], "entra-9"),
        ],
        changed: ["displayName", "title", "name", "externalId"], rewrites: [.caseFolded: 4]),
    UserPatchCase(
        name: "Entra manager as a bare string",
        operations:
            #"[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m-2"}]"#,
        expected: [([ent, "manager"], ["value": "m-2"]), ([ent, "department"], "Engineering")],
        changed: ["\(ent):manager"], rewrites: [.managerString: 1]),
    UserPatchCase(
        name: "Entra manager as an object with the same id changes nothing",
        operations:
            #"[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"m-1"}}]"#,
        expected: [([ent, "manager"], ["value": "m-1", "displayName": "Grace Hopper"])], changed: []),
    UserPatchCase(
        name: "manager.value by URN path",
        operations:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value","value":"bob@acme.com"}]"#,
        expected: [([ent, "manager"], ["value": "bob@acme.com"])], changed: ["\(ent):manager"]),
    UserPatchCase(
        name: "Entra Add on emails[type eq work].value creates the entry when absent",
        operations: #"""
            [{"op":"remove","path":"emails"},
             {"op":"Add","path":"emails[type eq \"work\"].value","value":"ada@new.com"}]
            """#,
        expected: [(["emails"], [["type": "work", "value": "ada@new.com"]])], changed: ["emails"]),
    UserPatchCase(
        name: "Add on emails[type eq work].value updates the entry when present",
        operations: #"[{"op":"Add","path":"emails[type eq \"work\"].value","value":"ada@new.com"}]"#,
        expected: [(["emails"], [["type": "work", "value": "ada@new.com", "primary": true]])], changed: ["emails"]),
    UserPatchCase(
        name: "Replace through a matching filter",
        operations: #"[{"op":"replace","path":"emails[type eq \"WORK\"].value","value":"a@b.com"}]"#,
        expected: [(["emails"], [["type": "work", "value": "a@b.com", "primary": true]])], changed: ["emails"]),
    UserPatchCase(
        name: "Path-less replace with dotted and URN keys",
        operations: #"""
            [{"op":"Replace","value":{"name.givenName":"Augusta",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Research",
              "displayName":"Augusta King"}}]
            """#,
        expected: [
            (["name", "givenName"], "Augusta"), (["name", "familyName"], "Lovelace"),
            ([ent, "department"], "Research"), ([ent, "manager", "value"], "m-1"), (["displayName"], "Augusta King"),
        ],
        changed: ["name", "displayName", "\(ent):department"], rewrites: [.dottedKey: 1, .urnKeyFlattened: 1]),
    UserPatchCase(
        name: "PascalCase names in a path-less value",
        operations: #"[{"op":"Replace","value":{"DisplayName":"X","Name":{"GivenName":"Y"},"Active":"True"}}]"#,
        expected: [(["displayName"], "X"), (["name", "givenName"], "Y"), (["active"], true)],
        changed: ["displayName", "name"], rewrites: [.caseFolded: 5, .stringBoolean: 1]),
    UserPatchCase(
        name: "PascalCase path",
        operations: #"[{"op":"replace","path":"Name.FamilyName","value":"Byron"}]"#,
        expected: [(["name", "familyName"], "Byron")], changed: ["name"]),
    UserPatchCase(
        name: "Okta's echo of the user's own id is ignored and counted",
        operations:
            #"[{"op":"replace","value":{"id":"U-1","active":false,"schemas":["x"],"meta":{"version":"W/\"9\""}}}]"#,
        expected: [(["id"], "u-1"), (["active"], false)], changed: ["active"], rewrites: [.strayId: 1]),
    UserPatchCase(
        name: "Read-only attributes in a path-less value are ignored",
        operations: #"[{"op":"replace","value":{"meta":{"version":"x"},"groups":[],"title":"T"}}]"#,
        expected: [
            (["meta", "version"], "W/\"1\""), (["groups"], [["value": "g-1", "display": "Engineering"]]),
            (["title"], "T"),
        ],
        changed: ["title"]),
    UserPatchCase(
        name: "Extension attribute without its URN in schemas",
        operations:
            #"[{"op":"add","value":{"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User":{"hireDate":"2024-02-29","costCentre":"CC-1"}}}]"#,
        expected: [
            ([learn, "hireDate"], "2024-02-29"), ([learn, "costCentre"], "CC-1"),
            (["schemas"], [.string(SchemaURN.user), .string(ent), .string(learn)]),
        ],
        changed: ["\(learn):hireDate", "\(learn):costCentre"]),
    UserPatchCase(
        name: "Extension attribute sent without any URN",
        operations: #"[{"op":"replace","value":{"department":"Sales"}}]"#,
        expected: [([ent, "department"], "Sales")], changed: ["\(ent):department"], rewrites: [.extensionWithoutURN: 1]),
    UserPatchCase(
        name: "URN-qualified core path",
        operations:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:core:2.0:User:userName","value":"ada@new.com"}]"#,
        expected: [(["userName"], "ada@new.com")], changed: ["userName"]),
    UserPatchCase(
        name: "Whole extension by URN path",
        operations:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User","value":{"Division":"R&D"}}]"#,
        expected: [([ent, "division"], "R&D"), ([ent, "department"], "Engineering")], changed: ["\(ent):division"]),
    UserPatchCase(
        name: "Removing the whole extension drops it from schemas",
        operations: #"[{"op":"remove","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"}]"#,
        expected: [([ent], nil), (["schemas"], [.string(SchemaURN.user)])],
        changed: ["\(ent):department", "\(ent):manager"]),
    UserPatchCase(
        name: "Remove with a filter removes the matching elements",
        operations: #"[{"op":"remove","path":"emails[type eq \"work\"]"}]"#,
        expected: [(["emails"], nil)], changed: ["emails"]),
    UserPatchCase(
        name: "Remove with a filter matching nothing is a no-op",
        operations: #"[{"op":"remove","path":"emails[type eq \"home\"]"}]"#,
        expected: [(["emails"], [["value": "ada@acme.com", "type": "work", "primary": true]])], changed: []),
    UserPatchCase(
        name: "A new primary email demotes the old one",
        operations:
            #"[{"op":"add","path":"emails","value":[{"value":"ada@home.com","type":"home","primary":"true"}]}]"#,
        expected: [
            (
                ["emails"],
                [
                    ["value": "ada@acme.com", "type": "work", "primary": false],
                    ["value": "ada@home.com", "type": "home", "primary": true],
                ]
            )
        ],
        changed: ["emails"], rewrites: [.stringBoolean: 1]),
    UserPatchCase(
        name: "Adding an email that is already there merges",
        operations: #"[{"op":"add","value":{"emails":[{"value":"ADA@acme.com","type":"work","display":"Ada"}]}}]"#,
        expected: [(["emails"], [["value": "ADA@acme.com", "type": "work", "primary": true, "display": "Ada"]])],
        changed: ["emails"]),
    UserPatchCase(
        name: "Replace of a multi-valued attribute replaces the list",
        operations: #"[{"op":"replace","path":"emails","value":[{"value":"x@y.com","type":"other"}]}]"#,
        expected: [(["emails"], [["value": "x@y.com", "type": "other"]])], changed: ["emails"]),
    UserPatchCase(
        name: "Remove a sub-attribute",
        operations: #"[{"op":"remove","path":"name.familyName"}]"#,
        expected: [(["name"], ["givenName": "Ada"])], changed: ["name"]),
    UserPatchCase(
        name: "Remove an absent attribute is a no-op",
        operations: #"[{"op":"remove","path":"timezone"}]"#,
        expected: [(["timezone"], nil)], changed: []),
    UserPatchCase(
        name: "Replace with null clears",
        operations:
            #"[{"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department","value":null}]"#,
        expected: [([ent, "department"], nil)], changed: ["\(ent):department"]),
    UserPatchCase(
        name: "Time zone names are case-folded to the IANA spelling",
        operations: #"[{"op":"replace","path":"timezone","value":"europe/london"}]"#,
        expected: [(["timezone"], "Europe/London")], changed: ["timezone"], rewrites: [.caseFolded: 1]),
    UserPatchCase(
        name: "Custom fields are typed",
        operations: #"""
            [{"op":"add","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:level","value":"3"},
             {"op":"add","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:mentor","value":"TRUE"},
             {"op":"add","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:band","value":"senior"},
             {"op":"add","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:probationEnds","value":"2026-06-30T00:00:00Z"}]
            """#,
        expected: [
            ([learn, "level"], 3), ([learn, "mentor"], true), ([learn, "band"], "Senior"),
            ([learn, "probationEnds"], "2026-06-30"),
        ],
        changed: ["\(learn):level", "\(learn):mentor", "\(learn):band", "\(learn):probationEnds"],
        rewrites: [.stringNumber: 1, .stringBoolean: 1, .caseFolded: 1, .dateTruncated: 1]),
    UserPatchCase(
        name: "Later operations see earlier ones",
        operations: #"""
            [{"op":"add","path":"title","value":"A"},
             {"op":"remove","path":"title"}]
            """#,
        expected: [(["title"], nil)], changed: ["title"]),
    UserPatchCase(
        name: "Empty path is treated as path-less",
        operations: #"[{"op":"replace","path":"","value":{"title":"T"}}]"#,
        expected: [(["title"], "T")], changed: ["title"], rewrites: [.emptyPath: 1]),
]

@Suite("PATCH on Users")
struct PatchUserTests {
    @Test(arguments: cases)
    func appliesRealWorldShapes(_ testCase: UserPatchCase) throws {
        let result = try PatchFixtures.patchUser(testCase.operations)
        for (path, expected) in testCase.expected {
            #expect(PatchFixtures.value(result.resource, path) == expected, "\(path)")
        }
        #expect(result.changedAttributes == testCase.changed)
        for (kind, count) in testCase.rewrites {
            #expect(result.rewrites[kind] == count, "\(kind)")
        }
        #expect(PatchFixtures.value(result.resource, ["id"]) == "u-1")
    }

    @Test func unknownAttributesInAPathLessValueAreReported() throws {
        let result = try PatchFixtures.patchUser(
            #"[{"op":"replace","value":{"nickName":"Ada","phoneNumbers":[],"name":{"middleName":"B"},"title":"T"}}]"#)
        #expect(result.unknownAttributes.sorted() == ["name.middleName", "nickName", "phoneNumbers"])
        #expect(result.changedAttributes == ["title"])
    }

    @Test func anEmptyPatchLeavesTheResourceAsItWas() throws {
        let result = try PatchFixtures.patchUser(#"[{"op":"add","path":"title","value":"Engineer"}]"#)
        #expect(result.changedAttributes.isEmpty)
        #expect(result.resource == PatchFixtures.user)
    }

    @Test func aFailingOperationReportsWhichOneFailed() {
        #expect {
            try PatchFixtures.patchUser(
                #"[{"op":"replace","path":"title","value":"T"},{"op":"replace","path":"active","value":"maybe"}]"#)
        } throws: { error in
            (error as? SCIMError)?.detail.hasPrefix("Operation 2:") == true
        }
    }
}
