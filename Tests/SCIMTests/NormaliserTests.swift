import SCIM
import Testing

/// A POST/PUT body as some client sends it, and what the normaliser must make of it.
struct NormaliserCase: Sendable, CustomTestStringConvertible {
    var name: String
    var body: String
    var expected: [([String], JSONValue?)]
    var rewrites: [RewriteKind: Int]
    var unknown: [String] = []
    var testDescription: String { name }
}

private let ent = SchemaURN.enterpriseUser
private let learn = SchemaURN.learnAmpUser

private let normaliserCases: [NormaliserCase] = [
    NormaliserCase(
        name: "Okta POST is already canonical",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com",
             "name":{"givenName":"A","familyName":"B"},"emails":[{"primary":true,"value":"a@b.com","type":"work"}],
             "active":true,"password":"secret"}
            """#,
        expected: [(["userName"], "a@b.com"), (["schemas"], [.string(SchemaURN.user)]), (["password"], nil)],
        rewrites: [:], unknown: ["password"]),
    NormaliserCase(
        name: "Entra POST: PascalCase, string boolean, extension without its URN in schemas",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"UserName":"a@b.com","Active":"True",
             "Emails":[{"Primary":"true","Type":"work","Value":"a@b.com"}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"Department":"Sales","employeeNumber":"7"}}
            """#,
        expected: [
            (["userName"], "a@b.com"), (["active"], true),
            (["emails"], [["primary": true, "type": "work", "value": "a@b.com"]]),
            ([ent, "department"], "Sales"), (["schemas"], [.string(SchemaURN.user), .string(ent)]),
        ],
        rewrites: [.caseFolded: 7, .stringBoolean: 2, .missingExtensionSchema: 1]),
    NormaliserCase(
        name: "URN-qualified top-level keys move into the extension",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Sales",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value":"m-1",
             "urn:ietf:params:scim:schemas:core:2.0:User:title":"Rep"}
            """#,
        expected: [([ent, "department"], "Sales"), ([ent, "manager"], ["value": "m-1"]), (["title"], "Rep")],
        rewrites: [.urnKeyFlattened: 3, .missingExtensionSchema: 1]),
    NormaliserCase(
        name: "Dotted keys expand and merge with their object",
        body:
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","name.givenName":"A","name":{"familyName":"B"}}"#,
        expected: [(["name"], ["givenName": "A", "familyName": "B"])],
        rewrites: [.dottedKey: 1]),
    NormaliserCase(
        name: "Manager as a bare string",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com",
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"boss@b.com"}}
            """#,
        expected: [([ent, "manager"], ["value": "boss@b.com"])],
        rewrites: [.managerString: 1, .missingExtensionSchema: 1]),
    NormaliserCase(
        name: "Extension URN keys match case-insensitively",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER"],
             "userName":"a@b.com","URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER":{"division":"D"}}
            """#,
        expected: [([ent, "division"], "D"), (["schemas"], [.string(SchemaURN.user), .string(ent)])],
        rewrites: [.caseFolded: 2]),
    NormaliserCase(
        name: "Read-only attributes are dropped, a stray id counted",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"x","userName":"a@b.com",
             "meta":{"resourceType":"User"},"groups":[{"value":"g"}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m","displayName":"M"}}}
            """#,
        expected: [(["id"], nil), (["meta"], nil), (["groups"], nil), ([ent, "manager"], ["value": "m"])],
        rewrites: [.strayId: 1, .readOnlyIgnored: 3, .missingExtensionSchema: 1]),
    NormaliserCase(
        name: "Unknown attributes are removed and listed",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:okta:custom"],"userName":"a@b.com",
             "nickName":"A","emails":[{"value":"a@b.com","label":"x"}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"shoeSize":"9"}}
            """#,
        expected: [(["nickName"], nil), (["emails"], [["value": "a@b.com"]]), ([ent], nil)],
        rewrites: [:],
        unknown: ["urn:okta:custom", "emails.label", "nickName", "\(ent):shoeSize"]),
    NormaliserCase(
        name: "An extension nobody mapped is reported attribute by attribute, by the path a mapping would name",
        body: #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:acme:2.0:User"],
             "userName":"a@b.com",
             "urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badgeColour":"red","shoeSize":"9"}}
            """#,
        expected: [(["urn:ietf:params:scim:schemas:extension:acme:2.0:User"], nil)],
        rewrites: [:],
        unknown: [
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badgeColour",
            "urn:ietf:params:scim:schemas:extension:acme:2.0:User:shoeSize",
        ]),
    NormaliserCase(
        name: "Bare extension attribute names are found in the extensions",
        body:
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","department":"Ops","hireDate":"2020-01-31"}"#,
        expected: [([ent, "department"], "Ops"), ([learn, "hireDate"], "2020-01-31")],
        rewrites: [.extensionWithoutURN: 2, .missingExtensionSchema: 2]),
    NormaliserCase(
        name: "Nulls mean unassigned",
        body:
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","title":null,"name":{"givenName":null}}"#,
        expected: [(["title"], nil), (["name"], nil)],
        rewrites: [:]),
    NormaliserCase(
        name: "A single email object is wrapped in a list",
        body:
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","emails":{"value":"a@b.com"}}"#,
        expected: [(["emails"], [["value": "a@b.com"]])],
        rewrites: [.singleValueWrapped: 1]),
]

