import Foundation
import HTTPTypes
import SCIM
import SCIMStore
import Testing

@testable import SCIMServer

/// Staff keys as a test sees them: an admin client that presents a key instead of the bootstrap token.
struct StaffKey: Sendable {
    let id: String
    let key: String
    let name: String
    let client: TestClient

    @discardableResult
    func admin(_ method: HTTPRequest.Method, _ path: String, json: JSONValue? = nil) async throws -> TestResult {
        try await client.request(method, "/admin/v1\(path)", bearer: key, json: json, contentType: "application/json")
    }
}

extension TestClient {
    /// Issues a staff key with the bootstrap token; the name is unique so audit entries can be told apart.
    func staffKey(role: String, organisation: String? = nil) async throws -> StaffKey {
        let name = "staff \(UUID().uuidString.lowercased().prefix(8))"
        var body: [String: JSONValue] = ["name": .string(name), "role": .string(role)]
        body["organisation"] = organisation.map(JSONValue.string)
        let issued = try await admin(.post, "/staff-keys", json: .object(body))
        try #require(issued.status == .created, "issuing a staff key: \(issued.text)")
        return StaffKey(
            id: try #require(issued["id"]?.stringValue), key: try #require(issued["key"]?.stringValue), name: name,
            client: self)
    }

    /// The audit entries written by one actor, newest first (other tests write to the same log).
    func auditEntries(by actor: String) async throws -> [JSONValue] {
        let page = try await admin(.get, "/audit?limit=1000")
        try #require(page.status == .ok, "GET /audit: \(page.text)")
        return try #require(page["entries"]?.arrayValue).filter { $0.at("actor", "name")?.stringValue == actor }
    }
}

@Suite("Admin API: staff keys, access policy and audit log")
struct StaffAccessTests {
    @Test("a key is shown once, listed without its secret, and works")
    func issuedOnce() async throws {
        try await withApp { client in
            let issued = try await client.admin(
                .post, "/staff-keys", json: ["name": "Jane Support", "role": "support"])
            #expect(issued.status == .created)
            let key = try #require(issued["key"]?.stringValue)
            let prefix = try #require(issued["prefix"]?.stringValue)
            let id = try #require(issued["id"]?.stringValue)
            #expect(key.hasPrefix("lastaff_") && key.hasPrefix(prefix + "_") && key.count == 8 + 12 + 1 + 43)
            #expect(issued["name"]?.stringValue == "Jane Support")
            #expect(issued["role"]?.stringValue == "support")
            #expect(issued["organisation"] == .null)
            #expect(issued["createdAt"]?.stringValue.flatMap(SCIMDate.parse) != nil)
            #expect(
                issued.json?.objectValue.map { Set($0.keys) } == [
                    "id", "name", "role", "organisation", "prefix", "key", "createdAt",
                ])

            let before = try await client.admin(.get, "/staff-keys")
            #expect(before.status == .ok)
            #expect(!before.text.contains(key), "the secret must never be listed")
            let listed = try #require(
                before["staffKeys"]?.arrayValue?.first { $0[caseInsensitive: "id"]?.stringValue == id })
            #expect(listed[caseInsensitive: "prefix"]?.stringValue == prefix)
            #expect(listed[caseInsensitive: "lastUsedAt"] == .null)
            #expect(listed[caseInsensitive: "revokedAt"] == .null)
            #expect(listed[caseInsensitive: "key"] == nil)

