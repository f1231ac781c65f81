import Foundation
import HTTPTypes
import SCIM
import Testing

/// Organisation A's resources, which B's credentials must never reach.
struct VictimOrganisation: Sendable {
    var org: TestOrganisation
    var organisationID: String
    var userID: String
    var userName: String
    var externalID: String
    var groupID: String
    var groupName: String
    var manualUserID: String
    var manualEmail: String
    var tokenID: String
    var customField: String

    /// Strings that identify A's data; none may appear in a response to B.
    var secrets: [String] {
        [
            organisationID, userID, userName, externalID, groupID, groupName, manualUserID, manualEmail, tokenID,
            customField, "Test \(org.slug)",
        ]
    }
}

/// One cell of the matrix: B's credentials, a route and method, aimed at A.
struct IsolationCase: Sendable, CustomStringConvertible {
    enum Credential: Sendable {
        /// Organisation B's SCIM token.
        case scimB
        /// A `support` staff key bound to organisation B.
        case staffB
    }

    var name: String
    var credential: Credential
    var method: HTTPRequest.Method
    var path: String
    var body: JSONValue?
    /// Acceptable statuses. 404/403 for anything naming A; an empty 200 list for queries naming A's
    /// ids and names; `created` only where B creates its own resource that merely reuses A's name.
    var statuses: Set<Int>
    /// For list responses: the number of results B must see.
    var results: Int?

    var description: String { "\(credential) \(method) \(path) — \(name)" }

