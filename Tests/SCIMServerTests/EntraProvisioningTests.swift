import Foundation
import HTTPTypes
import SCIM
import Testing

/// A whole provisioning cycle as Microsoft Entra ID's provisioning service runs it, authenticated
/// with an access token from `POST /oauth/token` (client_secret_post, scope scim), in the request
/// shapes Entra sends with and without the `aadOptscim062020` flag.
@Suite("Entra ID: a full provisioning run with OAuth client credentials")
struct EntraProvisioningTests {
    let ent = SchemaURN.enterpriseUser
    let learn = SchemaURN.learnAmpUser

    /// An organisation reached only through an access token, as Entra reaches it.
    func entraOrganisation(_ client: TestClient) async throws -> (org: TestOrganisation, viaOAuth: TestOrganisation) {
        let org = try await client.organisation("entra")
        let oauth = try await client.oauthClient(org.slug, label: "Microsoft Entra ID")
        let result = try await client.tokenRequest(
            "grant_type=client_credentials&scope=scim&client_id=\(OAuthForm.encode(oauth.clientID))"
                + "&client_secret=\(OAuthForm.encode(oauth.secret))")
        try #require(result.status == .ok, "token: \(result.text)")
        let token = try #require(result["access_token"]?.stringValue)
        return (org, TestOrganisation(slug: org.slug, token: token, client: client))
    }

    func memberIDs(_ result: TestResult) -> Set<String> {
        Set((result["members"]?.arrayValue ?? []).compactMap { $0[caseInsensitive: "value"]?.stringValue })
    }

    @Test(
        "Test Connection, create, update, group membership, manager, deactivate, delete; string booleans, no flag"
    )
    func withoutFlag() async throws {
        try await withOAuthApp { client in
            let (_, entra) = try await entraOrganisation(client)

            // Test Connection: a filter on a random GUID must answer 200 with an empty list.
            let probe = try await entra.scim(
                .get, "/Users?filter=\(Users.encode("userName eq \"\(UUID().uuidString.lowercased())\""))")
            #expect(probe.status == .ok, "\(probe.text)")
            #expect(probe["totalResults"] == 0)
            #expect(probe["Resources"]?.arrayValue?.isEmpty ?? true)
            #expect(probe["schemas"] == [.string(SchemaURN.listResponse)])

            // Matching before create, then create as Entra shapes it.
            let bossName = Users.email("boss", domain: "contoso.com")
            let userName = Users.email("adele", domain: "contoso.com")
            #expect(try await entra.filter("userName eq \"\(userName)\"")["totalResults"] == 0)
            let bossID = try await entra.createUser(bossName)
            let created = try await entra.scim(
                .post, "/Users",
                json: [
                    "schemas": [.string(SchemaURN.user), .string(ent)],
                    "externalId": "adele", "userName": .string(userName), "active": true, "displayName": "Adele Vance",
                    "name": ["formatted": "Adele Vance", "familyName": "Vance", "givenName": "Adele"],
                    "emails": [["primary": true, "type": "work", "value": .string(userName)]],
                    "title": "Retail Manager", "timezone": "Europe/London",
                    .init(stringLiteral: ent): ["department": "Retail", "employeeNumber": "1001"],
                ])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)

            // Updates: capitalised ops, "True"/"False" strings, one op per attribute, manager as {"value": id}.
            let updated = try await entra.patchUser(
                id,
                ["op": "Replace", "path": "title", "value": "Store Director"],
                ["op": "Replace", "path": "active", "value": "False"],
                ["op": "Add", "path": "\(ent):manager", "value": ["value": .string(bossID)]],
                ["op": "Add", "path": "\(learn):hireDate", "value": "2024-03-01"],
                ["op": "Remove", "path": "\(ent):employeeNumber"])
            #expect(updated.status == .ok, "\(updated.text)")
            #expect(updated["active"] == false)
            #expect(updated.json?.at(ent, "manager", "value")?.stringValue == bossID)
            #expect(updated.json?.at(ent, "employeeNumber") == nil)
            let reactivated = try await entra.patchUser(id, ["op": "Replace", "path": "active", "value": "True"])
            #expect(reactivated["active"] == true)

            // A path-less replace with dotted keys.
            let pathless = try await entra.patchUser(
                id,
                [
                    "op": "Replace",
                    "value": [
                        "name.givenName": "Adele J", "name.familyName": "Vance-Smith", "\(ent):department": "Sales",
                    ],
                ])
            #expect(pathless.status == .ok, "\(pathless.text)")
            let fetched = try #require(try await entra.scim(.get, "/Users/\(id)").json)
            #expect(fetched.at("name", "givenName") == "Adele J")
            #expect(fetched.at("name", "familyName") == "Vance-Smith")
            #expect(fetched.at(ent, "department") == "Sales")
            #expect(fetched.at(learn, "hireDate") == "2024-03-01")
            #expect(fetched.at("timezone") == "Europe/London")