            let used = try await client.request(.get, "/admin/v1/organisations", bearer: key)
            #expect(used.status == .ok)
            let after = try await client.admin(.get, "/staff-keys")
            let relisted = try #require(
                after["staffKeys"]?.arrayValue?.first { $0[caseInsensitive: "id"]?.stringValue == id })
            #expect(relisted[caseInsensitive: "lastUsedAt"]?.stringValue != nil, "lastUsedAt is set by the first use")
        }
    }

    @Test("bad staff-key requests are 400 or 404, never 500")
    func badIssue() async throws {
        try await withApp { client in
            #expect(
                try await client.admin(.post, "/staff-keys", json: ["name": "X", "role": "admin"]).status == .badRequest
            )
            #expect(
                try await client.admin(.post, "/staff-keys", json: ["name": "X", "role": "bootstrap"]).status
                    == .badRequest)
            #expect(try await client.admin(.post, "/staff-keys", json: ["name": "X"]).status == .badRequest)
            #expect(
                try await client.admin(.post, "/staff-keys", json: ["name": "  ", "role": "support"]).status
                    == .badRequest)
            #expect(try await client.admin(.post, "/staff-keys", json: ["role": "support"]).status == .badRequest)
            #expect(
                try await client.admin(.post, "/staff-keys", json: ["name": "X", "role": "support", "extra": 1]).status
                    == .badRequest)
            let unknown = try await client.admin(
                .post, "/staff-keys", json: ["name": "X", "role": "readonly", "organisation": "no-such-org-x"])
            #expect(unknown.status == .notFound)
            #expect(unknown["error"]?.stringValue == "not_found")
            #expect(try await client.admin(.delete, "/staff-keys/not-a-uuid").status == .notFound)
            #expect(try await client.admin(.delete, "/staff-keys/\(UUID())").status == .notFound)
            #expect(try await client.admin(.get, "/audit?limit=0").status == .badRequest)
            #expect(try await client.admin(.get, "/audit?limit=x").status == .badRequest)
            #expect(try await client.admin(.get, "/audit?cursor=abc").status == .badRequest)
            // 100 Characters but 200 code points: the table's check counts code points.
            let flags = String(repeating: "\u{1F1EC}\u{1F1E7}", count: 100)
            let long = try await client.admin(.post, "/staff-keys", json: ["name": .string(flags), "role": "support"])
            #expect(long.status == .badRequest, "\(long.status): \(long.text)")
        }
    }

    @Test("a readonly key may GET; its writes are 403 and change nothing")
    func readonlyKey() async throws {
        try await withApp { client in
            let org = try await client.organisation("ro")
            let readonly = try await client.staffKey(role: "readonly")
            let tokensBefore = try await client.admin(.get, "/organisations/\(org.slug)/tokens")["tokens"]?.arrayValue?
                .count

            #expect(try await readonly.admin(.get, "/organisations").status == .ok)
            #expect(
                try await readonly.admin(.get, "/organisations/\(org.slug)")["name"]?.stringValue == "Test \(org.slug)")
            #expect(try await readonly.admin(.get, "/organisations/\(org.slug)/tokens").status == .ok)
            #expect(try await readonly.admin(.get, "/organisations/\(org.slug)/custom-fields").status == .ok)
            #expect(try await readonly.admin(.get, "/staff-keys").status == .ok)
            #expect(try await readonly.admin(.get, "/audit").status == .ok)

            let newSlug = TestDatabase.uniqueSlug("ro-new")
            let tokenID = try #require(
                await client.admin(.get, "/organisations/\(org.slug)/tokens")["tokens"]?.arrayValue?.first?[
                    caseInsensitive: "id"]?.stringValue)
            let writes: [(HTTPRequest.Method, String, JSONValue?)] = [
                (.post, "/organisations", ["slug": .string(newSlug), "name": "Nope"]),
                (.patch, "/organisations/\(org.slug)", ["name": "Renamed"]),
                (.post, "/organisations/\(org.slug)/tokens", ["label": "nope"]),
                (.delete, "/organisations/\(org.slug)/tokens/\(tokenID)", nil),
                (.put, "/organisations/\(org.slug)/custom-fields", ["mappings": []]),
                (.post, "/organisations/\(org.slug)/users", ["email": "nope@example.com"]),
                (.post, "/staff-keys", ["name": "escalate", "role": "support"]),
                (.delete, "/staff-keys/\(readonly.id)", nil),
            ]
            for (method, path, body) in writes {
                let refused = try await readonly.admin(method, path, json: body)
                #expect(refused.status == .forbidden, "\(method) \(path): \(refused.text)")
                #expect(refused["error"]?.stringValue == "forbidden")
                #expect(refused["message"]?.stringValue?.contains("read-only") == true, "\(refused.text)")
            }

            #expect(try await client.admin(.get, "/organisations/\(newSlug)").status == .notFound)
            #expect(
                try await client.admin(.get, "/organisations/\(org.slug)")["name"]?.stringValue == "Test \(org.slug)")
            let tokensAfter = try await client.admin(.get, "/organisations/\(org.slug)/tokens")["tokens"]?.arrayValue
            #expect(tokensAfter?.count == tokensBefore)
            #expect(tokensAfter?.allSatisfy { $0[caseInsensitive: "revokedAt"] == .null } == true)
            #expect(try await org.scim(.get, "/Users").status == .ok, "the SCIM token still works")
            #expect(try await readonly.admin(.get, "/organisations").status == .ok, "the key was not revoked")
            #expect(try await client.auditEntries(by: readonly.name).isEmpty, "refused writes are not audited")
        }
    }

    @Test("a key bound to an organisation sees that organisation alone")
    func boundKey() async throws {
        try await withApp { client in
            let mine = try await client.organisation("mine")
            let other = try await client.organisation("other")
            let bound = try await client.staffKey(role: "support", organisation: mine.slug)

            // Its own organisation works, writes included.
            #expect(try await bound.admin(.get, "/organisations/\(mine.slug)").status == .ok)
            #expect(
                try await bound.admin(.patch, "/organisations/\(mine.slug)", json: ["name": "Mine renamed"])["name"]?
                    .stringValue == "Mine renamed")
            #expect(
                try await bound.admin(.post, "/organisations/\(mine.slug)/tokens", json: ["label": "okta-2"]).status
                    == .created)
            #expect(try await bound.admin(.get, "/organisations/\(mine.slug)/tokens").status == .ok)
            #expect(try await bound.admin(.get, "/organisations/\(mine.slug)/users").status == .ok)

            // Another organisation is indistinguishable from a missing one.
            let missingSlug = TestDatabase.uniqueSlug("missing")
            for slug in [other.slug, missingSlug] {
                let requests: [(HTTPRequest.Method, String, JSONValue?)] = [
                    (.get, "/organisations/\(slug)", nil),
                    (.patch, "/organisations/\(slug)", ["name": "Hijacked"]),
                    (.get, "/organisations/\(slug)/tokens", nil),
                    (.post, "/organisations/\(slug)/tokens", ["label": "stolen"]),
                    (.get, "/organisations/\(slug)/users", nil),
                    (.put, "/organisations/\(slug)/custom-fields", ["mappings": []]),
                ]
                for (method, path, body) in requests {
                    let refused = try await bound.admin(method, path, json: body)
                    let missing = try await client.admin(
                        method, "/organisations/\(missingSlug)" + path.dropFirst("/organisations/\(slug)".count),
                        json: body)
                    #expect(refused.status == .notFound, "\(method) \(path): \(refused.text)")
                    #expect(
                        refused["error"] == missing["error"]
                            && refused["message"]?.stringValue
                                == missing["message"]?.stringValue.map {
                                    $0.replacingOccurrences(of: missingSlug, with: slug)
                                },
                        "\(refused.text) vs \(missing.text)")
                }
            }
            #expect(
                try await client.admin(.get, "/organisations/\(other.slug)")["name"]?.stringValue
                    == "Test \(other.slug)")
            #expect(
                try await client.admin(.get, "/organisations/\(other.slug)/tokens")["tokens"]?.arrayValue?.count == 1)

            // Listing shows only its organisation; everything outside it is 403.
            let listed = try await bound.admin(.get, "/organisations")
            #expect(listed.status == .ok)
            #expect(
                listed["organisations"]?.arrayValue?.compactMap { $0[caseInsensitive: "slug"]?.stringValue } == [
                    mine.slug
                ])
            let newSlug = TestDatabase.uniqueSlug("bound-new")
            let outside: [(HTTPRequest.Method, String, JSONValue?)] = [
                (.post, "/organisations", ["slug": .string(newSlug), "name": "Nope"]),
                (.get, "/staff-keys", nil),
                (.post, "/staff-keys", ["name": "escalate", "role": "support"]),
                (.delete, "/staff-keys/\(bound.id)", nil),
                (.get, "/audit", nil),
            ]
            for (method, path, body) in outside {
                let refused = try await bound.admin(method, path, json: body)
                #expect(refused.status == .forbidden, "\(method) \(path): \(refused.text)")
                #expect(refused["error"]?.stringValue == "forbidden")
            }
            #expect(try await client.admin(.get, "/organisations/\(newSlug)").status == .notFound)

            // A bound readonly key: other organisations are still 404, its own is read-only.
            let boundReader = try await client.staffKey(role: "readonly", organisation: mine.slug)
            #expect(try await boundReader.admin(.get, "/organisations/\(mine.slug)").status == .ok)
            #expect(
                try await boundReader.admin(.patch, "/organisations/\(mine.slug)", json: ["name": "X"]).status
                    == .forbidden)
            #expect(
                try await boundReader.admin(.patch, "/organisations/\(other.slug)", json: ["name": "X"]).status
                    == .notFound)

            // The key's organisation is listed with it.
            let keys = try await client.admin(.get, "/staff-keys")["staffKeys"]?.arrayValue ?? []
            #expect(
                keys.first { $0[caseInsensitive: "id"]?.stringValue == bound.id }?[caseInsensitive: "organisation"]?
                    .stringValue == mine.slug)
        }
    }

    @Test("a deleted key gets 401 from then on, and is listed as revoked")
    func deletedKey() async throws {
        try await withApp { client in
            let key = try await client.staffKey(role: "support")
            #expect(try await key.admin(.get, "/organisations").status == .ok)
            #expect(try await client.admin(.delete, "/staff-keys/\(key.id)").status == .noContent)
            let refused = try await key.admin(.get, "/organisations")
            #expect(refused.status == .unauthorized)
            #expect(refused["error"]?.stringValue == "unauthorized")
            #expect(refused.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(
                try await client.admin(.delete, "/staff-keys/\(key.id.uppercased())").status == .noContent,
                "deleting twice is fine")
            let listed = try await client.admin(.get, "/staff-keys")["staffKeys"]?.arrayValue ?? []
            #expect(
                listed.first { $0[caseInsensitive: "id"]?.stringValue == key.id }?[caseInsensitive: "revokedAt"]?
                    .stringValue != nil)
        }
    }

    @Test(
        "garbage staff keys get 401",
        arguments: [
            "lastaff_", "lastaff_x", "lastaff_AAAAAAAAAAAA_short",
            "lastaff_AAAAAAAAAAAA_" + String(repeating: "B", count: 43),
            "lastaff_AAAAAAAAAAA!_" + String(repeating: "B", count: 43),
            "lastaff__" + String(repeating: "B", count: 56),
            "lascim_AAAAAAAAAAAA_" + String(repeating: "B", count: 43),
        ])
    func garbageKeys(_ key: String) async throws {
        try await withApp { client in
            let refused = try await client.request(.get, "/admin/v1/organisations", bearer: key)
            #expect(refused.status == .unauthorized, "\(key): \(refused.text)")
            #expect(refused["error"]?.stringValue == "unauthorized")
        }
    }

    @Test("a real key's prefix with a wrong secret gets 401")
    func wrongSecret() async throws {
        try await withApp { client in
            let key = try await client.staffKey(role: "support")
            let forged = String(key.key.prefix(8 + 12 + 1)) + String(repeating: "Z", count: 43)
            #expect(try await client.request(.get, "/admin/v1/organisations", bearer: forged).status == .unauthorized)
            #expect(try await key.admin(.get, "/organisations").status == .ok)
        }
    }

    @Test("every admin write is audited with the actor and the route template; reads are not")
    func auditTrail() async throws {
        try await withApp { client in
            let support = try await client.staffKey(role: "support")
            let slug = TestDatabase.uniqueSlug("audit")
            #expect(
                try await support.admin(.post, "/organisations", json: ["slug": .string(slug), "name": "Audited"])
                    .status == .created)
            let issued = try await support.admin(.post, "/organisations/\(slug)/tokens", json: ["label": "okta"])
            let token = try #require(issued["token"]?.stringValue)
            let tokenID = try #require(issued["id"]?.stringValue)
            #expect(try await support.admin(.delete, "/organisations/\(slug)/tokens/\(tokenID)").status == .noContent)
            let mapping: JSONValue = [
                "mappings": [
                    [
                        "scimAttribute": "urn:ietf:params:scim:schemas:extension:learnamp:2.0:User:grade",
                        "field": "grade", "type": "string",
                    ]
                ]
            ]
            #expect(try await support.admin(.put, "/organisations/\(slug)/custom-fields", json: mapping).status == .ok)
            // Reads and failed writes leave no entry.
            #expect(try await support.admin(.get, "/organisations/\(slug)").status == .ok)
            #expect(try await support.admin(.get, "/organisations/\(slug)/tokens").status == .ok)
            #expect(try await support.admin(.patch, "/organisations/\(slug)", json: ["bogus": 1]).status == .badRequest)

            let entries = try await client.auditEntries(by: support.name)
            let summary = entries.map {
                "\($0[caseInsensitive: "method"]?.stringValue ?? "") \($0[caseInsensitive: "route"]?.stringValue ?? "")"
            }
            #expect(
                summary == [
                    "PUT /admin/v1/organisations/{slug}/custom-fields",
                    "DELETE /admin/v1/organisations/{slug}/tokens/{id}",
                    "POST /admin/v1/organisations/{slug}/tokens",
                    "POST /admin/v1/organisations",
                ], "newest first, writes only")
            for entry in entries {
                #expect(entry[caseInsensitive: "organisation"]?.stringValue == slug)
                #expect(entry.at("actor", "kind")?.stringValue == "staff_key")
                #expect(entry.at("actor", "id")?.stringValue == support.id)
                #expect(entry[caseInsensitive: "occurredAt"]?.stringValue.flatMap(SCIMDate.parse) != nil)
                #expect(
                    entry.objectValue.map { Set($0.keys) } == [
                        "occurredAt", "actor", "method", "route", "organisation", "target", "status",
                    ])
            }
            #expect(entries.map { $0[caseInsensitive: "status"]?.numberValue } == [200, 204, 201, 201])
            #expect(entries.map { $0[caseInsensitive: "target"]?.stringValue } == [nil, tokenID, tokenID, slug])
            let page = try await client.admin(.get, "/audit?limit=1000")
            #expect(!page.text.contains(token) && !page.text.contains(support.key), "no secret in the audit log")
        }
    }

    @Test("the bootstrap token still works, and its writes are audited as bootstrap")
    func bootstrapToken() async throws {
        try await withApp { client in
            let org = try await client.organisation("boot")
            #expect(try await client.admin(.get, "/organisations/\(org.slug)").status == .ok)
            #expect(try await client.admin(.get, "/staff-keys").status == .ok)
            let key = try await client.staffKey(role: "readonly")
            let entries = try await client.auditEntries(by: "bootstrap")
            let created = try #require(entries.first { $0[caseInsensitive: "target"]?.stringValue == key.id })
            #expect(created.at("actor", "kind")?.stringValue == "bootstrap")
            #expect(created.at("actor", "id") == .null)
            #expect(created[caseInsensitive: "route"]?.stringValue == "/admin/v1/staff-keys")
            #expect(created[caseInsensitive: "organisation"] == .null)
            #expect(
                entries.contains {
                    $0[caseInsensitive: "target"]?.stringValue == org.slug
                        && $0[caseInsensitive: "method"]?.stringValue == "POST"
                })
        }
    }

    @Test("the audit log pages newest first with an opaque cursor")
    func auditPaging() async throws {
        try await withApp { client in
            let support = try await client.staffKey(role: "support")
            for label in ["a", "b", "c"] {
                _ = try await support.admin(
                    .post, "/organisations",
                    json: ["slug": .string(TestDatabase.uniqueSlug("page-\(label)")), "name": "Paged"])
            }
            var seen: [JSONValue] = []
            var cursor: String?
            repeat {
                let page = try await client.admin(.get, "/audit?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == .ok)
                let entries = try #require(page["entries"]?.arrayValue)
                #expect(entries.count <= 2)
                #expect(page.json?.objectValue?.keys.contains("nextCursor") == true)
                seen += entries
                cursor = page["nextCursor"]?.stringValue
            } while cursor != nil && seen.filter({ $0.at("actor", "name")?.stringValue == support.name }).count < 3
            let mine = seen.filter { $0.at("actor", "name")?.stringValue == support.name }
            #expect(mine.count == 3)
            let times = mine.compactMap { $0[caseInsensitive: "occurredAt"]?.stringValue.flatMap(SCIMDate.parse) }
            #expect(times.count == 3 && times == times.sorted(by: >), "newest first")
            #expect(
                Set(mine.compactMap { $0[caseInsensitive: "target"]?.stringValue }).count == 3,
                "pages do not repeat entries")
        }
    }
}

