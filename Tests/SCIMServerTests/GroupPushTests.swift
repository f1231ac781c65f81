import Foundation
import HTTPTypes
import Postgres
import SCIM
import Testing

/// Okta App Integration Wizard apps push a group as a PUT of its whole member list (Okta's SCIM 2.0
/// guide, "PATCH versus PUT"), so large groups arrive in one request.
@Suite("Groups: Okta push by PUT of the whole member list")
struct GroupPushTests {
    /// Okta's PUT body: the full representation, each member with `value` and `display`.
    static func oktaPut(id: String, name: String, members: [UUID]) -> String {
        var body =
            #"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":""# + id + #"","displayName":""#
            + name + #"","members":["#
        body.reserveCapacity(body.utf8.count + members.count * 80)
        for (index, member) in members.enumerated() {
            if index > 0 { body += "," }
            body += #"{"value":""# + member.lowercasedString + #"","display":"Person "# + String(index) + #""}"#
        }
        return body + "]}"
    }

    /// An organisation with `count` SCIM users inserted by SQL (100,000 POSTs would take minutes).
    static func seeded(_ client: TestClient, count: Int) async throws -> (
        org: TestOrganisation, schema: PostgresIdentifier, users: [UUID]
    ) {
        let org = try await client.organisation("push")
        let schemaName = try #require(
            try await client.admin(.get, "/organisations/\(org.slug)")["schemaName"]?.stringValue)
        let schema = try PostgresIdentifier(schemaName)
        let users = (0..<count).map { _ in UUID() }
        try await withDatabase { db in
            _ = try await db.query(
                """
                INSERT INTO \(schema).users (id, user_name, email, given_name, family_name, scim_managed)
                SELECT t.id, 'p' || t.n || '@push.test', 'p' || t.n || '@push.test', 'Person', t.n::text, true
                FROM unnest(\(users)::uuid[]) WITH ORDINALITY AS t(id, n)
                """)
        }
        return (org, schema, users)
    }

    /// Member ids of the team and how many rows still carry `added_at` of the marker date.
    static func membership(_ schema: PostgresIdentifier, team: String) async throws -> (ids: Set<UUID>, marked: Int) {
        try await withDatabase { db in
            let team = try #require(UUID(uuidString: team))
            let rows = try await db.query(
                "SELECT user_id, added_at = '2001-01-01Z' AS marked FROM \(schema).team_members WHERE team_id = \(team) AND via_group"
            )
            var ids = Set<UUID>()
            var marked = 0
            for row in rows {
                ids.insert(try row.decode("user_id"))
                if try row.decode("marked", as: Bool.self) { marked += 1 }
            }
            return (ids, marked)
        }
    }

    @Test(
        "PUT applies the list as a set difference: kept rows untouched, new ones added, missing ones removed, renamed",
        arguments: [0, 1, 1_000, 1_001, 100_000])
    func putWholeMemberList(count: Int) async throws {
        try await withApp { client in
            // `count` users are the new list; the group starts with the first half of them and 3 who leave.
            let (org, schema, users) = try await Self.seeded(client, count: count + 3)
            let wanted = Array(users.prefix(count))
            let leaving = Array(users.suffix(3))
            let kept = Array(wanted.prefix(count / 2))
            let created = try await org.scim(
                .post, "/Groups?excludedAttributes=members",
                raw: Self.oktaPut(id: "", name: "Push \(count)", members: kept + leaving).replacingOccurrences(
                    of: #""id":"","#, with: ""))
            try #require(created.status == .created, "\(created.text.prefix(300))")
            let id = try #require(created["id"]?.stringValue)
            // A marker on every existing row: a row the PUT leaves alone keeps it.
            try await withDatabase { db in
                _ = try await db.query(
                    "UPDATE \(schema).team_members SET added_at = '2001-01-01Z' WHERE team_id = \(UUID(uuidString: id)!)"
                )
            }

            let put = try await org.scim(
                .put, "/Groups/\(id)", raw: Self.oktaPut(id: id, name: "Pushed \(count)", members: wanted))
            try #require(put.status == .ok, "\(put.text.prefix(300))")
            #expect(put["displayName"]?.stringValue == "Pushed \(count)", "the rename in the same PUT is applied")
            #expect(put["members"]?.arrayValue?.count ?? 0 == count, "the response lists the new members")

            let after = try await Self.membership(schema, team: id)
            #expect(after.ids == Set(wanted), "members are exactly the list sent")
            #expect(after.marked == kept.count, "the rows of members who stayed were not rewritten")
            #expect(after.ids.isDisjoint(with: leaving))
            let fetched = try await org.scim(.get, "/Groups/\(id)?excludedAttributes=members")
            #expect(fetched["displayName"]?.stringValue == "Pushed \(count)")
        }
    }

    @Test("an unknown member id is refused and nothing changes, the rename included")
    func unknownMemberRefused() async throws {
        try await withApp { client in
            let (org, schema, users) = try await Self.seeded(client, count: 1_001)
            let created = try await org.scim(
                .post, "/Groups",
                json: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "Steady",
                    "members": .array(users.prefix(10).map { ["value": .string($0.lowercasedString)] }),
                ])
            let id = try #require(created["id"]?.stringValue)
            let stranger = UUID()
            let put = try await org.scim(
                .put, "/Groups/\(id)",
                raw: Self.oktaPut(
                    id: id, name: "Renamed", members: Array(users.prefix(500)) + [stranger] + users.suffix(500)))
            expectSCIMError(put, .badRequest, "invalidValue")
            #expect(put["detail"]?.stringValue?.contains(stranger.lowercasedString) == true, "\(put.text)")
            let notAUUID = try await org.scim(
                .put, "/Groups/\(id)",
                raw: Self.oktaPut(id: id, name: "Renamed", members: [users[0]]).replacingOccurrences(
                    of: "]}", with: #",{"value":"okta-123"}]}"#))
            expectSCIMError(notAUUID, .badRequest, "invalidValue")

            #expect(try await Self.membership(schema, team: id).ids == Set(users.prefix(10)))
            let fetched = try await org.scim(.get, "/Groups/\(id)?excludedAttributes=members")
            #expect(fetched["displayName"]?.stringValue == "Steady")
            #expect(fetched.headers[.eTag] == created.headers[.eTag], "the version did not move")
        }
    }

    @Test(
        "PUT with department members and duplicates: listed department members gain the push, unlisted ones stay",
        arguments: ["", "?excludedAttributes=members"])
    func putKeepsDepartmentMembers(query: String) async throws {
        try await withApp { client in
            let (org, schema, u) = try await Self.seeded(client, count: 6)
            let created = try await org.scim(
                .post, "/Groups", raw: Self.oktaPut(id: "", name: "Mixed", members: [u[0], u[1]]))
            let id = try #require(created["id"]?.stringValue)
            let team = try #require(UUID(uuidString: id))
            try await withDatabase { db in
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).team_members (team_id, user_id, via_group, via_department)
                    VALUES (\(team), \(u[2]), false, true), (\(team), \(u[3]), true, true)
                    """)
            }
            // u1 leaves, u3 is no longer pushed but stays through its department, u2 gains the push, u4 joins.
            let put = try await org.scim(
                .put, "/Groups/\(id)\(query)",
                raw: Self.oktaPut(id: id, name: "Mixed", members: [u[4], u[0], u[2], u[4], u[0]]))
            try #require(put.status == .ok, "\(put.text.prefix(300))")
            if query.isEmpty {
                let shown = put["members"]?.arrayValue?.compactMap { $0[caseInsensitive: "value"]?.stringValue } ?? []
                let expected = [u[0], u[2], u[3], u[4]].map(\.lowercasedString).sorted()
                #expect(shown == expected, "every member, department ones included")
            } else {
                #expect(put["members"] == nil)
            }
            let rows = try await withDatabase { db in
                try await db.query(
                    """
                    SELECT user_id, via_group, via_department FROM \(schema).team_members
                    WHERE team_id = \(team) ORDER BY user_id
                    """)
            }
            var state: [UUID: [Bool]] = [:]
            for row in rows {
                state[try row.decode("user_id")] = [try row.decode("via_group"), try row.decode("via_department")]
            }
            #expect(state == [u[0]: [true, false], u[2]: [true, true], u[3]: [false, true], u[4]: [true, false]])
        }
    }

    @Test(
        "a released user in a PUT is refused by name, the first bad id in the order sent, and nothing changes",
        arguments: ["", "?excludedAttributes=members"])
    func putRefusesReleasedUser(query: String) async throws {
        try await withApp { client in
            let (org, schema, u) = try await Self.seeded(client, count: 4)
            let created = try await org.scim(
                .post, "/Groups", raw: Self.oktaPut(id: "", name: "Keep", members: [u[0], u[1]]))
            let id = try #require(created["id"]?.stringValue)
            try await withDatabase { db in
                _ = try await db.query("UPDATE \(schema).users SET scim_managed = false WHERE id = \(u[1])")
            }
            let stranger = UUID()
            for (list, named) in [([u[2], u[1], stranger], u[1]), ([u[3], stranger, u[1]], stranger)] {
                let put = try await org.scim(
                    .put, "/Groups/\(id)\(query)", raw: Self.oktaPut(id: id, name: "Gone", members: list))
                expectSCIMError(put, .badRequest, "invalidValue")
                #expect(put["detail"]?.stringValue?.contains(named.lowercasedString) == true, "\(put.text)")
            }
            #expect(try await Self.membership(schema, team: id).ids == [u[0], u[1]])
            let fetched = try await org.scim(.get, "/Groups/\(id)?excludedAttributes=members")
            #expect(fetched["displayName"]?.stringValue == "Keep")
            #expect(fetched.headers[.eTag] == created.headers[.eTag], "the version did not move")
        }
    }

    @Test("a user PUT (Okta's full user) leaves the user's pushed memberships as they are")
    func userPutKeepsMemberships() async throws {
        try await withApp { client in
            let (org, schema, users) = try await Self.seeded(client, count: 1_001)
            let created = try await org.scim(.post, "/Groups", raw: Self.oktaPut(id: "", name: "Big", members: users))
            let id = try #require(created["id"]?.stringValue)
            let member = users[0].lowercasedString
            let put = try await org.scim(
                .put, "/Users/\(member)",
                json: [
                    "schemas": [.string(SchemaURN.user)], "id": .string(member), "userName": "p1@push.test",
                    "name": ["givenName": "Ada", "familyName": "Lovelace"],
                    "emails": [["value": "p1@push.test", "type": "work", "primary": true]], "active": true,
                ])
            #expect(put.status == .ok, "\(put.text)")
            #expect(put["groups"]?.arrayValue?.first?[caseInsensitive: "value"]?.stringValue == id)
            #expect(try await Self.membership(schema, team: id).ids.count == 1_001)
        }
    }

    @Test("a PATCH add of 100,000 members in one operation")
    func patchAddHundredThousand() async throws {
        try await withApp { client in
            let (org, schema, users) = try await Self.seeded(client, count: 100_000)
            let created = try await org.scim(
                .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "Everyone"])
            let id = try #require(created["id"]?.stringValue)
            var body =
                #"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"members","value":["#
            body += users.map { #"{"value":""# + $0.lowercasedString + #""}"# }.joined(separator: ",")
            body += "]}]}"
            let patched = try await org.scim(.patch, "/Groups/\(id)", raw: body)
            #expect(patched.status == .noContent, "\(patched.text.prefix(300))")
            #expect(try await Self.membership(schema, team: id).ids.count == 100_000)
        }
    }
}
