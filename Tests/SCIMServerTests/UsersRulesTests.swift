import Foundation
import HTTPTypes
import SCIM
import Testing

@Suite("SCIM /Users: Learn Amp's provisioning rules")
struct UsersRulesTests {
    // MARK: Rule 1: email is the unique identifier; adoption

    @Test("a POST adopts a manual user by email, case-insensitively: 201 with the existing id, now SCIM-managed")
    func adoptsManualUser() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = "Manual.Person-\(UUID().uuidString.prefix(6))@Example.com"
            let manual = try await client.admin(
                .post, "/organisations/\(org.slug)/users",
                json: ["email": .string(email), "firstName": "Man", "lastName": "Ual", "role": "curator"])
            #expect(manual.status == .created, "\(manual.text)")
            let manualID = try #require(manual["id"]?.stringValue)
            #expect(manual["managedBySCIM"] == false)

            // Manual users are invisible to SCIM until adopted.
            expectSCIMError(try await org.scim(.get, "/Users/\(manualID)"), .notFound)
            #expect(try await org.filter("userName eq \"\(email)\"")["totalResults"] == 0)

            let adopted = try await org.scim(
                .post, "/Users",
                json: Users.body(email.lowercased(), given: "Manuela", family: "Person", extra: ["title": "Lead"]))
            #expect(adopted.status == .created, "\(adopted.text)")
            #expect(adopted["id"]?.stringValue == manualID)
            #expect(adopted.headers[.location]?.hasSuffix("/Users/\(manualID)") == true)
            #expect(adopted.json?.at("name", "givenName") == "Manuela", "the profile is updated from the request")
            #expect(adopted["title"] == "Lead")