/// The access policy on its own, as a table: who may call which route template.
@Suite("Admin access policy")
struct AdminAccessPolicyTests {
    static let support = StaffIdentity(kind: .staffKey, id: UUID(), name: "s", role: .support)
    static let readonly = StaffIdentity(kind: .staffKey, id: UUID(), name: "r", role: .readonly)
    static let bound = StaffIdentity(
        kind: .staffKey, id: UUID(), name: "b", role: .support, organisationID: UUID(), organisationSlug: "acme")
    static let boundReader = StaffIdentity(
        kind: .staffKey, id: UUID(), name: "br", role: .readonly, organisationID: UUID(), organisationSlug: "acme")

    /// identity, method, route template, slug, expected status (nil: allowed).
    static let table: [(StaffIdentity, HTTPRequest.Method, String, String?, Int?)] = [
        (.bootstrap, .post, "/admin/v1/staff-keys", nil, nil),
        (.bootstrap, .delete, "/admin/v1/organisations/{slug}/tokens/{id}", "acme", nil),
        (support, .post, "/admin/v1/organisations", nil, nil),
        (support, .post, "/admin/v1/staff-keys", nil, nil),
        (support, .get, "/admin/v1/audit", nil, nil),
        (readonly, .get, "/admin/v1/organisations/{slug}", "acme", nil),
        (readonly, .head, "/admin/v1/organisations", nil, nil),
        (readonly, .get, "/admin/v1/audit", nil, nil),
        (readonly, .patch, "/admin/v1/organisations/{slug}", "acme", 403),
        (readonly, .post, "/admin/v1/staff-keys", nil, 403),
        (readonly, .put, "/admin/v1/organisations/{slug}/custom-fields", "acme", 403),
        (bound, .get, "/admin/v1/organisations", nil, nil),
        (bound, .patch, "/admin/v1/organisations/{slug}", "acme", nil),
        (bound, .get, "/admin/v1/organisations/{slug}/events", "acme", nil),
        (bound, .get, "/admin/v1/organisations/{slug}", "other", 404),
        (bound, .delete, "/admin/v1/organisations/{slug}/tokens/{id}", "other", 404),
        (bound, .post, "/admin/v1/organisations", nil, 403),
        (bound, .get, "/admin/v1/staff-keys", nil, 403),
        (bound, .get, "/admin/v1/audit", nil, 403),
        (boundReader, .get, "/admin/v1/organisations/{slug}/tokens", "acme", nil),
        (boundReader, .post, "/admin/v1/organisations/{slug}/tokens", "acme", 403),
        (boundReader, .post, "/admin/v1/organisations/{slug}/tokens", "other", 404),
    ]

    @Test("who may call what", arguments: table.indices)
    func policy(_ index: Int) {
        let (identity, method, route, slug, expected) = Self.table[index]
        let status: Int?
        do {
            try AdminAuthMiddleware.authorise(identity, method: method, route: route, slug: slug)
            status = nil
        } catch let error as AdminError {
            status = error.status
        } catch {
            status = -1
        }
        #expect(status == expected, "\(identity.name) \(method) \(route) slug \(slug ?? "-")")
    }
}