    static func matrix(_ a: VictimOrganisation, bSlug: String, bUserID: String, bGroupID: String) -> [IsolationCase] {
        let patchOp: JSONValue = [.string(SchemaURN.patchOp)]
        let user: JSONValue = ["schemas": [.string(SchemaURN.user)], "userName": .string(a.userName), "active": false]
        let group: JSONValue = ["schemas": [.string(SchemaURN.group)], "displayName": "Hijacked", "members": []]
        let userPatch: JSONValue = [
            "schemas": patchOp, "Operations": [["op": "replace", "path": "active", "value": false]],
        ]
        let groupPatch: JSONValue = [
            "schemas": patchOp,
            "Operations": [["op": "add", "path": "members", "value": [["value": .string(bUserID)]]]],
        ]
        func filter(_ text: String) -> String {
            var allowed = CharacterSet.urlQueryAllowed
            allowed.remove(charactersIn: "&=+#")
            return "filter=" + text.addingPercentEncoding(withAllowedCharacters: allowed)!
        }
        func search(_ text: String) -> JSONValue {
            ["schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": .string(text)]
        }
        let s = "/scim/v2"
        let o = "/admin/v1/organisations/\(a.org.slug)"
        return [
            // SCIM Users, by A's id
            .init(
                name: "read A's user", credential: .scimB, method: .get, path: "\(s)/Users/\(a.userID)", statuses: [404]
            ),
            .init(
                name: "replace A's user", credential: .scimB, method: .put, path: "\(s)/Users/\(a.userID)", body: user,
                statuses: [404]),
            .init(
                name: "patch A's user", credential: .scimB, method: .patch, path: "\(s)/Users/\(a.userID)",
                body: userPatch, statuses: [404]),
            .init(
                name: "delete A's user", credential: .scimB, method: .delete, path: "\(s)/Users/\(a.userID)",
                statuses: [404]),
            // SCIM Users, lists and searches naming A's data
            .init(
                name: "list all", credential: .scimB, method: .get, path: "\(s)/Users?count=1000", statuses: [200],
                results: 1),
            .init(
                name: "filter by A's id", credential: .scimB, method: .get,
                path: "\(s)/Users?" + filter("id eq \"\(a.userID)\""), statuses: [200], results: 0),
            .init(
                name: "filter by A's userName", credential: .scimB, method: .get,
                path: "\(s)/Users?" + filter("userName eq \"\(a.userName)\""), statuses: [200], results: 0),
            .init(
                name: "filter by A's externalId", credential: .scimB, method: .get,
                path: "\(s)/Users?" + filter("externalId eq \"\(a.externalID)\""), statuses: [200], results: 0),
            .init(
                name: "filter on A's email", credential: .scimB, method: .get,
                path: "\(s)/Users?" + filter("emails[value eq \"\(a.userName)\"]"), statuses: [200], results: 0),
            .init(
                name: "filter on A's user's team", credential: .scimB, method: .get,
                path: "\(s)/Users?" + filter("groups.value eq \"\(a.groupID)\""), statuses: [200, 400], results: 0),
            .init(
                name: "filter with A's id, sorted", credential: .scimB, method: .get,
                path: "\(s)/Users?sortBy=userName&" + filter("id eq \"\(a.userID)\" or userName pr"), statuses: [200],
                results: 1),
            .init(
                name: "search by A's id", credential: .scimB, method: .post, path: "\(s)/Users/.search",
                body: search("id eq \"\(a.userID)\""), statuses: [200], results: 0),
            .init(
                name: "search by A's userName", credential: .scimB, method: .post, path: "\(s)/Users/.search",
                body: search("userName eq \"\(a.userName)\""), statuses: [200], results: 0),
            .init(
                name: "create with A's userName (B's own user)", credential: .scimB, method: .post, path: "\(s)/Users",
                body: user, statuses: [201]),
            .init(
                name: "B's user with A's user as manager", credential: .scimB, method: .patch,
                path: "\(s)/Users/\(bUserID)",
                body: [
                    "schemas": patchOp,
                    "Operations": [
                        [
                            "op": "replace", "path": "\(SchemaURN.enterpriseUser):manager",
                            "value": ["value": .string(a.userID)],
                        ]
                    ],
                ],
                statuses: [200, 400]),
            // SCIM Groups
            .init(
                name: "read A's group", credential: .scimB, method: .get, path: "\(s)/Groups/\(a.groupID)",
                statuses: [404]),
            .init(
                name: "replace A's group", credential: .scimB, method: .put, path: "\(s)/Groups/\(a.groupID)",
                body: group, statuses: [404]),
            .init(
                name: "patch A's group", credential: .scimB, method: .patch, path: "\(s)/Groups/\(a.groupID)",
                body: groupPatch, statuses: [404]),
            .init(
                name: "delete A's group", credential: .scimB, method: .delete, path: "\(s)/Groups/\(a.groupID)",
                statuses: [404]),
            .init(
                name: "list all groups", credential: .scimB, method: .get, path: "\(s)/Groups?count=1000",
                statuses: [200], results: 1),
            .init(
                name: "filter groups by A's id", credential: .scimB, method: .get,
                path: "\(s)/Groups?" + filter("id eq \"\(a.groupID)\""), statuses: [200], results: 0),
            .init(
                name: "filter groups by A's name", credential: .scimB, method: .get,
                path: "\(s)/Groups?" + filter("displayName eq \"\(a.groupName)\""), statuses: [200], results: 0),
            .init(
                name: "filter groups by A's member", credential: .scimB, method: .get,
                path: "\(s)/Groups?" + filter("members[value eq \"\(a.userID)\"]"), statuses: [200, 400], results: 0),
            .init(
                name: "search groups by A's id", credential: .scimB, method: .post, path: "\(s)/Groups/.search",
                body: search("id eq \"\(a.groupID)\""), statuses: [200], results: 0),
            .init(
                name: "B's group with A's user as member", credential: .scimB, method: .post, path: "\(s)/Groups",
                body: [
                    "schemas": [.string(SchemaURN.group)], "displayName": "B team",
                    "members": [["value": .string(a.userID)]],
                ], statuses: [400, 404]),
            .init(
                name: "add A's user to B's group", credential: .scimB, method: .patch, path: "\(s)/Groups/\(bGroupID)",
                body: [
                    "schemas": patchOp,
                    "Operations": [["op": "add", "path": "members", "value": [["value": .string(a.userID)]]]],
                ], statuses: [400, 404]),
            .init(
                name: "remove A's user via B's group", credential: .scimB, method: .patch,
                path: "\(s)/Groups/\(bGroupID)",
                body: [
                    "schemas": patchOp, "Operations": [["op": "remove", "path": "members[value eq \"\(a.userID)\"]"]],
                ], statuses: [204, 400]),
            // SCIM discovery: B's schema must not show A's custom fields
            .init(name: "schemas", credential: .scimB, method: .get, path: "\(s)/Schemas", statuses: [200]),
            .init(
                name: "Learn Amp extension schema", credential: .scimB, method: .get,
                path: "\(s)/Schemas/\(SchemaURN.learnAmpUser)", statuses: [200]),
            .init(
                name: "resource types", credential: .scimB, method: .get, path: "\(s)/ResourceTypes", statuses: [200]),
            // B's SCIM token is no staff credential
            .init(name: "SCIM token on A's organisation", credential: .scimB, method: .get, path: o, statuses: [401]),
            .init(
                name: "SCIM token on A's users", credential: .scimB, method: .get, path: "\(o)/users", statuses: [401]),
            // Admin routes with a staff key bound to B, aimed at A's slug
            .init(name: "read A", credential: .staffB, method: .get, path: o, statuses: [404]),
            .init(
                name: "update A", credential: .staffB, method: .patch, path: o,
                body: ["name": "Hijacked", "scimEnabled": false], statuses: [404]),
            .init(name: "A's tokens", credential: .staffB, method: .get, path: "\(o)/tokens", statuses: [404]),
            .init(
                name: "issue a token for A", credential: .staffB, method: .post, path: "\(o)/tokens",
                body: ["label": "stolen"], statuses: [404]),
            .init(
                name: "revoke A's token", credential: .staffB, method: .delete, path: "\(o)/tokens/\(a.tokenID)",
                statuses: [404]),
            .init(
                name: "A's custom fields", credential: .staffB, method: .get, path: "\(o)/custom-fields",
                statuses: [404]),
            .init(
                name: "replace A's custom fields", credential: .staffB, method: .put, path: "\(o)/custom-fields",
                body: ["mappings": []], statuses: [404]),
            .init(name: "A's users", credential: .staffB, method: .get, path: "\(o)/users", statuses: [404]),
            .init(
                name: "create a user in A", credential: .staffB, method: .post, path: "\(o)/users",
                body: ["email": "intruder@b.example"], statuses: [404]),
            .init(
                name: "update A's user", credential: .staffB, method: .patch, path: "\(o)/users/\(a.manualUserID)",
                body: ["role": "owner"], statuses: [404]),
            .init(name: "A's teams", credential: .staffB, method: .get, path: "\(o)/teams", statuses: [404]),
            .init(name: "A's status", credential: .staffB, method: .get, path: "\(o)/status", statuses: [404]),
            .init(name: "A's events", credential: .staffB, method: .get, path: "\(o)/events", statuses: [404]),
            .init(
                name: "A's events by userName", credential: .staffB, method: .get,
                path: "\(o)/events?userName=\(a.userName)", statuses: [404]),
            // B's own slug with A's ids
            .init(
                name: "A's token id under B", credential: .staffB, method: .delete,
                path: "/admin/v1/organisations/\(bSlug)/tokens/\(a.tokenID)", statuses: [404]),
            .init(
                name: "A's user id under B", credential: .staffB, method: .patch,
                path: "/admin/v1/organisations/\(bSlug)/users/\(a.manualUserID)",
                body: ["active": false], statuses: [404]),
            .init(
                name: "B's events naming A's user", credential: .staffB, method: .get,
                path: "/admin/v1/organisations/\(bSlug)/events?userName=\(a.userName)", statuses: [200]),
            // Routes outside any organisation
            .init(
                name: "list organisations", credential: .staffB, method: .get, path: "/admin/v1/organisations",
                statuses: [200]),
            .init(
                name: "create an organisation", credential: .staffB, method: .post, path: "/admin/v1/organisations",
                body: ["slug": .string(TestDatabase.uniqueSlug("iso-new")), "name": "Nope"], statuses: [403]),
            .init(name: "staff keys", credential: .staffB, method: .get, path: "/admin/v1/staff-keys", statuses: [403]),
            .init(
                name: "issue a staff key for A", credential: .staffB, method: .post, path: "/admin/v1/staff-keys",
                body: ["name": "escalate", "role": "support", "organisation": .string(a.org.slug)], statuses: [403]),
            .init(name: "audit log", credential: .staffB, method: .get, path: "/admin/v1/audit", statuses: [403]),
            // A staff key is no SCIM credential
            .init(
                name: "staff key on SCIM", credential: .staffB, method: .get, path: "\(s)/Users/\(a.userID)",
                statuses: [401]),
        ]
    }
}

