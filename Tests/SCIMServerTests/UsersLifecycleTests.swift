import Foundation
import HTTPTypes
import SCIM
import Testing

@Suite("SCIM /Users: Okta's lifecycle, ETags and tenant isolation")
struct UsersLifecycleTests {
    @Test("Okta: lookup → create → get → replace → deactivate (still visible) → reactivate")
    func oktaLifecycle() async throws {
        try await withApp { client in
            let org = try await client.organisation("okta")
            let email = Users.email("ada")

            // 1. Okta looks the person up first; nothing matches → 200 with totalResults 0, never 404.
            let lookup = try await org.scim(
                .get, "/Users" + Users.query(["filter": "userName eq \"\(email)\"", "startIndex": "1", "count": "100"]))
            #expect(lookup.status == .ok)
            #expect(lookup["schemas"] == [.string(SchemaURN.listResponse)])
            #expect(lookup["totalResults"] == 0)
            #expect(lookup["startIndex"] == 1)
            #expect(Users.ids(lookup).isEmpty)
            #expect(lookup.headers[.contentType]?.hasPrefix("application/scim+json") == true)

            // 2. Create.
            let created = try await org.scim(
                .post, "/Users",
                json: [
                    "schemas": [.string(SchemaURN.user), .string(Users.enterprise)],
                    "userName": .string(email),
                    "externalId": "00u1okta",
                    "name": ["givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"],
                    "displayName": "Ada Lovelace",
                    "title": "Analyst",
                    "timezone": "Europe/London",
                    "emails": [["value": .string(email), "type": "work", "primary": true]],
                    "active": true,
                    Users.enterprise: ["department": "Engineering", "employeeNumber": "E-1", "costCenter": "CC-7"],
                ])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created["id"]?.stringValue)
            #expect(UUID(uuidString: id) != nil)
            #expect(created.headers[.location] == created.json?.at("meta", "location")?.stringValue)
            #expect(created.headers[.location]?.hasSuffix("/scim/v2/Users/\(id)") == true)
            #expect(created.headers[.eTag] != nil)
            #expect(created.headers[.eTag] == created.json?.at("meta", "version")?.stringValue)
            #expect(created.headers[.eTag]?.hasPrefix("W/\"") == true)
            #expect(created.json?.at("meta", "resourceType") == "User")
            #expect(created.json?.at("meta", "created")?.stringValue != nil)
            #expect(created.json?.at("meta", "lastModified")?.stringValue != nil)
            #expect(created.json?.at(Users.enterprise, "department") == "Engineering")
            #expect(created.headers[.contentType]?.hasPrefix("application/scim+json") == true)

            // 3. Read it back: the same representation.
            let fetched = try await org.scim(.get, "/Users/\(id)")
            #expect(fetched.status == .ok)
            #expect(fetched.json == created.json)
            #expect(fetched.headers[.eTag] == created.headers[.eTag])

            // The lookup now finds exactly this user.
            let found = try await org.scim(
                .get,
                "/Users"
                    + Users.query([
                        "filter": "userName eq \"\(email.uppercased())\"", "startIndex": "1", "count": "100",
                    ]))
            #expect(found["totalResults"] == 1)
            #expect(Users.ids(found) == [id])

            // 4. Replace: omitted optional attributes are cleared, read-only ones ignored, id kept.
            let replaced = try await org.scim(
                .put, "/Users/\(id)",
                json: [
                    "schemas": [.string(SchemaURN.user)],
                    "id": .string(id),
                    "userName": .string(email),
                    "name": ["givenName": "Augusta", "familyName": "King"],
                    "emails": [["value": .string(email), "type": "work", "primary": true]],
                    "active": true,
                    "meta": ["created": "2001-01-01T00:00:00Z", "resourceType": "Group"],
                    "groups": [["value": .string(UUID().uuidString)]],
                ])
            #expect(replaced.status == .ok, "\(replaced.text)")
            #expect(replaced["id"]?.stringValue == id)
            #expect(replaced.json?.at("name", "givenName") == "Augusta")
            #expect(replaced.json?.at("name", "formatted") == nil, "omitted name.formatted is cleared")
            #expect(replaced["displayName"] == nil)
            #expect(replaced["title"] == nil)
            #expect(replaced["timezone"] == nil)
            #expect(replaced["externalId"] == nil)
            #expect(replaced[Users.enterprise] == nil, "the omitted enterprise extension is cleared")
            #expect(replaced["groups"] == nil, "groups is read-only")
            #expect(replaced.json?.at("meta", "created") == created.json?.at("meta", "created"), "meta is read-only")
            #expect(replaced.json?.at("meta", "resourceType") == "User")
            #expect(replaced.headers[.eTag] != created.headers[.eTag])

            // A PUT cannot change the id.
            let otherID = UUID().uuidString.lowercased()
            let moved = try await org.scim(
                .put, "/Users/\(id)", json: Users.body(email, extra: ["id": .string(otherID)]))
            expectSCIMError(moved, .badRequest, "mutability")
            expectSCIMError(try await org.scim(.get, "/Users/\(otherID)"), .notFound)

            // 5. Okta deactivates with a path-less replace.
            let deactivated = try await org.patchUser(id, ["op": "replace", "value": ["active": false]])
            #expect(deactivated.status == .ok, "\(deactivated.text)")
            #expect(deactivated["active"] == false)

            // A deactivated user stays visible to reads and filters.
            #expect(try await org.scim(.get, "/Users/\(id)")["active"] == false)
            let stillFound = try await org.filter("userName eq \"\(email)\"")
            #expect(Users.ids(stillFound) == [id])
            #expect(stillFound["Resources"]?.arrayValue?.first?[caseInsensitive: "active"] == false)
            #expect(Users.ids(try await org.filter("active eq false")) == [id])

            // 6. Reactivate.
            let reactivated = try await org.patchUser(id, ["op": "replace", "value": ["active": true]])
            #expect(reactivated["active"] == true)
            #expect(try await org.scim(.get, "/Users/\(id)")["active"] == true)
            #expect(Users.ids(try await org.filter("active eq false")).isEmpty)
        }
    }

    @Test("POST /Users/.search takes the same parameters as a JSON body")
    func search() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("search")
            let id = try await org.createUser(email)
            _ = try await org.createUser(Users.email("other"))
            let result = try await org.scim(
                .post, "/Users/.search",
                json: [
                    "schemas": [.string(SchemaURN.searchRequest)], "filter": .string("userName eq \"\(email)\""),
                    "startIndex": 1, "count": 10, "attributes": ["userName"],
                ])
            #expect(result.status == .ok, "\(result.text)")
            #expect(result["totalResults"] == 1)
            #expect(Users.ids(result) == [id])
            let resource = try #require(result["Resources"]?.arrayValue?.first)
            #expect(resource[caseInsensitive: "name"] == nil, "attributes applies to .search")
            #expect(resource[caseInsensitive: "userName"]?.stringValue == email)
        }
    }

    @Test("userName keeps the case it was sent with")
    func casePreserved() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = "Mixed.Case-\(UUID().uuidString.prefix(6))@Example.COM"
            let id = try await org.createUser(email)
            let fetched = try await org.scim(.get, "/Users/\(id)")
            #expect(fetched["userName"]?.stringValue == email)
            #expect(Users.ids(try await org.filter("userName eq \"\(email.lowercased())\"")) == [id])
        }
    }

    @Test("If-Match: a stale version is 412 on PUT, PATCH and DELETE; the current one succeeds")
    func etags() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let email = Users.email("etag")
            let id = try await org.createUser(email)
            let first = try await org.scim(.get, "/Users/\(id)")
            let v1 = try #require(first.headers[.eTag])
            #expect(first.json?.at("meta", "version")?.stringValue == v1)

            let stale: HTTPFields = [.ifMatch: "W/\"999999\""]
            expectSCIMError(
                try await org.scim(.put, "/Users/\(id)", json: Users.body(email, given: "X"), headers: stale),
                .preconditionFailed)
            expectSCIMError(
                try await org.patchUser(id, ["op": "replace", "path": "title", "value": "X"], headers: stale),
                .preconditionFailed)
            expectSCIMError(try await org.scim(.delete, "/Users/\(id)", headers: stale), .preconditionFailed)
            let unchanged = try await org.scim(.get, "/Users/\(id)")
            #expect(unchanged.headers[.eTag] == v1, "a failed precondition changes nothing")
            #expect(unchanged["title"] == nil)

            let put = try await org.scim(
                .put, "/Users/\(id)", json: Users.body(email, given: "Second"), headers: [.ifMatch: v1])
            #expect(put.status == .ok, "\(put.text)")
            let v2 = try #require(put.headers[.eTag])
            #expect(v2 != v1)
            #expect(put.json?.at("meta", "version")?.stringValue == v2)

            // The old version no longer matches; the strong form of the current one does.
            expectSCIMError(
                try await org.patchUser(id, ["op": "replace", "path": "title", "value": "X"], headers: [.ifMatch: v1]),
                .preconditionFailed)
            let strong = String(v2.dropFirst(2))
            let patched = try await org.patchUser(
                id, ["op": "replace", "path": "title", "value": "Y"], headers: [.ifMatch: strong])
            #expect(patched.status == .ok, "\(patched.text)")
            let v3 = try #require(patched.headers[.eTag])
            #expect(v3 != v2)

            // A no-op PATCH keeps the version.
            let noop = try await org.patchUser(id, ["op": "replace", "path": "title", "value": "Y"])
            #expect(noop.headers[.eTag] == v3)

            expectSCIMError(try await org.scim(.delete, "/Users/\(id)", headers: [.ifMatch: v2]), .preconditionFailed)
            let deleted = try await org.scim(.delete, "/Users/\(id)", headers: [.ifMatch: v3])
            #expect(deleted.status == .noContent)
            expectSCIMError(try await org.scim(.get, "/Users/\(id)"), .notFound)
        }
    }

    @Test("If-Match: * matches any version")
    func etagWildcard() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            let id = try await org.createUser(Users.email("star"))
            let patched = try await org.patchUser(
                id, ["op": "replace", "path": "title", "value": "Z"], headers: [.ifMatch: "*"])
            #expect(patched.status == .ok)
            #expect(try await org.scim(.delete, "/Users/\(id)", headers: [.ifMatch: "*"]).status == .noContent)
        }
    }

    @Test("organisation B's token gets 404 for A's user on every verb, and B's lists never show A's users")
    func tenantIsolation() async throws {
        try await withApp { client in
            let a = try await client.organisation("a")
            let b = try await client.organisation("b")
            let email = Users.email("isolated")
            let id = try await a.createUser(email, extra: ["title": "Secret"])
            let before = try await a.scim(.get, "/Users/\(id)")

            expectSCIMError(try await b.scim(.get, "/Users/\(id)"), .notFound)
            expectSCIMError(
                try await b.scim(.put, "/Users/\(id)", json: Users.body(email, given: "Hijacked")), .notFound)
            expectSCIMError(try await b.patchUser(id, ["op": "replace", "value": ["active": false]]), .notFound)
            expectSCIMError(try await b.scim(.delete, "/Users/\(id)"), .notFound)

            for filter in [
                "userName eq \"\(email)\"", "id eq \"\(id)\"", "title eq \"Secret\"", "userName pr", "active eq true",
            ] {
                let result = try await b.filter(filter)
                #expect(result.status == .ok)
                #expect(result["totalResults"] == 0, "filter \(filter) leaked: \(result.text)")
            }
            let all = try await b.scim(.get, "/Users")
            #expect(all["totalResults"] == 0)
            let searched = try await b.scim(
                .post, "/Users/.search",
                json: ["schemas": [.string(SchemaURN.searchRequest)], "filter": .string("userName eq \"\(email)\"")])
            #expect(searched["totalResults"] == 0)

            // B can create a user with the same userName: uniqueness is per organisation.
            let bID = try await b.createUser(email)
            #expect(bID != id)

            let after = try await a.scim(.get, "/Users/\(id)")
            #expect(after.json == before.json, "A's user is untouched")
        }
    }
}
