import Foundation
import HTTPTypes
import SCIM
import Testing

private let ent = SchemaURN.enterpriseUser
private let learn = SchemaURN.learnAmpUser

/// A PATCH that must fail, and how.
struct BadPatch: Sendable, CustomTestStringConvertible {
    var name: String
    var operations: JSONValue
    var scimType: String
    var testDescription: String { name }
}

@Suite("SCIM /Users: PATCH over HTTP, with Okta's and Entra's real request shapes")
struct UsersPatchTests {
    @Test("Entra: capitalised ops, string booleans and one operation per attribute")
    func entraOnePerAttribute() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let id = try await org.createUser(Users.email("entra"))
            let result = try await org.patchUser(
                id,
                ["op": "Replace", "path": "active", "value": "False"],
                ["op": "Replace", "path": "displayName", "value": "Augusta King"],
                ["op": "Replace", "path": "title", "value": "Countess"],
                ["op": "Replace", "path": "name.givenName", "value": "Augusta"],
                ["op": "Replace", "path": "name.familyName", "value": "King"],
                ["op": "Add", "path": "externalId", "value": "entra-object-1"],
                ["op": "Add", "path": "timezone", "value": "europe/london"],
                ["op": "Replace", "path": "\(ent):department", "value": "Research"],
                ["op": "Replace", "path": "\(ent):employeeNumber", "value": "42"],
                ["op": "Add", "path": "\(learn):hireDate", "value": "2021-09-01"])
            #expect(result.status == .ok, "\(result.text)")
            let fetched = try #require(try await org.scim(.get, "/Users/\(id)").json)
            #expect(fetched.at("active") == false)
            #expect(fetched.at("displayName") == "Augusta King")
            #expect(fetched.at("title") == "Countess")
            #expect(fetched.at("name", "givenName") == "Augusta")
            #expect(fetched.at("name", "familyName") == "King")
            #expect(fetched.at("externalId") == "entra-object-1")
            #expect(fetched.at("timezone") == "Europe/London")
            #expect(fetched.at(ent, "department") == "Research")
            #expect(fetched.at(ent, "employeeNumber") == "42")
            #expect(fetched.at(learn, "hireDate") == "2021-09-01")
            #expect(fetched.at("schemas")?.arrayValue?.contains(.string(ent)) == true)
            #expect(fetched.at("schemas")?.arrayValue?.contains(.string(learn)) == true)

