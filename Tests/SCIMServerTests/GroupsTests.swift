import Foundation
import HTTPTypes
import SCIM
import Testing

private let patchOp: JSONValue = [.string(SchemaURN.patchOp)]
private let enterprise = SchemaURN.enterpriseUser

private func patch(_ operations: JSONValue...) -> JSONValue {
    ["schemas": patchOp, "Operations": .array(operations)]
}

private func memberIDs(_ result: TestResult) -> Set<String> {
    Set(result["members"]?.arrayValue?.compactMap { $0[caseInsensitive: "value"]?.stringValue } ?? [])
}

@Suite("Groups: teams over SCIM")
struct GroupsTests {
    @Test("Okta Group Push: lookup by displayName, POST, add/remove members, rename, DELETE")
    func oktaGroupPush() async throws {
        try await withApp { client in
            let org = try await client.organisation("okta")
            let alice = try await org.createUser("alice@acme.com")
            let bob = try await org.createUser("bob@acme.com")

            let lookup = try await org.scim(
                .get, "/Groups?filter=displayName%20eq%20%22Sales%22&excludedAttributes=members")
            #expect(lookup.status == .ok)
            #expect(lookup["totalResults"] == 0)

            let created = try await org.scim(
                .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "Sales", "members": []])
            #expect(created.status == .created)
            let id = try #require(created["id"]?.stringValue)
            #expect(created.headers[.location]?.hasSuffix("/Groups/\(id)") == true)
            #expect(created.headers[.eTag] != nil)

            let added = try await org.scim(
                .patch, "/Groups/\(id)",
                json: patch(
                    ["op": "replace", "value": ["id": .string(id), "displayName": "Sales"]],
                    ["op": "add", "path": "members", "value": [["value": .string(alice)], ["value": .string(bob)]]]))
            #expect(added.status == .noContent)
            #expect(added.text.isEmpty)
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(id)")) == [alice, bob])

            let removed = try await org.scim(
                .patch, "/Groups/\(id)",
                json: patch(["op": "remove", "path": .string("members[value eq \"\(bob)\"]")]))
            #expect(removed.status == .noContent)
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(id)")) == [alice])

            let renamed = try await org.scim(
                .patch, "/Groups/\(id)?attributes=displayName",
                json: patch(["op": "replace", "value": ["id": .string(id), "displayName": "Sales EMEA"]]))
            #expect(renamed.status == .ok)
            #expect(renamed["displayName"]?.stringValue == "Sales EMEA")
            #expect(renamed["members"] == nil, "members were not asked for")

            let second = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "apprentices",
                    "members": [["value": .string(alice)]],
                ])
            #expect(second.status == .created)
            let user = try await org.scim(.get, "/Users/\(alice)")
            #expect(
                user["groups"]?.arrayValue?.map { $0[caseInsensitive: "display"]?.stringValue } == [
                    "apprentices", "Sales EMEA",
                ],
                "a user's groups are listed by name, ignoring case")
            #expect(
                try await org.scim(.delete, "/Groups/\(try #require(second["id"]?.stringValue))").status == .noContent)

            #expect(try await org.scim(.delete, "/Groups/\(id)").status == .noContent)
            expectSCIMError(try await org.scim(.get, "/Groups/\(id)"), .notFound)
            let kept = try await org.scim(.get, "/Users/\(alice)")
            #expect(kept.status == .ok, "users keep their accounts")
            #expect(kept["groups"] == nil)
        }
    }

    @Test("Entra shapes: capitalised ops, Remove with a value list removes only those members, replace members")
    func entraShapes() async throws {
        try await withApp { client in
            let org = try await client.organisation("entra")
            let a = try await org.createUser("a@contoso.com")
            let b = try await org.createUser("b@contoso.com")
            let c = try await org.createUser("c@contoso.com")
            let created = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Contoso", "externalId": "ext-1",
                    "members": [["value": .string(a)], ["value": .string(b)], ["value": .string(c)]],
                ])
            let id = try #require(created["id"]?.stringValue)
            #expect(memberIDs(created) == [a, b, c])

            let removed = try await org.scim(
                .patch, "/Groups/\(id)",
                json: patch(["op": "Remove", "path": "members", "value": [["value": .string(a)]]]))
            #expect(removed.status == .noContent)
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(id)")) == [b, c], "only the listed member leaves")

            let noOps = try await org.scim(
                .patch, "/Groups/\(id)",
                json: patch(
                    ["op": "Add", "path": "members", "value": [["value": .string(b)]]],
                    ["op": "Remove", "path": "members", "value": [["value": .string(a)]]]))
            #expect(noOps.status == .noContent, "adding a present member and removing an absent one are no-ops")

            let replaced = try await org.scim(
                .patch, "/Groups/\(id)?attributes=members",
                json: patch(["op": "Replace", "path": "members", "value": [["value": .string(a)]]]))
            #expect(replaced.status == .ok)
            #expect(memberIDs(replaced) == [a])

            let renamed = try await org.scim(
                .patch, "/Groups/\(id)", json: patch(["op": "Replace", "path": "displayName", "value": "Contoso Ltd"]))
            #expect(renamed.status == .noContent)
            let byExternalID = try await org.scim(.get, "/Groups?filter=externalId%20eq%20%22ext-1%22")
            #expect(
                byExternalID["Resources"]?.arrayValue?.first?[caseInsensitive: "displayName"]?.stringValue
                    == "Contoso Ltd")
            let byMember = try await org.scim(.get, "/Groups?filter=members.value%20eq%20%22\(a)%22")
            #expect(byMember["totalResults"] == 1)
        }
    }

    @Test("uniqueness, invalid and nested members leave the group unchanged")
    func validation() async throws {
        try await withApp { client in
            let org = try await client.organisation("gv")
            let a = try await org.createUser("a@gv.com")
            let created = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Team", "members": [["value": .string(a)]],
                ])
            let id = try #require(created["id"]?.stringValue)
            expectSCIMError(
                try await org.scim(
                    .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "TEAM"]), .conflict,
                "uniqueness")

            let stranger = UUID().uuidString
            expectSCIMError(
                try await org.scim(
                    .patch, "/Groups/\(id)",
                    json: patch(["op": "add", "path": "members", "value": [["value": .string(stranger)]]])),
                .badRequest, "invalidValue")
            expectSCIMError(
                try await org.scim(
                    .patch, "/Groups/\(id)",
                    json: patch(
                        ["op": "remove", "path": "members"],
                        ["op": "add", "path": "members", "value": [["value": "not-a-uuid"]]])),
                .badRequest, "invalidValue")
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(id)")) == [a], "a failed PATCH changes nothing")
            expectSCIMError(
                try await org.scim(
                    .post, "/Groups",
                    json: [
                        "schemas": [.string(SchemaURN.group)], "displayName": "Nested",
                        "members": [["value": .string(id), "type": "Group"]],
                    ]),
                .badRequest, "invalidValue")
            expectSCIMError(
                try await org.scim(.post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "members": []]),
                .badRequest, "invalidValue")
            expectSCIMError(
                try await org.scim(
                    .patch, "/Groups/\(id)",
                    json: patch(["op": "replace", "value": ["id": "other", "displayName": "X"]])),
                .badRequest, "mutability")
            expectSCIMError(
                try await org.scim(.get, "/Groups?filter=nope%20eq%20%22x%22"), .badRequest, "invalidFilter")
        }
    }

    @Test("department sets the primary team, moves with it, and keeps pushed memberships")
    func departmentTeams() async throws {
        try await withApp { client in
            let org = try await client.organisation("dept")
            let id = try await org.createUser("dee@dept.com", extra: [enterprise: ["department": "Engineering"]])
            let user = try await org.scim(.get, "/Users/\(id)")
            let team = try #require(user.json?.at(SchemaURN.learnAmpUser, "primaryTeam", "display")?.stringValue)
            #expect(team == "Engineering")
            let engineering = try await org.scim(.get, "/Groups?filter=displayName%20eq%20%22engineering%22")
            let engineeringID = try #require(
                engineering["Resources"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue)
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(engineeringID)")) == [id])

            // Pushed into Engineering as a group member too, then moved to Sales by department.
            _ = try await org.scim(
                .patch, "/Groups/\(engineeringID)",
                json: patch(["op": "add", "path": "members", "value": [["value": .string(id)]]]))
            let moved = try await org.scim(
                .patch, "/Users/\(id)",
                json: patch(["op": "replace", "path": "\(enterprise):department", "value": "Sales"]))
            #expect(moved.status == .ok)
            #expect(moved.json?.at(SchemaURN.learnAmpUser, "primaryTeam", "display")?.stringValue == "Sales")
            #expect(
                memberIDs(try await org.scim(.get, "/Groups/\(engineeringID)")) == [id],
                "still a pushed member of Engineering")

            // Moving again takes them out of Sales (department only) entirely.
            _ = try await org.scim(
                .patch, "/Users/\(id)",
                json: patch(["op": "replace", "path": "\(enterprise):department", "value": "Support"]))
            let sales = try await org.scim(.get, "/Groups?filter=displayName%20eq%20%22Sales%22")
            #expect(
                sales["Resources"]?.arrayValue?.first.map {
                    memberIDs(TestResult(status: .ok, headers: [:], json: $0, text: ""))
                } == [])

            let teams = try await client.admin(.get, "/organisations/\(org.slug)/teams")
            let summary = try #require(teams["teams"]?.arrayValue)
            #expect(
                summary.first { $0[caseInsensitive: "name"]?.stringValue == "Engineering" }?[caseInsensitive: "source"]
                    == "group")
            #expect(
                summary.first { $0[caseInsensitive: "name"]?.stringValue == "Support" }?[caseInsensitive: "source"]
                    == "department")
            #expect(
                summary.first { $0[caseInsensitive: "name"]?.stringValue == "Support" }?[caseInsensitive: "memberCount"]
                    == 1)

            // Removing the department clears the primary team.
            let cleared = try await org.scim(
                .patch, "/Users/\(id)", json: patch(["op": "remove", "path": "\(enterprise):department"]))
            #expect(cleared.json?.at(SchemaURN.learnAmpUser, "primaryTeam") == nil)
        }
    }

    @Test("a DELETEd user is no longer listed as a member; a deactivated one still is")
    func deprovisionedMembers() async throws {
        try await withApp { client in
            let org = try await client.organisation("gm")
            let gone = try await org.createUser("gone@gm.com")
            let paused = try await org.createUser("paused@gm.com")
            let created = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "G",
                    "members": [["value": .string(gone)], ["value": .string(paused)]],
                ])
            let id = try #require(created["id"]?.stringValue)
            _ = try await org.scim(
                .patch, "/Users/\(paused)", json: patch(["op": "replace", "value": ["active": false]]))
            #expect(try await org.scim(.delete, "/Users/\(gone)").status == .noContent)
            #expect(memberIDs(try await org.scim(.get, "/Groups/\(id)")) == [paused])
        }
    }

    @Test("PUT replaces name and members; list and cursor pagination; excludedAttributes=members")
    func putAndList() async throws {
        try await withApp { client in
            let org = try await client.organisation("gl")
            let a = try await org.createUser("a@gl.com")
            var ids: [String] = []
            for index in 0..<7 {
                let created = try await org.scim(
                    .post, "/Groups",
                    json: [
                        "schemas": [.string(SchemaURN.group)], "displayName": .string("Group \(index)"),
                        "members": [["value": .string(a)]],
                    ])
                ids.append(try #require(created["id"]?.stringValue))
            }
            let put = try await org.scim(
                .put, "/Groups/\(ids[0])",
                json: ["schemas": [.string(SchemaURN.group)], "displayName": "Renamed", "members": []])
            #expect(put.status == .ok)
            #expect(put["displayName"]?.stringValue == "Renamed")
            #expect(memberIDs(put).isEmpty)

            let slim = try await org.scim(.get, "/Groups?excludedAttributes=members&count=3")
            #expect(slim["totalResults"] == 7)
            #expect(slim["Resources"]?.arrayValue?.count == 3)
            #expect(slim["Resources"]?.arrayValue?.allSatisfy { $0[caseInsensitive: "members"] == nil } == true)

            var seen: [String] = []
            var cursor = ""
            repeat {
                let page = try await org.scim(.get, "/Groups?count=3&cursor=\(cursor)")
                seen += page["Resources"]?.arrayValue?.compactMap { $0[caseInsensitive: "id"]?.stringValue } ?? []
                cursor = page["nextCursor"]?.stringValue ?? ""
            } while !cursor.isEmpty
            #expect(seen.count == 7)
            #expect(Set(seen) == Set(ids))

            // Index pages past the first (their rows are picked in a subquery), sorted by name.
            var byName: [String] = []
            for start in stride(from: 1, through: 7, by: 3) {
                let page = try await org.scim(
                    .get, "/Groups?sortBy=displayName&sortOrder=descending&startIndex=\(start)&count=3")
                #expect(page["totalResults"] == 7)
                byName +=
                    page["Resources"]?.arrayValue?.compactMap { $0[caseInsensitive: "displayName"]?.stringValue } ?? []
            }
            #expect(byName == ["Renamed"] + (1..<7).reversed().map { "Group \($0)" })

            let searched = try await org.scim(
                .post, "/Groups/.search",
                json: [
                    "schemas": [.string(SchemaURN.searchRequest)], "filter": "displayName sw \"Group\"", "count": 100,
                ])
            #expect(searched["totalResults"] == 6)

            let stale = try await org.scim(.delete, "/Groups/\(ids[1])", headers: [.ifMatch: "W/\"999\""])
            expectSCIMError(stale, .preconditionFailed)
        }
    }

    @Test("organisation B cannot see or change A's groups on any verb")
    func isolation() async throws {
        try await withApp { client in
            let a = try await client.organisation("ga")
            let b = try await client.organisation("gb")
            let member = try await a.createUser("m@a.com")
            let created = try await a.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Private",
                    "members": [["value": .string(member)]],
                ])
            let id = try #require(created["id"]?.stringValue)
            expectSCIMError(try await b.scim(.get, "/Groups/\(id)"), .notFound)
            expectSCIMError(
                try await b.scim(
                    .put, "/Groups/\(id)", json: ["schemas": [.string(SchemaURN.group)], "displayName": "Hijack"]),
                .notFound)
            expectSCIMError(
                try await b.scim(
                    .patch, "/Groups/\(id)", json: patch(["op": "replace", "path": "displayName", "value": "X"])),
                .notFound)
            expectSCIMError(try await b.scim(.delete, "/Groups/\(id)"), .notFound)
            #expect(try await b.scim(.get, "/Groups?filter=displayName%20eq%20%22Private%22")["totalResults"] == 0)
            // B cannot add A's user to its own group either.
            let own = try await b.scim(
                .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "Mine"])
            let ownID = try #require(own["id"]?.stringValue)
            expectSCIMError(
                try await b.scim(
                    .patch, "/Groups/\(ownID)",
                    json: patch(["op": "add", "path": "members", "value": [["value": .string(member)]]])),
                .badRequest, "invalidValue")
            #expect(memberIDs(try await a.scim(.get, "/Groups/\(id)")) == [member])
        }
    }
}