            // Groups: matched by displayName, created, members added and removed both ways Entra removes them.
            let third = try await entra.createUser(Users.email("third", domain: "contoso.com"))
            #expect(
                try await entra.scim(.get, "/Groups?filter=\(Users.encode("displayName eq \"Store Managers\""))")[
                    "totalResults"] == 0)
            let group = try await entra.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Store Managers", "externalId": "grp-1",
                    "members": [],
                ])
            #expect(group.status == .created, "\(group.text)")
            let groupID = try #require(group["id"]?.stringValue)
            let added = try await entra.scim(
                .patch, "/Groups/\(groupID)",
                json: Users.patch(
                    [
                        "op": "Add", "path": "members",
                        "value": [["value": .string(id)], ["value": .string(bossID)], ["value": .string(third)]],
                    ]))
            #expect(added.status.code < 300, "\(added.text)")
            let removedByValue = try await entra.scim(
                .patch, "/Groups/\(groupID)",
                json: Users.patch(["op": "Remove", "path": "members", "value": [["value": .string(bossID)]]]))
            #expect(removedByValue.status.code < 300, "\(removedByValue.text)")
            let removedByFilter = try await entra.scim(
                .patch, "/Groups/\(groupID)",
                json: Users.patch(["op": "Remove", "path": .string("members[value eq \"\(third)\"]")]))
            #expect(removedByFilter.status.code < 300, "\(removedByFilter.text)")
            #expect(memberIDs(try await entra.scim(.get, "/Groups/\(groupID)")) == [id])
            let listed = try await entra.scim(.get, "/Groups?excludedAttributes=members")
            #expect(listed.status == .ok)
            let listedGroup = try #require(
                listed["Resources"]?.arrayValue?.first { $0[caseInsensitive: "id"]?.stringValue == groupID })
            #expect(listedGroup[caseInsensitive: "members"] == nil, "excludedAttributes=members leaves members out")
            #expect(listedGroup[caseInsensitive: "displayName"] == "Store Managers")
            let single = try await entra.scim(.get, "/Groups/\(groupID)?excludedAttributes=members")
            #expect(single.status == .ok && single["members"] == nil)

            // Deprovision: soft delete, then delete.
            #expect(
                try await entra.patchUser(id, ["op": "Replace", "path": "active", "value": "False"])["active"] == false)
            #expect(try await entra.scim(.delete, "/Users/\(id)").status == .noContent)
            expectSCIMError(try await entra.scim(.get, "/Users/\(id)"), .notFound)
            #expect(try await entra.scim(.delete, "/Groups/\(groupID)").status == .noContent)
        }
    }

    @Test("with ?aadOptscim062020: real booleans, Remove on members, manager as {value} through the flag's URLs")
    func withFlag() async throws {
        try await withOAuthApp { client in
            let (org, entra) = try await entraOrganisation(client)
            let flag = "aadOptscim062020"
            let probe = try await entra.scim(
                .get, "/Users?\(flag)&filter=\(Users.encode("userName eq \"\(UUID().uuidString.lowercased())\""))")
            #expect(probe.status == .ok, "\(probe.text)")
            #expect(probe["totalResults"] == 0)

            let bossID = try await entra.createUser(Users.email("boss", domain: "contoso.com"))
            let userName = Users.email("megan", domain: "contoso.com")
            let created = try await entra.scim(
                .post, "/Users?\(flag)", json: Users.body(userName, given: "Megan", family: "Bowen"))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            let updated = try await entra.scim(
                .patch, "/Users/\(id)?\(flag)",
                json: Users.patch(
                    ["op": "Replace", "path": "active", "value": false],
                    ["op": "Replace", "path": "emails[type eq \"work\"].primary", "value": true],
                    ["op": "Add", "path": "\(ent):manager", "value": ["value": .string(bossID)]],
                    ["op": "Replace", "value": ["displayName": "Megan Bowen", "name.givenName": "Megan B"]]))
            #expect(updated.status == .ok, "\(updated.text)")
            #expect(updated["active"] == false)
            #expect(updated["displayName"] == "Megan Bowen")
            #expect(updated.json?.at("name", "givenName") == "Megan B")
            #expect(updated.json?.at(ent, "manager", "value")?.stringValue == bossID)
            #expect(
                try await entra.scim(
                    .patch, "/Users/\(id)?\(flag)",
                    json: Users.patch(["op": "Replace", "path": "active", "value": true]))["active"] == true)

            let group = try await entra.scim(
                .post, "/Groups?\(flag)",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Sales",
                    "members": [["value": .string(id)], ["value": .string(bossID)]],
                ])
            let groupID = try #require(group["id"]?.stringValue, "\(group.text)")
            let removed = try await entra.scim(
                .patch, "/Groups/\(groupID)?\(flag)",
                json: Users.patch(["op": "Remove", "path": "members", "value": [["value": .string(bossID)]]]))
            #expect(removed.status.code < 300, "\(removed.text)")
            #expect(memberIDs(try await entra.scim(.get, "/Groups/\(groupID)")) == [id])
            #expect(
                try await entra.scim(.get, "/Groups?\(flag)&excludedAttributes=members")["Resources"]?.arrayValue?
                    .allSatisfy { $0[caseInsensitive: "members"] == nil } == true)

            // The organisation's own SCIM token sees the same data: one organisation, two credentials.
            #expect(try await org.scim(.get, "/Users/\(id)")["displayName"] == "Megan Bowen")
        }
    }
}