            let admin = try #require(try await org.adminUser(email: email))
            #expect(admin[caseInsensitive: "id"]?.stringValue == manualID)
            #expect(admin[caseInsensitive: "managedBySCIM"] == true)
            #expect(admin[caseInsensitive: "firstName"] == "Manuela")
            #expect(admin[caseInsensitive: "role"] == "curator", "adoption keeps the role")
            #expect(Users.ids(try await org.filter("userName eq \"\(email)\"")) == [manualID])
        }
    }

    @Test("the login email: the primary email, else the userName when it is an address; neither is 400 saying so")
    func loginEmail() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("login")
            var body = Users.body(email).objectValue!
            body["emails"] = nil
            let created = try await org.scim(.post, "/Users", json: .object(body))
            #expect(created.status == .created, "a userName that is an address is the login email: \(created.text)")
            body["userName"] = "not-an-address"
            let refused = try await org.scim(.post, "/Users", json: .object(body))
            expectSCIMError(refused, .badRequest, "invalidValue")
            #expect(refused["detail"]?.stringValue?.contains("login email") == true, "\(refused.text)")
        }
    }

    @Test("a POST whose primary email (not userName) matches a manual user adopts that user")
    func adoptsByPrimaryEmail() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("by-email")
            let manual = try await client.admin(
                .post, "/organisations/\(org.slug)/users", json: ["email": .string(email)])
            let manualID = try #require(manual["id"]?.stringValue)
            var body = Users.body("login-\(UUID().uuidString.prefix(6))")
            body = .object(
                body.objectValue!.merging([
                    "emails": [["value": .string(email.uppercased()), "type": "work", "primary": true]]
                ]) { $1 })
            let adopted = try await org.scim(.post, "/Users", json: body)
            #expect(adopted.status == .created, "\(adopted.text)")
            #expect(adopted["id"]?.stringValue == manualID)
        }
    }

    @Test("a 409 names the attribute that clashed: the userName, the email, or both")
    func clashNamesTheAttribute() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("clash")
            _ = try await org.createUser(email)
            let sameUserName = try await org.scim(.post, "/Users", json: Users.body(email.uppercased()))
            expectSCIMError(sameUserName, .conflict, "uniqueness")
            let userNameDetail = sameUserName["detail"]?.stringValue ?? ""
            #expect(
                userNameDetail.contains("userName \(email.uppercased())") && !userNameDetail.contains("email"),
                "\(userNameDetail)")

            var sameEmail = Users.body(Users.email("fresh")).objectValue!
            sameEmail["emails"] = [["value": .string(email), "type": "work", "primary": true]]
            let emailClash = try await org.scim(.post, "/Users", json: .object(sameEmail))
            expectSCIMError(emailClash, .conflict, "uniqueness")
            let emailDetail = emailClash["detail"]?.stringValue ?? ""
            #expect(emailDetail.contains("email \(email)") && !emailDetail.contains("userName"), "\(emailDetail)")

            let otherEmail = Users.email("clash-other")
            _ = try await org.createUser(otherEmail)
            var both = Users.body(email).objectValue!
            both["emails"] = [["value": .string(otherEmail), "type": "work", "primary": true]]
            let bothClash = try await org.scim(.post, "/Users", json: .object(both))
            expectSCIMError(bothClash, .conflict, "uniqueness")
            #expect(
                bothClash["detail"]?.stringValue?.contains("the userName \(email) and the email \(otherEmail)") == true,
                "\(bothClash.text)")
        }
    }

    @Test("a POST matching a SCIM-managed user is 409 uniqueness, whatever the case")
    func uniqueness() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("dup")
            let id = try await org.createUser(email)
            expectSCIMError(try await org.scim(.post, "/Users", json: Users.body(email)), .conflict, "uniqueness")
            expectSCIMError(
                try await org.scim(.post, "/Users", json: Users.body(email.uppercased())), .conflict, "uniqueness")
            // A different userName whose primary email is taken.
            var other = Users.body(Users.email("other")).objectValue!
            other["emails"] = [["value": .string(email), "type": "work", "primary": true]]
            expectSCIMError(try await org.scim(.post, "/Users", json: .object(other)), .conflict, "uniqueness")
            // Changing another user's userName to a taken one is also 409.
            let second = Users.email("second")
            let secondID = try await org.createUser(second)
            expectSCIMError(
                try await org.patchUser(
                    secondID, ["op": "replace", "path": "userName", "value": .string(email.uppercased())]),
                .conflict, "uniqueness")
            expectSCIMError(
                try await org.scim(.put, "/Users/\(secondID)", json: Users.body(email)), .conflict, "uniqueness")
            // With a department change the user's row is written before the team statements rather
            // than with the commit: the taken userName is 409 there too, and nothing is kept.
            expectSCIMError(
                try await org.patchUser(
                    secondID, ["op": "replace", "path": "\(SchemaURN.enterpriseUser):department", "value": "Sales"],
                    ["op": "replace", "path": "userName", "value": .string(email)]),
                .conflict, "uniqueness")
            #expect(
                try await org.scim(.get, "/Users/\(secondID)").json?.at(SchemaURN.enterpriseUser, "department") == nil)
            #expect(try await org.filter("userName eq \"\(email)\"")["totalResults"] == 1)
            #expect(Users.ids(try await org.filter("userName eq \"\(email)\"")) == [id])
        }
    }

    @Test("twenty concurrent POSTs of one new userName: exactly one 201, nineteen 409, no 5xx")
    func concurrentCreates() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("race")
            let results = try await withThrowingTaskGroup(of: TestResult.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await org.scim(.post, "/Users", json: Users.body(email)) }
                }
                var results: [TestResult] = []
                for try await result in group { results.append(result) }
                return results
            }
            let statuses = results.map(\.status.code)
            #expect(statuses.filter { $0 == 201 }.count == 1, "\(statuses)")
            #expect(statuses.filter { $0 == 409 }.count == 19, "\(statuses)")
            #expect(!statuses.contains { $0 >= 500 }, "\(results.filter { $0.status.code >= 500 }.map(\.text))")
            for conflict in results where conflict.status == .conflict {
                expectSCIMError(conflict, .conflict, "uniqueness")
            }
            #expect(try await org.filter("userName eq \"\(email)\"")["totalResults"] == 1)
        }
    }

    // MARK: Rule 2: deactivation, never deletion

    @Test(
        "DELETE deprovisions: 204, then 404 to SCIM; the account stays inactive; a later POST adopts and reactivates it"
    )
    func deleteReleasesAndPostReadopts() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("leaver")
            let id = try await org.createUser(email, extra: ["title": "Engineer"])

            let deleted = try await org.scim(.delete, "/Users/\(id)")
            #expect(deleted.status == .noContent)
            #expect(deleted.text.isEmpty)
            expectSCIMError(try await org.scim(.get, "/Users/\(id)"), .notFound)
            expectSCIMError(try await org.scim(.put, "/Users/\(id)", json: Users.body(email)), .notFound)
            expectSCIMError(try await org.patchUser(id, ["op": "replace", "value": ["active": true]]), .notFound)
            expectSCIMError(try await org.scim(.delete, "/Users/\(id)"), .notFound)
            #expect(try await org.filter("userName eq \"\(email)\"")["totalResults"] == 0)

            let kept = try #require(try await org.adminUser(email: email), "the account is kept")
            #expect(kept[caseInsensitive: "id"]?.stringValue == id)
            #expect(kept[caseInsensitive: "active"] == false)
            #expect(kept[caseInsensitive: "managedBySCIM"] == false)

            let again = try await org.scim(.post, "/Users", json: Users.body(email.uppercased(), given: "Returning"))
            #expect(again.status == .created, "\(again.text)")
            #expect(again["id"]?.stringValue == id, "the same account comes back")
            #expect(again["active"] == true)
            #expect(again["userName"]?.stringValue == email.uppercased())
            let readopted = try #require(try await org.adminUser(email: email))
            #expect(readopted[caseInsensitive: "active"] == true)
            #expect(readopted[caseInsensitive: "managedBySCIM"] == true)
            #expect(try await org.scim(.get, "/Users/\(id)").status == .ok)
        }
    }

    @Test("active:false deactivates but the user stays visible to reads, filters and lists")
    func deactivatedStaysVisible() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("inactive")
            let id = try await org.createUser(email, extra: ["active": false])
            let fetched = try await org.scim(.get, "/Users/\(id)")
            #expect(fetched["active"] == false)
            #expect(Users.ids(try await org.filter("userName eq \"\(email)\"")) == [id])
            #expect(Users.ids(try await org.scim(.get, "/Users")).contains(id))
            let admin = try #require(try await org.adminUser(email: email))
            #expect(admin[caseInsensitive: "active"] == false)
            #expect(admin[caseInsensitive: "managedBySCIM"] == true)
        }
    }

    // MARK: Rule 3: managers

    @Test("a manager may be named by SCIM id or by email; reads return the manager's id")
    func managersByIDAndEmail() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let bossEmail = Users.email("boss")
            let bossID = try await org.createUser(bossEmail, extra: ["displayName": "The Boss"])

            let byID = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    Users.email("report1"), extra: [Users.enterprise: ["manager": ["value": .string(bossID)]]]))
            #expect(byID.status == .created, "\(byID.text)")
            let manager = try #require(byID.json?.at(Users.enterprise, "manager"))
            #expect(manager[caseInsensitive: "value"]?.stringValue == bossID)
            #expect(manager[caseInsensitive: "$ref"]?.stringValue?.hasSuffix("/Users/\(bossID)") == true)
            #expect(manager[caseInsensitive: "displayName"] == "The Boss")

            let byEmail = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    Users.email("report2"),
                    extra: [Users.enterprise: ["manager": ["value": .string(bossEmail.uppercased())]]]))
            #expect(byEmail.status == .created, "\(byEmail.text)")
            #expect(byEmail.json?.at(Users.enterprise, "manager", "value")?.stringValue == bossID)
            let reportID = try #require(byEmail["id"]?.stringValue)
            #expect(
                try await org.scim(.get, "/Users/\(reportID)").json?.at(Users.enterprise, "manager", "value")?
                    .stringValue == bossID)

            // Filterable by the manager's id.
            let reports = try await org.filter("\(Users.enterprise):manager.value eq \"\(bossID)\"")
            #expect(reports["totalResults"] == 2, "\(reports.text)")

            // PATCH can remove the manager.
            let removed = try await org.patchUser(reportID, ["op": "remove", "path": "\(Users.enterprise):manager"])
            #expect(removed.status == .ok, "\(removed.text)")
            #expect(removed.json?.at(Users.enterprise, "manager") == nil)
        }
    }

    @Test("a manager not provisioned yet is remembered and linked when they arrive; the request succeeds")
    func pendingManagerIsLinkedLater() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let futureEmail = Users.email("future-boss")
            let reportEmail = Users.email("early")
            let early = try await org.scim(
                .post, "/Users",
                json: Users.body(reportEmail, extra: [Users.enterprise: ["manager": ["value": .string(futureEmail)]]]))
            #expect(early.status == .created, "\(early.text)")
            let earlyID = try #require(early["id"]?.stringValue)
            #expect(early.json?.at(Users.enterprise, "manager") == nil, "an unknown manager is not rendered")

            // A PATCH of another attribute keeps the pending manager.
            let patchedTitle = try await org.patchUser(earlyID, ["op": "replace", "path": "title", "value": "Waiting"])
            #expect(patchedTitle.status == .ok)

            // A second report names the future manager by PATCH (Entra's bare string).
            let otherID = try await org.createUser(Users.email("early2"))
            let patched = try await org.patchUser(
                otherID, ["op": "Add", "path": "\(Users.enterprise):manager", "value": .string(futureEmail)])
            #expect(patched.status == .ok, "\(patched.text)")

            let bossID = try await org.createUser(futureEmail)
            for id in [earlyID, otherID] {
                let linked = try await org.scim(.get, "/Users/\(id)")
                #expect(linked.json?.at(Users.enterprise, "manager", "value")?.stringValue == bossID, "\(linked.text)")
            }
        }
    }

    @Test("a user cannot be their own manager: 400 invalidValue, by id or by email")
    func selfManager() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("narcissus")
            let id = try await org.createUser(email)
            expectSCIMError(
                try await org.patchUser(
                    id, ["op": "replace", "path": "\(Users.enterprise):manager", "value": ["value": .string(id)]]),
                .badRequest, "invalidValue")
            expectSCIMError(
                try await org.patchUser(
                    id, ["op": "replace", "path": "\(Users.enterprise):manager.value", "value": .string(email)]),
                .badRequest, "invalidValue")
            expectSCIMError(
                try await org.scim(
                    .put, "/Users/\(id)", json: Users.body(email, extra: [Users.enterprise: ["manager": .string(id)]])),
                .badRequest, "invalidValue")
            let newEmail = Users.email("selfish")
            expectSCIMError(
                try await org.scim(
                    .post, "/Users",
                    json: Users.body(newEmail, extra: [Users.enterprise: ["manager": ["value": .string(newEmail)]]])),
                .badRequest, "invalidValue")
            #expect(try await org.scim(.get, "/Users/\(id)").json?.at(Users.enterprise, "manager") == nil)
        }
    }

    // MARK: Rule 4: roles

    @Test("SCIM creates viewers and never changes a role on PUT or PATCH")
    func rolesAreNotSCIMs() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("roled")
            let id = try await org.createUser(email)
            #expect(try await org.adminUser(email: email)?[caseInsensitive: "role"] == "viewer")

            let promoted = try await client.admin(
                .patch, "/organisations/\(org.slug)/users/\(id)", json: ["role": "admin"])
            #expect(promoted.status == .ok, "\(promoted.text)")
            #expect(promoted["role"] == "admin")

            #expect(try await org.scim(.put, "/Users/\(id)", json: Users.body(email, given: "Put")).status == .ok)
            #expect(try await org.adminUser(email: email)?[caseInsensitive: "role"] == "admin")
            #expect(
                try await org.patchUser(id, ["op": "replace", "value": ["active": false, "title": "Boss"]]).status
                    == .ok)
            #expect(
                try await org.patchUser(id, ["op": "add", "path": "role", "value": "viewer"]).status == .badRequest)
            let after = try #require(try await org.adminUser(email: email))
            #expect(after[caseInsensitive: "role"] == "admin")
            #expect(after[caseInsensitive: "active"] == false)
        }
    }

    @Test("for SCIM-managed users SCIM's values win over manual edits")
    func scimWinsOverManualEdits() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("synced")
            let id = try await org.createUser(email)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)/users/\(id)", json: ["firstName": "Manual"])
                    .status == .ok)
            #expect(try await org.scim(.get, "/Users/\(id)").json?.at("name", "givenName") == "Manual")
            #expect(try await org.scim(.put, "/Users/\(id)", json: Users.body(email, given: "FromIdP")).status == .ok)
            #expect(try await org.adminUser(email: email)?[caseInsensitive: "firstName"] == "FromIdP")
        }
    }

    // MARK: Rule 6: custom fields

    static let mappings: JSONValue = [
        ["scimAttribute": .string("\(Users.learnAmp):costCentre"), "field": "cost_centre", "type": "string"],
        ["scimAttribute": .string("\(Users.learnAmp):level"), "field": "level", "type": "number"],
        ["scimAttribute": .string("\(Users.learnAmp):mentor"), "field": "is_mentor", "type": "boolean"],
        ["scimAttribute": .string("\(Users.learnAmp):startedOn"), "field": "started_on", "type": "date"],
        [
            "scimAttribute": .string("\(Users.learnAmp):band"), "field": "band", "type": "enum",
            "allowedValues": ["A", "B", "C"],
        ],
    ]

    @Test("custom fields: mapped, validated, stored, returned and filterable with eq; unmapped ones ignored")
    func customFields() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let put = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields", json: ["mappings": Self.mappings])
            #expect(put.status == .ok, "\(put.text)")
            #expect(put["mappings"]?.arrayValue?.count == 5)
            let listed = try await client.admin(.get, "/organisations/\(org.slug)/custom-fields")
            #expect(listed["mappings"]?.arrayValue?.count == 5)
            let band = listed["mappings"]?.arrayValue?.first { $0[caseInsensitive: "field"] == "band" }
            #expect(band?[caseInsensitive: "allowedValues"] == ["A", "B", "C"])
            #expect(band?[caseInsensitive: "scimAttribute"]?.stringValue == "\(Users.learnAmp):band")

            let email = Users.email("custom")
            let created = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    email,
                    extra: [
                        "schemas": [.string(SchemaURN.user), .string(Users.learnAmp)],
                        Users.learnAmp: [
                            "costCentre": "CC-1", "level": 3, "mentor": true, "startedOn": "2024-02-29", "band": "b",
                            "notMapped": "ignored", "hireDate": "2020-01-15",
                        ],
                    ]))
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            let fetched = try await org.scim(.get, "/Users/\(id)")
            let extensionValues = try #require(fetched[Users.learnAmp], "\(fetched.text)")
            #expect(extensionValues[caseInsensitive: "costCentre"] == "CC-1", "\(fetched.text)")
            #expect(extensionValues[caseInsensitive: "level"] == 3)
            #expect(extensionValues[caseInsensitive: "mentor"] == true)
            #expect(extensionValues[caseInsensitive: "startedOn"] == "2024-02-29")
            #expect(extensionValues[caseInsensitive: "band"] == "B")
            #expect(extensionValues[caseInsensitive: "hireDate"] == "2020-01-15")
            #expect(extensionValues[caseInsensitive: "notMapped"] == nil, "unmapped attributes are ignored")
            #expect(fetched["schemas"]?.arrayValue?.contains(.string(Users.learnAmp)) == true)

            // Projection knows the organisation's custom fields.
            let projected = try await org.scim(
                .get, "/Users/\(id)?attributes=\(Users.encode("\(Users.learnAmp):costCentre"))")
            #expect(
                projected.json?.at(Users.learnAmp)?.objectValue?.keys.sorted() == ["costCentre"], "\(projected.text)")
            let withoutLevel = try await org.scim(
                .get, "/Users/\(id)?excludedAttributes=\(Users.encode("\(Users.learnAmp):level"))")
            #expect(withoutLevel.json?.at(Users.learnAmp, "level") == nil)
            #expect(withoutLevel.json?.at(Users.learnAmp, "costCentre") == "CC-1")
            let found = try await org.filter("userName eq \"\(email)\"")
            #expect(
                found["Resources"]?.arrayValue?.first?[caseInsensitive: Users.learnAmp]?[caseInsensitive: "band"] == "B"
            )

            // A second user, to show the filters select.
            _ = try await org.scim(
                .post, "/Users",
                json: Users.body(
                    Users.email("custom2"),
                    extra: [
                        Users.learnAmp: [
                            "costCentre": "CC-2", "level": 4, "mentor": false, "startedOn": "2023-01-01", "band": "A",
                        ]
                    ]))

            for filter in [
                "\(Users.learnAmp):costCentre eq \"CC-1\"", "costCentre eq \"cc-1\"", "\(Users.learnAmp):level eq 3",
                "\(Users.learnAmp):mentor eq true", "\(Users.learnAmp):startedOn eq \"2024-02-29\"",
                "\(Users.learnAmp):band eq \"B\"",
                "\(Users.learnAmp):hireDate eq \"2020-01-15\"",
            ] {
                #expect(try await org.matching(filter) == [email], "filter \(filter)")
            }
            #expect(try await org.filter("\(Users.learnAmp):notMapped eq \"x\"").status == .badRequest)

            // Entra sends numbers and booleans as strings; exact conversions are accepted.
            let patched = try await org.patchUser(
                id, ["op": "Replace", "path": "\(Users.learnAmp):level", "value": "5"],
                ["op": "Replace", "path": "\(Users.learnAmp):mentor", "value": "False"])
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json?.at(Users.learnAmp, "level") == 5)
            #expect(patched.json?.at(Users.learnAmp, "mentor") == false)

            // PUT without the extension clears the custom fields.
            let replaced = try await org.scim(.put, "/Users/\(id)", json: Users.body(email))
            #expect(replaced.status == .ok)
            #expect(replaced[Users.learnAmp] == nil, "\(replaced.text)")
        }
    }

    @Test(
        "a custom-field value of the wrong type is 400 invalidValue",
        arguments: [
            ("costCentre", 5), ("level", "three"), ("level", true), ("mentor", "maybe"), ("mentor", 1),
            ("startedOn", "2024-02-30"), ("startedOn", "29/02/2024"), ("startedOn", 20_240_229), ("band", "Z"),
            ("band", 1),
        ] as [(String, JSONValue)])
    func customFieldWrongType(attribute: String, value: JSONValue) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("customwrong", client: client) { org in
                try await org.mapCustomFields(Self.mappings)
            }
            let email = Users.email("badcustom")
            let posted = try await org.scim(
                .post, "/Users", json: Users.body(email, extra: [Users.learnAmp: [attribute: value]]))
            expectSCIMError(posted, .badRequest, "invalidValue")
            let id = try await org.createUser(email)
            expectSCIMError(
                try await org.patchUser(
                    id, ["op": "replace", "path": "\(Users.learnAmp):\(attribute)", "value": value]), .badRequest,
                "invalidValue")
            expectSCIMError(
                try await org.patchUser(id, ["op": "replace", "value": ["\(Users.learnAmp):\(attribute)": value]]),
                .badRequest, "invalidValue")
        }
    }

    @Test(
        "an invalid custom-field mapping is 400",
        arguments: [
            ["scimAttribute": "urn:example:costCentre", "field": "cost_centre", "type": "string"],
            [
                "scimAttribute": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCentre", "field": "cc",
                "type": "string",
            ],
            [
                "scimAttribute": .string("\(SchemaURN.learnAmpUser):costCentre"), "field": "cost_centre",
                "type": "float",
            ],
            ["scimAttribute": .string("\(SchemaURN.learnAmpUser):band"), "field": "band", "type": "enum"],
            [
                "scimAttribute": .string("\(SchemaURN.learnAmpUser):costCentre"), "field": "Cost Centre",
                "type": "string",
            ],
            ["scimAttribute": .string("\(SchemaURN.learnAmpUser):hireDate"), "field": "hire", "type": "date"],
            ["scimAttribute": .string("\(SchemaURN.learnAmpUser):"), "field": "x", "type": "string"],
            ["field": "x", "type": "string"],
        ] as [JSONValue])
    func invalidMapping(mapping: JSONValue) async throws {
        try await withApp { client in
            let org = try await SharedOrganisations.shared.organisation("badmapping", client: client)
            let result = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields", json: ["mappings": [mapping]])
            #expect(result.status == .badRequest, "\(result.text)")
            let listed = try await client.admin(.get, "/organisations/\(org.slug)/custom-fields")
            #expect(listed["mappings"] == [], "nothing is stored")
        }
    }
}
