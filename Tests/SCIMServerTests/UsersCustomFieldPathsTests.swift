import Foundation
import HTTPTypes
import Postgres
import SCIM
import Testing

@testable import SCIMStore

/// Custom fields mapped from any namespace a client sends: the Learn Amp extension, the enterprise
/// extension, a standard core attribute and a customer's own extension, on every kind of write.
@Suite("Users: custom fields mapped from any namespace")
struct UsersCustomFieldPathsTests {
    static let acme = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
    static let enterprise = SchemaURN.enterpriseUser

    /// One mapping per namespace; the Learn Amp one by its short name.
    static let mappings: JSONValue = [
        ["scimAttribute": "grade", "field": "grade", "type": "string"],
        ["scimAttribute": .string("\(enterprise):costCenter"), "field": "cost_centre", "type": "string"],
        [
            "scimAttribute": .string("\(acme):badgeColour"), "field": "badge_colour", "type": "enum",
            "allowedValues": ["Red", "Green"],
        ],
        ["scimAttribute": .string("\(SchemaURN.user):userType"), "field": "employment_type", "type": "string"],
    ]

    /// The organisation's `custom_fields` of the user with this userName, as the Learn Amp app reads them.
    static func storedFields(_ org: TestOrganisation, _ userName: String) async throws -> JSONValue? {
        let detail = try await org.client.admin(.get, "/organisations/\(org.slug)")
        let schema = try PostgresIdentifier(try #require(detail["schemaName"]?.stringValue, "\(detail.text)"))
        let text = try await withDatabase { client in
            try await client.query(
                "SELECT custom_fields::text AS fields FROM \(schema).users WHERE lower(user_name) = lower(\(userName))"
            ).first?.decode("fields", as: String.self)
        }
        return try text.map { try JSONValue.parse(Array($0.utf8)) }
    }

    static func mappedOrganisation(_ client: TestClient) async throws -> TestOrganisation {
        let org = try await client.organisation("cfp")
        try await org.mapCustomFields(mappings)
        return org
    }

    @Test("the admin API stores paths canonically: a short name is in the Learn Amp extension")
    func canonicalPaths() async throws {
        try await withApp { client in
            let org = try await client.organisation("cfp")
            try await org.mapCustomFields([
                ["scimAttribute": "grade", "field": "grade", "type": "string"],
                [
                    "scimAttribute": "URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:COSTCENTER",
                    "field": "cc", "type": "string",
                ],
                ["scimAttribute": .string("\(Self.acme):costCenter"), "field": "acme_cc", "type": "string"],
            ])
            let listed = try await client.admin(.get, "/organisations/\(org.slug)/custom-fields")
            let paths = (listed["mappings"]?.arrayValue ?? []).compactMap {
                $0[caseInsensitive: "scimAttribute"]?.stringValue
            }
            let expected = [
                "\(Self.enterprise):costCenter", "\(Self.acme):costCenter", "\(SchemaURN.learnAmpUser):grade",
            ]
            #expect(paths.sorted() == expected.sorted())
        }
    }

    @Test("a Learn Amp mapping named like an enterprise attribute is stored with a warning naming the enterprise path")
    func lookalikeWarning() async throws {
        try await withApp { client in
            let org = try await client.organisation("cfp")
            let result = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields",
                json: ["mappings": [["scimAttribute": "costCenter", "field": "cost_centre", "type": "string"]]])
            #expect(result.status == .ok, "\(result.text)")
            let warnings = try #require(result["warnings"]?.arrayValue, "\(result.text)")
            #expect(warnings.count == 1)
            #expect(warnings.first?.stringValue?.contains("\(Self.enterprise):costCenter") == true, "\(result.text)")

            let fixed = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields",
                json: [
                    "mappings": [
                        [
                            "scimAttribute": .string("\(Self.enterprise):costCenter"), "field": "cost_centre",
                            "type": "string",
                        ]
                    ]
                ])
            #expect(fixed.status == .ok && fixed["warnings"] == nil, "\(fixed.text)")
        }
    }

    @Test("discovery describes a mapped customer extension and a mapped standard core attribute")
    func discovery() async throws {
        try await withApp { client in
            let org = try await Self.mappedOrganisation(client)
            let type = try await org.scim(.get, "/ResourceTypes/User")
            let extensions = (type["schemaExtensions"]?.arrayValue ?? []).compactMap {
                $0[caseInsensitive: "schema"]?.stringValue
            }
            #expect(extensions.contains(Self.acme), "\(type.text)")
            let schema = try await org.scim(.get, "/Schemas/\(Self.acme)")
            #expect(schema.status == .ok, "\(schema.text)")
            let names = (schema["attributes"]?.arrayValue ?? []).compactMap { $0[caseInsensitive: "name"]?.stringValue }
            #expect(names == ["badgeColour"])
            let core = try await org.scim(.get, "/Schemas/\(SchemaURN.user)")
            #expect(core["attributes"]?.arrayValue?.contains { $0[caseInsensitive: "name"] == "userType" } == true)
        }
    }

    static let invalidPaths: [String] = [
        "urn:acme",
        "urn:ietf:params:scim:schemas:extension:acme:2.0:User:",
        "urn:ietf:params:scim:schemas:extension:acme:2.0:User:1st",
        "urn:ietf:params:scim:schemas:extension:ac me:2.0:User:badge",
        "urn::x:badge",
        "acme:badge",
        "urn:ietf:params:scim:schemas:extension:acme:2.0:User:badge.colour",
        "\(SchemaURN.enterpriseUser):manager",
        "\(SchemaURN.enterpriseUser):shoeSize",
        "\(SchemaURN.enterpriseUser):manager:value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "\(SchemaURN.user):password",
        "\(SchemaURN.user):emails",
        "\(SchemaURN.user):id",
        "\(SchemaURN.group):displayName",
        "\(SchemaURN.learnAmpUser):hireDate",
        String(repeating: "x", count: 400),
    ]

    @Test("an invalid mapping path is 400 naming scimAttribute", arguments: invalidPaths)
    func invalidPath(_ path: String) async throws {
        try await withApp { client in
            let org = try await client.organisation("cfp")
            let result = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields",
                json: ["mappings": [["scimAttribute": .string(path), "field": "f", "type": "string"]]])
            #expect(result.status == .badRequest, "\(path): \(result.text)")
            #expect(result.text.contains("scimAttribute"), "\(path): \(result.text)")
        }
    }

    @Test("POST and PUT fill the field from each namespace; enterprise costCenter is still stored as costCenter")
    func postAndPut() async throws {
        try await withApp { client in
            let org = try await Self.mappedOrganisation(client)
            let email = Users.email("cfp")
            let created = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    email,
                    extra: [
                        "schemas": [
                            .string(SchemaURN.user), .string(Self.enterprise), .string(Self.acme),
                            .string(SchemaURN.learnAmpUser),
                        ],
                        "userType": "Contractor",
                        Self.enterprise: ["costCenter": "CC-1", "department": "Ops"],
                        Self.acme: ["badgeColour": "red"],
                        SchemaURN.learnAmpUser: ["grade": "G1"],
                    ]))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            #expect(
                try await Self.storedFields(org, email)
                    == ["grade": "G1", "cost_centre": "CC-1", "badge_colour": "Red", "employment_type": "Contractor"])
            let fetched = try await org.scim(.get, "/Users/\(id)")
            #expect(fetched.json?.at(Self.enterprise, "costCenter") == "CC-1", "\(fetched.text)")
            #expect(fetched.json?.at(Self.acme, "badgeColour") == "Red", "\(fetched.text)")
            #expect(fetched.json?.at("userType") == "Contractor")
            #expect(fetched["schemas"]?.arrayValue?.contains(.string(Self.acme)) == true)
            let found = try await org.matching("\(Self.acme):badgeColour eq \"red\"")
            #expect(found == [email])

            let events = try await client.admin(
                .get, "/organisations/\(org.slug)/events?userName=\(Users.encode(email))")
            let warned = events["events"]?.arrayValue?.contains { $0[caseInsensitive: "kind"] == "unmapped_attributes" }
            #expect(warned == false, "\(events.text)")

            let replaced = try await org.scim(
                .put, "/Users/\(id)",
                json: Users.body(
                    email,
                    extra: [
                        "userType": "Employee",
                        Self.enterprise: ["costCenter": "CC-2"],
                        Self.acme: ["badgeColour": "Green"],
                        SchemaURN.learnAmpUser: ["grade": "G2"],
                    ]))
            #expect(replaced.status == .ok, "\(replaced.text)")
            #expect(replaced.json?.at(Self.enterprise, "costCenter") == "CC-2")
            #expect(
                try await Self.storedFields(org, email)
                    == ["grade": "G2", "cost_centre": "CC-2", "badge_colour": "Green", "employment_type": "Employee"])

            // A PUT without the attributes clears the fields, as it clears costCenter.
            let cleared = try await org.scim(.put, "/Users/\(id)", json: Users.body(email))
            #expect(cleared.status == .ok, "\(cleared.text)")
            #expect(cleared.json?.at(Self.enterprise, "costCenter") == nil)
            #expect(try await Self.storedFields(org, email) == [:])
        }
    }

    @Test("PATCH with a path naming each namespace's attribute fills the field")
    func patchWithPath() async throws {
        try await withApp { client in
            let org = try await Self.mappedOrganisation(client)
            let email = Users.email("cfp")
            let id = try await org.createUser(email)
            let patched = try await org.patchUser(
                id,
                ["op": "add", "path": .string("\(Self.enterprise):costCenter"), "value": "CC-7"],
                ["op": "replace", "path": .string("\(Self.acme):badgeColour"), "value": "GREEN"],
                ["op": "replace", "path": .string("\(SchemaURN.learnAmpUser):grade"), "value": "G7"],
                ["op": "replace", "path": "userType", "value": "Intern"])
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json?.at(Self.enterprise, "costCenter") == "CC-7")
            #expect(patched.json?.at(Self.acme, "badgeColour") == "Green")
            #expect(
                try await Self.storedFields(org, email)
                    == ["grade": "G7", "cost_centre": "CC-7", "badge_colour": "Green", "employment_type": "Intern"])

            // An unrelated PATCH keeps every field; removing the attribute clears its field.
            #expect(try await org.patchUser(id, ["op": "replace", "path": "title", "value": "Chef"]).status == .ok)
            #expect(try await Self.storedFields(org, email)?[caseInsensitive: "badge_colour"] == "Green")
            let removed = try await org.patchUser(id, ["op": "remove", "path": .string("\(Self.acme):badgeColour")])
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json?.at(Self.acme) == nil)
            let left = try await Self.storedFields(org, email)
            #expect(left == ["grade": "G7", "cost_centre": "CC-7", "employment_type": "Intern"])

            let bad = try await org.patchUser(
                id, ["op": "replace", "path": .string("\(Self.acme):badgeColour"), "value": "Blue"])
            expectSCIMError(bad, .badRequest, "invalidValue")
            #expect(bad.text.contains("badgeColour"), "\(bad.text)")
        }
    }

    @Test("path-less PATCH with extension objects (Okta) and URN-qualified keys (Entra) fills the field")
    func pathlessPatch() async throws {
        try await withApp { client in
            let org = try await Self.mappedOrganisation(client)
            let email = Users.email("cfp")
            let id = try await org.createUser(email)
            let okta = try await org.patchUser(
                id,
                [
                    "op": "replace",
                    "value": [
                        Self.enterprise: ["costCenter": "CC-8"], Self.acme: ["badgeColour": "Red"],
                        SchemaURN.learnAmpUser: ["grade": "G8"], "userType": "Employee",
                    ],
                ])
            #expect(okta.status == .ok, "\(okta.text)")
            #expect(
                try await Self.storedFields(org, email)
                    == ["grade": "G8", "cost_centre": "CC-8", "badge_colour": "Red", "employment_type": "Employee"])

            let entra = try await org.patchUser(
                id,
                [
                    "op": "Replace",
                    "value": ["\(Self.enterprise):costCenter": "CC-9", "\(Self.acme):badgeColour": "green"],
                ])
            #expect(entra.status == .ok, "\(entra.text)")
            #expect(entra.json?.at(Self.enterprise, "costCenter") == "CC-9")
            #expect(try await Self.storedFields(org, email)?[caseInsensitive: "cost_centre"] == "CC-9")
            #expect(try await Self.storedFields(org, email)?[caseInsensitive: "badge_colour"] == "Green")
        }
    }

    @Test(
        """
        a mapped value of the wrong type is 400 naming it; a value stored before the mapping does not block \
        other PATCHes
        """
    )
    func typedValues() async throws {
        try await withApp { client in
            let org = try await client.organisation("cfp")
            let email = Users.email("cfp")
            let id = try await org.createUser(email, extra: [Self.enterprise: ["division": "Ops"]])
            let division = JSONValue.string("\(Self.enterprise):division")
            try await org.mapCustomFields([["scimAttribute": division, "field": "division_no", "type": "number"]])

            let deactivated = try await org.patchUser(id, ["op": "replace", "path": "active", "value": false])
            #expect(deactivated.status == .ok, "\(deactivated.text)")
            #expect(deactivated.json?.at(Self.enterprise, "division") == "Ops")

            let bad = try await org.patchUser(id, ["op": "replace", "path": division, "value": "Sales"])
            expectSCIMError(bad, .badRequest, "invalidValue")
            #expect(bad.text.contains("division"), "\(bad.text)")
            let good = try await org.patchUser(id, ["op": "replace", "path": division, "value": "42"])
            #expect(good.status == .ok, "\(good.text)")
            #expect(good.json?.at(Self.enterprise, "division") == "42", "the attribute keeps its own SCIM behaviour")
            #expect(try await Self.storedFields(org, email) == ["division_no": 42])
        }
    }

    @Test(
        """
        unmapped attributes are recorded by name, not value, and listed by the status route; \
        Okta's password and locale are not
        """
    )
    func unmappedAttributes() async throws {
        try await withApp { client in
            let org = try await Self.mappedOrganisation(client)
            let email = Users.email("cfp")
            // Okta's default user plus an attribute of the customer's namespace that nobody mapped.
            let created = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    email,
                    extra: [
                        "schemas": [.string(SchemaURN.user), .string(Self.acme)],
                        "displayName": "Ada Lovelace", "locale": "en-US", "password": "Secret-Passw0rd", "groups": [],
                        "externalId": "00u1", "nickName": "Ada",
                        Self.acme: ["badgeColour": "Red", "shoeSize": "Size-Nine"],
                    ]))
            #expect(created.status == .created, "\(created.text)")
            let events = try await client.admin(
                .get, "/organisations/\(org.slug)/events?userName=\(Users.encode(email))")
            let warning = try #require(
                events["events"]?.arrayValue?.first { $0[caseInsensitive: "kind"] == "unmapped_attributes" },
                "\(events.text)")
            #expect(warning[caseInsensitive: "changes"] == ["nickName", .string("\(Self.acme):shoeSize")])
            #expect(!events.text.contains("Size-Nine"), "values are never logged")
            #expect(!events.text.contains("Secret-Passw0rd"), "values are never logged")

            let status = try await client.admin(.get, "/organisations/\(org.slug)/status")
            let unmapped = try #require(status["unmappedAttributes"]?.arrayValue, "\(status.text)")
            let names = unmapped.compactMap { $0[caseInsensitive: "name"]?.stringValue }
            #expect(names.sorted() == ["nickName", "\(Self.acme):shoeSize"])
            #expect(
                unmapped.allSatisfy {
                    $0[caseInsensitive: "count"] == 1 && $0[caseInsensitive: "lastSeenAt"]?.stringValue != nil
                })
            #expect(status.json?.at("health", "verdict") == "degraded", "\(status.text)")

            // Okta's default user alone: nothing unmapped, a healthy verdict.
            let plain = try await client.organisation("cfp")
            let okta = try await plain.scim(
                .post, "/Users",
                json: Users.body(
                    Users.email("okta"),
                    extra: [
                        "displayName": "Test User", "locale": "en-US", "password": "1mz050nq", "groups": [],
                        "externalId": "00u2",
                    ]))
            #expect(okta.status == .created, "\(okta.text)")
            let plainStatus = try await client.admin(.get, "/organisations/\(plain.slug)/status")
            #expect(plainStatus["unmappedAttributes"] == [], "\(plainStatus.text)")
            #expect(plainStatus.json?.at("health", "verdict") == "healthy", "\(plainStatus.text)")
        }
    }
}
