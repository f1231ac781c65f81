import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Postgres
import SCIM
import SCIMStore
import Synchronization
import Testing

@testable import SCIMServer

/// A wall clock the test moves by hand, so credentials expire without waiting.
final class ManualDate: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date()) { current = Mutex(start) }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// An OAuth client as created through the admin API.
struct TestOAuthClient: Sendable {
    let slug: String
    let id: String
    let clientID: String
    let secret: String
    let secretID: String
}

extension TestClient {
    /// Creates an OAuth client for `slug`, failing the test unless the admin API answers 201.
    func oauthClient(
        _ slug: String, label: String = "entra", secretExpiresAt: Date? = nil
    ) async throws -> TestOAuthClient {
        var body: [String: JSONValue] = ["label": .string(label)]
        body["secretExpiresAt"] = secretExpiresAt.map { .string(SCIMDate.format($0)) }
        let created = try await admin(.post, "/organisations/\(slug)/oauth-clients", json: .object(body))
        try #require(created.status == .created, "creating an OAuth client: \(created.text)")
        return TestOAuthClient(
            slug: slug, id: try #require(created["id"]?.stringValue),
            clientID: try #require(created["clientId"]?.stringValue),
            secret: try #require(created["clientSecret"]?.stringValue),
            secretID: try #require(created["secretId"]?.stringValue))
    }

    /// `POST /oauth/token` with a raw form body and, optionally, HTTP Basic credentials.
    @discardableResult
    func tokenRequest(
        _ form: String, basic: (id: String, secret: String)? = nil,
        contentType: String? = "application/x-www-form-urlencoded",
        headers extra: HTTPFields = [:]
    ) async throws -> TestResult {
        var headers = extra
        if let basic {
            let joined = "\(OAuthForm.encode(basic.id)):\(OAuthForm.encode(basic.secret))"
            headers[.authorization] = "Basic \(Data(joined.utf8).base64EncodedString())"
        }
        return try await request(
            .post, "/oauth/token", bearer: nil, raw: form, headers: headers, contentType: contentType)
    }

    /// An access token for `client` by client_secret_post, failing the test unless it is issued.
    func accessToken(_ client: TestOAuthClient) async throws -> String {
        let result = try await tokenRequest(
            "grant_type=client_credentials&client_id=\(OAuthForm.encode(client.clientID))"
                + "&client_secret=\(OAuthForm.encode(client.secret))")
        try #require(result.status == .ok, "token request: \(result.text)")
        return try #require(result["access_token"]?.stringValue)
    }
}

enum OAuthForm {
    /// `application/x-www-form-urlencoded` encoding of one value.
    static func encode(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._*")
        return text.addingPercentEncoding(withAllowedCharacters: allowed)!
    }
}

/// The real application with a manual wall clock and whatever `configure` changes.
func withOAuthApp(
    clock: ManualDate = ManualDate(), configure: (inout AppConfiguration) -> Void = { _ in },
    _ body: @Sendable (TestClient) async throws -> Void
) async throws {
    var configuration = try TestDatabase.configuration()
    configuration.clock = { clock.now }
    configure(&configuration)
    let app = try await buildApplication(configuration, logger: TestDatabase.logger)
    try await app.test(.router) { client in
        try await body(TestClient(client: client))
    }
}

/// Asserts an RFC 6749 section 5.2 error: status, `error` code, a description, JSON, never cached.
func expectOAuthError(
    _ result: TestResult, _ status: HTTPResponse.Status, _ code: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(result.status == status, "status \(result.status) body \(result.text)", sourceLocation: sourceLocation)
    #expect(result["error"]?.stringValue == code, "body \(result.text)", sourceLocation: sourceLocation)
    #expect(result["error_description"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(result.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    #expect(result.headers[.cacheControl] == "no-store", sourceLocation: sourceLocation)
    if code == "invalid_client" {
        #expect(
            result.headers[.wwwAuthenticate]?.hasPrefix("Basic ") == true, "\(result.headers)",
            sourceLocation: sourceLocation)
    }
}