@Suite("Isolation: organisation B's credentials never reach organisation A")
struct IsolationMatrixTests {
    /// The number of route×method cells; the test name carries it for the closing note.
    static let matrixSize = 55

    @Test(
        "55 route×method cases with B's SCIM token or B-bound staff key: 404/403 or empty, never A's data, A unchanged")
    func matrix() async throws {
        try await withApp { client in
            let a = try await Self.victim(client)
            let b = try await client.organisation("iso-b")
            let bUserID = try await b.createUser("b-user-\(UUID().uuidString.prefix(6).lowercased())@b.example")
            let bGroup = try await b.scim(
                .post, "/Groups", json: ["schemas": [.string(SchemaURN.group)], "displayName": "B own team"])
            try #require(bGroup.status == .created, "\(bGroup.text)")
            let bGroupID = try #require(bGroup["id"]?.stringValue)
            let staffB = try await client.staffKey(role: "support", organisation: b.slug)

            let before = try await Snapshot.take(a.org)
            let cases = IsolationCase.matrix(a, bSlug: b.slug, bUserID: bUserID, bGroupID: bGroupID)
            #expect(cases.count == Self.matrixSize)
            for cell in cases {
                let bearer = cell.credential == .scimB ? b.token : staffB.key
                let result = try await client.request(
                    cell.method, cell.path, bearer: bearer, json: cell.body,
                    contentType: cell.path.hasPrefix("/scim") ? "application/scim+json" : "application/json")
                #expect(
                    cell.statuses.contains(Int(result.status.code)),
                    "\(cell): \(result.status) \(result.text.prefix(300))")
                // A secret the request itself carries may be echoed (`User <id> not found.`); any other is a leak.
                let sent =
                    ((cell.path.removingPercentEncoding ?? cell.path)
                    + String(decoding: cell.body?.serialized() ?? [], as: UTF8.self)).lowercased()
                for secret in a.secrets where !sent.contains(secret.lowercased()) {
                    #expect(
                        !result.text.lowercased().contains(secret.lowercased()),
                        "\(cell) leaks \(secret): \(result.text.prefix(300))")
                }
                if let expected = cell.results {
                    #expect(
                        result["totalResults"]?.numberValue == Double(expected), "\(cell): \(result.text.prefix(300))")
                }
            }
            let after = try await Snapshot.take(a.org)
            #expect(after == before, "A changed:\n\(before)\n---\n\(after)")
            let aUser = try await a.org.scim(.get, "/Users/\(a.userID)")
            #expect(aUser.status == .ok && aUser["active"] == true && aUser["userName"]?.stringValue == a.userName)
            let aGroup = try await a.org.scim(.get, "/Groups/\(a.groupID)")
            #expect(
                aGroup["members"]?.arrayValue?.compactMap { $0[caseInsensitive: "value"]?.stringValue } == [a.userID])
            let aTokens =
                try await client.admin(.get, "/organisations/\(a.org.slug)/tokens")["tokens"]?.arrayValue ?? []
            #expect(aTokens.count == 1 && aTokens.allSatisfy { $0[caseInsensitive: "revokedAt"] == .null })
        }
    }

    /// Organisation A with a SCIM user (with externalId), a group, a manual user, a custom field and a token.
    static func victim(_ client: TestClient) async throws -> VictimOrganisation {
        let org = try await client.organisation("iso-a")
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let field = "isoField\(suffix)"
        let fields = try await client.admin(
            .put, "/organisations/\(org.slug)/custom-fields",
            json: [
                "mappings": [
                    [
                        "scimAttribute": .string("\(SchemaURN.learnAmpUser):\(field)"), "field": "cost_centre",
                        "type": "string",
                    ]
                ]
            ])
        try #require(fields.status == .ok, "\(fields.text)")
        let userName = "a-user-\(suffix)@a.example"
        let externalID = "okta-a-\(suffix)"
        let userID = try await org.createUser(userName, extra: ["externalId": .string(externalID)])
        let groupName = "A secret team \(suffix)"
        let group = try await org.scim(
            .post, "/Groups",
            json: [
                "schemas": [.string(SchemaURN.group)], "displayName": .string(groupName),
                "members": [["value": .string(userID)]],
            ])
        try #require(group.status == .created, "\(group.text)")
        let manualEmail = "a-manual-\(suffix)@a.example"
        let manual = try await client.admin(
            .post, "/organisations/\(org.slug)/users", json: ["email": .string(manualEmail)])
        try #require(manual.status == .created, "\(manual.text)")
        let organisation = try await client.admin(.get, "/organisations/\(org.slug)")
        let token = try await client.admin(.get, "/organisations/\(org.slug)/tokens")
        return VictimOrganisation(
            org: org, organisationID: try #require(organisation["id"]?.stringValue), userID: userID, userName: userName,
            externalID: externalID,
            groupID: try #require(group["id"]?.stringValue), groupName: groupName,
            manualUserID: try #require(manual["id"]?.stringValue),
            manualEmail: manualEmail,
            tokenID: try #require(token["tokens"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue),
            customField: field)
    }
}