@Suite("Normaliser")
struct NormaliserTests {
    let normaliser = Normaliser(resourceType: PatchFixtures.userType)

    @Test(arguments: normaliserCases)
    func canonicalisesWhatClientsSend(_ testCase: NormaliserCase) throws {
        let result = try normaliser.normalise(resource: PatchFixtures.json(testCase.body))
        for (path, expected) in testCase.expected {
            #expect(PatchFixtures.value(result.value, path) == expected, "\(path)")
        }
        #expect(result.rewrites == testCase.rewrites)
        #expect(result.unknownAttributes.sorted() == testCase.unknown.sorted())
    }

    @Test(arguments: [
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","active":"yes"}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","emails":5}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","name":"Ada"}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","timezone":"Europe/Atlantis"}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","urn:ietf:params:scim:schemas:extension:learnamp:2.0:User":{"hireDate":"31/01/2020"}}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","urn:ietf:params:scim:schemas:extension:learnamp:2.0:User":{"mentor":"sometimes"}}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"Sales"}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","emails":[{"value":"a@b.com","primary":true},{"value":"c@b.com","primary":true}]}"#,
    ])
    func rejectsWrongTypes(_ body: String) {
        #expect(throws: SCIMError.self) { try normaliser.normalise(resource: PatchFixtures.json(body)) }
    }

    @Test func conflictingSpellingsAreAmbiguous() {
        #expect {
            try normaliser.normalise(
                resource: PatchFixtures.json(
                    #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com","name.givenName":"A","name":{"givenName":"B"}}"#
                ))
        } throws: { ($0 as? SCIMError)?.scimType == .invalidSyntax }
    }

    @Test func groupMembersOfTypeGroupAreRejected() {
        let groups = Normaliser(resourceType: .group)
        #expect {
            try groups.normalise(
                resource: PatchFixtures.json(
                    #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"T","members":[{"value":"g-2","type":"Group"}]}"#
                ))
        } throws: { ($0 as? SCIMError)?.scimType == .invalidValue }
    }

    /// RFC 7643 §3: `schemas` is required and lists the core schema; unknown extension URNs are ignored.
    @Test(arguments: [
        #"{"userName":"a@b.com"}"#,
        #"{"schemas":"urn:ietf:params:scim:schemas:core:2.0:User","userName":"a@b.com"}"#,
        #"{"schemas":[],"userName":"a@b.com"}"#,
        #"{"schemas":["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],"userName":"a@b.com"}"#,
        #"{"schemas":["urn:okta:custom"],"userName":"a@b.com"}"#,
        #"{"schemas":[5],"userName":"a@b.com"}"#,
        #"{"schemas":null,"userName":"a@b.com"}"#,
    ])
    func schemasMustListTheCoreSchema(_ body: String) {
        #expect {
            try normaliser.normalise(resource: PatchFixtures.json(body))
        } throws: { ($0 as? SCIMError)?.scimType == .invalidValue }
    }

    @Test func unknownExtensionURNsAreIgnored() throws {
        let result = try normaliser.normalise(
            resource: PatchFixtures.json(
                #"{"schemas":["urn:okta:custom","urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a@b.com"}"#))
        #expect(result.value[caseInsensitive: "schemas"] == [.string(SchemaURN.user)])
        #expect(result.unknownAttributes == ["urn:okta:custom"])
    }
}