@Suite("OAuth 2.0 client credentials: admin API, token endpoint, access tokens on /scim/v2")
struct OAuthTests {
    @Test("a client is created with exactly the contract's shape; its secret appears once, hashed at rest")
    func createAndList() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let created = try await client.admin(
                .post, "/organisations/\(org.slug)/oauth-clients", json: ["label": "Entra"])
            #expect(created.status == .created, "\(created.text)")
            #expect(
                created.keys == ["id", "label", "clientId", "clientSecret", "secretId", "secretExpiresAt", "createdAt"])
            let secret = try #require(created["clientSecret"]?.stringValue)
            let clientID = try #require(created["clientId"]?.stringValue)
            #expect(secret.hasPrefix("lasecret_") && secret.count == 9 + 12 + 1 + 43)
            #expect(clientID.hasPrefix("laclient_") && clientID.count == 9 + 24)
            #expect(created["label"] == "Entra")
            let expires = try #require(created["secretExpiresAt"]?.stringValue.flatMap(SCIMDate.parse))
            #expect(abs(expires.timeIntervalSince(clock.now) - 730 * 86_400) < 1, "two years by default: \(expires)")

            let listed = try await client.admin(.get, "/organisations/\(org.slug)/oauth-clients")
            #expect(listed.status == .ok)
            #expect(listed.keys == ["oauthClients"])
            #expect(!listed.text.contains(secret), "the secret is never listed")
            let entry = try #require(listed["oauthClients"]?.arrayValue?.first)
            #expect(
                entry.objectValue.map { Set($0.keys) } == [
                    "id", "label", "clientId", "createdAt", "lastUsedAt", "revokedAt", "secrets",
                ])
            #expect(entry[caseInsensitive: "clientId"]?.stringValue == clientID)
            #expect(entry[caseInsensitive: "lastUsedAt"] == .null && entry[caseInsensitive: "revokedAt"] == .null)
            let secretEntry = try #require(entry[caseInsensitive: "secrets"]?.arrayValue?.first)
            #expect(
                secretEntry.objectValue.map { Set($0.keys) } == [
                    "secretId", "createdAt", "lastUsedAt", "expiresAt", "revokedAt",
                ])
            #expect(secretEntry[caseInsensitive: "secretId"] == created["secretId"])

            try await withDatabase { database in
                let rows = try await database.query(
                    """
                    SELECT s.secret_hash FROM control.oauth_client_secrets s
                    JOIN control.oauth_clients c ON c.id = s.client_id
                    WHERE c.client_id = \(clientID)
                    """)
                #expect(try rows.first?.decode("secret_hash", as: [UInt8].self) == Secrets.sha256(secret))
            }

            // The token's lastUsedAt is written with each issue.
            _ = try await client.accessToken(
                TestOAuthClient(slug: org.slug, id: "", clientID: clientID, secret: secret, secretID: ""))
            let used = try await client.admin(.get, "/organisations/\(org.slug)/oauth-clients")
            #expect(used["oauthClients"]?.arrayValue?.first?[caseInsensitive: "lastUsedAt"]?.stringValue != nil)
        }
    }

    @Test("admin input errors: label, expiry, unknown fields and ids")
    func adminErrors() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let base = "/organisations/\(org.slug)/oauth-clients"
            for body: JSONValue in [
                [:], ["label": ""], ["label": 7], ["label": "x", "scope": "all"],
                ["label": "x", "secretExpiresAt": .string(SCIMDate.format(clock.now.addingTimeInterval(-60)))],
                [
                    "label": "x",
                    "secretExpiresAt": .string(SCIMDate.format(clock.now.addingTimeInterval(731 * 86_400))),
                ],
                ["label": "x", "secretExpiresAt": "tomorrow"],
            ] {
                let result = try await client.admin(.post, base, json: body)
                #expect(result.status == .badRequest, "\(body): \(result.text)")
                #expect(result["error"] == "bad_request")
            }
            let unknown = UUID().uuidString.lowercased()
            #expect(try await client.admin(.post, "\(base)/\(unknown)/secrets", json: [:]).status == .notFound)
            #expect(try await client.admin(.post, "\(base)/not-a-uuid/secrets", json: [:]).status == .notFound)
            #expect(try await client.admin(.delete, "\(base)/\(unknown)").status == .notFound)
            let oauth = try await client.oauthClient(org.slug)
            #expect(try await client.admin(.delete, "\(base)/\(oauth.id)/secrets/\(unknown)").status == .notFound)
            #expect(
                try await client.admin(.get, "/organisations/nope-\(unknown.prefix(8))/oauth-clients").status
                    == .notFound)
            let noBody = try await client.request(
                .post, "/admin/v1\(base)/\(oauth.id)/secrets", bearer: TestDatabase.adminToken)
            #expect(noBody.status == .created, "an empty body is {}: \(noBody.text)")
        }
    }

    /// The database counts a label's length in code points; 100 flags are 100 characters to Swift
    /// but 200 code points, which used to break the table's check and answer 500.
    @Test("a label of at most 100 characters but more code points is 400, not 500")
    func labelCodePoints() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let base = "/organisations/\(org.slug)/oauth-clients"
            let flags = String(repeating: "\u{1F1EC}\u{1F1E7}", count: 60)
            for label in [flags, String(repeating: "e\u{301}", count: 100)] {
                let result = try await client.admin(.post, base, json: ["label": .string(label)])
                #expect(result.status == .badRequest, "\(result.status): \(result.text)")
                #expect(result["error"] == "bad_request")
            }
            let fifty = String(repeating: "\u{1F1EC}\u{1F1E7}", count: 50)
            let created = try await client.admin(.post, base, json: ["label": .string(fifty)])
            #expect(created.status == .created, "100 code points fit: \(created.text)")
            #expect(created["label"]?.stringValue == fifty)
        }
    }

    @Test("both credential locations issue a Bearer token that works on /scim/v2; scope scim or none")
    func bothCredentialLocations() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let basic = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            let post = try await client.tokenRequest(
                "grant_type=client_credentials&scope=scim&client_id=\(oauth.clientID)&client_secret=\(oauth.secret)")
            let basicWithID = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(oauth.clientID)", basic: (oauth.clientID, oauth.secret))
            for result in [basic, post, basicWithID] {
                #expect(result.status == .ok, "\(result.text)")
                #expect(result.keys == ["access_token", "token_type", "expires_in", "scope"])
                #expect(result["scope"] == "scim", "RFC 6749 section 5.1: also when the request named none")
                #expect(result["token_type"] == "Bearer")
                #expect(result["expires_in"]?.numberValue == 3600)
                #expect(result.headers[.cacheControl] == "no-store")
                #expect(result.headers[.pragma] == "no-cache")
                let token = try #require(result["access_token"]?.stringValue)
                #expect(token.hasPrefix("laoauth_"))
                let viaOAuth = TestOrganisation(slug: org.slug, token: token, client: client)
                #expect(try await viaOAuth.scim(.get, "/Users").status == .ok)
            }
            #expect(basic["access_token"] != post["access_token"], "each request gets its own token")

            try await withDatabase { database in
                let token = try #require(post["access_token"]?.stringValue)
                let prefix = String(token.prefix(8 + 12))
                let rows = try await database.query(
                    "SELECT token_hash FROM control.oauth_access_tokens WHERE prefix = \(prefix)")
                #expect(
                    try rows.first?.decode("token_hash", as: [UInt8].self) == Secrets.sha256(token), "stored hashed")
            }

            // The same user is visible through the SCIM token and the access token: one organisation.
            let viaOAuth = TestOrganisation(
                slug: org.slug, token: try #require(post["access_token"]?.stringValue), client: client)
            let id = try await viaOAuth.createUser(Users.email("oauth"))
            #expect(try await org.scim(.get, "/Users/\(id)").status == .ok)
        }
    }

    @Test("RFC 6749 section 5.2 errors, as JSON")
    func tokenErrors() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let other = try await client.oauthClient(org.slug, label: "other")
            let credentials = "client_id=\(oauth.clientID)&client_secret=\(oauth.secret)"
            let wrongSecret = String(oauth.secret.dropLast()) + (oauth.secret.hasSuffix("a") ? "b" : "a")
            let cases: [(String, TestResult, HTTPResponse.Status, String)] = [
                (
                    "JSON body",
                    try await client.tokenRequest(
                        "{\"grant_type\":\"client_credentials\"}", contentType: "application/json"), .badRequest,
                    "invalid_request"
                ),
                ("no grant_type", try await client.tokenRequest(credentials), .badRequest, "invalid_request"),
                (
                    "password grant", try await client.tokenRequest("grant_type=password&\(credentials)"), .badRequest,
                    "unsupported_grant_type"
                ),
                (
                    "other scope",
                    try await client.tokenRequest("grant_type=client_credentials&scope=admin&\(credentials)"),
                    .badRequest, "invalid_scope"
                ),
                (
                    "repeated parameter",
                    try await client.tokenRequest(
                        "grant_type=client_credentials&grant_type=client_credentials&\(credentials)"), .badRequest,
                    "invalid_request"
                ),
                (
                    "secret in both places",
                    try await client.tokenRequest(
                        "grant_type=client_credentials&client_secret=\(oauth.secret)",
                        basic: (oauth.clientID, oauth.secret)),
                    .badRequest, "invalid_request"
                ),
                (
                    "no credentials", try await client.tokenRequest("grant_type=client_credentials"), .unauthorized,
                    "invalid_client"
                ),
                (
                    "wrong secret",
                    try await client.tokenRequest(
                        "grant_type=client_credentials", basic: (oauth.clientID, wrongSecret)), .unauthorized,
                    "invalid_client"
                ),
                (
                    "another client's secret",
                    try await client.tokenRequest(
                        "grant_type=client_credentials&client_id=\(oauth.clientID)&client_secret=\(other.secret)"),
                    .unauthorized, "invalid_client"
                ),
                (
                    "unknown client",
                    try await client.tokenRequest(
                        "grant_type=client_credentials", basic: ("laclient_nobody", oauth.secret)), .unauthorized,
                    "invalid_client"
                ),
                (
                    "bearer instead of basic",
                    try await client.tokenRequest(
                        "grant_type=client_credentials", headers: [.authorization: "Bearer \(org.token)"]),
                    .unauthorized, "invalid_client"
                ),
                (
                    "SCIM token as secret",
                    try await client.tokenRequest(
                        "grant_type=client_credentials&client_id=\(oauth.clientID)&client_secret=\(org.token)"),
                    .unauthorized, "invalid_client"
                ),
            ]
            for (name, result, status, code) in cases {
                #expect(result.status == status, "\(name): \(result.text)")
                expectOAuthError(result, status, code)
            }
            // A client's secret is not a SCIM token, and an access token is not a client secret.
            expectSCIMError(
                try await TestOrganisation(slug: org.slug, token: oauth.secret, client: client).scim(.get, "/Users"),
                .unauthorized)
        }
    }

    @Test("access tokens and secrets expire by the injected clock; a token never outlives its secret")
    func expiry() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug, secretExpiresAt: clock.now.addingTimeInterval(86_400))
            let viaOAuth = TestOrganisation(slug: org.slug, token: try await client.accessToken(oauth), client: client)
            #expect(try await viaOAuth.scim(.get, "/Users").status == .ok)
            clock.advance(by: 3590)
            #expect(
                try await viaOAuth.scim(.get, "/Users").status == .ok, "still inside its hour, served from the cache")
            clock.advance(by: 20)
            let expired = try await viaOAuth.scim(.get, "/Users")
            expectSCIMError(expired, .unauthorized)
            #expect(expired["detail"]?.stringValue?.contains("expired") == true, "\(expired.text)")

            // A fresh token from the same secret works; the day after, the secret itself has expired.
            let fresh = TestOrganisation(slug: org.slug, token: try await client.accessToken(oauth), client: client)
            #expect(try await fresh.scim(.get, "/Users").status == .ok)
            clock.advance(by: 86_400)
            let refused = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            expectOAuthError(refused, .unauthorized, "invalid_client")
            #expect(refused["error_description"]?.stringValue?.contains("expired") == true, "\(refused.text)")

            // A secret with half an hour left issues a token for half an hour, not an hour.
            let short = try await client.oauthClient(
                org.slug, label: "short", secretExpiresAt: clock.now.addingTimeInterval(1800))
            let capped = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (short.clientID, short.secret))
            #expect(capped["expires_in"]?.numberValue == 1800, "\(capped.text)")
        }
    }

    /// The migration lets an operator move a secret's expiry by hand (the caches drop then): its
    /// access tokens must not outlive it.
    @Test("a secret whose expiry is brought forward by hand ends the access tokens it issued")
    func secretExpiryMovedByHand() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let viaOAuth = TestOrganisation(slug: org.slug, token: try await client.accessToken(oauth), client: client)
            let secretID = try #require(UUID(uuidString: oauth.secretID))
            let past = clock.now.addingTimeInterval(-60)
            try await withDatabase { database in
                _ = try await database.query(
                    "UPDATE control.oauth_client_secrets SET expires_at = \(past) WHERE id = \(secretID)")
            }
            let refused = try await viaOAuth.scim(.get, "/Users")
            expectSCIMError(refused, .unauthorized)
            #expect(refused["detail"]?.stringValue?.contains("expired") == true, "\(refused.text)")
        }
    }

    @Test("OAUTH_ACCESS_TOKEN_TTL_SECONDS sets expires_in; the variable is range-checked")
    func lifetime() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock, configure: { $0.oauthAccessTokenLifetime = 7200 }) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let result = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            #expect(result["expires_in"]?.numberValue == 7200)
            let viaOAuth = TestOrganisation(
                slug: org.slug, token: try #require(result["access_token"]?.stringValue), client: client)
            clock.advance(by: 7100)
            #expect(try await viaOAuth.scim(.get, "/Users").status == .ok)
            clock.advance(by: 200)
            #expect(try await viaOAuth.scim(.get, "/Users").status == .unauthorized)
        }
        let base = ["DATABASE_URL": "postgresql://localhost/x", "ADMIN_API_TOKEN": String(repeating: "a", count: 20)]
        #expect(try AppConfiguration.fromEnvironment(base).oauthAccessTokenLifetime == 3600)
        for good in ["3600", "21600"] {
            #expect(
                try AppConfiguration.fromEnvironment(base.merging(["OAUTH_ACCESS_TOKEN_TTL_SECONDS": good]) { $1 })
                    .oauthAccessTokenLifetime == Int(good))
        }
        for bad in ["3599", "21601", "hour", ""] {
            #expect(throws: ConfigurationError.self, "\(bad)") {
                try AppConfiguration.fromEnvironment(base.merging(["OAUTH_ACCESS_TOKEN_TTL_SECONDS": bad]) { $1 })
            }
        }
    }

    @Test("at most three live secrets per client: the fourth is 409; revoked and expired ones do not count")
    func secretLimit() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let path = "/organisations/\(org.slug)/oauth-clients/\(oauth.id)/secrets"
            let second = try await client.admin(.post, path, json: [:])
            #expect(second.status == .created)
            #expect(second.keys == ["secretId", "clientSecret", "expiresAt"])
            let soon = clock.now.addingTimeInterval(600)
            let third = try await client.admin(.post, path, json: ["expiresAt": .string(SCIMDate.format(soon))])
            #expect(third.status == .created, "\(third.text)")
            #expect(
                third["expiresAt"]?.stringValue.flatMap(SCIMDate.parse).map { abs($0.timeIntervalSince(soon)) < 1 }
                    == true)
            let fourth = try await client.admin(.post, path, json: [:])
            #expect(fourth.status == .conflict, "\(fourth.text)")
            #expect(fourth["error"] == "conflict")

            // Each secret works on its own: rotation without downtime.
            let newSecret = try #require(second["clientSecret"]?.stringValue)
            #expect(
                try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, newSecret))
                    .status == .ok)
            #expect(
                try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
                    .status == .ok)

            #expect(try await client.admin(.delete, "\(path)/\(oauth.secretID)").status == .noContent)
            #expect(
                try await client.admin(.delete, "\(path)/\(oauth.secretID)").status == .noContent,
                "revoking twice is harmless")
            let old = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            expectOAuthError(old, .unauthorized, "invalid_client")
            #expect(try await client.admin(.post, path, json: [:]).status == .created, "a revoked secret frees a place")
            #expect(try await client.admin(.post, path, json: [:]).status == .conflict)
            clock.advance(by: 601)
            #expect(
                try await client.admin(.post, path, json: [:]).status == .created, "an expired secret frees a place")

            let listed = try await client.admin(.get, "/organisations/\(org.slug)/oauth-clients")
            let secrets = try #require(
                listed["oauthClients"]?.arrayValue?.first?[caseInsensitive: "secrets"]?.arrayValue)
            #expect(secrets.count == 5)
            #expect(secrets.filter { $0[caseInsensitive: "revokedAt"] != .null }.count == 1)

            #expect(
                try await client.admin(.delete, "/organisations/\(org.slug)/oauth-clients/\(oauth.id)").status
                    == .noContent)
            #expect(
                try await client.admin(.post, path, json: [:]).status == .conflict,
                "a revoked client gets no new secret")
            let revoked = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, newSecret))
            expectOAuthError(revoked, .unauthorized, "invalid_client")
        }
    }

    @Test("revoking a secret or a client on one replica ends its access tokens on the other")
    func revocationAcrossReplicas() async throws {
        let first = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        let second = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        try await first.test(.router) { a in
            try await second.test(.router) { b in
                let a = TestClient(client: a)
                let b = TestClient(client: b)
                let org = try await a.organisation("oauth")
                let oauth = try await a.oauthClient(org.slug)
                let bySecret = TestOrganisation(slug: org.slug, token: try await a.accessToken(oauth), client: b)
                let second = try await a.admin(
                    .post, "/organisations/\(org.slug)/oauth-clients/\(oauth.id)/secrets", json: [:])
                let otherSecret = try #require(second["clientSecret"]?.stringValue)
                let byClient = TestOrganisation(
                    slug: org.slug,
                    token: try await a.accessToken(
                        TestOAuthClient(
                            slug: org.slug, id: oauth.id, clientID: oauth.clientID, secret: otherSecret, secretID: "")),
                    client: b)
                #expect(try await bySecret.scim(.get, "/Users").status == .ok)
                #expect(try await byClient.scim(.get, "/Users").status == .ok)
                // Past the one-second fallback: B now trusts its cached entries on epoch reads alone.
                try await Task.sleep(for: .seconds(1.5))
                #expect(try await bySecret.scim(.get, "/Users").status == .ok)

                let path = "/organisations/\(org.slug)/oauth-clients/\(oauth.id)"
                #expect(try await a.admin(.delete, "\(path)/secrets/\(oauth.secretID)").status == .noContent)
                #expect(
                    try await refusedWithin(seconds: 10) {
                        try await bySecret.scim(.get, "/Users").status == .unauthorized
                    })
                #expect(try await byClient.scim(.get, "/Users").status == .ok, "the other secret's token still works")

                #expect(try await a.admin(.delete, path).status == .noContent)
                #expect(
                    try await refusedWithin(seconds: 10) {
                        try await byClient.scim(.get, "/Users").status == .unauthorized
                    })
                let detail = try await byClient.scim(.get, "/Users")["detail"]?.stringValue
                #expect(detail?.contains("revoked") == true, "\(detail ?? "")")
            }
        }
    }

    /// Whether `condition` holds within `seconds` (polled every 50 ms). Bounded so a broken
    /// invalidation fails the test rather than hanging it; how fast it happens is CacheCoherenceTests'.
    func refusedWithin(seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    @Test("another organisation's access token sees nothing of this one, and clients are per organisation")
    func isolation() async throws {
        try await withOAuthApp { client in
            let a = try await client.organisation("oautha")
            let b = try await client.organisation("oauthb")
            let userName = Users.email("isolated")
            let id = try await a.createUser(userName)
            let bClient = try await client.oauthClient(b.slug)
            let bToken = TestOrganisation(slug: a.slug, token: try await client.accessToken(bClient), client: client)
            expectSCIMError(try await bToken.scim(.get, "/Users/\(id)"), .notFound)
            expectSCIMError(try await bToken.scim(.delete, "/Users/\(id)"), .notFound)
            #expect(try await bToken.filter("userName eq \"\(userName)\"")["totalResults"] == 0)
            #expect(try await a.scim(.get, "/Users/\(id)").status == .ok, "A's user is untouched")

            // B's client is not A's: A's routes do not know it.
            let path = "/organisations/\(a.slug)/oauth-clients/\(bClient.id)"
            #expect(try await client.admin(.delete, path).status == .notFound)
            #expect(try await client.admin(.delete, "\(path)/secrets/\(bClient.secretID)").status == .notFound)
            #expect(try await client.admin(.post, "\(path)/secrets", json: [:]).status == .notFound)
            let listedA = try await client.admin(.get, "/organisations/\(a.slug)/oauth-clients")
            #expect(listedA["oauthClients"] == [])
        }
    }

    @Test("a disabled organisation gets invalid_client; its live access tokens get 403 like its SCIM token")
    func disabledOrganisation() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let viaOAuth = TestOrganisation(slug: org.slug, token: try await client.accessToken(oauth), client: client)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": false]).status == .ok
            )
            let refused = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            expectOAuthError(refused, .unauthorized, "invalid_client")
            expectSCIMError(try await viaOAuth.scim(.get, "/Users"), .forbidden)
            expectSCIMError(try await org.scim(.get, "/Users"), .forbidden)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": true]).status == .ok)
            #expect(try await viaOAuth.scim(.get, "/Users").status == .ok)
        }
    }

    @Test("failed client authentications count against the failed-authentication limit, per secret prefix")
    func failedAuthLimit() async throws {
        try await withOAuthApp(configure: {
            $0.rateLimits = RateLimitSettings(failedAuthAttempts: 3, failedAuthWindow: .seconds(3600))
        }) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let other = try await client.oauthClient(org.slug, label: "other")
            let wrong = String(oauth.secret.dropLast()) + (oauth.secret.hasSuffix("a") ? "b" : "a")
            for _ in 0..<3 {
                expectOAuthError(
                    try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, wrong)),
                    .unauthorized,
                    "invalid_client")
            }
            let limited = try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, wrong))
            #expect(limited.status == .tooManyRequests, "\(limited.text)")
            #expect(limited.headers[.retryAfter].flatMap(Int.init).map { $0 >= 1 } == true)
            #expect(limited["error"]?.stringValue != nil)
            let post = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(oauth.clientID)&client_secret=\(wrong)")
            #expect(post.status == .tooManyRequests, "client_secret_post is counted under the same secret prefix")
            #expect(
                try await client.tokenRequest("grant_type=client_credentials", basic: (other.clientID, other.secret))
                    .status == .ok,
                "another client from the same address is not affected")
        }
    }

    /// A client id is public (it sits in the identity provider's settings and in listings), so
    /// failures are counted by the secret's own public prefix, as SCIM tokens are: made-up secrets
    /// sent with someone's client id from a shared egress address cannot lock that client out.
    @Test("made-up secrets sent with a client's id do not lock out its real secret")
    func failedAuthLimitByPublicClientID() async throws {
        try await withOAuthApp(configure: {
            $0.rateLimits = RateLimitSettings(failedAuthAttempts: 3, failedAuthWindow: .seconds(3600))
        }) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            for attempt in 0..<6 {
                let tail = String(repeating: "b", count: 43)
                let madeUp = "lasecret_\(String(repeating: "A", count: 11))\(attempt)_\(tail)"
                let refused = try await client.tokenRequest(
                    "grant_type=client_credentials", basic: (oauth.clientID, madeUp))
                #expect(refused.status == .unauthorized, "made-up secret \(attempt): \(refused.text)")
            }
            let real = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            #expect(real.status == .ok, "the real secret is not limited: \(real.text)")
        }
    }

    /// As on `/scim/v2`, only a disabled organisation's refusal can turn into a success, so only it
    /// is forgiven by a control change: enabling the organisation lets its secret in at once.
    @Test("a secret limited while its organisation was disabled works as soon as staff enable it")
    func failedAuthLimitCuredByEnabling() async throws {
        try await withOAuthApp(configure: {
            $0.rateLimits = RateLimitSettings(failedAuthAttempts: 3, failedAuthWindow: .seconds(3600))
        }) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(org.slug)
            let path = "/organisations/\(org.slug)"
            #expect(try await client.admin(.patch, path, json: ["scimEnabled": false]).status == .ok)
            for _ in 0..<3 {
                let refused = try await client.tokenRequest(
                    "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
                expectOAuthError(refused, .unauthorized, "invalid_client")
            }
            // Every move of the control epoch (this PATCH as the epoch reader sees it, and other
            // tests' control writes on the shared database, as many as they make) lets a curable
            // refusal through once more: send until it is limited, with a generous bound.
            var statuses: [HTTPResponse.Status] = []
            var limited: TestResult
            repeat {
                limited = try await client.tokenRequest(
                    "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
                statuses.append(limited.status)
            } while limited.status == .unauthorized && statuses.count < 100
            #expect(limited.status == .tooManyRequests, "\(statuses.map(\.code)): \(limited.text)")
            #expect(try await client.admin(.patch, path, json: ["scimEnabled": true]).status == .ok)
            let enabled = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            #expect(enabled.status == .ok, "enabled again: \(enabled.text)")
        }
    }

    /// A header that is not Basic base64(id:secret) is a failed client authentication too, counted
    /// per address like a garbage bearer on `/scim/v2`.
    @Test("malformed Authorization headers count against the address's failed-authentication limit")
    func failedAuthLimitMalformedBasic() async throws {
        try await withOAuthApp(configure: {
            $0.rateLimits = RateLimitSettings(
                failedAuthAttempts: 3, failedAuthAddressAttempts: 3, failedAuthWindow: .seconds(3600))
        }) { client in
            for header in ["Bearer nonsense", "Basic !!!", "Basic \(Data("no-colon".utf8).base64EncodedString())"] {
                expectOAuthError(
                    try await client.tokenRequest("grant_type=client_credentials", headers: [.authorization: header]),
                    .unauthorized, "invalid_client")
            }
            let limited = try await client.tokenRequest(
                "grant_type=client_credentials", headers: [.authorization: "Basic !!!"])
            #expect(limited.status == .tooManyRequests, "\(limited.text)")
        }
    }

    @Test("readonly and organisation-bound staff keys follow the admin API's rules")
    func staffKeys() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let elsewhere = try await client.organisation("oauthx")
            let oauth = try await client.oauthClient(org.slug)
            let path = "/organisations/\(org.slug)/oauth-clients"
            let readonly = try await client.staffKey(role: "readonly")
            #expect(try await readonly.admin(.get, path).status == .ok)
            #expect(try await readonly.admin(.post, path, json: ["label": "x"]).status == .forbidden)
            #expect(try await readonly.admin(.post, "\(path)/\(oauth.id)/secrets", json: [:]).status == .forbidden)
            #expect(try await readonly.admin(.delete, "\(path)/\(oauth.id)").status == .forbidden)

            let bound = try await client.staffKey(role: "support", organisation: elsewhere.slug)
            #expect(try await bound.admin(.get, path).status == .notFound)
            #expect(try await bound.admin(.post, path, json: ["label": "x"]).status == .notFound)
            #expect(try await bound.admin(.delete, "\(path)/\(oauth.id)").status == .notFound)
            let own = try await bound.admin(
                .post, "/organisations/\(elsewhere.slug)/oauth-clients", json: ["label": "own"])
            #expect(own.status == .created, "\(own.text)")

            let support = try await client.staffKey(role: "support")
            let created = try await support.admin(.post, path, json: ["label": "audited"])
            #expect(created.status == .created)
            let entries = try await client.auditEntries(by: support.name)
            #expect(entries.first?[caseInsensitive: "route"] == "/admin/v1/organisations/{slug}/oauth-clients")
            #expect(entries.first?[caseInsensitive: "target"] == created["id"])
            #expect(
                !(try await client.admin(.get, "/audit?limit=1000")).text.contains(
                    try #require(created["clientSecret"]?.stringValue)))
        }
    }

    @Test("events name the OAuth client; a refused genuine secret is logged to its organisation")
    func events() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let oauth = try await client.oauthClient(
                org.slug, label: "Entra prod", secretExpiresAt: clock.now.addingTimeInterval(7200))
            let viaOAuth = TestOrganisation(slug: org.slug, token: try await client.accessToken(oauth), client: client)
            let userName = Users.email("evented")
            _ = try await viaOAuth.createUser(userName)
            #expect(try await org.scim(.get, "/Users").status == .ok)

            let listed = try await client.admin(
                .get, "/organisations/\(org.slug)/events?userName=\(Users.encode(userName))")
            let created = try #require(listed["events"]?.arrayValue?.first, "\(listed.text)")
            #expect(
                created[caseInsensitive: "oauthClient"] == [
                    "id": .string(oauth.id), "label": "Entra prod", "clientId": .string(oauth.clientID),
                ])
            #expect(created[caseInsensitive: "tokenId"] == .null)
            let all = try #require(
                try await client.admin(.get, "/organisations/\(org.slug)/events")["events"]?.arrayValue)
            let bySCIMToken = try #require(all.first { $0[caseInsensitive: "method"] == "GET" })
            #expect(bySCIMToken[caseInsensitive: "oauthClient"] == .null)
            #expect(bySCIMToken[caseInsensitive: "tokenId"]?.stringValue != nil)

            clock.advance(by: 7300)
            _ = try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            let errors = try await client.admin(.get, "/organisations/\(org.slug)/events?outcome=error")
            let refusal = try #require(errors["events"]?.arrayValue?.first, "\(errors.text)")
            #expect(refusal[caseInsensitive: "path"] == "/oauth/token")
            #expect(refusal[caseInsensitive: "status"] == 401)
            #expect(refusal[caseInsensitive: "detail"]?.stringValue?.contains("expired") == true)
            #expect(refusal.at("oauthClient", "id")?.stringValue == oauth.id)
        }
    }

    @Test("the status route lists live OAuth clients and secrets expiring within 30 days")
    func status() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauth")
            let soon = try await client.oauthClient(
                org.slug, label: "soon", secretExpiresAt: clock.now.addingTimeInterval(10 * 86_400))
            _ = try await client.oauthClient(
                org.slug, label: "later", secretExpiresAt: clock.now.addingTimeInterval(60 * 86_400))
            let tokens = try await client.admin(.get, "/organisations/\(org.slug)/tokens")
            let tokenID = try #require(tokens["tokens"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue)
            #expect(
                try await client.admin(.delete, "/organisations/\(org.slug)/tokens/\(tokenID)").status == .noContent)

            let status = try await client.admin(.get, "/organisations/\(org.slug)/status")
            #expect(status.status == .ok, "\(status.text)")
            let expiring = try #require(status["expiringSecrets"]?.arrayValue)
            #expect(expiring.count == 1)
            #expect(expiring.first?[caseInsensitive: "secretId"]?.stringValue == soon.secretID)
            #expect(expiring.first?[caseInsensitive: "clientId"]?.stringValue == soon.clientID)
            #expect(expiring.first?[caseInsensitive: "label"] == "soon")
            #expect(status["oauthClients"]?.arrayValue?.count == 2)
            #expect(status["tokens"] == [])
            let reasons = status.json?.at("health", "reasons")?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(
                !reasons.contains { $0.contains("no active") }, "an OAuth client is a usable credential: \(reasons)")
            #expect(reasons.contains { $0.contains("expire within 30 days") }, "\(reasons)")

            clock.advance(by: 40 * 86_400)
            let later = try await client.admin(.get, "/organisations/\(org.slug)/status")
            #expect(later["expiringSecrets"]?.arrayValue?.first?[caseInsensitive: "label"] == "later")
            #expect(later["oauthClients"]?.arrayValue?.count == 1, "the expired secret's client can no longer connect")
        }
    }

    @Test("/ServiceProviderConfig lists the OAuth scheme beside the bearer token")
    func discovery() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauth")
            let config = try await org.scim(.get, "/ServiceProviderConfig")
            let schemes = try #require(config["authenticationSchemes"]?.arrayValue)
            #expect(schemes.compactMap { $0[caseInsensitive: "type"]?.stringValue } == ["oauthbearertoken", "oauth2"])
            #expect(schemes.last?[caseInsensitive: "description"]?.stringValue?.contains("/oauth/token") == true)
        }
    }

    @Test("an access token shares its organisation's rate limit with the SCIM token")
    func sharedRateLimit() async throws {
        try await withOAuthApp(configure: {
            $0.rateLimits = RateLimitSettings(failedAuthAttempts: 100_000)
            // Frozen: no bucket refills while the test counts, however slowly requests are served.
            $0.rateLimitClock = { 1_000 }
        }) { client in
            let org = try await client.organisation("oauth")
            let viaOAuth = TestOrganisation(
                slug: org.slug, token: try await client.accessToken(try await client.oauthClient(org.slug)),
                client: client)
            try await client.admin(
                .patch, "/organisations/\(org.slug)", json: ["rateLimit": ["requestsPerSecond": 1, "burst": 3]])
            // Alternating credentials: one bucket passes the burst of three; separate ones would pass six.
            var statuses: [UInt] = []
            for index in 0..<6 {
                let organisation = index.isMultiple(of: 2) ? org : viaOAuth
                statuses.append(UInt(try await organisation.scim(.get, "/Users").status.code))
            }
            #expect(statuses == [200, 200, 200, 429, 429, 429])
        }
    }
}

