import SCIM
import Testing

/// A bad PATCH and the RFC 7644 §3.12 `scimType` it must produce.
struct BadPatchCase: Sendable, CustomTestStringConvertible {
    enum Target: Sendable { case user, groupPlan }
    var name: String
    /// Either a full body (starting with `{`) or an Operations array.
    var body: String
    var scimType: SCIMError.ScimType
    var target: Target = .user
    var testDescription: String { "\(name) → \(scimType.rawValue)" }
}

private let badCases: [BadPatchCase] = [
    // The message itself.
    BadPatchCase(name: "body is an array", body: "[]", scimType: .invalidSyntax),
    BadPatchCase(
        name: "no schemas", body: #"{"Operations":[{"op":"add","path":"title","value":"x"}]}"#, scimType: .invalidSyntax
    ),
    BadPatchCase(
        name: "wrong schema",
        body:
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"Operations":[{"op":"add","path":"title","value":"x"}]}"#,
        scimType: .invalidSyntax),
    BadPatchCase(
        name: "no Operations", body: #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#,
        scimType: .invalidSyntax),
    BadPatchCase(name: "empty Operations", body: "[]", scimType: .invalidSyntax),
    BadPatchCase(name: "operation is not an object", body: #"["add"]"#, scimType: .invalidSyntax),
    BadPatchCase(name: "unknown op", body: #"[{"op":"delete","path":"title"}]"#, scimType: .invalidSyntax),
    BadPatchCase(name: "missing op", body: #"[{"path":"title","value":"x"}]"#, scimType: .invalidSyntax),
    BadPatchCase(name: "add without value", body: #"[{"op":"add","path":"title"}]"#, scimType: .invalidValue),
    // Paths.
    BadPatchCase(
        name: "unparsable path", body: #"[{"op":"add","path":"emails[type eq","value":"x"}]"#, scimType: .invalidPath),
    BadPatchCase(name: "path is not a string", body: #"[{"op":"add","path":5,"value":"x"}]"#, scimType: .invalidPath),
    BadPatchCase(
        name: "unknown attribute", body: #"[{"op":"replace","path":"favouriteColour","value":"x"}]"#,
        scimType: .invalidPath),
    BadPatchCase(
        name: "unknown sub-attribute", body: #"[{"op":"replace","path":"name.middleName","value":"x"}]"#,
        scimType: .invalidPath),
    BadPatchCase(
        name: "unknown extension attribute",
        body:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize","value":"x"}]"#,
        scimType: .invalidPath),
    BadPatchCase(
        name: "unknown schema URN", body: #"[{"op":"replace","path":"urn:example:foo:bar","value":"x"}]"#,
        scimType: .invalidPath),
    BadPatchCase(
        name: "value filter on a single-valued attribute",
        body: #"[{"op":"replace","path":"name[givenName eq \"Ada\"].familyName","value":"x"}]"#, scimType: .invalidPath),
    BadPatchCase(
        name: "value filter naming an unknown sub-attribute",
        body: #"[{"op":"replace","path":"emails[kind eq \"work\"].value","value":"x"}]"#, scimType: .invalidPath),
    BadPatchCase(
        name: "unknown sub-attribute after a filter",
        body: #"[{"op":"replace","path":"emails[type eq \"work\"].label","value":"x"}]"#, scimType: .invalidPath),
    // Read-only attributes.
    BadPatchCase(name: "id", body: #"[{"op":"replace","path":"id","value":"x"}]"#, scimType: .mutability),
    BadPatchCase(
        name: "meta sub-attribute", body: #"[{"op":"replace","path":"meta.created","value":"x"}]"#,
        scimType: .mutability),
    BadPatchCase(
        name: "groups", body: #"[{"op":"add","path":"groups","value":[{"value":"g-2"}]}]"#, scimType: .mutability),
    BadPatchCase(
        name: "remove groups by filter", body: #"[{"op":"remove","path":"groups[value eq \"g-1\"]"}]"#,
        scimType: .mutability),
    BadPatchCase(
        name: "primaryTeam",
        body:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:primaryTeam","value":{"value":"t"}}]"#,
        scimType: .mutability),
    BadPatchCase(
        name: "manager.displayName",
        body:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.displayName","value":"x"}]"#,
        scimType: .mutability),
    // Targets.
    BadPatchCase(name: "remove without a path", body: #"[{"op":"remove"}]"#, scimType: .noTarget),
    BadPatchCase(
        name: "replace through a filter matching nothing",
        body: #"[{"op":"replace","path":"emails[type eq \"home\"].value","value":"x@y.com"}]"#, scimType: .noTarget),
    BadPatchCase(
        name: "add through a filter that cannot seed an element",
        body: #"[{"op":"add","path":"emails[type ne \"work\"].value","value":"x@y.com"}]"#, scimType: .noTarget),
    // Values.
    BadPatchCase(
        name: "active is not a boolean", body: #"[{"op":"replace","path":"active","value":"maybe"}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "emails is a number", body: #"[{"op":"add","path":"emails","value":5}]"#, scimType: .invalidValue),
    BadPatchCase(
        name: "emails element is a number", body: #"[{"op":"add","path":"emails","value":[5]}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "string attribute given an object", body: #"[{"op":"replace","path":"name.givenName","value":{"a":1}}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "path-less value is not an object", body: #"[{"op":"replace","value":"x"}]"#, scimType: .invalidValue),
    BadPatchCase(
        name: "remove a required attribute", body: #"[{"op":"remove","path":"userName"}]"#, scimType: .invalidValue),
    BadPatchCase(
        name: "replace a required attribute with null", body: #"[{"op":"replace","path":"userName","value":null}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "not an IANA time zone", body: #"[{"op":"replace","path":"timezone","value":"Mars/Olympus"}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "impossible hire date",
        body:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:hireDate","value":"2025-02-29"}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "custom enum outside its values",
        body:
            #"[{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:band","value":"Principal"}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "custom number that is not a number",
        body: #"[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:level":"high"}}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "two primary emails",
        body:
            #"[{"op":"replace","path":"emails","value":[{"value":"a@b.c","primary":true},{"value":"d@e.f","primary":true}]}]"#,
        scimType: .invalidValue),
    BadPatchCase(
        name: "the same attribute twice with different values",
        body: #"[{"op":"replace","value":{"title":"A","Title":"B"}}]"#, scimType: .invalidSyntax),
    BadPatchCase(
        name: "path-less value with another user's id", body: #"[{"op":"replace","value":{"id":"u-2","title":"X"}}]"#,
        scimType: .mutability),
    BadPatchCase(
        name: "path-less value with an id that is not a string",
        body: #"[{"op":"replace","value":{"id":1,"title":"X"}}]"#,
        scimType: .mutability),
    BadPatchCase(
        name: "path-less add with another id and meta",
        body: #"[{"op":"add","value":{"ID":"u-2","meta":{"version":"x"}}}]"#,
        scimType: .mutability),
    // Groups.
    BadPatchCase(
        name: "path-less rename with another group's id",
        body: #"[{"op":"replace","value":{"id":"g-2","displayName":"X"}}]"#, scimType: .mutability, target: .groupPlan),
    BadPatchCase(
        name: "nested group", body: #"[{"op":"add","path":"members","value":[{"value":"g-9","type":"Group"}]}]"#,
        scimType: .invalidValue, target: .groupPlan),
    BadPatchCase(
        name: "member without a value", body: #"[{"op":"add","path":"members","value":[{"display":"Ada"}]}]"#,
        scimType: .invalidValue, target: .groupPlan),
    BadPatchCase(
        name: "member filter other than value eq", body: #"[{"op":"remove","path":"members[display eq \"Ada\"]"}]"#,
        scimType: .invalidFilter, target: .groupPlan),
    BadPatchCase(
        name: "member filter on add", body: #"[{"op":"add","path":"members[value eq \"u-1\"]","value":{}}]"#,
        scimType: .invalidPath, target: .groupPlan),
    BadPatchCase(
        name: "remove displayName", body: #"[{"op":"remove","path":"displayName"}]"#, scimType: .invalidValue,
        target: .groupPlan),
    BadPatchCase(
        name: "empty displayName", body: #"[{"op":"replace","path":"displayName","value":" "}]"#,
        scimType: .invalidValue,
        target: .groupPlan),
    BadPatchCase(
        name: "group id", body: #"[{"op":"replace","path":"id","value":"g-2"}]"#, scimType: .mutability,
        target: .groupPlan),
    BadPatchCase(
        name: "group unknown attribute", body: #"[{"op":"replace","path":"title","value":"x"}]"#,
        scimType: .invalidPath, target: .groupPlan),
    BadPatchCase(
        name: "group remove without path", body: #"[{"op":"remove"}]"#, scimType: .noTarget, target: .groupPlan),
]

@Suite("PATCH errors")
struct PatchErrorTests {
    @Test(arguments: badCases)
    func rejectsWithTheRightScimType(_ testCase: BadPatchCase) {
        let body = testCase.body.hasPrefix("{") ? PatchFixtures.json(testCase.body) : PatchFixtures.patch(testCase.body)
        #expect {
            let request = try PatchRequest.decode(body, limits: .default)
            switch testCase.target {
            case .user: _ = try PatchEngine(resourceType: PatchFixtures.userType).apply(request, to: PatchFixtures.user)
            case .groupPlan: _ = try PatchEngine.memberChanges(request, groupID: "g-1")
            }
        } throws: { error in
            guard let error = error as? SCIMError else { return false }
            return error.scimType == testCase.scimType && error.status == 400
        }
    }

    @Test func tooManyOperations() {
        let operations = Array(repeating: #"{"op":"add","path":"title","value":"x"}"#, count: 3).joined(separator: ",")
        #expect(throws: SCIMError.tooMany("A PATCH request may carry at most 2 operations.")) {
            try PatchRequest.decode(PatchFixtures.patch("[\(operations)]"), limits: ServiceLimits(maxOperations: 2))
        }
    }

    @Test func operationsKeyAndOpNamesAreCaseInsensitive() throws {
        let body = PatchFixtures.json(
            #"{"Schemas":["URN:ietf:params:scim:api:messages:2.0:PatchOp"],"operations":[{"OP":"REMOVE","Path":"title"}]}"#
        )
        let request = try PatchRequest.decode(body, limits: .default)
        #expect(request.operations.map(\.op) == [.remove])
        #expect(request.rewrites[.caseFolded] == 1)
    }
}
