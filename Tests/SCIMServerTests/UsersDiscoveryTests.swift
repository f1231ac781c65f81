import Foundation
import HTTPTypes
import SCIM
import Testing

private let learn = SchemaURN.learnAmpUser

@Suite("SCIM discovery: ServiceProviderConfig, ResourceTypes, Schemas")
struct UsersDiscoveryTests {
    @Test("ServiceProviderConfig advertises PATCH, filter, ETag, sort and the limits, as integers")
    func serviceProviderConfig() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let config = try await org.scim(.get, "/ServiceProviderConfig")
            #expect(config.status == .ok)
            #expect(config.headers[.contentType]?.hasPrefix("application/scim+json") == true)
            #expect(config["schemas"] == [.string(SchemaURN.serviceProviderConfig)])
            #expect(config.json?.at("patch", "supported") == true)
            #expect(config.json?.at("filter", "supported") == true)
            #expect(config.json?.at("filter", "maxResults") == 1000)
            #expect(config.json?.at("etag", "supported") == true)
            #expect(config.json?.at("sort", "supported") == true)
            #expect(config.json?.at("bulk", "supported") == false)
            #expect(config.json?.at("changePassword", "supported") == false)
            #expect(config.json?.at("pagination", "cursor") == true)
            #expect(config.json?.at("pagination", "defaultPageSize") == 100)
            #expect(config.json?.at("pagination", "maxPageSize") == 1000)
            // RFC 9865: a positive number of seconds. Cursors are keyset positions and never expire.
            #expect(config.text.contains("\"cursorTimeout\":2147483647"), "\(config.text)")
            #expect(config["authenticationSchemes"]?.arrayValue?.first?[caseInsensitive: "type"] == "oauthbearertoken")
            #expect(config.text.contains("\"maxResults\":1000"))
            #expect(config.text.contains("\"maxPayloadSize\":1048576"))
        }
    }

    @Test("ResourceTypes lists User with both extensions")
    func resourceTypes() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let list = try await org.scim(.get, "/ResourceTypes")
            #expect(list.status == .ok)
            let user = try #require(list["Resources"]?.arrayValue?.first { $0[caseInsensitive: "id"] == "User" })
            #expect(user[caseInsensitive: "endpoint"] == "/Users")
            #expect(user[caseInsensitive: "schema"]?.stringValue == SchemaURN.user)
            let extensions = user[caseInsensitive: "schemaExtensions"]?.arrayValue?.compactMap {
                $0[caseInsensitive: "schema"]?.stringValue
            }
            #expect(extensions == [SchemaURN.enterpriseUser, SchemaURN.learnAmpUser])
            let one = try await org.scim(.get, "/ResourceTypes/User")
            #expect(one.json == user)
            expectSCIMError(try await org.scim(.get, "/ResourceTypes/Robot"), .notFound)
        }
    }

    @Test("Schemas include the Learn Amp extension with the organisation's mapped custom fields, and only theirs")
    func schemas() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let other = try await client.organisation()
            try await org.mapCustomFields([
                ["scimAttribute": .string("\(learn):costCentre"), "field": "cost_centre", "type": "string"],
                ["scimAttribute": .string("\(learn):level"), "field": "level", "type": "number"],
                [
                    "scimAttribute": .string("\(learn):band"), "field": "band", "type": "enum",
                    "allowedValues": ["A", "B"],
                ],
            ])
            let list = try await org.scim(.get, "/Schemas")
            #expect(list.status == .ok)
            let ids = list["Resources"]?.arrayValue?.compactMap { $0[caseInsensitive: "id"]?.stringValue } ?? []
            #expect(Set(ids).isSuperset(of: [SchemaURN.user, SchemaURN.enterpriseUser, SchemaURN.learnAmpUser]))
            let learnAmp = try #require(
                list["Resources"]?.arrayValue?.first { $0[caseInsensitive: "id"]?.stringValue == learn })
            let attributes = learnAmp[caseInsensitive: "attributes"]?.arrayValue ?? []
            func attribute(_ name: String) -> JSONValue? {
                attributes.first { $0[caseInsensitive: "name"]?.stringValue == name }
            }
            #expect(attribute("hireDate") != nil)
            #expect(attribute("costCentre")?[caseInsensitive: "type"] == "string")
            #expect(attribute("level")?[caseInsensitive: "type"] == "decimal")
            #expect(attribute("band")?[caseInsensitive: "canonicalValues"] == ["A", "B"])

            let one = try await org.scim(.get, "/Schemas/\(learn)")
            #expect(one.status == .ok)
            #expect(one.json == learnAmp)
            let upper = try await org.scim(.get, "/Schemas/\(learn.uppercased())")
            #expect(upper["id"]?.stringValue == learn)
            let core = try await org.scim(.get, "/Schemas/\(SchemaURN.user)")
            let coreNames =
                core["attributes"]?.arrayValue?.compactMap { $0[caseInsensitive: "name"]?.stringValue } ?? []
            #expect(
                Set(coreNames).isSuperset(of: [
                    "userName", "name", "displayName", "emails", "title", "timezone", "active", "groups",
                ]))
            expectSCIMError(try await org.scim(.get, "/Schemas/urn:example:nothing"), .notFound)

            let others = try await other.scim(.get, "/Schemas/\(learn)")
            let otherNames =
                others["attributes"]?.arrayValue?.compactMap { $0[caseInsensitive: "name"]?.stringValue } ?? []
            #expect(!otherNames.contains("costCentre"), "another organisation's custom fields never show")
            #expect(otherNames.contains("hireDate"))
        }
    }

    @Test("Schemas declare what a user is written with: primaryTeam's sub-attributes, IANA zones; id and meta left out")
    func schemasDescribeWhatIsWritten() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(
                "zoned@example.com",
                extra: [
                    "timezone": "Europe/London",
                    SchemaURN.enterpriseUser: ["department": "Research"],
                ])
            let user = try await org.scim(.get, "/Users/\(id)")
            let team = try #require(user.json?.at(SchemaURN.learnAmpUser, "primaryTeam")?.objectValue, "\(user.text)")

            let core = try await org.scim(.get, "/Schemas/\(SchemaURN.user)")
            let coreAttributes = core["attributes"]?.arrayValue ?? []
            func named(_ name: String, in attributes: [JSONValue]) -> JSONValue? {
                attributes.first { $0[caseInsensitive: "name"]?.stringValue == name }
            }
            #expect(
                named("id", in: coreAttributes) == nil,
                "a common attribute, not the resource schema's (RFC 7643 §8.7.1)")
            #expect(named("meta", in: coreAttributes) == nil)
            let zones = named("timezone", in: coreAttributes)?[caseInsensitive: "canonicalValues"]?.arrayValue ?? []
            #expect(zones.contains("Europe/London") && zones.contains("America/New_York"))
            #expect(zones.allSatisfy { $0.stringValue.map { $0.contains("/") || $0 == "UTC" } == true })

            let learnAmp = try await org.scim(.get, "/Schemas/\(SchemaURN.learnAmpUser)")
            let primaryTeam = try #require(named("primaryTeam", in: learnAmp["attributes"]?.arrayValue ?? []))
            let declared = primaryTeam[caseInsensitive: "subAttributes"]?.arrayValue ?? []
            for (name, value) in team {
                let attribute = try #require(
                    named(name, in: declared), "primaryTeam.\(name) is written but not declared")
                #expect(
                    attribute[caseInsensitive: "mutability"] == "readOnly",
                    "primaryTeam.\(name) is computed by the server")
                let type = attribute[caseInsensitive: "type"]?.stringValue
                #expect(
                    value.stringValue != nil && (type == "string" || type == "reference"),
                    "primaryTeam.\(name): \(type ?? "")")
            }
            #expect(Set(team.keys) == ["value", "display", "$ref"])
        }
    }

    @Test(
        "discovery endpoints are read-only: writes are 405",
        arguments: [
            "/ServiceProviderConfig", "/ResourceTypes", "/Schemas", "/Schemas/\(SchemaURN.user)", "/ResourceTypes/User",
        ])
    func readOnly(_ path: String) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("discovery", client: client)
            for method: HTTPRequest.Method in [.post, .put, .patch, .delete] {
                expectSCIMError(try await org.scim(method, path, json: ["x": 1]), .methodNotAllowed)
            }
        }
    }
}