/// What keeps the token endpoint tidy over years: expired access tokens are purged, a client cannot
/// mint tokens without bound, stray paths get proper answers, offboarded organisations get nothing new.
@Suite("OAuth token endpoint upkeep: purge, per-client limit, 404/405, scope, offboarding")
struct OAuthUpkeepTests {
    /// Access token rows of one OAuth client, by the client's public id.
    static func accessTokenRows(_ clientID: String, _ database: PostgresClient) async throws -> Int {
        try await database.query(
            """
            SELECT count(*) FROM control.oauth_access_tokens a
            JOIN control.oauth_client_secrets s ON s.id = a.secret_id
            JOIN control.oauth_clients c ON c.id = s.client_id WHERE c.client_id = \(clientID)
            """
        ).rows[0].decode(0, as: Int.self)
    }

    /// Other tests share the database, and each of their apps runs a background purger on the system
    /// clock. This test's manual clock starts at the real now, so its tokens expire an hour or more
    /// from now: those purgers, which delete only tokens expired by the system clock, never see them
    /// due while it runs. Its own purgers are scoped to its organisation, so its clock, moved ahead,
    /// deletes no other test's tokens.
    @Test("expired access tokens are purged past the margin only, in batches, once by two replicas at once")
    func purgeExpiredTokens() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("oauthpurge")
            let oauth = try await client.oauthClient(org.slug)
            var early: [String] = []
            for _ in 0..<5 { early.append(try await client.accessToken(oauth)) }
            clock.advance(by: 1800)
            let later = try await client.accessToken(oauth)
            let ttl = 3600.0
            let margin = OAuthClientStore.accessTokenPurgeMargin