            let reactivated = try await org.patchUser(id, ["op": "Replace", "path": "active", "value": "True"])
            #expect(reactivated["active"] == true)
        }
    }

    @Test("a path-less replace may echo the user's own id (any case) and meta; another id is 400 mutability")
    func pathlessEchoedID() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("echo"))
            let echoed = try await org.patchUser(
                id,
                [
                    "op": "replace",
                    "value": ["id": .string(id.uppercased()), "meta": ["version": "W/\"99\""], "title": "Echoed"],
                ])
            #expect(echoed.status == .ok, "\(echoed.text)")
            #expect(echoed["title"] == "Echoed")
            #expect(echoed["id"]?.stringValue == id)
            let other = try await org.patchUser(
                id, ["op": "replace", "value": ["id": .string(UUID().uuidString), "title": "Other"]])
            expectSCIMError(other, .badRequest, "mutability")
            #expect(try await org.scim(.get, "/Users/\(id)")["title"] == "Echoed")
        }
    }

    @Test("Entra: manager sent as a bare string id, then as an email")
    func entraManagerString() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let bossEmail = Users.email("boss")
            let bossID = try await org.createUser(bossEmail)
            let id = try await org.createUser(Users.email("report"))
            let byID = try await org.patchUser(id, ["op": "Add", "path": "\(ent):manager", "value": .string(bossID)])
            #expect(byID.status == .ok, "\(byID.text)")
            #expect(byID.json?.at(ent, "manager", "value")?.stringValue == bossID)

            let otherEmail = Users.email("boss2")
            let otherID = try await org.createUser(otherEmail)
            let byEmail = try await org.patchUser(
                id, ["op": "Replace", "path": "\(ent):manager", "value": .string(otherEmail)])
            #expect(byEmail.status == .ok, "\(byEmail.text)")
            #expect(byEmail.json?.at(ent, "manager", "value")?.stringValue == otherID)
            #expect(try await org.scim(.get, "/Users/\(id)").json?.at(ent, "manager", "value")?.stringValue == otherID)
        }
    }

    @Test("Entra: Add on emails[type eq \"work\"].value creates the entry when absent and updates it when present")
    func entraAddThroughFilter() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let userName = Users.email("filtered")
            var body = Users.body(userName).objectValue!
            body["emails"] = [["value": "home@example.org", "type": "home"]]
            let created = try await org.scim(.post, "/Users", json: .object(body))
            let id = try #require(created["id"]?.stringValue, "\(created.text)")

            let workEmail = Users.email("work")
            let added = try await org.patchUser(
                id, ["op": "Add", "path": "emails[type eq \"work\"].value", "value": .string(workEmail)])
            #expect(added.status == .ok, "\(added.text)")
            let emails = try #require(added["emails"]?.arrayValue)
            #expect(emails.count == 2)
            #expect(
                emails.contains {
                    $0[caseInsensitive: "type"] == "work" && $0[caseInsensitive: "value"]?.stringValue == workEmail
                })
            #expect(try await org.matching("emails[type eq \"work\" and value eq \"\(workEmail)\"]") == [userName])

            let updatedEmail = Users.email("work2")
            let updated = try await org.patchUser(
                id, ["op": "Add", "path": "emails[type eq \"work\"].value", "value": .string(updatedEmail)],
                ["op": "Replace", "path": "emails[type eq \"work\"].primary", "value": "True"])
            #expect(updated.status == .ok, "\(updated.text)")
            let after = try #require(updated["emails"]?.arrayValue)
            #expect(after.count == 2)
            let work = after.first { $0[caseInsensitive: "type"] == "work" }
            #expect(work?[caseInsensitive: "value"]?.stringValue == updatedEmail)
            #expect(work?[caseInsensitive: "primary"] == true)

            let removed = try await org.patchUser(id, ["op": "Remove", "path": "emails[type eq \"home\"]"])
            #expect(removed["emails"]?.arrayValue?.count == 1)
        }
    }

    @Test("Entra: a path-less replace with dotted keys, URN keys, PascalCase names and an echo of the user's id")
    func entraPathlessReplace() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let id = try await org.createUser(Users.email("pathless"))
            let result = try await org.patchUser(
                id,
                [
                    "op": "Replace",
                    "value": [
                        "id": .string(id.uppercased()), "name.givenName": "Augusta", "Name.FamilyName": "King",
                        "\(ent):department": "Research", "DisplayName": "Augusta King", "TITLE": "Countess",
                        "urn:ietf:params:scim:schemas:core:2.0:User:externalId": "core-urn",
                        "\(ent.uppercased()):EmployeeNumber": "7",
                    ],
                ])
            #expect(result.status == .ok, "\(result.text)")
            #expect(result["id"]?.stringValue == id, "a stray id is ignored")
            let fetched = try #require(try await org.scim(.get, "/Users/\(id)").json)
            #expect(fetched.at("name", "givenName") == "Augusta")
            #expect(fetched.at("name", "familyName") == "King")
            #expect(fetched.at("displayName") == "Augusta King")
            #expect(fetched.at("title") == "Countess")
            #expect(fetched.at("externalId") == "core-urn")
            #expect(fetched.at(ent, "department") == "Research")
            #expect(fetched.at(ent, "employeeNumber") == "7")
        }
    }

    @Test("PascalCase and upper-case URN paths address the same attributes")
    func caseInsensitivePaths() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("paths"))
            let result = try await org.patchUser(
                id,
                ["op": "replace", "path": "Name.FamilyName", "value": "Upper"],
                ["op": "replace", "path": "\(ent.uppercased()):Department", "value": "Ops"],
                ["op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:Title", "value": "Chief"],
                ["op": "replace", "path": "\(ent):manager.value", "value": "pending@example.com"])
            #expect(result.status == .ok, "\(result.text)")
            #expect(result.json?.at("name", "familyName") == "Upper")
            #expect(result.json?.at(ent, "department") == "Ops")
            #expect(result["title"] == "Chief")
        }
    }

    @Test("extension attributes are accepted without their URN in schemas, on POST, PUT and path-less PATCH")
    func extensionsWithoutSchemaURN() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("noschema")
            let created = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    email,
                    extra: [
                        "schemas": [.string(SchemaURN.user)], ent: ["department": "Sales"],
                        learn: ["hireDate": "2022-02-02"],
                    ]))
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json?.at(ent, "department") == "Sales")
            #expect(created.json?.at(learn, "hireDate") == "2022-02-02")
            #expect(created["schemas"]?.arrayValue?.contains(.string(ent)) == true)
            let id = try #require(created["id"]?.stringValue)

            let patched = try await org.patchUser(
                id, ["op": "replace", "value": ["department": "Support", "hireDate": "2022-03-03"]])
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json?.at(ent, "department") == "Support")
            #expect(patched.json?.at(learn, "hireDate") == "2022-03-03")

            let put = try await org.scim(
                .put, "/Users/\(id)",
                json: Users.body(email, extra: ["schemas": [.string(SchemaURN.user)], ent: ["division": "EMEA"]]))
            #expect(put.status == .ok, "\(put.text)")
            #expect(put.json?.at(ent, "division") == "EMEA")
            #expect(put.json?.at(ent, "department") == nil)
        }
    }

    @Test("add, replace and remove with and without paths, on simple, complex and multi-valued attributes")
    func rfcOperations() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("ops")
            let id = try await org.createUser(email, extra: ["title": "Start"])
            let added = try await org.patchUser(
                id,
                [
                    "op": "add",
                    "value": ["displayName": "Added", "emails": [["value": "extra@example.org", "type": "other"]]],
                ],
                ["op": "add", "path": "name", "value": ["formatted": "Given Family"]])
            #expect(added.status == .ok, "\(added.text)")
            #expect(added["displayName"] == "Added")
            #expect(added["emails"]?.arrayValue?.count == 2, "add appends to a multi-valued attribute")
            #expect(added.json?.at("name", "givenName") == "Given", "add merges into a complex attribute")
            #expect(added.json?.at("name", "formatted") == "Given Family")

            let replaced = try await org.patchUser(
                id,
                [
                    "op": "replace", "path": "emails",
                    "value": [["value": .string(email), "type": "work", "primary": true]],
                ],
                ["op": "replace", "path": "name", "value": ["givenName": "New"]])
            #expect(replaced["emails"]?.arrayValue?.count == 1, "replace swaps the whole list")
            #expect(replaced.json?.at("name", "givenName") == "New")

            let removed = try await org.patchUser(
                id, ["op": "remove", "path": "title"], ["op": "remove", "path": "name.familyName"],
                ["op": "remove", "path": "displayName"])
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed["title"] == nil)
            #expect(removed["displayName"] == nil)
            #expect(removed.json?.at("name", "familyName") == nil)
            #expect(removed.json?.at("name", "givenName") == "New")
            let fetched = try await org.scim(.get, "/Users/\(id)")
            #expect(fetched["title"] == nil)
        }
    }

    @Test(
        "bad PATCH operations are 400 with the right scimType",
        arguments: [
            BadPatch(
                name: "unknown attribute", operations: [["op": "replace", "path": "favouriteColour", "value": "x"]],
                scimType: "invalidPath"),
            BadPatch(
                name: "unknown sub-attribute", operations: [["op": "replace", "path": "name.middle", "value": "x"]],
                scimType: "invalidPath"),
            BadPatch(
                name: "unparsable path",
                operations: [["op": "replace", "path": "emails[type eq \"work\"", "value": "x"]],
                scimType: "invalidPath"),
            BadPatch(
                name: "path of a number", operations: [["op": "replace", "path": 5, "value": "x"]],
                scimType: "invalidPath"),
            BadPatch(
                name: "filter on a single-valued attribute",
                operations: [["op": "replace", "path": "title[value eq \"x\"]", "value": "x"]], scimType: "invalidPath"),
            BadPatch(
                name: "unknown schema URN",
                operations: [["op": "replace", "path": "urn:example:foo:bar", "value": "x"]], scimType: "invalidPath"),
            BadPatch(
                name: "replace through a filter matching nothing",
                operations: [["op": "replace", "path": "emails[type eq \"home\"].value", "value": "a@b.c"]],
                scimType: "noTarget"),
            BadPatch(name: "remove without a path", operations: [["op": "remove"]], scimType: "noTarget"),
            BadPatch(
                name: "id is read-only", operations: [["op": "replace", "path": "id", "value": "x"]],
                scimType: "mutability"),
            BadPatch(
                name: "meta is read-only",
                operations: [["op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"]],
                scimType: "mutability"),
            BadPatch(
                name: "meta as a whole is read-only", operations: [["op": "remove", "path": "meta"]],
                scimType: "mutability"),
            BadPatch(
                name: "groups is read-only", operations: [["op": "add", "path": "groups", "value": [["value": "x"]]]],
                scimType: "mutability"),
            BadPatch(
                name: "manager.displayName is read-only",
                operations: [["op": "replace", "path": "\(ent):manager.displayName", "value": "x"]],
                scimType: "mutability"),
            BadPatch(
                name: "active of the wrong type", operations: [["op": "replace", "path": "active", "value": "maybe"]],
                scimType: "invalidValue"),
            BadPatch(
                name: "title of the wrong type", operations: [["op": "replace", "path": "title", "value": 5]],
                scimType: "invalidValue"),
            BadPatch(
                name: "an invalid timezone",
                operations: [["op": "replace", "path": "timezone", "value": "Mars/Olympus_Mons"]],
                scimType: "invalidValue"),
            BadPatch(
                name: "an invalid hire date",
                operations: [["op": "replace", "path": "\(learn):hireDate", "value": "2024-13-01"]],
                scimType: "invalidValue"),
            BadPatch(
                name: "a path-less value that is not an object", operations: [["op": "replace", "value": "x"]],
                scimType: "invalidValue"),
            BadPatch(
                name: "add without a value", operations: [["op": "add", "path": "title"]], scimType: "invalidValue"),
            BadPatch(
                name: "an unknown op", operations: [["op": "move", "path": "title", "value": "x"]],
                scimType: "invalidSyntax"),
            BadPatch(
                name: "removing userName", operations: [["op": "remove", "path": "userName"]], scimType: "invalidValue"),
        ])
    func badOperations(_ bad: BadPatch) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("badpatch", client: client)
            let id = try await org.createUser(Users.email("bad"), extra: ["title": "Unchanged"])
            let before = try await org.scim(.get, "/Users/\(id)")
            let result = try await org.scim(
                .patch, "/Users/\(id)", json: ["schemas": [.string(SchemaURN.patchOp)], "Operations": bad.operations])
            expectSCIMError(result, .badRequest, bad.scimType)
            let after = try await org.scim(.get, "/Users/\(id)")
            #expect(after.json == before.json)
        }
    }

    @Test("concurrent PATCHes of one user never lose each other's changes")
    func concurrentPatches() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("busy"))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<10 {
                    group.addTask {
                        try await org.patchUser(
                            id,
                            [
                                "op": "add", "path": "emails",
                                "value": [["value": .string("extra\(index)@example.org"), "type": "other"]],
                            ]
                        ).status
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { $0 == .ok }, "\(statuses)")
            let emails = try await org.scim(.get, "/Users/\(id)")["emails"]?.arrayValue ?? []
            #expect(emails.count == 11)
        }
    }

    @Test("Entra's string booleans are accepted on POST too")
    func stringBooleansOnPost() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let created = try await org.scim(
                .post, "/Users", json: Users.body(Users.email("stringy"), extra: ["active": "False"]))
            #expect(created.status == .created, "\(created.text)")
            #expect(created["active"] == false)
        }
    }

    @Test("a PATCH is atomic: when a later operation fails, earlier ones are not applied")
    func atomic() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("atomic"), extra: ["title": "Before"])
            let before = try await org.scim(.get, "/Users/\(id)")
            let result = try await org.patchUser(
                id, ["op": "replace", "path": "title", "value": "After"],
                ["op": "replace", "value": ["active": false]],
                ["op": "replace", "path": "emails[type eq \"home\"].value", "value": "x@y.z"])
            expectSCIMError(result, .badRequest, "noTarget")
            let after = try await org.scim(.get, "/Users/\(id)")
            #expect(after.json == before.json)
            #expect(after["title"] == "Before")
            #expect(after["active"] == true)

            // A failure in the store (a taken userName) also rolls back the whole PATCH.
            let taken = Users.email("taken")
            _ = try await org.createUser(taken)
            let conflict = try await org.patchUser(
                id, ["op": "replace", "path": "title", "value": "After"],
                ["op": "replace", "path": "userName", "value": .string(taken)])
            expectSCIMError(conflict, .conflict, "uniqueness")
            #expect(try await org.scim(.get, "/Users/\(id)").json == before.json)
        }
    }
}
