import SCIM
import Testing

/// `attributes` / `excludedAttributes` and the top-level keys (and selected sub-keys) that must remain.
struct ProjectionCase: Sendable, CustomTestStringConvertible {
    var name: String
    var attributes: String?
    var excluded: String?
    var group = false
    var keys: Set<String>
    var expected: [([String], JSONValue?)] = []
    var testDescription: String { name }
}

private let ent = SchemaURN.enterpriseUser

private let projectionCases: [ProjectionCase] = [
    ProjectionCase(
        name: "defaults return everything", attributes: nil, excluded: nil,
        keys: [
            "schemas", "id", "externalId", "userName", "name", "displayName", "emails", "title", "active", "groups",
            ent, "meta",
        ]),
    ProjectionCase(
        name: "attributes=members on a group", attributes: "members", excluded: nil, group: true,
        keys: ["schemas", "id", "members"]),
    ProjectionCase(
        name: "excludedAttributes=members on a group", attributes: nil, excluded: "members", group: true,
        keys: ["schemas", "id", "displayName", "meta"]),
    ProjectionCase(
        name: "meta.created only", attributes: "meta.created", excluded: nil,
        keys: ["schemas", "id", "meta"], expected: [(["meta"], ["created": "2026-01-01T00:00:00Z"])]),
    ProjectionCase(
        name: "names are case-insensitive, unknown ones ignored", attributes: "USERNAME, nickName ,Name.GivenName",
        excluded: nil,
        keys: ["schemas", "id", "userName", "name"], expected: [(["name"], ["givenName": "Ada"])]),
    ProjectionCase(
        name: "emails.value on every element", attributes: "emails.value", excluded: nil,
        keys: ["schemas", "id", "emails"], expected: [(["emails"], [["value": "ada@acme.com"]])]),
    ProjectionCase(
        name: "an extension attribute by URN path",
        attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", excluded: nil,
        keys: ["schemas", "id", ent], expected: [([ent], ["department": "Engineering"])]),
    ProjectionCase(
        name: "an extension sub-attribute by URN path",
        attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", excluded: nil,
        keys: ["schemas", "id", ent], expected: [([ent], ["manager": ["value": "m-1"]])]),
    ProjectionCase(
        name: "a whole extension by its URN",
        attributes: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", excluded: nil,
        keys: ["schemas", "id", ent],
        expected: [([ent, "department"], "Engineering"), ([ent, "manager", "value"], "m-1")]),
    ProjectionCase(
        name: "URN-qualified core attribute", attributes: "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        excluded: nil,
        keys: ["schemas", "id", "userName"]),
    ProjectionCase(
        name: "excluding a whole extension", attributes: nil,
        excluded: "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User,groups",
        keys: ["schemas", "id", "externalId", "userName", "name", "displayName", "emails", "title", "active", "meta"]),
    ProjectionCase(
        name: "excluding a sub-attribute", attributes: nil, excluded: "name.familyName,meta",
        keys: [
            "schemas", "id", "externalId", "userName", "name", "displayName", "emails", "title", "active", "groups",
            ent,
        ],
        expected: [(["name"], ["givenName": "Ada"])]),
    ProjectionCase(
        name: "id and schemas cannot be excluded", attributes: nil, excluded: "id,schemas,userName",
        keys: [
            "schemas", "id", "externalId", "name", "displayName", "emails", "title", "active", "groups", ent, "meta",
        ]),
    ProjectionCase(
        name: "attributes wins over excludedAttributes", attributes: "userName", excluded: "userName",
        keys: ["schemas", "id", "userName"]),
    ProjectionCase(
        name: "empty lists mean defaults", attributes: "", excluded: " , ",
        keys: [
            "schemas", "id", "externalId", "userName", "name", "displayName", "emails", "title", "active", "groups",
            ent, "meta",
        ]),
]

@Suite("Attribute projection")
struct ProjectionTests {
    @Test(arguments: projectionCases)
    func projects(_ testCase: ProjectionCase) throws {
        let type: ResourceType = testCase.group ? .group : PatchFixtures.userType
        let projection = try AttributeProjection(
            attributes: testCase.attributes, excludedAttributes: testCase.excluded, resourceType: type)
        let projected = projection.apply(to: testCase.group ? PatchFixtures.group : PatchFixtures.user)
        #expect(Set(projected.objectValue.map { Array($0.keys) } ?? []) == testCase.keys)
        for (path, expected) in testCase.expected {
            #expect(PatchFixtures.value(projected, path) == expected, "\(path)")
        }
    }

    @Test(
        "the default selection still drops unknown members and complex values left empty, and keeps the rest as it was")
    func defaultsDropUnknownAndEmpty() throws {
        let projection = try AttributeProjection(
            attributes: nil, excludedAttributes: nil, resourceType: PatchFixtures.userType)
        guard case .object(var resource) = PatchFixtures.user else {
            Issue.record("the fixture is not an object")
            return
        }
        resource["nickname2"] = "unknown"
        resource["name"] = [:]
        resource["emails"] = []
        resource["groups"] = [["value": "g-1"], [:]]
        resource[SchemaURN.learnAmpUser] = ["notMapped": "x"]
        guard case .object(var enterprise) = resource[ent] else {
            Issue.record("no enterprise extension")
            return
        }
        enterprise["costCentre"] = "misspelt"
        resource[ent] = .object(enterprise)

        let projected = try #require(projection.apply(to: .object(resource)).objectValue)
        #expect(projected["nickname2"] == nil && projected["name"] == nil && projected["emails"] == nil)
        #expect(projected["groups"] == [["value": "g-1"]])
        #expect(projected[SchemaURN.learnAmpUser] == nil)
        enterprise["costCentre"] = nil
        #expect(projected[ent] == .object(enterprise))
        #expect(projection.apply(to: PatchFixtures.user) == PatchFixtures.user)
    }

    @Test(
        arguments: [
            (nil, nil, "members", true),
            (nil, "members", "members", false),
            (nil, "MEMBERS", "Members", false),
            ("displayName", nil, "members", false),
            ("members.value", nil, "members", true),
            (nil, "members.display", "members", true),
            ("displayName", nil, "id", true),
            ("displayName", nil, "schemas", true),
            (nil, nil, "nonsense", false),
        ] as [(String?, String?, String, Bool)])
    func tellsTheStoreWhatToLoad(attributes: String?, excluded: String?, attribute: String, included: Bool) throws {
        let projection = try AttributeProjection(
            attributes: attributes, excludedAttributes: excluded, resourceType: .group)
        #expect(projection.includes(attribute) == included)
    }

    @Test func extensionsCanBeAskedAboutByURN() throws {
        let projection = try AttributeProjection(
            attributes: "userName", excludedAttributes: nil, resourceType: PatchFixtures.userType)
        #expect(!projection.includes(SchemaURN.enterpriseUser))
        #expect(!projection.includes("\(SchemaURN.enterpriseUser):manager"))
        #expect(!projection.includes("groups"))
        let all = try AttributeProjection(
            attributes: nil, excludedAttributes: nil, resourceType: PatchFixtures.userType)
        #expect(all.includes("\(SchemaURN.enterpriseUser):manager"))
        #expect(all.includes("groups"))
    }

    @Test(arguments: [#"emails[type eq "work"]"#, "user name", "name;drop"])
    func rejectsNamesThatAreNotNames(_ list: String) {
        #expect {
            try AttributeProjection(attributes: list, excludedAttributes: nil, resourceType: PatchFixtures.userType)
        } throws: { ($0 as? SCIMError)?.scimType == .invalidSyntax }
    }
}