            try await withDatabase { db in
                try await withDatabase { other in
                    let metrics = ServiceMetrics()
                    let replicas = [db, other].map {
                        AccessTokenPurger(
                            oauth: OAuthClientStore(client: $0, now: { clock.now }), interval: .seconds(3600),
                            batchSize: 2, scope: .only([org.slug]), metrics: metrics, logger: TestDatabase.logger)
                    }
                    #expect(try await Self.accessTokenRows(oauth.clientID, db) == 6)

                    // The early tokens expired, but less than the margin ago: kept.
                    clock.advance(by: ttl - 1800 + margin - 60)
                    #expect(try await replicas[0].purgeOnce() == 0)
                    #expect(try await Self.accessTokenRows(oauth.clientID, db) == 6)

                    // Past the margin: both replicas at once delete the five between them, each row once.
                    clock.advance(by: 120)
                    async let first = replicas[0].purgeOnce()
                    async let second = replicas[1].purgeOnce()
                    let purged = try await first + second
                    #expect(purged == 5, "only the five early tokens are due in the organisation")
                    #expect(try await Self.accessTokenRows(oauth.clientID, db) == 1, "the later token is still live")
                    let counted = OperationsTests.value(
                        in: String(decoding: metrics.render(), as: UTF8.self), "scim_oauth_access_tokens_purged_total")
                    #expect(counted == 5)
                    #expect(try await replicas[1].purgeOnce() == 0, "nothing due is left")
                }
            }
            // A purged token is unknown (401, not 500); the later one still works until its own expiry.
            let purged = TestOrganisation(slug: org.slug, token: early[0], client: client)
            expectSCIMError(try await purged.scim(.get, "/Users"), .unauthorized)
            let live = TestOrganisation(slug: org.slug, token: later, client: client)
            #expect(try await live.scim(.get, "/Users").status == .ok)
        }
    }

    /// One token a minute per client after a burst of two, on a frozen clock: a client's third request
    /// within a test is over the limit, however slowly requests are served.
    static func twoTokensThenLimited(_ configuration: inout AppConfiguration) {
        configuration.rateLimits = RateLimitSettings(
            failedAuthAttempts: 100_000, oauthTokensPerMinute: 1, oauthTokenBurst: 2)
        configuration.rateLimitClock = { 1_000 }
    }

    @Test("a token request whose transaction the database runs again counts once against the client's limit")
    func retriedIssueCountsOnce() async throws {
        try await withOAuthApp(configure: Self.twoTokensThenLimited) { client in
            let org = try await client.organisation("oauthretry")
            let oauth = try await client.oauthClient(org.slug)
            // The first insert of this secret's access token fails with a serialization failure (40001),
            // as a concurrent transaction or a pooler's change of session would: the store runs the
            // transaction again. A sequence counts the attempts, as it is not rolled back.
            let name = "oauth_retry_\(UUID().uuidString.prefix(8).lowercased())"
            let setUp = [
                "CREATE SEQUENCE public.\(name)",
                """
                CREATE FUNCTION public.\(name)() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.secret_id = '\(oauth.secretID)' AND nextval('public.\(name)') = 1 THEN
                        RAISE EXCEPTION 'forced retry' USING ERRCODE = '40001';
                    END IF;
                    RETURN NEW;
                END $$
                """,
                """
                CREATE TRIGGER \(name) BEFORE INSERT ON control.oauth_access_tokens
                FOR EACH ROW EXECUTE FUNCTION public.\(name)()
                """,
            ]
            try await withDatabase { db in
                for statement in setUp { _ = try await db.query(PostgresQuery(unsafeSQL: statement)) }
            }
            var statuses: [UInt] = []
            for _ in 0..<3 {
                let result = try await client.tokenRequest(
                    "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
                statuses.append(UInt(result.status.code))
            }
            let attempts = try await withDatabase { db in
                let attempts = try await db.query(
                    PostgresQuery(unsafeSQL: "SELECT last_value FROM public.\(name)")
                ).rows[0].decode(0, as: Int.self)
                for statement in [
                    "DROP TRIGGER \(name) ON control.oauth_access_tokens", "DROP FUNCTION public.\(name)()",
                    "DROP SEQUENCE public.\(name)",
                ] {
                    _ = try await db.query(PostgresQuery(unsafeSQL: statement))
                }
                return attempts
            }
            // At least: behind a transaction pooler a transaction may also run again for its session's
            // prepared statements.
            #expect(attempts >= 3, "the first request's transaction ran again")
            // The burst of two is two requests, however many times their transactions ran.
            #expect(statuses == [200, 200, 429])
        }
    }

    @Test("a client over its access token limit gets 429 and nothing is written; another client is not affected")
    func perClientIssueLimit() async throws {
        try await withOAuthApp(configure: Self.twoTokensThenLimited) { client in
            let org = try await client.organisation("oauthlimit")
            let busy = try await client.oauthClient(org.slug, label: "looping")
            let calm = try await client.oauthClient(org.slug, label: "calm")
            let issued = try await client.accessToken(busy)
            _ = try await client.accessToken(busy)
            let lastUsed = try await withDatabase { db in
                try await db.query(
                    "SELECT last_used_at FROM control.oauth_clients WHERE client_id = \(busy.clientID)"
                ).rows[0].decode(0, as: Date.self)
            }

            let limited = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (busy.clientID, busy.secret))
            #expect(limited.status == .tooManyRequests, "\(limited.text)")
            #expect(limited.headers[.retryAfter].flatMap(Int.init).map { (1...60).contains($0) } == true)
            #expect(limited.headers[.cacheControl] == "no-store")
            #expect(limited.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(limited["error"] == "invalid_request")
            #expect(limited["error_description"]?.stringValue?.contains("Too many access tokens") == true)
            #expect(limited["access_token"] == nil)
            // client_secret_post counts against the same client.
            let post = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(busy.clientID)&client_secret=\(busy.secret)")
            #expect(post.status == .tooManyRequests)
            try await withDatabase { db in
                #expect(try await Self.accessTokenRows(busy.clientID, db) == 2, "a refused request writes no token")
                let after = try await db.query(
                    "SELECT last_used_at FROM control.oauth_clients WHERE client_id = \(busy.clientID)"
                ).rows[0].decode(0, as: Date.self)
                #expect(after == lastUsed, "nor lastUsedAt")
            }

            // Support sees why in the organisation's event log.
            let errors = try await client.admin(.get, "/organisations/\(org.slug)/events?outcome=error")
            let refusal = try #require(errors["events"]?.arrayValue?.first, "\(errors.text)")
            #expect(refusal[caseInsensitive: "path"] == "/oauth/token")
            #expect(refusal[caseInsensitive: "status"] == 429)
            #expect(refusal.at("oauthClient", "id")?.stringValue == busy.id)

            // Another client of the same organisation is not affected, nor is a token the busy one holds.
            for _ in 0..<2 { _ = try await client.accessToken(calm) }
            #expect(
                try await TestOrganisation(slug: org.slug, token: issued, client: client).scim(.get, "/Users")
                    .status == .ok)
            // The limit counts authenticated clients only: a wrong secret is refused as such, not with 429.
            let wrong = String(busy.secret.dropLast()) + (busy.secret.hasSuffix("a") ? "b" : "a")
            expectOAuthError(
                try await client.tokenRequest("grant_type=client_credentials", basic: (busy.clientID, wrong)),
                .unauthorized, "invalid_client")
        }

        let base = ["DATABASE_URL": "postgresql://localhost/x", "ADMIN_API_TOKEN": String(repeating: "a", count: 20)]
        let defaults = try AppConfiguration.fromEnvironment(base).rateLimits
        #expect(defaults.oauthTokensPerMinute == 60 && defaults.oauthTokenBurst == 10)
        #expect(defaults.oauthTokenLimit == TokenBucket.Limit(ratePerSecond: 1, burst: 10))
        let set = try AppConfiguration.fromEnvironment(
            base.merging(["OAUTH_TOKEN_RATE_LIMIT": "6", "OAUTH_TOKEN_RATE_BURST": "3"]) { $1 }
        ).rateLimits
        #expect(set.oauthTokenLimit == TokenBucket.Limit(ratePerSecond: 0.1, burst: 3))
        for (name, value) in [
            ("OAUTH_TOKEN_RATE_LIMIT", "0"), ("OAUTH_TOKEN_RATE_LIMIT", "100001"), ("OAUTH_TOKEN_RATE_LIMIT", "x"),
            ("OAUTH_TOKEN_RATE_BURST", "0"), ("OAUTH_TOKEN_RATE_BURST", ""),
        ] {
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") {
                try AppConfiguration.fromEnvironment(base.merging([name: value]) { $1 })
            }
        }
    }

    @Test("unknown paths under /oauth/ are 404, another method on /oauth/token 405 with Allow: POST; all JSON")
    func strayRequests() async throws {
        try await withOAuthApp { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/oauth/authorize"), (.post, "/oauth/tokens"), (.post, "/oauth/"),
                (.get, "/oauth/token/extra"),
            ] {
                let result = try await client.request(method, path, bearer: nil)
                #expect(result.status == .notFound, "\(method) \(path): \(result.status) \(result.text)")
                #expect(result["error"] == "invalid_request", "\(path): \(result.text)")
                #expect(result["error_description"]?.stringValue?.contains("POST /oauth/token") == true)
                #expect(result.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(result.headers[.cacheControl] == "no-store")
            }
            // A trailing slash reaches the same endpoint.
            let slashed = try await client.request(.post, "/oauth/token/", bearer: nil)
            #expect(slashed.status == .badRequest, "routed to the endpoint, which wants a form: \(slashed.text)")
            for (method, path) in [
                (HTTPRequest.Method.get, "/oauth/token"), (.put, "/oauth/token"), (.delete, "/oauth/token"),
                (.patch, "/oauth/token"), (.get, "/oauth/token/"),
            ] {
                let result = try await client.request(method, path, bearer: nil)
                #expect(result.status == .methodNotAllowed, "\(method): \(result.status) \(result.text)")
                #expect(result.headers[.allow] == "POST")
                #expect(result["error"] == "invalid_request", "\(method): \(result.text)")
                #expect(result.headers[.contentType]?.hasPrefix("application/json") == true)
                #expect(result.headers[.cacheControl] == "no-store")
            }
        }
    }

    @Test("scope is always answered: scim, whether the request named it or not")
    func scopeAlwaysAnswered() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauthscope")
            let oauth = try await client.oauthClient(org.slug)
            for form in ["grant_type=client_credentials", "grant_type=client_credentials&scope=scim"] {
                let result = try await client.tokenRequest(form, basic: (oauth.clientID, oauth.secret))
                #expect(result.status == .ok, "\(form): \(result.text)")
                #expect(result["scope"] == "scim", "\(form): \(result.text)")
            }
        }
    }

    @Test("an offboarded organisation gets no new OAuth client, secret or SCIM token (409, nothing changes)")
    func offboardedGetsNothingNew() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauthoff")
            let oauth = try await client.oauthClient(org.slug)
            let base = "/organisations/\(org.slug)"
            #expect(try await client.admin(.post, "\(base)/offboard").status == .ok)
            let before = try await client.admin(.get, "\(base)/oauth-clients")
            let tokensBefore = try await client.admin(.get, "\(base)/tokens")

            for (path, body) in [
                ("\(base)/oauth-clients", ["label": "after offboarding"] as JSONValue),
                ("\(base)/oauth-clients/\(oauth.id)/secrets", [:]),
                ("\(base)/tokens", ["label": "after offboarding"]),
            ] {
                let refused = try await client.admin(.post, path, json: body)
                #expect(refused.status == .conflict, "\(path): \(refused.text)")
                #expect(refused.keys == ["error", "message", "status", "requestId"], "\(path): \(refused.text)")
                #expect(refused["error"] == "conflict")
                #expect(refused["message"]?.stringValue?.contains("offboarded") == true, "\(refused.text)")
            }
            #expect(try await client.admin(.get, "\(base)/oauth-clients").json == before.json, "nothing changed")
            #expect(try await client.admin(.get, "\(base)/tokens").json == tokensBefore.json)

            // The token endpoint refuses it: the client was revoked, and even one put back by hand is refused.
            expectOAuthError(
                try await client.tokenRequest("grant_type=client_credentials", basic: (oauth.clientID, oauth.secret)),
                .unauthorized, "invalid_client")
            try await withDatabase { db in
                _ = try await db.query(
                    "UPDATE control.oauth_clients SET revoked_at = NULL WHERE client_id = \(oauth.clientID)")
            }
            let byHand = try await client.tokenRequest(
                "grant_type=client_credentials", basic: (oauth.clientID, oauth.secret))
            expectOAuthError(byHand, .unauthorized, "invalid_client")
            #expect(byHand["error_description"]?.stringValue?.contains("offboarded") == true, "\(byHand.text)")

            // Restored, it may have new clients again.
            #expect(try await client.admin(.post, "\(base)/restore").status == .ok)
            #expect(try await client.admin(.post, "\(base)/oauth-clients", json: ["label": "new"]).status == .created)
        }
    }

    /// Creation and offboarding lock the organisation's row in turn: a client created first is
    /// revoked with the others, one created after is refused. No interleaving leaves a live client.
    @Test("clients created while the organisation is being offboarded end up revoked or refused, never live")
    func offboardingRacesCreation() async throws {
        try await withOAuthApp { client in
            let org = try await client.organisation("oauthrace")
            let base = "/organisations/\(org.slug)"
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<12 {
                    group.addTask {
                        if index == 4 { return try await client.admin(.post, "\(base)/offboard").status }
                        return try await client.admin(.post, "\(base)/oauth-clients", json: ["label": "racer"]).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.allSatisfy { [.ok, .created, .conflict].contains($0) }, "\(statuses.map(\.code))")
            let listed = try #require(
                try await client.admin(.get, "\(base)/oauth-clients")["oauthClients"]?.arrayValue)
            #expect(listed.count == statuses.filter { $0 == .created }.count)
            #expect(
                listed.allSatisfy { $0[caseInsensitive: "revokedAt"] != .null },
                "every client created before the offboarding was revoked by it: \(listed)")
        }
    }
}

