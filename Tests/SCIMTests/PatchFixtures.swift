import SCIM

/// Shared inputs for the schema, normaliser, PATCH and projection suites.
enum PatchFixtures {
    static let enterprise = SchemaURN.enterpriseUser
    static let learnAmp = SchemaURN.learnAmpUser

    static let customFields = [
        CustomFieldDefinition(name: "costCentre", type: .string),
        CustomFieldDefinition(name: "level", type: .number),
        CustomFieldDefinition(name: "mentor", type: .boolean),
        CustomFieldDefinition(name: "probationEnds", type: .date),
        CustomFieldDefinition(name: "band", type: .enum(allowed: ["Junior", "Senior"])),
    ]

    static let userType = ResourceType.user(customFields: customFields)

    /// Parses JSON written in a test; a typo is a test bug, so it traps.
    static func json(_ text: String) -> JSONValue {
        try! JSONValue.parse(Array(text.utf8))
    }

    /// A PatchOp body around the given operations (JSON array text).
    static func patch(_ operations: String) -> JSONValue {
        json(#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":\#(operations)}"#)
    }

    static let user = json(
        #"""
        {
          "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
          "id": "u-1",
          "externalId": "okta-1",
          "userName": "ada@acme.com",
          "name": {"givenName": "Ada", "familyName": "Lovelace"},
          "displayName": "Ada Lovelace",
          "emails": [{"value": "ada@acme.com", "type": "work", "primary": true}],
          "title": "Engineer",
          "active": true,
          "groups": [{"value": "g-1", "display": "Engineering"}],
          "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Engineering",
            "manager": {"value": "m-1", "displayName": "Grace Hopper"}
          },
          "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z",
                   "lastModified": "2026-01-02T00:00:00Z", "location": "https://x/Users/u-1", "version": "W/\"1\""}
        }
        """#)

    static let group = json(
        #"""
        {
          "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
          "id": "g-1",
          "displayName": "Engineering",
          "members": [{"value": "u-1", "display": "Ada"}, {"value": "u-2", "display": "Grace"}],
          "meta": {"resourceType": "Group", "created": "2026-01-01T00:00:00Z", "version": "W/\"3\""}
        }
        """#)

    /// The value at a key path (`["name", "givenName"]`), or nil.
    static func value(_ resource: JSONValue, _ path: [String]) -> JSONValue? {
        var current: JSONValue? = resource
        for key in path { current = current?.objectValue?[key] }
        return current
    }

    /// Decodes and applies a PATCH to `resource` as a User of `userType`.
    static func patchUser(_ operations: String, _ resource: JSONValue = user) throws(SCIMError) -> PatchResult {
        let request = try PatchRequest.decode(patch(operations), limits: .default)
        return try PatchEngine(resourceType: userType).apply(request, to: resource)
    }

    static func planGroup(_ operations: String, limits: ServiceLimits = .default) throws(SCIMError) -> GroupPatchPlan {
        let request = try PatchRequest.decode(patch(operations), limits: limits)
        return try PatchEngine.memberChanges(request, groupID: "g-1", limits: limits)
    }
}
