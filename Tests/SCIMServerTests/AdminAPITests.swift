import Foundation
import HTTPTypes
import SCIM
import Testing

@Suite("Admin API: organisations and tokens")
struct AdminAPITests {
    @Test("creating an organisation returns the contract shape, and its schema exists")
    func createOrganisation() async throws {
        try await withApp { client in
            let slug = TestDatabase.uniqueSlug("acme")
            let result = try await client.admin(
                .post, "/organisations", json: ["slug": .string(slug), "name": "Acme Ltd"])
            #expect(result.status == .created)
            #expect(result["slug"]?.stringValue == slug)
            #expect(result["name"]?.stringValue == "Acme Ltd")
            #expect(result["scimEnabled"] == true)
            #expect(result["id"]?.stringValue.flatMap(UUID.init(uuidString:)) != nil)
            #expect(result["schemaName"]?.stringValue == "org_" + slug.replacingOccurrences(of: "-", with: "_"))

            let fetched = try await client.admin(.get, "/organisations/\(slug)")
            #expect(fetched.status == .ok)
            #expect(fetched["id"] == result["id"])
            let listed = try await client.admin(.get, "/organisations")
            #expect(
                listed["organisations"]?.arrayValue?.contains { $0[caseInsensitive: "slug"]?.stringValue == slug }
                    == true)
        }
    }

    @Test("a duplicate slug is 409, an invalid slug is 400 naming the rule")
    func slugRules() async throws {
        try await withApp { client in
            let slug = TestDatabase.uniqueSlug("dup")
            #expect(
                try await client.admin(.post, "/organisations", json: ["slug": .string(slug), "name": "One"]).status
                    == .created)
            let duplicate = try await client.admin(
                .post, "/organisations", json: ["slug": .string(slug), "name": "Two"])
            #expect(duplicate.status == .conflict)
            for bad in ["Acme", "1acme", "", "acme ltd", "acme;drop", String(repeating: "a", count: 37), "org_\"x"] {
                let invalid = try await client.admin(
                    .post, "/organisations", json: ["slug": .string(bad), "name": "X"])
                #expect(invalid.status == .badRequest, "slug \(bad)")
                #expect(
                    invalid["message"]?.stringValue?.contains("lowercase letters") == true,
                    "slug \(bad): \(invalid.text)")
            }
        }
    }

    @Test("bad JSON, wrong types and unknown organisations are clear 4xx, never 500")
    func badInputs() async throws {
        try await withApp { client in
            #expect(try await client.admin(.post, "/organisations", raw: "{not json").status == .badRequest)
            #expect(
                try await client.admin(.post, "/organisations", json: ["slug": 5, "name": "X"]).status == .badRequest)
            #expect(try await client.admin(.post, "/organisations", json: ["slug": "ok-slug-x"]).status == .badRequest)
            #expect(try await client.admin(.post, "/organisations", json: ["x", "y"]).status == .badRequest)
            #expect(try await client.admin(.get, "/organisations/does-not-exist").status == .notFound)
            #expect(
                try await client.admin(.patch, "/organisations/does-not-exist", json: ["name": "X"]).status == .notFound
            )
            #expect(
                try await client.admin(.post, "/organisations/does-not-exist/tokens", json: ["label": "x"]).status
                    == .notFound)
            let org = try await client.organisation()
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": "yes"]).status
                    == .badRequest)
            #expect(
                try await client.admin(.post, "/organisations/\(org.slug)/tokens", json: ["label": 1]).status
                    == .badRequest)
            #expect(
                try await client.admin(
                    .post, "/organisations/\(org.slug)/tokens", json: ["label": "x", "expiresAt": "tomorrow"]
                ).status
                    == .badRequest)
            #expect(try await client.admin(.delete, "/organisations/\(org.slug)/tokens/not-a-uuid").status == .notFound)
            #expect(try await client.admin(.delete, "/organisations/\(org.slug)/tokens/\(UUID())").status == .notFound)
        }
    }

    @Test("staff auth: a missing or wrong admin token is 401 with a JSON error")
    func staffAuth() async throws {
        try await withApp { client in
            let missing = try await client.request(.get, "/admin/v1/organisations", bearer: nil)
            #expect(missing.status == .unauthorized)
            #expect(missing["error"]?.stringValue == "unauthorized")
            let wrong = try await client.request(.get, "/admin/v1/organisations", bearer: "test-admin-token-0123456780")
            #expect(wrong.status == .unauthorized)
            let org = try await client.organisation()
            let scimTokenAsStaff = try await client.request(.get, "/admin/v1/organisations", bearer: org.token)
            #expect(scimTokenAsStaff.status == .unauthorized)
        }
    }

    @Test("PATCH renames and disables SCIM; a disabled organisation's token gets 403")
    func patchOrganisation() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let renamed = try await client.admin(.patch, "/organisations/\(org.slug)", json: ["name": "Renamed"])
            #expect(renamed.status == .ok)
            #expect(renamed["name"]?.stringValue == "Renamed")
            #expect(renamed["scimEnabled"] == true)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": false])[
                    "scimEnabled"] == false)
            expectSCIMError(try await org.scim(.get, "/Users"), .forbidden)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": true]).status == .ok)
            #expect(try await org.scim(.get, "/Users").status == .ok)
        }
    }

    @Test("a token is shown once, listed without its secret, and revoked tokens get 401")
    func tokenLifecycle() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let issued = try await client.admin(.post, "/organisations/\(org.slug)/tokens", json: ["label": "rotation"])
            #expect(issued.status == .created)
            let token = try #require(issued["token"]?.stringValue)
            let prefix = try #require(issued["prefix"]?.stringValue)
            #expect(token.hasPrefix("lascim_") && token.hasPrefix(prefix) && token.count >= 7 + 12 + 1 + 43)
            #expect(issued["expiresAt"] == .null)
            #expect(issued["createdAt"]?.stringValue != nil)

            // Both tokens work meanwhile (rotation).
            #expect(try await client.request(.get, "/scim/v2/Users", bearer: token).status == .ok)
            #expect(try await org.scim(.get, "/Users").status == .ok)

            let listed = try await client.admin(.get, "/organisations/\(org.slug)/tokens")
            let tokens = try #require(listed["tokens"]?.arrayValue)
            #expect(tokens.count == 2)
            #expect(!listed.text.contains(token), "the secret must never be listed")
            let used = try #require(tokens.first { $0[caseInsensitive: "prefix"]?.stringValue == prefix })
            #expect(used[caseInsensitive: "lastUsedAt"]?.stringValue != nil, "lastUsedAt is set by the first use")
            #expect(used[caseInsensitive: "label"]?.stringValue == "rotation")

            let id = try #require(issued["id"]?.stringValue)
            #expect(try await client.admin(.delete, "/organisations/\(org.slug)/tokens/\(id)").status == .noContent)
            let revoked = try await client.request(.get, "/scim/v2/Users", bearer: token)
            expectSCIMError(revoked, .unauthorized)
            #expect(revoked.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            #expect(try await org.scim(.get, "/Users").status == .ok, "the other token keeps working")
        }
    }

    @Test("an expired token gets 401")
    func expiredToken() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            // Generous margins: the suite runs in parallel on 2 shared cores, and a token lookup is
            // cached for up to a second, so expiry may take that long to bite.
            let expiresAt = Date().addingTimeInterval(10)
            let issued = try await client.admin(
                .post, "/organisations/\(org.slug)/tokens",
                json: ["label": "short", "expiresAt": .string(SCIMDate.format(expiresAt))])
            let token = try #require(issued["token"]?.stringValue)
            #expect(try await client.request(.get, "/scim/v2/Users", bearer: token).status == .ok)
            try await Task.sleep(for: .seconds(max(0, expiresAt.timeIntervalSinceNow) + 1.5))
            let expired = try await client.request(.get, "/scim/v2/Users", bearer: token)
            expectSCIMError(expired, .unauthorized)
            #expect(expired["detail"]?.stringValue?.contains("expired") == true)
            let past = try await client.admin(
                .post, "/organisations/\(org.slug)/tokens",
                json: ["label": "past", "expiresAt": "2001-01-01T00:00:00Z"])
            #expect(past.status == .badRequest)
        }
    }

    @Test(
        "missing, garbage and forged tokens are 401 with a SCIM error and WWW-Authenticate",
        arguments: [
            nil, "", "garbage", "lascim_", "lascim_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
            "Basic dXNlcjpwYXNz", "lascim_AAAAAAAAAAAA_' OR '1'='1", String(repeating: "x", count: 5000),
        ] as [String?])
    func garbageTokens(token: String?) async throws {
        try await withApp { client in
            var headers: HTTPFields = [:]
            if let token { headers[.authorization] = token.hasPrefix("Basic") ? token : "Bearer \(token)" }
            let result = try await client.request(.get, "/scim/v2/Users", bearer: nil, headers: headers)
            expectSCIMError(result, .unauthorized)
            #expect(result.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
        }
    }

    @Test("organisation A's token never resolves to organisation B")
    func tokensAreScopedToTheirOrganisation() async throws {
        try await withApp { client in
            let a = try await client.organisation("a")
            let b = try await client.organisation("b")
            let id = try await a.createUser("only-in-a@example.com")
            expectSCIMError(try await b.scim(.get, "/Users/\(id)"), .notFound)
            let search = try await b.scim(.get, "/Users?filter=userName%20eq%20%22only-in-a@example.com%22")
            #expect(search["totalResults"] == 0)
            #expect(try await a.scim(.get, "/Users/\(id)").status == .ok)
        }
    }

    @Test("health and readiness")
    func health() async throws {
        try await withApp { client in
            let health = try await client.request(.get, "/healthz", bearer: nil)
            let ready = try await client.request(.get, "/readyz", bearer: nil)
            #expect(health.status == .ok)
            #expect(ready.status == .ok)
        }
    }

    @Test("every response carries the server's X-Request-Id, never a client's, and SCIM errors quote it")
    func requestIDs() async throws {
        try await withApp { client in
            let generated = try await client.request(.get, "/healthz", bearer: nil)
            #expect(generated.headers[.init("X-Request-Id")!]?.isEmpty == false)
            let sent = try await client.request(
                .get, "/scim/v2/Users", bearer: "nope", headers: [.init("X-Request-Id")!: "okta-req-42"])
            let id = try #require(sent.headers[.init("X-Request-Id")!])
            #expect(id != "okta-req-42" && UUID(uuidString: id) != nil)
            #expect(sent["detail"]?.stringValue?.hasSuffix("(request \(id))") == true)
        }
    }
}