/// The token endpoint's request parsing, without a server: form bodies, HTTP Basic, the grant.
@Suite("OAuth token request parsing")
struct OAuthTokenRequestParsingTests {
    @Test(
        "form bodies: +, percent-encoding, empty values omitted",
        arguments: [
            ("grant_type=client_credentials&scope=scim", ["grant_type": "client_credentials", "scope": "scim"]),
            ("client_secret=a%2Bb%3Dc&x=y+z", ["client_secret": "a+b=c", "x": "y z"]),
            ("scope=&grant_type=client_credentials&", ["grant_type": "client_credentials"]),
            ("", [:]),
        ])
    func form(body: String, expected: [String: String]) throws {
        #expect(try OAuthTokenController.form(body) == expected)
    }

    @Test("a repeated parameter is invalid_request")
    func repeated() {
        #expect(throws: OAuthError.invalidRequest("The parameter scope is repeated.")) {
            try OAuthTokenController.form("scope=scim&scope=scim")
        }
    }

    @Test("HTTP Basic: base64 of form-encoded id and secret; anything else is invalid_client")
    func basic() throws {
        let encoded = Data("laclient_abc:sec%3Aret%2B".utf8).base64EncodedString()
        #expect(
            try OAuthTokenController.basicCredentials("Basic \(encoded)")
                == .init(clientID: "laclient_abc", clientSecret: "sec:ret+"))
        #expect(try OAuthTokenController.basicCredentials("basic  \(encoded) ")?.clientID == "laclient_abc")
        #expect(try OAuthTokenController.basicCredentials(nil) == nil)
        for bad in [
            "Bearer x", "Basic", "Basic !!!", "Basic \(Data("no-colon".utf8).base64EncodedString())",
            "Basic \(Data(":secret".utf8).base64EncodedString())",
        ] {
            #expect(throws: OAuthError.self, "\(bad)") { try OAuthTokenController.basicCredentials(bad) }
        }
    }

    @Test(
        "the grant: client_credentials, scope absent or scim",
        arguments: [
            (["grant_type": "client_credentials"], nil),
            (["grant_type": "client_credentials", "scope": "scim"], nil),
            (["grant_type": "client_credentials", "scope": "scim scim"], nil),
            ([:], "invalid_request"),
            (["grant_type": "authorization_code"], "unsupported_grant_type"),
            (["grant_type": "client_credentials", "scope": "scim admin"], "invalid_scope"),
            (["grant_type": "client_credentials", "scope": " "], "invalid_scope"),
        ] as [([String: String], String?)])
    func grant(form: [String: String], code: String?) {
        do {
            try OAuthTokenController.checkGrant(form)
            #expect(code == nil)
        } catch let error as OAuthError {
            #expect(error.code == code)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
